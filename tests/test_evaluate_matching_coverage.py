"""Coverage of the 95% confidence intervals over 200 simulated datasets.

Slow (several minutes): ``pytest -m slow tests/test_evaluate_matching_coverage.py``,
or run this file as a script to print the table::

    PYTHONPATH=. python tests/test_evaluate_matching_coverage.py [n_datasets]

Each dataset is the confounded DGP of ``tests/_matching_dgp.py`` (n = 1,500;
planted constant effect, so the ATT among matched participants equals the
ATT and the ATE). The naive difference is included for contrast (its
coverage is near 0). With 200 datasets a true 95% coverage is estimated with
a standard error of 1.5 points.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import pytest
from _matching_dgp import COVARIATES, RATE_RATIO, TAU, people

from evalkit.evaluate.comparison import DifferenceInMeans, MatchedDiD
from evalkit.evaluate.matching import (
    CoarsenedExactMatching,
    NearestNeighbourMatching,
)
from evalkit.evaluate.weighting import (
    EntropyBalancing,
    InverseProbabilityWeighting,
)

N_PEOPLE = 1500


def _designs():
    c = COVARIATES
    return {
        "IPW (ATT)": (InverseProbabilityWeighting(covariates=c), "y"),
        "IPW + regression (ATT, doubly robust)": (
            InverseProbabilityWeighting(covariates=c, method="regression"), "y"),
        "IPW (ATE)": (InverseProbabilityWeighting(covariates=c, estimand="ATE"), "y"),
        "Entropy balancing (ATT)": (EntropyBalancing(covariates=c), "y"),
        "Entropy balancing + regression (ATE)": (
            EntropyBalancing(covariates=c, estimand="ATE", method="regression"), "y"),
        "NN 1:1 caliper 0.2, no replacement": (NearestNeighbourMatching(covariates=c), "y"),
        "NN 1:4 with replacement": (
            NearestNeighbourMatching(covariates=c, k=4, replace=True), "y"),
        "NN 1:1 bias-corrected": (
            NearestNeighbourMatching(covariates=c, method="regression"), "y"),
        "Mahalanobis within PS caliper": (
            NearestNeighbourMatching(covariates=c, distance="mahalanobis"), "y"),
        "Coarsened exact matching": (CoarsenedExactMatching(covariates=c), "y"),
        "CEM + regression": (CoarsenedExactMatching(covariates=c, method="regression"), "y"),
        "IPW, count rate ratio": (
            InverseProbabilityWeighting(covariates=c, outcome_type="count", exposure="years"),
            "events"),
        "NN matched DiD": (MatchedDiD(NearestNeighbourMatching(covariates=c),
                                      pre=["y_pre"], post=["y_post"]), None),
        "Naive difference (contrast)": (DifferenceInMeans(), "y"),
    }


def coverage(n_datasets: int = 200, progress: bool = False) -> pd.DataFrame:
    """Run the simulation and return one row per method."""
    designs = _designs()
    hits = {k: [] for k in designs}
    est = {k: [] for k in designs}
    for s in range(n_datasets):
        df = people(n=N_PEOPLE, seed=1000 + s, unobserved=0.0)
        did_df = people(n=N_PEOPLE, seed=5000 + s, unobserved=0.8)
        for name, (design, outcome) in designs.items():
            if outcome is None:
                r = design.fit(did_df)
                lo, hi, e, truth = r.ci_lower, r.ci_upper, r.estimate, TAU
            elif outcome == "events":
                r = design.fit(df, outcome=outcome)
                rr = r.tables["rate_ratio"].iloc[0]
                lo, hi, e, truth = rr.ci_lower, rr.ci_upper, rr.rate_ratio, RATE_RATIO
            else:
                r = design.fit(df, outcome=outcome)
                lo, hi, e, truth = r.ci_lower, r.ci_upper, r.estimate, TAU
            hits[name].append(lo <= truth <= hi)
            est[name].append(e - truth)
        if progress and (s + 1) % 20 == 0:
            print(f"  {s + 1} datasets", file=sys.stderr)
    return pd.DataFrame({
        "coverage": {k: float(np.mean(v)) for k, v in hits.items()},
        "mean_error": {k: float(np.mean(v)) for k, v in est.items()},
        "sd_estimate": {k: float(np.std(v)) for k, v in est.items()},
    })


@pytest.mark.slow
def test_coverage_of_95_percent_intervals():
    tab = coverage(200)
    naive = tab.loc["Naive difference (contrast)", "coverage"]
    assert naive < 0.2
    methods = tab.drop(index="Naive difference (contrast)")
    bad = methods[(methods.coverage < 0.90) | (methods.coverage > 0.98)]
    assert bad.empty, bad


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    t0 = time.perf_counter()
    table = coverage(n, progress=True)
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        print(table)
    print(f"{n} datasets of {N_PEOPLE} people in {time.perf_counter() - t0:.0f} s")
