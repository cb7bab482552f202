"""The sustainability model: a scenario worked by hand, probabilities, seeds, progress, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.errors import InputError
from evalkit.money import Adjustments
from evalkit.sustain import BenefitModel, Scenario, Sensitivity, SustainResult

# ---------------------------------------------------------------------------
# The hand-worked scenario: 3 partners, 4 years.
#
# Running cost 100,000 a year (no inflation), a 20,000 transition cost in
# year 0, grant 120,000 then 60,000:
#   cost  = 120,000  100,000  100,000  100,000
#   grant = 120,000   60,000        0        0
#   gap   =       0   40,000  100,000  100,000
# Green Book discount factors (3.5% a year): 1, 1/1.035, 1/1.035^2, 1/1.035^3
#   = 1, 0.966184, 0.933511, 0.901943.
# Cashable benefits (given as numbers):
#   A:  0  30,000  50,000  50,000
#   B:  0  20,000  40,000  40,000
#   C:  0       0  10,000  20,000
# Caseload A 50, B 30, C 20.
# ---------------------------------------------------------------------------
R = 1.035
DF = np.array([1.0, 1 / R, 1 / R ** 2, 1 / R ** 3])
GAP = np.array([0.0, 40_000.0, 100_000.0, 100_000.0])
BEN = np.array([[0.0, 30_000, 50_000, 50_000],
                [0.0, 20_000, 40_000, 40_000],
                [0.0, 0, 10_000, 20_000]])
PARTNERS = pd.DataFrame({"partner": ["A", "B", "C"], "caseload": [50, 30, 20]})


def hand_scenario(**kw) -> Scenario:
    args = dict(partners=PARTNERS, running_cost=100_000, horizon=4, first_year="2025-26",
                transition_costs=[20_000], grant=[120_000, 60_000], benefits=BEN,
                rules=["equal", "proportional", "beneficiary_pays"])
    args.update(kw)
    return Scenario(**args)


@pytest.fixture(scope="module")
def hand() -> SustainResult:
    return hand_scenario().run(progress=False)


def test_funding_table_by_hand(hand):
    f = hand.to_frame("funding")
    assert f["financial_year"].tolist() == ["2025-26", "2026-27", "2027-28", "2028-29"]
    assert f["running_cost"].tolist() == [100_000.0] * 4
    assert f["transition_cost"].tolist() == [20_000.0, 0, 0, 0]
    assert f["total_cost"].tolist() == [120_000.0, 100_000, 100_000, 100_000]
    assert f["grant"].tolist() == [120_000.0, 60_000, 0, 0]
    assert f["gap"].tolist() == GAP.tolist()
    np.testing.assert_allclose(f["discount_factor"], [1.0, 0.966184, 0.933511, 0.901943],
                               atol=5e-7)


def _cells(hand, rule, partner):
    c = hand.to_frame("cashflows")
    return c[(c["rule"] == rule) & (c["partner"] == partner)].set_index("year")


def test_every_cashflow_cell_by_hand_equal_shares(hand):
    # Equal shares: each pays a third of the gap: 0, 13,333.33, 33,333.33, 33,333.33.
    third = GAP / 3
    expected = {
        # A: net 0, 16,666.67, 16,666.67, 16,666.67
        "A": {"net": [0, 50_000 / 3, 50_000 / 3, 50_000 / 3],
              "cumulative_net": [0, 50_000 / 3, 100_000 / 3, 50_000],
              "discounted_net": [0, 16_103.0596, 15_558.5117, 15_032.3784],
              "cumulative_discounted_net": [0, 16_103.0596, 31_661.5713, 46_693.9497]},
        # B: net 0, 6,666.67 each year after the first
        "B": {"net": [0, 20_000 / 3, 20_000 / 3, 20_000 / 3],
              "cumulative_net": [0, 20_000 / 3, 40_000 / 3, 20_000],
              "discounted_net": [0, 6_441.2238, 6_223.4047, 6_012.9514],
              "cumulative_discounted_net": [0, 6_441.2238, 12_664.6285, 18_677.5799]},
        # C: net 0, -13,333.33, -23,333.33, -13,333.33
        "C": {"net": [0, -40_000 / 3, -70_000 / 3, -40_000 / 3],
              "cumulative_net": [0, -40_000 / 3, -110_000 / 3, -50_000],
              "discounted_net": [0, -12_882.4477, -21_781.9156, -12_025.9035],
              "cumulative_discounted_net": [0, -12_882.4477, -34_664.3633, -46_690.2667]},
    }
    for i, p in enumerate("ABC"):
        t = _cells(hand, "Equal shares", p)
        np.testing.assert_allclose(t["contribution"], third, rtol=1e-12)
        np.testing.assert_allclose(t["benefit"], BEN[i], rtol=1e-12)
        np.testing.assert_allclose(t["discount_factor"], DF, rtol=1e-12)
        for col, vals in expected[p].items():
            np.testing.assert_allclose(t[col], vals, atol=1e-4 if "discounted" in col else 1e-9)


def test_every_cashflow_cell_by_hand_proportional(hand):
    # Proportional to caseload 50:30:20 -> A pays 20,000, 50,000, 50,000 after year 0 ...
    pay = {"A": [0, 20_000, 50_000, 50_000], "B": [0, 12_000, 30_000, 30_000],
           "C": [0, 8_000, 20_000, 20_000]}
    net = {"A": [0, 10_000, 0, 0], "B": [0, 8_000, 10_000, 10_000],
           "C": [0, -8_000, -10_000, 0]}
    npv = {"A": 10_000 / R,                                   # 9,661.84
           "B": 8_000 / R + 10_000 / R ** 2 + 10_000 / R ** 3,  # 26,084.00
           "C": -8_000 / R - 10_000 / R ** 2}                  # -17,064.58
    for p in "ABC":
        t = _cells(hand, "Proportional to caseload", p)
        np.testing.assert_allclose(t["contribution"], pay[p], rtol=1e-12)
        np.testing.assert_allclose(t["net"], net[p], atol=1e-9)
        np.testing.assert_allclose(t["cumulative_net"], np.cumsum(net[p]), atol=1e-9)
        np.testing.assert_allclose(t["discounted_net"], np.array(net[p]) * DF, atol=1e-9)
        np.testing.assert_allclose(t["cumulative_discounted_net"],
                                   np.cumsum(np.array(net[p]) * DF), atol=1e-9)
    assert round(npv["A"], 2) == 9_661.84 and round(npv["B"], 2) == 26_084.00
    o = hand.to_frame("options").set_index(["rule", "partner"])
    for p in "ABC":
        assert o.loc[("Proportional to caseload", p), "npv"] == pytest.approx(npv[p], abs=1e-6)


def test_beneficiary_pays_by_hand(hand):
    # PV of benefits: A = 30,000/1.035 + 50,000/1.035^2 + 50,000/1.035^3 = 120,758.18
    pvb = BEN @ DF
    assert pvb[0] == pytest.approx(120_758.18, abs=0.01)
    share = pvb / pvb.sum()
    for i, p in enumerate("ABC"):
        t = _cells(hand, "Beneficiary pays", p)
        pay = share[i] * GAP                  # e.g. A: 50.13% of 0, 40,000, 100,000, 100,000
        np.testing.assert_allclose(t["contribution"], pay, rtol=1e-12)
        np.testing.assert_allclose(t["net"], BEN[i] - pay, atol=1e-9)
        np.testing.assert_allclose(t["cumulative_net"], np.cumsum(BEN[i] - pay), atol=1e-9)
        np.testing.assert_allclose(t["discounted_net"], (BEN[i] - pay) * DF, atol=1e-9)
        np.testing.assert_allclose(t["cumulative_discounted_net"],
                                   np.cumsum((BEN[i] - pay) * DF), atol=1e-9)
    assert share[0] == pytest.approx(120_758.18 / 240_873.95, abs=1e-7)   # 0.501334
    o = hand.to_frame("options").set_index(["rule", "partner"])
    # everyone gets the same return per pound: NPV_i = PVB_i (1 - PV gap / PV benefits)
    pv_gap = GAP @ DF          # 38,647.34 + 93,351.07 + 90,194.27 = 222,192.68
    assert pv_gap == pytest.approx(222_192.68, abs=0.01)
    for i, p in enumerate("ABC"):
        assert o.loc[("Beneficiary pays", p), "npv"] == pytest.approx(
            pvb[i] * (1 - pv_gap / pvb.sum()), abs=1e-6)


def test_npv_payback_and_shares(hand):
    o = hand.to_frame("options").set_index(["rule", "partner"])
    eq = o.loc["Equal shares"]
    np.testing.assert_allclose(eq["npv"], [46_693.9497, 18_677.5799, -46_690.2667], atol=1e-3)
    # PV contribution each: 13,333.33/1.035 + 33,333.33/1.035^2 + 33,333.33/1.035^3
    #   = 12,882.45 + 31,117.02 + 30,064.76 = 74,064.23 (a third of the PV gap)
    np.testing.assert_allclose(eq["pv_contribution"], 74_064.2279, atol=1e-3)
    np.testing.assert_allclose(eq["share_of_gap"], 1 / 3, rtol=1e-12)
    # A and B are never out of pocket (payback year 0); C never pays back.
    assert eq.loc["A", "payback_year"] == 0 and eq.loc["B", "payback_year"] == 0
    assert np.isnan(eq.loc["C", "payback_year"])
    assert eq.loc["C", "payback_financial_year"] == "not by the horizon"
    # Proportional: C's cumulative discounted position is negative in every year from 1.
    assert np.isnan(o.loc[("Proportional to caseload", "C"), "payback_year"])


def test_payback_stays_positive_definition():
    # A partner that pays first and gains later: cumulative discounted net
    # -10,000, -10,000 + 6,000/1.035 = -4,202.90, then + 6,000/1.035^2 = +1,398.17: year 2.
    sc = Scenario(partners=["A"], running_cost=10_000, horizon=3, grant=[0, 10_000, 10_000],
                  benefits=[[0, 6_000, 6_000]], rules=["equal"])
    r = sc.run(progress=False)
    assert r.to_frame("options")["payback_year"].iloc[0] == 2


def test_breakeven_fraction_by_hand(hand):
    be = hand.to_frame("breakeven").set_index("rule")
    pvb = BEN @ DF
    pv_gap = GAP @ DF
    # Equal: each pays 74,064.23 (PV); C's PV benefit is 10,000/1.035^2 + 20,000/1.035^3
    # = 9,335.11 + 18,038.85 = 27,373.96, so C breaks even only at
    # 74,064.23 / 27,373.96 = 2.7056 x the effect.
    assert be.loc["Equal shares", "fraction"] == pytest.approx(74_064.2279 / 27_373.9613,
                                                               rel=1e-8)
    assert round(be.loc["Equal shares", "fraction"], 4) == 2.7056
    assert be.loc["Equal shares", "binding_partner"] == "C"
    # Proportional: C pays 8,000/1.035 + 20,000/1.035^2 + 20,000/1.035^3 = 44,438.54.
    assert be.loc["Proportional to caseload", "fraction"] == pytest.approx(
        (8_000 / R + 20_000 / R ** 2 + 20_000 / R ** 3) / pvb[2], rel=1e-10)
    # Beneficiary pays and the whole place: PV gap / PV of all benefits = 222,192.68 /
    # (120,758.18 + 92,741.81 + 27,373.96 = 240,873.95) = 0.9224.
    assert be.loc["Whole place", "fraction"] == pytest.approx(pv_gap / pvb.sum(), rel=1e-12)
    assert round(be.loc["Whole place", "fraction"], 4) == 0.9224
    assert be.loc["Beneficiary pays", "fraction"] == pytest.approx(pv_gap / pvb.sum(),
                                                                   rel=1e-10)
    # At the break-even fraction the binding partner's NPV is zero.
    f = be.loc["Equal shares", "fraction"]
    r = hand_scenario(benefits=BEN * f, rules=["equal"]).run(progress=False, tornado=False)
    npv = r.npv()
    assert npv.min() == pytest.approx(0.0, abs=1e-6)
    assert npv.idxmin() == "C"


def test_minimum_viable_coalition_by_hand(hand):
    # A + B = 213,499.99 < 222,192.68: only all three partners cover the gap.
    c = hand.to_frame("coalitions")
    assert c["partners"].tolist() == ["A + B + C"]
    assert c["size"].iloc[0] == 3
    assert c["pv_benefit"].iloc[0] == pytest.approx((BEN @ DF).sum())
    # With A's benefits doubled, A alone covers it.
    b2 = BEN.copy()
    b2[0] *= 2
    r = hand_scenario(benefits=b2).run(progress=False, tornado=False)
    c = r.to_frame("coalitions")
    assert c["size"].iloc[0] == 1 and c["partners"].tolist() == ["A"]


def test_summary_and_frames(hand):
    text = str(hand.summary())
    assert "Sustainability after the grant" in text and "Break-even" in text
    assert "<h4>" in hand._repr_html_()
    for name in ("funding", "cashflows", "options", "probabilities", "breakeven", "stability",
                 "stability_rules", "tornado", "coalitions", "inputs"):
        assert len(hand.to_frame(name)) > 0
    with pytest.raises(InputError, match="unknown view"):
        hand.to_frame("nonsense")


def test_plots(hand):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for kind in ("cliff", "probability", "tornado", "cumulative"):
        ax = hand.plot(kind)
        assert ax.get_title() and (ax.get_ylabel() or kind == "tornado") and ax.get_xlabel()
        plt.close(ax.figure)
    ax = hand.plot("tornado", rule="proportional", partner="B")
    assert "B" in ax.get_title()
    plt.close(ax.figure)
    with pytest.raises(InputError, match="kind"):
        hand.plot("pie")


# ---------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------
PLACE_PARTNERS = pd.DataFrame({
    "partner": ["Council", "NHS (CCG/ICB commissioner)", "Police"],
    "caseload": [500, 300, 200],
    "standalone_cost": [300e3, 250e3, 120e3], "variable_cost": [60e3, 50e3, 30e3]})
BMAP = pd.DataFrame({"measure": ["ae_attendances", "arrests", "ae_attendances"],
                     "item": ["A&E attendance (all types)", "Police arrest (detained)",
                              "Non-elective hospital admission (episode)"],
                     "partner": ["NHS (CCG/ICB commissioner)", "Police",
                                 "NHS (CCG/ICB commissioner)"],
                     "cashable_share": [None, 0.4, None]})


def model_scenario(se=(0.03, 0.01), **kw) -> Scenario:
    eff = pd.DataFrame({"measure": ["ae_attendances", "arrests"], "estimate": [-0.08, -0.02],
                        "se": list(se)})
    bm = BenefitModel(effects=eff, benefit_map=BMAP, people_per_year=400,
                      price_year="2024-25", benefit_years=2,
                      adjustments=Adjustments(drop_off=0.2))
    args = dict(partners=PLACE_PARTNERS, benefits=bm, running_cost=600_000, horizon=5,
                first_year="2025-26", cost_inflation=0.02, grant=[1, 1, 0.5],
                grant_as="shares", draws=400, seed=3, count="fiscal",
                rules=["equal", "proportional", "beneficiary_pays", "shapley", "nucleolus",
                       "scrb"])
    args.update(kw)
    return Scenario(**args)


def test_zero_uncertainty_probabilities_are_0_or_1_and_match_npv_signs():
    r = model_scenario(se=(0.0, 0.0), running_cost=300_000).run(progress=False)
    o = r.to_frame("options")
    assert set(np.unique(o["p_breakeven"])) <= {0.0, 1.0}
    np.testing.assert_array_equal(o["p_breakeven"] == 1.0, o["npv"] >= 0)
    assert 0 < (o["p_breakeven"] == 1).sum() < len(o)          # both signs occur
    # P10 = P50 = P90 = the deterministic NPV
    for q in ("npv_p10", "npv_p50", "npv_p90"):
        np.testing.assert_allclose(o[q], o["npv"], rtol=1e-9, atol=1e-6)
    p = r.to_frame("probabilities")
    c = r.to_frame("cashflows")
    assert set(np.unique(p["p_covers_year"])) <= {0.0, 1.0}
    np.testing.assert_array_equal(p["p_covers_year"] == 1.0, c["net"] >= -1e-6)
    np.testing.assert_array_equal(p["p_covers_to_date"] == 1.0,
                                  c["cumulative_discounted_net"] >= -1e-6)
    s = r.to_frame("stability")
    assert set(np.unique(s["p_in_core"])) <= {0.0, 1.0}
    np.testing.assert_array_equal(s["p_in_core"] == 1.0, s["in_core_expected"])


def test_zero_uncertainty_with_arrays_given_draws():
    draws = np.repeat(BEN[None], 50, axis=0)
    r = hand_scenario(benefit_draws=draws).run(progress=False)
    o = r.to_frame("options")
    np.testing.assert_array_equal(o["p_breakeven"], (o["npv"] >= 0).astype(float))
    assert r.n_draws == 50


def test_same_seed_same_results_and_a_different_seed_differs():
    a = model_scenario(seed=11).run(progress=False)
    b = model_scenario(seed=11).run(progress=False)
    for name in ("options", "probabilities", "stability", "tornado", "coalitions"):
        pd.testing.assert_frame_equal(a.to_frame(name), b.to_frame(name))
    c = model_scenario(seed=12).run(progress=False)
    assert not np.allclose(a.to_frame("options")["p_breakeven"].to_numpy(),
                           c.to_frame("options")["p_breakeven"].to_numpy()) or not np.allclose(
        a.to_frame("options")["npv_p10"], c.to_frame("options")["npv_p10"])
    # the point estimates do not depend on the seed
    np.testing.assert_allclose(a.to_frame("options")["npv"], c.to_frame("options")["npv"])


def test_progress_bar_on_long_runs(capfd):
    model_scenario(draws=300).run(progress=True, tornado=False)
    err = capfd.readouterr().err
    assert "Monte Carlo" in err and "batch" in err
    model_scenario(draws=300).run(progress=False, tornado=False)
    assert "Monte Carlo" not in capfd.readouterr().err


def test_monte_carlo_properties():
    r = model_scenario().run(progress=False)
    o = r.to_frame("options")
    assert o["p_breakeven"].between(0, 1).all()
    assert (o["npv_p10"] <= o["npv_p50"] + 1e-9).all() and (
        o["npv_p50"] <= o["npv_p90"] + 1e-9).all()
    # a partner whose benefit is negative in a draw pays nothing under beneficiary pays
    # there but still loses: its probability is at most the chance its benefit is positive
    bp = o[o["rule"] == "Beneficiary pays"].set_index("partner")
    assert bp.loc["Police", "p_breakeven"] <= 1.0
    # the place's NPV is the sum of the partners' under every rule
    for _, g in o.groupby("rule"):
        assert g["npv"].sum() == pytest.approx(r.headline["place_npv"], rel=1e-9)
    # contributions add up to the gap every year under every rule
    c = r.to_frame("cashflows")
    gaps = r.to_frame("funding").set_index("year")["gap"]
    for (_, y), g in c.groupby(["rule", "year"]):
        assert g["contribution"].sum() == pytest.approx(gaps[y], abs=1e-6)
    # Nucleolus and Shapley do not change with the draws (see the linearity test), so
    # the MVC's probability and the benefit quantiles are consistent
    assert r.to_frame("coalitions")["p_covers"].between(0, 1).all()


def test_beneficiary_pays_shares_the_place_fortune():
    # With every draw's benefits positive, NPV_i = PVB_i (1 - PV gap / PV benefits): every
    # partner breaks even exactly when the place does.
    rng = np.random.default_rng(4)
    draws = BEN[None] * rng.lognormal(0, 0.2, (400, 3, 1)) + 1.0
    r = hand_scenario(benefit_draws=draws).run(progress=False)
    bp = r.probability("beneficiary_pays")
    assert 0.05 < r.headline["p_place"] < 0.95
    np.testing.assert_allclose(bp.to_numpy(), r.headline["p_place"], atol=1e-12)


def test_shares_follow_expected_fixes_benefit_rules():
    r = model_scenario(shares_follow="expected").run(progress=False, tornado=False)
    o = r.to_frame("options").set_index(["rule", "partner"])
    e = model_scenario().run(progress=False, tornado=False).to_frame("options").set_index(
        ["rule", "partner"])
    np.testing.assert_allclose(o["npv"], e["npv"])              # same point estimates
    assert not np.allclose(o.loc["Beneficiary pays", "p_breakeven"],
                           e.loc["Beneficiary pays", "p_breakeven"])


def test_tornado_inputs_and_directions():
    r = model_scenario().run(progress=False)
    t = r.to_frame("tornado")
    assert set(t["input"]) == {"effect", "unit_costs", "running_cost", "discount_rate",
                               "drop_off", "cashable_share"}
    nhs = t[(t["rule"] == "Equal shares") & (t["partner"] == "NHS (CCG/ICB commissioner)")]
    nhs = nhs.set_index("input")
    # more effect / dearer unit costs -> more benefit -> higher NPV; dearer pilot -> lower
    assert nhs.loc["effect", "npv_high"] > nhs.loc["effect", "npv_base"] > nhs.loc[
        "effect", "npv_low"]
    assert nhs.loc["unit_costs", "npv_high"] > nhs.loc["unit_costs", "npv_low"]
    assert nhs.loc["running_cost", "npv_high"] < nhs.loc["running_cost", "npv_low"]
    # more drop-off -> less benefit
    assert nhs.loc["drop_off", "npv_high"] < nhs.loc["drop_off", "npv_low"]
    # counting all fiscal benefits: the cashable share changes nothing (and says so)
    assert nhs.loc["cashable_share", "swing"] == 0
    assert "no effect" in nhs.loc["cashable_share", "note"]
    # counting cashable benefits only, it matters
    r2 = model_scenario(count="cashable").run(progress=False)
    t2 = r2.to_frame("tornado").set_index(["rule", "partner", "input"])
    assert t2.loc[("Equal shares", "Police", "cashable_share"), "swing"] > 0
    # effect range defaults to the draws' 10th-90th percentiles
    lo, hi = r.headline["effect_range"]
    assert 0 < lo < 1 < hi


def test_unit_cost_multiplier_is_linear():
    # Benefits are linear in the unit costs: x1.2 on unit costs = x1.2 on every benefit.
    r = hand_scenario(sensitivity=Sensitivity(unit_costs=(0.5, 1.2))).run(progress=False)
    t = r.to_frame("tornado").set_index(["rule", "partner", "input"])
    pay = (GAP / 3) @ DF
    assert t.loc[("Equal shares", "C", "unit_costs"), "npv_high"] == pytest.approx(
        1.2 * (BEN[2] @ DF) - pay)
    assert t.loc[("Equal shares", "C", "drop_off"), "note"].startswith("not assessed")


def test_game_rules_need_a_game():
    r = hand_scenario(rules=["equal", "shapley", "nucleolus"]).run(progress=False)
    assert r.rules == ["Equal shares"]
    assert "standalone_cost" in r.unavailable["Shapley value"]
    with pytest.raises(InputError, match="none of the rules"):
        hand_scenario(rules=["shapley"]).run(progress=False)


# ---------------------------------------------------------------------------
# property: budget balance and accounting on random scenarios
# ---------------------------------------------------------------------------
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 5), T=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_random_scenarios_balance_and_add_up(n, T, seed):
    rng = np.random.default_rng(seed)
    partners = pd.DataFrame({"partner": [f"P{i}" for i in range(n)],
                             "caseload": rng.integers(1, 100, n),
                             "standalone_cost": rng.uniform(20, 200, n) * 1e3,
                             "variable_cost": rng.uniform(1, 10, n) * 1e3})
    point = rng.uniform(0, 150, (n, T)) * 1e3
    draws = point[None] * rng.lognormal(0, 0.3, (30, n, 1))
    sc = Scenario(partners=partners, running_cost=float(rng.uniform(100, 400) * 1e3),
                  horizon=T, grant=list(rng.uniform(0, 1, T)), grant_as="shares",
                  benefits=point, benefit_draws=draws, seed=seed,
                  rules=["equal", "proportional", "beneficiary_pays", "shapley", "nucleolus",
                         "scrb"])
    r = sc.run(progress=False, tornado=False)
    gaps = r.to_frame("funding")["gap"].to_numpy()
    c = r.to_frame("cashflows")
    for _, g in c.groupby("rule"):
        paid = g.groupby("year")["contribution"].sum().to_numpy()
        np.testing.assert_allclose(paid, gaps, atol=1e-6 * max(1.0, gaps.max()))
        assert (g["contribution"] >= -1e-9).all()
    o = r.to_frame("options")
    assert o["p_breakeven"].between(0, 1).all()
    s = r.to_frame("stability")
    assert s["p_in_core"].between(0, 1).all()
    be = r.to_frame("breakeven")
    assert (be["fraction"] >= 0).all()


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kw, match", [
    (dict(benefits=[[1, 2], [3, 4]]), "expected 3 rows"),
    (dict(benefits=np.ones((3, 3))), "3 years of benefits but the horizon is 4"),
    (dict(grant=[1.5], grant_as="shares"), "share of the year's cost"),
    (dict(grant_as="percent"), "grant_as"),
    (dict(caps={"Z": 10}), "not in the partners table"),
    (dict(rules=["equal", "equal"]), "listed twice"),
    (dict(rules=["cheapest"]), "unknown rule"),
    (dict(count="all"), "count"),
    (dict(sensitivity={"weather": (1, 2)}), "unknown input"),
    (dict(first_year="next year"), "financial year"),
    (dict(running_cost=-5), "running_cost"),
    (dict(transition_costs=[1, 2, 3, 4, 5]), "horizon is 4"),
    (dict(benefit_draws=np.ones((5, 3, 2))), "benefit_draws"),
    (dict(driver="population"), "no column 'population'"),
    (dict(rules=["fixed"]), "negotiated shares"),
    (dict(shares_follow="sometimes"), "shares_follow"),
])
def test_bad_input(kw, match):
    with pytest.raises(InputError, match=match):
        hand_scenario(**kw).run(progress=False)


def test_variable_costs_above_running_cost_are_an_error():
    p = PARTNERS.assign(standalone_cost=[50e3, 50e3, 50e3], variable_cost=[50e3, 40e3, 30e3])
    with pytest.raises(InputError, match="variable costs add up to"):
        hand_scenario(partners=p, rules=["shapley"]).run(progress=False)


def test_benefits_for_an_unknown_partner():
    df = pd.DataFrame(BEN, index=["A", "B", "Z"])
    with pytest.raises(InputError, match=r"\['Z'\]"):
        hand_scenario(benefits=df).run(progress=False)
