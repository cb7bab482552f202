"""Tests for evalkit.money: unit costs, uprating, discounting, adjustments, appraisal.

Every figure asserted is hand-computed from the inputs written in the test
(arithmetic shown in comments); tolerances are floating-point only (1e-9
relative) unless a rounding is stated.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalkit.errors import InputError, ValidationError
from evalkit.money import (
    ADJUSTMENT_ORDER,
    CONTEXT_ONLY_ITEMS,
    DEFAULT_CASHABLE_SHARES,
    Adjustments,
    Appraisal,
    appraise,
    convert_unit_costs,
    discount_factors,
    discount_rates,
    load_deflators,
    load_discount_schedule,
    load_optimism_bias_grades,
    load_raw_unit_costs,
    load_unit_costs,
    merge_unit_costs,
    normalise_price_year,
    present_value,
    uprate,
    uprate_unit_costs,
    uprating_factor,
    validate_unit_costs,
)

REL = 1e-9


def approx(x, rel=REL, abs=1e-9):
    return pytest.approx(x, rel=rel, abs=abs)


# ---------------------------------------------------------------- discounting


def test_discount_factor_year_40_crosses_the_30_year_boundary():
    # Years 1-30 at 3.5%, years 31-40 at 3.0%: cumulative, not retroactive.
    # 1.035**30 = 2.806794..., 1.03**10 = 1.343916...; 1/(2.806794 * 1.343916) = 0.265105
    expected = 1 / (1.035 ** 30 * 1.03 ** 10)
    assert discount_factors([40])[0] == approx(expected)
    assert discount_factors([40])[0] == pytest.approx(0.26510459733825, abs=1e-12)
    # Not the retroactive (wrong) versions:
    assert discount_factors([40])[0] != pytest.approx(1 / 1.03 ** 40, rel=1e-3)
    assert discount_factors([40])[0] != pytest.approx(1 / 1.035 ** 40, rel=1e-3)


def test_discount_factor_boundaries_and_year_zero():
    f = discount_factors([0, 1, 30, 31, 75, 76])
    assert f[0] == 1.0
    assert f[1] == approx(1 / 1.035)
    assert f[2] == approx(1 / 1.035 ** 30)          # 0.356278 (Green Book table: 0.3563)
    assert round(float(f[2]), 4) == 0.3563
    assert f[3] == approx(1 / (1.035 ** 30 * 1.03))
    assert f[4] == approx(1 / (1.035 ** 30 * 1.03 ** 45))
    assert f[5] == approx(1 / (1.035 ** 30 * 1.03 ** 45 * 1.025))


def test_discount_rates_follow_the_green_book_schedule():
    years = [1, 30, 31, 75, 76, 125, 126, 200, 201, 300, 301, 500]
    assert discount_rates(years).tolist() == [0.035, 0.035, 0.03, 0.03, 0.025, 0.025, 0.02,
                                              0.02, 0.015, 0.015, 0.01, 0.01]
    assert discount_rates([10, 40], "health").tolist() == [0.015, 0.0129]
    sch = load_discount_schedule()
    assert sch["standard"].tolist() == [0.035, 0.03, 0.025, 0.02, 0.015, 0.01]
    assert sch["health"].iloc[0] == 0.015


def test_health_schedule_and_flat_rate():
    assert discount_factors([40], "health")[0] == approx(1 / (1.015 ** 30 * 1.0129 ** 10))
    assert discount_factors([10], "health")[0] == approx(1 / 1.015 ** 10)
    assert discount_factors([40], 0.05)[0] == approx(1 / 1.05 ** 40)
    assert discount_factors([3], 0.0)[0] == 1.0


def test_present_value_hand_computed():
    # 100 + 100/1.035 + 100/1.035^2 = 100 + 96.618357 + 93.351070
    assert present_value([100, 100, 100]) == approx(100 + 100 / 1.035 + 100 / 1.035 ** 2)
    assert present_value([50], years=[31]) == approx(50 / (1.035 ** 30 * 1.03))


@pytest.mark.parametrize("bad", [-1, 1.5, "year one", [0, -2]])
def test_discount_factor_rejects_bad_years(bad):
    with pytest.raises(InputError, match="years"):
        discount_factors(bad)


@pytest.mark.parametrize("bad", ["stern", -0.01, 1.2])
def test_discount_rejects_bad_schedule(bad):
    with pytest.raises(InputError, match="discount"):
        discount_factors([1], bad)


@given(st.integers(min_value=0, max_value=400))
def test_discount_factor_recursion_property(t):
    # factor(t+1) = factor(t) / (1 + r_{t+1}) for every year: the schedule is cumulative.
    f = discount_factors([t, t + 1])
    r = discount_rates([t + 1])[0]
    assert f[1] == pytest.approx(f[0] / (1 + r), rel=1e-12)
    assert 0 < f[1] < f[0] <= 1


# ------------------------------------------------------------------ uprating


def test_deflators_are_the_treasury_series():
    d = load_deflators()
    assert d.index[0] == "2000-01" and d.index[-1] == "2024-25" and len(d) == 25
    assert d["2024-25"] == 100.0
    assert d["2009-10"] == 67.7042
    assert "HM Treasury" in d.attrs["source"]


def test_uprating_across_price_years_hand_computed():
    # CSC initial assessment £362 in 2009-10 prices (UCD SS6.3) to 2024-25:
    # 362 x 100.0000 / 67.7042 = 534.6847
    assert uprate(362, "2009-10", "2024-25") == approx(362 * 100.0 / 67.7042)
    assert round(uprate(362, "2009/10", "2024-25"), 2) == 534.68
    # £1,000 in 2006-07 to 2013-14: 1000 x 73.0337 / 63.2017 = 1155.5672
    assert uprate(1000, "2006-07", "2013-14") == approx(1000 * 73.0337 / 63.2017)
    # Chain and inverse consistency
    a = uprating_factor("2002-03", "2011-12")
    b = uprating_factor("2011-12", "2020-21")
    assert a * b == approx(uprating_factor("2002-03", "2020-21"))
    assert uprating_factor("2020-21", "2002-03") == approx(1 / uprating_factor("2002-03",
                                                                               "2020-21"))
    assert uprating_factor("2015-16", "2015-16") == 1.0
    np.testing.assert_allclose(uprate([100, 200], "2009-10", "2024-25"),
                               np.array([100, 200]) * 100 / 67.7042)


def test_uprating_outside_the_series_is_a_clear_error_naming_item_and_year():
    with pytest.raises(InputError) as e:
        uprating_factor("1998-99", "2024-25", item="Old hostel cost")
    msg = str(e.value)
    assert "Old hostel cost" in msg and "1998-99" in msg and "2000-01 to 2024-25" in msg
    with pytest.raises(InputError, match="2026-27"):
        uprate(100, "2010-11", "2026-27")


def test_uprating_with_a_user_deflator_series():
    d = load_deflators()
    longer = pd.concat([d, pd.Series({"2025-26": 102.5})])
    assert uprating_factor("2024-25", "2025-26", deflators=longer) == approx(1.025)


@pytest.mark.parametrize("raw,expected", [
    ("2006/07", "2006-07"), ("2009-10", "2009-10"), ("2009/2010", "2009-10"),
    ("FY2013/14", "2013-14"), ("1999/00", "1999-00"), ("not stated", None),
    ("not stated (2015 report)", None), ("", None), (None, None)])
def test_normalise_price_year(raw, expected):
    assert normalise_price_year(raw) == expected


@pytest.mark.parametrize("raw", ["2015", "2009/11", "twenty ten", "2009-12"])
def test_normalise_price_year_rejects_non_financial_years(raw):
    with pytest.raises(InputError, match="financial year"):
        normalise_price_year(raw)


# ---------------------------------------------------------------- unit costs


def test_shipped_unit_costs_convert_with_sources_kept():
    raw = load_raw_unit_costs()
    uc = load_unit_costs()
    assert len(uc) == len(raw) == 99
    assert (uc["source"].str.len() > 10).all()
    assert list(uc.columns[:11]) == ["item", "unit", "cost_gbp", "price_year", "partner",
                                     "cashable_share", "source", "value_type", "event_type",
                                     "organisation", "service"]
    # cashable yes/partly/no -> 1 / 0.5 / 0 by default
    for cls, share in DEFAULT_CASHABLE_SHARES.items():
        assert (uc.loc[uc["cashable"] == cls, "cashable_share"] == share).all()
    # agency -> partner, price years normalised
    row = uc.set_index("item").loc["Police arrest (detained)"]
    assert row["partner"] == "Police" and row["price_year"] == "2006-07"
    assert row["cost_gbp"] == 593.0 and row["cashable_share"] == 0.0
    assert set(uc["price_year"].dropna()) <= set(load_deflators().index)


def test_unstated_price_years_and_context_only_rows_are_flagged():
    uc = load_unit_costs().set_index("item")
    assert int((~uc["price_year_stated"]).sum()) == 11
    r = uc.loc["Arrest (as costed in VOICES evaluation)"]
    assert not r["price_year_stated"] and r["price_year_note"] == "not stated"
    assert pd.isna(r["price_year"])
    flagged = sorted(uc.index[uc["context_only"]])
    assert flagged == sorted(CONTEXT_ONLY_ITEMS)
    assert uc.loc["Public service use by a Fulfilling Lives beneficiary at entry (average)",
                  "cost_gbp"] == 28000
    assert len(load_unit_costs(include_context_only=False)) == 96
    # a mixed fiscal + economic row is never tagged fiscal
    assert uc.loc["Permanent exclusion from school (fiscal and economic)",
                  "value_type"] == "economic"


def test_cashable_shares_and_partner_map_are_overridable():
    uc = convert_unit_costs(load_raw_unit_costs(), cashable_shares={"partly": 0.3},
                            partner_map={"NHS (CCG/ICB commissioner)": "Anytown ICB"})
    r = uc.set_index("item").loc["A&E attendance (all types)"]
    assert r["cashable_share"] == 0.3 and r["partner"] == "Anytown ICB"
    assert r["agency_bearing_cost"] == "NHS (CCG/ICB commissioner)"
    with pytest.raises(InputError, match="between 0 and 1"):
        convert_unit_costs(load_raw_unit_costs(), cashable_shares={"partly": -0.1})
    with pytest.raises(InputError, match="unknown class"):
        convert_unit_costs(load_raw_unit_costs(), cashable_shares={"maybe": 0.1})


def test_uprating_an_unstated_row_is_an_error_unless_a_price_year_is_supplied():
    uc = load_unit_costs()
    sub = uc[uc["item"].isin(["Arrest (as costed in VOICES evaluation)",
                              "Police arrest (detained)"])]
    with pytest.raises(InputError) as e:
        uprate_unit_costs(sub, "2024-25")
    assert "Arrest (as costed in VOICES evaluation)" in str(e.value)
    assert "price_years" in str(e.value)
    up = uprate_unit_costs(sub, "2024-25",
                           price_years={"Arrest (as costed in VOICES evaluation)": "2015-16"})
    r = up.set_index("item")
    # 336 x 100 / 74.5804 = 450.5205 ; 593 x 100 / 63.2017 = 938.2659
    assert r.loc["Arrest (as costed in VOICES evaluation)", "cost_gbp"] == approx(
        336 * 100 / 74.5804)
    assert r.loc["Police arrest (detained)", "cost_gbp"] == approx(593 * 100 / 63.2017)
    assert (r["price_year"] == "2024-25").all()
    skipped = uprate_unit_costs(sub, "2024-25", unstated="skip").set_index("item")
    assert math.isnan(skipped.loc["Arrest (as costed in VOICES evaluation)", "cost_gbp"])


def _user_costs(**over):
    d = {"item": ["A&E attendance (all types)", "Link worker hour"],
         "unit": ["per attendance", "per hour"], "cost_gbp": [250.0, 31.0],
         "price_year": ["2023/24", "2024-25"], "partner": ["Anytown ICB", "Anytown council"],
         "cashable_share": [0.2, 0.0], "source": ["ICB SLR 2023-24", "Council payroll"]}
    d.update(over)
    return pd.DataFrame(d)


def test_merge_user_unit_costs_over_shipped_same_item_replaces():
    mine = _user_costs(item=["  a&e attendance  (ALL types) ", "Link worker hour"])
    merged = merge_unit_costs(mine)
    assert len(merged) == 99 + 1   # one replaced, one added
    assert merged.attrs["replaced"] == ["A&E attendance (all types)"]
    assert merged.attrs["added"] == ["Link worker hour"]
    ae = merged[merged["item"].str.casefold().str.contains("a&e attendance")]
    ae = ae[ae["origin"] == "user"]
    assert len(ae) == 1 and ae["cost_gbp"].iloc[0] == 250.0
    assert ae["price_year"].iloc[0] == "2023-24"
    assert (merged.loc[merged["origin"] == "shipped", "item"]
            != "A&E attendance (all types)").all()


def test_user_unit_costs_negative_cashable_share_is_a_clear_error():
    with pytest.raises(ValidationError) as e:
        validate_unit_costs(_user_costs(cashable_share=[-0.2, 0.0]))
    p = e.value.problems[0]
    assert p.row == 2 and p.column == "cashable_share" and "negative" in p.message
    with pytest.raises(ValidationError, match="duplicate"):
        validate_unit_costs(_user_costs(item=["X", "x"]))
    with pytest.raises(InputError, match="missing column"):
        validate_unit_costs(_user_costs().drop(columns="source"))


# --------------------------------------------------------------- adjustments


def test_adjustments_defaults_are_stated_as_no_adjustment():
    adj = Adjustments()
    assert adj.cost_uplift == 0 and adj.benefit_haircut == 0
    assert not adj.any_benefit_adjustment
    t = adj.to_frame().set_index("adjustment")
    assert set(t.index) == {"deadweight", "attribution", "drop_off", "ramp_up",
                            "optimism_bias_benefits", "optimism_bias_costs"}
    assert "default" in t.loc["deadweight", "basis"]
    assert t.loc["optimism_bias_costs", "value"] == "none"
    assert ADJUSTMENT_ORDER == ("deadweight", "attribution", "drop_off", "ramp_up",
                                "optimism_bias")


def test_confidence_grades_and_percentages():
    g = load_optimism_bias_grades().set_index("grade")
    adj = Adjustments(confidence_grade_costs=4, confidence_grade_benefits=2)
    assert adj.cost_uplift == g.loc[4, "cost_uplift"]
    assert adj.benefit_haircut == g.loc[2, "benefit_haircut"]
    assert "grade 4" in adj.to_frame().set_index("adjustment").loc["optimism_bias_costs",
                                                                   "value"]
    with pytest.raises(InputError, match="not both"):
        Adjustments(optimism_bias_costs=0.1, confidence_grade_costs=2)
    with pytest.raises(InputError, match="confidence grade"):
        Adjustments(confidence_grade_benefits=9)


@pytest.mark.parametrize("kw", [dict(deadweight=1.2), dict(attribution=-0.1),
                                dict(drop_off=2), dict(ramp_up=(0.5, 1.5)),
                                dict(ramp_up=0.5), dict(optimism_bias_benefits=1.5),
                                dict(deadweight="a lot")])
def test_adjustments_reject_out_of_range(kw):
    with pytest.raises(InputError):
        Adjustments(**kw)


def _stream(values, partner="NHS", **cols):
    d = {"year": list(range(len(values))), "partner": partner, "value": values}
    d.update(cols)
    return pd.DataFrame(d)


def test_optimism_bias_deadweight_and_drop_off_in_the_documented_order():
    # Gross £10,000 a year in years 0, 1, 2 (fiscal, NHS). Deadweight 20%, drop-off 10%
    # a year after the first, optimism bias 15% on benefits, 10% on costs.
    adj = Adjustments(deadweight=0.2, drop_off=0.1, optimism_bias_benefits=0.15,
                      optimism_bias_costs=0.10)
    a = appraise([30_000], _stream([10_000, 10_000, 10_000]), price_year="2024-25",
                 adjustments=adj)
    s = a.adjustment_steps()
    fis = s[s["value_type"] == "fiscal"].set_index("step")
    # 1. deadweight: 30,000 x 0.8 = 24,000 (change -6,000)
    assert fis.loc["deadweight", "after"] == approx(24_000)
    assert fis.loc["deadweight", "change"] == approx(-6_000)
    # 2. attribution 100%: no change
    assert fis.loc["attribution", "change"] == approx(0.0)
    # 3. drop-off: 8,000 + 8,000 x 0.9 + 8,000 x 0.81 = 8,000 + 7,200 + 6,480 = 21,680
    assert fis.loc["drop-off", "after"] == approx(21_680)
    assert fis.loc["drop-off", "change"] == approx(-2_320)
    # 4. ramp-up none; 5. optimism bias 15%: 21,680 x 0.85 = 18,428 (change -3,252)
    assert fis.loc["ramp-up", "change"] == approx(0.0)
    assert fis.loc["optimism-bias", "after"] == approx(18_428)
    assert fis.loc["optimism-bias", "change"] == approx(-3_252)
    # Yearly net: 6,800 ; 6,120 ; 5,508 ; PV = 6,800 + 6,120/1.035 + 5,508/1.035^2
    pv_b = 6_800 + 6_120 / 1.035 + 5_508 / 1.035 ** 2
    assert a.pv_benefits("fiscal") == approx(pv_b)
    assert fis.loc["optimism-bias", "after_pv"] == approx(pv_b)
    # Costs: 30,000 x 1.10 = 33,000 in year 0
    assert a.pv_costs() == approx(33_000)
    c = s[s["value_type"] == "costs"].set_index("step")
    assert c.loc["optimism-bias uplift", "change"] == approx(3_000)
    assert a.npv() == approx(pv_b - 33_000)
    f = a.flows[a.flows["flow"] == "benefit"].set_index("year")
    assert f["adjusted"].tolist() == pytest.approx([6_800, 6_120, 5_508], rel=REL)


def test_each_adjustment_alone_hand_computed():
    base = _stream([1_000, 1_000, 1_000])
    # Optimism bias on costs only: 50,000 x 1.2 = 60,000
    a = appraise([50_000], base, price_year="2024-25",
                 adjustments=Adjustments(optimism_bias_costs=0.2))
    assert a.pv_costs() == approx(60_000)
    assert a.flows.loc[a.flows["flow"] == "benefit", "adjusted"].sum() == approx(3_000)
    # Deadweight alone: 3,000 x 0.75
    a = appraise([0], base, price_year="2024-25", adjustments=Adjustments(deadweight=0.25))
    assert a.flows.loc[a.flows["flow"] == "benefit", "adjusted"].sum() == approx(2_250)
    # Drop-off alone 50%: 1,000 + 500 + 250
    a = appraise([0], base, price_year="2024-25", adjustments=Adjustments(drop_off=0.5))
    assert a.flows.loc[a.flows["flow"] == "benefit", "adjusted"].tolist() == pytest.approx(
        [1_000, 500, 250])
    # Ramp-up (0.5, 0.8): 500, 800, 1,000
    a = appraise([0], base, price_year="2024-25", adjustments=Adjustments(ramp_up=(0.5, 0.8)))
    assert a.flows.loc[a.flows["flow"] == "benefit", "adjusted"].tolist() == pytest.approx(
        [500, 800, 1_000])
    # Attribution 60%
    a = appraise([0], base, price_year="2024-25", adjustments=Adjustments(attribution=0.6))
    assert a.flows.loc[a.flows["flow"] == "benefit", "adjusted"].sum() == approx(1_800)


def test_drop_off_counts_from_each_streams_first_year():
    # Police benefits start in year 2: drop-off counts years since year 2, not year 0.
    b = pd.DataFrame({"year": [0, 1, 2, 2, 3], "partner": ["NHS", "NHS", "NHS", "Police",
                                                            "Police"],
                      "value": [100.0, 100.0, 100.0, 100.0, 100.0]})
    a = appraise([0], b, price_year="2024-25", adjustments=Adjustments(drop_off=0.5))
    f = a.flows[a.flows["flow"] == "benefit"].set_index(["partner", "year"])["adjusted"]
    assert f[("NHS", 2)] == approx(25.0) and f[("Police", 2)] == approx(100.0)
    assert f[("Police", 3)] == approx(50.0)


# ----------------------------------------------------------------- appraisal


@pytest.fixture
def three_partner_appraisal() -> Appraisal:
    # Costs: Council pays 60,000 in year 0; NHS 40,000 in year 0 and 50,000 in year 1.
    costs = pd.DataFrame({"year": [0, 0, 1], "partner": ["Council", "NHS", "NHS"],
                          "cost": [60_000.0, 40_000.0, 50_000.0]})
    # Benefits: NHS fiscal 30,000 (y0) and 90,000 (y1), half cashable; Police fiscal
    # 20,000 (y1), not cashable; Council social 40,000 (y1); Council economic 10,000 (y2).
    ben = pd.DataFrame({
        "year": [0, 1, 1, 1, 2],
        "partner": ["NHS", "NHS", "Police", "Council", "Council"],
        "value": [30_000.0, 90_000.0, 20_000.0, 40_000.0, 10_000.0],
        "value_type": ["fiscal", "fiscal", "fiscal", "social", "economic"],
        "cashable_share": [0.5, 0.5, 0.0, 0.0, 0.0]})
    return appraise(costs, ben, price_year="2024-25", first_year="2025-26")


def test_appraisal_hand_computed_by_partner_and_total(three_partner_appraisal):
    a = three_partner_appraisal
    d1 = 1 / 1.035
    d2 = 1 / 1.035 ** 2
    pvc = 100_000 + 50_000 * d1
    pvb_f = 30_000 + 90_000 * d1 + 20_000 * d1
    assert a.pv_costs() == approx(pvc)
    assert a.pv_benefits("fiscal") == approx(pvb_f)
    assert a.pv_benefits("fiscal", cashable=True) == approx(15_000 + 45_000 * d1)
    assert a.pv_benefits("fiscal", cashable=False) == approx(15_000 + 45_000 * d1
                                                             + 20_000 * d1)
    assert a.pv_benefits("social") == approx(40_000 * d1)
    assert a.pv_benefits("economic") == approx(10_000 * d2)
    assert a.npv("fiscal") == approx(pvb_f - pvc)
    assert a.bcr("fiscal") == approx(pvb_f / pvc)
    assert a.roi("fiscal") == approx((pvb_f - pvc) / pvc)
    # NHS: costs 40,000 + 50,000 d1; benefits 30,000 + 90,000 d1
    nhs_c = 40_000 + 50_000 * d1
    nhs_b = 30_000 + 90_000 * d1
    assert a.npv("fiscal", "NHS") == approx(nhs_b - nhs_c)
    assert a.bcr("fiscal", "NHS") == approx(nhs_b / nhs_c)
    # NHS cumulative PV net: y0 -10,000; y1 -10,000 + 40,000 d1 > 0 -> pays back in year 1
    assert a.payback_year("fiscal", "NHS") == 1
    # Total cumulative: y0 -70,000; y1 -70,000 + 60,000 d1 < 0; y2 no fiscal -> never
    assert a.payback_year("fiscal") is None
    # Police bears no cost: nothing to pay back, BCR undefined
    assert a.payback_year("fiscal", "Police") is None
    assert math.isnan(a.bcr("fiscal", "Police"))
    assert a.npv("fiscal", "Police") == approx(20_000 * d1)
    pt = a.partner_table()
    assert list(pt.index) == ["Council", "NHS", "Police", "Total"]
    assert pt.loc["Total", "PV costs"] == approx(pvc)
    assert pt.loc["Council", "PV social benefits"] == approx(40_000 * d1)
    assert pt.loc["NHS", "Fiscal payback year"] == 1
    m = a.metrics()
    row = m[(m["scope"] == "NHS") & (m["basis"] == "fiscal")].iloc[0]
    assert row["payback_financial_year"] == "2026-27"


def test_undiscounted_payback_and_yearly(three_partner_appraisal):
    a = three_partner_appraisal
    y = a.yearly("fiscal")
    assert y["financial_year"].tolist() == ["2025-26", "2026-27", "2027-28"]
    assert y["costs"].tolist() == pytest.approx([100_000, 50_000, 0])
    assert y["benefits"].tolist() == pytest.approx([30_000, 110_000, 0])
    # undiscounted cumulative: -70,000 ; -10,000 ; -10,000 -> never
    assert a.payback_year("fiscal", discounted=False) is None
    assert a.payback_year("fiscal", "NHS", discounted=False) == 1


def test_fiscal_and_social_values_are_never_silently_summed(three_partner_appraisal):
    a = three_partner_appraisal
    fiscal, social, economic = (a.pv_benefits("fiscal"), a.pv_benefits("social"),
                                a.pv_benefits("economic"))
    sums = [fiscal + social, fiscal + social + economic, fiscal + economic]
    costs = a.pv_costs()
    forbidden = sums + [s - costs for s in sums] + [s / costs for s in sums]
    # 1. No number in any default output equals a cross-type sum.
    outputs = [a.metrics(), a.partner_table().reset_index(), a.yearly("fiscal"),
               a.adjustment_steps()]
    for df in outputs:
        vals = df.select_dtypes("number").to_numpy(dtype=float).ravel()
        vals = vals[np.isfinite(vals)]
        for f in forbidden:
            assert not np.any(np.isclose(vals, f, rtol=1e-9, atol=1e-6)), f
    # 2. Each basis is a single value type; no column mixes them.
    assert set(a.metrics()["basis"]) == {"fiscal", "economic", "social"}
    assert not any("public value" in c.lower() for c in a.partner_table().columns)
    text = str(a.summary())
    assert f"{fiscal + social:,.0f}" not in text
    assert "never added" in text
    # 3. Asking for "all" (or nothing) is refused; a sum must be named explicitly.
    for bad in ("all", "total", None, ()):
        with pytest.raises(InputError, match="never adds value types"):
            a.npv(bad)
    assert a.pv_benefits(("fiscal", "social")) == approx(fiscal + social)
    # 4. With public_value=True the sum appears, labelled as such.
    b = appraise(a.flows[a.flows["flow"] == "cost"].rename(columns={"gross": "cost"})[
        ["year", "partner", "cost"]],
        a.flows[a.flows["flow"] == "benefit"].rename(columns={"gross": "value"})[
            ["year", "partner", "value", "value_type", "cashable_share"]],
        price_year="2024-25", public_value=True)
    mm = b.metrics()
    pv = mm[(mm["scope"] == "Total") & mm["basis"].str.startswith("public value")]
    assert len(pv) == 1 and "added on request" in pv["basis"].iloc[0]
    assert pv["pv_benefits"].iloc[0] == approx(fiscal + social + economic)
    assert "Public value NPV (fiscal + economic + social)" in b.partner_table().columns


def test_costs_with_their_own_price_year_are_uprated():
    # £10,000 priced in 2023-24 becomes 10,000 x 100 / 96.1117 in 2024-25 prices.
    costs = pd.DataFrame({"year": [0], "cost": [10_000.0], "price_year": ["2023-24"]})
    a = appraise(costs, _stream([0.0]), price_year="2024-25")
    assert a.pv_costs() == approx(10_000 * 100 / 96.1117)


def test_health_and_flat_discounting_in_appraisal():
    b = _stream([0, 0, 1_000], value_type="social", schedule="health")
    a = appraise([0], b, price_year="2024-25")
    assert a.pv_benefits("social") == approx(1_000 / 1.015 ** 2)
    a = appraise([0], b, price_year="2024-25", discount=0.05)
    assert a.pv_benefits("social") == approx(1_000 / 1.05 ** 2)
    assert "flat 5%" in a.discount_label


def test_appraisal_input_errors():
    with pytest.raises(InputError, match="positive"):
        appraise([-5], _stream([1.0]), price_year="2024-25")
    with pytest.raises(InputError, match="partner"):
        appraise([1], pd.DataFrame({"year": [0], "value": [1.0]}), price_year="2024-25")
    with pytest.raises(InputError, match="horizon"):
        appraise([1, 1, 1], _stream([1.0]), price_year="2024-25", horizon=2)
    with pytest.raises(InputError, match="financial year"):
        appraise([1], _stream([1.0]), price_year="2024")
    with pytest.raises(InputError, match="cashable_share"):
        appraise([1], _stream([1.0], cashable_share=-0.5), price_year="2024-25")
    with pytest.raises(InputError, match="value_type"):
        appraise([1], _stream([1.0], value_type="wellbeing"), price_year="2024-25")
    with pytest.raises(InputError, match="not a number"):
        appraise([1], _stream(["lots"]), price_year="2024-25")
    a = appraise([1], _stream([1.0]), price_year="2024-25")
    with pytest.raises(InputError, match="kind"):
        a.to_frame("everything")
    with pytest.raises(InputError, match="partner"):
        a.npv("fiscal", "Fire service")


def test_summary_plot_and_excel(three_partner_appraisal, tmp_path):
    import matplotlib.pyplot as plt
    from openpyxl import load_workbook

    a = three_partner_appraisal
    text = str(a.summary())
    for part in ("Costs by agency", "Benefits by agency", "Fiscal NPV", "Fiscal BCR",
                 "Fiscal ROI", "Fiscal payback", "Adjustments"):
        assert part in text
    assert "<table" in a._repr_html_()
    assert "fiscal NPV" in repr(a)
    for kind in ("partners", "waterfall", "cumulative"):
        ax = a.plot(kind=kind)
        assert ax.get_title()
        assert ax.get_ylabel()
        plt.close(ax.figure)
    path = a.to_excel(tmp_path / "cba.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["Summary", "By partner", "Headline metrics", "Yearly (fiscal)",
                             "Cash flows", "Adjustments", "Adjustment steps", "Notes"]
    ws = wb["By partner"]
    assert ws.freeze_panes == "B2"
    header = [c.value for c in ws[1]]
    col = header.index("PV costs") + 1
    assert "£" in ws.cell(row=2, column=col).number_format
    assert ws.cell(row=2, column=col).value == pytest.approx(60_000)  # Council
    bcr_col = header.index("Fiscal BCR") + 1
    assert ws.cell(row=3, column=bcr_col).number_format == "0.00"
    for kind in ("metrics", "partners", "yearly", "flows", "adjustments", "steps"):
        assert not a.to_frame(kind).empty


def test_reference_loaders_and_paths():
    from evalkit import reference

    assert reference.reference_path("SOURCES.md").exists()
    for name in reference.FILES:
        assert reference.reference_path(name).exists()
    with pytest.raises(InputError, match="no reference file"):
        reference.reference_path("unit_costs_v3.csv")
    assert len(reference.load_unit_costs()) == 99
    assert list(reference.load_raw_unit_costs().columns) == [
        "item", "unit", "cost_gbp", "price_year", "agency_bearing_cost", "cashable", "source"]
    assert reference.load_discount_schedule().shape == (6, 4)
    assert reference.load_optimism_bias_grades()["grade"].tolist() == [1, 2, 3, 4, 5, 6]
