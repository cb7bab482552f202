"""Benchmark: evaluate_place on the default demo place (20,000 residents).

Runs the full evaluation the report's "Did it work?" chapter uses (five outcomes
and one placebo: headline Callaway & Sant'Anna with a 499-draw bootstrap for the
event-study bands and draws, the other comparison group, TWFE and Goodman-Bacon,
matched difference-in-differences, pre-trend tests, E-values, SMS rating) and
prints the time per step and in total, and the peak resident memory. Target:
under 30 s on the 2-core development machine (the report's budget is 3 minutes
for everything).

For comparison it also times the straightforward route: the same headline fits
with StaggeredDiD's own multiplier bootstrap over every ATT(g,t) cell (what
evaluate_place replaces with a bootstrap of the aggregated influence functions).

Run: ``PYTHONPATH=. python benchmarks/bench_evaluate_place.py``
"""

from __future__ import annotations

import os
import resource
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    from evalkit.evaluate import StaggeredDiD
    from evalkit.evaluate.place import evaluate_place
    from evalkit.evaluate.place_data import prepare_person_panel
    from evalkit.synthetic import make_place

    t0 = time.perf_counter()
    place, truth = make_place(validate=False)
    t_make = time.perf_counter() - t0
    print(f"make_place (20,000 residents, validate=False): {t_make:.1f} s")
    try:
        load = os.getloadavg()
        print(f"load average: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (2 cores)")
    except OSError:  # pragma: no cover
        pass

    t0 = time.perf_counter()
    ev = evaluate_place(place, progress=False)
    total = time.perf_counter() - t0
    print(f"\nevaluate_place: {total:.1f} s in total")
    for k, v in ev.timings.items():
        print(f"  {k:24s} {v:6.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory (whole process): {peak:,.0f} MB")

    h = ev.to_frame("headline").set_index("outcome")
    print("\nheadline vs planted truth:")
    for m, r in h.iterrows():
        print(f"  {m:24s} {r['estimate']:+.4f} [{r['ci_lower']:+.4f}, {r['ci_upper']:+.4f}]"
              f"  truth {truth.att(m):+.4f}")

    # the straightforward route: the headline fits with the full cell bootstrap
    panel = prepare_person_panel(place, ev.outcomes)
    t0 = time.perf_counter()
    for m in ev.outcomes:
        StaggeredDiD(control_group="not_yet", n_boot=499, seed=1, progress=False).fit(
            panel.long(m))
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    for m in ev.outcomes:
        StaggeredDiD(control_group="not_yet", n_boot=0, seed=1, progress=False).fit(
            panel.long(m))
    analytic = time.perf_counter() - t0
    print(f"\nheadline fits, all ATT(g,t) cells bootstrapped (499 draws): {full:.1f} s")
    print(f"headline fits, analytic only: {analytic:.1f} s "
          f"(evaluate_place adds its aggregated bootstrap to these)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
