"""Planted effects: every design recovers the truth the naive comparison misses.

One confounded dataset (tests/_matching_dgp.py, seed 0, n = 3,000). Each
method's 95% CI should cover the planted effect (a 95% event per method; the
seed is fixed, so the test is deterministic), while the naive difference is
biased by about 1.0 (eight standard errors) and its CI does not.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from _matching_dgp import COVARIATES, NUMERIC, RATE_RATIO, TAU, people

from evalkit.evaluate.comparison import ComparisonResult, DifferenceInMeans, MatchedDiD
from evalkit.evaluate.matching import CoarsenedExactMatching, NearestNeighbourMatching
from evalkit.evaluate.result import EffectResult, EffectResults
from evalkit.evaluate.sensitivity import placebo_test
from evalkit.evaluate.weighting import EntropyBalancing, InverseProbabilityWeighting

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return people(n=3000, seed=0)


DESIGNS = {
    "ipw": lambda: InverseProbabilityWeighting(covariates=COVARIATES),
    "ipw_dr": lambda: InverseProbabilityWeighting(covariates=COVARIATES, method="regression"),
    "ipw_ate": lambda: InverseProbabilityWeighting(covariates=COVARIATES, estimand="ATE"),
    "entropy": lambda: EntropyBalancing(covariates=COVARIATES),
    "entropy_ate_dr": lambda: EntropyBalancing(covariates=COVARIATES, estimand="ATE",
                                               method="regression"),
    "nn_caliper": lambda: NearestNeighbourMatching(covariates=COVARIATES),
    "nn_1to3_replace": lambda: NearestNeighbourMatching(covariates=COVARIATES, k=3,
                                                        replace=True),
    "nn_bias_corrected": lambda: NearestNeighbourMatching(covariates=COVARIATES,
                                                          method="regression"),
    "nn_exact_area": lambda: NearestNeighbourMatching(covariates=NUMERIC, exact=["area_type"]),
    "mahalanobis": lambda: NearestNeighbourMatching(covariates=COVARIATES,
                                                    distance="mahalanobis"),
    "cem": lambda: CoarsenedExactMatching(covariates=COVARIATES),
    "cem_regression": lambda: CoarsenedExactMatching(covariates=COVARIATES,
                                                     method="regression"),
}


def test_naive_comparison_misses_the_truth(df):
    r = DifferenceInMeans(outcome="y", covariates=COVARIATES).fit(df)
    assert not (r.ci_lower <= TAU <= r.ci_upper)
    assert r.estimate - TAU > 0.5
    # unadjusted balance is reported and flagged
    assert r.balance.max_abs_smd_before > 0.3
    assert any("balance is poor" in w for w in r.warnings)


@pytest.mark.parametrize("name", list(DESIGNS))
def test_each_design_covers_the_planted_effect(df, name):
    r = DESIGNS[name]().fit(df, outcome="y")
    assert isinstance(r, ComparisonResult) and isinstance(r, EffectResult)
    assert r.ci_lower <= TAU <= r.ci_upper, (name, r)
    assert abs(r.estimate - TAU) < 0.45
    assert r.balance.max_abs_smd_after < r.balance.max_abs_smd_before
    assert r.se > 0 and 0 <= r.pvalue < 0.001
    assert r.tables["sensitivity"].loc[0, "e_value"] > 1


def test_weighting_balances_every_covariate(df):
    for name in ("ipw", "entropy"):
        r = DESIGNS[name]().fit(df, outcome="y")
        assert (r.balance.table["smd_after"].abs() < 0.1).all(), name
        assert not any("balance is poor" in w for w in r.warnings)


def test_count_outcome_rate_ratio(df):
    for method, model in (("difference", "poisson"), ("regression", "poisson"),
                          ("regression", "negbin")):
        r = InverseProbabilityWeighting(covariates=COVARIATES, outcome="events",
                                        outcome_type="count", exposure="years",
                                        method=method, count_model=model).fit(df)
        rr = r.tables["rate_ratio"].iloc[0]
        assert rr.ci_lower < RATE_RATIO < rr.ci_upper, (method, model, rr)
        assert r.estimate < 0 and r.unit == "events per person-year"
        assert r.tables["sensitivity"].loc[0, "scale"] == "rate ratio"
        if model == "negbin":
            # the frailty has variance 0.5, so NB2's alpha is about 0.5
            assert 0.3 < r.diagnostics["nb_alpha"] < 0.8
    naive = DifferenceInMeans(outcome="events", outcome_type="count",
                              exposure="years").fit(df)
    rr = naive.tables["rate_ratio"].iloc[0]
    assert not (rr.ci_lower < RATE_RATIO < rr.ci_upper)


def test_count_outcome_with_matching_uses_clustered_sandwich(df):
    r = NearestNeighbourMatching(covariates=COVARIATES, outcome="events",
                                 outcome_type="count", exposure="years").fit(df)
    rr = r.tables["rate_ratio"].iloc[0]
    assert rr.ci_lower < RATE_RATIO < rr.ci_upper
    assert "clustered on matched sets" in r.diagnostics["se_method"]


def test_matched_did_removes_unobserved_fixed_differences():
    data = people(n=3000, seed=1, unobserved=0.8)
    design = NearestNeighbourMatching(covariates=COVARIATES)
    cross = design.fit(data, outcome="y_post")
    assert not (cross.ci_lower <= TAU <= cross.ci_upper)   # biased by the unobserved u
    did = MatchedDiD(design, pre=["y_pre"], post=["y_post"]).fit(data)
    assert did.ci_lower <= TAU <= did.ci_upper
    assert did.design == "matched_did"
    tab = did.tables["did"]
    assert tab.loc["difference", "change"] == pytest.approx(did.estimate, rel=1e-10)
    assert tab.loc["difference", "pre"] == pytest.approx(did.diagnostics[
        "pre_period_difference"])
    ax = did.plot(kind="did")
    assert ax.get_title() and ax.get_xlabel() == "Period"


def test_matched_did_from_long_outcomes_panel():
    data = people(n=1500, seed=2, unobserved=0.8)
    rows = []
    for per, col in (("2023-01-01", "y_pre"), ("2023-07-01", "y_pre"),
                     ("2024-01-01", "y_post"), ("2024-07-01", "y_post")):
        rows.append(pd.DataFrame({"person_id": data.person_id, "period": per,
                                  "measure": "ae", "value": data[col]}))
    panel = pd.concat(rows, ignore_index=True)
    design = EntropyBalancing(covariates=COVARIATES)
    long = MatchedDiD(design, measure="ae", start="2024-01-01").fit(data, outcomes=panel)
    wide = MatchedDiD(design, pre=["y_pre"], post=["y_post"]).fit(data)
    assert long.estimate == pytest.approx(wide.estimate, rel=1e-9)
    assert list(long.tables["periods"]["window"]) == ["pre", "pre", "post", "post"]
    # a missing person-period is an error unless fill= says what it means
    short = panel.iloc[1:]
    from evalkit.errors import InputError

    with pytest.raises(InputError, match="fill=0"):
        MatchedDiD(design, measure="ae", start="2024-01-01").fit(data, outcomes=short)
    filled = MatchedDiD(design, measure="ae", start="2024-01-01", fill=0).fit(
        data, outcomes=short)
    assert filled.diagnostics["person_periods_filled"] == 1


def test_placebo_outcome_passes_and_flags(df):
    design = InverseProbabilityWeighting(covariates=COVARIATES)
    r = design.fit(df, outcome="y", placebo=["placebo"])
    assert bool(r.tables["placebo"].loc["placebo", "passes"])
    assert not any("Placebo" in w for w in r.warnings)
    tab = placebo_test(design, df, "placebo")
    assert bool(tab.loc[0, "passes"])
    # the naive comparison fails the placebo check: residual confounding
    naive = DifferenceInMeans().fit(df, outcome="y", placebo="placebo")
    assert not bool(naive.tables["placebo"].loc["placebo", "passes"])
    assert any("Placebo" in w for w in naive.warnings)


def test_bootstrap_of_the_whole_pipeline(df, capsys):
    r = NearestNeighbourMatching(covariates=COVARIATES, se="bootstrap", n_boot=60,
                                 seed=3, progress=True).fit(df, outcome="y")
    assert r.draws is not None and len(r.draws) == 60
    assert r.ci_lower <= TAU <= r.ci_upper
    assert r.se == pytest.approx(np.std(r.draws, ddof=1))
    err = capsys.readouterr().err
    assert "Bootstrap" in err                      # tqdm progress bar on stderr
    again = NearestNeighbourMatching(covariates=COVARIATES, se="bootstrap", n_boot=60,
                                     seed=3, progress=False).fit(df, outcome="y")
    np.testing.assert_array_equal(r.draws, again.draws)   # same seed, same draws


def test_bootstrap_se_agrees_with_sandwich_for_ipw(df):
    small = df.iloc[:1500]
    a = InverseProbabilityWeighting(covariates=COVARIATES).fit(small, outcome="y")
    b = InverseProbabilityWeighting(covariates=COVARIATES, se="bootstrap", n_boot=150,
                                    progress=False).fit(small, outcome="y")
    # 150 draws: the bootstrap SE has Monte Carlo error of about 6%
    assert b.se == pytest.approx(a.se, rel=0.25)


def test_several_outcomes_give_effect_results(df):
    res = EntropyBalancing(covariates=COVARIATES).fit(df, outcome=["y", "placebo"])
    assert isinstance(res, EffectResults) and len(res) == 2
    frame = res.to_frame()
    assert list(frame.outcome) == ["y", "placebo"]


def test_result_views(df):
    r = NearestNeighbourMatching(covariates=COVARIATES, outcome="y").fit(df)
    text = str(r.summary())
    assert "balance" in text and "e_value" in text
    assert "<table" in r._repr_html_()
    assert "ATT of y" in repr(r)
    row = r.to_frame()
    assert row.loc[0, "design"] == "matching" and row.loc[0, "estimand"] == "ATT"
    for kind in ("love", "overlap", "estimate"):
        ax = r.plot(kind=kind)
        assert ax.get_title() and ax.get_xlabel()
    m = r.tables["matches"]
    assert len(m) == r.n_treated and m["comparison_id"].is_unique
    w = r.weights
    assert (w.loc[w.treated == 1, "weight"].isin([0.0, 1.0])).all()
    assert w.loc[w.treated == 0, "weight"].sum() == pytest.approx(r.n_treated)


def test_design_balance_before_outcomes(df):
    b = EntropyBalancing(covariates=COVARIATES).balance(df)
    assert b.max_abs_smd_after < 1e-6 and b.weights is not None
    ax = b.plot()
    assert ax.get_xlabel().startswith("Absolute standardised mean difference")
