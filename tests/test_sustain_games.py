"""Games in the sustainability model, and the split-module helpers added for it.

* Talmud rule (Aumann & Maschler 1985) and the closed-form service-model nucleolus,
  checked against the split module's sequential-LP nucleolus.
* Closed-form and table core excess, checked against ``core_check`` and brute force.
* Vectorised SCRB against ``scrb``.
* The documented shortcut: Shapley and nucleolus payments of the net-benefit game do not
  change with the draws (linearity / covariance), checked by a plain per-draw loop.
* Stability: the opt-out game checked against enumerating every member's options.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.errors import InputError
from evalkit.split import (
    Game,
    ServiceModel,
    core_check,
    core_excess_table,
    least_core,
    nucleolus,
    prenucleolus,
    scrb,
    scrb_amounts,
    shapley,
    talmud,
)
from evalkit.sustain import Scenario
from evalkit.sustain.model import _Engine, _partner_frame, _rules


# ---------------------------------------------------------------------------
# Talmud rule
# ---------------------------------------------------------------------------
def test_talmud_reproduces_the_mishna():
    # Aumann & Maschler (1985), Table 1: claims 100, 200, 300; estates 100, 200, 300.
    claims = [100, 200, 300]
    np.testing.assert_allclose(talmud(100, claims), [100 / 3] * 3)
    np.testing.assert_allclose(talmud(200, claims), [50, 75, 75])
    np.testing.assert_allclose(talmud(300, claims), [50, 100, 150])
    # the contested-garment (two claimants): 100 and 50 claim 100 -> 75, 25
    np.testing.assert_allclose(talmud(100, [100, 50]), [75, 25])
    # vectorised, and the estate is clipped to [0, sum of claims]
    out = talmud([100, 200, 300, -5, 1000], np.tile(claims, (5, 1)))
    np.testing.assert_allclose(out[:3], [[100 / 3] * 3, [50, 75, 75], [50, 100, 150]])
    np.testing.assert_allclose(out[3], 0)
    np.testing.assert_allclose(out[4], claims)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 6), seed=st.integers(0, 100_000))
def test_service_model_nucleolus_is_the_lp_nucleolus(n, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(50, 150, n)
    v = rng.uniform(5, 200, n) * rng.choice([0.3, 1.0], n)
    F = float(rng.uniform(0, 400))
    g = ServiceModel([f"P{i}" for i in range(n)], F, v, a).cost_game()
    closed = ServiceModel.nucleolus_draws(F, v, a)
    np.testing.assert_allclose(closed, nucleolus(g).amounts, atol=1e-6)
    # convex game: the prenucleolus and the least core's point are the nucleolus
    np.testing.assert_allclose(closed, prenucleolus(g).amounts, atol=1e-6)
    np.testing.assert_allclose(closed, least_core(g).amounts, atol=1e-6)
    assert core_check(g, closed, tol=1e-6).in_core


def test_service_model_nucleolus_fifteen_partners():
    rng = np.random.default_rng(0)
    a, v = rng.uniform(50, 150, 15), rng.uniform(10, 40, 15)
    x = ServiceModel.nucleolus_draws(600, v, a)
    # the sequential-LP nucleolus of this game (split.nucleolus, about 10 s on this machine)
    lp = [64.483, 56.437, 40.171, 35.322, 79.322, 89.27, 62.196, 76.534, 66.889, 91.502,
          79.58, 45.095, 87.583, 41.962, 76.24]
    np.testing.assert_allclose(x, lp, atol=5e-4)
    assert x.sum() == pytest.approx(ServiceModel.cost_values(np.ones((1, 15), bool), 600, v,
                                                             a)[0])


# ---------------------------------------------------------------------------
# core excess and SCRB
# ---------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 6), seed=st.integers(0, 100_000))
def test_closed_form_core_excess_matches_core_check(n, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(50, 150, n)
    v = rng.uniform(5, 200, n)
    F = float(rng.uniform(0, 300))
    g = ServiceModel([f"P{i}" for i in range(n)], F, v, a).cost_game()
    x = rng.uniform(0, 150, n)
    chk = core_check(g, x)
    e, members = ServiceModel.core_excess(x, F, v, a)
    assert float(e) == pytest.approx(chk.worst_excess, abs=1e-9)
    mask = int(np.sum(members.astype(int) << np.arange(n)))
    assert x[members].sum() - g.values(np.array([mask]))[0] == pytest.approx(float(e))
    e2, m2 = core_excess_table(g.table(), x)
    assert float(e2) == pytest.approx(float(e), abs=1e-9)
    # with the grand coalition, and along another axis
    eg, _ = ServiceModel.core_excess(x[:, None], F, v[:, None], a[:, None], grand=True, axis=0)
    full = g.grand
    assert float(eg[0]) == pytest.approx(max(float(e), x.sum() - full), abs=1e-9)


def test_core_excess_many_draws_at_once():
    rng = np.random.default_rng(2)
    n, D = 4, 50
    a, v = rng.uniform(50, 150, (D, n)), rng.uniform(5, 100, (D, n))
    F, x = rng.uniform(0, 200, D), rng.uniform(0, 150, (D, n))
    e, _ = ServiceModel.core_excess(x, F, v, a, members=False)
    for d in range(D):
        g = ServiceModel(list("ABCD"), F[d], v[d], a[d]).cost_game()
        assert e[d] == pytest.approx(core_check(g, x[d]).worst_excess, abs=1e-9)


def test_scrb_amounts_matches_scrb():
    g = Game.from_dict({"A": 8, "B": 11, "C": 13, "A+B": 15, "A+C": 17, "B+C": 20,
                        "A+B+C": 24}, list("ABC"), kind="cost")
    full = 7
    single = 1 << np.arange(3)
    grand, without, alone = g.grand, g.values(full ^ single), g.values(single)
    np.testing.assert_allclose(scrb_amounts(grand, without, alone), scrb(g).amounts)
    b = np.array([5.0, 20.0, 9.0])
    np.testing.assert_allclose(scrb_amounts(grand, without, alone, b),
                               scrb(g, benefit=b).amounts)
    # undefined: no remaining benefit but a non-separable cost -> NaN row
    out = scrb_amounts([grand, grand], [without, without], [alone, alone],
                       [b, [0.0, 0.0, 0.0]])
    assert np.all(np.isfinite(out[0])) and np.all(np.isnan(out[1]))


# ---------------------------------------------------------------------------
# linearity: payments of the net-benefit game do not change with the draws
# ---------------------------------------------------------------------------
def service_partners(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"partner": [f"P{i}" for i in range(n)],
                         "caseload": rng.integers(10, 100, n),
                         "standalone_cost": rng.uniform(40, 160, n) * 1e3,
                         "variable_cost": rng.uniform(5, 30, n) * 1e3})


def test_per_draw_loop_gives_the_same_shapley_and_nucleolus():
    n, T, D = 4, 3, 12
    rng = np.random.default_rng(5)
    point = rng.uniform(20, 120, (n, T)) * 1e3
    draws = point[None] * rng.lognormal(0, 0.4, (D, n, T))
    sc = Scenario(partners=service_partners(n), running_cost=300_000, horizon=T,
                  grant=[150_000], benefits=point, benefit_draws=draws,
                  rules=["shapley", "nucleolus"])
    pdf, names = _partner_frame(sc)
    eng = _Engine(sc, pdf, names, T)
    rules = {r.name: r for r in _rules(sc, pdf)}
    fast = {k: eng.payments(r, draws) for k, r in rules.items()}       # (n, T) each
    members = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
    for d in range(D):
        for t in range(T):
            c = np.zeros(2 ** n)
            c[1:] = ServiceModel.cost_values(members[1:], eng.fixed[t], eng.variable[t],
                                             eng.alone[t])
            b = draws[d, :, t]
            # the net-benefit value game of this draw: v(S) = b(S) - c(S)
            v = members.astype(float) @ b - c
            game = Game.from_array(v, names, kind="value")
            for name, solve in (("shapley", shapley), ("nucleolus", nucleolus)):
                pay = b - solve(game).amounts                          # x_i = b_i - y_i
                pay = pay * eng.gap[t] / c[-1]                         # shares of the gap
                np.testing.assert_allclose(pay, fast[name][:, t], atol=1e-5)


# ---------------------------------------------------------------------------
# stability: the opt-out game
# ---------------------------------------------------------------------------
def brute_cost(S: list[int], F: float, v: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Cheapest way for S: each member uses the pilot (v), its alternative (a) or nothing (b)."""
    best = np.inf
    for choice in itertools.product(range(3), repeat=len(S)):
        cost = 0.0
        pilot = False
        for i, ch in zip(S, choice):
            if ch == 0:
                cost += v[i]
                pilot = True
            elif ch == 1:
                cost += a[i]
            else:
                cost += b[i]
        best = min(best, cost + (F if pilot else 0.0))
    return best


def test_stability_matches_enumerating_every_choice():
    n, T, D = 4, 3, 6
    rng = np.random.default_rng(9)
    point = rng.uniform(-10, 90, (n, T)) * 1e3
    draws = point[None] + rng.normal(0, 20e3, (D, n, T))
    sc = Scenario(partners=service_partners(n, 3), running_cost=250_000, horizon=T,
                  grant=[100_000], benefits=point, benefit_draws=draws, rules=["equal"])
    pdf, names = _partner_frame(sc)
    eng = _Engine(sc, pdf, names, T)
    x = rng.uniform(0, 80e3, (D, n, T))
    st_ = eng.stability(x, draws)
    for d in range(D):
        for t in range(T):
            worst, single = -np.inf, []
            for k in range(1, n + 1):
                for S in itertools.combinations(range(n), k):
                    c = brute_cost(list(S), eng.fixed[t], eng.variable[t], eng.alone[t],
                                   draws[d, :, t])
                    e = x[d, list(S), t].sum() - c
                    worst = max(worst, e)
                    if k == 1:
                        single.append(e)
            assert st_["excess"][d, t] == pytest.approx(worst, abs=1e-6)
            np.testing.assert_allclose(st_["single"][d, :, t], single, atol=1e-6)
    # and it is the split module's surplus game in cost form: b(S) - v_surplus(S)
    b = draws[0, :, 1]
    m = ((np.arange(1, 2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
    surplus = ServiceModel.surplus_values(m, eng.fixed[1], eng.variable[1], eng.alone[1],
                                          np.maximum(b, 0))
    assert np.isfinite(surplus).all()


def test_table_game_stability_and_rules():
    # A coalition table for three partners, scaled to each year's gap.
    table = pd.DataFrame({"coalition": ["A", "B", "C", "A+B", "A+C", "B+C", "A+B+C"],
                          "cost": [60, 50, 40, 90, 85, 75, 110]})
    p = pd.DataFrame({"partner": list("ABC"), "caseload": [5, 3, 2]})
    ben = np.array([[0, 70, 70], [0, 40, 40], [0, 10, 45]], dtype=float) * 1e3
    sc = Scenario(partners=p, running_cost=110_000, horizon=3, grant=[110_000], benefits=ben,
                  game=table, rules=["equal", "shapley", "nucleolus", "scrb"])
    r = sc.run(progress=False)
    c = r.to_frame("cashflows")
    sh = c[(c["rule"] == "Shapley value") & (c["year"] == 1)]["contribution"].to_numpy()
    g = Game.from_table(table, list("ABC"))
    np.testing.assert_allclose(sh, shapley(g).amounts * 1000)      # c(N) = 110 = the gap
    # brute-force opt-out stability for the expected values in year 2
    s = r.to_frame("stability").set_index(["rule", "year"])
    pdf, names = _partner_frame(sc)
    eng = _Engine(sc, pdf, names, 3)
    x = c[(c["rule"] == "Equal shares") & (c["year"] == 2)]["contribution"].to_numpy()
    b = ben[:, 2]
    worst = -np.inf
    for k in range(1, 4):
        for S in itertools.combinations(range(3), k):
            best = np.inf
            for kk in range(0, len(S) + 1):
                for T_ in itertools.combinations(S, kk):      # T_ uses a group, rest do without
                    mask = sum(1 << i for i in T_)
                    cT = g.values(np.array([mask]))[0] * 1000 if mask else 0.0
                    best = min(best, cT + sum(b[i] for i in S if i not in T_))
            worst = max(worst, x[list(S)].sum() - best)
    assert s.loc[("Equal shares", 2), "worst_excess"] == pytest.approx(worst, abs=1e-6)
    assert eng.game_kind == "table"


def test_scrb_breakeven_by_bisection():
    n = 3
    ben = np.array([[0, 60, 70, 70], [0, 30, 40, 40], [0, 5, 15, 25]], dtype=float) * 1e3
    sc = Scenario(partners=service_partners(n, 1), running_cost=150_000, horizon=4,
                  grant=[150_000], benefits=ben, rules=["scrb"])
    r = sc.run(progress=False, tornado=False)
    be = r.to_frame("breakeven").set_index("rule")
    f = be.loc["SCRB", "fraction"]
    assert "bisection" in be.loc["SCRB", "method"]
    assert np.isfinite(f) and f > 0
    at = sc.replace(benefits=ben * f).run(progress=False, tornado=False).npv()
    below = sc.replace(benefits=ben * f * (1 - 1e-6)).run(progress=False, tornado=False).npv()
    assert at.min() >= -1e-3
    assert below.min() < 0


def test_variable_costs_scale_down_in_ramp_up_years():
    """variable_cost is the cost at full running: in a ramp-up year costing half the
    peak, each partner's variable cost is half, and the fixed cost half too."""
    p = pd.DataFrame({"partner": ["A", "B"], "standalone_cost": [300e3, 200e3],
                      "variable_cost": [120e3, 80e3]})
    sc = Scenario(partners=p, running_cost=[250_000, 500_000, 500_000], horizon=3,
                  grant=[0], benefits=np.zeros((2, 3)), rules=["shapley"])
    pdf, names = _partner_frame(sc)
    eng = _Engine(sc, pdf, names, 3)
    np.testing.assert_allclose(eng.variable[0], [60e3, 40e3])   # year 0: half the peak
    np.testing.assert_allclose(eng.variable[1], [120e3, 80e3])
    np.testing.assert_allclose(eng.fixed, [150e3, 300e3, 300e3])    # cost - variable
    too_big = p.assign(variable_cost=[400e3, 200e3])                 # 600k > the 500k peak
    with pytest.raises(InputError, match="variable_cost"):
        _Engine(sc.replace(partners=too_big), *_partner_frame(sc.replace(partners=too_big)), 3)
