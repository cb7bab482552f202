"""Benchmark: generate a large synthetic place (time and peak memory).

Target (issue 3): 300,000 people and at least 10 million events in under 60 s
with under 6 GB peak memory on a 2-core machine.

Each run happens in a fresh subprocess so that peak memory (the process's
peak resident set size, ``ru_maxrss``) belongs to that run alone; the
interpreter and imports are included in the figure (shown separately).

Usage::

    PYTHONPATH=. python benchmarks/bench_synthetic.py            # 300k people
    PYTHONPATH=. python benchmarks/bench_synthetic.py --people 100000 --write parquet
    PYTHONPATH=. python benchmarks/bench_synthetic.py --validate  # also time validation

There is no peer package that generates this kind of data, so the benchmark
prints the target instead of a peer ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time, tempfile
t_imp = time.perf_counter()
from evalkit.synthetic import make_place
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n, seed, validate, write = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
t0 = time.perf_counter()
sp = make_place(n_people=n, seed=seed, validate=validate)
gen = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {"seconds": gen, "peak_rss_mb": peak / 1024, "import_rss_mb": base / 1024,
       "timings": sp.timings, "rows": {k: len(v) for k, v in sp.place.tables.items()}}
if write != "none":
    with tempfile.TemporaryDirectory() as d:
        t1 = time.perf_counter()
        sp.write(d, format=write)
        out["write_seconds"] = time.perf_counter() - t1
    out["peak_rss_after_write_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT" + json.dumps(out))
"""


def run(n: int, seed: int, validate: bool, write: str) -> dict:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory():
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(n), str(seed), "1" if validate else "0", write],
            capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=300_000)
    ap.add_argument("--seed", type=int, default=20240401)
    ap.add_argument("--validate", action="store_true",
                    help="also run evalkit's validation on every table (as for user data)")
    ap.add_argument("--write", choices=["none", "csv", "parquet"], default="none",
                    help="also time writing the place folder")
    args = ap.parse_args()
    r = run(args.people, args.seed, args.validate, args.write)
    ev = r["rows"]["events"]
    print(f"synthetic place: {args.people:,} people, seed {args.seed}, "
          f"validate={args.validate}")
    for k, v in r["rows"].items():
        print(f"  {k:<14}{v:>14,} rows")
    print("  steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in r["timings"].items()))
    print(f"time to generate:     {r['seconds']:.1f} s   (target < 60 s)")
    print(f"peak memory (RSS):    {r['peak_rss_mb'] / 1024:.2f} GB (target < 6 GB; "
          f"{r['import_rss_mb']:.0f} MB of it is Python and imports)")
    print(f"events generated:     {ev:,} (target >= 10,000,000)")
    if "write_seconds" in r:
        print(f"write {args.write}:          {r['write_seconds']:.1f} s, peak memory after "
              f"{r['peak_rss_after_write_mb'] / 1024:.2f} GB")
    ok = r["seconds"] < 60 and r["peak_rss_mb"] < 6 * 1024 and (
        args.people < 300_000 or ev >= 10_000_000)
    print("PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
