"""Benchmark: synthetic control with 40 donors, 30 pre-periods and 8 predictors,
including the full placebo-in-space run (every donor treated in turn, V
re-optimised each time), against pysyncon on the same problem.

Run from the repository root (pysyncon is a benchmark-only peer, see
``benchmarks/requirements-synth.txt``)::

    PYTHONPATH=. python benchmarks/bench_synth.py

pysyncon is run with its defaults (Nelder-Mead from equal V, SLSQP for W).
Its full placebo run (``--peer-full``, its own multi-process runner) takes tens
of minutes on a shared 2-core machine, so by default the benchmark times its
main fit plus the first ``--peer-placebos`` placebo fits in this process and
scales the mean fit time to the 41 fits of the full run (labelled as such).
evalkit runs single-process, from R Synth's two starting points (equal and
regression-based V) and, like for like with pysyncon, from the equal start
only. The target is evalkit under 30 s.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from contextlib import redirect_stdout

import numpy as np
import pandas as pd

N_DONORS, N_PRE, N_POST = 40, 30, 10
COVARIATES = ["x1", "x2", "x3", "x4"]
LAGS = [1, 10, 20, 30]  # outcome in pre-periods 1, 10, 20 and 30 -> 4 + 4 = 8 predictors


def make_panel(seed: int = 2024) -> pd.DataFrame:
    """A factor-model panel: 41 areas, 40 periods, planted effect -5 after period 30."""
    rng = np.random.default_rng(seed)
    n, T = N_DONORS + 1, N_PRE + N_POST
    f = np.cumsum(rng.normal(0, 1, (T, 2)), axis=0)
    lam = rng.uniform(0.5, 1.5, (n, 2))
    alpha = rng.normal(50, 5, n)
    y = alpha[:, None] + lam @ f.T + rng.normal(0, 0.5, (n, T))
    rows = []
    for i in range(n):
        name = "Treated" if i == 0 else f"Donor{i:02d}"
        for t in range(T):
            val = y[i, t] - (5.0 if (i == 0 and t >= N_PRE) else 0.0)
            cov = {c: lam[i, j % 2] * 10 + rng.normal(0, 0.3) for j, c in enumerate(COVARIATES)}
            rows.append({"area": name, "period": t + 1, "value": val, **cov})
    return pd.DataFrame(rows)


def run_evalkit(df: pd.DataFrame, starts: tuple[str, ...], n_jobs: int = 1
                ) -> tuple[float, object]:
    from evalkit.evaluate.synth import SyntheticControl

    t0, c0 = time.perf_counter(), time.process_time()
    res = SyntheticControl(
        treated="Treated", treatment_start=N_PRE + 1, predictors=COVARIATES,
        predictor_window=slice(1, N_PRE), lagged_outcomes=LAGS, v_starts=starts,
        placebos=True, progress=False, n_jobs=n_jobs).fit(df)
    res.extra["cpu_seconds"] = time.process_time() - c0
    return time.perf_counter() - t0, res


def _dataprep(df: pd.DataFrame, treated: str, donors: list[str]):
    from pysyncon import Dataprep

    return Dataprep(foo=df, predictors=COVARIATES, predictors_op="mean",
                    time_predictors_prior=range(1, N_PRE + 1),
                    special_predictors=[("value", [lag], "mean") for lag in LAGS],
                    dependent="value", unit_variable="area", time_variable="period",
                    treatment_identifier=treated, controls_identifier=donors,
                    time_optimize_ssr=range(1, N_PRE + 1))


def run_pysyncon(df: pd.DataFrame, n_placebos: int, full: bool
                 ) -> tuple[float, str, float] | None:
    """Seconds for the full run (measured, or scaled from main + n_placebos fits)."""
    try:
        from pysyncon import Synth
        from pysyncon.utils import PlaceboTest
    except ImportError:
        return None
    donors = [u for u in df["area"].unique() if u != "Treated"]
    if full:
        t0 = time.perf_counter()
        with redirect_stdout(io.StringIO()):
            synth = Synth()
            synth.fit(dataprep=_dataprep(df, "Treated", donors))
            PlaceboTest().fit(dataprep=_dataprep(df, "Treated", donors), scm=synth,
                              scm_options={}, verbose=False)
        return time.perf_counter() - t0, "measured, multi-process", float("nan")
    times, cpus = [], []
    for treated in ["Treated"] + donors[:n_placebos]:
        controls = [u for u in donors if u != treated]
        t0, c0 = time.perf_counter(), time.process_time()
        Synth().fit(dataprep=_dataprep(df, treated, controls))
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    total = float(np.mean(times)) * (N_DONORS + 1)
    cpu_total = float(np.mean(cpus)) * (N_DONORS + 1)
    return total, (f"scaled from {len(times)} of {N_DONORS + 1} fits "
                   f"(mean {np.mean(times):.2f} s per fit), single process; "
                   f"CPU {cpu_total:.1f} s"), cpu_total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-peer", action="store_true", help="skip pysyncon")
    ap.add_argument("--peer-placebos", type=int, default=4,
                    help="pysyncon placebo fits to time (default 4)")
    ap.add_argument("--peer-full", action="store_true",
                    help="run pysyncon's complete multi-process placebo test")
    args = ap.parse_args()
    df = make_panel()
    print(f"load average {os.getloadavg()[0]:.1f}; "
          f"Problem: {N_DONORS} donors, {N_PRE} pre-periods, {len(COVARIATES) + len(LAGS)} "
          f"predictors, full placebo-in-space run; {os.cpu_count()} CPU(s)")
    t_def, res = run_evalkit(df, ("equal", "regression"))
    print(f"evalkit (starts equal+regression): {t_def:7.2f} s  (CPU "
          f"{res.extra['cpu_seconds']:.1f} s)  ATT {res.estimate:.3f} (planted -5), "
          f"p = {res.pvalue:.3f}, pre-RMSPE {res.diagnostics['pre_rmspe']:.3f}")
    t_eq, res_eq = run_evalkit(df, ("equal",))
    print(f"evalkit (start equal only):        {t_eq:7.2f} s  (CPU "
          f"{res_eq.extra['cpu_seconds']:.1f} s)  ATT {res_eq.estimate:.3f} "
          f"({t_eq / (N_DONORS + 1):.2f} s per fit)")
    t_par, _ = run_evalkit(df, ("equal", "regression"), n_jobs=2)
    print(f"evalkit (equal+regression, n_jobs=2): {t_par:7.2f} s")
    print(f"target: under 30 s -> {'met' if t_def < 30 else 'NOT met'} (single process)")
    if args.no_peer:
        return
    out = run_pysyncon(df, args.peer_placebos, args.peer_full)
    if out is None:
        print("pysyncon not installed: pip install -r benchmarks/requirements-synth.txt")
        return
    t_peer, how, cpu_peer = out
    print(f"pysyncon (equal start):            {t_peer:7.2f} s  ({how})")
    print(f"ratio pysyncon / evalkit (wall):   {t_peer / t_def:.1f}x vs default starts, "
          f"{t_peer / t_eq:.1f}x vs equal start only")
    if cpu_peer == cpu_peer:
        print(f"ratio pysyncon / evalkit (CPU):    {cpu_peer / res.extra['cpu_seconds']:.1f}x vs "
              f"default starts, {cpu_peer / res_eq.extra['cpu_seconds']:.1f}x vs equal start only")
    print("(wall times depend on other load on the machine; the CPU ratio is the steadier one)")


if __name__ == "__main__":
    main()
