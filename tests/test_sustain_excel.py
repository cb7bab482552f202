"""The finance lead's workbook: formats, the round trip, and errors that name the cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from evalkit.errors import InputError
from evalkit.money import Adjustments
from evalkit.sustain import BenefitModel, Scenario, read_workbook
from evalkit.sustain.excel import _inputs

PARTNERS = pd.DataFrame({
    "partner": ["Council", "NHS (CCG/ICB commissioner)", "Police"],
    "caseload": [500, 300, 200],
    "standalone_cost": [300e3, 250e3, 120e3], "variable_cost": [60e3, 50e3, 30e3]})
BMAP = pd.DataFrame({"measure": ["ae_attendances", "arrests"],
                     "item": ["A&E attendance (all types)", "Police arrest (detained)"],
                     "partner": ["NHS (CCG/ICB commissioner)", "Police"],
                     "cashable_share": [None, 0.4]})


def scenario(**kw) -> Scenario:
    eff = pd.DataFrame({"measure": ["ae_attendances", "arrests"], "estimate": [-0.08, -0.02],
                        "se": [0.03, 0.01]})
    bm = BenefitModel(effects=eff, benefit_map=BMAP, people_per_year=[300, 400, 400, 400, 400],
                      price_year="2024-25", benefit_years=2,
                      adjustments=Adjustments(drop_off=0.2, ramp_up=(0.5,)))
    args = dict(partners=PARTNERS, benefits=bm, running_cost=600_000, horizon=5,
                first_year="2025-26", cost_inflation=0.02, grant=[1, 1, 0.5],
                grant_as="shares", draws=300, seed=7, count="fiscal", name="Testtown",
                rules=["equal", "proportional", "beneficiary_pays", "shapley", "nucleolus",
                       "scrb"])
    args.update(kw)
    return Scenario(**args)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, object]:
    res = scenario().run(progress=False)
    path = tmp_path_factory.mktemp("wb") / "options.xlsx"
    res.to_excel(path)
    return path, res


def _find(ws, block: str, key: str, col: str):
    """The cell of ``key`` (first column) in ``block`` under header ``col``."""
    title = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == block)
    header = [ws.cell(title + 1, c).value for c in range(1, ws.max_column + 1)]
    j = header.index(col) + 1
    r = title + 2
    while ws.cell(r, 1).value is not None:
        if str(ws.cell(r, 1).value) == key:
            return ws.cell(r, j)
        r += 1
    raise KeyError(key)


def test_workbook_sheets_and_formats(written):
    path, _ = written
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Summary", "Inputs", "Funding", "Options", "Cash flows",
                             "Probabilities", "Break-even", "Break-even effects", "Stability",
                             "Stability by rule", "Sensitivity", "Coalitions", "Notes"]
    opt = wb["Options"]
    head = [c.value for c in opt[1]]
    assert head[:5] == ["Rule", "Partner", "PV contribution (£)", "Share of the gap",
                        "PV benefit (£)"]
    assert opt.freeze_panes == "C2"
    assert "£" in opt.cell(2, 3).number_format and opt.cell(2, 4).number_format == "0.0%"
    p = head.index("P(benefits cover contribution)") + 1
    assert opt.cell(2, p).number_format == "0.0%"
    assert wb["Funding"].freeze_panes == "B2"
    assert opt.column_dimensions["A"].width >= len("Proportional to caseload")
    notes = wb["Notes"]
    texts = [notes.cell(r, 3).value for r in range(2, notes.max_row + 1)]
    assert any("average extra cost" in (t or "") for t in texts)          # Shapley, plainly
    assert any("Talmud" in (t or "") for t in texts)                      # nucleolus
    inputs = wb["Inputs"]
    assert inputs["A1"].value.startswith("evalkit sustainability")
    assert _find(inputs, "Settings", "running_cost", "value").number_format.startswith('"£"')
    assert _find(inputs, "Settings", "cost_inflation", "value").fill.fgColor.rgb.endswith(
        "FFF7D6")                                                           # editable shading


def test_round_trip_unedited_gives_the_same_results(written, tmp_path):
    path, res = written
    again = read_workbook(path).run(progress=False)
    for name in ("funding", "cashflows", "options", "probabilities", "stability",
                 "breakeven", "coalitions"):
        pd.testing.assert_frame_equal(res.to_frame(name), again.to_frame(name),
                                      check_exact=False, rtol=1e-9, atol=1e-6)


def test_round_trip_one_edit_changes_exactly_what_it_should(written, tmp_path):
    path, res = written
    wb = openpyxl.load_workbook(path)
    cell = _find(wb["Inputs"], "Years", "2", "grant")     # year 2: 50% of the cost
    assert cell.value == 0.5
    cell.value = 0.25
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    sc_old, sc_new = read_workbook(path), read_workbook(edited)
    # the inputs differ in that one cell only
    old_blocks = dict((t, df) for t, df, _ in _inputs(sc_old, None))
    new_blocks = dict((t, df) for t, df, _ in _inputs(sc_new, None))
    assert old_blocks.keys() == new_blocks.keys()
    for title in old_blocks:
        a, b = old_blocks[title], new_blocks[title]
        if title == "Years":
            diff = (a.fillna(-1) != b.fillna(-1))
            assert diff.to_numpy().sum() == 1 and diff.loc[2, "grant"]
            assert b.loc[2, "grant"] == 0.25
        else:
            pd.testing.assert_frame_equal(a, b)
    new = sc_new.run(progress=False)
    f_old, f_new = res.to_frame("funding"), new.to_frame("funding")
    # year 2's grant halves (from 50% to 25% of the cost) and its gap grows by the same;
    # every other year and the costs are unchanged
    cost2 = f_old.loc[2, "total_cost"]
    assert f_new.loc[2, "grant"] == pytest.approx(0.25 * cost2)
    assert f_new.loc[2, "gap"] == pytest.approx(f_old.loc[2, "gap"] + 0.25 * cost2)
    others = [0, 1, 3, 4]
    pd.testing.assert_frame_equal(f_old.loc[others], f_new.loc[others])
    pd.testing.assert_series_equal(f_old["total_cost"], f_new["total_cost"])
    # benefits are untouched; contributions change in year 2 only
    c_old, c_new = res.to_frame("cashflows"), new.to_frame("cashflows")
    np.testing.assert_allclose(c_old["benefit"], c_new["benefit"])
    changed = ~np.isclose(c_old["contribution"], c_new["contribution"])
    assert set(c_old.loc[changed, "year"]) == {2}
    # so every partner's NPV falls (or stays, for a partner paying nothing)
    o_old, o_new = res.to_frame("options"), new.to_frame("options")
    assert (o_new["npv"] <= o_old["npv"] + 1e-6).all()


def test_round_trip_other_edits(written, tmp_path):
    path, res = written
    wb = openpyxl.load_workbook(path)
    ws = wb["Inputs"]
    _find(ws, "Settings", "discount", "value").value = "5%"
    _find(ws, "Effects", "arrests", "estimate").value = -0.04
    _find(ws, "Settings", "driver", "value").value = "variable_cost"
    edited = tmp_path / "edited2.xlsx"
    wb.save(edited)
    sc = read_workbook(edited)
    assert sc.discount == pytest.approx(0.05)
    assert sc.driver == "variable_cost"
    assert sc.benefits.effects_table().set_index("measure").loc["arrests", "estimate"] == -0.04
    new = sc.run(progress=False, tornado=False)
    assert new.to_frame("funding")["discount_factor"].iloc[3] == pytest.approx(1 / 1.05 ** 3)
    assert "Proportional to variable cost" in new.rules


def test_errors_name_the_sheet_cell_and_problem(written, tmp_path):
    path, _ = written
    wb = openpyxl.load_workbook(path)
    ws = wb["Inputs"]
    infl = _find(ws, "Settings", "cost_inflation", "value")
    infl.value = "two percent"
    g = _find(ws, "Years", "1", "grant")
    g.value = 3                                            # a share above 1
    eff = _find(ws, "Effects", "arrests", "se")
    eff.value = -1
    bad = tmp_path / "bad.xlsx"
    wb.save(bad)
    with pytest.raises(InputError) as err:
        read_workbook(bad)
    msg = str(err.value)
    assert "3 problem(s)" in msg
    assert f"sheet 'Inputs', cell {infl.coordinate} (Settings: cost_inflation): expected a " \
           "number" in msg and "'two percent'" in msg
    assert f"cell {g.coordinate} (Years: grant, year 1)" in msg and "between 0 and 1" in msg
    assert f"cell {eff.coordinate} (Effects: se)" in msg and "cannot be negative" in msg


def test_structural_errors(written, tmp_path):
    path, _ = written
    wb = openpyxl.load_workbook(path)
    ws = wb["Inputs"]
    title = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "Years")
    ws.cell(title, 1).value = "Yeers"
    p1 = tmp_path / "no_years.xlsx"
    wb.save(p1)
    with pytest.raises(InputError, match="the 'Years' block is missing"):
        read_workbook(p1)
    wb = openpyxl.load_workbook(path)
    _find(wb["Inputs"], "Settings", "seed", "setting").value = "sead"
    p2 = tmp_path / "unknown.xlsx"
    wb.save(p2)
    with pytest.raises(InputError, match=r"cell A\d+ \(Settings: sead\): unknown setting"):
        read_workbook(p2)
    wb = openpyxl.load_workbook(path)
    del wb["Inputs"]
    p3 = tmp_path / "noinputs.xlsx"
    wb.save(p3)
    with pytest.raises(InputError, match="no sheet named 'Inputs'"):
        read_workbook(p3)
    with pytest.raises(InputError, match="not found"):
        read_workbook(tmp_path / "missing.xlsx")
    with pytest.raises(InputError, match=r"\.xlsx"):
        scenario().run(progress=False, tornado=False).to_excel(tmp_path / "out.csv")


def test_edited_partner_rows_and_year_rows(written, tmp_path):
    path, _ = written
    wb = openpyxl.load_workbook(path)
    ws = wb["Inputs"]
    _find(ws, "Years", "4", "year").value = None          # remove the last year's number
    for cell in ws[_find(ws, "Years", "3", "year").row + 1]:
        cell.value = None                                  # delete the row's contents
    p = tmp_path / "short.xlsx"
    wb.save(p)
    with pytest.raises(InputError, match="4 year rows but horizon_years is 5"):
        read_workbook(p)


def test_array_benefits_workbook(tmp_path):
    ben = np.array([[0, 60, 70], [0, 30, 40]], dtype=float) * 1e3
    sc = Scenario(partners=["A", "B"], running_cost=[90_000, 95_000, 100_000], horizon=3,
                  grant=[90_000], benefits=ben, rules=["equal", "beneficiary_pays"])
    res = sc.run(progress=False)
    path = res.to_excel(tmp_path / "arrays.xlsx")
    back = read_workbook(path)
    assert back.running_cost == [90_000, 95_000, 100_000]
    again = back.run(progress=False)
    pd.testing.assert_frame_equal(res.to_frame("options"), again.to_frame("options"))
    # inputs-only workbook
    p2 = sc.to_excel(tmp_path / "inputs.xlsx")
    assert openpyxl.load_workbook(p2).sheetnames == ["Inputs", "Notes"]
