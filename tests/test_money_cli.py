"""The ``evalkit unit-costs`` command (registered on a fresh Typer app)."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from evalkit.commands import money as money_cmd


@pytest.fixture
def app() -> typer.Typer:
    a = typer.Typer()
    money_cmd.register(a)

    @a.callback()
    def _root() -> None:  # keep 'unit-costs' a sub-command
        pass

    return a


def test_lists_uprated_costs(app):
    r = CliRunner().invoke(app, ["unit-costs", "--search", "Police arrest (detained)"])
    assert r.exit_code == 0, r.output
    # 593 x 100 / 63.2017 = 938.27
    assert "Police arrest (detained): £938.27 per incident [Police]" in r.output


def test_writes_csv_and_xlsx_with_user_rows(app, tmp_path):
    mine = tmp_path / "mine.csv"
    pd.DataFrame({"item": ["Link worker hour"], "unit": ["per hour"], "cost_gbp": [30.0],
                  "price_year": ["2023/24"], "partner": ["Council"], "cashable_share": [0],
                  "source": ["payroll"]}).to_csv(mine, index=False)
    out = tmp_path / "uc.csv"
    r = CliRunner().invoke(app, ["unit-costs", "-p", "2024-25", "--yours", str(mine),
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert len(df) == 100
    row = df.set_index("item").loc["Link worker hour"]
    assert row["cost_gbp_2024-25"] == pytest.approx(30 * 100 / 96.1117)
    assert row["origin"] == "user"
    r = CliRunner().invoke(app, ["unit-costs", "--out", str(tmp_path / "uc.xlsx")])
    assert r.exit_code == 0 and (tmp_path / "uc.xlsx").exists()


def test_bad_price_year_is_a_clear_error(app):
    r = CliRunner().invoke(app, ["unit-costs", "--price-year", "2030-31"])
    assert r.exit_code == 2
    assert "outside the GDP deflator series" in r.output
