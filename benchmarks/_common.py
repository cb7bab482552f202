"""Timing and memory helpers shared by the benchmark scripts (``bench_*.py``).

Run a benchmark as a script from the repository root
(``PYTHONPATH=. python benchmarks/bench_x.py``): the script's folder is on
``sys.path``, so ``from _common import best_of`` finds this file.
"""

from __future__ import annotations

import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

__all__ = ["best_of", "peak_rss_mb", "traced_peak_mb"]


def best_of(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best wall-clock time in seconds over ``repeat`` calls of ``fn``, and its last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def traced_peak_mb(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Peak memory Python allocated (tracemalloc) during one call of ``fn``, in MiB,
    and its result."""
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / 2**20, out
