"""``evalkit challenges`` and ``evalkit risk`` on a place folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from evalkit.commands.community import register
from evalkit.community.simulate import ORGANISATIONS, PARTNER_OF, simulate_risk_data
from evalkit.place import Place

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()
    register(a)
    return a


@pytest.fixture(scope="module")
def place_yml(tmp_path_factory):
    tables, _ = simulate_risk_data(800, n_months=24, seed=7)
    types = ["assessment", "referral", "contact"]
    tables["unit_costs"] = pd.DataFrame({
        "item": [f"{t}: {o}" for t in types for o in ORGANISATIONS],
        "unit": "per event",
        "cost_gbp": np.repeat([250.0, 60.0, 35.0], len(ORGANISATIONS)),
        "price_year": "2023-24",
        "partner": [PARTNER_OF[o] for _ in types for o in ORGANISATIONS],
        "cashable_share": 0.1, "source": "test costs",
        "event_type": np.repeat(types, len(ORGANISATIONS)),
        "organisation": list(ORGANISATIONS) * len(types)})
    place = Place.from_tables(tables, name="Testtown")
    return place.write(tmp_path_factory.mktemp("place"))


def test_challenges_command_prints_and_writes(app, place_yml, tmp_path):
    r = runner.invoke(app, ["challenges", str(place_yml), "--out", str(tmp_path / "t.xlsx"),
                            "--plots", str(tmp_path / "png")])
    assert r.exit_code == 0, r.output
    assert "Shared challenges across partners" in r.output
    assert "Needs ranked by how far they cut across partners" in r.output
    assert (tmp_path / "t.xlsx").exists()
    sheets = pd.read_excel(tmp_path / "t.xlsx", sheet_name=None)
    assert "needs" in sheets and "n_people" in sheets["needs"].columns
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [
        "challenges_breadth.png", "challenges_concentration.png", "challenges_heatmap.png"]
    r = runner.invoke(app, ["challenges", str(place_yml), "--out", str(tmp_path / "csv")])
    assert r.exit_code == 0
    assert (tmp_path / "csv" / "challenges_by_partner.csv").exists()


def test_risk_command_aggregates_only_unless_asked(app, place_yml, tmp_path):
    r = runner.invoke(app, ["risk", str(place_yml), "--crisis", "crisis", "--horizon", "3",
                            "--out", str(tmp_path / "risk")])
    assert r.exit_code == 0, r.output
    assert "Early identification" in r.output
    files = sorted(p.name for p in (tmp_path / "risk").iterdir())
    assert "risk_fairness.csv" in files and "risk_capture.csv" in files
    for f in (tmp_path / "risk").iterdir():
        assert "P000" not in f.read_text()
    pred = tmp_path / "pp.csv"
    r = runner.invoke(app, ["risk", str(place_yml), "-c", "crisis", "--horizon", "3",
                            "--person-level-predictions", str(pred)])
    assert r.exit_code == 0
    assert "NOT FOR PUBLICATION" in r.output
    assert pred.read_text().startswith("# PERSON-LEVEL: NOT FOR PUBLICATION")
    df = pd.read_csv(pred, comment="#")
    assert {"person_id", "risk", "flagged", "crisis"} <= set(df.columns)


def test_clear_errors(app, place_yml, tmp_path):
    r = runner.invoke(app, ["risk", str(place_yml), "--crisis", "arrests"])
    assert r.exit_code == 2
    assert "not in the outcomes table" in r.output
    r = runner.invoke(app, ["challenges", str(place_yml), "--need-column", "team"])
    assert r.exit_code == 2
    assert "no 'team' column" in r.output
    r = runner.invoke(app, ["risk", str(place_yml)])
    assert r.exit_code != 0  # --crisis is required
