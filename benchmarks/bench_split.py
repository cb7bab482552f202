"""Benchmark evalkit.split against straightforward reference implementations.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_split.py [--quick]

Targets (issue 9, 2-core machine):

* exact Shapley value, 20 partners: under 0.5 s;
* nucleolus, 12 partners (random cost games): under 1 s.

Each is printed next to a plain reference implementation run in the same
process (a plain Python loop over subsets for Shapley; the textbook sequential
LP that tests every tight coalition with its own LP, built with Python loops,
for the nucleolus) with the ratio, and the answers are checked to agree. Also
timed: the per-draw API a Monte Carlo module would use (10,000 draws x 15
partners for the closed-form rules; batched exact Shapley; nucleolus per draw).
"""

from __future__ import annotations

import argparse
import sys
from math import factorial

import numpy as np
from _common import best_of, traced_peak_mb
from scipy.optimize import linprog

from evalkit.split import Game, allocate, nucleolus, shapley, shapley_table
from evalkit.split.games import ServiceModel


def random_cost_game(n: int, seed: int) -> np.ndarray:
    """A random cost game with economies of scale: c(S) = (sum of sizes)^0.8 * noise."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(50, 500, n)
    masks = np.arange(2 ** n)
    tot = np.zeros(1)
    for s in size:
        tot = np.concatenate([tot, tot + s])
    c = 1000 * tot ** 0.8 * rng.uniform(0.9, 1.1, 2 ** n)
    c[0] = 0.0
    assert len(c) == len(masks)
    return c


def shapley_reference(v: np.ndarray, n: int) -> np.ndarray:
    """Plain loop over every subset for every player."""
    w = [factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)]
    phi = [0.0] * n
    vals = v.tolist()
    for i in range(n):
        bit = 1 << i
        acc = 0.0
        for mask in range(1 << n):
            if mask & bit:
                continue
            acc += w[bin(mask).count("1")] * (vals[mask | bit] - vals[mask])
        phi[i] = acc
    return np.array(phi)


def nucleolus_reference(c: np.ndarray, n: int) -> np.ndarray:
    """Textbook sequential LP on the cost game, built with Python loops.

    Stage k: minimise eps subject to x(S) - c(S) <= eps for the free coalitions,
    x(S) - c(S) = eps_j for the fixed ones, x(N) = c(N), x_i <= c(i). Then every
    coalition tight at the solution is tested with a further LP (maximise its slack
    at eps = eps_k); only those that cannot be made slack are fixed.
    """
    full = (1 << n) - 1
    coalitions = [m for m in range(1, full)]
    member = {m: [1.0 if m >> i & 1 else 0.0 for i in range(n)] for m in coalitions}
    fixed: dict[int, float] = {}
    free = set(coalitions)
    bounds = [(None, c[1 << i]) for i in range(n)]
    x = None
    for _ in range(2 ** n):
        rows, rhs = [], []
        for m in sorted(free):
            rows.append(member[m] + [-1.0])
            rhs.append(c[m])
        eq = [[1.0] * n + [0.0]]
        eqr = [c[full]]
        for m, e in fixed.items():
            eq.append(member[m] + [0.0])
            eqr.append(c[m] + e)
        res = linprog([0.0] * n + [1.0], A_ub=rows, b_ub=rhs, A_eq=eq, b_eq=eqr,
                      bounds=bounds + [(None, None)], method="highs")
        eps = res.x[-1]
        x = res.x[:n]
        tight = [m for m in free
                 if abs(sum(x[i] for i in range(n) if m >> i & 1) - c[m] - eps)
                 < 1e-6 * max(1.0, abs(c[full]))]
        newly = []
        for m in tight:
            a_ub = [member[k] for k in free]
            b_ub = [c[k] + eps for k in free]
            # Make S as slack as possible: minimise x(S) keeping every excess <= eps.
            r2 = linprog(member[m], A_ub=a_ub, b_ub=b_ub,
                         A_eq=[row[:n] for row in eq], b_eq=eqr, bounds=bounds, method="highs")
            best = sum(r2.x[i] for i in range(n) if m >> i & 1) - c[m]
            if best >= eps - 1e-6 * max(1.0, abs(c[full])):
                newly.append(m)
        for m in newly:
            fixed[m] = eps
            free.discard(m)
        if np.linalg.matrix_rank(np.array([member[m] for m in fixed] + [[1.0] * n])) >= n:
            break
    A = np.array([[1.0] * n] + [member[m] for m in fixed])
    b = np.array([c[full]] + [c[m] + e for m, e in fixed.items()])
    return np.linalg.lstsq(A, b, rcond=None)[0]


# ------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller reference runs")
    args = ap.parse_args(argv)
    ok = True
    print("evalkit.split benchmark (best of 3 unless stated)\n")

    # ---- Shapley, 20 partners
    n = 20
    c = random_cost_game(n, 0)
    players = [f"P{i}" for i in range(n)]
    game = Game.from_array(c, players, kind="cost")
    t_ev, phi = best_of(lambda: shapley(game).amounts)
    peak, _ = traced_peak_mb(lambda: shapley(game))
    n_ref = 16 if args.quick else 20
    c_ref = c if n_ref == n else random_cost_game(n_ref, 0)
    t_ref, phi_ref = best_of(lambda: shapley_reference(c_ref, n_ref), repeat=1)
    check = phi if n_ref == n else shapley_table(c_ref)
    agree = np.allclose(check, phi_ref, rtol=1e-9, atol=1e-6)
    print(f"Exact Shapley value, {n} partners ({2 ** n:,} coalitions)")
    print(f"  evalkit      {t_ev:8.3f} s   peak memory {peak:,.0f} MiB   target < 0.5 s: "
          f"{'met' if t_ev < 0.5 else 'MISSED'}")
    print(f"  reference    {t_ref:8.3f} s   (plain loop over subsets, {n_ref} partners, 1 run)")
    if n_ref == n:
        print(f"  ratio        {t_ref / t_ev:8.0f} x faster; answers agree: {agree}")
    else:
        print(f"  answers agree at {n_ref} partners: {agree}")
    ok &= agree and t_ev < 0.5

    # ---- nucleolus, 12 partners
    n = 12
    times, ref_times, agree_all = [], [], True
    seeds = range(3) if args.quick else range(5)
    for s in seeds:
        c = random_cost_game(n, 100 + s)
        g = Game.from_array(c, [f"P{i}" for i in range(n)], kind="cost")
        t, a = best_of(lambda g=g: nucleolus(g), repeat=1)
        times.append(t)
        t2, xr = best_of(lambda c=c: nucleolus_reference(c, n), repeat=1)
        ref_times.append(t2)
        agree_all &= bool(np.allclose(a.amounts, xr, atol=1e-4 * c[-1] / n))
        stages = a.details["n_lps"]
    t_nu, t_nr = float(np.median(times)), float(np.median(ref_times))
    print(f"\nNucleolus, {n} partners ({2 ** n - 2:,} coalitions), median of {len(times)} "
          "random cost games")
    print(f"  evalkit      {t_nu:8.3f} s   ({stages} LPs in the last game)   target < 1 s: "
          f"{'met' if max(times) < 1 else 'MISSED'} (max {max(times):.3f} s)")
    print(f"  reference    {t_nr:8.3f} s   (sequential LP, every tight coalition tested by "
          "its own LP)")
    print(f"  ratio        {t_nr / t_nu:8.1f} x faster; answers agree: {agree_all}")
    ok &= agree_all and max(times) < 1

    # ---- Monte Carlo API
    print("\nPer-draw API for a Monte Carlo module")
    rng = np.random.default_rng(1)
    D, n = 10_000, 15
    ben = rng.gamma(2.0, 50_000, size=(D, n))
    costs = rng.normal(1.2e6, 1e5, D)
    for rule, kw in [("proportional", {"driver": ben}), ("beneficiary_pays", {"benefit": ben}),
                     ("capped_proportional", {"driver": ben, "caps": np.full(n, 2.5e5)}),
                     ("base_plus_variable", {"driver": ben, "base_share": 0.3}),
                     ("airport", {"levels": ben})]:
        t, _ = best_of(lambda rule=rule, kw=kw: allocate(rule, costs, **kw))
        print(f"  {rule:<22} {D:,} draws x {n} partners: {t * 1000:7.1f} ms")
    # Batched exact Shapley of the service model over draws (coalition values included).
    n, Dg = 15, 2000
    F = rng.uniform(3e5, 5e5, Dg)
    var = rng.uniform(2e4, 6e4, (Dg, n))
    alone = rng.uniform(6e4, 1.5e5, (Dg, n))
    t, _ = best_of(lambda: ServiceModel.shapley_draws(F, var, alone), repeat=1)
    print(f"  exact Shapley, service model, {Dg:,} draws x {n} partners: {t:6.2f} s "
          f"({t / Dg * 1000:.2f} ms a draw, all {2 ** n:,} coalition values included)")
    g8 = Game.from_array(random_cost_game(8, 7), [f"P{i}" for i in range(8)], kind="cost")
    t, _ = best_of(lambda: nucleolus(g8))
    print(f"  nucleolus, 8 partners: {t * 1000:6.1f} ms a draw")
    print("\nAll targets met." if ok else "\nSOME TARGETS MISSED.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
