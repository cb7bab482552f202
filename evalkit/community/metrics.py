"""Validation metrics for a risk score: discrimination, calibration, capture.

* **AUC** (area under the ROC curve): the chance that a person who went on to
  crisis was scored above one who did not (ties count half), with the DeLong,
  DeLong & Clarke-Pearson (1988) standard error computed by the fast
  mid-rank algorithm of Sun & Xu (2014).
* **Brier score**: mean squared difference between predicted risk and the 0/1
  outcome; the **no-skill** Brier score is ``prevalence * (1 - prevalence)``
  (everyone given the base rate) and the **scaled Brier** (Brier skill) is
  ``1 - Brier / no-skill``.
* **Calibration** (Van Calster et al. 2016, 2019): calibration-in-the-large
  (observed / expected crises, and the intercept of a logistic model of the
  outcome with ``logit(risk)`` as offset), the calibration slope (coefficient
  of ``logit(risk)``; 1 is ideal, below 1 means predictions too extreme), and a
  reliability curve (observed rate by bands of predicted risk, with Wilson
  95% intervals).
* **Capture**: flag the top ``s`` share of people by predicted risk; report the
  positive predictive value (of those flagged, the share who went on to
  crisis), sensitivity (of everyone who went on to crisis, the share
  flagged) and how many crises came from outside the flagged group.

Example
-------
>>> import numpy as np
>>> y = np.array([0, 0, 1, 1]); p = np.array([0.1, 0.4, 0.35, 0.8])
>>> auc, se = auc_delong(y, p)
>>> round(auc, 3)
0.75
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "auc_delong",
    "brier",
    "calibration_stats",
    "reliability_table",
    "roc_table",
    "capture_table",
    "wilson_interval",
]


def _midranks(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, method="average")


def auc_delong(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """AUC and its DeLong standard error (NaN when one class is empty).

    Examples
    --------
    >>> auc_delong(np.array([0, 1]), np.array([0.2, 0.9]))[0]
    1.0
    """
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=float)
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        return float("nan"), float("nan")
    r = _midranks(p)
    rx, ry = r[y], r[~y]
    tx, ty = _midranks(p[y]), _midranks(p[~y])
    auc = (rx.sum() - m * (m + 1) / 2) / (m * n)
    v10 = (rx - tx) / n
    v01 = 1 - (ry - ty) / m
    s10 = v10.var(ddof=1) if m > 1 else 0.0
    s01 = v01.var(ddof=1) if n > 1 else 0.0
    se = float(np.sqrt(s10 / m + s01 / n))
    return float(auc), se


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of predicted risk against the 0/1 outcome."""
    y = np.asarray(y, dtype=float)
    return float(np.mean((np.asarray(p, dtype=float) - y) ** 2)) if len(y) else float("nan")


def wilson_interval(k: np.ndarray, n: np.ndarray, alpha: float = 0.05
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion ``k / n``.

    Examples
    --------
    >>> lo, hi = wilson_interval(np.array([5]), np.array([10]))
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.237, 0.763)
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ph = k / n
        den = 1 + z**2 / n
        centre = (ph + z**2 / (2 * n)) / den
        half = z * np.sqrt(ph * (1 - ph) / n + z**2 / (4 * n**2)) / den
    return centre - half, centre + half


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    return np.log(q / (1 - q))


def calibration_stats(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Observed/expected, calibration intercept (with offset) and slope.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.5, 20000); y = rng.random(20000) < p
    >>> s = calibration_stats(y, p)
    >>> abs(s["slope"] - 1) < 0.1, abs(s["oe_ratio"] - 1) < 0.05
    (True, True)
    """
    import statsmodels.api as sm

    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    out = {"observed_rate": float(y.mean()) if len(y) else float("nan"),
           "mean_predicted": float(p.mean()) if len(p) else float("nan"),
           "oe_ratio": float(y.sum() / p.sum()) if p.sum() > 0 else float("nan"),
           "intercept": float("nan"), "slope": float("nan")}
    if len(y) < 10 or y.min() == y.max():
        return out
    lp = _logit(p)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            r0 = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(),
                        offset=lp).fit()
            out["intercept"] = float(r0.params[0])
            r1 = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
            out["slope"] = float(r1.params[1])
        except Exception:  # pragma: no cover - degenerate scores
            pass
    return out


def reliability_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Observed crisis rate by band of predicted risk (equal-sized bands).

    Columns: ``band, n_people, crises, mean_predicted, observed_rate,
    ci_lower, ci_upper, risk_from, risk_to``.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    cols = ["band", "n_people", "crises", "mean_predicted", "observed_rate", "ci_lower",
            "ci_upper", "risk_from", "risk_to"]
    if len(y) == 0:
        return pd.DataFrame(columns=cols)
    order = np.argsort(p, kind="stable")
    # equal-count bands on the sorted scores; tied scores stay in one band
    edges = np.linspace(0, len(p), n_bins + 1).round().astype(int)
    ps = p[order]
    cut = np.searchsorted(ps, ps[np.minimum(edges[1:-1], len(p) - 1)], side="left")
    bounds = np.unique(np.concatenate([[0], cut, [len(p)]]))
    band_of = np.empty(len(p), dtype=np.int64)
    band_of[order] = np.searchsorted(bounds, np.arange(len(p)), side="right") - 1
    nb = len(bounds) - 1
    n = np.bincount(band_of, minlength=nb)
    k = np.bincount(band_of, weights=y, minlength=nb)
    sp = np.bincount(band_of, weights=p, minlength=nb)
    lo, hi = wilson_interval(k, n)
    return pd.DataFrame({
        "band": np.arange(1, nb + 1),
        "n_people": n,
        "crises": k.astype(int),
        "mean_predicted": sp / n,
        "observed_rate": k / n,
        "ci_lower": lo,
        "ci_upper": hi,
        "risk_from": [ps[bounds[i]] for i in range(nb)],
        "risk_to": [ps[bounds[i + 1] - 1] for i in range(nb)],
    })[cols]


def roc_table(y: np.ndarray, p: np.ndarray, points: int = 101) -> pd.DataFrame:
    """The ROC curve on a fixed grid of false-positive rates (aggregate only).

    Examples
    --------
    >>> r = roc_table(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.8]), points=3)
    >>> r["true_positive_rate"].tolist()
    [1.0, 1.0, 1.0]
    """
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=float)
    if y.all() or (~y).all():
        return pd.DataFrame({"false_positive_rate": [], "true_positive_rate": []})
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    last = np.r_[ps[1:] != ps[:-1], True]  # one point per distinct threshold
    tp = np.cumsum(ys)[last]
    fp = np.cumsum(~ys)[last]
    tpr = np.r_[0.0, tp / y.sum()]
    fpr = np.r_[0.0, fp / (~y).sum()]
    grid = np.linspace(0, 1, points)
    # the curve is a step up at each threshold: take the highest TPR reached at each FPR
    right = np.interp(grid, fpr, tpr, left=0.0, right=1.0)
    idx = np.searchsorted(fpr, grid, side="right") - 1
    best = np.maximum(right, tpr[np.maximum(idx, 0)])
    return pd.DataFrame({"false_positive_rate": grid, "true_positive_rate": best})


def flag_top(p: np.ndarray, share: float) -> np.ndarray:
    """Boolean mask of the top ``ceil(share * n)`` scores (ties by position)."""
    p = np.asarray(p, dtype=float)
    k = int(np.ceil(share * len(p) - 1e-9))
    flag = np.zeros(len(p), dtype=bool)
    if k > 0:
        flag[np.argsort(-p, kind="stable")[:k]] = True
    return flag


def capture_table(y: np.ndarray, p: np.ndarray,
                  shares: Sequence[float] = (0.01, 0.05, 0.10)) -> pd.DataFrame:
    """What flagging the top share of people would have meant.

    Examples
    --------
    >>> y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    >>> p = np.linspace(1, 0, 10)
    >>> capture_table(y, p, [0.2]).loc[0, ["n_flagged", "crises_flagged",
    ...     "crises_outside_flagged"]].tolist()
    [2, 1, 2]
    """
    y = np.asarray(y).astype(bool)
    total = int(y.sum())
    rows = []
    for s in shares:
        f = flag_top(p, s)
        kf = int(f.sum())
        cf = int((f & y).sum())
        thr = float(np.min(np.asarray(p)[f])) if kf else float("nan")
        prev = total / len(y) if len(y) else float("nan")
        rows.append({
            "top_share": float(s),
            "n_people": len(y),
            "n_flagged": kf,
            "crises": total,
            "crises_flagged": cf,
            "ppv": cf / kf if kf else float("nan"),
            "sensitivity": cf / total if total else float("nan"),
            "crises_outside_flagged": total - cf,
            "share_of_crises_outside": (total - cf) / total if total else float("nan"),
            "base_rate": prev,
            "lift": (cf / kf) / prev if kf and prev else float("nan"),
            "risk_threshold": thr,
        })
    return pd.DataFrame(rows)
