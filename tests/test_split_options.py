"""SplitOptions end to end: tables, properties, lines, Excel, plot, CLI, bad input."""

from __future__ import annotations

import numpy as np
import openpyxl
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from evalkit.commands.split import parse_cost, register
from evalkit.errors import InputError, ValidationError
from evalkit.split import Game, SplitOptions, parse_rule, split_options

COAL = pd.DataFrame({
    "coalition": ["Council + NHS", "Council;Police", "NHS + Police", "Council + NHS + Police"],
    "cost": [800_000, 650_000, 600_000, 1_000_000],
})


@pytest.fixture
def partners():
    return pd.DataFrame({
        "partner": ["Council", "NHS", "Police"],
        "kind": ["local_authority", "nhs", "police"],
        "budget": [50e6, 80e6, 20e6],
        "caseload": [600, 300, 150],
        "standalone_cost": [500_000, 450_000, 200_000],
        "benefit": [700_000, 600_000, 250_000],
    })


def test_default_rules_and_tables(partners):
    o = split_options(partners, 1_000_000, game=COAL)
    assert isinstance(o, SplitOptions)
    assert o.labels == ["Equal shares", "Proportional to budget", "Proportional to caseload",
                        "Proportional to standalone cost", "Beneficiary pays", "Shapley value",
                        "Nucleolus", "SCRB", "Tau value"]
    pounds = o.pounds()
    assert list(pounds.index) == ["Council", "NHS", "Police"]
    np.testing.assert_allclose(pounds.sum(axis=0), 1_000_000)
    np.testing.assert_allclose(o.shares().sum(axis=0), 1.0)
    # Hand-worked: SC = (400k, 350k, 200k), NSC = 50k, remaining (100k, 100k, 0) with
    # benefits capping nobody (Police: min(200k, 250k) - 200k = 0) -> (425k, 375k, 200k).
    np.testing.assert_allclose(o.allocation("SCRB"), [425_000, 375_000, 200_000])
    np.testing.assert_allclose(o.allocation("Equal shares"), [1e6 / 3] * 3)
    assert o.pounds(total=True).loc["Total"].round(6).eq(1_000_000).all()


def test_properties_and_lines(partners):
    o = split_options(partners, 1_000_000, game=COAL)
    p = o.properties
    assert p["budget_balanced"].all()
    eq = p.loc["Equal shares"]
    assert not eq["individually_rational"] and not eq["in_core"]
    assert eq["most_violated_group"] == "Police"
    assert eq["violation"] == pytest.approx(1e6 / 3 - 200_000)
    assert "Police pays £133,333 more than its stand-alone cost" in eq["ir_breaches"]
    assert p.loc["Nucleolus", "in_core"] and p.loc["Nucleolus", "individually_rational"]
    assert p.loc["Nucleolus", "groups_checked"] == 6
    beneficiary = p.loc["Beneficiary pays"]
    assert beneficiary["most_violated_group"] == "Council + NHS" and not beneficiary["in_core"]
    line = o.lines["Equal shares"][2]
    assert line.startswith("Police pays £333,333 (33.3%), £133,333 MORE than going alone")
    assert line.endswith("it could reasonably refuse.")
    assert o.lines["Nucleolus"][0] == ("Council pays £425,000 (42.5%), £75,000 less than going "
                                       "alone (£500,000), £275,000 less than its benefit "
                                       "(£700,000).")
    text = str(o.summary())
    assert "Cost-split options" in text and "Most-violated group" in text
    assert "Core:" in text and "non-empty" in text
    assert o.property_table()["In the core"].loc["Equal shares"] == "NO"


def test_empty_core_reports_least_core_distance():
    p = pd.DataFrame({"partner": ["A", "B", "C"], "population": [1, 1, 1]})
    g = pd.DataFrame({"coalition": ["A", "B", "C", "A+B", "A+C", "B+C", "A+B+C"],
                      "cost": [100, 100, 100, 100, 100, 100, 180]})
    o = split_options(p, game=g, rules=["equal", "shapley", "nucleolus", "least_core"])
    assert o.costs.tolist() == [180]
    assert o.least_core == pytest.approx(20)
    text = str(o.summary())
    assert "EMPTY" in text and "least-core distance £20" in text
    assert "would pay at least £20 more" in " ".join(text.split())
    assert not o.properties["in_core"].any()
    assert o.properties.loc["Least core", "violation"] == pytest.approx(20)


def test_partial_table_lists_missing_coalitions_and_keeps_scrb(partners):
    partial = pd.DataFrame({"coalition": ["Council+NHS", "Council+Police", "NHS+Police",
                                          "Council+NHS+Police"],
                            "cost": [800_000, 650_000, 600_000, 1_000_000]})
    o = split_options(partners.drop(columns="standalone_cost"), 1_000_000, game=partial,
                      rules=["scrb", "shapley", "equal"])
    assert "SCRB" not in o.labels  # singletons missing and no standalone column
    assert "shapley" in o.unavailable and "Council" in o.unavailable["shapley"]
    assert "missing 3" in o.unavailable["shapley"]
    assert "Not computed - shapley" in str(o.summary())
    # With stand-alone costs from the partners table SCRB works on the partial table.
    o2 = split_options(partners, 1_000_000, game=partial.iloc[[0, 1, 2, 3]],
                       rules=["scrb", "equal"])
    assert "SCRB" in o2.labels
    with pytest.raises(Exception, match="missing"):
        split_options(partners.drop(columns="standalone_cost"), 1_000_000, game=partial,
                      rules=["shapley"], strict=True)


def test_value_game_is_converted_with_standalone_costs(partners):
    cost = Game.from_table(COAL, ["Council", "NHS", "Police"]).with_singletons(
        [500_000, 450_000, 200_000])
    sav = cost.to_savings().to_frame().rename(columns={"value": "value"})
    o_cost = split_options(partners, 1_000_000, game=COAL, rules=["shapley", "nucleolus"])
    o_val = split_options(partners, 1_000_000, game=sav[["coalition", "value"]],
                          rules=["shapley", "nucleolus"])
    pd.testing.assert_frame_equal(o_cost.pounds(), o_val.pounds())
    assert any("savings against" in n for n in o_val.notes)
    with pytest.raises(InputError, match="needs each partner's 'standalone_cost'"):
        split_options(partners.drop(columns=["standalone_cost", "benefit"]), 1_000_000,
                      game=sav[["coalition", "value"]], rules=["shapley"])


def test_service_model_and_explicit_rules():
    p = pd.DataFrame({"partner": ["Council", "NHS", "Police", "Housing"],
                      "caseload": [600, 300, 150, 250],
                      "standalone_cost": [500e3, 450e3, 200e3, 250e3],
                      "variable_cost": [150e3, 120e3, 60e3, 70e3],
                      "cap": [None, None, 100e3, None]})
    o = split_options(p, fixed_cost=600e3, rules=[
        "equal", "capped:caseload", "base_variable:caseload:30%", "airport", "shapley",
        "nucleolus", "prenucleolus", "least_core", "weak_least_core", "proportional_least_core",
        "scrb", "tau"])
    assert o.costs.tolist() == [1_000_000]
    assert o.allocation("capped:caseload")["Police"] == pytest.approx(100e3)
    assert not o.unavailable
    np.testing.assert_allclose(o.pounds().sum(axis=0), 1e6)
    np.testing.assert_allclose(o.allocation("least_core"), o.allocation("prenucleolus"))


def test_multi_year_costs(partners):
    o = split_options(partners, {"2025-26": 1_000_000, "2026-27": 1_100_000}, game=COAL,
                      rules=["equal", "shapley"])
    assert o.years == ["2025-26", "2026-27"]
    np.testing.assert_allclose(o.pounds("2026-27")["Shapley value"],
                               1.1 * o.pounds("2025-26")["Shapley value"])
    tidy = o.to_frame()
    assert len(tidy) == 2 * 2 * 3 and set(tidy.columns) >= {"year", "rule", "partner", "pounds"}
    o2 = split_options(partners, [100, 200], rules=["equal"])
    assert o2.years == ["Year 1", "Year 2"] and o2.pounds(1).iloc[0, 0] == pytest.approx(200 / 3)


def test_cost_differs_from_game_total_is_noted(partners):
    o = split_options(partners, 2_000_000, game=COAL, rules=["shapley"])
    assert any("differs from the cost to share" in n for n in o.notes)
    np.testing.assert_allclose(o.pounds().sum(), 2_000_000)


def test_bad_input(partners):
    neg = partners.copy()
    neg.loc[1, "budget"] = -5
    with pytest.raises(ValidationError) as err:
        split_options(neg, 1000, rules=["proportional:budget"])
    assert err.value.problems[0].row == 3 and "NHS" in err.value.problems[0].message
    # A default rule on a bad column is listed as unavailable instead.
    o = split_options(neg, 1000)
    assert "proportional:budget" in o.unavailable
    zero = partners.assign(caseload=0)
    with pytest.raises(InputError, match="is zero"):
        split_options(zero, 1000, rules=["proportional:caseload"])
    dup = pd.concat([partners, partners.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValidationError, match="listed twice"):
        split_options(dup, 1000)
    with pytest.raises(InputError, match="no 'partner' column"):
        split_options(partners.rename(columns={"partner": "org"}), 1000)
    with pytest.raises(InputError, match="give the cost to share"):
        split_options(partners)
    with pytest.raises(InputError, match="not both"):
        split_options(partners, 1000, game=COAL, fixed_cost=10)
    with pytest.raises(InputError, match="unknown rule"):
        split_options(partners, 1000, rules=["lottery"])
    with pytest.raises(InputError, match="needs a column"):
        split_options(partners, 1000, rules=["proportional"])
    with pytest.raises(InputError, match="caps cannot cover"):
        split_options(partners.assign(cap=[1, 1, 1]), 1000, rules=["capped:budget"])
    bad_game = COAL.assign(coalition=COAL["coalition"].str.replace("Police", "Fire"))
    with pytest.raises(ValidationError, match="unknown partner 'Fire'"):
        split_options(partners, 1000, game=bad_game)
    with pytest.raises(InputError, match="needs a game"):
        split_options(partners, 1000, rules=["shapley"], strict=True)


def test_parse_rule_labels():
    assert parse_rule("proportional:budget").label == "Proportional to budget"
    assert parse_rule("capped:budget").param == "cap"
    assert parse_rule("fixed_shares:agreed").name == "fixed"
    assert parse_rule("base_variable:caseload:base_pounds").label == \
        "base base pounds + caseload"


def test_excel_workbook(partners, tmp_path):
    o = split_options(partners, {"Y1": 1_000_000, "Y2": 1_050_000}, game=COAL)
    path = o.to_excel(tmp_path / "split.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Summary", "Pounds Y1", "Pounds Y2", "Shares", "Properties",
                             "Partner lines", "By year", "Coalitions", "Inputs"]
    ws = wb["Pounds Y1"]
    assert ws.freeze_panes == "B2"
    assert ws.cell(1, 1).value == "partner" and ws.cell(1, 1).font.bold
    assert "£" in ws.cell(2, 2).number_format
    assert ws.cell(5, 1).value == "Total" and ws.cell(5, 2).value == pytest.approx(1_000_000)
    assert wb["Shares"].cell(2, 2).number_format == "0.0%"
    assert ws.column_dimensions["B"].width >= len("Equal shares")
    lines = wb["Partner lines"]
    assert lines.cell(1, 3).value == "In plain English"
    with pytest.raises(InputError, match=".xlsx"):
        o.to_excel(tmp_path / "split.csv")


def test_plot_and_reprs(partners):
    import matplotlib.pyplot as plt

    o = split_options(partners, 1_000_000, game=COAL)
    ax = o.plot()
    assert ax.get_ylabel() == "Pays a year (£)" and "£1,000,000" in ax.get_title()
    assert len(ax.get_xticklabels()) == 3
    ax2 = o.plot(kind="stacked")
    assert len(ax2.get_xticklabels()) == len(o.rules)
    with pytest.raises(InputError):
        o.plot(kind="pie")
    plt.close("all")
    assert "Cost-split options" in repr(o)
    html = o._repr_html_()
    assert "<table" in html and "Partner by partner" in html


# -------------------------------------------------------------------- CLI
def _app():
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keep 'split' as a sub-command
        pass

    return app


def test_cli_end_to_end(partners, tmp_path):
    partners.to_csv(tmp_path / "partners.csv", index=False)
    COAL.to_excel(tmp_path / "coal.xlsx", index=False)
    out = tmp_path / "out.xlsx"
    res = CliRunner().invoke(_app(), ["split", str(tmp_path / "partners.csv"), "--cost", "£1m",
                                      "--game", str(tmp_path / "coal.xlsx"), "--rules",
                                      "equal,shapley,nucleolus,scrb", "--xlsx", str(out),
                                      "--lines", "--chart", str(tmp_path / "c.png")])
    assert res.exit_code == 0, res.output
    assert "Nucleolus" in res.output and "£425,000" in res.output
    assert "Police pays" in res.output
    assert out.exists() and (tmp_path / "c.png").exists()


def test_cli_errors(partners, tmp_path):
    partners.to_csv(tmp_path / "partners.csv", index=False)
    res = CliRunner().invoke(_app(), ["split", str(tmp_path / "partners.csv"), "--cost", "1m",
                                      "--rules", "proportional:budgett"])
    assert res.exit_code == 2
    assert "no column 'budgett'" in res.output
    res = CliRunner().invoke(_app(), ["split", str(tmp_path / "nope.csv"), "--cost", "1m"])
    assert res.exit_code == 2 and "not found" in res.output


def test_parse_cost():
    assert parse_cost("1200000") == 1_200_000
    assert parse_cost("800k") == 800_000
    assert parse_cost("1.2m,1.3m") == {"Year 1": 1_200_000, "Year 2": 1_300_000}
    with pytest.raises(InputError, match="separate years with commas"):
        parse_cost("1,200,000.5x")
    with pytest.raises(InputError, match="label every year"):
        parse_cost("a=1,2")


def test_money_strings_and_blank_cells():
    p = pd.DataFrame({"partner": ["A", "B"], "budget": ["£1,200", " 3600 "], "x": ["1", None]})
    o = split_options(p, 100, rules=["proportional:budget"])
    np.testing.assert_allclose(o.allocation("proportional:budget"), [25, 75])
    with pytest.raises(ValidationError, match="row 3, column 'x'.*number is needed"):
        split_options(p, 100, rules=["proportional:x"])


def test_more_than_twenty_partners_uses_sampled_shapley():
    rng = np.random.default_rng(0)
    n = 22
    p = pd.DataFrame({"partner": [f"Org{i}" for i in range(n)],
                      "caseload": rng.integers(10, 100, n),
                      "standalone_cost": rng.uniform(5e4, 1.5e5, n).round(),
                      "variable_cost": rng.uniform(1e4, 3e4, n).round()})
    o = split_options(p, fixed_cost=5e5)
    assert "Shapley value" in o.labels and "SCRB" in o.labels
    assert "nucleolus" in o.unavailable and "at most 20" in o.unavailable["nucleolus"]
    assert any("Sampled estimate" in t for t in o.notes)
    assert o.properties["in_core"].isna().all()
    assert ("Core", "not assessed (> 20 partners)") in o.summary().header
    np.testing.assert_allclose(o.pounds().sum(), o.costs[0])
