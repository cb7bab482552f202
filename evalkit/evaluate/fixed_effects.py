"""Linear regression with absorbed fixed effects and cluster-robust errors.

Fixed effects (unit, period, area...) are removed by the **within
transformation**, computed by the method of alternating projections (Gaure
2013, the algorithm behind R ``lfe``/``fixest`` and ``pyfixest``): subtract the
group means of each fixed effect in turn until nothing changes. By the
Frisch-Waugh-Lovell theorem, OLS of the demeaned outcome on the demeaned
regressors gives exactly the slope coefficients of the regression with a
dummy column per level, without ever building those columns, so panels of
millions of rows fit in memory. For a complete balanced two-way panel one
sweep is exact and no iteration is needed.

Standard errors are cluster-robust (CR1, Liang & Zeger 1986) with the small
sample correction of Stata and ``fixest``:
``G/(G-1) * (N-1)/(N-K)``, where ``K`` counts the slope coefficients plus the
fixed-effect parameters **not nested** within the clusters (``ssc="nested"``,
the ``fixest`` default; ``"none"`` counts slopes only, the ``pyfixest``
default; ``"full"`` counts every fixed-effect level, as a dummy-variable
regression in ``statsmodels`` does). Inference uses a t distribution with
``G - 1`` degrees of freedom.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> unit = np.repeat(np.arange(50), 6); period = np.tile(np.arange(6), 50)
>>> x = rng.normal(size=300)
>>> y = 2.0 * x + unit * 0.3 + period * 0.1 + rng.normal(scale=0.1, size=300)
>>> fit = feols(y, x[:, None], [unit, period], names=["x"], cluster=unit)
>>> round(float(fit.coef[0]), 2)
2.0
>>> fit.n_clusters
50
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError

__all__ = ["demean", "feols", "FEOLSFit", "wald_test"]


def _codes(fe: Sequence[np.ndarray], n: int) -> list[tuple[np.ndarray, int]]:
    out = []
    for j, c in enumerate(fe):
        c = np.asarray(c)
        if c.shape != (n,):
            raise InputError(f"Fixed effect {j} has shape {c.shape}; expected ({n},).")
        if not np.issubdtype(c.dtype, np.integer) or (c.size and c.min() < 0):
            c = pd.factorize(c, sort=False)[0]
        c = c.astype(np.intp, copy=False)
        out.append((c, int(c.max()) + 1 if c.size else 0))
    return out


def _complete_two_way(codes: list[tuple[np.ndarray, int]], n: int) -> bool:
    """True when two fixed effects form a complete balanced grid (one sweep is exact)."""
    if len(codes) != 2:
        return False
    (a, la), (b, lb) = codes
    if la * lb != n or la * lb > 2**31:
        return False
    cnt = np.bincount(a.astype(np.int64) * lb + b, minlength=la * lb)
    return bool(np.all(cnt == 1))


def demean(
    x: np.ndarray,
    fe: Sequence[np.ndarray],
    *,
    weights: np.ndarray | None = None,
    tol: float = 1e-10,
    maxiter: int = 10_000,
) -> tuple[np.ndarray, int, bool]:
    """Within-transform columns of ``x`` by alternating projections.

    Parameters
    ----------
    x : ndarray, shape (N,) or (N, k)
        Columns to demean (copied, never modified).
    fe : sequence of integer arrays, each shape (N,)
        Fixed-effect codes (any hashable labels are factorised).
    weights : ndarray, optional
        Observation weights (weighted group means).
    tol : float
        Stop when the largest group mean removed in a full sweep is below
        ``tol`` times (1 + the column's scale).
    maxiter : int
        Maximum number of sweeps.

    Returns
    -------
    (demeaned, sweeps, converged)

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([1.0, 2.0, 3.0, 5.0])
    >>> d, _, ok = demean(x, [np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])])
    >>> d.round(3).tolist(), ok
    ([0.25, -0.25, -0.25, 0.25], True)
    """
    arr = np.array(x, dtype=np.float64, copy=True)
    one_d = arr.ndim == 1
    if one_d:
        arr = arr[:, None]
    n = arr.shape[0]
    codes = _codes(fe, n)
    if not codes:
        return (arr[:, 0] if one_d else arr), 0, True
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    sizes = [np.bincount(c, weights=w, minlength=L) for c, L in codes]
    for s in sizes:
        s[s == 0] = 1.0
    exact_one_sweep = w is None and (len(codes) == 1 or _complete_two_way(codes, n))
    total_sweeps, all_ok = 0, True
    for col in range(arr.shape[1]):
        v = arr[:, col]
        scale = 1.0 + float(np.max(np.abs(v))) if n else 1.0
        converged = False
        it = 0
        while it < maxiter:
            it += 1
            biggest = 0.0
            for (c, L), s in zip(codes, sizes):
                sums = np.bincount(c, weights=v if w is None else v * w, minlength=L)
                means = sums / s
                biggest = max(biggest, float(np.max(np.abs(means))))
                v -= means[c]
            if exact_one_sweep or biggest < tol * scale:
                converged = True
                break
        total_sweeps = max(total_sweeps, it)
        all_ok &= converged
        arr[:, col] = v
    return (arr[:, 0] if one_d else arr), total_sweeps, all_ok


@dataclass
class FEOLSFit:
    """Result of :func:`feols`: slopes, cluster-robust covariance, counts."""

    coef: np.ndarray
    vcov: np.ndarray
    names: list[str]
    nobs: int
    n_clusters: int
    df_t: int
    k_fe: int
    ssc: str
    ssc_factor: float
    sweeps: int
    converged: bool
    fe_levels: list[int] = field(default_factory=list)
    resid: np.ndarray | None = None

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))

    def to_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Coefficient table: ``term, estimate, se, ci_lower, ci_upper, pvalue``."""
        se = self.se
        q = stats.t.ppf(1 - alpha / 2, self.df_t)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * stats.t.sf(np.abs(self.coef / se), self.df_t)
        return pd.DataFrame({
            "term": self.names, "estimate": self.coef, "se": se,
            "ci_lower": self.coef - q * se, "ci_upper": self.coef + q * se, "pvalue": p,
        })


def _nested(fe_codes: np.ndarray, L: int, cl: np.ndarray, G: int) -> bool:
    """Is every level of a fixed effect inside a single cluster?"""
    if L < G:  # each cluster holds at least one level, so nesting needs L >= G
        return False
    return int(np.unique(fe_codes.astype(np.int64) * G + cl).size) == L


def feols(
    y: np.ndarray,
    X: np.ndarray,
    fe: Sequence[np.ndarray],
    *,
    names: Sequence[str] | None = None,
    cluster: np.ndarray | None = None,
    ssc: str = "nested",
    weights: np.ndarray | None = None,
    tol: float = 1e-10,
    maxiter: int = 10_000,
    keep_resid: bool = False,
) -> FEOLSFit:
    """OLS of ``y`` on ``X`` with the fixed effects ``fe`` absorbed.

    Parameters
    ----------
    y : ndarray, shape (N,)
    X : ndarray, shape (N, k)
        Regressors (no intercept: it is absorbed by the fixed effects).
    fe : sequence of arrays
        Fixed-effect codes, e.g. ``[unit_codes, period_codes]``.
    names : list of str, optional
        Names of the columns of ``X``.
    cluster : array, optional
        Cluster codes per observation; ``None`` gives heteroskedasticity-
        robust (HC1-type) errors, each observation its own cluster.
    ssc : {"nested", "none", "full"}
        How fixed-effect parameters enter ``K`` in the small-sample factor
        (see module docstring).
    weights : ndarray, optional
        Regression weights (weighted least squares).

    Returns
    -------
    FEOLSFit
    """
    if ssc not in ("nested", "none", "full"):
        raise InputError(f"ssc must be 'nested', 'none' or 'full'; got {ssc!r}.")
    y = np.asarray(y, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    n, k = X.shape
    names = list(names) if names is not None else [f"x{j}" for j in range(k)]
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(X))):
        raise InputError("The outcome or regressors contain missing or infinite values.")
    codes = _codes(fe, n)
    both, sweeps, ok = demean(np.column_stack([y, X]), [c for c, _ in codes],
                              weights=weights, tol=tol, maxiter=maxiter)
    yd, Xd = both[:, 0], both[:, 1:]
    sw = None if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
    Xw = Xd if sw is None else Xd * sw[:, None]
    yw = yd if sw is None else yd * sw
    XtX = Xw.T @ Xw
    scale = np.sqrt(np.maximum(np.diag(XtX), 1e-300))
    rank = np.linalg.matrix_rank(XtX / np.outer(scale, scale), tol=1e-9)
    if rank < k or np.any(np.diag(XtX) <= 1e-12 * max(1.0, float(n))):
        # find the offending columns for the message
        bad = [names[j] for j in range(k) if XtX[j, j] <= 1e-12 * max(1.0, float(n))]
        what = (f"column(s) {', '.join(bad)} do not vary once the fixed effects are "
                "removed" if bad else "some columns are collinear with each other or with "
                "the fixed effects")
        raise InputError(
            f"The regression cannot be estimated: {what}. Drop or recode those regressors "
            "(e.g. a treatment that switches on for every unit in the same period is "
            "absorbed by the period effects)."
        )
    bread = np.linalg.inv(XtX)
    coef = bread @ (Xw.T @ yw)
    resid = yw - Xw @ coef
    if cluster is None:
        cl = np.arange(n, dtype=np.intp)
        G = n
    else:
        cl = pd.factorize(np.asarray(cluster), sort=False)[0].astype(np.intp)
        G = int(cl.max()) + 1
    if G < 2:
        raise InputError("Cluster-robust standard errors need at least two clusters.")
    scores = Xw * resid[:, None]
    S = np.column_stack([np.bincount(cl, weights=scores[:, j], minlength=G)
                         for j in range(k)])
    meat = S.T @ S
    levels = [L for _, L in codes]
    full = sum(levels) - max(len(levels) - 1, 0)
    if ssc == "none":
        k_fe = 0
    elif ssc == "full":
        k_fe = full
    else:
        nested = sum(L for c, L in codes if cluster is not None and _nested(c, L, cl, G))
        k_fe = full - nested
    K = k + k_fe
    if n - K <= 0:
        raise InputError(f"Too few observations ({n}) for {K} parameters.")
    factor = (G / (G - 1)) * ((n - 1) / (n - K))
    vcov = factor * (bread @ meat @ bread)
    return FEOLSFit(coef=coef, vcov=vcov, names=names, nobs=n, n_clusters=G, df_t=G - 1,
                    k_fe=k_fe, ssc=ssc, ssc_factor=factor, sweeps=sweeps, converged=ok,
                    fe_levels=levels, resid=resid if keep_resid else None)


def wald_test(fit: FEOLSFit, which: Sequence[int]) -> dict[str, float]:
    """Joint Wald test that the coefficients ``which`` are all zero.

    Returns the Wald statistic ``W = b' V^-1 b``, its chi-squared p-value
    (``q`` degrees of freedom), and the F version ``W / q`` with ``(q, G-1)``
    degrees of freedom (the conservative choice with few clusters).
    """
    idx = list(which)
    q = len(idx)
    if q == 0:
        return {"wald": float("nan"), "df": 0, "df_denom": float(fit.df_t),
                "pvalue_chi2": float("nan"), "F": float("nan"), "pvalue": float("nan")}
    b = fit.coef[idx]
    V = fit.vcov[np.ix_(idx, idx)]
    W = float(b @ np.linalg.solve(V, b))
    F = W / q
    return {"wald": W, "df": q, "df_denom": float(fit.df_t),
            "pvalue_chi2": float(stats.chi2.sf(W, q)), "F": F,
            "pvalue": float(stats.f.sf(F, q, fit.df_t))}
