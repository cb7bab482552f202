"""Shared test configuration.

Module-specific fixtures live in each module's own test file so that work on
different capabilities does not collide here.
"""

import os

# Small linear-algebra problems run faster (and far more predictably on a shared
# 2-core machine) without BLAS threading.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import matplotlib

matplotlib.use("Agg")

os.environ.setdefault("MPLBACKEND", "Agg")

# Keep hypothesis quick and deterministic in CI.
from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
