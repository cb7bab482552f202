"""Tests for evalkit.evaluate.augsynth (ridge-augmented and de-meaned synthetic control)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import InputError
from evalkit.evaluate.augsynth import AugmentedSyntheticControl, ridge_lambda_cv
from evalkit.evaluate.synth import SyntheticControl, solve_simplex_weights


def outside_hull_panel(effect: float = -4.0, seed: int = 3, n_donors: int = 10,
                       n_pre: int = 16, n_post: int = 6) -> pd.DataFrame:
    """Donors y_i(t) = a_i + b_i * g(t) + noise; the pilot's loading is beyond every
    donor's (b = 1.3 * max), so it is above all donors and a convex SCM cannot fit it,
    but it lies in the donors' affine span, which ridge augmentation can reach."""
    rng = np.random.default_rng(seed)
    T = n_pre + n_post
    g = np.cumsum(rng.normal(0.5, 1, T))
    a = rng.normal(20, 1, n_donors)
    b = rng.uniform(0.5, 1.5, n_donors)
    rows = [(f"D{i}", 2000 + t, a[i] + b[i] * g[t] + rng.normal(0, 0.2))
            for i in range(n_donors) for t in range(T)]
    bt = 1.3 * b.max()
    rows += [("Pilot", 2000 + t, 20 + 8 + bt * g[t] + rng.normal(0, 0.2)
              + (effect if t >= n_pre else 0)) for t in range(T)]
    return pd.DataFrame(rows, columns=["area", "period", "value"])


@pytest.fixture(scope="module")
def hull():
    return outside_hull_panel()


def test_ridge_augmentation_removes_bias_outside_hull(hull):
    scm = SyntheticControl(treated="Pilot", treatment_start=2016, placebos=False,
                           progress=False).fit(hull)
    asc = AugmentedSyntheticControl(treated="Pilot", treatment_start=2016,
                                    progress=False).fit(hull)
    assert any("outside the donors' range" in w for w in scm.warnings)
    assert abs(scm.estimate - (-4.0)) > 2.0           # SCM is badly biased here
    assert asc.estimate == pytest.approx(-4.0, abs=0.6)
    assert asc.diagnostics["pre_rmspe"] < 0.3 * scm.diagnostics["pre_rmspe"]
    assert asc.diagnostics["negative_weights"] > 0    # extrapolation shows as negative weights
    assert asc.tables["weights"]["weight"].sum() == pytest.approx(1.0, abs=1e-9)
    assert asc.diagnostics["treated_rank"] == 1
    assert asc.pvalue == pytest.approx(1 / 11)
    cv = asc.tables["lambda_cv"]
    assert len(cv) == 21 and cv["chosen"].sum() == 1
    assert asc.method == "Ridge-augmented synthetic control"


def test_ridge_limits(hull):
    """A huge lambda switches the ridge correction off, leaving the SCM weights, which are
    the simplex fit to the pre-period outcomes."""
    big = AugmentedSyntheticControl(treated="Pilot", treatment_start=2016, lambda_=1e12,
                                    placebos=False, progress=False).fit(hull)
    sw = big.tables["scm_weights"]
    np.testing.assert_allclose(sw["augmented_weight"], sw["scm_weight"], atol=1e-6)
    # the SCM part equals the plain simplex fit on pre-period outcomes
    wide = hull.pivot(index="area", columns="period", values="value")
    pre = wide.loc[:, :2015]
    X0 = pre.drop(index="Pilot").to_numpy()
    x1 = pre.loc["Pilot"].to_numpy()
    w = solve_simplex_weights(X0 @ X0.T, X0 @ x1)
    got = sw.set_index("donor").loc[pre.drop(index="Pilot").index, "scm_weight"].to_numpy()
    np.testing.assert_allclose(got, w, atol=1e-8)


def test_demeaned_matches_hand_computation(hull):
    res = AugmentedSyntheticControl(treated="Pilot", treatment_start=2016, ridge=False,
                                    demean=True, placebos=False, progress=False).fit(hull)
    wide = hull.pivot(index="area", columns="period", values="value")
    pre_cols = [c for c in wide.columns if c < 2016]
    dm = wide.sub(wide[pre_cols].mean(axis=1), axis=0)
    X0 = dm.drop(index="Pilot")[pre_cols].to_numpy()
    x1 = dm.loc["Pilot", pre_cols].to_numpy()
    w = solve_simplex_weights(X0 @ X0.T, X0 @ x1)
    synth_dm = dm.drop(index="Pilot").to_numpy().T @ w
    gap = dm.loc["Pilot"].to_numpy() - synth_dm
    post = np.array([c >= 2016 for c in wide.columns])
    assert res.estimate == pytest.approx(gap[post].mean(), abs=1e-8)
    assert res.method == "De-meaned synthetic control"
    assert "lambda" not in res.diagnostics


def test_lambda_cv_grid_and_rule():
    rng = np.random.default_rng(0)
    Xc = rng.normal(size=(8, 12))
    Xc -= Xc.mean(axis=0)
    x1 = rng.normal(size=12)
    lam, tab = ridge_lambda_cv(Xc, x1)
    lam_max = np.linalg.svd(Xc, compute_uv=False)[0] ** 2
    assert tab["lambda"].iloc[0] == pytest.approx(lam_max)
    assert tab["lambda"].iloc[-1] / tab["lambda"].iloc[0] == pytest.approx(1e-8)
    best = tab["cv_error"].idxmin()
    within = tab["cv_error"] <= tab.loc[best, "cv_error"] + tab.loc[best, "cv_se"]
    assert lam == pytest.approx(tab.loc[within, "lambda"].max())
    lam_min, _ = ridge_lambda_cv(Xc, x1, min_1se=False)
    assert lam_min == pytest.approx(tab.loc[best, "lambda"])


def test_augmented_inference_and_plots(hull):
    import matplotlib.pyplot as plt

    res = AugmentedSyntheticControl(treated="Pilot", treatment_start=2016, demean=True,
                                    placebo_times=[2012], leave_one_out=1,
                                    progress=False).fit(hull)
    assert res.method == "Ridge-augmented and de-meaned synthetic control"
    assert "bias_correction" in res.tables
    assert abs(res.tables["placebo_in_time"].loc[0, "att"]) < 1.0
    for kind in ["paths", "gaps", "weights"]:
        assert res.plot(kind=kind).get_title()
        plt.close("all")
    assert "Donor weights" in str(res.summary())


def test_augmented_bad_input(hull):
    with pytest.raises(InputError, match="plain synthetic control"):
        AugmentedSyntheticControl(treated="Pilot", treatment_start=2016, ridge=False)
    with pytest.raises(InputError, match="lambda_"):
        AugmentedSyntheticControl(treated="Pilot", treatment_start=2016, lambda_=-1)
    with pytest.raises(InputError, match="treated='X'"):
        AugmentedSyntheticControl(treated="X", treatment_start=2016, progress=False).fit(hull)
