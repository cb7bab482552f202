"""Augmented and de-meaned synthetic control, for a place outside the donors' hull.

A synthetic control is a weighted average of donors with non-negative weights
summing to one, so it can never be higher than the highest donor: a pilot
place with the highest (or lowest) rates in the region cannot be matched, and
the estimate is biased by the remaining pre-period imbalance. Two fixes are
built here, in one class:

* **Ridge augmentation** (Ben-Michael, Feller & Rothstein 2021, "The augmented
  synthetic control method", JASA 116(536)): estimate the remaining bias with a
  ridge regression of post-period outcomes on pre-period outcomes among the
  donors and subtract it. Equivalently the SCM weights are adjusted by
  ``(x1 - X0'w)'(X0'X0 + lambda I)^-1 X0'``; the adjusted weights still sum to
  one but may be negative (extrapolation, penalised by ``lambda``). ``lambda``
  is chosen by leave-one-period-out cross-validation over the pre-period, with
  the one-standard-error rule, as in the authors' R package ``augsynth``
  (``progfunc="Ridge"``).
* **De-meaning** (Ferman & Pinto 2021, "Synthetic controls with imperfect
  pre-treatment fit", Quantitative Economics 12(4); the ``fixedeff`` option of
  ``augsynth``): subtract each place's pre-period mean before fitting, so the
  synthetic place matches the *shape* of the treated place's path and a
  constant level difference is allowed (a difference-in-differences flavour).

Both are built because they fix different failures: de-meaning is enough when
the treated place differs from the donors by a constant level; ridge
augmentation also handles different trends. They can be combined
(``demean=True, ridge=True``). Inference (placebos in space, placebos in time,
leave-one-out) is the same as for :class:`~evalkit.evaluate.synth.SyntheticControl`.
The weights use the pre-period outcomes only (no covariates).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from evalkit.evaluate.augsynth import AugmentedSyntheticControl
>>> rng = np.random.default_rng(3)
>>> t = np.arange(20)
>>> rows = [(f"D{i}", int(y), 10 + i + 0.2 * i * y + rng.normal(0, .1)) for i in range(6)
...         for y in t]
>>> rows += [("Pilot", int(y), 17 + 1.4 * y - 4 * (y >= 15)) for y in t]  # above every donor
>>> df = pd.DataFrame(rows, columns=["area", "period", "value"])
>>> res = AugmentedSyntheticControl(treated="Pilot", treatment_start=15,
...                                 progress=False).fit(df)
>>> bool(abs(res.estimate + 4) < 0.5)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._place import Panel, PlaceDesign, PlaceResult, UnitFit
from .synth import solve_simplex_weights

__all__ = ["AugmentedSyntheticControl", "AugmentedSyntheticControlResult", "ridge_lambda_cv"]


def _scm_weights(Xc: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Simplex weights minimising ||x1 - Xc'w|| (Xc: donors x periods)."""
    return solve_simplex_weights(Xc @ Xc.T, Xc @ x1)


def _ridge_adjust(Xc: np.ndarray, x1: np.ndarray, w: np.ndarray, lam: float) -> np.ndarray:
    """Ridge correction to the weights (Xc centred on the donor means)."""
    T0 = Xc.shape[1]
    r = x1 - Xc.T @ w
    A = Xc.T @ Xc + lam * np.eye(T0)
    return Xc @ np.linalg.solve(A, r)


def ridge_lambda_cv(Xc: np.ndarray, x1: np.ndarray, *, scm: bool = True,
                    holdout_length: int = 1, n_lambda: int = 20,
                    lambda_min_ratio: float = 1e-8, min_1se: bool = True
                    ) -> tuple[float, pd.DataFrame]:
    """Choose the ridge penalty by leave-``holdout_length``-periods-out CV.

    As in ``augsynth``: the grid runs geometrically from the largest squared
    singular value of the (donor-centred) pre-period outcome matrix down by
    ``lambda_min_ratio`` in ``n_lambda`` steps; for each block of held-out
    pre-periods the SCM and ridge weights are fitted on the other periods and
    the held-out squared error recorded; the chosen ``lambda`` is the largest
    within one standard error of the minimum mean error (``min_1se``) or the
    minimiser.

    Parameters
    ----------
    Xc : ndarray (donors x pre-periods), centred on the donor means
    x1 : ndarray (pre-periods), centred the same way

    Returns
    -------
    (lambda, table) with columns ``lambda, cv_error, cv_se``.
    """
    N0, T0 = Xc.shape
    if T0 - holdout_length < 1:
        raise InputError(f"holdout_length={holdout_length} leaves no pre-period to fit on; "
                         f"there are {T0} pre-periods.")
    lam_max = float(np.linalg.svd(Xc, compute_uv=False)[0] ** 2)
    if lam_max <= 0:
        lam_max = 1.0
    scaler = lambda_min_ratio ** (1.0 / n_lambda)
    lambdas = lam_max * scaler ** np.arange(n_lambda + 1)
    n_cv = T0 - holdout_length
    errors = np.zeros((n_cv, lambdas.size))
    for i in range(n_cv):
        hold = np.arange(i, i + holdout_length)
        keep = np.setdiff1d(np.arange(T0), hold)
        X0, X1 = Xc[:, keep], x1[keep]
        syn = _scm_weights(X0, X1) if scm else np.full(N0, 1.0 / N0)
        r = X1 - X0.T @ syn
        G = X0.T @ X0
        evals, evecs = np.linalg.eigh(G)
        proj = evecs.T @ r
        for j, lam in enumerate(lambdas):
            adj = X0 @ (evecs @ (proj / (evals + lam)))
            w = syn + adj
            e = x1[hold] - Xc[:, hold].T @ w
            errors[i, j] = float(e @ e)
    mean = errors.mean(axis=0)
    se = errors.std(axis=0, ddof=1) / np.sqrt(n_cv) if n_cv > 1 else np.zeros_like(mean)
    k = int(np.argmin(mean))
    lam = float(lambdas[mean <= mean[k] + se[k]].max()) if min_1se else float(lambdas[k])
    table = pd.DataFrame({"lambda": lambdas, "cv_error": mean, "cv_se": se})
    table["chosen"] = np.isclose(table["lambda"], lam, rtol=1e-12)
    return lam, table


@dataclass
class _AugState:
    panel: Panel
    donors: list[Any]
    warnings: list[str] = field(default_factory=list)
    excluded: list[tuple[Any, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


class AugmentedSyntheticControl(PlaceDesign):
    """Ridge-augmented and/or de-meaned synthetic control on pre-period outcomes.

    Parameters
    ----------
    treated, treatment_start, unit, time, outcome, donors
        As for :class:`~evalkit.evaluate.synth.SyntheticControl`.
    ridge : bool, default True
        Add the ridge bias correction (Ben-Michael, Feller & Rothstein 2021).
    demean : bool, default False
        Fit on outcomes minus each place's pre-period mean (Ferman & Pinto
        2021; ``augsynth``'s ``fixedeff=TRUE``).
    scm : bool, default True
        Start from SCM weights; ``False`` starts from equal weights (then the
        ridge part is a plain ridge regression of the outcome on its lags).
    lambda_ : float, optional
        Ridge penalty; by default chosen by cross-validation
        (:func:`ridge_lambda_cv`), separately for every placebo.
    holdout_length, n_lambda, lambda_min_ratio, min_1se
        Cross-validation settings (``augsynth`` defaults: 1, 20, 1e-8, True).
    post_end, placebos, placebo_max_pre_mspe_ratio, placebo_times, leave_one_out,
    alpha, missing_donors, min_pre_periods, progress, n_jobs
        As for :class:`~evalkit.evaluate.synth.SyntheticControl`.
    """

    design_key = "synthetic_control"

    def __init__(self, *, treated: Any, treatment_start: Any, unit: str = "area",
                 time: str = "period", outcome: str = "value",
                 donors: Sequence[Any] | None = None, ridge: bool = True, demean: bool = False,
                 scm: bool = True, lambda_: float | None = None, holdout_length: int = 1,
                 n_lambda: int = 20, lambda_min_ratio: float = 1e-8, min_1se: bool = True,
                 post_end: Any = None, placebos: bool = True,
                 placebo_max_pre_mspe_ratio: float | None = None,
                 placebo_times: Sequence[Any] | None = None, leave_one_out: int = 0,
                 alpha: float = 0.05, missing_donors: str = "drop", min_pre_periods: int = 3,
                 progress: bool = True, n_jobs: int = 1) -> None:
        super().__init__(treated=treated, treatment_start=treatment_start, unit=unit, time=time,
                         outcome=outcome, donors=donors, post_end=post_end, placebos=placebos,
                         placebo_max_pre_mspe_ratio=placebo_max_pre_mspe_ratio,
                         placebo_times=placebo_times, leave_one_out=leave_one_out, alpha=alpha,
                         missing_donors=missing_donors, min_pre_periods=min_pre_periods,
                         progress=progress, n_jobs=n_jobs)
        if not (ridge or demean):
            raise InputError("ridge=False and demean=False is plain synthetic control; use "
                             "SyntheticControl (or set ridge=True and/or demean=True).")
        if lambda_ is not None and not lambda_ >= 0:
            raise InputError(f"lambda_={lambda_!r} must be a non-negative number, or None to "
                             "choose it by cross-validation.")
        if int(holdout_length) < 1:
            raise InputError(f"holdout_length={holdout_length!r} must be at least 1.")
        if int(n_lambda) < 1 or not 0 < lambda_min_ratio < 1:
            raise InputError("n_lambda must be >= 1 and lambda_min_ratio between 0 and 1.")
        self.ridge, self.demean, self.scm = bool(ridge), bool(demean), bool(scm)
        self.lambda_ = lambda_
        self.holdout_length = int(holdout_length)
        self.n_lambda = int(n_lambda)
        self.lambda_min_ratio = float(lambda_min_ratio)
        self.min_1se = bool(min_1se)

    def _method_label(self, state: Any) -> str:
        parts = []
        if self.ridge:
            parts.append("ridge-augmented")
        if self.demean:
            parts.append("de-meaned")
        base = "synthetic control" if self.scm else "equal weights"
        return f"{' and '.join(parts).capitalize()} {base}"

    def _prepare(self, panel: Panel) -> _AugState:
        return _AugState(panel=panel, donors=list(panel.donors))

    def _fit_unit(self, state: _AugState, treated: Any, donors: list[Any], role: str
                  ) -> UnitFit:
        panel = state.panel
        ti = panel.index(treated)
        di = [panel.index(d) for d in donors]
        Y1 = panel.Y[ti].astype(float)
        Y0 = panel.Y[di].astype(float)
        pre = panel.pre
        m1 = float(Y1[pre].mean()) if self.demean else 0.0
        m0 = Y0[:, pre].mean(axis=1) if self.demean else np.zeros(len(di))
        Y1d, Y0d = Y1 - m1, Y0 - m0[:, None]
        x1, Xc = Y1d[pre], Y0d[:, pre]
        mu = Xc.mean(axis=0)
        Xc_c, x1_c = Xc - mu, x1 - mu
        syn = _scm_weights(Xc_c, x1_c) if self.scm else np.full(len(di), 1.0 / len(di))
        lam, cv = None, None
        w = syn.copy()
        if self.ridge:
            if self.lambda_ is None:
                lam, cv = ridge_lambda_cv(Xc_c, x1_c, scm=self.scm,
                                          holdout_length=self.holdout_length,
                                          n_lambda=self.n_lambda,
                                          lambda_min_ratio=self.lambda_min_ratio,
                                          min_1se=self.min_1se)
            else:
                lam = float(self.lambda_)
            w = syn + _ridge_adjust(Xc_c, x1_c, syn, lam)
        synthetic = m1 + Y0d.T @ w
        scm_path = m1 + Y0d.T @ syn
        uni = np.full(len(di), 1.0 / len(di))
        l2 = float(np.linalg.norm(x1 - Xc.T @ w))
        l2_uni = float(np.linalg.norm(x1 - Xc.T @ uni))
        return UnitFit(weights=w, synthetic=synthetic,
                       extras={"scm_weights": syn, "lambda": lam, "cv": cv,
                               "scm_synthetic": scm_path, "l2_imbalance": l2,
                               "scaled_l2_imbalance": l2 / l2_uni if l2_uni > 0 else np.nan,
                               "scm_l2_imbalance": float(np.linalg.norm(x1 - Xc.T @ syn))})

    def _design_tables(self, state: _AugState, fit: UnitFit, panel: Panel
                       ) -> dict[str, pd.DataFrame]:
        out = {"scm_weights": pd.DataFrame({"donor": state.donors,
                                            "scm_weight": fit.extras["scm_weights"],
                                            "augmented_weight": fit.weights})
               .sort_values("augmented_weight", ascending=False, kind="stable")
               .reset_index(drop=True)}
        if fit.extras["cv"] is not None:
            out["lambda_cv"] = fit.extras["cv"]
        y1 = panel.Y[0]
        out["bias_correction"] = pd.DataFrame({
            "period": panel.time_labels(),
            "scm_synthetic": fit.extras["scm_synthetic"],
            "augmented_synthetic": fit.synthetic,
            "correction": fit.synthetic - fit.extras["scm_synthetic"],
            "scm_gap": y1 - fit.extras["scm_synthetic"]})
        return out

    def _design_diagnostics(self, state: _AugState, fit: UnitFit) -> dict[str, Any]:
        e = fit.extras
        d: dict[str, Any] = {
            "l2_imbalance": e["l2_imbalance"],
            "scaled_l2_imbalance": e["scaled_l2_imbalance"],
            "scm_l2_imbalance": e["scm_l2_imbalance"],
            "negative_weights": int((fit.weights < -1e-6).sum()),
        }
        if e["lambda"] is not None:
            d["lambda"] = e["lambda"]
        return d


class AugmentedSyntheticControlResult(PlaceResult):
    """Result of :class:`AugmentedSyntheticControl`; see :class:`PlaceResult`.

    Extra tables: ``scm_weights`` (SCM and augmented weights side by side),
    ``lambda_cv`` (the cross-validation curve) and ``bias_correction`` (the
    SCM and augmented synthetic paths and their difference).
    """

    def summary(self, tables: Any = None):
        if tables is None:
            tables = ["weights", "placebos"]
        return super().summary(tables)


AugmentedSyntheticControl.result_class = AugmentedSyntheticControlResult
