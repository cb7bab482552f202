"""Event study (dynamic TWFE) and Goodman-Bacon decomposition."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _did_sim import staggered_panel
from hypothesis import given
from hypothesis import strategies as st

from evalkit.errors import InputError
from evalkit.evaluate.bacon import BaconDecomposition, bacon_decompose
from evalkit.evaluate.did import TWFE
from evalkit.evaluate.event_study import EventStudy

DATA = Path(__file__).parent / "data" / "mpdta"


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(DATA / "mpdta.csv")


@pytest.fixture(scope="module")
def one_cohort() -> pd.DataFrame:
    return staggered_panel(n_units=500, n_periods=10, cohorts=(6,), never_share=0.5, seed=8)


# ----------------------------------------------------------------------------- event study
def test_single_cohort_coefficients_are_2x2_dids_against_the_reference(one_cohort):
    r = EventStudy(unit="id", first_treat="first").fit(one_cohort)
    eff = r.tables["effects"].set_index("event_time")
    Y = one_cohort.pivot(index="id", columns="period", values="value")
    g = one_cohort.groupby("id")["first"].first()
    tr, co = Y[g == 6], Y[g == 0]
    for e in range(-5, 5):
        t = 6 + e
        expect = (tr[t] - tr[5]).mean() - (co[t] - co[5]).mean()
        assert eff.loc[e, "estimate"] == pytest.approx(expect, abs=1e-9)
    assert eff.loc[-1, "reference"] and eff.loc[-1, "estimate"] == 0
    # headline = average of post coefficients; planted effect 0.5(e+1), e = 0..4 -> mean 1.5
    assert r.estimate == pytest.approx(eff.loc[0:4, "estimate"].mean())
    assert abs(r.estimate - 1.5) < 3 * r.se
    assert r.diagnostics["pre_trend_pvalue"] > 0.01


def test_binned_endpoints_names_counts_and_bands(one_cohort):
    r = EventStudy(unit="id", first_treat="first", leads=3, lags=2).fit(one_cohort)
    eff = r.tables["effects"]
    assert eff["term"].tolist() == ["e<=-3", "e=-2", "e=-1", "e=0", "e=1", "e>=2"]
    assert eff["binned"].tolist() == [True, False, False, False, False, True]
    n_tr = (one_cohort.groupby("id")["first"].first() == 6).sum()
    # e <= -3 bins periods 1..3 of each treated unit; e >= 2 bins periods 8..10
    assert eff["n_obs"].tolist() == [3 * n_tr, n_tr, n_tr, n_tr, n_tr, 3 * n_tr]
    est = eff[~eff["reference"]]
    assert ((est["band_upper"] - est["band_lower"]) > (est["ci_upper"] - est["ci_lower"])).all()
    assert r.diagnostics["uniform_band_crit"] > 1.96
    assert r.diagnostics["pre_trend_df"] == 2


def test_pre_trend_test_detects_a_violation(one_cohort):
    d = one_cohort.copy()
    tr = d["first"] > 0
    d.loc[tr, "value"] += 0.4 * d.loc[tr, "period"]     # treated units trend upwards
    r = EventStudy(unit="id", first_treat="first", leads=4, lags=3).fit(d)
    assert r.diagnostics["pre_trend_pvalue"] < 1e-6


def test_no_never_treated_gets_a_second_reference():
    d = staggered_panel(n_units=300, n_periods=10, cohorts=(3, 4, 5, 6, 7, 8), never_share=0.0,
                        seed=5)
    r = EventStudy(unit="id", first_treat="first").fit(d)
    assert r.warnings and "second reference" in r.warnings[0]
    assert r.tables["effects"]["reference"].sum() == 2
    # with two groups even that is not enough: a clear error says to bin the end-points
    d2 = staggered_panel(n_units=300, n_periods=10, cohorts=(4, 7), never_share=0.0, seed=5)
    with pytest.raises(InputError, match="not identified.*leads= and lags="):
        EventStudy(unit="id", first_treat="first").fit(d2)
    # with binned end-points the model is identified without never-treated units
    r2 = EventStudy(unit="id", first_treat="first", leads=2, lags=2).fit(d2)
    assert not r2.warnings
    assert np.isfinite(r2.tables["effects"]["se"].dropna()).all()


def test_event_study_errors_and_plot(one_cohort):
    with pytest.raises(InputError, match="leads"):
        EventStudy(leads=-1)
    with pytest.raises(InputError, match="reference"):
        EventStudy(leads=2, reference=-4)
    with pytest.raises(InputError, match="No unit is treated"):
        EventStudy(unit="id", first_treat="first").fit(one_cohort.assign(first=0))
    r = EventStudy(unit="id", first_treat="first", leads=3, lags=3).fit(one_cohort)
    ax = r.plot()
    assert "pre-trend" in ax.get_title() and "since start" in ax.get_xlabel()
    plt.close("all")
    assert "Event study" in str(r.summary())


# ----------------------------------------------------------------------------- Bacon
def test_bacon_sums_exactly_to_twfe_on_mpdta(mpdta):
    b = BaconDecomposition(unit="countyreal", time="year", outcome="lemp",
                           first_treat="first.treat").fit(mpdta)
    twfe = TWFE(unit="countyreal", time="year", outcome="lemp", first_treat="first.treat").fit(
        mpdta)
    comp = b.tables["comparisons"]
    assert len(comp) == 9
    assert comp["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (comp["estimate"] * comp["weight"]).sum() == pytest.approx(twfe.estimate, abs=1e-12)
    assert b.estimate == twfe.estimate and b.se == twfe.se
    # one comparison by hand: 2004 vs never treated over the whole panel
    Y = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    g = mpdta.groupby("countyreal")["first.treat"].first()
    post, pre = [2004, 2005, 2006, 2007], [2003]

    def dd(a, c):
        return (Y.loc[g == a, post].values.mean() - Y.loc[g == a, pre].values.mean()) - (
            Y.loc[g == c, post].values.mean() - Y.loc[g == c, pre].values.mean())
    row = comp[(comp["type"] == "Treated vs never treated") & (comp["treated"] == 2004)]
    assert row["estimate"].iloc[0] == pytest.approx(dd(2004, 0), abs=1e-12)
    assert set(b.tables["by_type"]["type"]) == {
        "Treated vs never treated", "Earlier vs later treated", "Later vs earlier treated"}


def test_bacon_explains_twfe_bias_under_growing_effects():
    d = staggered_panel(n_units=900, n_periods=12, cohorts=(4, 7, 10), seed=3)
    b = BaconDecomposition(unit="id", first_treat="first").fit(d)
    comp = b.tables["comparisons"]
    bad = comp[comp["type"] == "Later vs earlier treated"]
    good = comp[comp["type"] == "Treated vs never treated"]
    # already-treated controls carry a growing effect: those 2x2s are biased downwards
    assert bad["estimate"].max() < good["estimate"].min()
    assert b.diagnostics["weight_on_already_treated_controls"] > 0.05
    assert any("already-treated" in w for w in b.warnings)
    ax = b.plot()
    assert ax.get_xlabel() == "Weight in the TWFE estimate"
    plt.close("all")


def test_bacon_needs_balance(mpdta):
    d = mpdta.drop(index=mpdta.index[:2])
    kw = dict(unit="countyreal", time="year", outcome="lemp", first_treat="first.treat")
    with pytest.raises(InputError, match="balanced panel"):
        BaconDecomposition(**kw).fit(d)
    b = BaconDecomposition(drop_incomplete=True, **kw).fit(d)
    assert b.tables["excluded"]["units"].tolist() == [1]


@st.composite
def balanced_panels(draw):
    T = draw(st.integers(3, 7))
    n = draw(st.integers(6, 25))
    starts = draw(st.lists(st.sampled_from([0, 1] + list(range(2, T + 1)) + [99]),
                           min_size=n, max_size=n))
    y = draw(st.lists(st.floats(-10, 10, allow_nan=False), min_size=n * T, max_size=n * T))
    return T, np.array(starts), np.array(y).reshape(n, T)


@given(balanced_panels())
def test_property_bacon_weighted_sum_is_twfe(panel):
    """Theorem 1 of Goodman-Bacon (2021) holds on any balanced panel, including
    always-treated units (start 1) and units starting after the window (99)."""
    T, starts, Y = panel
    n = len(starts)
    df = pd.DataFrame({"id": np.repeat(np.arange(n), T), "period": np.tile(np.arange(1, T + 1), n),
                       "first": np.repeat(starts, T), "value": Y.ravel()})
    G = np.where((starts == 0) | (starts > T), 10**9, starts - 1)
    D = (np.arange(T)[None, :] >= G[:, None]).astype(float)
    Dd = D - D.mean(1, keepdims=True) - D.mean(0, keepdims=True) + D.mean()
    if np.sum(Dd ** 2) < 1e-9:
        with pytest.raises(InputError):
            bacon_decompose(Y, G)
        return
    comp, VD = bacon_decompose(Y, G)
    beta = float(np.sum(Dd * Y) / np.sum(Dd ** 2))
    assert comp["weight"].sum() == pytest.approx(1.0, abs=1e-9)
    assert (comp["weight"] >= -1e-12).all()
    assert float(comp["weight"] @ comp["estimate"]) == pytest.approx(beta, abs=1e-8)
    if len(np.unique(np.c_[D, np.ones(n)], axis=0)) > 1:
        r = TWFE(unit="id", first_treat="first").fit(df) if np.sum(Dd ** 2) > 1e-6 else None
        if r is not None:
            assert r.estimate == pytest.approx(beta, abs=1e-7)
