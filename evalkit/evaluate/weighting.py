"""Weighting designs: inverse probability weights and entropy balancing.

* :class:`InverseProbabilityWeighting`: weights from a logistic propensity
  score. For the ATT, pilot participants get weight 1 and comparison people
  the odds ``p / (1 - p)``; for the ATE, ``1 / p`` and ``1 / (1 - p)``. Means
  are normalised by the sum of weights in each group (the Hajek estimator),
  which is more stable than the unnormalised Horvitz-Thompson form (Hirano,
  Imbens and Ridder 2003; Lunceford and Davidian 2004).
* :class:`EntropyBalancing` (Hainmueller 2012, Political Analysis 20:25-46):
  the weights closest to uniform (in Kullback-Leibler divergence) that make
  the comparison group's covariate means equal the pilot group's exactly. It
  is solved through its convex dual, ``min_lambda log sum_i exp(lambda'(x_i -
  target))``, with scipy's trust-region Newton method.

Both return a :class:`~evalkit.evaluate.comparison.ComparisonResult`. Their
default standard errors come from stacking the weighting model's estimating
equations (the logit score, or entropy balancing's moment conditions) with
the outcome model's, so the uncertainty of the weights is included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .comparison import Adjustment, ComparisonDesign, ComparisonResult, WeightModel
from .propensity import Sample

__all__ = ["InverseProbabilityWeighting", "EntropyBalancing", "entropy_weights", "ipw",
           "entropy_balance"]


def _weight_diagnostics(w: np.ndarray, d: np.ndarray) -> tuple[dict[str, Any], list[str]]:
    diag: dict[str, Any] = {}
    warns: list[str] = []
    for grp, mask in (("treated", d == 1), ("comparison", d == 0)):
        ww = w[mask]
        tot = ww.sum()
        if tot > 0:
            share = float(ww.max() / tot)
            diag[f"max_weight_share_{grp}"] = share
            if share > 0.1 and (ww > 0).sum() > 20:
                warns.append(
                    f"One {grp} person carries {share:.0%} of the {grp} group's total weight: "
                    "the estimate leans on very few people. Check overlap (plot(kind="
                    "'overlap')), consider trimming (trim='minmax') or a simpler model.")
    return diag, warns


class InverseProbabilityWeighting(ComparisonDesign):
    """Inverse probability weighting on a logistic propensity score.

    Parameters
    ----------
    treatment : str, default "treated"
        0/1 column, 1 = in the pilot.
    covariates : list of str, optional
        Covariates of the propensity model (categoricals become dummies).
    formula : str, optional
        Instead of ``covariates``, a patsy formula, e.g. the Dehejia-Wahba
        specification ``"treat ~ age + I(age**2) + educ + re74 + educ:re74"``.
    outcome : str or list of str, optional
        Outcome column(s) (or give them to :meth:`fit`).
    estimand : {"ATT", "ATE"}, default "ATT"
        ATT: odds weights for comparison people. ATE: ``1/p`` and ``1/(1-p)``.
    method : {"difference", "regression"}, default "difference"
        Weighted difference in means, or weighted regression adjustment (the
        doubly robust IPW-regression estimator: consistent if either the
        propensity or the outcome model is right).
    outcome_type : {"continuous", "count"}, default "continuous"
        Counts are compared as event rates (per unit of ``exposure``), or with
        a Poisson / negative-binomial model when ``method="regression"``.
    exposure : str, optional
        Person-years at risk, for counts.
    count_model : {"poisson", "negbin"}, default "poisson"
    trim : None, "minmax", float or (low, high)
        Common-support trimming of the propensity score (see
        :class:`~evalkit.evaluate.propensity.PropensityScore`).
    se : {"sandwich", "bootstrap"}, default "sandwich"
        M-estimation sandwich including the propensity model, or a stratified
        bootstrap of the whole pipeline (``n_boot`` replicates, ``seed``,
        ``progress`` bar); bootstrap draws are kept in ``result.draws``.
    alpha : float, default 0.05
    threshold : float, default 0.1
        |SMD| above which balance is flagged.
    missing : {"error", "drop"}, default "error"
    id : str, optional
        Person identifier column.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> n = 2000
    >>> x = rng.normal(size=n)
    >>> d = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    >>> df = pd.DataFrame({"x": x, "treated": d, "y": 2 * d + x + rng.normal(size=n)})
    >>> r = InverseProbabilityWeighting(covariates=["x"], outcome="y").fit(df)
    >>> bool(r.ci_lower < 2 < r.ci_upper)
    True
    """

    design_key = "weighting"

    def _adjust(self, sample: Sample, *, light: bool = False) -> Adjustment:
        ps = self._propensity(sample)
        keep = ps.keep
        d = sample.d.astype(float)
        Z1 = ps.design(sample.X)
        est = self.estimand
        kf = keep.astype(float)

        def weights(beta: np.ndarray) -> np.ndarray:
            p = 1 / (1 + np.exp(-(Z1 @ beta)))
            if est == "ATT":
                return kf * (d + (1 - d) * p / (1 - p))
            return kf * (d / p + (1 - d) / (1 - p))

        def psi(beta: np.ndarray) -> np.ndarray:
            p = 1 / (1 + np.exp(-(Z1 @ beta)))
            return Z1 * (d - p)[:, None]

        beta = np.asarray(ps.model.params, dtype=float)
        w = weights(beta)
        diag, warns = _weight_diagnostics(w, sample.d)
        excluded = ps.excluded
        label = ("odds weights p/(1-p) for comparison people (ATT)" if est == "ATT"
                 else "inverse probability weights 1/p, 1/(1-p) (ATE)")
        return Adjustment(
            w=w, excluded=excluded, method=f"Inverse probability weighting: {label}, "
            "normalised", weight_model=WeightModel(beta, psi, weights), ps=ps,
            diagnostics=diag, target=keep if est == "ATE" else None,
            info={"warnings": warns})


def _independent(C: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Greedy selection of linearly independent columns (after centring)."""
    Cc = C - C.mean(axis=0)
    G = Cc.T @ Cc
    keep: list[int] = []
    for j in range(C.shape[1]):
        if G[j, j] <= 0:
            continue
        if keep:
            K = np.array(keep)
            sol = np.linalg.lstsq(G[np.ix_(K, K)], G[K, j], rcond=None)[0]
            r = G[j, j] - G[j, K] @ sol
        else:
            r = G[j, j]
        if r > tol * G[j, j]:
            keep.append(j)
    return np.array(keep, dtype=int)


def entropy_weights(C: np.ndarray, target: np.ndarray, base: np.ndarray | None = None, *,
                    tol: float = 1e-8, maxiter: int = 500) -> tuple[np.ndarray, np.ndarray, Any]:
    """Entropy-balancing weights whose weighted means of ``C`` equal ``target``.

    Solves the dual ``min_lambda log sum_i q_i exp(lambda'(c_i - target))``.
    Returns the weights (summing to 1), ``lambda`` and scipy's result.
    Columns of ``C`` should be on comparable scales (standardised).

    Examples
    --------
    >>> C = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> w, lam, _ = entropy_weights(C, np.array([2.0]))
    >>> round(float(w @ C[:, 0]), 6)
    2.0
    """
    from scipy.optimize import minimize
    from scipy.special import logsumexp, softmax

    A = C - target
    lq = np.zeros(len(C)) if base is None else np.log(base)

    def fun(lam):
        return logsumexp(lq + A @ lam)

    def jac(lam):
        s = softmax(lq + A @ lam)
        return A.T @ s

    def hess(lam):
        s = softmax(lq + A @ lam)
        g = A.T @ s
        return (A * s[:, None]).T @ A - np.outer(g, g)

    lam0 = np.zeros(C.shape[1])
    res = minimize(fun, lam0, jac=jac, hess=hess, method="trust-exact",
                   options={"gtol": tol, "maxiter": maxiter})
    lam = res.x
    w = softmax(lq + A @ lam)
    return w, lam, res


class EntropyBalancing(ComparisonDesign):
    """Entropy balancing (Hainmueller 2012).

    Re-weights the comparison group so that its means of every balance term
    (the covariates or the formula's terms; with ``moments=2`` also squares of
    the continuous ones) equal the pilot group's exactly (ATT), or re-weights
    both groups to the whole sample's means (ATE), keeping the weights as close
    to uniform as possible. Parameters are those of
    :class:`InverseProbabilityWeighting` (no propensity model is needed unless
    ``trim`` is given), plus:

    Parameters
    ----------
    moments : {1, 2}, default 1
        Balance means (1) or also variances, through squared terms (2).
    tol : float, default 1e-8
        Largest remaining standardised mean difference accepted from the solver.
    maxiter : int, default 500

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(4)
    >>> n = 1500
    >>> x = rng.normal(size=n)
    >>> d = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    >>> df = pd.DataFrame({"x": x, "treated": d, "y": 1 + d + x + rng.normal(size=n)})
    >>> r = EntropyBalancing(covariates=["x"], outcome="y").fit(df)
    >>> round(r.diagnostics["max_abs_smd_after"], 6)
    0.0
    """

    design_key = "weighting"

    def __init__(self, *, moments: int = 1, tol: float = 1e-8, maxiter: int = 500,
                 **kwargs: Any) -> None:
        if moments not in (1, 2):
            raise InputError(f"moments must be 1 (means) or 2 (means and variances); got "
                             f"{moments!r}.")
        self.moments = moments
        self.tol = tol
        self.maxiter = maxiter
        super().__init__(**kwargs)

    def _constraints(self, sample: Sample) -> tuple[np.ndarray, list[str]]:
        X = sample.X.to_numpy(dtype=float)
        names = [str(c) for c in sample.X.columns]
        if self.moments == 2:
            binary = np.all((X == 0) | (X == 1), axis=0)
            sq = X[:, ~binary] ** 2
            X = np.column_stack([X, sq])
            names = names + [f"{n}^2" for n, b in zip(names, binary) if not b]
        return X, names

    def _adjust(self, sample: Sample, *, light: bool = False) -> Adjustment:
        ps, keep, (excluded,) = self._support(sample, self.trim is not None)
        C_raw, names = self._constraints(sample)
        d = sample.d
        t = (d == 1) & keep
        c = (d == 0) & keep
        mu_all = C_raw[keep].mean(axis=0)
        sd_all = C_raw[keep].std(axis=0)
        const = sd_all == 0
        sd_all = np.where(const, 1.0, sd_all)
        C = (C_raw - mu_all) / sd_all
        cols = _independent(C[keep][:, ~const] if (~const).any() else C[keep][:, :0])
        use = np.flatnonzero(~const)[cols]
        C = C[:, use]
        used_names = [names[j] for j in use]
        est = self.estimand
        kf = keep.astype(float)
        if est == "ATT":
            groups = [("comparison", c)]
            target = C[t].mean(axis=0)
        else:
            groups = [("treated", t), ("comparison", c)]
            target = C[keep].mean(axis=0)
        lams, scales = [], []
        w = np.zeros(sample.n)
        w[t] = 1.0
        for label, mask in groups:
            wg, lam, res = entropy_weights(C[mask], target, tol=self.tol, maxiter=self.maxiter)
            gap = np.abs(C[mask].T @ wg - target)
            if not np.all(gap < max(1e-6, 10 * self.tol)):
                Cm = C_raw[mask][:, use]
                tm = target * sd_all[use] + mu_all[use]
                outside = [nm for j, nm in enumerate(used_names)
                           if tm[j] < Cm[:, j].min() or tm[j] > Cm[:, j].max()]
                why = (f"the target mean of {outside} lies outside the {label} group's range"
                       if outside else f"the constraints cannot all be met by the {label} "
                       "group (too few comparable people)")
                raise InputError(
                    f"Entropy balancing did not converge (largest remaining standardised "
                    f"difference {gap.max():.3g}): {why}. Remove or coarsen those covariates, "
                    "trim off-support people (trim='minmax'), or use moments=1.")
            w[mask] = wg * mask.sum()
            lams.append(lam)
            e0 = C[mask] @ lam - target @ lam
            scales.append(float(mask.sum() / np.exp(e0).sum()))
        p = C.shape[1]
        df = d.astype(float)

        if est == "ATT":
            sc = scales[0]

            def weights(th):
                mu, lam = th[:p], th[p:]
                return df * kf + (1 - df) * kf * sc * np.exp((C - mu) @ lam)

            def psi(th):
                mu, lam = th[:p], th[p:]
                A = C - mu
                e = (1 - df) * kf * sc * np.exp(A @ lam)
                return np.column_stack([(df * kf)[:, None] * A, e[:, None] * A])

            theta = np.r_[target, lams[0]]
        else:
            s1, s0 = scales

            def weights(th):
                mu, l1, l0 = th[:p], th[p:2 * p], th[2 * p:]
                A = C - mu
                return kf * (df * s1 * np.exp(A @ l1) + (1 - df) * s0 * np.exp(A @ l0))

            def psi(th):
                mu, l1, l0 = th[:p], th[p:2 * p], th[2 * p:]
                A = C - mu
                e1 = df * kf * s1 * np.exp(A @ l1)
                e0 = (1 - df) * kf * s0 * np.exp(A @ l0)
                return np.column_stack([kf[:, None] * A, e1[:, None] * A, e0[:, None] * A])

            theta = np.r_[target, lams[0], lams[1]]
        diag, warns = _weight_diagnostics(w, d)
        diag["n_balance_constraints"] = int(p)
        dropped = [n for j, n in enumerate(names) if j not in set(use.tolist())]
        if dropped and not light:
            warns.append(f"Balance terms {dropped} were left out of entropy balancing because "
                         "they are constant or exact combinations of other terms.")
        label = ("comparison group re-weighted to the pilot group's means (ATT)"
                 if est == "ATT" else "both groups re-weighted to the whole sample's means (ATE)")
        tables = {}
        if self.moments == 2 and not light:
            tables["balance_constraints"] = pd.DataFrame({"term": used_names})
        return Adjustment(
            w=w, excluded=excluded, method=f"Entropy balancing (Hainmueller 2012): {label}",
            weight_model=WeightModel(theta, psi, weights), ps=ps, diagnostics=diag,
            target=keep if est == "ATE" else None, tables=tables, info={"warnings": warns})


def ipw(data: pd.DataFrame, *, outcome: str | Sequence[str], **kwargs: Any) -> ComparisonResult:
    """Convenience: ``InverseProbabilityWeighting(**kwargs).fit(data, outcome)``."""
    return InverseProbabilityWeighting(**kwargs).fit(data, outcome)  # type: ignore[return-value]


def entropy_balance(data: pd.DataFrame, *, outcome: str | Sequence[str], **kwargs: Any
                    ) -> ComparisonResult:
    """Convenience: ``EntropyBalancing(**kwargs).fit(data, outcome)``."""
    return EntropyBalancing(**kwargs).fit(data, outcome)  # type: ignore[return-value]
