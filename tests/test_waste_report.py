"""WasteReport: summary, tables, plots, CSV/Excel export and the `evalkit waste` command."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import pandas as pd
import pytest
import typer
from test_waste_measures import journeys
from test_waste_pricing import ORGS, costs
from typer.testing import CliRunner

from evalkit.errors import InputError
from evalkit.waste import GLOSSARY, measure_waste, waste_from_place

matplotlib.use("Agg")

PEOPLE = pd.DataFrame({"person_id": [f"P{i}" for i in range(1, 9)],
                       "pilot_start": pd.to_datetime(["2024-03-01", None] * 4)})


@pytest.fixture(scope="module")
def report():
    return measure_waste(journeys(), PEOPLE, costs(), ORGS)


def test_summary_repr_and_html(report):
    text = str(report.summary())
    assert "Failure demand" in text and "Stories retold" in text
    assert "£600" in text and "2023-24" in text
    assert "unknown event type 'phone call'" in text
    assert "13 hand-offs" in repr(report) and "£600" in repr(report)
    assert "<table>" in report._repr_html_()
    h = report.headline()
    assert h.loc["Hand-offs between organisations", "Count"] == "13"


def test_tables_and_glossary(report):
    for name in report.table_names:
        assert isinstance(report.to_frame(name), pd.DataFrame)
    with pytest.raises(InputError, match="no table 'nope'"):
        report.to_frame("nope")
    g = report.glossary().set_index("term")["definition"]
    assert "90 days" in g["Repeat assessment"] and "30 days" in g["Bounced referral"]
    assert set(GLOSSARY) == set(g.index)
    st = report.to_frame("settings").set_index("setting")["value"]
    assert st["window_days"] == 90 and "event_id" in st["tie_rule"]


def test_plots(report):
    import matplotlib.pyplot as plt

    for kind in ("handoffs", "front_doors", "cost_by_partner", "waits", "pilot"):
        ax = report.plot(kind)
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        plt.close(ax.figure)
    ax = report.plot("cost_by_partner")
    assert "£" in ax.get_xlabel() and "2023-24" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "NHS trust" in labels
    plt.close(ax.figure)
    with pytest.raises(InputError, match="plot kind"):
        report.plot("sankey")
    ax = measure_waste(journeys()).plot("cost_by_partner")  # unpriced: says so
    assert any("Not priced" in t.get_text() for t in ax.texts)
    plt.close(ax.figure)


def test_csv_and_excel_export(report, tmp_path):
    paths = report.to_csv(tmp_path / "csv")
    assert len(paths) == len(report.table_names)
    back = pd.read_csv(tmp_path / "csv" / "waste_totals.csv")
    assert back.set_index("measure").loc["handoff", "count"] == 13
    xl = report.to_excel(tmp_path / "waste.xlsx")
    sheets = pd.read_excel(xl, sheet_name=None)
    assert {"totals", "handoff_matrix", "glossary", "excluded"} <= set(sheets)
    assert sheets["totals"].set_index("measure").loc["story_retold", "count"] == 1


def fake_place():
    waste = SimpleNamespace(window_days=90, rereferral_days=30, front_door_days=365,
                            avoidable_share={"reassessment": 0.5})
    return SimpleNamespace(events=journeys(), people=PEOPLE, unit_costs=costs(),
                           organisations=ORGS, settings=SimpleNamespace(waste=waste))


def test_waste_from_place_uses_settings():
    r = waste_from_place(fake_place())
    assert r.total_avoidable_cost == pytest.approx(600.0)
    r = waste_from_place(fake_place(), window_days=89)
    assert r.to_frame("totals").set_index("measure").loc["reassessment", "count"] == 0


def test_cli_prints_headline_and_writes_files(monkeypatch, tmp_path):
    from evalkit.commands import waste as cmd

    monkeypatch.setattr(cmd, "_load", lambda path: fake_place())
    app = typer.Typer()
    cmd.register(app)

    @app.command("other")
    def _other() -> None:  # a second command so Typer keeps sub-command names
        pass

    res = CliRunner().invoke(app, ["waste", "place.yml", "--csv", str(tmp_path / "out"),
                                   "--xlsx", str(tmp_path / "w.xlsx")])
    assert res.exit_code == 0, res.output
    assert "Hand-offs between organisations" in res.output and "£600" in res.output
    assert (tmp_path / "out" / "waste_handoffs.csv").exists()
    assert (tmp_path / "w.xlsx").exists()


def test_cli_reports_errors_plainly(monkeypatch):
    from evalkit.commands import waste as cmd

    place = fake_place()
    place.unit_costs = costs().iloc[:2]
    monkeypatch.setattr(cmd, "_load", lambda path: place)
    app = typer.Typer()
    cmd.register(app)

    @app.command("other")
    def _other() -> None:
        pass

    res = CliRunner().invoke(app, ["waste", "place.yml"])
    assert res.exit_code == 1
    assert "No unit cost" in res.output
    res = CliRunner().invoke(app, ["waste", "place.yml", "--allow-unpriced"])
    assert res.exit_code == 0, res.output
