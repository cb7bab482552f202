"""Benchmark evalkit.money / evalkit.benefits against a peer and plain loops.

Run in the benchmark venv (the peer is never a package dependency)::

    python3 -m venv /work/venv-bench-money
    /work/venv-bench-money/bin/pip install -r benchmarks/requirements-money.txt
    PYTHONPATH=. /work/venv-bench-money/bin/python benchmarks/bench_money.py

1. Flat-rate NPV of many 30-year streams: evalkit.money.present_value against
   numpy_financial.npv (same convention: the first value is year 0,
   undiscounted). Prints both times, the ratio and the largest difference.
2. Green Book declining-schedule discount factors for years 0-500: evalkit
   against a straightforward year-by-year loop (agreement and time).
3. benefits_by_partner with 10,000 draws x 15 partners x 10 years (5 measures,
   20 benefit-map rows): evalkit's vectorised draws against a per-draw loop,
   with evalkit's peak memory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _common import best_of, traced_peak_mb

from evalkit.benefits import benefits_by_partner
from evalkit.money import discount_factors, present_value, validate_unit_costs


def bench_npv() -> None:
    import numpy_financial as npf

    rng = np.random.default_rng(0)
    streams = rng.normal(50_000, 20_000, size=(10_000, 30))
    rate = 0.035
    t_ev, ev = best_of(lambda: np.array([present_value(s, schedule=rate) for s in streams]))
    t_pe, pe = best_of(lambda: np.array([npf.npv(rate, s) for s in streams]))
    t_vec, vec = best_of(lambda: streams @ discount_factors(np.arange(30), rate))
    print("1. Flat 3.5% NPV of 10,000 streams x 30 years")
    print(f"   evalkit present_value (per stream): {t_ev * 1e3:8.1f} ms")
    print(f"   evalkit discount_factors @ matrix : {t_vec * 1e3:8.1f} ms")
    print(f"   numpy_financial.npv (per stream)  : {t_pe * 1e3:8.1f} ms")
    print(f"   ratio evalkit per-stream / peer   : {t_ev / t_pe:8.2f}")
    print(f"   ratio evalkit vectorised / peer   : {t_vec / t_pe:8.4f}")
    print(f"   max |difference| (GBP)            : {np.max(np.abs(ev - pe)):.3e} "
          f"(vectorised {np.max(np.abs(vec - pe)):.3e})")


def bench_schedule() -> None:
    years = np.arange(501)

    def loop():
        out = []
        f = 1.0
        for t in years:
            if t > 0:
                r = (0.035 if t <= 30 else 0.03 if t <= 75 else 0.025 if t <= 125 else
                     0.02 if t <= 200 else 0.015 if t <= 300 else 0.01)
                f = f / (1 + r)
            out.append(f)
        return np.array(out)

    t_ev, ev = best_of(lambda: discount_factors(years), repeat=20)
    t_lp, lp = best_of(loop, repeat=20)
    print("2. Green Book declining schedule, factors for years 0-500")
    print(f"   evalkit discount_factors : {t_ev * 1e6:8.1f} us")
    print(f"   plain loop               : {t_lp * 1e6:8.1f} us")
    print(f"   ratio evalkit / loop     : {t_ev / t_lp:8.3f}")
    print(f"   max relative difference  : {np.max(np.abs(ev / lp - 1)):.3e}")


def bench_benefits() -> None:
    n_partners, n_measures, n_years, n_draws = 15, 5, 10, 10_000
    partners = [f"Partner {i:02d}" for i in range(n_partners)]
    items = [f"Item {j}" for j in range(20)]
    uc = validate_unit_costs(pd.DataFrame({
        "item": items, "unit": "each", "cost_gbp": np.linspace(50, 5_000, 20),
        "price_year": "2020-21", "partner": [partners[j % n_partners] for j in range(20)],
        "cashable_share": np.linspace(0, 1, 20), "source": "benchmark"}))
    bm = pd.DataFrame({"measure": [f"m{j % n_measures}" for j in range(20)], "item": items,
                       "partner": [partners[j % n_partners] for j in range(20)]})
    effects = {f"m{i}": (-0.05 * (i + 1), 0.02) for i in range(n_measures)}
    treated = [500] * 8 + [0, 0]

    def run():
        return benefits_by_partner(effects, bm, treated, price_year="2024-25", unit_costs=uc,
                                   horizon=n_years, benefit_years=3, n_draws=n_draws, seed=1)

    t_ev, res = best_of(run)
    peak_mb, _ = traced_peak_mb(run)

    # Straightforward per-draw loop over the same model (same draws).
    det = res.detail
    per_unit = {}  # (row) -> benefit per unit effect, by year
    for (measure, item, partner), g in det.groupby(["measure", "item", "partner"], sort=False):
        per_unit[(measure, item, partner)] = (g["benefit"] / g["effect"]).to_numpy()
    rng = np.random.default_rng(1)
    measures = sorted(effects)
    draws = np.column_stack([rng.normal(effects[m][0], effects[m][1], n_draws)
                             for m in measures])
    p_idx = {p: i for i, p in enumerate(res.partners)}

    def loop():
        out = np.zeros((n_draws, len(res.partners), n_years))
        for d in range(n_draws):
            for (measure, _item, partner), coef in per_unit.items():
                out[d, p_idx[partner]] += draws[d, measures.index(measure)] * coef
        return out

    t_lp, lp = best_of(loop, repeat=1)
    ev = res.draws("fiscal").values
    print(f"3. benefits_by_partner: {n_draws:,} draws x {n_partners} partners x {n_years} "
          f"years ({n_measures} measures, 20 map rows)")
    print(f"   evalkit (whole call)     : {t_ev:8.3f} s, peak memory {peak_mb:.0f} MiB")
    print(f"   per-draw loop (draws only): {t_lp:8.3f} s")
    print(f"   ratio evalkit / loop     : {t_ev / t_lp:8.3f}")
    print(f"   max relative difference  : {np.max(np.abs(ev - lp)) / np.max(np.abs(lp)):.3e}")


if __name__ == "__main__":
    bench_npv()
    bench_schedule()
    bench_benefits()
