"""Hand-worked numbers and properties of the comparison-group building blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _matching_dgp import COVARIATES, NUMERIC, people
from hypothesis import given
from hypothesis import strategies as st

from evalkit.evaluate.balance import (
    Balance,
    assess_balance,
    balance_table,
    effective_sample_size,
)
from evalkit.evaluate.comparison import (
    DifferenceInMeans,
    outcome_model,
    sandwich_covariance,
    stacked_inference,
)
from evalkit.evaluate.matching import (
    CoarsenedExactMatching,
    NearestNeighbourMatching,
    coarsen,
    match_1d,
)
from evalkit.evaluate.propensity import PropensityScore
from evalkit.evaluate.sensitivity import e_value
from evalkit.evaluate.weighting import (
    EntropyBalancing,
    InverseProbabilityWeighting,
    entropy_weights,
)


# ------------------------------------------------------------------ matching
def test_match_1d_greedy_and_caliper():
    t = np.array([0.50, 0.45, 0.90])          # processed in this order
    c = np.array([0.10, 0.46, 0.52, 0.60])
    ti, ci, rnd, dist = match_1d(t, c)
    assert dict(zip(ti.tolist(), ci.tolist())) == {0: 2, 1: 1, 2: 3}
    np.testing.assert_allclose(dist, [0.02, 0.01, 0.30])
    ti, ci, _, _ = match_1d(t, c, caliper=0.1)
    assert ti.tolist() == [0, 1]              # 0.90 has nothing within 0.1
    ti, ci, rnd, _ = match_1d(t, c, k=2)      # rounds: 0.50->0.52, 0.45->0.46, 0.90->0.60,
    assert sorted(zip(ti.tolist(), rnd.tolist(), ci.tolist())) == [
        (0, 0, 2), (0, 1, 0), (1, 0, 1), (2, 0, 3)]   # then 0.50->0.10 (only one left)


def _brute_greedy(t, c, k, caliper):
    used = np.zeros(len(c), bool)
    out = []
    active = list(range(len(t)))
    for r in range(k):
        still = []
        for i in active:
            dist = np.where(used, np.inf, np.abs(c - t[i]))
            j = int(np.argmin(dist))
            if np.isfinite(dist[j]) and dist[j] <= caliper:
                used[j] = True
                out.append((i, j, r))
                still.append(i)
        active = still
    return sorted(out)


@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=12, unique=True),
       st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=25, unique=True),
       st.integers(1, 3), st.sampled_from([np.inf, 0.5, 0.1]))
def test_match_1d_equals_brute_force(t, c, k, caliper):
    t, c = np.array(t), np.array(c)
    # distinct distances so that ties cannot make both answers right
    ti, ci, rnd, _ = match_1d(t, c, k=k, caliper=caliper)
    ours = sorted(zip(ti.tolist(), ci.tolist(), rnd.tolist()))
    d = np.abs(t[:, None] - c[None, :])
    if len(np.unique(d)) < d.size:
        return
    assert ours == _brute_greedy(t, c, k, caliper)
    # with replacement: each treated gets its k nearest within the caliper
    ti, ci, _, _ = match_1d(t, c, k=k, replace=True, caliper=caliper)
    for i in range(len(t)):
        near = [j for j in np.argsort(d[i])[:k] if d[i, j] <= caliper]
        assert sorted(ci[ti == i].tolist()) == sorted(near)


def _tiny():
    return pd.DataFrame({"treated": [1, 1, 0, 0, 0, 0],
                         "x": [0, 10, 0.1, 0.2, 10.1, 20],
                         "y": [5.0, 9, 1, 2, 4, 100]})


def test_abadie_imbens_variance_by_hand():
    df = _tiny()
    one = NearestNeighbourMatching(covariates=["x"], distance="mahalanobis", caliper=None,
                                   replace=True, outcome="y").fit(df)
    # pairs (5 - 1) and (9 - 4): tau = 4.5, V = ((-.5)^2 + .5^2) / 2^2
    assert one.estimate == pytest.approx(4.5)
    assert one.se == pytest.approx(np.sqrt(0.125))
    two = NearestNeighbourMatching(covariates=["x"], distance="mahalanobis", caliper=None,
                                   replace=True, k=2, outcome="y").fit(df)
    # tau_i = 5 - 1.5 and 9 - (4 + 2)/2; the person at x = 0.2 is used twice:
    # K(K-1)/M^2 = 1/2 times sigma^2 = 2/3 * (2 - (1 + 4)/2)^2 = 1/6
    assert two.estimate == pytest.approx(4.75)
    assert two.se == pytest.approx(np.sqrt((2 * 1.25 ** 2 + 0.5 / 6) / 4))
    assert two.diagnostics["max_times_used"] == 2
    w = two.weights.set_index(df.x)["weight"]
    assert w.to_dict() == {0: 1, 10: 1, 0.1: 0.5, 0.2: 1.0, 10.1: 0.5, 20: 0}


def test_exact_matching_respects_groups():
    df = people(n=800, seed=5)
    r = NearestNeighbourMatching(covariates=NUMERIC, exact=["area_type"], outcome="y").fit(df)
    m = r.tables["matches"]
    area = df.set_index("person_id")["area_type"]
    assert (area[m.treated_id].to_numpy() == area[m.comparison_id].to_numpy()).all()


# ----------------------------------------------------------------- weighting
def _strata_df():
    # x=0: treated y 1, 3; comparison 0, 1, 2, 1.  x=1: treated 6, 8; comparison 2, 4.
    return pd.DataFrame({"treated": [1, 1, 0, 0, 0, 0, 1, 1, 0, 0],
                         "x": [0, 0, 0, 0, 0, 0, 1, 1, 1, 1],
                         "y": [1.0, 3, 0, 1, 2, 1, 6, 8, 2, 4]})


@pytest.mark.parametrize("design", [InverseProbabilityWeighting, EntropyBalancing,
                                    CoarsenedExactMatching])
def test_att_by_hand_with_one_binary_covariate(design):
    # ATT = (2 * (2 - 1) + 2 * (7 - 3)) / 4 = 2.5 (the naive difference is 2.83)
    r = design(covariates=["x"], outcome="y").fit(_strata_df())
    assert r.estimate == pytest.approx(2.5, abs=1e-7)
    assert abs(r.balance.table.loc["x", "smd_after"]) < 1e-6


def test_cem_weights_by_hand():
    r = CoarsenedExactMatching(covariates=["x"], outcome="y").fit(_strata_df())
    w = r.weights["weight"].to_numpy()
    # comparison weights (m_C / m_T) * (n_T,s / n_C,s): 6/4 * 2/4 and 6/4 * 2/2
    np.testing.assert_allclose(w, [1, 1, .75, .75, .75, .75, 1, 1, 1.5, 1.5])


def test_ipw_ate_by_hand():
    df = _strata_df()
    r = InverseProbabilityWeighting(covariates=["x"], outcome="y", estimand="ATE").fit(df)
    # stratum effects 1 and 4 weighted by stratum size 6 and 4
    assert r.estimate == pytest.approx((6 * 1 + 4 * 4) / 10)


@given(st.integers(0, 10_000))
def test_entropy_weights_hit_any_target_inside_the_hull(seed):
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(40, 3))
    target = C[rng.choice(40, 12, replace=False)].mean(axis=0)
    w, _, _ = entropy_weights(C, target)
    assert w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w @ C, target, atol=1e-6)
    assert (w > 0).all()


def test_entropy_balancing_second_moments():
    df = people(n=1500, seed=4)
    r = EntropyBalancing(covariates=NUMERIC, moments=2, outcome="y").fit(df)
    t = df.treated == 1
    w = r.weights["weight"].to_numpy()
    for c in ("prior", "age_std"):
        x = df[c].to_numpy()
        m1, v1 = x[t].mean(), x[t].var()
        m0 = np.average(x[~t], weights=w[~t])
        v0 = np.average((x[~t] - m0) ** 2, weights=w[~t])
        assert m0 == pytest.approx(m1, abs=1e-6) and v0 == pytest.approx(v1, rel=1e-5)


# --------------------------------------------------------------- inference
def test_fixed_weight_sandwich_is_the_closed_form():
    rng = np.random.default_rng(0)
    y, d, w = rng.normal(size=50), rng.integers(0, 2, 50), rng.uniform(0.2, 3, 50)
    w[d == 1] = 1
    om = outcome_model(y, d, w)
    out = stacked_inference(om, w)
    t = d == 1
    m1, m0 = y[t].mean(), np.average(y[~t], weights=w[~t])
    var = np.sum((y[t] - m1) ** 2) / t.sum() ** 2 + \
        np.sum(w[~t] ** 2 * (y[~t] - m0) ** 2) / w[~t].sum() ** 2
    assert out["estimate"] == pytest.approx(m1 - m0)
    assert out["se"] == pytest.approx(np.sqrt(var), rel=1e-6)


def test_clustered_sandwich_of_a_mean():
    y = np.array([1.0, 2, 3, 4, 10, 12])
    g = np.array([0, 0, 1, 1, 2, 2])
    V = sandwich_covariance(lambda th: (y - th[0])[:, None], np.array([y.mean()]), g)
    s = pd.Series(y - y.mean()).groupby(g).sum()
    assert V[0, 0] == pytest.approx((s ** 2).sum() / 36 * 3 / 2)


def test_ipw_stacked_sandwich_equals_influence_function():
    import statsmodels.api as sm

    df = people(n=1200, seed=7)
    r = InverseProbabilityWeighting(covariates=NUMERIC, outcome="y").fit(df)
    X = sm.add_constant(df[NUMERIC].to_numpy(float))
    D = df.treated.to_numpy(float)
    Y = df.y.to_numpy()
    fit = sm.Logit(D, X).fit(disp=0)
    p = fit.predict(X)
    o = p / (1 - p)
    m1 = Y[D == 1].mean()
    m0 = np.sum((1 - D) * o * Y) / np.sum((1 - D) * o)
    assert r.estimate == pytest.approx(m1 - m0, rel=1e-7)
    n = len(D)
    Iinf = (X * (p * (1 - p))[:, None]).T @ X / n
    if_beta = np.linalg.solve(Iinf, (X * (D - p)[:, None]).T).T
    dpsi0 = ((1 - D) * o * (Y - m0)) @ X / n
    if0 = ((1 - D) * o * (Y - m0) + if_beta @ dpsi0) / np.mean((1 - D) * o)
    if1 = D * (Y - m1) / D.mean()
    se = np.sqrt(np.mean((if1 - if0) ** 2) / n)
    assert r.se == pytest.approx(se, rel=1e-4)


def test_difference_in_means_count_rates():
    df = pd.DataFrame({"treated": [1, 1, 0, 0, 0], "events": [2, 4, 1, 0, 2],
                       "years": [1.0, 2.0, 1.0, 1.0, 2.0]})
    r = DifferenceInMeans(outcome="events", outcome_type="count", exposure="years").fit(df)
    assert r.estimate == pytest.approx(6 / 3 - 3 / 4)
    assert r.tables["rate_ratio"].loc[0, "rate_ratio"] == pytest.approx((6 / 3) / (3 / 4))


# ------------------------------------------------------------------ balance
def test_balance_table_by_hand():
    X = pd.DataFrame({"age": [20.0, 30, 40, 30, 50, 70], "female": [1.0, 0, 1, 0, 0, 1]})
    d = np.array([1, 1, 1, 0, 0, 0])
    tab = balance_table(X, d)
    # age: treated mean 30, SD 10; comparison mean 50 -> SMD -2
    assert tab.loc["age", "smd_before"] == pytest.approx(-2.0)
    assert tab.loc["age", "var_ratio_before"] == pytest.approx(100 / 400)
    assert tab.loc["female", "type"] == "binary" and np.isnan(tab.loc["female",
                                                                       "var_ratio_before"])
    pooled = balance_table(X, d, estimand="ATE")
    assert pooled.loc["age", "smd_before"] == pytest.approx(-20 / np.sqrt((100 + 400) / 2))
    w = np.array([1, 1, 1, 3, 0, 0.0])          # the comparison person aged 30 only
    after = balance_table(X, d, w)
    assert after.loc["age", "smd_after"] == pytest.approx(0.0)
    assert after.loc["age", "smd_before"] == pytest.approx(-2.0)   # same denominator


def test_balance_warning_and_ess():
    X = pd.DataFrame({"a": [0.0, 1, 2, 3, 4, 5, 6, 7]})
    d = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    b = Balance.compute(X, d, np.array([1, 1, 1, 1, 1, 1, 1, 5.0]))
    assert b.imbalanced == ["a"]
    assert "|SMD| > 0.1" in b.warning and "a (" in b.warning
    assert b.ess["comparison"] == pytest.approx(8 ** 2 / 28)
    assert effective_sample_size(np.ones(7)) == 7
    assert "Max |SMD| after" in str(b.summary())


def test_assess_balance_with_weight_column():
    df = pd.DataFrame({"treated": [1, 1, 0, 0], "age": [30, 40, 30, 60], "w": [1, 1, 2, 0]})
    b = assess_balance(df, covariates=["age"], weights="w")
    assert b.table.loc["age", "mean_control_after"] == pytest.approx(30)
    assert b.max_abs_smd_after == pytest.approx(5 / np.std([30, 40], ddof=1))


# ------------------------------------------------------ support & exclusions
def test_trimming_reports_every_person():
    df = people(n=1000, seed=3)
    full = PropensityScore(covariates=COVARIATES).fit(df)
    s, d = full.score, full.d
    lo = max(s[d == 1].min(), s[d == 0].min())
    hi = min(s[d == 1].max(), s[d == 0].max())
    trimmed = PropensityScore(covariates=COVARIATES, trim="minmax").fit(df)
    outside = int(((s < lo) | (s > hi)).sum())
    assert len(trimmed.excluded) == outside > 0
    assert trimmed.n_treated + trimmed.n_control + outside == 1000
    assert trimmed.excluded.reason.str.contains("off common support").all()
    crump = PropensityScore(covariates=COVARIATES, trim=0.1).fit(df)
    assert (crump.score >= 0.1).all() and (crump.score <= 0.9).all()
    assert int(full.support.loc["treated", "n"]) == int(d.sum())


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_everyone_is_accounted_for(seed):
    df = people(n=600, seed=seed)
    df.loc[df.index[:7], "age_std"] = np.nan
    for design in (NearestNeighbourMatching(covariates=COVARIATES, caliper=0.05,
                                            missing="drop", trim="minmax"),
                   CoarsenedExactMatching(covariates=COVARIATES, missing="drop"),
                   InverseProbabilityWeighting(covariates=COVARIATES, missing="drop",
                                               trim=0.05)):
        r = design.fit(df, outcome="y")
        ex = r.excluded
        assert (ex.reason == "missing value in 'age_std'").sum() == 7
        n_t = int((ex.group == "treated").sum())
        assert r.n_treated + n_t == int(df.treated.sum())
        used = set(r.weights.loc[r.weights.weight > 0, "id"])
        assert used.isdisjoint(set(ex.id))


def test_coarsen_rules():
    x = pd.Series([1.0, 2, 3, 10], name="x")
    assert coarsen(x, [0, 5, 20]).tolist() == [0, 0, 0, 1]
    assert coarsen(x, 3).tolist() == [0, 0, 0, 1]   # bins [1,4), [4,7), [7,10]: codes kept dense
    assert coarsen(x, None).tolist() == [0, 1, 2, 3]
    assert coarsen(pd.Series(["a", "b", "a"]), "sturges").tolist() == [0, 1, 0]


# ---------------------------------------------------------------- E-values
def test_e_values_published_examples():
    ev = e_value(3.9, 1.8, 8.7)          # VanderWeele & Ding (2017): 7.26 and 3.0
    assert round(ev.point, 2) == 7.26 and round(ev.ci, 2) == 3.0
    assert e_value(0.5, 0.3, 0.8).point == pytest.approx(2 + np.sqrt(2))
    assert e_value(0.5, 0.3, 1.2).ci == 1.0
    assert e_value(4.0, scale="OR", rare=False).rr == pytest.approx(2.0)
    d = e_value(2.0, 1.0, 3.0, scale="difference", sd=4.0)
    assert d.rr == pytest.approx(np.exp(0.91 * 0.5))
    assert d.rr_lower == pytest.approx(np.exp(0.91 * 0.25))
    assert "risk ratio of at least" in d.interpretation


def test_propensity_score_result_views():
    df = people(n=500, seed=8)
    ps = PropensityScore(covariates=COVARIATES).fit(df)
    text = str(ps.summary())
    assert "Coefficients" in text and "Common support" in text
    # text columns become dummies, first category (alphabetical) as reference
    assert {"area_type[suburban]", "area_type[urban]"} <= set(ps.coefficients.index)
    frame = ps.to_frame()
    assert list(frame.columns) == ["id", "treated", "propensity", "logit_propensity"]
    np.testing.assert_allclose(np.log(frame.propensity / (1 - frame.propensity)),
                               frame.logit_propensity)
    ax = ps.plot()
    assert ax.get_xlabel().startswith("Propensity score")
    assert repr(ps).startswith("<PropensityScoreResult:") and "comparison" in repr(ps)
