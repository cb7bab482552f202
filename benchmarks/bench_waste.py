"""Benchmark: failure-demand measures on 10 million events, against a sort floor and PM4Py.

Run (PM4Py only in its own venv, see ``benchmarks/requirements-waste.txt``)::

    PYTHONPATH=. /work/venv-bench-waste/bin/python benchmarks/bench_waste.py

What is timed
-------------
* **Floor**: sorting the log once by (person, date, event_id) with
  ``DataFrame.sort_values`` and reading every column of the sorted frame once
  (category codes for categorical columns). The issue's target is evalkit
  within 2x of this.
* **evalkit**: :func:`evalkit.waste.measure_waste` end to end: the five
  measures (hand-offs, repeat assessments, bounced/ping-pong referrals, waits,
  front doors), row accounting, pricing with unit costs and the whole
  ``WasteReport`` (every table). Best of ``--repeats`` runs, like the floor.
* **Peak memory**: in a fresh subprocess that builds the same log and runs
  evalkit once: the process's peak resident set size (``getrusage``), which
  includes the ~0.25 GB log itself and the Python interpreter.
* **PM4Py** (benchmark-only peer) on the three measures it can express:
  hand-offs = off-diagonal of ``discover_dfg`` with the organisation as the
  activity; repeat assessments = ``discover_performance_dfg`` over the
  assessments only (organisation as activity, all durations) counted at
  <= 90 days, diagonal = re-assessment, off-diagonal = story retold; waits =
  ``discover_performance_dfg`` over referrals and interventions, the
  durations of the referral -> intervention pair. PM4Py needs text columns,
  so it gets the same log with the categorical columns as ``str`` (conversion
  not timed). It runs on the full log by default (about 85 s and 3.3 GB on
  the 2-core machine); ``--pm4py-events N`` runs it on an N-event subsample
  instead, times evalkit on the very same subsample and also prints PM4Py's
  time scaled linearly to the full size.

How PM4Py's definitions differ (so the comparison is like with like)
--------------------------------------------------------------------
* Ties: PM4Py sorts with ``sort_values([case, timestamp])`` (not stable), so
  events of one person on the same date can come in any order; evalkit breaks
  ties by ``event_id`` then file order. Hand-off counts can therefore differ by
  the handful of same-day pairs; the benchmark prints both totals.
* Waits: PM4Py's directly-follows pair only gives the *last* referral before
  an intervention (referral, referral, intervention gives one duration);
  evalkit gives every referral its wait to the next intervention and counts
  the never-followed ones. PM4Py has no notion of "never followed".
* Windows: PM4Py returns all durations; the 90-day window is applied to its
  output here. Durations are in seconds, so on date-only data "<= 90 days"
  equals evalkit's calendar-day rule.
* Bounced referrals, ping-pong and front doors have no PM4Py equivalent and
  are not timed for PM4Py (evalkit's time still includes them).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

ORGS = ("Adult social care", "Children's services", "Council housing", "DWP jobcentre",
        "GP practice", "Mental health trust", "NHS acute trust", "Police",
        "Probation", "Voluntary sector hub")
TYPES = ("contact", "assessment", "referral", "referral_accepted", "referral_declined",
         "intervention", "closure")


def make_log(n_events: int, n_people: int, seed: int = 1) -> pd.DataFrame:
    """A random event log: people with a home organisation (60% of their events)."""
    rng = np.random.default_rng(seed)
    person = rng.integers(0, n_people, n_events, dtype=np.int32)
    home = rng.integers(0, len(ORGS), n_people, dtype=np.int8)
    org = np.where(rng.random(n_events) < 0.6, home[person],
                   rng.integers(0, len(ORGS), n_events, dtype=np.int8)).astype(np.int8)
    et = rng.choice(len(TYPES), n_events, p=[.25, .25, .15, .08, .07, .15, .05]).astype(np.int8)
    ref = np.where((et == 2) & (rng.random(n_events) < 0.9),
                   rng.integers(0, len(ORGS), n_events, dtype=np.int8), -1).astype(np.int8)
    day = rng.integers(0, 3 * 365, n_events).astype("timedelta64[D]")
    pid = pd.Categorical.from_codes(person, categories=[f"P{i:07d}" for i in range(n_people)])
    return pd.DataFrame({
        "event_id": np.arange(n_events, dtype=np.int64),
        "person_id": pid,
        "date": (np.datetime64("2021-04-01") + day).astype("datetime64[ns]"),
        "organisation": pd.Categorical.from_codes(org, categories=list(ORGS)),
        "event_type": pd.Categorical.from_codes(et, categories=list(TYPES)),
        "referred_to": pd.Categorical.from_codes(ref, categories=list(ORGS)),
    })


UNIT_COSTS = pd.DataFrame({
    "item": ["Assessment", "Referral", "Contact"],
    "unit": ["per assessment", "per referral", "per contact"],
    "cost_gbp": [310.0, 56.0, 24.0],
    "price_year": ["2024-25"] * 3,
    "partner": ["(organisation)"] * 3,
    "cashable_share": [0.1, 0.0, 0.0],
    "source": ["benchmark"] * 3,
    "event_type": ["assessment", "referral", "contact"],
})
ORGANISATIONS = pd.DataFrame({"organisation": list(ORGS),
                              "partner": ["Council", "Council", "Council", "DWP", "NHS",
                                          "NHS", "NHS", "Police", "Probation", "Voluntary"]})


def floor_once(df: pd.DataFrame) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    s = df.sort_values(["person_id", "date", "event_id"], kind="stable")
    total = 0
    for c in s.columns:
        col = s[c]
        arr = col.cat.codes.to_numpy() if isinstance(col.dtype, pd.CategoricalDtype) \
            else col.to_numpy()
        total += int(arr[-1].astype(np.int64) if arr.dtype.kind != "M" else 1)
    return time.perf_counter() - t0, time.process_time() - c0


def evalkit_once(df: pd.DataFrame):
    from evalkit.waste import measure_waste

    t0, c0 = time.perf_counter(), time.process_time()
    r = measure_waste(df, unit_costs=UNIT_COSTS, organisations=ORGANISATIONS)
    return (time.perf_counter() - t0, time.process_time() - c0), r


def evalkit_three(df: pd.DataFrame) -> tuple[float, float]:
    """evalkit computing only what PM4Py computes: hand-offs, repeat assessments, waits."""
    from evalkit.waste.measures import compute_core

    t0, c0 = time.perf_counter(), time.process_time()
    compute_core(df, measures=("handoff", "repeat_assessment", "wait"))
    return time.perf_counter() - t0, time.process_time() - c0


def best(fn, repeats: int) -> tuple[float, float]:
    """Best wall-clock and best CPU time (all threads) over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        gc.collect()
        times.append(fn())
    return min(t[0] for t in times), min(t[1] for t in times)


def _rss_mb() -> float:
    """Current resident set size (Linux /proc), else the peak so far."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_memory(n_events: int, n_people: int) -> None:
    import tracemalloc

    from evalkit.waste import measure_waste  # noqa: F401  (import cost outside the peak)

    df = make_log(n_events, n_people)
    gc.collect()
    base = _rss_mb()
    log_mb = df.memory_usage(deep=False).sum() / 2**20
    tracemalloc.start()
    (t, _), _ = evalkit_once(df)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"rss_before_mb": base, "log_mb": log_mb,
                      "evalkit_peak_mb": traced_peak / 2**20,
                      "peak_mb": base + traced_peak / 2**20,
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "seconds": t}))


def pm4py_measures(df: pd.DataFrame) -> dict:
    import pm4py

    keys = dict(case_id_key="person_id", timestamp_key="date")
    t0, c0 = time.perf_counter(), time.process_time()
    dfg, _, _ = pm4py.discover_dfg(df, activity_key="organisation", **keys)
    handoffs = sum(v for (a, b), v in dfg.items() if a != b)
    ass = df[df["event_type"] == "assessment"]
    perf, _, _ = pm4py.discover_performance_dfg(ass, activity_key="organisation",
                                                perf_aggregation_key="raw_values", **keys)
    limit = 90 * 86400
    re_ = sum(int((np.asarray(v) <= limit).sum()) for (a, b), v in perf.items() if a == b)
    st = sum(int((np.asarray(v) <= limit).sum()) for (a, b), v in perf.items() if a != b)
    ri = df[df["event_type"].isin(["referral", "intervention"])]
    wperf, _, _ = pm4py.discover_performance_dfg(ri, activity_key="event_type",
                                                 perf_aggregation_key="raw_values", **keys)
    waits = np.asarray(wperf.get(("referral", "intervention"), []), dtype=float) / 86400
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu": cpu, "handoffs": handoffs, "reassessments": re_,
            "stories_retold": st, "waits_n": int(len(waits)),
            "wait_median": float(np.median(waits)) if len(waits) else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--people", type=int, default=800_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pm4py-events", type=int, default=0,
                    help="run PM4Py on a subsample of this many events (default: full log)")
    ap.add_argument("--no-pm4py", action="store_true")
    ap.add_argument("--duckdb", action="store_true",
                    help="also run the DuckDB-over-Parquet route on the full log")
    ap.add_argument("--child-memory", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_memory:
        child_memory(a.events, a.people)
        return

    print(f"evalkit waste benchmark: {a.events:,} events, {a.people:,} people, "
          f"{len(ORGS)} organisations; {os.cpu_count()} CPUs")
    df = make_log(a.events, a.people)
    import evalkit.waste  # noqa: F401  (imports, incl. scipy via evalkit, are not timed)

    print(f"log in memory: {df.memory_usage().sum() / 2**20:,.0f} MiB "
          "(categorical text columns, int64 event_id, datetime64 dates)")
    floor = best(lambda: floor_once(df), a.repeats)
    ek = best(lambda: evalkit_once(df)[0], a.repeats)
    _, rep = evalkit_once(df)
    print(f"load average at start: {os.getloadavg()[0]:.1f} (shared machine: wall-clock "
          "times move with other jobs; CPU time is the work done)")
    print("                                                   wall s    CPU s")
    print(f"floor (sort by person, date, event_id + read cols): {floor[0]:6.2f}  {floor[1]:7.2f}")
    print(f"evalkit (5 measures + pricing + full report):       {ek[0]:6.2f}  {ek[1]:7.2f}")
    print(f"ratio evalkit / floor: {ek[0] / floor[0]:.2f} wall, {ek[1] / floor[1]:.2f} CPU  "
          "(target <= 2)")
    t = rep.to_frame("totals").set_index("measure")["count"]
    print(f"  hand-offs {t['handoff']:,}, re-assessments {t['reassessment']:,}, stories "
          f"retold {t['story_retold']:,}, bounced {t['bounced_referral']:,}, ping-pong "
          f"{t['ping_pong']:,}, avoidable cost £{rep.total_avoidable_cost:,.0f}")

    out = subprocess.run([sys.executable, __file__, "--child-memory", "--events",
                          str(a.events), "--people", str(a.people)],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", ".")})
    mem = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"peak memory (fresh process): {mem['peak_mb'] / 1024:.2f} GiB = resident "
          f"{mem['rss_before_mb'] / 1024:.2f} GiB before (interpreter + libraries + "
          f"{mem['log_mb']:,.0f} MiB log) + evalkit's traced peak "
          f"{mem['evalkit_peak_mb'] / 1024:.2f} GiB (tracemalloc)  (target < 2.5 GB); "
          f"process max RSS incl. building the log {mem['maxrss_mb'] / 1024:.2f} GiB")

    if not a.no_pm4py:
        try:
            import pm4py
        except ImportError:
            print("PM4Py not installed: skipped (see benchmarks/requirements-waste.txt)")
        else:
            n_sub = min(a.pm4py_events or a.events, a.events)
            if n_sub < a.events:
                sub_people = max(1, int(a.people * n_sub / a.events))
                sub = make_log(n_sub, sub_people, seed=2)
                ek_sub = best(lambda: evalkit_once(sub)[0], a.repeats)
                _, rsub = evalkit_once(sub)
            else:
                sub, sub_people, ek_sub, rsub = df, a.people, ek, rep
            pm_in = sub.astype({c: str for c in ("person_id", "organisation", "event_type")})
            pm = pm4py_measures(pm_in)
            del pm_in
            # evalkit again straight after PM4Py, so both see similar machine load
            again = best(lambda: evalkit_once(sub)[0], 2)
            ek_sub = (min(ek_sub[0], again[0]), min(ek_sub[1], again[1]))
            ek3 = best(lambda: evalkit_three(sub), a.repeats)
            scaled = pm["seconds"] * a.events / n_sub
            ts = rsub.to_frame("totals").set_index("measure")["count"]
            w = rsub.to_frame("waits").iloc[0]
            what = "the full log" if n_sub == a.events else "a subsample"
            print(f"PM4Py {pm4py.__version__} on {what} ({n_sub:,} events, {sub_people:,} "
                  f"people), hand-offs + repeat assessments + waits only: "
                  f"{pm['seconds']:.2f} s wall, {pm['cpu']:.2f} s CPU")
            print(f"evalkit on the same events (all 5 measures + pricing + report): "
                  f"{ek_sub[0]:.2f} s wall, {ek_sub[1]:.2f} s CPU")
            print(f"ratio PM4Py / evalkit (everything): {pm['seconds'] / ek_sub[0]:.1f}x wall, "
                  f"{pm['cpu'] / ek_sub[1]:.1f}x CPU")
            print(f"evalkit, like with like (the same three measures, compute_core(measures="
                  f"...)): {ek3[0]:.2f} s wall, {ek3[1]:.2f} s CPU; ratio PM4Py / evalkit: "
                  f"{pm['seconds'] / ek3[0]:.1f}x wall, {pm['cpu'] / ek3[1]:.1f}x CPU  "
                  "(target >= 15x)")
            if n_sub < a.events:
                print(f"PM4Py scaled linearly to {a.events:,} events: {scaled:.1f} s; ratio "
                      f"to evalkit's full-size time: {scaled / ek[0]:.1f}x")
            print(f"  agreement: hand-offs PM4Py {pm['handoffs']:,} vs "
                  f"evalkit {ts['handoff']:,}; re-assessments {pm['reassessments']:,} vs "
                  f"{ts['reassessment']:,}; stories retold {pm['stories_retold']:,} vs "
                  f"{ts['story_retold']:,}")
            print(f"  waits: PM4Py {pm['waits_n']:,} referral->intervention pairs (median "
                  f"{pm['wait_median']:.0f} days) vs evalkit {int(w['followed']):,} followed "
                  f"referrals (median {w['median_days']:.0f} days) + "
                  f"{int(w['never_followed']):,} never followed: PM4Py keeps only the last "
                  "referral before each intervention")

    if a.duckdb:
        import tempfile

        from evalkit.waste import measure_waste_duckdb

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "events.parquet")
            df.to_parquet(path, row_group_size=1_000_000)
            t0 = time.perf_counter()
            rd = measure_waste_duckdb(path, unit_costs=UNIT_COSTS,
                                      organisations=ORGANISATIONS, memory_limit="2GB",
                                      temp_directory=os.path.join(d, "spill"))
            td = time.perf_counter() - t0
        same = all(rd.to_frame(n).equals(rep.to_frame(n)) for n in
                   ("totals", "handoffs", "per_person", "waits", "front_doors"))
        print(f"DuckDB over Parquet (memory_limit 2GB, spilling to disk): {td:.1f} s; "
              f"identical tables to the in-memory path: {same}")


if __name__ == "__main__":
    main()
