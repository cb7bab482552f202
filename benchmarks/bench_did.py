"""Speed and memory of evalkit's difference-in-differences estimators.

Run from the repository root (peers installed in a separate venv, see
``benchmarks/requirements-did.txt``)::

    PYTHONPATH=. /work/venv-bench-did/bin/python benchmarks/bench_did.py

Parts (each prints its own figures):

1. TWFE with unit and month fixed effects, 20,000 units x 60 months
   (1,200,000 rows): evalkit (within transformation) vs ``pyfixest`` in the
   same run, and ``statsmodels`` OLS with dummy columns (the naive baseline,
   on a subsample because it needs one column per unit).
2. The same TWFE on 100,000 units x 60 months (6,000,000 rows), in a child
   process, with its peak resident memory.
3. Callaway & Sant'Anna on 100,000 units x 48 months, 8 start groups, 2
   covariates (doubly robust, never-treated comparison, all four
   aggregations, analytic SEs and a 999-draw multiplier bootstrap for the
   uniform bands), and the ratio to the ``csdid`` / ``differences`` packages on
   the same data (and on a subsample where the peer is too slow; the script
   says which).

Options: ``--quick`` (smaller sizes, for a smoke test), ``--part N`` (one part).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from _common import best_of, peak_rss_mb

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from evalkit.evaluate.did import TWFE
from evalkit.evaluate.staggered import StaggeredDiD


# --------------------------------------------------------------------------- data
def twfe_data(n_units: int, n_months: int, seed: int = 0) -> pd.DataFrame:
    """Monthly person panel with staggered pilot starts (dates) and a planted effect."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2020-01-01", periods=n_months, freq="MS")
    start_idx = rng.choice(np.r_[-1, np.arange(12, n_months - 6, 6)], size=n_units)
    unit = np.repeat(np.arange(n_units, dtype=np.int64), n_months)
    t = np.tile(np.arange(n_months, dtype=np.int64), n_units)
    g = np.repeat(start_idx, n_months)
    treated = (g >= 0) & (t >= g)
    y = (rng.normal(size=n_units)[unit] + 0.02 * t + 0.3 * treated
         + rng.normal(size=n_units * n_months))
    start = pd.Series(pd.NaT, index=range(n_units), dtype="datetime64[ns]")
    has = start_idx >= 0
    start[has] = months[start_idx[has]]
    return pd.DataFrame({
        "person_id": unit, "period": months[t], "month": t,
        "pilot_start": start.to_numpy()[unit], "treated": treated.astype(np.float64),
        "value": y})


def cs_data(n_units: int, n_periods: int = 48, n_groups: int = 8, seed: int = 0) -> pd.DataFrame:
    """Integer-period panel: 8 start groups + never treated, 2 covariates, growing effects."""
    rng = np.random.default_rng(seed)
    starts = np.linspace(6, n_periods - 6, n_groups).round().astype(int)
    x1 = rng.normal(size=n_units)
    x2 = (rng.random(n_units) < 0.4).astype(float)
    # covariates shift who starts early (mildly: propensity scores stay below 0.999)
    score = np.column_stack([0.15 * (j - n_groups / 2) * x1 for j in range(n_groups + 1)])
    p = np.exp(score)
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(n_units)[:, None]
    choice = (u > np.cumsum(p, axis=1)).sum(axis=1)
    first = np.r_[starts, 0][choice]
    t = np.arange(1, n_periods + 1)
    e = t[None, :] - first[:, None]
    tr = (first[:, None] > 0) & (e >= 0)
    y = (rng.normal(size=n_units)[:, None] + 0.05 * t[None, :] + 0.02 * x1[:, None] * t[None, :]
         + 0.5 * x2[:, None] + np.where(tr, 0.2 + 0.02 * e, 0.0)
         + rng.normal(size=(n_units, n_periods)))
    return pd.DataFrame({
        "id": np.repeat(np.arange(n_units), n_periods), "period": np.tile(t, n_units),
        "first": np.repeat(first, n_periods), "y": y.ravel(),
        "x1": np.repeat(x1, n_periods), "x2": np.repeat(x2, n_periods)})


# --------------------------------------------------------------------------- part 1
def part1(n_units: int, n_months: int, sm_units: int) -> None:
    print(f"\n== 1. TWFE, unit + month fixed effects: {n_units:,} units x {n_months} months "
          f"= {n_units * n_months:,} rows")
    df = twfe_data(n_units, n_months)
    model = TWFE(unit="person_id", time="period", outcome="value", first_treat="pilot_start")
    t_ours, r = best_of(lambda: model.fit(df))
    print(f"evalkit TWFE (from the DataFrame, incl. validation):  {t_ours:7.3f} s   "
          f"estimate {r.estimate:.6f}  SE {r.se:.6f} (ssc=nested)")
    try:
        import pyfixest as pf

        pf.feols("value ~ treated | person_id + month", data=df.iloc[:1000],
                 vcov={"CRV1": "person_id"})  # warm-up (compilation)
        t_pf, f = best_of(lambda: pf.feols("value ~ treated | person_id + month", data=df,
                                           vcov={"CRV1": "person_id"}))
        b, s = float(f.coef().iloc[0]), float(f.se().iloc[0])
        ours_none = TWFE(unit="person_id", first_treat="pilot_start", ssc="none").fit(df)
        print(f"pyfixest {pf.__version__} feols (same data, CRV1):          {t_pf:7.3f} s   "
              f"estimate {b:.6f}  SE {s:.6f}")
        print(f"ratio evalkit / pyfixest: {t_ours / t_pf:.2f}x   |estimate diff| "
              f"{abs(b - r.estimate):.2e}   SE vs ours(ssc=none) {s:.6f} vs {ours_none.se:.6f}, "
              f"ours(ssc=nested) {r.se:.6f}")
    except Exception as exc:  # report whatever stops the peer
        print(f"pyfixest not run: {type(exc).__name__}: {exc}")
    import statsmodels.api as sm

    sub = df[df["person_id"] < sm_units]
    t0 = time.perf_counter()
    X = np.column_stack([sub["treated"].to_numpy(),
                         pd.get_dummies(sub["person_id"], dtype=float).to_numpy(),
                         pd.get_dummies(sub["month"], drop_first=True, dtype=float).to_numpy()])
    fit = sm.OLS(sub["value"].to_numpy(), X).fit(
        cov_type="cluster", cov_kwds={"groups": sub["person_id"].to_numpy()})
    t_sm = time.perf_counter() - t0
    t_sub, r_sub = best_of(lambda: model.fit(sub))
    print(f"statsmodels OLS with dummy columns, SUBSAMPLE of {sm_units:,} units "
          f"({len(sub):,} rows, {X.shape[1]:,} columns): {t_sm:.3f} s "
          f"(evalkit on the same subsample {t_sub:.3f} s; |estimate diff| "
          f"{abs(fit.params[0] - r_sub.estimate):.1e}). The full 1.2M-row dummy matrix would "
          f"need {len(df) * (n_units + n_months) * 8 / 1e9:,.0f} GB, so it is not attempted.")


# --------------------------------------------------------------------------- part 2
def part2(n_units: int, n_months: int) -> None:
    print(f"\n== 2. TWFE on {n_units:,} units x {n_months} months = {n_units * n_months:,} rows "
          "(child process, peak memory)")
    code = (
        "import time,sys,resource,tracemalloc; sys.path.insert(0,'.');"
        "from benchmarks.bench_did import twfe_data; from evalkit.evaluate.did import TWFE;"
        f"df=twfe_data({n_units},{n_months}); m=TWFE(unit='person_id',first_treat='pilot_start');"
        "t0=time.perf_counter(); r=m.fit(df); dt=time.perf_counter()-t0;"
        "tracemalloc.start(); m.fit(df); cur,fitpeak=tracemalloc.get_traced_memory();"
        "tracemalloc.stop(); peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024;"
        "mb=df.memory_usage(deep=True).sum()/2**20;"
        "print(f'{dt:.3f} {peak:.0f} {fitpeak/2**20:.0f} {mb:.0f} {r.estimate:.6f}')")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": root})
    if out.returncode != 0:
        print("child failed:", out.stderr[-2000:])
        return
    dt, peak, fitpeak, dfmb, est = out.stdout.split()
    print(f"evalkit TWFE: {float(dt):.2f} s; memory allocated by the fit at its peak "
          f"{float(fitpeak):,.0f} MB (traced), input DataFrame {float(dfmb):,.0f} MB, whole "
          f"process peak RSS incl. data generation {float(peak):,.0f} MB; estimate {est}")


# --------------------------------------------------------------------------- part 3
def part3(n_units: int, n_periods: int, peer_units: int, peer_full: bool) -> None:
    import warnings

    print(f"\n== 3. Callaway & Sant'Anna: {n_units:,} units x {n_periods} periods, 8 groups, "
          "2 covariates (DR, never-treated comparison)")
    df = cs_data(n_units, n_periods)
    kw = dict(unit="id", time="period", outcome="y", first_treat="first",
              covariates=["x1", "x2"])
    t0 = time.perf_counter()
    r = StaggeredDiD(n_boot=999, seed=1, **kw).fit(df)
    t_ours = time.perf_counter() - t0
    print(f"evalkit StaggeredDiD: {t_ours:.2f} s for {len(r.tables['att_gt'])} ATT(g,t), "
          f"4 aggregations, analytic SEs + 999-draw multiplier bootstrap (uniform bands); "
          f"simple ATT {r.estimate:.4f} (SE {r.se:.4f}); peak RSS so far {peak_rss_mb():,.0f} MB")
    t0 = time.perf_counter()
    ra = StaggeredDiD(n_boot=0, **kw).fit(df)
    t_an = time.perf_counter() - t0
    print(f"evalkit StaggeredDiD, analytic SEs only (n_boot=0): {t_an:.2f} s")
    t0 = time.perf_counter()
    r0 = StaggeredDiD(unit="id", time="period", outcome="y", first_treat="first",
                      n_boot=0).fit(df)
    print(f"evalkit StaggeredDiD without covariates (cohort means): "
          f"{time.perf_counter() - t0:.2f} s; simple ATT {r0.estimate:.4f}")
    ours_gt = ra.tables["att_gt"]
    try:
        import contextlib
        import io

        from csdid.att_gt import ATTgt

        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            att = ATTgt(yname="y", tname="period", idname="id", gname="first", data=df.copy(),
                        control_group="nevertreated", xformla="y ~ x1 + x2")
            out = att.fit(est_method="dr", bstrap=False)
            agg = out.aggte(typec="simple", bstrap=False)
            t_cs = time.perf_counter() - t0
        peer = out.results
        a = np.asarray(peer["att"], dtype=float)
        se = np.asarray(peer["se"], dtype=float)
        simple = getattr(agg, "atte", None)
        print(f"csdid (faster_mode, analytic SEs, att_gt + simple aggte) on the same data: "
              f"{t_cs:.2f} s; max |ATT(g,t) diff| {np.nanmax(np.abs(a - ours_gt['estimate'])):.1e},"
              f" max |SE diff| {np.nanmax(np.abs(se - ours_gt['se'])):.1e}"
              + (f"; simple ATT csdid {simple['overall_att']:.6f} vs evalkit {ra.estimate:.6f}"
                 if isinstance(simple, dict) and "overall_att" in simple else ""))
        print(f"ratio evalkit/csdid: {t_an / t_cs:.3f} (analytic, like for like); "
              f"{t_ours / t_cs:.3f} including evalkit's 999-draw bootstrap and all four "
              "aggregations")
    except Exception as exc:  # report whatever stops the peer
        print(f"csdid not run: {type(exc).__name__}: {exc}")
    try:
        from differences import ATTgt as DATTgt

        sub = df[df["id"] < peer_units] if not peer_full else df
        t_sub, _ = best_of(lambda: StaggeredDiD(n_boot=0, **kw).fit(sub), repeat=1)
        dsub = sub.set_index(["id", "period"])
        dsub["cohort"] = dsub["first"].replace(0, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            m = DATTgt(data=dsub, cohort_column="cohort")
            m.fit(formula="y ~ x1 + x2", est_method="dr", control_group="never_treated",
                  progress_bar=False)
            t_d = time.perf_counter() - t0
        what = ("the same data" if peer_full
                else f"a {peer_units:,}-unit subsample ({len(sub):,} rows)")
        print(f"differences on {what}: {t_d:.2f} s vs evalkit {t_sub:.2f} s (analytic) on the "
              f"same rows; ratio evalkit/differences {t_sub / t_d:.3f}"
              + ("" if peer_full else " (differences is run on a subsample because it takes "
                 "minutes on the full data; --peer-full runs it there)"))
    except Exception as exc:
        print(f"differences not run: {type(exc).__name__}: {exc}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--part", type=int, choices=[1, 2, 3])
    ap.add_argument("--peer-units", type=int, default=10_000,
                    help="units in the subsample given to differences")
    ap.add_argument("--peer-full", action="store_true",
                    help="run differences on the full CS data too (takes minutes)")
    a = ap.parse_args()
    q = a.quick
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"{os.cpu_count()} CPUs")
    if a.part in (None, 1):
        part1(2000 if q else 20_000, 60, 200 if q else 500)
    if a.part in (None, 2):
        part2(10_000 if q else 100_000, 60)
    if a.part in (None, 3):
        part3(5000 if q else 100_000, 48, 500 if q else a.peer_units, a.peer_full)


if __name__ == "__main__":
    main()
