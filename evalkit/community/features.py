"""Person-level features from service-contact history up to a cut-off date.

Everything is computed from events dated **strictly before** the cut-off (and,
for the crisis history, outcome periods before it), so a feature never uses
what happened on or after the day a prediction would be made.

Features (``w`` runs over the look-back windows, default 90 and 365 days;
``W`` is the longest):

=================================  ==============================================
``events_{w}d``                    events in the last ``w`` days
``{event_type}_{w}d``              events of each type (contact, assessment,
                                   referral, referral_accepted, referral_declined,
                                   intervention, closure)
``events_prev_{w0}d``              events in the ``w0`` days before the last
                                   ``w0`` (``w0`` = shortest window): with
                                   ``events_{w0}d`` it shows a rising trend
``org_{W}d:{organisation}``        events recorded by each organisation (or
                                   partner, ``by="partner"``)
``organisations_{W}d``             distinct organisations seen
``handoffs_{W}d``                  hand-offs (received)
``reassessments_{W}d``             re-assessments by the same organisation
``stories_retold_{W}d``            repeat assessments by a new organisation
``bounced_referrals_{W}d``         referrals declined then re-referred (dated at
                                   the re-referral)
``mean_wait_days_{W}d``            mean days from referral to the next
                                   intervention, for waits that ended in the
                                   window (0 when none)
``open_referrals``                 referrals in the last ``W`` days still without
                                   an intervention at the cut-off
``longest_open_wait_days``         days the oldest of those has waited
``days_since_last_event``          recency, capped at ``recency_cap_days``
``no_prior_events``                1 if the person has no event before the cut-off
``prior_crisis_{W}d``              crisis-outcome units in the ``W`` days (whole
                                   months) before the cut-off, when outcomes are
                                   given
=================================  ==============================================

plus the demographics carried from ``people`` (``age_band``, ``sex``,
``deprivation_decile``, ``area``). Failure-demand definitions are those of
:mod:`evalkit.community.history` (identical to ``evalkit.waste``).

Example
-------
>>> import pandas as pd
>>> people = pd.DataFrame({"person_id": ["P1", "P2"], "age_band": ["25-34", "75+"]})
>>> events = pd.DataFrame({
...     "person_id": ["P1", "P1", "P2"],
...     "date": pd.to_datetime(["2024-01-02", "2024-03-20", "2023-01-01"]),
...     "organisation": ["Council", "NHS", "NHS"],
...     "event_type": ["referral", "intervention", "contact"]})
>>> f = person_features(events, people, "2024-04-01")
>>> f.loc["P1", ["events_90d", "referral_90d", "mean_wait_days_365d"]].tolist()
[2.0, 1.0, 78.0]
>>> f.loc["P2", ["events_365d", "days_since_last_event"]].tolist()
[0.0, 456.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from ..schema import EVENT_TYPES
from ..waste.flags import to_timestamp
from .history import EventHistory, day_number

__all__ = [
    "person_features",
    "FeatureBuilder",
    "OutcomeHistory",
    "feature_label",
    "month_number",
    "DEMOGRAPHICS",
]

#: People columns carried into the feature table (when present).
DEMOGRAPHICS: tuple[str, ...] = ("age_band", "sex", "deprivation_decile", "area")

_TYPE_WORDS = {
    "contact": "contacts",
    "assessment": "assessments",
    "referral": "referrals",
    "referral_accepted": "referrals accepted",
    "referral_declined": "referrals declined",
    "intervention": "interventions",
    "closure": "case closures",
}


def month_number(value: Any, name: str = "cutoff", *, first_of_month: bool = True) -> int:
    """Months since January 1970 of a date (``year * 12 + month - 1``).

    With ``first_of_month`` the date must be the first day of a month (monthly
    outcomes cannot be split mid-month).

    Examples
    --------
    >>> month_number("2024-04-01") - month_number("2023-04-01")
    12
    """
    ts = to_timestamp(value, name)
    if first_of_month and (ts.day != 1 or ts != ts.normalize()):
        raise InputError(f"{name}: {value!r} is not the first day of a month; outcomes are "
                         f"monthly, so use e.g. '{ts:%Y-%m}-01'.")
    return ts.year * 12 + ts.month - 1


def _month_start(m: int) -> pd.Timestamp:
    return pd.Timestamp(year=m // 12, month=m % 12 + 1, day=1)


def feature_label(name: str) -> str:
    """A plain-English label for a feature name (for tables and charts).

    Examples
    --------
    >>> feature_label("referral_declined_90d")
    'referrals declined in the last 90 days'
    >>> feature_label("org_365d:Police")
    'events recorded by Police in the last 365 days'
    """
    import re

    m = re.fullmatch(r"org_(\d+)d:(.+)", name)
    if m:
        return f"events recorded by {m.group(2)} in the last {m.group(1)} days"
    m = re.fullmatch(r"(.+)_(\d+)d", name)
    base, w = (m.group(1), int(m.group(2))) if m else (name, None)
    span = f" in the last {w} days" if w else ""
    if base == "events_prev":
        return f"events in the {w} days before that"
    if base == "events":
        return f"events{span}"
    if base in _TYPE_WORDS:
        return f"{_TYPE_WORDS[base]}{span}"
    words = {
        "organisations": "distinct organisations seen",
        "handoffs": "hand-offs between organisations",
        "reassessments": "re-assessments by the same organisation",
        "stories_retold": "stories retold (repeat assessment by a new organisation)",
        "bounced_referrals": "bounced referrals (declined then re-referred)",
        "mean_wait_days": "mean wait from referral to intervention (days)",
        "open_referrals": "referrals still waiting for an intervention",
        "longest_open_wait_days": "days the oldest waiting referral has waited",
        "days_since_last_event": "days since the last contact",
        "no_prior_events": "no contact with any service before",
        "prior_crisis": "crisis outcomes",
    }
    if base in words:
        return words[base] + span
    if "=" in base:  # dummy from the design matrix, e.g. "sex=male"
        col, level = base.split("=", 1)
        return f"{col.replace('_', ' ')}: {level}"
    return base.replace("_", " ") + span


class OutcomeHistory:
    """Crisis outcomes per person and month, for labels and crisis history.

    Parameters
    ----------
    outcomes : DataFrame
        The tidy ``outcomes`` panel (``person_id``, ``period``, ``measure``,
        ``value``).
    person_ids : Index
        People order (codes index into it).
    measures : str or sequence of str
        The outcome measure(s) that make a crisis; their values are summed.

    Examples
    --------
    >>> import pandas as pd
    >>> out = pd.DataFrame({"person_id": ["P1", "P1", "P2"],
    ...     "period": pd.to_datetime(["2024-01-01", "2024-05-01", "2024-02-01"]),
    ...     "measure": ["ae_attendances"] * 3, "value": [1.0, 2.0, 0.0]})
    >>> oh = OutcomeHistory(out, pd.Index(["P1", "P2"]), "ae_attendances")
    >>> oh.totals(month_number("2024-01-01"), month_number("2024-07-01")).tolist()
    [3.0, 0.0]
    """

    def __init__(self, outcomes: pd.DataFrame, person_ids: pd.Index,
                 measures: str | Sequence[str]) -> None:
        if not isinstance(outcomes, pd.DataFrame):
            raise InputError("outcomes: expected the outcomes table (a DataFrame), got "
                             f"{type(outcomes).__name__}.")
        missing = [c for c in ("person_id", "period", "measure", "value")
                   if c not in outcomes.columns]
        if missing:
            raise InputError(f"outcomes: missing column(s) {missing}; the outcome panel "
                             "needs person_id, period, measure and value.")
        ms = [measures] if isinstance(measures, str) else list(measures)
        if not ms:
            raise InputError("crisis: name at least one outcome measure.")
        have = sorted(map(str, outcomes["measure"].dropna().unique()))
        unknown = [m for m in ms if m not in have]
        if unknown:
            raise InputError(f"crisis: measure(s) {unknown} are not in the outcomes table; "
                             f"its measures are: {', '.join(have) or '(none)'}.")
        self.measures = ms
        self.person_ids = person_ids
        sub = outcomes[outcomes["measure"].isin(ms)]
        period = pd.to_datetime(sub["period"])
        self.first_month = int((period.dt.year * 12 + period.dt.month - 1).min())
        self.last_month = int((period.dt.year * 12 + period.dt.month - 1).max())
        sub = sub[sub["value"].notna() & (sub["value"] != 0)]
        per = pd.to_datetime(sub["period"])
        codes, uniq = pd.factorize(sub["person_id"])
        pmap = person_ids.get_indexer(pd.Index(uniq))
        p = pmap[codes] if len(codes) else np.zeros(0, dtype=np.int64)
        ok = p >= 0
        self.n_unmatched_rows = int((~ok).sum())
        self.pcode = p[ok].astype(np.int64)
        self.month = (per.dt.year * 12 + per.dt.month - 1).to_numpy()[ok].astype(np.int64)
        self.value = sub["value"].to_numpy(dtype=float)[ok]

    def totals(self, start_month: int, end_month: int) -> np.ndarray:
        """Sum of the crisis measures per person over months ``[start, end)``."""
        m = (self.month >= start_month) & (self.month < end_month)
        return np.bincount(self.pcode[m], weights=self.value[m],
                           minlength=len(self.person_ids)).astype(float)

    def covers(self, start_month: int, end_month: int) -> bool:
        return start_month >= self.first_month and end_month - 1 <= self.last_month

    @property
    def period_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return _month_start(self.first_month), _month_start(self.last_month)


class FeatureBuilder:
    """Builds person-level features at any cut-off from one sorted event log.

    Parameters
    ----------
    history : EventHistory
        The prepared event log (sorted and flagged once).
    people : DataFrame
        The ``people`` table (demographics are carried into the features).
    windows : sequence of int, default (90, 365)
        Look-back windows in days.
    by : {"organisation", "partner"}
        Count events by organisation (default) or by the partner paying.
    recency_cap_days : int, default 730
        ``days_since_last_event`` is capped here (and set to it when a
        person has no prior event).
    crisis_history : OutcomeHistory, optional
        Adds ``prior_crisis_{W}d``.
    """

    def __init__(self, history: EventHistory, people: pd.DataFrame, *,
                 windows: Sequence[int] = (90, 365),
                 by: Literal["organisation", "partner"] = "organisation",
                 recency_cap_days: int = 730,
                 crisis_history: OutcomeHistory | None = None) -> None:
        ws = sorted({int(w) for w in windows}) if windows is not None else []
        if not ws or any(w < 1 for w in ws):
            raise InputError(f"windows: give look-back windows in whole days >= 1, got "
                             f"{windows!r}.")
        if by not in ("organisation", "partner"):
            raise InputError(f"by must be 'organisation' or 'partner', got {by!r}.")
        if recency_cap_days < 1:
            raise InputError("recency_cap_days must be at least 1.")
        self.h = history
        self.windows = tuple(ws)
        self.by = by
        self.recency_cap_days = int(recency_cap_days)
        self.crisis_history = crisis_history
        ppl = people.set_index("person_id") if "person_id" in people.columns else people
        self.demographics = ppl.reindex(history.person_ids)[
            [c for c in DEMOGRAPHICS if c in ppl.columns]]
        if by == "organisation":
            self.groups, self.group_code = history.organisations, history.org
        else:
            self.groups = history.partners
            self.group_code = history.org_partner[history.org] if len(history.org) else (
                history.org)

    @property
    def feature_names(self) -> list[str]:
        w0, W = self.windows[0], self.windows[-1]
        names = []
        for w in self.windows:
            names.append(f"events_{w}d")
            names += [f"{t}_{w}d" for t in EVENT_TYPES]
        names.append(f"events_prev_{w0}d")
        names += [f"org_{W}d:{g}" for g in sorted(self.groups)]
        names += [f"organisations_{W}d", f"handoffs_{W}d", f"reassessments_{W}d",
                  f"stories_retold_{W}d", f"bounced_referrals_{W}d", f"mean_wait_days_{W}d",
                  "open_referrals", "longest_open_wait_days", "days_since_last_event",
                  "no_prior_events"]
        if self.crisis_history is not None:
            names.append(f"prior_crisis_{W}d")
        return names

    def features(self, cutoff: Any, population: np.ndarray | None = None,
                 *, demographics: bool = True) -> pd.DataFrame:
        """Features of each person at ``cutoff`` (events strictly before it).

        Parameters
        ----------
        cutoff : date
            The day predictions would be made.
        population : ndarray of int or bool, optional
            Person codes (or a boolean mask over people) to return; all by default.
        demographics : bool, default True
            Append the people columns in :data:`DEMOGRAPHICS`.

        Returns
        -------
        DataFrame
            One row per person (index ``person_id``), float32 feature columns
            (see the module docstring), ``attrs["cutoff"]`` set.
        """
        h = self.h
        n = h.n_people
        c = day_number(cutoff)
        w0, W = self.windows[0], self.windows[-1]
        lookback = max(W, 2 * w0)
        # events in the longest look-back, as a subset (they are few)
        idx = np.flatnonzero((h.day < c) & (h.day >= c - lookback))
        p = h.pcode[idx].astype(np.int64)
        age = c - h.day[idx].astype(np.int64)  # 1..lookback days before the cut-off
        et = h.etype[idx].astype(np.int64)
        nt = len(EVENT_TYPES)
        cols: dict[str, np.ndarray] = {}
        for w in self.windows:
            m = age <= w
            by_type = np.bincount(p[m] * nt + et[m], minlength=n * nt).reshape(n, nt)
            cols[f"events_{w}d"] = by_type.sum(axis=1)
            for j, t in enumerate(EVENT_TYPES):
                cols[f"{t}_{w}d"] = by_type[:, j]
        m = (age > w0) & (age <= 2 * w0)
        cols[f"events_prev_{w0}d"] = np.bincount(p[m], minlength=n)
        mW = age <= W
        pW = p[mW]
        ng = max(len(self.groups), 1)
        by_group = np.bincount(pW * ng + self.group_code[idx[mW]], minlength=n * ng)
        by_group = by_group.reshape(n, ng)
        for j, g in enumerate(self.groups):
            cols[f"org_{W}d:{g}"] = by_group[:, j]
        cols[f"organisations_{W}d"] = (np.bincount(
            pW * len(h.organisations) + h.org[idx[mW]],
            minlength=n * max(len(h.organisations), 1)).reshape(n, -1) > 0).sum(axis=1)
        cols[f"handoffs_{W}d"] = np.bincount(pW, weights=h.handoff[idx[mW]], minlength=n)
        cols[f"reassessments_{W}d"] = np.bincount(pW, weights=h.reassessment[idx[mW]],
                                                  minlength=n)
        cols[f"stories_retold_{W}d"] = np.bincount(pW, weights=h.story_retold[idx[mW]],
                                                   minlength=n)
        bd = h.bounce_day.astype(np.int64)
        mb = (bd < c) & (bd >= c - W)
        cols[f"bounced_referrals_{W}d"] = np.bincount(h.pcode[h.bounce_pos[mb]], minlength=n)
        # waits
        rd = h.day[h.ref_pos].astype(np.int64)
        nd = h.ref_next_intervention.astype(np.int64)
        rp = h.pcode[h.ref_pos].astype(np.int64)
        done = (nd < c) & (nd >= c - W)
        n_done = np.bincount(rp[done], minlength=n)
        tot = np.bincount(rp[done], weights=(nd - rd)[done], minlength=n)
        cols[f"mean_wait_days_{W}d"] = np.divide(tot, n_done, out=np.zeros(n),
                                                 where=n_done > 0)
        open_ = (rd < c) & (rd >= c - W) & (nd >= c)
        cols["open_referrals"] = np.bincount(rp[open_], minlength=n)
        longest = np.zeros(n)
        if open_.any():
            op, od = rp[open_], rd[open_]
            first = np.concatenate([[True], op[1:] != op[:-1]])  # sorted: oldest first
            longest[op[first]] = c - od[first]
        cols["longest_open_wait_days"] = longest
        # recency: each person's events before c are a prefix of their block
        before = h.day < c
        n_before = np.bincount(h.pcode[before], minlength=n)
        start = np.searchsorted(h.pcode, np.arange(n), side="left")
        has = n_before > 0
        last_pos = start + n_before - 1
        rec = np.full(n, self.recency_cap_days, dtype=np.int64)
        rec[has] = np.minimum(c - h.day[last_pos[has]].astype(np.int64), self.recency_cap_days)
        cols["days_since_last_event"] = rec
        cols["no_prior_events"] = (~has).astype(np.int64)
        if self.crisis_history is not None:
            cm = month_number(pd.Timestamp(cutoff).normalize().replace(day=1),
                              first_of_month=False)
            months = max(1, round(W / 30.4375))
            cols[f"prior_crisis_{W}d"] = self.crisis_history.totals(cm - months, cm)
        data = {k: np.asarray(v, dtype=np.float32) for k, v in cols.items()}
        out = pd.DataFrame(data, index=h.person_ids)[self.feature_names]
        if demographics and self.demographics.shape[1]:
            out = pd.concat([out, self.demographics], axis=1)
        if population is not None:
            pop = np.asarray(population)
            out = out.iloc[np.flatnonzero(pop) if pop.dtype == bool else pop]
        out.attrs["cutoff"] = pd.Timestamp(cutoff)
        return out


def person_features(events: pd.DataFrame, people: pd.DataFrame, cutoff: Any, *,
                    windows: Sequence[int] = (90, 365),
                    by: Literal["organisation", "partner"] = "organisation",
                    organisation_partner: Mapping[str, str] | None = None,
                    outcomes: pd.DataFrame | None = None,
                    crisis: str | Sequence[str] | None = None,
                    window_days: int = 90, rereferral_days: int = 30,
                    recency_cap_days: int = 730) -> pd.DataFrame:
    """Person-level features at one cut-off date (see the module docstring).

    For several cut-offs, build an :class:`~evalkit.community.history.EventHistory`
    and a :class:`FeatureBuilder` once and call :meth:`FeatureBuilder.features`
    for each (the sort is the expensive part).

    Parameters
    ----------
    events, people : DataFrame
        The ``events`` and ``people`` tables.
    cutoff : date
        Only events strictly before this day are used.
    windows : sequence of int
        Look-back windows in days.
    by : {"organisation", "partner"}
        Count events by organisation or by partner.
    organisation_partner : mapping, optional
        Organisation -> partner (for ``by="partner"``).
    outcomes : DataFrame, optional
        With ``crisis``, adds the prior crisis count.
    crisis : str or sequence of str, optional
        Outcome measure(s) for ``prior_crisis_{W}d``.
    window_days, rereferral_days : int
        Failure-demand windows (repeat assessment, bounced referral).
    recency_cap_days : int
        Cap on ``days_since_last_event``.
    """
    hist = EventHistory(events, people, organisation_partner=organisation_partner,
                        window_days=window_days, rereferral_days=rereferral_days)
    ch = None
    if outcomes is not None and crisis is not None:
        ch = OutcomeHistory(outcomes, hist.person_ids, crisis)
    fb = FeatureBuilder(hist, people, windows=windows, by=by,
                        recency_cap_days=recency_cap_days, crisis_history=ch)
    return fb.features(cutoff)

