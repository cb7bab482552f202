"""Benchmark the sustainability Monte Carlo against straightforward per-draw loops.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_sustain.py [--quick]

Target (issue 10, 2-core machine): 10,000 draws x 15 partners x 10 years x every split
rule, Shapley and nucleolus included, in under 5 s.

Which rules depend on the draws
-------------------------------
* equal, proportional, fixed shares, base + variable, capped, airport: the benefits do
  not enter; computed once for the 10 years and broadcast over the draws.
* beneficiary pays (shares of each draw's benefits) and SCRB (justifiable cost
  ``min(c(i), b_i)``): re-evaluated in every draw, in closed form, vectorised.
* Shapley, nucleolus, prenucleolus, least core, tau: the game is the net-benefit game
  ``v_d(S) = b_d(S) - c(S)``. The benefits enter additively, so by linearity (Shapley) and
  covariance (nucleolus and its relatives) each draw's payments ``x = b_d - y_d`` equal
  the cost game's: solved once per year and exact for every draw (tests compare a plain
  per-draw loop). The service model's nucleolus is the Talmud rule on its savings
  (a bankruptcy game; Aumann & Maschler 1985), so no linear programmes at all.
* Weak and proportional least cores: sequential LPs on each distinct year's game (years
  whose games differ only in scale share one solve); timed on their own line.
* Stability (is the split in the core of the game where each group may also go alone or
  do without, giving up its benefits?) changes with every draw: checked in closed form,
  O(n) per draw and year.

Reference implementations timed in the same process
---------------------------------------------------
1. A *naive per-draw loop*: for each draw and year, build that draw's net-benefit game
   and compute every rule with the split module's general solvers (Shapley from the
   2**15 coalition table, nucleolus by sequential LPs...), then check the core by
   ``core_check`` on the 2**15-coalition opt-out game. One draw-year is timed and the
   time is multiplied by draws x years (running it in full would take days); its numbers
   are checked against the vectorised run for that draw-year.
2. A *per-draw loop of the same closed forms*: payments, net positions and the closed-form
   core check called one draw at a time, with the per-year games already solved (timed on
   a subset of draws and scaled up): the gain from vectorising over draws alone.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from _common import traced_peak_mb

from evalkit.split import (
    Game,
    ServiceModel,
    allocate,
    core_check,
    least_core,
    nucleolus,
    prenucleolus,
    scrb,
    shapley,
    tau,
)
from evalkit.sustain import Scenario
from evalkit.sustain.model import _Engine, _partner_frame, _rules

RULES = ["equal", "proportional:caseload", "fixed:share", "base_variable:caseload:0.3",
         "capped:budget:cap", "beneficiary_pays", "airport", "shapley", "nucleolus",
         "prenucleolus", "least_core", "scrb", "tau"]


def make_scenario(n: int = 15, T: int = 10, D: int = 10_000, seed: int = 1) -> Scenario:
    rng = np.random.default_rng(seed)
    partners = pd.DataFrame({
        "partner": [f"Partner {i:02d}" for i in range(n)],
        "caseload": rng.integers(50, 500, n), "budget": rng.uniform(1e6, 5e7, n),
        "standalone_cost": rng.uniform(80e3, 250e3, n),
        "variable_cost": rng.uniform(10e3, 40e3, n),
        "cap": rng.uniform(150e3, 400e3, n), "share": np.full(n, 1 / n)})
    point = rng.uniform(50e3, 200e3, (n, T))
    # correlated draws: a common effect-size factor and partner-specific noise
    draws = point[None] * rng.normal(1, 0.3, (D, 1, 1)) * rng.normal(1, 0.1, (D, n, 1))
    return Scenario(partners=partners, running_cost=2.0e6, horizon=T, cost_inflation=0.02,
                    grant=[1, 1, 0.5], grant_as="shares", benefits=point, benefit_draws=draws,
                    rules=RULES, seed=seed)


def naive_draw_year(eng: _Engine, names: list[str], pdf: pd.DataFrame, b: np.ndarray,
                    t: int) -> dict[str, np.ndarray]:
    """Every rule for one draw's benefits ``b`` in year ``t`` with the general solvers."""
    gap = eng.gap[t]
    F, v, a = eng.fixed[t], eng.variable[t], eng.alone[t]
    cost_game = ServiceModel(names, F, v, a).cost_game()
    c = cost_game.table("bench")
    n = len(names)
    members = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)
    value = Game.from_array(members @ b - c, names, kind="value")   # this draw's game
    grand = c[-1]
    out = {}
    out["Equal shares"] = allocate("equal", gap, n=n)
    out["Proportional to caseload"] = allocate("proportional", gap,
                                               driver=pdf["caseload"].to_numpy(float))
    out["Fixed shares (share)"] = allocate("fixed_shares", gap, shares=pdf["share"].to_numpy())
    out["30% equal + caseload"] = allocate("base_plus_variable", gap, base_share=0.3,
                                           driver=pdf["caseload"].to_numpy(float))
    out["Budget, capped"] = allocate("capped_proportional", gap,
                                     driver=pdf["budget"].to_numpy(float),
                                     caps=pdf["cap"].to_numpy(float))
    out["Airport rule"] = allocate("airport", gap, levels=pdf["standalone_cost"].to_numpy(float))
    pvb = np.maximum(eng._bench_pvb, 0)
    out["Beneficiary pays"] = allocate("beneficiary_pays", gap, benefit=pvb)
    for label, solve in (("Shapley value", shapley), ("Nucleolus", nucleolus),
                         ("Prenucleolus", prenucleolus), ("Least core", least_core),
                         ("Tau value", tau)):
        out[label] = (b - solve(value).amounts) * gap / grand
    out["SCRB"] = scrb(cost_game, benefit=b).amounts * gap / grand
    # stability: the opt-out game (each group may also go alone or do without)
    opt_out = ServiceModel(names, F, v, np.minimum(a, b)).cost_game()
    out["_core"] = np.array([max(core_check(opt_out, x).worst_excess, x.sum() - opt_out.grand)
                             for key, x in out.items() if not key.startswith("_")])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 draws (a smoke run)")
    args = ap.parse_args(argv)
    D = 2_000 if args.quick else 10_000
    n, T = 15, 10
    sc = make_scenario(n, T, D)
    print(f"Sustainability Monte Carlo: {D:,} draws x {n} partners x {T} years x "
          f"{len(RULES)} rules ({', '.join(RULES)})")
    sc.run(progress=False, tornado=False)                     # warm-up (imports, caches)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = sc.run(progress=False, tornado=False)
        times.append(time.perf_counter() - t0)
    fast = min(times)
    runs = ", ".join(f"{x:.2f}" for x in times)
    print(f"  evalkit (vectorised): {fast:.2f} s (best of 3; runs {runs})"
          f"  target < 5 s: {'met' if fast < 5 else 'NOT met'}")
    t0 = time.perf_counter()
    sc.run(progress=False, tornado=True)
    print(f"  whole run including the tornado (12 deterministic re-runs): "
          f"{time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    lp = sc.replace(rules=["weak_least_core", "proportional_least_core"]).run(
        progress=False, tornado=False)
    print(f"  plus the weak and proportional least cores (sequential LPs on each distinct "
          f"year's game): {time.perf_counter() - t0:.2f} s for {len(lp.rules)} rules")
    peak, _ = traced_peak_mb(lambda: sc.run(progress=False, tornado=False))
    print(f"  peak traced memory: {peak:,.0f} MiB")

    # ---- reference 1: naive per-draw loop with the general solvers (one draw-year)
    pdf, names = _partner_frame(sc)
    eng = _Engine(sc, pdf, names, T)
    draws = np.asarray(sc.benefit_draws)
    d, t = 0, 5
    eng._bench_pvb = draws[d] @ eng.df
    t0 = time.perf_counter()
    naive = naive_draw_year(eng, names, pdf, draws[d, :, t], t)
    unit = time.perf_counter() - t0
    est = unit * D * T
    # check agreement with the vectorised run for that draw-year
    rules = _rules(sc, pdf)
    worst = 0.0
    for r in rules:
        x = np.broadcast_to(eng.payments(r, draws[d:d + 1]), (1, n, T))[0][:, t]
        worst = max(worst, float(np.max(np.abs(x - naive[r.label]))))
    labels = [key for key in naive if not key.startswith("_")]
    e = []
    for key in labels:
        x_full = np.zeros((1, n, T))
        x_full[0, :, t] = naive[key]
        e.append(float(eng.stability(x_full, draws[d:d + 1], members=False)["excess"][0, t]))
    core_diff = float(np.max(np.abs(np.array(e) - naive["_core"])))
    print(f"  naive per-draw loop (split's general solvers, LP nucleolus, 2**{n}-coalition "
          f"core checks): {unit:.1f} s per draw-year -> {est:,.0f} s for {D:,} x {T} "
          f"(extrapolated; ~{est / 86400:.1f} days); largest payment difference "
          f"{worst:.2e} pounds, core excess {core_diff:.2e} pounds")
    print(f"  ratio naive loop / evalkit: {est / fast:,.0f}x")

    # ---- reference 2: the same closed forms, one draw at a time
    k = 200 if args.quick else 500
    tol = 1e-6 * float(eng.cost.max())
    for r in rules:                                   # solve the per-year games once (cached)
        eng.payments(r, draws[:1])
    t0 = time.perf_counter()
    for i in range(k):
        B = draws[i:i + 1]
        for r in rules:
            pay = eng.payments(r, B)
            net = B - pay
            npv = net @ eng.df
            st = eng.stability(pay, B, members=False)
            _ = (npv >= -tol, st["excess"] <= tol, st["single"] > tol)
    per = (time.perf_counter() - t0) / k
    print(f"  per-draw loop of the same closed forms (games solved once): {per * 1e3:.2f} ms "
          f"a draw -> {per * D:,.1f} s for {D:,} draws (timed on {k}); ratio "
          f"{per * D / fast:,.1f}x")
    o = res.to_frame("options")
    print("  mean probability of breaking even by rule: "
          + ", ".join(f"{k_}: {v:.0%}" for k_, v in o.groupby("rule", sort=False)[
              "p_breakeven"].mean().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
