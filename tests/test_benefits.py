"""Tests for evalkit.benefits: benefit maps, effects -> benefits by partner, draws.

Hand-computed figures use unit costs priced in 2024-25 (no uprating) unless
the test is about uprating; Monte Carlo checks use tolerances of 4-5 Monte
Carlo standard errors (stated per test).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.benefits import BenefitDraws, BenefitsResult, benefits_by_partner
from evalkit.errors import InputError, ValidationError
from evalkit.evaluate.result import EffectResult, EffectResults
from evalkit.money import Adjustments, appraise, merge_unit_costs, validate_unit_costs

PY = "2024-25"


def unit_costs() -> pd.DataFrame:
    return validate_unit_costs(pd.DataFrame({
        "item": ["A&E visit", "Arrest", "Night in B&B", "Job entry", "Wellbeing year"],
        "unit": ["per attendance", "per arrest", "per week", "per claimant per year",
                 "per person per year"],
        "cost_gbp": [200.0, 700.0, 350.0, 9_000.0, 1_000.0],
        "price_year": [PY, PY, PY, PY, PY],
        "partner": ["ICB", "Police", "Council housing", "DWP", "Residents"],
        "cashable_share": [0.25, 0.0, 1.0, 1.0, 0.0],
        "source": ["test"] * 5,
        "value_type": ["fiscal", "fiscal", "fiscal", "fiscal", "social"],
    }))


def bmap(**cols) -> pd.DataFrame:
    d = {"measure": ["ae"], "item": ["A&E visit"], "partner": ["ICB"]}
    d.update(cols)
    return pd.DataFrame(d)


def run(effects, m, treated, **kw) -> BenefitsResult:
    kw.setdefault("unit_costs", unit_costs())
    kw.setdefault("n_draws", 400)
    kw.setdefault("price_year", PY)
    return benefits_by_partner(effects, m, treated, **kw)


# ---------------------------------------------------------------- hand-worked


def test_single_measure_hand_computed_with_sign_and_cashable_split():
    # -0.1 A&E visits per person per month, 100 people in year 0, £200 a visit:
    # 0.1 x 12 x 100 x 200 = £24,000; cashable 25% = £6,000; non-cashable £18,000.
    r = run({"ae": (-0.1, 0.02)}, bmap(), [100])
    assert r.total("fiscal") == pytest.approx(24_000)
    assert r.total("fiscal", cashable=True) == pytest.approx(6_000)
    assert r.total("fiscal", cashable=False) == pytest.approx(18_000)
    t = r.table
    assert list(t.columns) == ["partner", "year", "financial_year", "value_type", "cashable",
                               "mean", "lower", "upper"]
    assert set(t["cashable"]) == {True, False}
    # An increase in A&E visits is a negative benefit (a dis-benefit).
    r2 = run({"ae": (0.1, 0.0)}, bmap(), [100])
    assert r2.total("fiscal") == pytest.approx(-24_000)


def test_direction_increase_and_units_per_outcome():
    # +0.02 job entries per person per month (good), 500 people, £9,000 per entry:
    # 0.02 x 12 x 500 x 9,000 = £1,080,000, all cashable, to DWP.
    m = pd.DataFrame({"measure": ["jobs", "bnb_nights"], "item": ["Job entry", "Night in B&B"],
                      "partner": ["DWP", "Council housing"], "direction": ["increase", None],
                      "units_per_outcome": [None, 1 / 7]})
    r = run({"jobs": (0.02, 0.005), "bnb_nights": (-2.0, 0.5)}, m, [500])
    assert r.total("fiscal", "DWP") == pytest.approx(1_080_000)
    # -2 B&B nights per person per month priced at £350 a week (1/7 week per night):
    # 2 x 12 x 500 x 350 / 7 = £600,000
    assert r.total("fiscal", "Council housing") == pytest.approx(600_000)


def test_cohorts_benefit_years_drop_off_and_ramp_up_hand_computed():
    # 100 treated in year 0 and 200 in year 1; each person's benefit lasts 3 years with
    # 50% drop-off a year after the first; ramp-up 50% for the year-0 cohort.
    # Per person per year at the estimate: 0.1 x 12 x 200 = £240.
    adj = Adjustments(drop_off=0.5, ramp_up=(0.5,))
    r = run({"ae": (-0.1, 0.0)}, bmap(), [100, 200], benefit_years=3, adjustments=adj)
    assert r.horizon == 4
    pp = 240.0
    # year 0: cohort0 100 x 0.5(ramp) x 1            = 50
    # year 1: cohort0 100 x 0.5 x 0.5 + cohort1 200  = 25 + 200 = 225
    # year 2: cohort0 100 x 0.5 x 0.25 + 200 x 0.5   = 12.5 + 100 = 112.5
    # year 3: cohort1 200 x 0.25                     = 50
    expected = np.array([50, 225, 112.5, 50]) * pp
    got = r.by_partner("fiscal").loc["ICB"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    steps = r.adjustment_steps().set_index("step")
    # gross (no adjustments): year0 100, year1 300, year2 300, year3 200 people -> 900 x 240
    assert steps.loc["gross benefits", "after"] == pytest.approx(900 * pp)
    # drop-off: 100(1+.5+.25) + 200(1+.5+.25) = 525 person-years -> change -375 x 240
    assert steps.loc["drop-off", "change"] == pytest.approx(-375 * pp)
    # ramp-up halves cohort 0's 175 -> change -87.5 x 240
    assert steps.loc["ramp-up", "change"] == pytest.approx(-87.5 * pp)
    assert steps.loc["optimism-bias", "after"] == pytest.approx(expected.sum())


def test_deadweight_attribution_optimism_bias_on_benefits():
    adj = Adjustments(deadweight=0.1, attribution=0.5, optimism_bias_benefits=0.2)
    r = run({"ae": (-0.1, 0.0)}, bmap(), [100], adjustments=adj)
    # 24,000 x 0.9 x 0.5 x 0.8 = 8,640
    assert r.total("fiscal") == pytest.approx(8_640)
    s = r.adjustment_steps().set_index("step")["change"]
    assert s["deadweight"] == pytest.approx(-2_400)
    assert s["attribution"] == pytest.approx(-10_800)
    assert s["optimism-bias"] == pytest.approx(-2_160)


def test_shipped_unit_costs_are_uprated_to_the_price_year():
    # A&E attendance (all types), £109 in 2011-12 prices (UCD HE4.0), to 2024-25:
    # 109 x 100 / 70.3261 = 154.99 per attendance; 0.05 x 12 x 1,000 x 154.99.
    m = pd.DataFrame({"measure": ["ae"], "item": ["A&E attendance (all types)"],
                      "partner": ["NHS (CCG/ICB commissioner)"]})
    r = benefits_by_partner({"ae": (-0.05, 0.0)}, m, [1_000], price_year=PY, n_draws=10)
    assert r.total("fiscal") == pytest.approx(0.05 * 12 * 1_000 * 109 * 100 / 70.3261)
    u = r.unit_costs_used.iloc[0]
    assert u["price_year_original"] == "2011-12"
    assert u["uprating_factor"] == pytest.approx(100 / 70.3261)
    assert "UCD" not in u["source"] or "HE4.0" in u["source"]
    # the shipped 'partly' class -> default cashable share 0.5
    assert r.total("fiscal", cashable=True) == pytest.approx(r.total("fiscal") / 2)


# --------------------------------------------------------------- uncertainty


def test_normal_draws_are_seeded_and_centred():
    # Benefit = -(12 x 200) x 100 x effect = -240,000 x effect; effect ~ N(-0.1, 0.02)
    # -> benefit mean 24,000, sd 240,000 x 0.02 = 4,800.
    r1 = run({"ae": (-0.1, 0.02)}, bmap(), [100], n_draws=4000, seed=7)
    r2 = run({"ae": (-0.1, 0.02)}, bmap(), [100], n_draws=4000, seed=7)
    r3 = run({"ae": (-0.1, 0.02)}, bmap(), [100], n_draws=4000, seed=8)
    d1, d2, d3 = (r.draws("fiscal").values for r in (r1, r2, r3))
    assert np.array_equal(d1, d2)
    assert not np.array_equal(d1, d3)
    tot = d1.sum(axis=(1, 2))
    # mean within 5 MC standard errors (4,800 / sqrt(4000) = 75.9)
    assert abs(tot.mean() - 24_000) < 5 * 4_800 / np.sqrt(4000)
    # the sd of a sample sd is about 1.1% here; 5.5% is 5 of those
    assert tot.std(ddof=1) == pytest.approx(4_800, rel=0.055)
    row = r1.table.groupby("year")[["mean", "lower", "upper"]].sum().iloc[0]
    assert row["mean"] == pytest.approx(24_000)
    # The cashable (25%) and non-cashable (75%) parts move together, so their 2.5%
    # limits add up to the total's: 24,000 -/+ 1.96 x 4,800 = 14,592 / 33,408. The MC
    # standard error of a 2.5% quantile is sqrt(.025 x .975 / 4000) / phi(1.96) x 4,800
    # = 0.0025 / 0.0584 x 4,800 = 205; allow 4 of those.
    assert row["lower"] == pytest.approx(24_000 - 1.96 * 4_800, abs=820)
    assert row["upper"] == pytest.approx(24_000 + 1.96 * 4_800, abs=820)


def test_bootstrap_draws_are_used_when_present():
    boot = np.linspace(-0.2, 0.0, 400)
    er = EffectResult.from_draws(-0.1, boot, outcome="ae", method="bootstrap test",
                                 n_treated=100, n_control=100)
    r = run(er, bmap(), [100], n_draws=400)
    tot = r.draws("fiscal").total()
    # used as they are: benefit draw d = -(12 x 200) x 100 x boot[d]
    np.testing.assert_allclose(tot, -240_000 * boot, rtol=1e-12, atol=1e-9)
    assert "used as they are" in r.effects_used["draws"].iloc[0]
    r2 = run(er, bmap(), [100], n_draws=1000, seed=3)
    assert "resampled" in r2.effects_used["draws"].iloc[0]
    assert set(np.round(r2.draws("fiscal").total(), 6)) <= set(np.round(-240_000 * boot, 6))


def test_draws_shape_labels_and_correlation_across_partners():
    m = pd.DataFrame({"measure": ["ae", "ae", "arrests"],
                      "item": ["A&E visit", "Wellbeing year", "Arrest"],
                      "partner": ["ICB", "Residents", "Police"],
                      "units_per_outcome": [1, 0.01, 1]})
    r = run({"ae": (-0.1, 0.03), "arrests": (-0.01, 0.004)}, m, [100, 100, 50], n_draws=300)
    d = r.draws("fiscal")
    assert isinstance(d, BenefitDraws)
    assert d.shape == (300, 3, 3)
    assert d.partners == ["ICB", "Police", "Residents"] and d.years == [0, 1, 2]
    # Residents hold only social value: zero in the fiscal draws
    assert np.all(d.partner("Residents") == 0)
    s = r.draws("social")
    # the ICB (fiscal) and Residents (social) draws come from the same effect draws
    assert np.corrcoef(d.partner("ICB")[:, 0], s.partner("Residents")[:, 0])[0, 1] == \
        pytest.approx(1.0)
    long = d.to_frame()
    assert len(long) == 300 * 3 * 3
    assert list(long.columns) == ["draw", "partner", "year", "financial_year", "value"]
    assert d.values[5, 1, 2] == long[(long["draw"] == 5) & (long["partner"] == "Police")
                                     & (long["year"] == 2)]["value"].iloc[0]
    c = r.draws("fiscal", cashable=True).values + r.draws("fiscal", cashable=False).values
    np.testing.assert_allclose(c, d.values)
    with pytest.raises(InputError, match="one value type"):
        r.draws(("fiscal", "social"))
    with pytest.raises(InputError, match="never"):
        r.total(("fiscal", "social"))


def test_effects_given_as_results_and_tables():
    m = pd.DataFrame({"measure": ["ae", "arrests"], "item": ["A&E visit", "Arrest"],
                      "partner": ["ICB", "Police"]})
    a = EffectResult.from_estimate(-0.1, 0.02, outcome="ae", n_treated=1, n_control=1)
    b = EffectResult.from_estimate(-0.01, 0.005, outcome="arrests", n_treated=1, n_control=1)
    r1 = run(EffectResults([a, b]), m, [100], seed=1)
    r2 = run({"ae": a, "arrests": (-0.01, 0.005)}, m, [100], seed=1)
    r3 = run(pd.DataFrame({"measure": ["ae", "arrests"], "estimate": [-0.1, -0.01],
                           "se": [0.02, 0.005]}), m, [100], seed=1)
    for r in (r1, r2, r3):
        # arrests: 0.01 x 12 x 100 x 700 = 8,400
        assert r.total("fiscal", "Police") == pytest.approx(8_400)
    np.testing.assert_array_equal(r1.draws().values, r3.draws().values)


# --------------------------------------------------------------- clear errors


def test_unknown_unit_cost_item_is_a_clear_error():
    with pytest.raises(ValidationError) as e:
        run({"ae": (-0.1, 0.02)}, bmap(item=["A&E vist"]), [100])
    p = e.value.problems[0]
    assert p.table == "benefit_map" and p.row == 2 and p.column == "item"
    assert "not in the unit costs" in p.message and "A&E visit" in p.message


def test_unknown_partner_is_a_clear_error():
    with pytest.raises(ValidationError) as e:
        run({"ae": (-0.1, 0.02)}, bmap(partner=["ICBB"]), [100],
            partners=pd.DataFrame({"partner": ["ICB", "Police"]}))
    p = e.value.problems[0]
    assert p.column == "partner" and "unknown partner" in p.message and "'ICB'" in p.message


def test_negative_cashable_share_is_a_clear_error():
    with pytest.raises(ValidationError) as e:
        run({"ae": (-0.1, 0.02)}, bmap(cashable_share=[-0.25]), [100])
    p = e.value.problems[0]
    assert p.column == "cashable_share" and "negative" in p.message and p.value == -0.25


def test_price_year_not_in_deflator_series_is_a_clear_error():
    uc = unit_costs()
    uc.loc[0, "price_year"] = "1998-99"
    with pytest.raises(InputError) as e:
        run({"ae": (-0.1, 0.02)}, bmap(), [100], unit_costs=uc)
    assert "A&E visit" in str(e.value) and "1998-99" in str(e.value)
    assert "outside the GDP deflator series" in str(e.value)


def test_unstated_price_year_needs_one_supplied():
    m = pd.DataFrame({"measure": ["arrests"], "item": ["Arrest (as costed in VOICES evaluation)"],
                      "partner": ["Police"]})
    with pytest.raises(InputError) as e:
        benefits_by_partner({"arrests": (-0.01, 0.0)}, m, [100], price_year=PY, n_draws=10)
    assert "Arrest (as costed in VOICES evaluation)" in str(e.value)
    assert "no stated price year" in str(e.value)
    r = benefits_by_partner({"arrests": (-0.01, 0.0)}, m, [100], price_year=PY, n_draws=10,
                            price_years={"Arrest (as costed in VOICES evaluation)": "2015-16"})
    # 0.01 x 12 x 100 x 336 x 100/74.5804
    assert r.total("fiscal") == pytest.approx(0.01 * 12 * 100 * 336 * 100 / 74.5804)


def test_context_only_row_cannot_price_a_benefit():
    m = pd.DataFrame({"measure": ["ae"], "partner": ["Anytown"],
                      "item": ["Spend on a troubled family, West Cheshire estimate"]})
    with pytest.raises(ValidationError, match="context only"):
        benefits_by_partner({"ae": (-0.1, 0.0)}, m, [10], price_year=PY, n_draws=10)


def test_all_benefit_map_problems_are_listed_together():
    m = pd.DataFrame({"measure": ["ae", "ae", "falls"], "item": ["A&E visit", "Nope", "Arrest"],
                      "partner": ["ICB", "ICB", "Police"], "cashable_share": [1.5, 0.1, 0.0],
                      "value_type": ["fiscal", "fiscal", "fun"],
                      "direction": ["reduction", "up", "reduction"]})
    with pytest.raises(ValidationError) as e:
        run({"ae": (-0.1, 0.0)}, m, [10])
    msgs = " | ".join(p.message for p in e.value.problems)
    for fragment in ("at most 1", "not in the unit costs", "no effect estimate",
                     "value_type must be"):
        assert fragment in msgs
    assert {p.row for p in e.value.problems} == {2, 3, 4}


@pytest.mark.parametrize("kw,match", [
    (dict(periods_per_year=0), "periods_per_year"), (dict(benefit_years=0), "benefit_years"),
    (dict(n_draws=1), "n_draws"), (dict(alpha=1.5), "alpha"),
    (dict(price_year="2024"), "financial year")])
def test_bad_arguments(kw, match):
    with pytest.raises(InputError, match=match):
        run({"ae": (-0.1, 0.02)}, bmap(), [100], **kw)


def test_bad_effects_and_treated():
    with pytest.raises(InputError, match="standard error"):
        run({"ae": (-0.1, -1)}, bmap(), [100])
    with pytest.raises(InputError, match="horizon"):
        run({"ae": (-0.1, 0.1)}, bmap(), 100)
    with pytest.raises(InputError, match=">= 0"):
        run({"ae": (-0.1, 0.1)}, bmap(), [100, -5])
    bad = EffectResult(estimate=-0.1, se=float("nan"), ci_lower=float("nan"),
                       ci_upper=float("nan"), pvalue=float("nan"), n_treated=1, n_control=1,
                       outcome="ae")
    with pytest.raises(InputError, match="no usable standard error"):
        run(bad, bmap(), [100])
    r = run({"ae": (-0.1, 0.1)}, bmap(), 100, horizon=3)
    assert r.horizon == 3 and r.total("fiscal") == pytest.approx(3 * 24_000)


# --------------------------------------------------------- into the appraisal


def test_benefits_feed_the_appraisal_without_double_adjustment():
    adj = Adjustments(deadweight=0.5, optimism_bias_costs=0.1)
    r = run({"ae": (-0.1, 0.02)}, bmap(), [100, 100], adjustments=adj, first_year="2025-26")
    a = appraise([10_000, 10_000], r, price_year=PY)
    # benefits: 24,000 x 0.5 = 12,000 in each year; costs x 1.1
    assert a.pv_benefits("fiscal") == pytest.approx(12_000 + 12_000 / 1.035)
    assert a.pv_costs() == pytest.approx(11_000 + 11_000 / 1.035)
    assert a.pv_benefits("fiscal", cashable=True) == pytest.approx(0.25 * (12_000 + 12_000
                                                                           / 1.035))
    # the appraisal's waterfall shows the adjustments made in benefits_by_partner, in PV
    st_ = a.adjustment_steps()
    f = st_[st_["value_type"] == "fiscal"].set_index("step")
    assert f.loc["gross benefits", "after_pv"] == pytest.approx(24_000 + 24_000 / 1.035)
    assert f.loc["deadweight", "change_pv"] == pytest.approx(-12_000 - 12_000 / 1.035)
    assert f.loc["optimism-bias", "after_pv"] == pytest.approx(a.pv_benefits("fiscal"))
    with pytest.raises(InputError, match="applied twice"):
        appraise([10_000], r, price_year=PY, adjustments=Adjustments(deadweight=0.2))
    with pytest.raises(InputError, match="prices"):
        appraise([10_000], r, price_year="2023-24")


def test_merged_user_costs_price_a_benefit_map():
    mine = pd.DataFrame({"item": ["A&E attendance (all types)"], "unit": ["per attendance"],
                         "cost_gbp": [250.0], "price_year": ["2024-25"],
                         "partner": ["Anytown ICB"], "cashable_share": [0.2],
                         "source": ["Anytown ICB SLR"]})
    uc = merge_unit_costs(mine)
    m = pd.DataFrame({"measure": ["ae"], "item": ["A&E attendance (all types)"],
                      "partner": [None]})
    r = benefits_by_partner({"ae": (-0.1, 0.0)}, m, [10], price_year=PY, unit_costs=uc,
                            n_draws=10)
    # empty partner inherits the unit cost's partner; 0.1 x 12 x 10 x 250 = 3,000
    assert r.partners == ["Anytown ICB"]
    assert r.total("fiscal") == pytest.approx(3_000)
    assert r.total("fiscal", cashable=True) == pytest.approx(600)


def test_summary_plot_excel(tmp_path):
    import matplotlib.pyplot as plt
    from openpyxl import load_workbook

    m = pd.DataFrame({"measure": ["ae", "ae"], "item": ["A&E visit", "Wellbeing year"],
                      "partner": ["ICB", "Residents"], "units_per_outcome": [1, 0.01]})
    r = run({"ae": (-0.1, 0.03)}, m, [100, 100], first_year="2025-26")
    text = str(r.summary())
    assert "Totals over all years" in text and "ICB" in text and "social" in text
    assert "BenefitsResult" in repr(r)
    ax = r.plot()
    assert "Fiscal" in ax.get_title() and ax.get_xlabel() == "Financial year"
    plt.close(ax.figure)
    wb = load_workbook(r.to_excel(tmp_path / "b.xlsx"))
    assert "Benefits" in wb.sheetnames and "By partner (fiscal)" in wb.sheetnames
    ws = wb["Benefits"]
    header = [c.value for c in ws[1]]
    assert "£" in ws.cell(row=2, column=header.index("mean") + 1).number_format
    for kind in ("table", "detail", "effects", "unit_costs", "map", "steps", "adjustments"):
        assert not r.to_frame(kind).empty


@settings(max_examples=25)
@given(n=st.integers(1, 5_000), eff=st.floats(-2, 2, allow_nan=False, allow_infinity=False),
       k=st.floats(0.5, 4))
def test_benefits_are_linear_in_people_and_effect(n, eff, k):
    r1 = run({"ae": (eff, 0.0)}, bmap(), [n], n_draws=2)
    r2 = run({"ae": (eff * k, 0.0)}, bmap(), [2 * n], n_draws=2)
    assert r1.total("fiscal") == pytest.approx(-eff * 12 * n * 200, rel=1e-9, abs=1e-6)
    assert r2.total("fiscal") == pytest.approx(2 * k * r1.total("fiscal"), rel=1e-9, abs=1e-6)
    assert (r1.total("fiscal", cashable=True) + r1.total("fiscal", cashable=False)
            == pytest.approx(r1.total("fiscal"), rel=1e-12, abs=1e-9))
