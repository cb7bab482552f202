"""Sensitivity to unmeasured confounding: E-values and placebo outcomes.

**E-value** (VanderWeele and Ding 2017, Annals of Internal Medicine
167:268-274): the minimum strength of association, on the risk-ratio scale,
that an unmeasured confounder would need with both the treatment and the
outcome, conditional on the measured covariates, to fully explain away an
observed association. For a risk ratio ``RR >= 1``::

    E = RR + sqrt(RR * (RR - 1))

(use ``1 / RR`` when ``RR < 1``). The E-value for the confidence interval
applies the same formula to the limit closest to 1, and is 1 when the interval
includes 1. Other scales are first converted to an approximate risk ratio, as
in the paper: a continuous outcome's standardised mean difference ``d`` via
``RR = exp(0.91 d)``; an odds ratio for a common outcome via ``sqrt(OR)``;
rate ratios of counts are used as risk ratios.

**Placebo outcomes**: estimate the same design on an outcome the pilot cannot
have changed (an outcome measured before it started, or one unrelated to the
service). A clearly non-zero "effect" signals that the comparison group still
differs from the pilot group (Rosenbaum 1989; Lipsitch et al. 2010).

Examples
--------
>>> ev = e_value(3.9, 1.8, 8.7)           # the paper's worked example (RR 3.9)
>>> round(ev.point, 2), round(ev.ci, 2)
(7.26, 3.0)
>>> e_value(0.8, 0.7, 1.1).ci             # CI includes 1
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from .comparison import ComparisonDesign
    from .result import EffectResult

__all__ = ["EValue", "e_value", "e_value_for_result", "placebo_test"]


def _e(rr: float) -> float:
    if not np.isfinite(rr) or rr <= 0:
        return float("nan")
    if rr < 1:
        rr = 1 / rr
    return float(rr + np.sqrt(rr * (rr - 1)))


@dataclass
class EValue:
    """E-values for an estimate and its confidence interval.

    Attributes
    ----------
    point : float
        E-value of the point estimate.
    ci : float
        E-value of the CI limit closest to the null (1 if the CI includes it).
    rr, rr_lower, rr_upper : float
        The (approximate) risk ratio and CI the E-values were computed from.
    scale : str
        ``RR``, ``OR``, ``HR``, ``rate ratio`` or ``SMD``.
    """

    point: float
    ci: float
    rr: float
    rr_lower: float
    rr_upper: float
    scale: str

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "scale": self.scale, "risk_ratio": self.rr, "rr_ci_lower": self.rr_lower,
            "rr_ci_upper": self.rr_upper, "e_value": self.point, "e_value_ci": self.ci,
        }])

    @property
    def interpretation(self) -> str:
        """A sentence for a report."""
        return (f"To explain away the estimate, an unmeasured confounder would need to be "
                f"associated with both joining the pilot and the outcome by a risk ratio of at "
                f"least {self.point:.2f} each, above the measured covariates; to move the "
                f"confidence interval to include no effect, {self.ci:.2f}.")

    def __repr__(self) -> str:
        return f"<EValue: estimate {self.point:.2f}, CI {self.ci:.2f} ({self.scale} scale)>"


def e_value(estimate: float, ci_lower: float | None = None, ci_upper: float | None = None, *,
            scale: str = "RR", sd: float | None = None, rare: bool = True) -> EValue:
    """E-value of an estimate (and its CI) on a given scale.

    Parameters
    ----------
    estimate, ci_lower, ci_upper : float
        The estimate and CI on the stated ``scale``.
    scale : {"RR", "rate ratio", "OR", "HR", "difference"}
        ``difference`` means a mean difference of a continuous outcome; then
        ``sd`` (the outcome's standard deviation) is required.
    sd : float, optional
        Outcome SD for ``scale="difference"``.
    rare : bool, default True
        For OR/HR: whether the outcome is rare (<15%), when they approximate
        a risk ratio directly; otherwise the square-root conversions are used.

    Examples
    --------
    A mean difference of 0.5 SD: RR = exp(0.91 * 0.5) = 1.58, E-value 2.53.

    >>> round(e_value(5.0, 2.0, 8.0, scale="difference", sd=10.0).point, 2)
    2.53
    """
    scale_key = scale.lower()
    lo = np.nan if ci_lower is None else float(ci_lower)
    hi = np.nan if ci_upper is None else float(ci_upper)
    est = float(estimate)
    if scale_key in ("rr", "rate ratio", "risk ratio"):
        conv = lambda x: x
        label = "RR" if scale_key != "rate ratio" else "rate ratio"
    elif scale_key == "or":
        conv = (lambda x: x) if rare else np.sqrt
        label = "OR"
    elif scale_key == "hr":
        if rare:
            conv = lambda x: x
        else:
            def conv(x):
                return (1 - 0.5 ** np.sqrt(x)) / (1 - 0.5 ** np.sqrt(1 / x))
        label = "HR"
    elif scale_key in ("difference", "smd", "md"):
        if scale_key != "smd" and (sd is None or not sd > 0):
            raise InputError("e_value(scale='difference') needs sd=, the outcome's standard "
                             "deviation, to standardise the difference.")
        s = 1.0 if scale_key == "smd" else float(sd)
        conv = lambda x: float(np.exp(0.91 * x / s))
        label = "SMD"
    else:
        raise InputError(f"scale must be 'RR', 'rate ratio', 'OR', 'HR' or 'difference'; "
                         f"got {scale!r}.")
    if label in ("RR", "rate ratio", "OR", "HR") and not est > 0:
        raise InputError(f"A {label} must be positive; got {estimate!r}.")
    rr = float(conv(est))
    rlo = float(conv(lo)) if np.isfinite(lo) else np.nan
    rhi = float(conv(hi)) if np.isfinite(hi) else np.nan
    point = _e(rr)
    if rr >= 1:
        ci = 1.0 if (np.isfinite(rlo) and rlo <= 1) else _e(rlo) if np.isfinite(rlo) else np.nan
    else:
        ci = 1.0 if (np.isfinite(rhi) and rhi >= 1) else _e(rhi) if np.isfinite(rhi) else np.nan
    if rr == 1:
        point, ci = 1.0, 1.0
    return EValue(point=point, ci=float(ci), rr=rr, rr_lower=rlo, rr_upper=rhi, scale=label)


def e_value_for_result(result: EffectResult, y: np.ndarray, d: np.ndarray,
                       ratio: pd.DataFrame | None = None) -> EValue | None:
    """E-value for an estimate on a continuous outcome or a rate ratio.

    Continuous outcomes are standardised by the pooled within-group SD of the
    outcome (unadjusted). Counts use the rate ratio and its CI.
    """
    if ratio is not None and len(ratio):
        r = ratio.iloc[0]
        if not r["rate_ratio"] > 0:
            return None
        return e_value(r["rate_ratio"], r["ci_lower"], r["ci_upper"], scale="rate ratio")
    y = np.asarray(y, dtype=float)
    t = np.asarray(d) == 1
    n1, n0 = int(t.sum()), int((~t).sum())
    if n1 < 2 or n0 < 2:
        return None
    sd = np.sqrt(((n1 - 1) * y[t].var(ddof=1) + (n0 - 1) * y[~t].var(ddof=1)) / (n1 + n0 - 2))
    if not sd > 0 or not np.isfinite(result.estimate):
        return None
    return e_value(result.estimate, result.ci_lower, result.ci_upper, scale="difference", sd=sd)


def placebo_test(design: ComparisonDesign, data: pd.DataFrame,
                 placebo: str | Sequence[str], **fit_kwargs: Any) -> pd.DataFrame:
    """Estimate a design on placebo outcomes and say whether each passes.

    A placebo passes when its confidence interval includes zero.

    Parameters
    ----------
    design : ComparisonDesign
        A configured design (matching, weighting...).
    data : DataFrame
        The same data as for the main analysis.
    placebo : str or list of str
        Outcome columns the pilot cannot have affected.

    Returns
    -------
    DataFrame with ``outcome, estimate, se, ci_lower, ci_upper, pvalue, passes``.
    """
    cols = [placebo] if isinstance(placebo, str) else list(placebo)
    if not cols:
        raise InputError("placebo_test needs at least one placebo outcome column.")
    rows = []
    for c in cols:
        r = design.fit(data, outcome=c, **fit_kwargs)
        rows.append({"outcome": c, "estimate": r.estimate, "se": r.se, "ci_lower": r.ci_lower,
                     "ci_upper": r.ci_upper, "pvalue": r.pvalue,
                     "passes": bool(r.ci_lower <= 0 <= r.ci_upper)})
    return pd.DataFrame(rows)
