"""Benchmark: build the demo report end to end (issue 12: under 3 minutes on 2 cores).

Runs ``evalkit report --demo`` in a fresh process and prints the time of each
step (generating the synthetic place, running the analyses once, building the
book, the offline check and the leak scan). As the floor to compare against,
it then builds the same book with Jupyter Book after replacing every code cell
by ``pass``: the cost of Jupyter Book itself (Sphinx, one kernel per chapter)
with no evalkit work at all.

Usage::

    PYTHONPATH=. python benchmarks/bench_report.py [--people 20000] [--out /tmp/bench-report]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 180.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--out", default="/tmp/evalkit-bench-report")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evalkit", "report", "--demo", "--people",
                    str(args.people), "--out", str(out), "--quiet"], check=True)
    total = time.perf_counter() - t0
    steps = json.loads((out / "build.json").read_text())["seconds"]

    # Floor: the same book, every code cell replaced by `pass`.
    floor_book = out / "floor-book"
    shutil.copytree(out / "book", floor_book, ignore=shutil.ignore_patterns("_build"))
    for md in floor_book.glob("*.md"):
        text = md.read_text()
        md.write_text(re.sub(r"```\{code-cell\} ipython3\n.*?```",
                             "```{code-cell} ipython3\npass\n```", text, flags=re.S))
    from evalkit.report.build import run_jupyter_book

    t1 = time.perf_counter()
    run_jupyter_book(floor_book, progress=False, log_file=out / "floor.log")
    floor = time.perf_counter() - t1

    print(f"Demo report, {args.people:,} people (target under {TARGET_S:.0f} s)")
    print(f"  whole command (incl. generating the place): {total:7.1f} s")
    for k, v in steps.items():
        print(f"    {k:<16} {v:7.1f} s")
    print(f"  peer/floor: Jupyter Book building the same book with empty cells: {floor:.1f} s")
    print(f"  ratio evalkit book step / floor: {steps['book'] / floor:.2f}")
    print(f"  {'PASS' if total < TARGET_S else 'FAIL'}: {total:.0f} s vs target {TARGET_S:.0f} s")


if __name__ == "__main__":
    main()
