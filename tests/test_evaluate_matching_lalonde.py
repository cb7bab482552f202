"""Published LaLonde / Dehejia-Wahba results reproduced.

Data: tests/data/lalonde (see SOURCE.md there). NSW treated (185) vs the
experimental controls (260), and vs the CPS-1 comparison group (15,992).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.evaluate.comparison import DifferenceInMeans
from evalkit.evaluate.matching import NearestNeighbourMatching
from evalkit.evaluate.propensity import PropensityScore
from evalkit.evaluate.weighting import EntropyBalancing, InverseProbabilityWeighting

DATA = Path(__file__).parent / "data" / "lalonde"
EXPERIMENTAL = 1794.34  # Dehejia & Wahba (1999): 6,349.14 - 4,554.80
DW_FORMULA = ("treat ~ age + I(age**2) + I(age**3) + educ + I(educ**2) + marr + nodegree"
              " + black + hisp + re74 + re75 + u74 + u75 + educ:re74")


@pytest.fixture(scope="module")
def nsw() -> pd.DataFrame:
    return pd.read_csv(DATA / "nsw_mixtape.csv")


@pytest.fixture(scope="module")
def cps(nsw) -> pd.DataFrame:
    cps = pd.read_csv(DATA / "cps_mixtape.csv")
    df = pd.concat([nsw[nsw.treat == 1], cps], ignore_index=True)
    df["u74"] = (df.re74 == 0).astype(int)
    df["u75"] = (df.re75 == 0).astype(int)
    return df


def test_data_is_the_published_sample(nsw, cps):
    assert (nsw.treat == 1).sum() == 185 and (nsw.treat == 0).sum() == 260
    assert len(cps) == 185 + 15992


def test_experimental_difference_reproduced_exactly(nsw):
    r = DifferenceInMeans(treatment="treat", outcome="re78").fit(nsw)
    # the published figure is the difference of the two rounded group means
    assert round(r.diagnostics["mean_treated"], 2) == 6349.14
    assert round(r.diagnostics["mean_counterfactual"], 2) == 4554.80
    assert round(r.estimate, 2) == EXPERIMENTAL
    assert (r.n_treated, r.n_control) == (185, 260)
    # Welch test agrees with scipy
    from scipy import stats

    t = stats.ttest_ind(nsw.re78[nsw.treat == 1], nsw.re78[nsw.treat == 0], equal_var=False)
    assert r.pvalue == pytest.approx(t.pvalue, rel=1e-8)


def test_propensity_model_matches_statsmodels(cps):
    import statsmodels.formula.api as smf

    ps = PropensityScore(treatment="treat", formula=DW_FORMULA).fit(cps)
    sm_fit = smf.logit(DW_FORMULA, cps).fit(disp=0, maxiter=200)
    ours = ps.coefficients["coef"].to_numpy()
    theirs = sm_fit.params.to_numpy()
    # same MLE: agreement to solver tolerance (scaled by each coefficient's SE)
    assert np.max(np.abs(ours - theirs) / sm_fit.bse.to_numpy()) < 1e-4
    np.testing.assert_allclose(ps.coefficients["se"], sm_fit.bse, rtol=1e-4)
    assert ps.model.llf == pytest.approx(sm_fit.llf, rel=1e-9)


def test_ipw_att_odds_weights_dw_specification(cps):
    r = InverseProbabilityWeighting(treatment="treat", formula=DW_FORMULA,
                                    outcome="re78").fit(cps)
    # "about $1,782 (statsmodels logit, standard odds weights, no trimming)"
    assert abs(r.estimate - 1782) < 50
    assert r.estimand == "ATT" and r.n_treated == 185 and r.n_control == 15992
    bal = r.balance.table
    assert (bal["smd_after"].abs() < 0.1).all()
    assert (bal["smd_before"].abs() > 0.5).sum() >= 8   # CPS-1 is very unlike NSW
    assert not any("balance is poor" in w for w in r.warnings)
    assert 30 < r.diagnostics["ess_comparison"] < 200
    assert 0 < r.se < 2000


def test_entropy_balancing_within_600_of_experiment(cps):
    r = EntropyBalancing(treatment="treat", formula=DW_FORMULA, outcome="re78").fit(cps)
    assert abs(r.estimate - EXPERIMENTAL) < 600
    # exact mean balance on every term of the specification
    assert (r.balance.table["smd_after"].abs() < 1e-6).all()
    assert r.ci_lower < EXPERIMENTAL < r.ci_upper


def test_caliper_matching_within_600_of_experiment(cps):
    # 1:4 nearest-neighbour matching with replacement on the logit score within
    # 0.2 SD (Abadie et al. 2004 suggest four matches; Austin 2011 the caliper)
    r = NearestNeighbourMatching(treatment="treat", formula=DW_FORMULA, outcome="re78",
                                 k=4, replace=True, caliper=0.2).fit(cps)
    assert abs(r.estimate - EXPERIMENTAL) < 600
    assert r.n_treated == 185
    assert r.ci_lower < EXPERIMENTAL < r.ci_upper
    # Mahalanobis matching within propensity-score calipers (Rosenbaum & Rubin 1985)
    m = NearestNeighbourMatching(treatment="treat", formula=DW_FORMULA, outcome="re78",
                                 distance="mahalanobis", caliper=0.2).fit(cps)
    assert abs(m.estimate - EXPERIMENTAL) < 600


def test_greedy_one_to_one_reports_who_was_dropped(cps):
    r = NearestNeighbourMatching(treatment="treat", formula=DW_FORMULA,
                                 outcome="re78").fit(cps)
    ex = r.excluded
    n_out = int((ex.group == "treated").sum())
    assert n_out > 0 and r.n_treated + n_out == 185
    assert ex.reason.str.contains("caliper").all()
    counts = r.tables["exclusions"]
    assert int(counts["treated"].sum()) == n_out
    assert any("left out" in w for w in r.warnings)


def test_weighting_balance_reported_for_all_terms(cps):
    r = InverseProbabilityWeighting(treatment="treat", formula=DW_FORMULA,
                                    outcome="re78").fit(cps)
    assert list(r.balance.table.index) == [
        "age", "I(age ** 2)", "I(age ** 3)", "educ", "I(educ ** 2)", "marr", "nodegree",
        "black", "hisp", "re74", "re75", "u74", "u75", "educ:re74"]
    assert r.tables["sensitivity"].loc[0, "e_value"] > 1
