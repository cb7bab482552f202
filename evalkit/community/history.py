"""A person-level event log, sorted once and flagged for failure demand.

:class:`EventHistory` turns the ``events`` table into integer-coded numpy
arrays sorted by person and time, and flags each event with the
failure-demand definitions evalkit uses everywhere (see ``evalkit.waste``):

* **Ordering (tie rule).** Each person's events are ordered by date/time, then
  ``event_id`` when the column is present (numbers numerically, text character
  by character), then row order in the input. A date without a time counts as
  midnight. Windows compare **calendar dates** (whole days between the events'
  dates, whatever their times).
* **Hand-off**: two consecutive events of the same person at different
  organisations; dated and attributed to the receiving event.
* **Repeat assessment**: an assessment whose person's previous assessment (at
  any organisation) was at most ``window_days`` (default 90) earlier: a
  **re-assessment** when by the same organisation, a **story retold** when by a
  different one.
* **Bounced referral**: a ``referral_declined`` event followed by the same
  person's next ``referral`` within ``rereferral_days`` (default 30); counted
  once per declined event and dated (and priced) at the re-referral.
* **Wait**: days from each ``referral`` to the same person's next
  ``intervention`` (open while none has happened).

The ordering and the flags are computed by ``evalkit.waste`` itself
(:func:`evalkit.waste.flags.order_events` and
:func:`evalkit.waste.flags.flag_sorted`), so they are the waste report's
definitions by construction; this class keeps the sorted, integer-coded
arrays the person features need.

Example
-------
>>> import pandas as pd
>>> people = pd.DataFrame({"person_id": ["P1", "P2"]})
>>> events = pd.DataFrame({
...     "person_id": ["P1", "P1", "P1", "P2"],
...     "date": pd.to_datetime(["2024-01-01", "2024-01-10", "2024-02-01", "2024-01-05"]),
...     "organisation": ["Council", "NHS", "NHS", "Police"],
...     "event_type": ["assessment", "assessment", "assessment", "contact"]})
>>> h = EventHistory(events, people)
>>> int(h.handoff.sum()), int(h.story_retold.sum()), int(h.reassessment.sum())
(1, 1, 1)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from ..schema import EVENT_TYPES
from ..waste.flags import DAY_NS, TIE_RULE, day_number, flag_sorted, order_events

__all__ = ["EventHistory", "TIE_RULE", "day_number"]

_DAY_NS = DAY_NS
#: "No such day": larger than any day number evalkit meets.
NEVER = np.iinfo(np.int32).max

_REQUIRED = ("person_id", "date", "organisation", "event_type")
#: Event-type code of each failure-demand role (evalkit's standard event types).
_ROLES = {"assessment": EVENT_TYPES.index("assessment"),
          "referral": EVENT_TYPES.index("referral"),
          "declined": EVENT_TYPES.index("referral_declined"),
          "intervention": EVENT_TYPES.index("intervention")}


class EventHistory:
    """The event log sorted by person and time, integer-coded and flagged.

    Parameters
    ----------
    events : DataFrame
        The ``events`` table (``person_id``, ``date``, ``organisation``,
        ``event_type``; optional ``event_id``, ``service``, ``need``).
    people : DataFrame
        The ``people`` table; its ``person_id`` order defines person codes.
    organisation_partner : mapping, optional
        Organisation -> partner (an organisation not listed is its own partner).
    window_days : int, default 90
        Repeat-assessment window.
    rereferral_days : int, default 30
        Bounced-referral window.
    need_col : str, default "need"
        Column holding the presenting need (optional in the events table).

    Attributes
    ----------
    person_ids : Index
        People in ``people`` order; ``pcode`` indexes into it.
    pcode, day, org, etype, need, service : ndarray
        Per event (sorted): person code, day number, organisation code, event
        type code (index into :data:`evalkit.schema.EVENT_TYPES`), need code
        (-1 = not recorded), service code (-1 = none).
    organisations, needs, services : ndarray of str
        Code -> name.
    handoff, reassessment, story_retold : ndarray of bool
        Failure-demand flags per event (see the module docstring).
    bounce_pos, bounce_day : ndarray
        For each bounced referral: position of the re-referral event and its day.
    ref_pos, ref_next_intervention : ndarray
        For each referral: its position and the day of the person's next
        intervention (:data:`NEVER` when none).
    excluded : DataFrame
        Rows not used, by reason (``reason``, ``rows``).
    """

    def __init__(self, events: pd.DataFrame, people: pd.DataFrame, *,
                 organisation_partner: Mapping[str, str] | None = None,
                 window_days: int = 90, rereferral_days: int = 30,
                 need_col: str = "need") -> None:
        if not isinstance(events, pd.DataFrame):
            raise InputError(f"events: expected a DataFrame, got {type(events).__name__}.")
        if not isinstance(people, pd.DataFrame):
            raise InputError(f"people: expected a DataFrame, got {type(people).__name__}.")
        missing = [c for c in _REQUIRED if c not in events.columns]
        if missing:
            raise InputError(f"events: missing column(s) {missing}; the event log needs "
                             f"{list(_REQUIRED)} (see evalkit.schema, table 'events').")
        if "person_id" not in people.columns:
            raise InputError("people: missing column 'person_id'.")
        for name, v in (("window_days", window_days), ("rereferral_days", rereferral_days)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise InputError(f"{name} must be a whole number of days >= 0, got {v!r}.")
        pid = people["person_id"]
        if pid.isna().any():
            raise InputError("people: person_id has empty values; every person needs one.")
        if pid.duplicated().any():
            dup = pid[pid.duplicated()].iloc[0]
            raise InputError(f"people: person_id {dup!r} appears more than once; ids must "
                             "be unique.")
        self.person_ids = pd.Index(pid.to_numpy(), name="person_id")
        self.window_days = int(window_days)
        self.rereferral_days = int(rereferral_days)
        self.need_col = need_col
        self.tie_rule = TIE_RULE
        n_rows = len(events)

        # ---- integer codes
        pcodes_e, puniq = pd.factorize(events["person_id"], use_na_sentinel=True)
        pmap = self.person_ids.get_indexer(pd.Index(puniq))
        pcode = np.where(pcodes_e >= 0, pmap[np.maximum(pcodes_e, 0)], -2)
        date = events["date"]
        if not pd.api.types.is_datetime64_any_dtype(date.dtype):
            try:
                date = pd.to_datetime(date)
            except (TypeError, ValueError):
                raise InputError("events: column 'date' holds values that are not dates; "
                                 "validate the table with evalkit.io first.") from None
        t_ns = date.to_numpy(dtype="datetime64[ns]").view(np.int64)
        nat = t_ns == np.iinfo(np.int64).min
        ocodes, ouniq = pd.factorize(events["organisation"], use_na_sentinel=True)
        tcodes, tuniq = pd.factorize(events["event_type"], use_na_sentinel=True)
        known = np.array([EVENT_TYPES.index(str(t)) if str(t) in EVENT_TYPES else -1
                          for t in tuniq], dtype=np.int8)
        etype = np.where(tcodes >= 0, known[np.maximum(tcodes, 0)] if len(known) else -1, -2)

        reasons = [
            ("missing person_id", pcodes_e < 0),
            ("missing date", nat),
            ("missing organisation", ocodes < 0),
            ("missing event_type", etype == -2),
            (f"unknown event_type (not one of {', '.join(EVENT_TYPES)})", etype == -1),
            ("person not in the people table", pcode == -1),
        ]
        bad = np.zeros(n_rows, dtype=bool)
        counts = []
        for reason, m in reasons:
            m = m & ~bad
            counts.append((reason, int(m.sum())))
            bad |= m
        self.excluded = pd.DataFrame(counts, columns=["reason", "rows"])
        self.n_rows = n_rows
        keep = np.flatnonzero(~bad)

        # ---- the one sort: (person, time, event_id, row order), as evalkit.waste
        order, self.pcode, self.day = order_events(
            pcode[keep], t_ns[keep], len(self.person_ids),
            event_id=events["event_id"] if "event_id" in events.columns else None, rows=keep)
        rows = keep[order]
        self.rows = rows  # original row positions, sorted order
        self.org = ocodes[rows].astype(np.int32)
        self.organisations = np.asarray([str(o) for o in ouniq], dtype=object)
        self.etype = etype[rows].astype(np.int8)
        if need_col in events.columns:
            ncodes, nuniq = pd.factorize(events[need_col], use_na_sentinel=True)
            self.need = ncodes[rows].astype(np.int32)
            self.needs = np.asarray([str(x) for x in nuniq], dtype=object)
            self.has_need = True
        else:
            self.need = np.full(len(rows), -1, dtype=np.int32)
            self.needs = np.asarray([], dtype=object)
            self.has_need = False
        if "service" in events.columns:
            scodes, suniq = pd.factorize(events["service"], use_na_sentinel=True)
            self.service = scodes[rows].astype(np.int32)
            self.services = np.asarray([str(x) for x in suniq], dtype=object)
        else:
            self.service = np.full(len(rows), -1, dtype=np.int32)
            self.services = np.asarray([], dtype=object)
        mapping = dict(organisation_partner or {})
        partners = [str(mapping.get(o, o)) for o in self.organisations]
        self.partners, self.org_partner = np.unique(np.asarray(partners, dtype=object),
                                                    return_inverse=True) if partners else (
            np.asarray([], dtype=object), np.asarray([], dtype=np.int64))
        self.org_partner = np.asarray(self.org_partner, dtype=np.int32)
        self._flag()

    # ------------------------------------------------------------------ flags
    def _flag(self) -> None:
        f = flag_sorted(self.pcode, self.day, self.org, self.etype, roles=_ROLES,
                        window_days=self.window_days, rereferral_days=self.rereferral_days)
        m = self.n_events
        self.handoff = np.zeros(m, dtype=bool)
        self.handoff[f.handoff] = True
        self.reassessment = np.zeros(m, dtype=bool)
        self.reassessment[f.reassessment] = True
        self.story_retold = np.zeros(m, dtype=bool)
        self.story_retold[f.story_retold] = True
        self.bounce_decline_pos = f.declines[f.bounced]
        self.bounce_pos = f.bounced_referral
        self.bounce_day = self.day[self.bounce_pos]
        self.ref_pos = f.referrals
        self.ref_next_intervention = np.where(
            f.followed, self.day[np.maximum(f.next_intervention, 0)] if m else NEVER,
            NEVER).astype(np.int32)

    # ------------------------------------------------------------------ info
    @property
    def n_events(self) -> int:
        """Events used (after exclusions)."""
        return len(self.pcode)

    @property
    def n_people(self) -> int:
        return len(self.person_ids)

    def __repr__(self) -> str:
        return (f"<EventHistory: {self.n_events:,} events of {self.n_people:,} people, "
                f"{len(self.organisations)} organisations, {int(self.excluded['rows'].sum()):,} "
                "rows excluded>")
