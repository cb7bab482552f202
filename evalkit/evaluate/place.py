"""Evaluate a place's pilot end to end: :func:`evaluate_place`.

One call runs the evaluation the report's "Did it work?" chapter shows:

1. **Data**: the balanced person-month panel of every outcome (people in
   scope, first treated month from ``people.pilot_start`` or the areas'
   go-live dates), with every exclusion counted
   (:mod:`evalkit.evaluate.place_data`).
2. **Headline**: Callaway & Sant'Anna (2021) difference-in-differences per
   outcome, with the comparison group ``settings.evaluation.comparison`` says
   (not-yet-treated by default), *simple* aggregation (the average effect
   over treated person-months), analytic standard errors and a multiplier
   bootstrap (``settings.evaluation.bootstrap`` draws) for uniform bands and
   for the draws the finance modules use. Units: change in events per person
   per month (per year for annual panels).
3. **Checks**: the event-study (dynamic) path and a joint pre-trend test;
   two-way fixed effects with its Goodman-Bacon decomposition (to show why it
   misleads under a staggered roll-out); the other comparison group
   (never-treated vs not-yet-treated); a person-level matched
   difference-in-differences on baseline covariates and the pre-period
   outcome; placebo outcomes; E-values.
4. **Strength of evidence** on the Maryland Scientific Methods Scale, by
   explicit rules (:func:`rate_sms`).

See ``docs/evaluate-place.md`` for the choices and their sources.

Examples
--------
>>> from evalkit.synthetic import make_place
>>> place, truth = make_place(n_people=3000, seed=4, validate=False)
>>> ev = evaluate_place(place, outcomes=["ae_attendances"], designs=[], progress=False)
>>> ev.to_frame("headline").loc[0, "outcome"]
'ae_attendances'
>>> ev.sms.level in (2, 3)
True
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from .bacon import BaconDecomposition
from .matching import NearestNeighbourMatching
from .place_area import AREA_DESIGNS, area_checks
from .place_data import MIN_COMPARISON, person_cross_section, prepare_person_panel
from .result import EffectResult, Summary, _fmt_float
from .sensitivity import e_value
from .staggered import (
    StaggeredDiD,
    StaggeredDiDResult,
    _Agg,
    _aggregate,
    _boot_summary,
    _cluster_sums,
    _cohort_index,
    _multiplier_bootstrap,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "evaluate_place",
    "PlaceEvaluation",
    "SMSRating",
    "rate_sms",
    "DESIGNS",
    "SMS_LEVELS",
    "SMS_RULES",
]

#: Checks ``evaluate_place`` can run besides the headline (``designs=``).
DESIGNS: tuple[str, ...] = ("alternative_comparison", "twfe", "matched_did", "placebo",
                            "synthetic_control", "its")

#: Months before the start covered by the pre-trend test.
PRE_TREND_WINDOW = 12

#: The Maryland Scientific Methods Scale as the What Works Centre for Local
#: Economic Growth applies it (paraphrased; see docs/evaluate-place.md).
SMS_LEVELS: dict[int, str] = {
    1: "a comparison of the pilot group with others at one time, or of the pilot group before "
       "and after, with no adjustment for differences",
    2: "a comparison adjusted for observed differences (control variables or matching), or a "
       "before-and-after comparison, without evidence that the comparison group is similar",
    3: "a before-and-after comparison with a comparison group (difference-in-differences), "
       "with evidence that the groups were comparable before the pilot",
    4: "a comparison exploiting quasi-random variation in who was treated or when, so the "
       "groups differ only in their exposure to the pilot",
    5: "random allocation to the pilot and a control group, with evidence that randomisation "
       "worked",
}

#: The explicit rules :func:`rate_sms` applies, in order.
SMS_RULES: tuple[str, ...] = (
    "Start from the design: difference-in-differences with a comparison group chosen by the "
    "pilot's own roll-out is level 3; if the order of the roll-out was decided at random "
    "(allocation='random_order', e.g. a stepped wedge) level 4; if people or areas were "
    "randomised to the pilot or a control group (allocation='randomised') level 5.",
    "Pre-trends: the joint test that the event-study estimates for the 12 months before the "
    "start are all zero. If it rejects at the evaluation's alpha, or cannot be run (fewer than "
    "two pre-period months), go down one level: the comparison group is not shown to have "
    "followed the same path before the pilot.",
    "Placebo outcomes: if any placebo outcome (one the pilot cannot have changed) shows an "
    "effect (its confidence interval excludes zero), go down one level for every outcome: "
    "something other than the pilot differs between the groups.",
    "Randomised designs only: if any baseline covariate differs between the pilot and control "
    "groups by more than 0.1 standardised mean differences, go down one level (randomisation "
    "is not shown to have worked).",
    "A difference-in-differences never rates below level 2 (it always adjusts for fixed "
    "differences between the groups). The overall rating is the lowest of the outcomes'.",
)

_ALLOCATIONS = {"selected": 3, "random_order": 4, "randomised": 5}


# =========================================================================== SMS
@dataclass
class SMSRating:
    """A Maryland Scientific Methods Scale rating with its reasons.

    Attributes
    ----------
    level : int
        Overall level (1-5): the lowest of the outcomes' levels.
    by_outcome : DataFrame
        ``outcome, level, design_level, pre_trend_pvalue, pre_trends_ok,
        placebo_ok, reasons``.
    reasons : list of str
        Plain-English reasons for the overall level.
    rules : tuple of str
        The rules applied (:data:`SMS_RULES`).
    """

    level: int
    by_outcome: pd.DataFrame
    reasons: list[str]
    rules: tuple[str, ...] = SMS_RULES

    @property
    def description(self) -> str:
        """What the level means, in words."""
        return SMS_LEVELS[self.level]

    @property
    def text(self) -> str:
        """One paragraph for a report."""
        return (f"Strength of evidence: level {self.level} of 5 on the Maryland Scientific "
                f"Methods Scale ({self.description}). " + " ".join(self.reasons))

    def to_frame(self) -> pd.DataFrame:
        return self.by_outcome.copy()

    def summary(self) -> Summary:
        return Summary("Maryland Scientific Methods Scale rating",
                       [("Level", f"{self.level} of 5")],
                       [("By outcome", self.by_outcome.set_index("outcome"))],
                       [self.text] + [f"Rule {i + 1}: {r}" for i, r in enumerate(self.rules)])

    def __repr__(self) -> str:
        return f"<SMSRating level {self.level}: {self.description}>"

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def rate_sms(pre_trend_pvalues: dict[str, float], placebo_ok: dict[str, bool] | None = None, *,
             alpha: float = 0.05, allocation: str = "selected",
             max_baseline_smd: float | None = None) -> SMSRating:
    """Rate a difference-in-differences evaluation on the Maryland SMS (rules: :data:`SMS_RULES`).

    Parameters
    ----------
    pre_trend_pvalues : dict
        Outcome -> p-value of the joint pre-trend test (NaN if it could not run).
    placebo_ok : dict, optional
        Placebo outcome -> whether it passed (CI includes zero). Empty or
        ``None``: no placebo outcome was analysed.
    alpha : float
        Significance level of the tests.
    allocation : {"selected", "random_order", "randomised"}
        How people or areas came to be in the pilot (sets the starting level).
    max_baseline_smd : float, optional
        Largest unadjusted |SMD| of the baseline covariates (randomised designs).

    Examples
    --------
    >>> r = rate_sms({"ae": 0.40, "arrests": 0.01}, {"elective": True})
    >>> r.level, r.by_outcome["level"].tolist()
    (2, [3, 2])
    """
    if allocation not in _ALLOCATIONS:
        raise InputError(f"allocation must be one of {', '.join(_ALLOCATIONS)}; got "
                         f"{allocation!r}.")
    if not pre_trend_pvalues:
        raise InputError("rate_sms needs at least one outcome's pre-trend p-value.")
    top = _ALLOCATIONS[allocation]
    placebo_ok = dict(placebo_ok or {})
    failed_placebos = [m for m, ok in placebo_ok.items() if not ok]
    rows = []
    for m, p in pre_trend_pvalues.items():
        level = top
        reasons = []
        design = {3: "difference-in-differences with a comparison group (level 3)",
                  4: "difference-in-differences exploiting a roll-out order decided at random "
                     "(level 4)",
                  5: "randomised comparison (level 5)"}[top]
        reasons.append(f"design: {design}")
        ok_pt = bool(np.isfinite(p) and p >= alpha)
        if not np.isfinite(p):
            level -= 1
            reasons.append("pre-trends could not be tested (too few months before the start): "
                           "down one level")
        elif p < alpha:
            level -= 1
            reasons.append(f"trends before the pilot were not parallel (pre-trend test p = "
                           f"{p:.3f} < {alpha:g}): down one level")
        else:
            reasons.append(f"no sign of different trends before the pilot (pre-trend test p = "
                           f"{p:.2f})")
        if failed_placebos:
            level -= 1
            reasons.append(f"placebo outcome(s) {', '.join(failed_placebos)} show an 'effect' the "
                           "pilot cannot have had: down one level")
        elif placebo_ok:
            reasons.append("placebo outcome(s) show no effect")
        else:
            reasons.append("no placebo outcome was analysed")
        if top == 5 and max_baseline_smd is not None and max_baseline_smd > 0.1:
            level -= 1
            reasons.append(f"baseline covariates differ between the groups (largest |SMD| "
                           f"{max_baseline_smd:.2f} > 0.1): down one level")
        level = max(level, 2)
        rows.append({"outcome": m, "level": level, "design_level": top,
                     "pre_trend_pvalue": p, "pre_trends_ok": ok_pt,
                     "placebo_ok": not failed_placebos if placebo_ok else np.nan,
                     "reasons": "; ".join(reasons)})
    by = pd.DataFrame(rows)
    overall = int(by["level"].min())
    low = by.loc[by["level"] == overall, "outcome"].tolist()
    reasons = []
    if overall == top:
        reasons.append(
            f"Every outcome meets the standard of level {top}: "
            + ("the comparison group followed the same trend as the pilot group before the "
               "pilot started" + (", and the placebo outcomes show no effect." if placebo_ok
                                  else ". No placebo outcome was analysed, so that check is "
                                  "missing.")))
    else:
        why = []
        bad_pt = by.loc[~by["pre_trends_ok"], "outcome"].tolist()
        if bad_pt:
            why.append("the pre-trend test fails (or cannot be run) for " + ", ".join(bad_pt))
        if failed_placebos:
            why.append("the placebo outcome(s) " + ", ".join(failed_placebos) + " show an "
                       "effect the pilot cannot have had")
        if top == 5 and max_baseline_smd is not None and max_baseline_smd > 0.1:
            why.append("the randomised groups differ at baseline")
        reasons.append(f"Rated {overall} rather than {top} because " + " and ".join(why)
                       + f" (lowest: {', '.join(low)}).")
    if top == 3:
        reasons.append("A difference-in-differences cannot reach level 4 or 5 here because who "
                       "joined the pilot, and when, was not decided at random.")
    return SMSRating(level=overall, by_outcome=by, reasons=reasons)


# =========================================================================== helpers
def _pre_trend_test(res: StaggeredDiDResult, window: int = PRE_TREND_WINDOW) -> dict[str, Any]:
    """Joint Wald test that the dynamic (event-time) pre-period estimates are zero.

    Uses the event times ``-window..-1`` of Callaway & Sant'Anna's dynamic
    aggregation and their influence functions (clustered as the fit), so the
    test has at most ``window`` degrees of freedom however many start months
    there are.
    """
    ex = res.extra
    cells, G, cl = ex["cells"], ex["G"], ex["cluster"]
    out = {"window": window, "wald": np.nan, "df": 0, "pvalue": np.nan,
           "max_abs_pre": np.nan}
    try:
        agg = _aggregate("dynamic", cells, G, min_e=-window)
    except InputError:
        return out
    E = len(agg.labels)
    pre = agg.labels < 0
    b = agg.att[pre]
    keep = np.isfinite(b)
    if keep.sum() < 2:
        return out
    inf = agg.influence(cells.inf, _cohort_index(G, np.unique(cells.g)))[:, :E]
    psi = inf[:, pre][:, keep]
    b = b[keep]
    n = psi.shape[0]
    S = psi if cl is None else _cluster_sums(psi, cl)
    V = S.T @ S / n**2
    w, U = np.linalg.eigh(V)
    good = w > max(w.max(), 0) * 1e-10
    z = U.T @ b
    W = float(np.sum(z[good] ** 2 / w[good]))
    df = int(good.sum())
    out.update({"wald": W, "df": df, "pvalue": float(stats.chi2.sf(W, df)) if df else np.nan,
                "max_abs_pre": float(np.max(np.abs(b)))})
    return out


def _bootstrap_dynamic(res: StaggeredDiDResult, n_boot: int, seed: int | None) -> None:
    """Uniform bands for the event-study path and draws of the headline, cheaply.

    The multiplier bootstrap of :class:`StaggeredDiD` draws every ATT(g,t)
    (thousands of cells with monthly start cohorts) to band them all. The
    report needs only the dynamic path's band and the headline's draws. Both
    are linear in the cells' influence functions, so the same Rademacher
    multipliers (same seed, same order) applied to the aggregated influence
    functions give the same draws (up to single-precision rounding) at a
    fraction of the cost. Fills ``tables["dynamic"]`` bands,
    ``extra["crit_values"]["dynamic"]`` and ``draws`` in place.
    """
    ex = res.extra
    cells, G, cl = ex["cells"], ex["G"], ex["cluster"]
    cohorts = np.unique(cells.g)
    unit_cohort = _cohort_index(G, cohorts)
    dyn = _aggregate("dynamic", cells, G)
    sim = _aggregate("simple", cells, G)
    E = dyn.W.shape[1]
    Wcat = np.hstack([dyn.W, sim.W])
    psi = cells.inf @ Wcat
    eye = np.eye(Wcat.shape[1])
    aggs = [_Agg("dynamic", dyn.labels, dyn.att, dyn.overall_att, eye[:, :E], dyn.tab),
            _Agg("simple", sim.labels, sim.att, sim.overall_att, eye[:, E:], sim.tab)]
    _, (bdyn, bsim) = _multiplier_bootstrap(psi, aggs, unit_cohort, cl, n_boot, seed)
    n = G.shape[0]
    n_clusters = int(cl.max()) + 1 if cl is not None else n
    _, crit = _boot_summary(bdyn[:, :E - 1], n, n_clusters, res.alpha)
    table = res.tables["dynamic"]
    if len(table) == E - 1 and np.array_equal(table["event_time"].to_numpy(), dyn.labels):
        table["band_lower"] = table["estimate"] - crit * table["se"]
        table["band_upper"] = table["estimate"] + crit * table["se"]
        ex.setdefault("crit_values", {})["dynamic"] = crit
    res.draws = float(res.estimate) + bsim[:, -1] * np.sqrt(n_clusters) / n
    res.diagnostics["bootstrap_draws"] = int(n_boot)


def _consistent(a: float, sa: float, b: float, sb: float, alpha: float) -> tuple[float, bool]:
    """Difference a - b and whether it is within the (independence) critical value."""
    d = a - b
    s = float(np.sqrt(sa**2 + sb**2))
    if not (np.isfinite(d) and np.isfinite(s)) or s == 0:
        return d, bool(abs(d) < 1e-12)
    return d, bool(abs(d) / s <= stats.norm.ppf(1 - alpha / 2))


def _verdict(label: str, est: float, lo: float, hi: float, p: float, alpha: float,
             pct: float, pct_lo: float, pct_hi: float, unit: str) -> str:
    level = f"{100 * (1 - alpha):g}%"
    if not np.isfinite(est):
        return "No estimate could be made."
    share = (f"{abs(pct):.0f}% of the pilot group's level before the pilot"
             if np.isfinite(pct) else "")
    rng = (f"{level} confidence interval {pct_lo:+.0f}% to {pct_hi:+.0f}%"
           if np.isfinite(pct_lo) and np.isfinite(pct_hi) else
           f"{level} confidence interval {_fmt_float(lo)} to {_fmt_float(hi)}")
    if lo > 0 or hi < 0:
        strength = "confident" if p < alpha / 5 else "fairly confident"
        verb = "reduced" if est < 0 else "increased"
        return (f"We are {strength} that the pilot {verb} {label}: by about {_fmt_float(abs(est))} "
                f"{unit}" + (f", {share}" if share else "") + f" ({rng}).")
    return (f"No clear change in {label}: the data fit anything from "
            + (f"{pct_lo:+.0f}% to {pct_hi:+.0f}%" if np.isfinite(pct_lo) else
               f"{_fmt_float(lo)} to {_fmt_float(hi)}")
            + " of the pilot group's earlier level, including no effect.")


def _rare_to_other(df: pd.DataFrame, cols: Sequence[str], d: np.ndarray, min_count: int = 5
                   ) -> tuple[pd.DataFrame, list[str]]:
    """Merge categories too rare in either group (they break a propensity model)."""
    notes = []
    df = df.copy()
    for c in cols:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            continue
        s = s.astype(object)
        counts = pd.crosstab(s, d)
        if counts.shape[1] < 2:
            continue
        rare = counts.index[(counts.min(axis=1) < min_count)].tolist()
        if not rare:
            continue
        modal = counts.sum(axis=1).idxmax()
        target = "other (rare)" if len(rare) > 1 else modal
        merged = s.where(~s.isin(rare), target)
        if target != modal:
            chk = pd.crosstab(merged, d)
            if chk.loc[target].min() < min_count:
                target = modal
                merged = s.where(~s.isin(rare), modal)
        df[c] = merged
        notes.append(f"{c}: categories {rare} are too rare in one group for the propensity "
                     f"model and were merged into {target!r}.")
    return df, notes


def _strip(res: EffectResult) -> None:
    """Drop the influence-function matrices (tens of MB) from a staggered result."""
    for k in ("influence", "cells"):
        res.extra.pop(k, None)


# =========================================================================== result
@dataclass(repr=False)
class PlaceEvaluation:
    """Everything :func:`evaluate_place` found, for the report and the finance modules.

    Attributes
    ----------
    place : str
        The place's name.
    outcomes, placebo_outcomes : list of str
    headline : dict of StaggeredDiDResult
        Measure -> the headline Callaway & Sant'Anna result (units: change in
        events per person per period; bootstrap ``draws`` for the finance
        modules).
    checks : dict of dict of EffectResult
        Check name (``alternative_comparison``, ``twfe``, ``bacon``,
        ``matched_did``, ``placebo``) -> measure -> result.
    pre_trends : DataFrame
        One row per outcome (placebos too): ``outcome, window, wald, df, pvalue,
        max_abs_pre``.
    sms : SMSRating
    excluded : DataFrame
        Everything set aside during data preparation, with reasons.
    design : str
        The design used and why, in plain English.
    notes, warnings : list of str
    timings : dict
        Seconds per step.
    """

    place: str
    outcomes: list[str]
    placebo_outcomes: list[str]
    headline: dict[str, StaggeredDiDResult]
    checks: dict[str, dict[str, EffectResult]]
    pre_trends: pd.DataFrame
    sms: SMSRating
    excluded: pd.DataFrame
    design: str
    tables: dict[str, pd.DataFrame]
    n_people: int
    n_treated: int
    n_never_treated: int
    periods: pd.DatetimeIndex
    period_unit: str
    comparison: str
    alpha: float
    seed: int | None
    treated_per_year: pd.DataFrame
    follow_up: dict[str, float] = field(default_factory=dict)
    allocation: str = "selected"
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    # ----------------------------------------------------------------- access
    def effects(self) -> dict[str, EffectResult]:
        """Measure -> headline :class:`EffectResult`, as the finance modules take it.

        Estimates, standard errors and bootstrap draws are the change in events
        per treated person per period (month, unless the panel is annual).
        """
        return dict(self.headline)

    def people_treated_per_year(self) -> list[int]:
        """New starts per financial year from the first year with a start, in order
        (``treated_per_year`` for :func:`evalkit.benefits.benefits_by_partner`)."""
        return [int(v) for v in self.treated_per_year["starts"]]

    def limitations(self) -> list[str]:
        """This evaluation's limitations in plain English (for the report).

        Built from the results: the design's assumption and how far the
        pre-trend tests support it, outcomes the data cannot resolve (with the
        smallest effect they could have detected: 2.8 standard errors, 80%
        power at the 5% level), follow-up, exclusions, disagreements between
        the checks, missing or failing placebos, few clusters.
        """
        out = []
        h = self.tables["headline"]
        pt_ok = int((h["pre_trend_pvalue"] >= self.alpha).sum())
        if self.allocation == "selected":
            out.append(
                "Who joined the pilot, and when, was not decided at random. The estimates rely "
                "on the comparison people's outcomes changing over time as the pilot group's "
                f"would have without the pilot. The test of the months before the start "
                f"supports this for {pt_ok} of {len(h)} outcomes, but no test can prove it.")
        z = stats.norm.ppf(1 - self.alpha / 2) + stats.norm.ppf(0.8)
        unclear = h[(h["ci_lower"] <= 0) & (h["ci_upper"] >= 0)]
        if len(unclear):
            parts = []
            for r in unclear.itertuples():
                mde = z * r.se
                pct = 100 * mde / r.pre_mean if r.pre_mean else np.nan
                parts.append(f"{r.outcome} (about {pct:.0f}% of the pre-pilot level)"
                             if np.isfinite(pct) else f"{r.outcome} ({_fmt_float(mde)})")
            out.append("The data cannot tell the effect on " + ", ".join(unclear["outcome"])
                       + " apart from no effect. Effects smaller than these could be missed "
                       "(80% power): " + "; ".join(parts) + ".")
        fu = self.follow_up
        if fu:
            out.append(f"People are followed for {fu['min']:.0f} to {fu['max']:.0f} "
                       f"{self.period_unit}s after their start (median {fu['median']:.0f}); "
                       "effects after the longest follow-up are not observed, and effects "
                       "late in follow-up rest on the earliest starters only.")
        ex = self.excluded
        if len(ex):
            ppl = ex[ex["stage"] == "people"]
            n_people = int(ppl["units"].sum())
            if n_people:
                top = ppl.sort_values("units", ascending=False).iloc[0]
                out.append(f"{n_people:,} people were left out before the analysis; the main "
                           f"reason: {top['reason']} ({int(top['units']):,}). Every reason is in "
                           "the exclusions table.")
        rob = self.tables["robustness"]
        tw = rob[(rob["check"] == "twfe") & (rob["consistent"] == False)]  # noqa: E712
        if len(tw):
            out.append("A simple two-way fixed effects regression gives a different answer for "
                       + ", ".join(tw["outcome"]) + "; it is known to be biased when people "
                       "start at different times and effects build up, so it is not used.")
        md = rob[(rob["check"] == "matched_did") & (rob["consistent"] == False)]  # noqa: E712
        if len(md):
            out.append("The person-level matched comparison disagrees with the headline for "
                       + ", ".join(md["outcome"]) + ": treat those estimates with more caution.")
        if not self.placebo_outcomes:
            out.append("No placebo outcome (one the pilot cannot change) was analysed, so that "
                       "check on hidden differences between the groups is missing.")
        elif "placebo" in self.tables and not self.tables["placebo"]["passes"].all():
            bad = self.tables["placebo"].loc[~self.tables["placebo"]["passes"], "outcome"]
            out.append("The placebo outcome(s) " + ", ".join(bad) + " show an 'effect' the "
                       "pilot cannot have had: the groups differ in ways the design does not "
                       "remove.")
        out.extend(w for w in self.warnings if "clusters" in w)
        return out

    def to_frame(self, name: str = "headline") -> pd.DataFrame:
        """A tidy table.

        Parameters
        ----------
        name : str
            ``headline`` (one row per outcome: estimate, SE, CI, p, n, percent
            change vs the pilot group's pre-period mean, E-value, verdict),
            ``dynamic`` (event-study paths), ``robustness`` (each check per
            outcome), ``balance`` (matched comparison), ``bacon`` (TWFE
            decomposition by comparison type), ``bacon_comparisons`` (every
            2x2), ``pre_trends``, ``placebo``, ``sms``, ``excluded``,
            ``treated_per_year``.
        """
        extra = {"pre_trends": self.pre_trends, "sms": self.sms.by_outcome,
                 "excluded": self.excluded, "treated_per_year": self.treated_per_year}
        if name in extra:
            return extra[name].copy()
        if name not in self.tables:
            raise InputError(f"No table {name!r}; tables: "
                             f"{', '.join(list(self.tables) + list(extra))}.")
        return self.tables[name].copy()

    # ----------------------------------------------------------------- text
    def summary(self) -> Summary:
        head = self.tables["headline"].set_index("outcome")[
            ["estimate", "se", "ci_lower", "ci_upper", "pvalue", "percent_change"]]
        rob = self.tables["robustness"]
        rob = rob[rob["check"] != "headline"].set_index(["outcome", "check"])[
            ["estimate", "ci_lower", "ci_upper", "pvalue", "consistent"]]
        level = f"{100 * (1 - self.alpha):g}%"
        header = [
            ("Place", self.place),
            ("People analysed", f"{self.n_people:,}"),
            ("Treated", f"{self.n_treated:,}"),
            ("Never treated", f"{self.n_never_treated:,}"),
            ("Periods", f"{len(self.periods)} {self.period_unit}s, "
                        f"{self.periods[0]:%Y-%m} to {self.periods[-1]:%Y-%m}"),
            ("Comparison", self.comparison.replace("_", "-")),
            ("CI level", level),
            ("SMS level", f"{self.sms.level} of 5"),
        ]
        verdicts = [f"{r.outcome}: {r.verdict}" for r in self.tables["headline"].itertuples()]
        notes = [self.design, self.sms.text] + verdicts + [
            f"Limitation: {x}" for x in self.limitations()] + self.notes + [
            f"Warning: {w}" for w in self.warnings]
        return Summary(f"Did it work? Evaluation of {self.place}", header,
                       [("Headline effects (change per person per "
                         f"{self.period_unit})", head), ("Robustness checks", rob)], notes)

    def __repr__(self) -> str:
        parts = ", ".join(f"{m}={r.estimate:+.4g} [{r.ci_lower:+.3g}, {r.ci_upper:+.3g}]"
                          for m, r in self.headline.items())
        return (f"<PlaceEvaluation {self.place!r}: {self.n_treated:,} treated, "
                f"{self.n_people - self.n_treated:,} comparison; SMS level {self.sms.level}; "
                f"{parts}>")

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    # ----------------------------------------------------------------- plots
    def plot(self, kind: str = "forest", ax: Axes | None = None, *, outcome: str | None = None,
             **kwargs: Any) -> Any:
        """Charts of the evaluation.

        Parameters
        ----------
        kind : {"forest", "event_study", "twfe_vs_cs", "bacon"}
            ``forest``: every outcome's effect as a percentage of the pilot
            group's pre-period level, with its confidence interval (placebos
            in grey). ``event_study``: the dynamic path with pointwise CIs and
            the uniform band (one outcome, or a grid of all). ``twfe_vs_cs``:
            the headline, two-way fixed effects and the matched comparison side
            by side (percentage scale). ``bacon``: the Goodman-Bacon scatter of
            one outcome.
        ax : Axes, optional
        outcome : str, optional
            For ``event_study`` and ``bacon`` (default: every outcome /
            the first).

        Returns
        -------
        Axes (or an array of Axes for a grid of event studies).
        """
        from ..plotting import GREY, OKABE_ITO, get_axes

        level = f"{100 * (1 - self.alpha):g}%"
        if kind == "forest":
            h = self.tables["headline"]
            pl = self.tables.get("placebo")
            rows = [(r.outcome, r.percent_change, r.percent_ci_lower, r.percent_ci_upper, False)
                    for r in h.itertuples()]
            if pl is not None:
                rows += [(f"{r.outcome} (placebo)", r.percent_change, r.percent_ci_lower,
                          r.percent_ci_upper, True) for r in pl.itertuples()]
            ax = get_axes(ax, figsize=(7, 0.8 + 0.5 * len(rows)))
            ys = np.arange(len(rows))[::-1]
            for y, (_lab, est, lo, hi, plc) in zip(ys, rows):
                ax.errorbar([est], [y], xerr=[[est - lo], [hi - est]], fmt="o",
                            color=GREY if plc else OKABE_ITO[0], capsize=4)
            ax.axvline(0, color="black", lw=0.8)
            ax.set_yticks(ys, [r[0] for r in rows])
            ax.set_xlabel(kwargs.get("xlabel", "Effect, % of the pilot group's level before "
                                               "the pilot"))
            ax.set_title(kwargs.get("title", f"Estimated effect of the pilot ({level} CIs)"))
            return ax
        if kind == "event_study":
            measures = [outcome] if outcome else list(self.headline)
            for m in measures:
                self._result(m)
            if len(measures) == 1 or ax is not None:
                res = self._result(measures[0])
                return self._event_plot(res, ax, **kwargs)
            import matplotlib.pyplot as plt

            ncol = 2
            nrow = int(np.ceil(len(measures) / ncol))
            fig, axes = plt.subplots(nrow, ncol, figsize=(11, 3.4 * nrow), squeeze=False)
            for a, m in zip(axes.ravel(), measures):
                self._event_plot(self._result(m), a, title=m, **kwargs)
            for a in axes.ravel()[len(measures):]:
                a.set_visible(False)
            fig.suptitle("Effect by months since each person's start (Callaway & Sant'Anna)")
            fig.tight_layout()
            return axes
        if kind == "twfe_vs_cs":
            rob = self.tables["robustness"]
            checks = [("headline", "Callaway & Sant'Anna (headline)", OKABE_ITO[0], "o"),
                      ("twfe", "Two-way fixed effects", OKABE_ITO[5], "s"),
                      ("matched_did", "Matched difference-in-differences", OKABE_ITO[2], "^")]
            outs = list(self.headline)
            ax = get_axes(ax, figsize=(7.5, 1 + 0.9 * len(outs)))
            for k, (chk, lab, col, mk) in enumerate(checks):
                d = rob[rob["check"] == chk].set_index("outcome").reindex(outs)
                if d["estimate"].isna().all():
                    continue
                ys = np.arange(len(outs))[::-1] + (1 - k) * 0.22
                pre = self.tables["headline"].set_index("outcome").reindex(outs)["pre_mean"]
                est = 100 * d["estimate"] / pre
                lo, hi = 100 * d["ci_lower"] / pre, 100 * d["ci_upper"] / pre
                ax.errorbar(est, ys, xerr=[est - lo, hi - est], fmt=mk, color=col, capsize=3,
                            label=lab)
            ax.axvline(0, color="black", lw=0.8)
            ax.set_yticks(np.arange(len(outs))[::-1], outs)
            ax.set_xlabel("Effect, % of the pilot group's level before the pilot")
            ax.set_title(kwargs.get("title", "Why the design matters: TWFE vs Callaway & "
                                             "Sant'Anna"))
            ax.legend(frameon=False, fontsize=8, loc="best")
            return ax
        if kind == "bacon":
            m = outcome or self.outcomes[0]
            bac = self.checks.get("bacon", {}).get(m)
            if bac is None:
                raise InputError(f"No Goodman-Bacon decomposition for {m!r}: run "
                                 "evaluate_place with 'twfe' in designs.")
            return bac.plot(ax=ax, **kwargs)
        raise InputError(f"kind must be 'forest', 'event_study', 'twfe_vs_cs' or 'bacon'; got "
                         f"{kind!r}.")

    def _result(self, m: str) -> StaggeredDiDResult:
        if m in self.headline:
            return self.headline[m]
        if m in self.checks.get("placebo", {}):
            return self.checks["placebo"][m]  # type: ignore[return-value]
        raise InputError(f"No outcome {m!r}; outcomes: "
                         f"{', '.join(self.outcomes + self.placebo_outcomes)}.")

    def _event_plot(self, res: StaggeredDiDResult, ax: Axes | None, **kwargs: Any) -> Axes:
        """The dynamic path from PRE_TREND_WINDOW months before the start."""
        from ..plotting import GREY, OKABE_ITO, get_axes

        ax = get_axes(ax, figsize=(8, 4.5))
        df = res.tables["dynamic"]
        df = df[df["event_time"] >= -PRE_TREND_WINDOW]
        x = df["event_time"].to_numpy(dtype=float)
        level = f"{100 * (1 - self.alpha):g}%"
        if np.isfinite(df["band_lower"]).all():
            ax.fill_between(x, df["band_lower"], df["band_upper"], color=OKABE_ITO[4],
                            alpha=0.25, label=f"{level} uniform band")
        pre = x < 0
        for mask, colour, lab in ((pre, GREY, "before start"), (~pre, OKABE_ITO[0],
                                                                "from start")):
            if mask.any():
                d = df[mask]
                ax.errorbar(x[mask], d["estimate"], yerr=[d["estimate"] - d["ci_lower"],
                                                          d["ci_upper"] - d["estimate"]],
                            fmt="o", ms=3.5, color=colour, capsize=2,
                            label=f"{lab} ({level} CI)")
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(-0.5, color=GREY, ls="--", lw=0.8)
        ax.set_xlabel(f"{self.period_unit.capitalize()}s since the person's pilot start")
        ax.set_ylabel(kwargs.get("ylabel", f"Effect per person per {self.period_unit}"))
        ax.set_title(kwargs.get("title", f"{res.outcome}: effect by time since start"))
        ax.legend(frameon=False, fontsize=7)
        return ax


# =========================================================================== main
def _resolve_outcomes(place: Any, outcomes: Sequence[str] | None) -> tuple[list[str], list[str]]:
    ev = place.settings.evaluation
    if place.outcomes is None:
        raise InputError(
            f"Place {place.name!r} has no outcomes table, so there is nothing to evaluate. Add "
            "the person-level outcome panel (person_id, period, measure, value) under "
            "'data: outcomes:' in place.yml (template: data/templates/outcomes.csv).")
    available = sorted(pd.unique(place.outcomes["measure"]).tolist())
    placebos = list(dict.fromkeys(ev.placebo_outcomes))
    bad = [m for m in placebos if m not in available]
    if bad:
        raise InputError(f"evaluation.placebo_outcomes names {bad}, which are not in the "
                         f"outcomes table (measures: {', '.join(available)}). Fix place.yml.")
    if outcomes is not None:
        if isinstance(outcomes, str):
            outcomes = [outcomes]
        head = list(dict.fromkeys(outcomes))
        src = "outcomes="
    elif ev.outcomes:
        head = list(dict.fromkeys(ev.outcomes))
        src = "evaluation.outcomes"
    else:
        head = [m for m in available if m not in placebos]
        src = None
    bad = [m for m in head if m not in available]
    if bad:
        raise InputError(f"{src or 'outcomes'} names {bad}, which are not in the outcomes table "
                         f"(measures: {', '.join(available)}).")
    both = [m for m in head if m in placebos]
    if both:
        if src is None:
            head = [m for m in head if m not in placebos]
        else:
            raise InputError(f"{both} are listed both as outcomes ({src}) and as placebo "
                             "outcomes (evaluation.placebo_outcomes); a placebo is a measure "
                             "the pilot cannot change, so list it once.")
    if not head:
        raise InputError("No outcome to evaluate: every measure is a placebo. List the outcomes "
                         "under evaluation.outcomes in place.yml.")
    return head, placebos


def _treated_per_year(place: Any) -> pd.DataFrame:
    """New pilot starts per UK financial year (April to March)."""
    people = place.table("people")
    st = place.pilot_starts()
    if "in_scope" in people.columns:
        scope = people.set_index("person_id")["in_scope"].astype("boolean").fillna(True)
        st = st[scope.reindex(st.index).fillna(True).to_numpy(dtype=bool)]
    st = st.dropna()
    if st.empty:
        return pd.DataFrame({"financial_year": [], "starts": [], "cumulative_starts": []})
    fy0 = np.where(st.dt.month >= 4, st.dt.year, st.dt.year - 1)
    counts = pd.Series(fy0).value_counts().sort_index()
    years = np.arange(counts.index.min(), counts.index.max() + 1)
    counts = counts.reindex(years, fill_value=0)
    return pd.DataFrame({
        "financial_year": [f"{y}-{str(y + 1)[-2:]}" for y in years],
        "starts": counts.to_numpy(dtype=np.int64),
        "cumulative_starts": np.cumsum(counts.to_numpy(dtype=np.int64)),
    })


def evaluate_place(place: Any, *, outcomes: Sequence[str] | str | None = None,
                   designs: Iterable[str] | None = None, progress: bool = True,
                   seed: int | None = None, missing: str = "drop",
                   allocation: str = "selected", n_boot: int | None = None,
                   keep_influence: bool = False) -> PlaceEvaluation:
    """Evaluate a place's pilot: headline effects, checks and strength of evidence.

    Parameters
    ----------
    place : Place
        A validated place with ``people`` and a person-level ``outcomes`` panel.
    outcomes : list of str, optional
        Measures to evaluate (default ``settings.evaluation.outcomes``, or every
        measure except the placebo outcomes).
    designs : iterable of str, optional
        Checks to run besides the headline (default all of :data:`DESIGNS`):
        ``alternative_comparison`` (never- vs not-yet-treated), ``twfe``
        (two-way fixed effects and its Goodman-Bacon decomposition),
        ``matched_did`` (person-level matched difference-in-differences),
        ``placebo`` (``settings.evaluation.placebo_outcomes``).
    progress : bool
        Progress bar on stderr.
    seed : int, optional
        Seed of the bootstrap and the comparison people's pseudo-starts
        (default ``settings.seed``).
    missing : {"drop", "zero"}
        People missing some person-periods are dropped (and counted), or the
        missing values are taken as 0 (outcome tables that only list periods
        with events).
    allocation : {"selected", "random_order", "randomised"}
        How people or areas came into the pilot; sets the highest possible
        Maryland SMS level (3, 4 or 5; see :data:`SMS_RULES`).
    n_boot : int, optional
        Multiplier-bootstrap draws for the headline (default
        ``settings.evaluation.bootstrap``; 0 = analytic only, no uniform bands
        or draws).
    keep_influence : bool
        Keep the headline results' influence functions (tens of MB each) so
        ``result.aggregate(...)`` can re-aggregate them.

    Returns
    -------
    PlaceEvaluation

    Raises
    ------
    InputError
        No outcomes table, unknown outcomes, no pre-period, fewer than
        :data:`~evalkit.evaluate.place_data.MIN_TREATED` treated people or
        :data:`~evalkit.evaluate.place_data.MIN_COMPARISON` comparison people,
        or an unknown design.
    """
    from tqdm.auto import tqdm

    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def tick(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = timings.get(step, 0.0) + now - clock
        clock = now

    ev = place.settings.evaluation
    alpha = float(ev.alpha)
    n_boot = int(ev.bootstrap if n_boot is None else n_boot)
    if n_boot < 0:
        raise InputError(f"n_boot must be 0 or more; got {n_boot}.")
    if 0 < n_boot < 100:
        raise InputError(f"n_boot={n_boot} is too few for uniform bands; use 0 (none) or 100 "
                         "or more (499 or 999 recommended).")
    if allocation not in _ALLOCATIONS:
        raise InputError(f"allocation must be one of {', '.join(_ALLOCATIONS)}; got "
                         f"{allocation!r}.")
    seed = int(place.settings.seed if seed is None else seed)
    run = set(DESIGNS if designs is None else designs)
    unknown = sorted(run - set(DESIGNS))
    if unknown:
        raise InputError(f"Unknown design(s) {unknown}; evaluate_place can run: "
                         f"{', '.join(DESIGNS)} (the headline always runs).")
    head, placebos = _resolve_outcomes(place, outcomes)
    if "placebo" not in run:
        placebos = []
    panel = prepare_person_panel(place, head + placebos, missing=missing)
    tick("data")

    control = "not_yet" if ev.comparison == "not_yet_treated" else "never"
    other = "never" if control == "not_yet" else "not_yet"
    cohorts = np.unique(panel.G[panel.treated])
    if control == "never" and panel.n_never < MIN_COMPARISON:
        raise InputError(
            f"evaluation.comparison is never_treated but only {panel.n_never} people are never "
            f"treated within the panel (at least {MIN_COMPARISON} needed). Use comparison: "
            "not_yet_treated in place.yml to compare with people who start later.")
    if control == "not_yet" and panel.n_never < MIN_COMPARISON and len(cohorts) < 2:
        raise InputError(
            f"Everyone treated starts in the same period and only {panel.n_never} people are "
            f"never treated (at least {MIN_COMPARISON} needed): there is no comparison group.")
    if other == "never" and panel.n_never < MIN_COMPARISON:
        run.discard("alternative_comparison")
    unit_area = place.settings.pilot.unit == "area" and not all(
        a is None for a in panel.areas)
    cluster = "area" if unit_area else None
    notes = list(panel.notes)
    warnings: list[str] = []
    if unit_area:
        n_areas = len(pd.unique(panel.areas))
        notes.append(f"The pilot was allocated by area, so standard errors are clustered by "
                     f"area ({n_areas} areas).")
        if n_areas < 30:
            warnings.append(f"Only {n_areas} areas: standard errors clustered by area are "
                            "unreliable with fewer than about 30 clusters; treat the intervals "
                            "as approximate.")
    unit_label = f"per person per {panel.period_unit}"

    headline: dict[str, StaggeredDiDResult] = {}
    checks: dict[str, dict[str, EffectResult]] = {k: {} for k in
                                                 ("alternative_comparison", "twfe", "bacon",
                                                  "matched_did", "placebo",
                                                  "synthetic_control", "its")}
    pre_rows = []
    head_rows = []
    dyn_rows = []
    rob_rows = []
    bal_rows = []
    bacon_rows = []
    bacon_comp = []
    plc_rows = []
    covs = [c for c in panel.covariates.columns]
    steps = [(m, False) for m in head] + [(m, True) for m in placebos]
    bar = tqdm(steps, desc="evaluate_place", disable=not progress, file=sys.stderr,
               leave=False)
    for m, is_placebo in bar:
        bar.set_postfix_str(m)
        long = panel.long(m)
        cs = StaggeredDiD(control_group=control, n_boot=0, seed=seed, alpha=alpha,
                          cluster=cluster, progress=False).fit(long)
        if n_boot:
            _bootstrap_dynamic(cs, n_boot, seed)
        cs.outcome = m
        cs.unit = f"{m} {unit_label}"
        tick("callaway_santanna")
        pt = _pre_trend_test(cs)
        for k in ("pre_trend_wald", "pre_trend_df", "pre_trend_pvalue", "pre_trend_note"):
            cs.diagnostics.pop(k, None)
        cs.diagnostics.update({"pre_trend_pvalue": pt["pvalue"], "pre_trend_wald": pt["wald"],
                               "pre_trend_df": pt["df"]})
        pre_rows.append({"outcome": m, "placebo": is_placebo, **pt})
        if np.isfinite(pt["pvalue"]) and pt["pvalue"] < alpha:
            warnings.append(f"{m}: the pre-trend test rejects (p = {pt['pvalue']:.3f}): the "
                            "pilot and comparison groups were on different paths before the "
                            "pilot, so the difference-in-differences may be biased.")
        for nt in cs.extra.get("notes", []):
            if nt not in notes:
                notes.append(nt)
        small_groups = [w for w in cs.warnings if w.startswith("Small groups")]
        if small_groups and not any(n.startswith("Some start") for n in notes):
            notes.append("Some start months have fewer than 5 people; their group-time "
                         "effects are noisy but carry little weight (weights are proportional "
                         "to group size). " + small_groups[0])
        tm = panel.treated_means(m)
        est, se = cs.estimate, cs.se
        pre_mean = tm["pre_mean"]

        def pct(x: float, base: float = pre_mean) -> float:
            return 100 * x / base if base and np.isfinite(base) else np.nan

        dyn = cs.tables["dynamic"].copy()
        dyn.insert(0, "outcome", m)
        dyn.insert(1, "placebo", is_placebo)
        dyn_rows.append(dyn)
        if is_placebo:
            passes = bool(cs.ci_lower <= 0 <= cs.ci_upper)
            plc_rows.append({"outcome": m, "estimate": est, "se": se, "ci_lower": cs.ci_lower,
                             "ci_upper": cs.ci_upper, "pvalue": cs.pvalue,
                             "pre_mean": pre_mean, "percent_change": pct(est),
                             "percent_ci_lower": pct(cs.ci_lower),
                             "percent_ci_upper": pct(cs.ci_upper), "passes": passes})
            rob_rows.append({"outcome": m, "check": "placebo",
                             "description": "Placebo outcome (the pilot cannot change it): "
                                            "should show no effect",
                             "estimand": cs.estimand, "estimate": est, "se": se,
                             "ci_lower": cs.ci_lower, "ci_upper": cs.ci_upper,
                             "pvalue": cs.pvalue, "n_treated": cs.n_treated,
                             "n_control": cs.n_control, "compared_with": "zero",
                             "difference": est, "consistent": passes,
                             "note": "passes" if passes else "FAILS: an effect where none is "
                             "possible suggests residual confounding"})
            if not passes:
                warnings.append(f"Placebo outcome {m} shows an 'effect' (CI {cs.ci_lower:.3g} "
                                f"to {cs.ci_upper:.3g}) although the pilot cannot have "
                                "changed it.")
            _strip(cs)
            checks["placebo"][m] = cs
            tick("placebo")
            continue

        # ---- headline row
        post_mean = tm["post_mean"]
        cf = post_mean - est
        ev_row = {"e_value": np.nan, "e_value_ci": np.nan, "rate_ratio": np.nan}
        if post_mean > 0 and cf > 0:
            rr = post_mean / cf
            lo_den, hi_den = post_mean - cs.ci_lower, post_mean - cs.ci_upper
            rr_lo = post_mean / lo_den if lo_den > 0 else np.nan
            rr_hi = post_mean / hi_den if hi_den > 0 else np.nan
            evv = e_value(rr, rr_lo, rr_hi, scale="rate ratio")
            ev_row = {"e_value": evv.point, "e_value_ci": evv.ci, "rate_ratio": rr}
            cs.diagnostics["e_value"] = evv.point
            cs.diagnostics["e_value_ci"] = evv.ci
            cs.tables["sensitivity"] = evv.to_frame()
        verdict = _verdict(m, est, cs.ci_lower, cs.ci_upper, cs.pvalue, alpha, pct(est),
                           pct(cs.ci_lower), pct(cs.ci_upper), unit_label)
        head_rows.append({
            "outcome": m, "unit": unit_label, "estimate": est, "se": se,
            "ci_lower": cs.ci_lower, "ci_upper": cs.ci_upper, "pvalue": cs.pvalue,
            "n_treated": cs.n_treated, "n_comparison": cs.n_control, "pre_mean": pre_mean,
            "percent_change": pct(est), "percent_ci_lower": pct(cs.ci_lower),
            "percent_ci_upper": pct(cs.ci_upper), "post_mean": post_mean,
            "counterfactual_mean": cf, **ev_row, "pre_trend_pvalue": pt["pvalue"],
            "verdict": verdict, "method": cs.method})
        rob_rows.append({"outcome": m, "check": "headline", "description": cs.method,
                         "estimand": cs.estimand, "estimate": est, "se": se,
                         "ci_lower": cs.ci_lower, "ci_upper": cs.ci_upper, "pvalue": cs.pvalue,
                         "n_treated": cs.n_treated, "n_control": cs.n_control,
                         "compared_with": "", "difference": 0.0, "consistent": True,
                         "note": "the headline estimate"})
        ov = cs.tables["overall"].set_index("aggregation")
        grp = ov.loc["group"]
        rob_rows.append({"outcome": m, "check": "per_person",
                         "description": "Callaway & Sant'Anna, average per treated person "
                                        "(group aggregation)",
                         "estimand": "ATT per treated person", "estimate": grp["estimate"],
                         "se": grp["se"], "ci_lower": grp["ci_lower"],
                         "ci_upper": grp["ci_upper"], "pvalue": grp["pvalue"],
                         "n_treated": cs.n_treated, "n_control": cs.n_control,
                         "compared_with": "headline", "difference": grp["estimate"] - est,
                         "consistent": np.nan,
                         "note": "weights each person equally rather than each person-month; "
                                 "the like-for-like comparison for the matched DiD"})
        rob_rows.append({"outcome": m, "check": "pre_trends",
                         "description": f"Joint test of the {pt['df']} event-study estimates "
                                        f"in the {PRE_TREND_WINDOW} months before the start",
                         "estimand": "pre-period effects = 0", "estimate": np.nan,
                         "se": np.nan, "ci_lower": np.nan, "ci_upper": np.nan,
                         "pvalue": pt["pvalue"], "n_treated": cs.n_treated,
                         "n_control": cs.n_control, "compared_with": "zero",
                         "difference": np.nan,
                         "consistent": bool(np.isfinite(pt["pvalue"]) and pt["pvalue"] >= alpha),
                         "note": (f"Wald {pt['wald']:.2f} on {pt['df']} df" if pt["df"] else
                                  "not enough pre-period months to test")})

        # ---- other comparison group
        if "alternative_comparison" in run:
            alt = StaggeredDiD(control_group=other, n_boot=0, seed=seed, alpha=alpha,
                               cluster=cluster, progress=False).fit(long)
            alt.outcome, alt.unit = m, cs.unit
            _strip(alt)
            checks["alternative_comparison"][m] = alt
            d, ok = _consistent(alt.estimate, alt.se, est, se, alpha)
            rob_rows.append({"outcome": m, "check": "alternative_comparison",
                             "description": f"Callaway & Sant'Anna with the "
                                            f"{'never' if other == 'never' else 'not-yet'}"
                                            f"-treated comparison group",
                             "estimand": alt.estimand, "estimate": alt.estimate,
                             "se": alt.se, "ci_lower": alt.ci_lower, "ci_upper": alt.ci_upper,
                             "pvalue": alt.pvalue, "n_treated": alt.n_treated,
                             "n_control": alt.n_control, "compared_with": "headline",
                             "difference": d, "consistent": ok,
                             "note": "the choice of comparison group does not matter" if ok
                             else "the comparison groups disagree: check who starts late"})
            tick("alternative_comparison")

        # ---- TWFE and Goodman-Bacon
        if "twfe" in run:
            bac = BaconDecomposition(cluster=cluster, alpha=alpha).fit(long)
            bac.outcome = m
            tw = bac.extra["twfe"]
            tw.outcome, tw.unit = m, cs.unit
            checks["twfe"][m] = tw
            checks["bacon"][m] = bac
            d, ok = _consistent(tw.estimate, tw.se, est, se, alpha)
            forb = float(bac.diagnostics.get("weight_on_already_treated_controls", np.nan))
            rob_rows.append({"outcome": m, "check": "twfe",
                             "description": "Two-way fixed effects regression (shown for "
                                            "contrast: biased when effects change over time)",
                             "estimand": tw.estimand, "estimate": tw.estimate, "se": tw.se,
                             "ci_lower": tw.ci_lower, "ci_upper": tw.ci_upper,
                             "pvalue": tw.pvalue, "n_treated": tw.n_treated,
                             "n_control": tw.n_control, "compared_with": "headline",
                             "difference": d, "consistent": ok,
                             "note": f"{forb:.0%} of its weight is on comparisons with "
                                     "already-treated people as controls"})
            bt = bac.tables["by_type"].copy()
            bt.insert(0, "outcome", m)
            bacon_rows.append(bt)
            bc = bac.tables["comparisons"].copy()
            bc.insert(0, "outcome", m)
            bacon_comp.append(bc)
            tick("twfe_bacon")

        # ---- person-level matched DiD
        if "matched_did" in run:
            xs = person_cross_section(panel, m, seed=seed)
            xs, rare_notes = _rare_to_other(xs, covs, xs["treated"].to_numpy())
            for nt in rare_notes:
                if nt not in notes:
                    notes.append(nt)
            design = NearestNeighbourMatching(
                covariates=covs + ["pre_mean"], exact=["start_period"], k=3, replace=True,
                caliper=0.2, alpha=alpha, missing="drop", progress=False, id="person_id",
                unit=f"change in {m} {unit_label}")
            try:
                md = design.fit(xs, outcome="change")
            except InputError as exc:
                warnings.append(f"Matched difference-in-differences for {m} could not be run: "
                                f"{exc}")
                md = None
            if md is not None:
                md.outcome = m
                md.design = "matched_did"
                md.estimand = "ATT per treated person (matched)"
                md.method = ("Matched difference-in-differences: each person's change from "
                             "before to after their start, compared with up to 3 similar "
                             "never-treated people (nearest neighbours on the propensity "
                             "score from baseline covariates and the pre-period outcome, "
                             "within 0.2 SD, same start month), Abadie-Imbens SE")
                checks["matched_did"][m] = md
                d, ok = _consistent(md.estimate, md.se, grp["estimate"], grp["se"], alpha)
                maxsmd = np.nan
                if "balance" in md.tables:
                    b = md.tables["balance"].copy()
                    b.insert(0, "outcome", m)
                    b = b.reset_index().rename(columns={"index": "covariate"})
                    bal_rows.append(b)
                    bobj = md.extra.get("balance")
                    maxsmd = float(getattr(bobj, "max_abs_smd_after", np.nan))
                n_out = 0
                if "exclusions" in md.tables and len(md.tables["exclusions"]):
                    n_out = int(md.tables["exclusions"]["treated"].sum()) if "treated" in \
                        md.tables["exclusions"].columns else 0
                note = []
                if np.isfinite(maxsmd):
                    note.append(f"largest |SMD| after matching {maxsmd:.2f}")
                if n_out:
                    note.append(f"{n_out} treated people had no comparator within the "
                                "caliper and are left out")
                rob_rows.append({"outcome": m, "check": "matched_did",
                                 "description": "Person-level matched difference-in-"
                                                "differences (covariates and pre-period "
                                                "outcome)",
                                 "estimand": md.estimand, "estimate": md.estimate,
                                 "se": md.se, "ci_lower": md.ci_lower,
                                 "ci_upper": md.ci_upper, "pvalue": md.pvalue,
                                 "n_treated": md.n_treated, "n_control": md.n_control,
                                 "compared_with": "per_person", "difference": d,
                                 "consistent": ok, "note": "; ".join(note)})
            tick("matched_did")
        if not keep_influence:
            _strip(cs)
        headline[m] = cs
    bar.close()

    # ---- whole-area checks (synthetic control, interrupted time series)
    excl = panel.excluded
    if run & set(AREA_DESIGNS):
        area = area_checks(place, panel, head, alpha=alpha, run=run)
        for k in AREA_DESIGNS:
            if area["results"][k]:
                checks[k] = area["results"][k]
        rob_rows.extend(area["rows"])
        notes.extend(area["notes"])
        if area["excluded"] is not None and len(area["excluded"]):
            excl = pd.concat([excl, area["excluded"]], ignore_index=True)
        if area["table"] is not None:
            area_table = area["table"]
        else:
            area_table = None
        tick("area_checks")
    else:
        area_table = None

    # ---- tables
    pre_trends = pd.DataFrame(pre_rows)
    tables: dict[str, pd.DataFrame] = {
        "headline": pd.DataFrame(head_rows),
        "dynamic": pd.concat(dyn_rows, ignore_index=True),
        "robustness": pd.DataFrame(rob_rows),
    }
    if bal_rows:
        tables["balance"] = pd.concat(bal_rows, ignore_index=True)
    if bacon_rows:
        tables["bacon"] = pd.concat(bacon_rows, ignore_index=True)
        tables["bacon_comparisons"] = pd.concat(bacon_comp, ignore_index=True)
    if plc_rows:
        tables["placebo"] = pd.DataFrame(plc_rows)
    if area_table is not None:
        tables["area_designs"] = area_table
    # keep each outcome's robustness rows together, in a fixed order of checks
    order = {k: i for i, k in enumerate(["headline", "per_person", "pre_trends",
                                         "alternative_comparison", "twfe", "matched_did",
                                         "synthetic_control", "its", "placebo"])}
    rob = tables["robustness"]
    if "unit" not in rob.columns:
        rob["unit"] = np.nan
    rob["unit"] = rob["unit"].where(rob["unit"].notna(), np.where(
        rob["check"] == "pre_trends", "", unit_label))
    rob["_o"] = rob["outcome"].map({m: i for i, m in enumerate(head + placebos)})
    rob["_c"] = rob["check"].map(order)
    rob = rob.sort_values(["_o", "_c"], kind="stable").drop(columns=["_o", "_c"])
    first = ["outcome", "check", "description", "estimand", "unit"]
    tables["robustness"] = rob[first + [c for c in rob.columns if c not in first]
                               ].reset_index(drop=True)

    # ---- strength of evidence
    max_smd = None
    if allocation == "randomised":
        xs = person_cross_section(panel, head[0], seed=seed)
        from .balance import assess_balance

        if covs:
            xs2, _ = _rare_to_other(xs, covs, xs["treated"].to_numpy())
            max_smd = assess_balance(xs2.dropna(subset=covs), covariates=covs
                                     ).max_abs_smd_before
    sms = rate_sms({r["outcome"]: r["pvalue"] for r in pre_rows if not r["placebo"]},
                   {r["outcome"]: r["passes"] for r in plc_rows}, alpha=alpha,
                   allocation=allocation, max_baseline_smd=max_smd)
    tick("sms")

    # ---- design text, exclusions
    n_cohorts = len(cohorts)
    comp_words = ("people not yet in the pilot at the time (they start later, or never)"
                  if control == "not_yet" else "people never in the pilot")
    design = (
        f"Headline design: Callaway & Sant'Anna (2021) difference-in-differences. People "
        f"started the pilot in {n_cohorts} different {panel.period_unit}s, so each group "
        f"starting in the same {panel.period_unit} is compared with {comp_words} over the same "
        f"{panel.period_unit}s, before and after its start. The comparison people may have "
        f"more or less need than the pilot group; the design only assumes their outcomes "
        f"would have changed in the same way without the pilot (checked by the pre-trend "
        f"test). A simple two-way fixed effects regression is shown for contrast only: with "
        f"starts spread over time and effects that build up, it compares later starters with "
        f"people already in the pilot and understates the effect (Goodman-Bacon 2021). Effects "
        f"are changes in events {unit_label}, averaged over every month each treated person "
        f"spent in the pilot within the data.")
    tpy = _treated_per_year(place)
    fu_months = panel.n_periods - panel.G[panel.treated]
    follow_up = {"min": float(fu_months.min()), "median": float(np.median(fu_months)),
                 "max": float(fu_months.max())}
    warnings = list(dict.fromkeys(warnings))
    tick("tables")
    return PlaceEvaluation(
        place=place.name, outcomes=head, placebo_outcomes=placebos, headline=headline,
        checks={k: v for k, v in checks.items() if v}, pre_trends=pre_trends, sms=sms,
        excluded=excl, design=design, tables=tables, n_people=panel.n_people,
        n_treated=panel.n_treated, n_never_treated=panel.n_never, periods=panel.periods,
        period_unit=panel.period_unit, comparison="not_yet_treated" if control == "not_yet"
        else "never_treated", alpha=alpha, seed=seed, treated_per_year=tpy,
        follow_up=follow_up, allocation=allocation, notes=notes,
        warnings=warnings, timings=timings)

