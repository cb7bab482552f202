"""Callaway & Sant'Anna staggered DiD: R `did` reference numbers, planted effects, errors."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _did_sim import growing, staggered_panel
from hypothesis import given
from hypothesis import strategies as st

from evalkit.errors import InputError
from evalkit.evaluate.did import TWFE
from evalkit.evaluate.result import EffectResult
from evalkit.evaluate.staggered import (
    StaggeredDiD,
    StaggeredDiDResult,
    _block_cov,
    _block_nocov,
)

DATA = Path(__file__).parent / "data" / "mpdta"
SCENARIOS = {"mpdta_nev_dr": "never", "mpdta_nyt_dr": "not_yet"}
ATT_TOL = 1e-6   # the tolerance; we agree with R to ~1e-15
SE_TOL = 1e-4


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(DATA / "mpdta.csv")


@pytest.fixture(scope="module")
def fits(mpdta) -> dict[str, StaggeredDiDResult]:
    return {sc: StaggeredDiD(unit="countyreal", time="year", outcome="lemp",
                             first_treat="first.treat", control_group=cg, n_boot=0).fit(mpdta)
            for sc, cg in SCENARIOS.items()}


# ----------------------------------------------------------------------------- R `did` reference
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_att_gt_matches_r_did(fits, scenario):
    ref = pd.read_csv(DATA / "r_did_attgt.csv")
    ref = ref[ref["scenario"] == scenario].reset_index(drop=True)
    gt = fits[scenario].tables["att_gt"]
    assert len(gt) == len(ref) == 12
    assert gt["group"].tolist() == ref["group"].tolist()
    assert gt["time"].tolist() == ref["t"].tolist()
    np.testing.assert_allclose(gt["estimate"], ref["att"], rtol=0, atol=ATT_TOL)
    np.testing.assert_allclose(gt["se"], ref["se"], rtol=0, atol=SE_TOL)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("kind", ["simple", "group", "dynamic", "calendar"])
def test_aggregations_match_r_aggte(fits, scenario, kind):
    ref = pd.read_csv(DATA / "r_did_aggte.csv")
    ref = ref[(ref["scenario"] == scenario) & (ref["type"] == kind)].reset_index(drop=True)
    res = fits[scenario]
    overall = res.tables["overall"].set_index("aggregation").loc[kind]
    assert abs(overall["estimate"] - ref["overall_att"].iloc[0]) < ATT_TOL
    assert abs(overall["se"] - ref["overall_se"].iloc[0]) < SE_TOL
    if kind == "simple":
        return
    el = res.tables[kind]
    key = {"group": "group", "dynamic": "event_time", "calendar": "time"}[kind]
    assert el[key].astype(int).tolist() == ref["egt"].astype(int).tolist()
    np.testing.assert_allclose(el["estimate"], ref["att_egt"], rtol=0, atol=ATT_TOL)
    np.testing.assert_allclose(el["se"], ref["se_egt"], rtol=0, atol=SE_TOL)


def test_headline_is_the_published_simple_att(fits):
    # Callaway & Sant'Anna (2021) / R did vignette: simple ATT -0.0400 (SE 0.0120)
    r = fits["mpdta_nev_dr"]
    assert isinstance(r, EffectResult)
    assert round(r.estimate, 4) == -0.0400 and round(r.se, 4) == 0.0120
    assert r.estimand == "ATT (simple)" and r.design == "staggered_did"
    assert r.n_treated == 191 and r.n_control == 309
    # effects table follows the shared convention
    assert list(r.effects.columns[:1]) == ["term"]
    assert {"estimate", "se", "ci_lower", "ci_upper", "pvalue"} <= set(r.effects.columns)


def test_pretrend_wald_matches_r_did(fits):
    # R did's summary(att_gt) for mpdta, never treated, no covariates:
    # "P-value for pre-test of parallel trends assumption: 0.16812"
    assert abs(fits["mpdta_nev_dr"].diagnostics["pre_trend_pvalue"] - 0.16812) < 5e-6


def test_estimators_coincide_without_covariates(mpdta):
    kw = dict(unit="countyreal", time="year", outcome="lemp", first_treat="first.treat", n_boot=0)
    base = StaggeredDiD(**kw).fit(mpdta).tables["att_gt"]
    for est in ("ipw", "reg"):
        other = StaggeredDiD(estimator=est, **kw).fit(mpdta).tables["att_gt"]
        np.testing.assert_allclose(other["estimate"], base["estimate"], atol=1e-12)
        np.testing.assert_allclose(other["se"], base["se"], atol=1e-12)


@pytest.mark.parametrize("est", ["dr", "ipw", "reg"])
def test_covariate_formulas_reduce_to_means_with_intercept_only(est):
    rng = np.random.default_rng(5)
    n1 = 80
    D = rng.random(n1) < 0.4
    dY = rng.normal(size=(n1, 3)) + D[:, None]
    a = _block_nocov(dY, D)
    b = _block_cov(dY, D, np.ones((n1, 1)), est)
    np.testing.assert_allclose(b.att, a.att, atol=1e-12)
    np.testing.assert_allclose(b.inf, a.inf, atol=1e-9)


@pytest.mark.parametrize("est", ["dr", "ipw", "reg"])
def test_covariate_influence_function_matches_jackknife(est):
    """The analytic IF equals the empirical (jackknife) influence of each unit.

    Jackknife pseudo-values ``(n-1)(theta - theta_(-i))`` converge to the influence
    function; with n = 300 they agree up to O(1/n) leverage effects (slope within a
    few per cent of 1, mean squared gap < 0.5% of the IF variance), while dropping the
    nuisance-estimation terms of the IF leaves gaps of 2-17% in this design.
    """
    rng = np.random.default_rng(11)
    n1 = 300
    x = rng.normal(size=n1)
    D = rng.random(n1) < 1 / (1 + np.exp(-0.7 * x))
    dY = np.column_stack([0.5 * x + 1.0 * D + rng.normal(size=n1),
                          0.8 * x ** 2 + rng.normal(size=n1)])
    X = np.column_stack([np.ones(n1), x])
    full = _block_cov(dY, D, X, est)
    loo = np.array([_block_cov(np.delete(dY, i, 0), np.delete(D, i), np.delete(X, i, 0), est).att
                    for i in range(n1)])
    pseudo = (n1 - 1) * (full.att[None, :] - loo)
    for c in range(2):
        p, f = pseudo[:, c], full.inf[:, c]
        assert 0.98 < (p @ f) / (f @ f) < 1.05
        assert np.mean((p - f) ** 2) / np.var(f) < 0.005


# ----------------------------------------------------------------------------- planted effects
@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return staggered_panel(n_units=900, n_periods=12, cohorts=(4, 7, 10), seed=3)


def test_cs_recovers_growing_effects_within_uniform_bands(sim):
    res = StaggeredDiD(unit="id", first_treat="first", n_boot=999, seed=1).fit(sim)
    dyn = res.tables["dynamic"]
    truth = np.where(dyn["event_time"] >= 0, growing(dyn["event_time"].clip(lower=0)), 0.0)
    assert np.all((dyn["band_lower"] <= truth) & (truth <= dyn["band_upper"]))
    # bands are uniform: wider than pointwise CIs
    assert np.all(dyn["band_upper"] - dyn["band_lower"] > dyn["ci_upper"] - dyn["ci_lower"])
    # the ATT(g,t) themselves are centred on the planted effects
    gt = res.tables["att_gt"]
    true_gt = np.where(gt["post"], growing(gt["event_time"].clip(lower=0)), 0.0)
    z = (gt["estimate"] - true_gt) / gt["se"]
    assert np.max(np.abs(z)) < 4
    # simple ATT covers the true group-size-weighted average of post cells
    post = sim[(sim["first"] > 0) & (sim["period"] >= sim["first"])]
    true_simple = post["true_effect"].mean()
    assert res.ci_lower <= true_simple <= res.ci_upper


def test_twfe_is_biased_towards_zero_under_growing_effects(sim):
    res = StaggeredDiD(unit="id", first_treat="first", n_boot=0).fit(sim)
    twfe = TWFE(unit="id", first_treat="first").fit(sim)
    post = sim[(sim["first"] > 0) & (sim["period"] >= sim["first"])]
    true_simple = post["true_effect"].mean()
    # the expected sign: TWFE understates a positive, growing effect, well beyond noise
    assert twfe.estimate < true_simple - 4 * twfe.se
    assert twfe.estimate < res.estimate
    assert twfe.warnings  # and it says why


def test_covariates_fix_conditional_parallel_trends():
    df = staggered_panel(n_units=1500, n_periods=6, cohorts=(3, 5), covariate=True,
                         effect=lambda e: np.full_like(e, 1.0), seed=2)
    kw = dict(unit="id", first_treat="first", n_boot=0, aggregation="simple")
    naive = StaggeredDiD(**kw).fit(df)
    assert abs(naive.estimate - 1.0) > 5 * naive.se   # unconditional PT fails
    for est in ("dr", "ipw", "reg"):
        r = StaggeredDiD(covariates=["x"], estimator=est, **kw).fit(df)
        assert abs(r.estimate - 1.0) < 3 * r.se, est
        assert "covariates (x)" in r.method


def test_bootstrap_se_close_to_analytic_and_reproducible(sim):
    kw = dict(unit="id", first_treat="first", se="bootstrap", n_boot=499)
    a = StaggeredDiD(seed=7, **kw).fit(sim)
    b = StaggeredDiD(seed=7, **kw).fit(sim)
    c = StaggeredDiD(unit="id", first_treat="first", n_boot=0).fit(sim)
    assert a.se == b.se
    np.testing.assert_array_equal(a.draws, b.draws)
    # bootstrap SE ~ analytic SE (Monte Carlo error with 499 draws ~ 5-10%)
    ratio = a.tables["att_gt"]["se"] / c.tables["att_gt"]["se"]
    assert ratio.between(0.75, 1.3).all()
    assert abs(a.se / c.se - 1) < 0.2
    assert len(a.draws) == 499
    assert np.isnan(c.tables["att_gt"]["band_lower"]).all()


def test_cluster_by_unit_equals_default_and_coarser_clusters_change_se(sim):
    base = StaggeredDiD(unit="id", first_treat="first", n_boot=0).fit(sim)
    same = StaggeredDiD(unit="id", first_treat="first", cluster="id", n_boot=0).fit(sim)
    assert abs(base.se - same.se) < 1e-14
    d = sim.assign(area=sim["id"] // 10)
    cl = StaggeredDiD(unit="id", first_treat="first", cluster="area", n_boot=0).fit(d)
    assert cl.estimate == pytest.approx(base.estimate, abs=1e-12)
    assert cl.se != pytest.approx(base.se, rel=1e-3)
    assert cl.diagnostics["clusters"] == 90


def test_monthly_timestamps_and_start_dates(sim):
    months = pd.date_range("2023-01-01", periods=12, freq="MS")
    d = sim.copy()
    d["period"] = months[d["period"] - 1]
    # pilot starts mid-month: the month containing the start is the first treated period
    start = pd.Series(pd.NaT, index=d.index, dtype="datetime64[ns]")
    tr = d["first"] > 0
    start[tr] = months[d.loc[tr, "first"] - 1] + pd.Timedelta(days=14)
    d["pilot_start"] = start
    d = d.rename(columns={"id": "person_id"}).drop(columns="first")
    r = StaggeredDiD().fit(d)
    ref = StaggeredDiD(unit="id", first_treat="first", n_boot=0).fit(sim)
    np.testing.assert_allclose(r.tables["att_gt"]["estimate"], ref.tables["att_gt"]["estimate"])
    assert isinstance(r.tables["att_gt"]["group"].iloc[0], pd.Timestamp)
    assert r.tables["group"]["group"].tolist() == list(months[[3, 6, 9]])
    assert r.extra["period_unit"] == "months"


def test_tidy_panel_with_people_starts(sim):
    people = sim.groupby("id", as_index=False)["first"].first()
    outcomes = pd.concat([sim[["id", "period", "value"]].assign(measure="ae"),
                          sim[["id", "period"]].assign(value=0.0, measure="other")])
    with pytest.raises(InputError, match="measure="):
        StaggeredDiD(unit="id", first_treat="first", starts=people).fit(outcomes)
    r = StaggeredDiD(unit="id", first_treat="first", starts=people, measure="ae",
                     n_boot=0).fit(outcomes)
    ref = StaggeredDiD(unit="id", first_treat="first", n_boot=0).fit(sim)
    assert r.estimate == pytest.approx(ref.estimate, abs=1e-12)
    assert r.outcome == "ae"


def test_not_yet_without_never_treated_uses_last_group_like_r(sim):
    d = sim[sim["first"] > 0]
    with pytest.raises(InputError, match="not_yet"):
        StaggeredDiD(unit="id", first_treat="first").fit(d)
    r = StaggeredDiD(unit="id", first_treat="first", control_group="not_yet", n_boot=0).fit(d)
    gt = r.tables["att_gt"]
    assert set(gt["group"]) == {4, 7}
    assert gt["time"].max() == 9
    assert any("last group" in n for n in r.extra["notes"])


def test_universal_base_period(mpdta):
    kw = dict(unit="countyreal", time="year", outcome="lemp", first_treat="first.treat", n_boot=0)
    v = StaggeredDiD(**kw).fit(mpdta).tables["att_gt"]
    u = StaggeredDiD(base_period="universal", **kw).fit(mpdta).tables["att_gt"]
    # post-treatment cells are the same; the reference period g-1 is exactly zero
    vp, up = v[v["post"]].reset_index(drop=True), u[u["post"]].reset_index(drop=True)
    np.testing.assert_allclose(vp["estimate"], up["estimate"], atol=1e-14)
    refrow = u[u["time"] == u["group"] - 1]
    assert (refrow["estimate"] == 0).all() and len(refrow) == 3
    # universal pre-period at g-2 = long difference y_{g-2} - y_{g-1}
    row = u[(u["group"] == 2007) & (u["time"] == 2004)]["estimate"].iloc[0]
    m = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    g = mpdta.groupby("countyreal")["first.treat"].first()
    d = m[2004] - m[2006]
    assert row == pytest.approx(d[g == 2007].mean() - d[g == 0].mean(), abs=1e-12)


def test_anticipation_shifts_base_period(mpdta):
    kw = dict(unit="countyreal", time="year", outcome="lemp", first_treat="first.treat", n_boot=0)
    r = StaggeredDiD(anticipation=1, drop_always_treated=True, **kw).fit(mpdta).tables["att_gt"]
    assert (r.loc[r["post"], "base_period"] == r.loc[r["post"], "group"] - 2).all()
    with pytest.raises(InputError, match="anticipation=2.*drop_always_treated=True"):
        StaggeredDiD(anticipation=2, **kw).fit(mpdta)
    d = StaggeredDiD(anticipation=2, drop_always_treated=True, **kw).fit(mpdta)
    assert set(d.tables["att_gt"]["group"]) == {2006, 2007}
    assert d.tables["excluded"]["units"].tolist() == [20]


def test_aggregate_with_event_windows(fits):
    r = fits["mpdta_nev_dr"]
    d = r.aggregate("dynamic")
    np.testing.assert_allclose(d["estimate"].iloc[:-1], r.tables["dynamic"]["estimate"])
    assert d["estimate"].iloc[-1] == pytest.approx(
        r.tables["overall"].set_index("aggregation").loc["dynamic", "estimate"])
    w = r.aggregate("dynamic", min_e=-1, max_e=1)
    assert w["term"].tolist() == ["e=-1", "e=0", "e=1", "overall"]
    b = r.aggregate("dynamic", balance_e=1)
    # balance_e=1 keeps groups observed at least 1 period after starting (2004, 2006) and,
    # as R did, event times from balance_e - (2007 - 2004) = -2 on
    assert b["term"].tolist() == ["e=-2", "e=-1", "e=0", "e=1", "overall"]
    att = r.tables["att_gt"]
    e0 = att[(att["event_time"] == 0) & att["group"].isin([2004, 2006])]
    w0 = np.array([20, 40]) / 60  # mpdta group sizes 2004: 20, 2006: 40 counties
    assert b["estimate"].iloc[2] == pytest.approx(float(w0 @ e0["estimate"].to_numpy()))
    g = r.aggregate("group", max_e=0)
    np.testing.assert_allclose(g["estimate"].iloc[:-1], att[att["event_time"] == 0]["estimate"])


@pytest.mark.parametrize("kind", ["dynamic", "att_gt", "group", "calendar"])
def test_plots_return_axes(sim, kind):
    r = StaggeredDiD(unit="id", first_treat="first", n_boot=200).fit(sim)
    ax = r.plot(kind=kind)
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    plt.close("all")
    assert "Callaway" in str(r.summary()) and "<h4>" in r._repr_html_()
    assert "StaggeredDiDResult" in repr(r)


# ----------------------------------------------------------------------------- properties
@st.composite
def small_panels(draw):
    n_periods = draw(st.integers(3, 6))
    n_units = draw(st.integers(12, 30))
    cohorts = draw(st.lists(st.integers(1, n_periods - 1), min_size=1, max_size=3, unique=True))
    assign = draw(st.lists(st.sampled_from([0] + cohorts), min_size=n_units, max_size=n_units))
    assign[0], assign[1], assign[2] = 0, 0, cohorts[0]
    for j, c in enumerate(cohorts):
        assign[3 + j] = c
    y = draw(st.lists(st.floats(-5, 5, allow_nan=False), min_size=n_units * n_periods,
                      max_size=n_units * n_periods))
    return n_units, n_periods, np.array(assign), np.array(y).reshape(n_units, n_periods)


def _long(Y, first, offset_unit=None, offset_time=None):
    n, T = Y.shape
    Y = Y.copy()
    if offset_unit is not None:
        Y = Y + offset_unit[:, None]
    if offset_time is not None:
        Y = Y + offset_time[None, :]
    return pd.DataFrame({"id": np.repeat(np.arange(n), T), "period": np.tile(np.arange(T) + 1, n),
                         "first": np.repeat(np.where(first > 0, first + 1, 0), T),
                         "value": Y.ravel()})


@given(small_panels(), st.floats(-10, 10), st.floats(-10, 10))
def test_property_att_gt_is_difference_of_mean_changes_and_fe_invariant(panel, a, b):
    n, T, first, Y = panel
    kw = dict(unit="id", first_treat="first", n_boot=0)
    r = StaggeredDiD(**kw).fit(_long(Y, first))
    gt = r.tables["att_gt"]
    for _, row in gt.iterrows():
        g, t, base = row["group"] - 1, row["time"] - 1, row["base_period"] - 1
        dy = Y[:, t] - Y[:, base]
        expect = dy[first == g].mean() - dy[first == 0].mean()
        assert row["estimate"] == pytest.approx(expect, abs=1e-9)
    # unit and period shifts leave every estimate and SE unchanged
    shifted = StaggeredDiD(**kw).fit(_long(Y, first, np.linspace(a, b, n), np.linspace(b, a, T)))
    np.testing.assert_allclose(shifted.tables["att_gt"]["estimate"], gt["estimate"], atol=1e-8)
    np.testing.assert_allclose(shifted.tables["att_gt"]["se"], gt["se"], atol=1e-8)
    # the simple aggregation is the group-size weighted mean of post cells
    post = gt[gt["post"]]
    sizes = pd.Series(first[first > 0]).value_counts()
    w = post["group"].map(lambda g: sizes[g - 1]).to_numpy(dtype=float)
    assert r.estimate == pytest.approx(float(w @ post["estimate"]) / w.sum(), abs=1e-9)


# ----------------------------------------------------------------------------- bad input
def test_unbalanced_panel_refused_then_dropped_and_counted(sim):
    d = sim.drop(index=sim.index[(sim["id"] < 5) & (sim["period"] == 3)])
    with pytest.raises(InputError, match="balanced panel.*drop_incomplete=True"):
        StaggeredDiD(unit="id", first_treat="first").fit(d)
    r = StaggeredDiD(unit="id", first_treat="first", drop_incomplete=True, n_boot=0).fit(d)
    ex = r.tables["excluded"]
    assert ex["units"].tolist() == [5] and ex["rows"].tolist() == [55]
    assert "unbalanced" in ex["reason"].iloc[0]


def test_cohort_treated_in_first_period(mpdta):
    d = mpdta.copy()
    d.loc[d["countyreal"].isin(d["countyreal"].unique()[:3]), "first.treat"] = 2003
    kw = dict(unit="countyreal", time="year", outcome="lemp", first_treat="first.treat", n_boot=0)
    with pytest.raises(InputError, match="first period.*drop_always_treated=True"):
        StaggeredDiD(**kw).fit(d)
    r = StaggeredDiD(drop_always_treated=True, **kw).fit(d)
    assert r.tables["excluded"]["units"].tolist() == [3]


def test_starts_after_window_are_never_treated(mpdta):
    d = mpdta.copy()
    d.loc[d["first.treat"] == 0, "first.treat"] = 2010
    r = StaggeredDiD(unit="countyreal", time="year", outcome="lemp", first_treat="first.treat",
                     n_boot=0).fit(d)
    assert r.estimate == pytest.approx(-0.0399512751551763, abs=1e-12)
    assert any("after the last period" in n for n in r.extra["notes"])


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.assign(value=d["value"].astype(str) + "x"), "must be numeric"),
    (lambda d: d.assign(value=d["value"].where(d.index != 5)), "missing values"),
    (lambda d: pd.concat([d, d.iloc[:1]]), "more than once"),
    (lambda d: d.assign(first=np.where(d.index == 0, 7, d["first"])), "same in every row"),
    (lambda d: d.assign(first=np.where(d["first"] == 4, 4.5, d["first"])), "not periods"),
    (lambda d: d.drop(columns="value"), "no column for outcome='value'"),
    (lambda d: d.assign(x=d["x"].where(d.index != 3)), "missing values"),
])
def test_bad_input_messages(sim, mutate, match):
    with pytest.raises(InputError, match=match):
        StaggeredDiD(unit="id", first_treat="first", covariates=["x"]).fit(mutate(sim))


@pytest.mark.parametrize("kwargs, match", [
    ({"control_group": "sometimes"}, "control_group"),
    ({"estimator": "ml"}, "estimator"),
    ({"aggregation": "weekly"}, "aggregation"),
    ({"base_period": "fixed"}, "base_period"),
    ({"se": "bootstrap", "n_boot": 10}, "n_boot"),
    ({"anticipation": -1}, "anticipation"),
    ({"alpha": 2}, "alpha"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        StaggeredDiD(**kwargs)


def test_no_treated_units(sim):
    with pytest.raises(InputError, match="No unit is treated"):
        StaggeredDiD(unit="id", first_treat="first").fit(sim.assign(first=0))


@pytest.mark.parametrize("clustered", [False, True])
def test_fast_multiplier_bootstrap_equals_dense_product(sim, clustered):
    """The block-sparse / per-group bootstrap equals v @ (influence functions)."""
    from evalkit.evaluate.staggered import _cohort_index, _multiplier_bootstrap

    d = sim.assign(area=sim["id"] // 7)
    r = StaggeredDiD(unit="id", first_treat="first", control_group="not_yet", n_boot=0,
                     cluster="area" if clustered else None).fit(d)
    cells, G = r.extra["cells"], r.extra["G"]
    from evalkit.evaluate.staggered import _aggregate
    aggs = [_aggregate(k, cells, G) for k in ("simple", "group", "dynamic", "calendar")]
    uc = _cohort_index(G, np.unique(cells.g))
    cl = r.extra["cluster"]
    bgt, bagg = _multiplier_bootstrap(cells.inf, aggs, uc, cl, 100, seed=3)
    rng = np.random.default_rng(3)
    Gc = len(G) if cl is None else int(cl.max()) + 1
    v = np.vstack([(rng.integers(0, 2, size=(min(64, 100 - s), Gc), dtype=np.int8) * 2 - 1)
                   for s in range(0, 100, 64)]).astype(float)

    def sums(m):
        if cl is None:
            return m
        return np.vstack([m[cl == c].sum(axis=0) for c in range(Gc)])
    np.testing.assert_allclose(bgt, v @ sums(cells.inf) / np.sqrt(Gc), rtol=1e-4, atol=1e-4)
    for a, b in zip(aggs, bagg):
        dense = v @ sums(a.influence(cells.inf, uc)) / np.sqrt(Gc)
        np.testing.assert_allclose(b, dense, rtol=1e-4, atol=1e-4)


def test_overlap_failure_is_reported_and_left_out(sim):
    # group 4 is perfectly separated from the never treated by x: its propensity
    # scores are ~1, so (as R did) its ATT(g,t) are not estimated, with a warning
    d = sim.assign(x=np.where(sim["first"] == 4, sim["x"] + 10, sim["x"]))
    r = StaggeredDiD(unit="id", first_treat="first", covariates=["x"], n_boot=0).fit(d)
    gt = r.tables["att_gt"]
    assert gt.loc[gt["group"] == 4, "estimate"].isna().all()
    assert gt.loc[gt["group"] != 4, "estimate"].notna().all()
    assert any("group 4, 11 periods (2 to 12): overlap fails" in w for w in r.warnings)
    assert any("could not be estimated" in w for w in r.warnings)
    assert set(r.tables["group"]["group"]) == {7, 10}
    assert np.isfinite(r.estimate)
    # outcome regression needs no propensity score, so it estimates every cell
    r2 = StaggeredDiD(unit="id", first_treat="first", covariates=["x"], estimator="reg",
                      n_boot=0).fit(d)
    assert r2.tables["att_gt"]["estimate"].notna().all()


def test_pre_trend_wald_is_sane_with_many_small_cohorts():
    """Many small cohorts make the joint covariance of the pre-period cells singular; the
    Wald statistic must still be a valid chi-squared statistic (generalised inverse, rank
    degrees of freedom), never the negative or astronomical value a plain solve gives."""
    from evalkit.evaluate import StaggeredDiD
    from evalkit.evaluate.staggered import _wald_pinv

    rng = np.random.default_rng(3)
    n, T = 300, 24
    first = rng.choice(np.r_[np.arange(6, 20), [0] * 10], n)   # 14 cohorts, many tiny
    rows = []
    for i in range(n):
        for t in range(1, T + 1):
            rows.append((i, t, first[i], rng.normal() + 0.1 * t))
    df = pd.DataFrame(rows, columns=["id", "t", "g", "y"])
    res = StaggeredDiD(unit="id", time="t", outcome="y", first_treat="g",
                       control_group="not_yet").fit(df)
    d = res.diagnostics
    assert d["pre_trend_wald"] >= 0
    assert 0 < d["pre_trend_df"] <= res.tables["att_gt"].shape[0]
    assert 0 <= d["pre_trend_pvalue"] <= 1
    # the generalised-inverse Wald equals the plain one on a well-conditioned covariance
    A = rng.normal(size=(5, 5))
    V = A @ A.T + np.eye(5)
    b = rng.normal(size=5)
    W, rank = _wald_pinv(b, V)
    assert rank == 5 and W == pytest.approx(float(b @ np.linalg.solve(V, b)), rel=1e-10)
    # and drops the null direction of a singular one
    Vs = np.diag([2.0, 1.0, 0.0])
    W, rank = _wald_pinv(np.array([2.0, 1.0, 5.0]), Vs)
    assert rank == 2 and W == pytest.approx(2.0 + 1.0)
