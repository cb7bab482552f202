"""Fixed-effects engine, two-way fixed effects and the 2x2 DiD."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from _did_sim import staggered_panel

from evalkit.errors import InputError
from evalkit.evaluate.did import TWFE, DiD
from evalkit.evaluate.fixed_effects import demean, feols, wald_test

DATA = Path(__file__).parent / "data" / "mpdta"


def _unbalanced(seed: int = 0, n: int = 40, T: int = 7):
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n), T)
    t = np.tile(np.arange(T), n)
    keep = rng.random(n * T) > 0.25
    unit, t = unit[keep], t[keep]
    x1 = rng.normal(size=unit.size)
    x2 = rng.normal(size=unit.size) + 0.3 * t
    y = 1.5 * x1 - 0.7 * x2 + rng.normal(size=n)[unit] + 0.2 * t + rng.normal(size=unit.size)
    return unit, t, np.column_stack([x1, x2]), y


def _dummy_ols(unit, t, X, y):
    Ud = pd.get_dummies(unit, prefix="u", dtype=float)
    Td = pd.get_dummies(t, prefix="t", drop_first=True, dtype=float)
    Z = np.column_stack([X, Ud.to_numpy(), Td.to_numpy()])
    return sm.OLS(y, Z).fit(cov_type="cluster", cov_kwds={"groups": unit})


# ----------------------------------------------------------------------------- fixed effects
def test_demean_matches_dummy_regression_residuals():
    unit, t, X, y = _unbalanced()
    d, sweeps, ok = demean(np.column_stack([y, X]), [unit, t], tol=1e-13)
    D = np.column_stack([pd.get_dummies(unit, dtype=float), pd.get_dummies(t, dtype=float)])
    resid = np.column_stack([v - D @ np.linalg.lstsq(D, v, rcond=None)[0]
                             for v in np.column_stack([y, X]).T])
    np.testing.assert_allclose(d, resid, atol=1e-9)
    assert ok and sweeps > 1    # unbalanced: iterates


def test_demean_complete_panel_is_one_sweep_and_weighted_version():
    rng = np.random.default_rng(1)
    unit = np.repeat(np.arange(30), 5)
    t = np.tile(np.arange(5), 30)
    v = rng.normal(size=150)
    d, sweeps, ok = demean(v, [unit, t])
    M = v.reshape(30, 5)
    expect = M - M.mean(1, keepdims=True) - M.mean(0, keepdims=True) + M.mean()
    np.testing.assert_allclose(d, expect.ravel(), atol=1e-12)
    assert sweeps == 1 and ok
    w = rng.uniform(0.5, 2, size=150)
    dw, _, okw = demean(v, [unit, t], weights=w, tol=1e-13)
    D = np.column_stack([pd.get_dummies(unit, dtype=float), pd.get_dummies(t, dtype=float)])
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(D * sw[:, None], v * sw, rcond=None)[0]
    np.testing.assert_allclose(dw, v - D @ beta, atol=1e-9)
    assert okw


def test_feols_matches_statsmodels_dummy_columns():
    unit, t, X, y = _unbalanced(seed=2)
    sm_fit = _dummy_ols(unit, t, X, y)
    full = feols(y, X, [unit, t], names=["x1", "x2"], cluster=unit, ssc="full", tol=1e-13)
    np.testing.assert_allclose(full.coef, sm_fit.params[:2], rtol=1e-9)
    # statsmodels' cluster correction G/(G-1) (N-1)/(N-K) counts every dummy in K
    np.testing.assert_allclose(full.se, sm_fit.bse[:2], rtol=1e-8)
    nested = feols(y, X, [unit, t], names=["x1", "x2"], cluster=unit, tol=1e-13)
    N, G, T = y.size, 40, 7
    ratio = ((N - 1) / (N - 2 - (T - 1))) / ((N - 1) / (N - 2 - 40 - (T - 1)))
    np.testing.assert_allclose(nested.se, sm_fit.bse[:2] * np.sqrt(ratio), rtol=1e-8)
    assert nested.k_fe == T - 1 and nested.n_clusters == G and nested.df_t == G - 1
    none = feols(y, X, [unit, t], cluster=unit, ssc="none", tol=1e-13)
    assert none.k_fe == 0
    tab = nested.to_frame()
    assert tab["term"].tolist() == ["x1", "x2"]
    assert (tab["ci_lower"] < tab["estimate"]).all()


def test_feols_hc1_without_clusters_and_wald_test():
    unit, t, X, y = _unbalanced(seed=3)
    fit = feols(y, X, [unit, t], names=["x1", "x2"], tol=1e-13)
    Z = np.column_stack([X, pd.get_dummies(unit, dtype=float),
                         pd.get_dummies(t, drop_first=True, dtype=float)])
    hc1 = sm.OLS(y, Z).fit(cov_type="HC1")
    # no clusters: HC1 with K = slopes + fixed effects
    np.testing.assert_allclose(fit.se, hc1.bse[:2], rtol=1e-8)
    w = wald_test(fit, [0, 1])
    b, V = fit.coef, fit.vcov
    assert w["wald"] == pytest.approx(float(b @ np.linalg.solve(V, b)))
    assert w["pvalue"] < 1e-6 and w["df"] == 2


def test_feols_collinear_regressor_is_a_clear_error():
    unit = np.repeat(np.arange(10), 4)
    t = np.tile(np.arange(4), 10)
    y = np.arange(40.0)
    with pytest.raises(InputError, match="do not vary once the fixed effects"):
        feols(y, (unit % 2)[:, None].astype(float), [unit, t], names=["female"], cluster=unit)
    with pytest.raises(InputError, match="ssc"):
        feols(y, t[:, None], [unit], ssc="some")


# ----------------------------------------------------------------------------- TWFE
@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(DATA / "mpdta.csv")


def test_twfe_on_mpdta_matches_dummy_regression(mpdta):
    r = TWFE(unit="countyreal", time="year", outcome="lemp", first_treat="first.treat",
             ssc="full").fit(mpdta)
    # the TWFE estimate quoted for this example in the did package's documentation
    assert round(r.estimate, 4) == -0.0365
    assert r.design == "twfe" and r.n_treated == 191 and r.n_control == 309
    assert r.warnings and "Goodman-Bacon" in r.warnings[0]
    assert r.diagnostics["demeaning_sweeps"] == 1
    # against statsmodels with dummy columns, on 30 counties per group (dummies are slow)
    sub = mpdta[mpdta["countyreal"].isin(
        mpdta.groupby("first.treat")["countyreal"].unique().map(lambda u: u[:30]).explode())]
    r2 = TWFE(unit="countyreal", time="year", outcome="lemp", first_treat="first.treat",
              ssc="full").fit(sub)
    post = ((sub["first.treat"] > 0) & (sub["year"] >= sub["first.treat"])).astype(float)
    sm_fit = _dummy_ols(sub["countyreal"].to_numpy(), sub["year"].to_numpy(),
                        post.to_numpy()[:, None], sub["lemp"].to_numpy())
    assert r2.estimate == pytest.approx(sm_fit.params[0], abs=1e-12)
    assert r2.se == pytest.approx(sm_fit.bse[0], rel=1e-8)


def test_twfe_covariates_cluster_by_area_and_unbalanced(mpdta):
    mpdta = mpdta[mpdta["countyreal"].rank(method="dense") % 4 == 0]
    d = mpdta.assign(state=mpdta["countyreal"] // 1000, z=np.sin(mpdta["countyreal"]
                                                                 + mpdta["year"]))
    d = d.drop(index=d.index[::7])   # unbalanced is fine for TWFE
    r = TWFE(unit="countyreal", time="year", outcome="lemp", first_treat="first.treat",
             covariates=["z"], cluster="state").fit(d)
    assert r.diagnostics["clusters"] == d["state"].nunique()
    assert r.tables["coefficients"]["term"].tolist() == ["treated", "z"]
    post = ((d["first.treat"] > 0) & (d["year"] >= d["first.treat"])).astype(float)
    sm_fit = _dummy_ols(d["countyreal"].to_numpy(), d["year"].to_numpy(),
                        np.column_stack([post, d["z"]]), d["lemp"].to_numpy())
    assert r.estimate == pytest.approx(sm_fit.params[0], abs=1e-9)


def test_twfe_timestamps_and_errors():
    df = staggered_panel(n_units=200, n_periods=8, cohorts=(3, 6), seed=4)
    months = pd.date_range("2024-01-01", periods=8, freq="MS")
    d = df.assign(period=months[df["period"] - 1],
                  start=np.where(df["first"] > 0, months[np.clip(df["first"] - 1, 0, 7)], pd.NaT))
    r1 = TWFE(unit="id", first_treat="start").fit(d)
    r2 = TWFE(unit="id", first_treat="first").fit(df)
    assert r1.estimate == pytest.approx(r2.estimate, abs=1e-12)
    with pytest.raises(InputError, match="No unit is treated"):
        TWFE(unit="id", first_treat="first").fit(df.assign(first=0))
    with pytest.raises(InputError, match="numbers such as"):
        TWFE(unit="id", first_treat="first").fit(df.assign(period=months[df["period"] - 1]))


# ----------------------------------------------------------------------------- 2x2 DiD
def _two_by_two(seed=0, n=400, T=6, start=4, covariate=False):
    rng = np.random.default_rng(seed)
    treated = rng.random(n) < 0.5
    x = rng.normal(size=n) + (0.8 * treated if covariate else 0)
    t = np.arange(1, T + 1)
    y = (rng.normal(size=n)[:, None] + 0.3 * t[None, :] + rng.normal(size=(n, T))
         + 1.5 * (treated[:, None] & (t[None, :] >= start)))
    if covariate:
        y = y + 0.5 * x[:, None] * t[None, :]
    return pd.DataFrame({"person_id": np.repeat(np.arange(n), T), "period": np.tile(t, n),
                         "pilot_start": np.repeat(np.where(treated, start, 0), T),
                         "value": y.ravel(), "x": np.repeat(x, T),
                         "area": np.repeat(np.arange(n) % 20, T)})


def test_did_equals_difference_of_cell_means_unbalanced():
    d = _two_by_two(seed=1).sample(frac=0.8, random_state=1)
    r = DiD().fit(d)
    tr = d["pilot_start"] > 0
    po = d["period"] >= 4
    m = d.groupby([tr, po])["value"].mean()
    expect = (m[(True, True)] - m[(True, False)]) - (m[(False, True)] - m[(False, False)])
    assert r.estimate == pytest.approx(expect, abs=1e-10)
    means = r.tables["means"]
    assert means.loc["treated", "change"] - means.loc["comparison", "change"] == pytest.approx(
        r.estimate)
    assert abs(r.estimate - 1.5) < 3 * r.se
    assert r.design == "did" and r.diagnostics["start"] == "4"


def test_did_cluster_se_is_statsmodels_cluster_robust():
    d = _two_by_two(seed=2)
    r = DiD(cluster="area").fit(d)
    tr = (d["pilot_start"] > 0).astype(float)
    po = (d["period"] >= 4).astype(float)
    X = sm.add_constant(np.column_stack([tr, po, tr * po]))
    f = sm.OLS(d["value"].to_numpy(), X).fit(cov_type="cluster",
                                              cov_kwds={"groups": d["area"].to_numpy()})
    assert r.se == pytest.approx(f.bse[3], rel=1e-10)
    assert r.diagnostics["clusters"] == 20
    # t(G - 1) interval
    from scipy import stats
    q = stats.t.ppf(0.975, 19)
    assert r.ci_upper == pytest.approx(r.estimate + q * r.se)


def test_did_covariates_adjust_for_covariate_trends():
    d = _two_by_two(seed=3, n=1500, covariate=True)
    naive = DiD().fit(d)
    adj = DiD(covariates=["x"]).fit(d)
    assert abs(naive.estimate - 1.5) > 5 * naive.se
    assert abs(adj.estimate - 1.5) < 3 * adj.se
    assert "x:post" in adj.tables["coefficients"]["term"].tolist()


def test_did_errors_and_plot():
    d = _two_by_two(seed=4)
    with pytest.raises(InputError, match="StaggeredDiD"):
        DiD().fit(d.assign(pilot_start=np.where(d["person_id"] % 3 == 0, 5, d["pilot_start"])))
    with pytest.raises(InputError, match="comparison units"):
        DiD().fit(d.assign(pilot_start=4))
    with pytest.raises(InputError, match="no pre-treatment period"):
        DiD().fit(d.assign(pilot_start=np.where(d["pilot_start"] > 0, 1, 0)))
    with pytest.raises(InputError, match="No unit is treated"):
        DiD().fit(d.assign(pilot_start=0))
    with pytest.raises(InputError, match="DataFrame"):
        DiD().fit(d.to_numpy())
    r = DiD().fit(d)
    ax = r.plot()
    assert ax.get_title() and ax.get_ylabel()
    plt.close("all")
    assert "2x2 difference-in-differences" in str(r.summary())
