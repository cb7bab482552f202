"""Bad input gives a clear InputError naming the column and what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _matching_dgp import COVARIATES, people

from evalkit.errors import InputError
from evalkit.evaluate.balance import assess_balance
from evalkit.evaluate.comparison import DifferenceInMeans, MatchedDiD
from evalkit.evaluate.matching import CoarsenedExactMatching, NearestNeighbourMatching
from evalkit.evaluate.propensity import PropensityScore
from evalkit.evaluate.sensitivity import e_value
from evalkit.evaluate.weighting import EntropyBalancing, InverseProbabilityWeighting


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return people(n=400, seed=9)


def ipw(**kw):
    return InverseProbabilityWeighting(covariates=COVARIATES, outcome="y", **kw)


def test_non_binary_treatment(df):
    bad = df.assign(treated=df.treated * 2)
    with pytest.raises(InputError, match=r"'treated' must hold only 0 and 1.*2\.0"):
        ipw().fit(bad)
    with pytest.raises(InputError, match="'treated' must be 0/1.*Recode"):
        ipw().fit(df.assign(treated=np.where(df.treated == 1, "yes", "no")))
    # True/False is fine
    r = ipw().fit(df.assign(treated=df.treated.astype(bool)))
    assert r.n_treated == int(df.treated.sum())


def test_missing_columns(df):
    with pytest.raises(InputError, match="Treatment column 'in_pilot' is not in the data"):
        ipw(treatment="in_pilot").fit(df)
    with pytest.raises(InputError, match=r"Covariate column\(s\) \['income'\] not in the data"):
        InverseProbabilityWeighting(covariates=["prior", "income"], outcome="y").fit(df)
    with pytest.raises(InputError, match="Column 'cost' is not in the data"):
        ipw().fit(df, outcome="cost")
    with pytest.raises(InputError, match="No outcome given"):
        InverseProbabilityWeighting(covariates=COVARIATES).fit(df)
    with pytest.raises(InputError, match="No covariates given"):
        InverseProbabilityWeighting(outcome="y").fit(df)


def test_missing_covariate_values(df):
    bad = df.copy()
    bad.loc[bad.index[[3, 8]], "prior"] = np.nan
    with pytest.raises(InputError, match=r"Covariate column 'prior' has 2 missing value.*"
                                         r"missing='drop'"):
        ipw().fit(bad)
    r = ipw(missing="drop").fit(bad)
    assert list(r.excluded.reason) == ["missing value in 'prior'"] * 2
    assert r.n_treated + r.n_control == len(df) - 2
    with pytest.raises(InputError, match="Treatment column 'treated' has 1 missing"):
        ipw().fit(df.assign(treated=df.treated.where(df.index != 5)))


def test_no_treated_or_no_comparison(df):
    with pytest.raises(InputError, match="No treated people.*coded 1"):
        ipw().fit(df.assign(treated=0))
    with pytest.raises(InputError, match="No comparison people"):
        ipw().fit(df.assign(treated=1))
    with pytest.raises(InputError, match="one row per person"):
        ipw().fit(df.iloc[:0])


def test_perfect_separation(df):
    sep = df.assign(flag=df.treated)
    with pytest.raises(InputError, match=r"Perfect separation.*flag \(treated and comparison "
                                         "ranges do not overlap\\)"):
        InverseProbabilityWeighting(covariates=["prior", "flag"], outcome="y").fit(sep)
    quasi = df.assign(other=np.where(df.treated == 1, "A", np.where(df.index % 3, "A", "B")))
    with pytest.raises(InputError, match=r"C\(other\)\[T.B\] = 1 occurs only among "
                                         "comparison people"):
        PropensityScore(formula="treated ~ prior + C(other)").fit(quasi)


def test_collinear_and_constant_covariates(df):
    with pytest.raises(InputError, match="collinear"):
        PropensityScore(covariates=["prior", "prior2"]).fit(df.assign(prior2=2 * df.prior))
    with pytest.raises(InputError, match=r"\['const'\] take a single value"):
        PropensityScore(covariates=["prior", "const"]).fit(df.assign(const=1.0))


def test_no_matches_within_caliper():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, 50), rng.normal(3.3, 1, 200)]
    d = np.r_[np.zeros(50, int), np.ones(200, int)]
    df = pd.DataFrame({"x": x, "treated": d, "y": x})
    df.loc[df.index[:50], "area"] = "north"
    df.loc[df.index[50:], "area"] = "south"
    with pytest.raises(InputError, match="No pilot participant could be matched.*"
                                         "exact-matching"):
        NearestNeighbourMatching(covariates=["x"], exact=["area"], outcome="y").fit(df)
    # with caliper, some are matched and the rest are listed
    r = NearestNeighbourMatching(covariates=["x"], outcome="y").fit(df)
    assert r.n_treated < 200 and (r.excluded.stage == "matching").sum() == 200 - r.n_treated


def test_design_options_are_checked():
    with pytest.raises(InputError, match="estimates the ATT"):
        NearestNeighbourMatching(covariates=COVARIATES, estimand="ATE")
    with pytest.raises(InputError, match="k .* positive integer"):
        NearestNeighbourMatching(covariates=COVARIATES, k=0)
    with pytest.raises(InputError, match="caliper must be a positive number"):
        NearestNeighbourMatching(covariates=COVARIATES, caliper=-1)
    with pytest.raises(InputError, match="distance must be one of"):
        NearestNeighbourMatching(covariates=COVARIATES, distance="euclid")
    with pytest.raises(InputError, match="method must be one of"):
        InverseProbabilityWeighting(covariates=COVARIATES, method="aipw")
    with pytest.raises(InputError, match="se must be one of"):
        InverseProbabilityWeighting(covariates=COVARIATES, se="abadie-imbens")
    with pytest.raises(InputError, match="estimand must be 'ATT' or 'ATE'"):
        InverseProbabilityWeighting(covariates=COVARIATES, estimand="ATC")
    with pytest.raises(InputError, match="exposure= is for count outcomes"):
        InverseProbabilityWeighting(covariates=COVARIATES, exposure="years")
    with pytest.raises(InputError, match="moments must be 1"):
        EntropyBalancing(covariates=COVARIATES, moments=3)
    with pytest.raises(InputError, match="not both"):
        PropensityScore(covariates=["a"], formula="treated ~ a").fit(pd.DataFrame(
            {"a": [1, 2], "treated": [0, 1]}))
    with pytest.raises(InputError, match="rather than a formula"):
        CoarsenedExactMatching(formula="treated ~ prior")
    with pytest.raises(InputError, match="trim must be"):
        PropensityScore(covariates=["prior"], trim="crump").fit(people(100, 1))


def test_count_outcome_checks(df):
    kw = dict(covariates=COVARIATES, outcome_type="count", exposure="years")
    with pytest.raises(InputError, match="negative values"):
        InverseProbabilityWeighting(**kw).fit(df.assign(events=-df.events - 1), "events")
    with pytest.raises(InputError, match="'years' must be positive"):
        InverseProbabilityWeighting(**kw).fit(df.assign(years=0.0), "events")


def test_entropy_balancing_infeasible(df):
    bad = df.assign(score=np.where(df.treated == 1, 10.0, 0.0) + 0.01 * df.prior)
    bad.loc[bad.index[bad.treated == 0][:3], "score"] = 0.5 + bad.prior[:3] * 0
    with pytest.raises(InputError, match=r"Entropy balancing did not converge.*\['score'\] "
                                         "lies outside the comparison group's range"):
        EntropyBalancing(covariates=["prior", "score"], outcome="y").fit(bad)


def test_misc_errors(df):
    with pytest.raises(InputError, match="needs sd="):
        e_value(1.0, scale="difference")
    with pytest.raises(InputError, match="must be positive"):
        e_value(-0.5)
    with pytest.raises(InputError, match="pre=\\[...\\] and post"):
        MatchedDiD(InverseProbabilityWeighting(covariates=COVARIATES)).fit(df)
    r = DifferenceInMeans(outcome="y").fit(df)
    with pytest.raises(InputError, match="kind='did' is only available"):
        r.plot(kind="did")
    with pytest.raises(InputError, match="no table 'matches'"):
        r.to_frame("matches")
    with pytest.raises(InputError, match="did not fit a propensity score"):
        r.plot(kind="overlap")
    with pytest.raises(InputError, match="weights has 3 values"):
        assess_balance(df, covariates=["prior"], weights=np.ones(3))
