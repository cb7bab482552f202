"""``evalkit sustain``: from place.yml (effects from a CSV or the settings) and from a workbook."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
import typer
import yaml
from typer.testing import CliRunner

from evalkit.commands.sustain import register
from evalkit.place import load_place
from evalkit.sustain import scenario_from_place


@pytest.fixture
def app() -> typer.Typer:
    a = typer.Typer()
    register(a)

    @a.command("other")
    def _other() -> None:  # a second command keeps 'sustain' as a sub-command
        pass

    return a


SETTINGS = {
    "name": "Testtown",
    "data": {"people": "people.csv", "partners": "partners.csv",
             "benefit_map": "benefit_map.csv"},
    "money": {"price_year": "2024-25"},
    "programme": {"first_year": "2025-26", "horizon_years": 5, "running_cost": 600000,
                  "cost_inflation": 0.02, "grant": [600000, 600000, 300000],
                  "people_per_year": 400},
    "split": {"rules": ["equal", "proportional", "beneficiary_pays", "shapley", "nucleolus",
                        "scrb"], "driver": "caseload"},
    "sustain": {"draws": 200, "benefits": "fiscal"},
}


def make_place(folder: Path, **changes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    s = {k: (dict(v) if isinstance(v, dict) else v) for k, v in SETTINGS.items()}
    for k, v in changes.items():
        s[k] = {**s.get(k, {}), **v} if isinstance(v, dict) else v
    (folder / "place.yml").write_text(yaml.safe_dump(s), encoding="utf-8")
    (folder / "people.csv").write_text("person_id,area\nP1,A\nP2,B\n")
    (folder / "partners.csv").write_text(
        "partner,kind,caseload,standalone_cost,variable_cost\n"
        "Council,local_authority,500,300000,60000\nNHS,nhs,300,250000,50000\n"
        "Police,police,200,120000,30000\n")
    (folder / "benefit_map.csv").write_text(
        "measure,item,partner\nae_attendances,A&E attendance (all types),NHS\n"
        "arrests,Police arrest (detained),Police\n")
    (folder / "effects.csv").write_text(
        "measure,estimate,se\nae_attendances,-0.08,0.03\narrests,-0.02,0.01\n")
    return folder / "place.yml"


def test_place_to_workbook_and_back(app, tmp_path):
    yml = make_place(tmp_path / "p")
    out = tmp_path / "options.xlsx"
    r = CliRunner().invoke(app, ["sustain", str(yml), "--effects",
                                 str(tmp_path / "p" / "effects.csv"), "--xlsx", str(out),
                                 "--no-progress", "--charts", str(tmp_path / "charts")])
    assert r.exit_code == 0, r.output
    assert "Sustainability after the grant" in r.output and "Workbook written" in r.output
    assert "Testtown" in r.output
    assert len(list((tmp_path / "charts").glob("*.png"))) == 4
    wb = openpyxl.load_workbook(out)
    assert "Inputs" in wb.sheetnames and "Options" in wb.sheetnames
    out2 = tmp_path / "again.xlsx"
    r2 = CliRunner().invoke(app, ["sustain", "--from-xlsx", str(out), "--xlsx", str(out2),
                                  "--no-progress"])
    assert r2.exit_code == 0, r2.output
    assert out2.exists()
    # same seed, same assumptions: the same headline
    head = [ln for ln in r.output.splitlines() if "Place NPV" in ln]
    assert head == [ln for ln in r2.output.splitlines() if "Place NPV" in ln]


def test_effects_from_settings(app, tmp_path):
    yml = make_place(tmp_path / "p", sustain={
        "draws": 100, "effects": {"ae_attendances": {"estimate": -0.08, "se": 0.03},
                                  "arrests": {"estimate": -0.02}}})
    r = CliRunner().invoke(app, ["sustain", str(yml), "--no-progress", "--draws", "150",
                                 "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert "150" in r.output
    sc = scenario_from_place(load_place(yml))
    assert sc.draws == 100 and sc.count == "fiscal" and sc.rules[1] == "proportional"
    assert sc.benefits.effects_table()["se"].tolist() == [0.03, 0.0]


def test_cli_errors(app, tmp_path):
    yml = make_place(tmp_path / "p")
    r = CliRunner().invoke(app, ["sustain", str(yml)])
    assert r.exit_code == 2 and "--effects effects.csv" in r.output
    r = CliRunner().invoke(app, ["sustain"])
    assert r.exit_code == 2 and "either PLACE.yml or --from-xlsx" in r.output
    bad = tmp_path / "bad_effects.csv"
    bad.write_text("measure,estimate,se\nae_attendances,lots,0.1\narrests,-0.02,-1\n")
    r = CliRunner().invoke(app, ["sustain", str(yml), "--effects", str(bad)])
    assert r.exit_code == 2
    assert "row 2, column 'estimate'" in r.output and "row 3, column 'se'" in r.output
    r = CliRunner().invoke(app, ["sustain", "--from-xlsx", str(tmp_path / "nope.xlsx")])
    assert r.exit_code == 2 and "not found" in r.output
    yml2 = make_place(tmp_path / "q", programme=None)
    r = CliRunner().invoke(app, ["sustain", str(yml2), "--effects",
                                 str(tmp_path / "p" / "effects.csv")])
    assert r.exit_code == 2 and "programme" in r.output


def test_people_per_year_from_the_data(tmp_path):
    yml = make_place(tmp_path / "p", programme={"people_per_year": None})
    (tmp_path / "p" / "people.csv").write_text(
        "person_id,area,pilot_start\nP1,A,2024-05-01\nP2,B,2024-06-01\nP3,B,2025-05-01\n"
        "P4,A,\n")
    sc = scenario_from_place(load_place(yml), effects={"ae_attendances": (-0.08, 0.03),
                                                       "arrests": (-0.02, 0.01)})
    # two starters in 2024-25 and one in 2025-26: 1.5 a year
    assert sc.benefits.people_per_year == 1.5
