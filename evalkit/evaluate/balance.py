"""Covariate balance: standardised mean differences, variance ratios, ESS.

A comparison group is only credible if, after matching or weighting, it looks
like the pilot group on everything that drives both joining and outcomes.
:func:`balance_table` reports, for every covariate, the means in each group,
the standardised mean difference (SMD) and the variance ratio, before and
after adjustment; :class:`Balance` wraps it with effective sample sizes, a
love plot and a warning when any |SMD| after adjustment exceeds the threshold
(0.1 by default; Austin 2009, Stuart 2010).

Conventions (as in R's cobalt): the SMD denominator is the *unadjusted*
standard deviation, the same before and after, so that the two columns are
comparable: the treated group's SD for the ATT, the pooled
``sqrt((s1^2 + s0^2) / 2)`` for the ATE. Binary covariates are standardised
the same way (their SD is ``sqrt(p(1-p))``). Variance ratios (treated over
comparison) are shown for non-binary covariates only. Weighted variances use
the unbiased "reliability weights" form.

Examples
--------
>>> import numpy as np, pandas as pd
>>> X = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 2.0, 3.0]})
>>> d = np.array([1, 1, 1, 0, 0, 0])
>>> tab = balance_table(X, d)
>>> round(float(tab.loc["x", "smd_before"]), 3)   # (2 - 3) / sd(1, 2, 3)
-1.0
>>> w = np.array([1, 1, 1, 0, 1, 0.0])              # keep the comparison person with x = 2
>>> round(float(balance_table(X, d, weights=w).loc["x", "smd_after"]), 3)
0.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["balance_table", "Balance", "assess_balance", "effective_sample_size",
           "weighted_mean_var"]

BALANCE_COLUMNS = ("type", "mean_treated_before", "mean_control_before", "smd_before",
                   "var_ratio_before", "mean_treated_after", "mean_control_after",
                   "smd_after", "var_ratio_after")


def effective_sample_size(w: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``.

    >>> effective_sample_size(np.array([1.0, 1.0, 1.0, 1.0]))
    4.0
    >>> effective_sample_size(np.array([3.0, 1.0]))
    1.6
    """
    w = np.asarray(w, dtype=float)
    s2 = float(np.sum(w ** 2))
    return float(np.sum(w) ** 2 / s2) if s2 > 0 else 0.0


def weighted_mean_var(X: np.ndarray, w: np.ndarray, chunk: int = 131_072
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Column means and unbiased (reliability-weight) variances.

    Rows with zero weight are skipped; large tables are processed in chunks so
    no full-size temporary is created.
    """
    w = np.asarray(w, dtype=float)
    nz = w > 0
    if nz.sum() < 0.5 * len(w):
        X, w = X[nz], w[nz]
    sw = w.sum()
    if sw <= 0:
        nan = np.full(X.shape[1], np.nan)
        return nan, nan
    m = (w @ X) / sw
    sw2 = float(w @ w)
    denom = sw - sw2 / sw
    if denom <= 0:
        return m, np.full(X.shape[1], np.nan)
    ss = np.zeros(X.shape[1])
    for a in range(0, len(w), chunk):
        ss += w[a:a + chunk] @ (X[a:a + chunk] - m) ** 2
    return m, ss / denom


def _is_binary(X: np.ndarray) -> np.ndarray:
    out = np.zeros(X.shape[1], dtype=bool)
    for j in range(X.shape[1]):
        col = X[:, j]
        if col[0] not in (0, 1) or col[-1] not in (0, 1):
            continue
        out[j] = bool(np.all((col == 0) | (col == 1)))
    return out


def balance_table(X: pd.DataFrame, d: np.ndarray, weights: np.ndarray | None = None, *,
                  estimand: str = "ATT", before_weights: np.ndarray | None = None
                  ) -> pd.DataFrame:
    """Balance of every covariate before and after adjustment.

    Parameters
    ----------
    X : DataFrame
        Covariates (numeric; dummies for categories), one row per person.
    d : array of 0/1
        Treatment.
    weights : array, optional
        Adjustment weights (matching or weighting); 0 = not in the adjusted
        sample. ``None`` gives the "after" columns equal to "before".
    estimand : {"ATT", "ATE"}
        Sets the SMD denominator (treated SD, or pooled SD).
    before_weights : array, optional
        Base weights for the "before" columns (default: everyone 1).

    Returns
    -------
    DataFrame indexed by covariate with :data:`BALANCE_COLUMNS`.
    """
    Xv = np.asarray(X, dtype=float)
    d = np.asarray(d)
    if Xv.ndim != 2 or len(Xv) != len(d):
        raise InputError("balance_table: X must be a table with one row per person, the "
                         "same length as the treatment.")
    names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else \
        [f"x{j}" for j in range(Xv.shape[1])]
    t = d == 1
    b = np.ones(len(d)) if before_weights is None else np.asarray(before_weights, float)
    w = b if weights is None else np.asarray(weights, dtype=float)
    if len(w) != len(d):
        raise InputError(f"weights has {len(w)} values for {len(d)} people.")
    m1b, v1b = weighted_mean_var(Xv, b * t)
    m0b, v0b = weighted_mean_var(Xv, b * ~t)
    if weights is None:
        m1a, v1a, m0a, v0a = m1b, v1b, m0b, v0b
    else:
        m1a, v1a = weighted_mean_var(Xv, w * t)
        m0a, v0a = weighted_mean_var(Xv, w * ~t)
    est = estimand.upper()
    if est == "ATT":
        sd = np.sqrt(v1b)
    elif est in ("ATE", "ATO"):
        sd = np.sqrt((v1b + v0b) / 2)
    elif est == "ATC":
        sd = np.sqrt(v0b)
    else:
        raise InputError(f"estimand must be 'ATT' or 'ATE'; got {estimand!r}.")
    # a covariate constant in the reference group: fall back to the pooled SD
    pooled = np.sqrt((v1b + v0b) / 2)
    sd = np.where((sd > 0) & np.isfinite(sd), sd, pooled)
    with np.errstate(divide="ignore", invalid="ignore"):
        smd_b = np.where(sd > 0, (m1b - m0b) / sd, 0.0)
        smd_a = np.where(sd > 0, (m1a - m0a) / sd, 0.0)
        vr_b = v1b / v0b
        vr_a = v1a / v0a
    binary = _is_binary(Xv)
    vr_b = np.where(binary, np.nan, vr_b)
    vr_a = np.where(binary, np.nan, vr_a)
    tab = pd.DataFrame({
        "type": np.where(binary, "binary", "continuous"),
        "mean_treated_before": m1b, "mean_control_before": m0b, "smd_before": smd_b,
        "var_ratio_before": vr_b, "mean_treated_after": m1a, "mean_control_after": m0a,
        "smd_after": smd_a, "var_ratio_after": vr_a,
    }, index=pd.Index(names, name="covariate"))
    return tab


class Balance:
    """A balance report: table, effective sample sizes, warning and love plot.

    Attributes
    ----------
    table : DataFrame
        :func:`balance_table` output.
    threshold : float
        |SMD| above which a covariate counts as imbalanced (default 0.1).
    ess : dict
        Kish effective sample sizes ``{"treated": ..., "comparison": ...}``
        after adjustment, and ``n`` the raw counts with positive weight.
    """

    def __init__(self, table: pd.DataFrame, *, threshold: float = 0.1,
                 ess: dict[str, float] | None = None, n: dict[str, int] | None = None,
                 estimand: str = "ATT", adjusted: bool = True) -> None:
        self.table = table
        self.threshold = threshold
        self.ess = dict(ess or {})
        self.n = dict(n or {})
        self.estimand = estimand
        self.adjusted = adjusted
        #: filled in by a design's ``balance(data)``: the weights, the people
        #: left out with reasons, design diagnostics and tables, the PS fit.
        self.weights: pd.DataFrame | None = None
        self.excluded: pd.DataFrame | None = None
        self.diagnostics: dict[str, Any] = {}
        self.tables: dict[str, pd.DataFrame] = {}
        self.propensity: Any = None

    @classmethod
    def compute(cls, X: pd.DataFrame, d: np.ndarray, weights: np.ndarray | None = None, *,
                estimand: str = "ATT", threshold: float = 0.1) -> Balance:
        """Balance of ``X`` between groups, before and after ``weights``."""
        tab = balance_table(X, d, weights, estimand=estimand)
        d = np.asarray(d)
        w = np.ones(len(d)) if weights is None else np.asarray(weights, float)
        t = d == 1
        ess = {"treated": effective_sample_size(w[t]),
               "comparison": effective_sample_size(w[~t])}
        n = {"treated": int((w[t] > 0).sum()), "comparison": int((w[~t] > 0).sum())}
        return cls(tab, threshold=threshold, ess=ess, n=n, estimand=estimand,
                   adjusted=weights is not None)

    @property
    def max_abs_smd_before(self) -> float:
        return float(np.nanmax(np.abs(self.table["smd_before"]))) if len(self.table) else 0.0

    @property
    def max_abs_smd_after(self) -> float:
        return float(np.nanmax(np.abs(self.table["smd_after"]))) if len(self.table) else 0.0

    @property
    def imbalanced(self) -> list[str]:
        """Covariates whose |SMD| after adjustment exceeds the threshold."""
        col = "smd_after" if self.adjusted else "smd_before"
        s = self.table[col].abs()
        return [str(i) for i in s.index[s > self.threshold]]

    @property
    def warning(self) -> str | None:
        """A warning message when any covariate is imbalanced, else ``None``."""
        bad = self.imbalanced
        if not bad:
            return None
        col = "smd_after" if self.adjusted else "smd_before"
        worst = self.table.loc[bad, col].abs().sort_values(ascending=False)
        listed = ", ".join(f"{k} ({v:.2f})" for k, v in worst.head(8).items())
        more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
        stage = "after adjustment" if self.adjusted else "(no adjustment)"
        return (f"Covariate balance is poor {stage}: |SMD| > {self.threshold:g} for "
                f"{len(bad)} covariate(s): {listed}{more}. The comparison group differs from "
                "the pilot group on these; consider another specification (interactions, "
                "squares), exact matching, a tighter caliper or entropy balancing, and "
                "regression adjustment.")

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self):
        from .result import Summary

        header = [("Estimand", self.estimand), ("Threshold |SMD|", f"{self.threshold:g}"),
                  ("Max |SMD| before", f"{self.max_abs_smd_before:.3f}"),
                  ("Max |SMD| after", f"{self.max_abs_smd_after:.3f}")]
        for k, v in self.ess.items():
            header.append((f"ESS {k}", f"{v:,.1f}"))
        cols = ["smd_before", "smd_after", "var_ratio_before", "var_ratio_after"]
        notes = [self.warning] if self.warning else []
        return Summary("Covariate balance", header, [("", self.table[cols])], notes)

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Love plot: |SMD| of each covariate before (hollow) and after (filled)."""
        return love_plot(self.table, ax=ax, threshold=self.threshold, **kwargs)

    def __repr__(self) -> str:
        return (f"<Balance: {len(self.table)} covariates, max |SMD| "
                f"{self.max_abs_smd_before:.3f} before, {self.max_abs_smd_after:.3f} after>")

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def love_plot(table: pd.DataFrame, ax: Axes | None = None, *, threshold: float = 0.1,
              absolute: bool = True, **kwargs: Any) -> Axes:
    """Love plot of a balance table (Ahmed et al. 2006; cobalt's ``love.plot``)."""
    from ..plotting import GREY, OKABE_ITO, get_axes

    n = len(table)
    ax = get_axes(ax, figsize=(7, max(2.5, 0.32 * n + 1.2)))
    order = table["smd_before"].abs().sort_values().index
    tab = table.loc[order]
    ys = np.arange(n)
    f = np.abs if absolute else (lambda v: v)
    ax.scatter(f(tab["smd_before"]), ys, facecolors="none", edgecolors=OKABE_ITO[1],
               label="Before adjustment", zorder=3)
    ax.scatter(f(tab["smd_after"]), ys, color=OKABE_ITO[0], label="After adjustment", zorder=3)
    for y, b, a in zip(ys, f(tab["smd_before"]), f(tab["smd_after"])):
        ax.plot([b, a], [y, y], color=GREY, lw=0.6, zorder=1)
    ax.axvline(threshold, color="black", ls="--", lw=0.8)
    if not absolute:
        ax.axvline(-threshold, color="black", ls="--", lw=0.8)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_yticks(ys, [str(i) for i in tab.index])
    ax.set_xlabel(("Absolute s" if absolute else "S") + "tandardised mean difference "
                  "(SD units)")
    ax.set_ylabel("Covariate")
    ax.set_title(kwargs.get("title", "Covariate balance (love plot)"))
    ax.legend(frameon=False, loc="lower right")
    return ax


def assess_balance(data: pd.DataFrame, *, treatment: str = "treated",
                   covariates: list[str] | None = None, formula: str | None = None,
                   weights: str | np.ndarray | None = None, estimand: str = "ATT",
                   threshold: float = 0.1) -> Balance:
    """Balance of covariates between groups in a DataFrame, optionally weighted.

    Parameters
    ----------
    data : DataFrame
        One row per person.
    treatment : str
        0/1 treatment column.
    covariates, formula
        The covariates to check (categoricals become dummies), or a formula.
    weights : str or array, optional
        A weights column name or array (e.g. from another tool).
    estimand, threshold
        See :func:`balance_table` and :class:`Balance`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"treated": [1, 1, 0, 0], "age": [30, 40, 30, 60]})
    >>> b = assess_balance(df, covariates=["age"])
    >>> b.imbalanced
    ['age']
    """
    from .propensity import prepare_sample

    extra = [weights] if isinstance(weights, str) else []
    s = prepare_sample(data, treatment=treatment, covariates=covariates, formula=formula,
                       extra_columns=extra)
    if isinstance(weights, str):
        w = s.data[weights].to_numpy(dtype=float)
    elif weights is not None:
        w = np.asarray(weights, dtype=float)
        if len(w) != len(data):
            raise InputError(f"weights has {len(w)} values for {len(data)} rows of data.")
    else:
        w = None
    if w is not None and (np.any(w < 0) or not np.all(np.isfinite(w))):
        raise InputError("weights must be finite and non-negative.")
    return Balance.compute(s.X, s.d, w, estimand=estimand, threshold=threshold)
