"""The five failure-demand measures, vectorised over a sorted event log.

Definitions (the report glossary reuses these words)
----------------------------------------------------
Every person's events are put in order by **date/time, then** ``event_id``
**(when the column is present), then file order** (the row's position in the
table or file). Event ids are compared as given: numbers numerically, text
character by character (so ``E10`` sorts before ``E9``: zero-pad text ids).
A date-only event counts as midnight, so on the same day it comes before any
timed event. Windows compare **calendar dates**: a gap is the number of days
between the two events' dates, whatever their times.

1. **Hand-off**: two consecutive events of the same person recorded by
   different organisations. Counted per (from, to) pair: the hand-off matrix.
   A hand-off is dated and attributed to the receiving event.
2. **Repeat assessment**: an assessment whose person's previous assessment (at
   any organisation) was at most ``window_days`` (default 90) earlier. It is a
   **re-assessment** when the previous assessment was by the same organisation
   and a **story retold** when it was by a different one. The first assessment
   of each person is never a repeat.
3. **Bounced referral**: a ``referral_declined`` event followed by the same
   person's next ``referral`` (the first referral after it in the order above)
   within ``rereferral_days`` (default 30). Counted once per declined event;
   two declines followed by one re-referral are two bounces.
   **Ping-pong**: a person's referral whose ``referred_to`` is an organisation
   that declined that person at most ``rereferral_days`` before (the decline
   coming earlier in the order). Referrals without ``referred_to`` are never
   ping-pong and are counted as such. The declining organisation is the
   ``organisation`` of the ``referral_declined`` row by default
   (``declined_by="referred_to"`` when a system records declines against the
   referrer with the decliner in ``referred_to``).
4. **Wait**: days from each ``referral`` to the same person's next
   ``intervention`` (the first intervention after it in the order). Several
   referrals before one intervention each wait for that intervention.
   Referrals never followed by an intervention are counted separately.
5. **Front doors**: for each person, the largest number of distinct
   organisations that assessed them within any ``front_door_days`` (default
   365: a rolling 12 months) window, i.e. among assessments whose dates are at
   most ``front_door_days`` apart. How many times they told their story.

Every input row is either used or counted as excluded with a reason
(missing person, date, organisation or event type; unknown event type;
outside the date window; person not in the people table; person out of
scope), in that order of precedence.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from ..schema import EVENT_TYPES
from .flags import (
    DAY_NS,
    FLAG_PARTS,
    TIE_RULE,
    EventFlags,
    flag_sorted,
    order_events,
    rank_values,
    sorted_order,
)

__all__ = [
    "WasteSettings",
    "WasteCore",
    "MEASURES",
    "MEASURE_LABELS",
    "ROLES",
    "GROUPS",
    "PERIODS",
    "compute_core",
    "prepare_log",
    "SortedLog",
    "TIE_RULE",
    "canonical_frame",
    "canonical_accounting",
    "sort_occurrences",
    "resolve_people",
]

#: Failure-demand categories counted event by event, in report order.
MEASURES: tuple[str, ...] = (
    "handoff",
    "reassessment",
    "story_retold",
    "bounced_referral",
    "ping_pong",
)

MEASURE_LABELS: dict[str, str] = {
    "handoff": "Hand-offs between organisations",
    "reassessment": "Re-assessments (same organisation)",
    "story_retold": "Stories retold (new organisation)",
    "bounced_referral": "Bounced referrals (declined, re-referred)",
    "ping_pong": "Ping-pong referrals (back to a decliner)",
}

#: Event-type roles the measures use, with their default event types.
ROLES: dict[str, str] = {
    "assessment": "assessment",
    "referral": "referral",
    "declined": "referral_declined",
    "intervention": "intervention",
}

GROUPS: tuple[str, ...] = ("pilot", "non-pilot", "all")

#: Parts of :func:`compute_core` that can be asked for on their own.
PARTS: tuple[str, ...] = ("handoff", "repeat_assessment", "bounced_referral", "wait",
                          "per_person")
PERIODS: tuple[str, ...] = ("before", "after", "all")


COLUMN_KEYS: tuple[str, ...] = (
    "person_id", "date", "organisation", "event_type", "event_id", "service", "referred_to",
)

_DAY_NS = DAY_NS


@dataclass(frozen=True)
class WasteSettings:
    """Windows, event-type names and column names for the waste measures.

    Parameters
    ----------
    window_days : int
        Repeat-assessment window: an assessment at most this many days after
        the person's previous assessment is a repeat (default 90).
    rereferral_days : int
        Bounce and ping-pong window (default 30).
    front_door_days : int
        Rolling window for front doors (default 365, a rolling 12 months).
    event_types : mapping
        Event type playing each role: keys ``assessment``, ``referral``,
        ``declined``, ``intervention`` (defaults: ``assessment``, ``referral``,
        ``referral_declined``, ``intervention``). Names not among evalkit's
        standard types become valid types too.
    declined_by : {"organisation", "referred_to"}
        Column of a declined row naming the organisation that declined.
    start, end : date-like, optional
        Keep only events dated on or after ``start`` / on or before ``end``
        (whole calendar days); other rows are excluded with a reason. They also
        set the observation period for rates (default: first to last event).
    comparison_date : date-like, optional
        For people never in the pilot, the date splitting "before" and
        "after" (default: the earliest ``pilot_start``).
    columns : mapping, optional
        Column names in the events table when they differ from the schema's
        (``{"person_id": "client", "date": "contact_date"}``).
    """

    window_days: int = 90
    rereferral_days: int = 30
    front_door_days: int = 365
    event_types: Mapping[str, str] = field(default_factory=lambda: dict(ROLES))
    declined_by: Literal["organisation", "referred_to"] = "organisation"
    start: Any = None
    end: Any = None
    comparison_date: Any = None
    columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("window_days", "rereferral_days", "front_door_days"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise InputError(
                    f"{name} must be a whole number of days of at least 0; got {v!r}."
                )
        roles = dict(ROLES)
        given = dict(self.event_types or {})
        bad = sorted(set(given) - set(ROLES))
        if bad:
            raise InputError(
                f"event_types has unknown role(s) {bad}; the roles are "
                f"{', '.join(ROLES)} (e.g. event_types={{'assessment': 'triage'}})."
            )
        for k, v in given.items():
            if not isinstance(v, str) or not v.strip():
                raise InputError(
                    f"event_types[{k!r}] must be a non-empty event type name; got {v!r}.")
            roles[k] = v.strip().lower()
        if len(set(roles.values())) != len(roles):
            raise InputError(
                f"event_types gives the same event type to two roles: {roles}. "
                "Each role needs its own event type."
            )
        object.__setattr__(self, "event_types", roles)
        if self.declined_by not in ("organisation", "referred_to"):
            raise InputError(
                f"declined_by must be 'organisation' or 'referred_to'; got {self.declined_by!r}."
            )
        cols = dict(self.columns or {})
        bad = sorted(set(cols) - set(COLUMN_KEYS))
        if bad:
            raise InputError(
                f"columns has unknown key(s) {bad}; the keys are {', '.join(COLUMN_KEYS)}."
            )
        object.__setattr__(self, "columns", cols)
        for name in ("start", "end", "comparison_date"):
            v = getattr(self, name)
            if v is not None:
                try:
                    ts = pd.Timestamp(v)
                except (ValueError, TypeError):
                    ts = pd.NaT
                if ts is pd.NaT:
                    raise InputError(f"{name} must be a date such as 2024-04-01; got {v!r}.")
                object.__setattr__(self, name, ts.normalize())
        if self.start is not None and self.end is not None and self.end < self.start:
            raise InputError(f"end ({self.end.date()}) is before start ({self.start.date()}).")

    def col(self, key: str) -> str:
        """The events-table column name playing schema column ``key``."""
        return self.columns.get(key, key)

    @property
    def known_event_types(self) -> tuple[str, ...]:
        """Standard event types plus any role names that are not standard."""
        extra = [v for v in self.event_types.values() if v not in EVENT_TYPES]
        return tuple(EVENT_TYPES) + tuple(extra)


@dataclass
class WasteCore:
    """Aggregates from which every table of the report is built.

    Both backends (pandas/numpy in memory, DuckDB over Parquet) produce this,
    and the report is assembled from it by one piece of code, so equal cores
    mean equal reports.

    Attributes
    ----------
    accounting : DataFrame
        ``reason``, ``rows``: ``used`` plus one row per exclusion reason.
    occurrences : DataFrame
        One row per combination of ``measure``, ``organisation``, ``service``,
        ``event_type`` (of the event the occurrence is dated and priced by),
        ``other_organisation`` (hand-off: from; repeat: previous assessor;
        bounce and ping-pong: the decliner), ``group``, ``period``, ``count``.
    event_counts : DataFrame
        Events used by ``organisation``, ``event_type``, ``group``, ``period``.
    waits : DataFrame
        Referrals by ``organisation`` (referrer), ``referred_to``, ``group``,
        ``period``, ``wait_days`` (missing = never followed), ``count``.
    per_person : DataFrame
        One row per person with at least one used event.
    meta : dict
        ``period_start``, ``period_end`` (Timestamps), ``n_rows``.
    """

    accounting: pd.DataFrame
    occurrences: pd.DataFrame
    event_counts: pd.DataFrame
    waits: pd.DataFrame
    per_person: pd.DataFrame
    meta: dict[str, Any]


PER_PERSON_COLUMNS: tuple[str, ...] = (
    "person_id", "group", "first_date", "last_date", "events", "organisations",
    "handoffs", "assessments", "repeat_assessments", "reassessments", "stories_retold",
    "referrals", "referrals_declined", "bounced_referrals", "ping_pong",
    "referrals_never_followed", "front_doors",
)


# --------------------------------------------------------------------------- encoding
def _encode(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (``-1`` for missing) and the unique values, fast for any dtype."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()  # int8/16/32, -1 for missing: no copy
        cats = np.asarray(values.cat.categories.to_numpy(dtype=object))
        return codes, cats
    if isinstance(dtype, pd.StringDtype) and getattr(dtype, "storage", "") == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(values.array)
        enc = pc.dictionary_encode(arr)
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
        codes = enc.indices.to_numpy(zero_copy_only=False)
        codes = np.where(np.isnan(codes), -1, codes) if codes.dtype.kind == "f" else codes
        codes = codes.astype(np.int32, copy=False)
        if enc.null_count:
            codes = np.where(np.asarray(enc.is_null().to_numpy(zero_copy_only=False)), -1, codes)
        cats = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=object)
        return codes, cats
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)


def _to_datetime(values: pd.Series, name: str) -> np.ndarray:
    """Datetime values as int64 nanoseconds since 1970 (``NaT`` -> int64 min).

    Time-zone-aware values are taken in UTC (as DuckDB reads them from Parquet).
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    if not pd.api.types.is_datetime64_dtype(values.dtype):
        try:
            values = pd.to_datetime(values, errors="coerce", format="mixed", dayfirst=False)
        except (TypeError, ValueError) as err:
            raise InputError(
                f"events column {name!r} could not be read as dates: {err}"
            ) from err
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    arr = values.to_numpy()
    return arr.astype("datetime64[ns]", copy=False).view(np.int64)


_NAT = np.iinfo(np.int64).min
_NOCUT = np.iinfo(np.int64).max


# --------------------------------------------------------------------------- people
def resolve_people(
    people: pd.DataFrame | None, comparison_date: pd.Timestamp | None
) -> tuple[pd.DataFrame | None, pd.Timestamp | None]:
    """Normalise the people table: ``person_id``, ``in_scope``, ``group``, ``cut``.

    ``group`` is ``pilot`` (has a ``pilot_start``), ``non-pilot`` or ``all``
    (no pilot information at all); ``cut`` is the date splitting "before" from
    "after": the person's own ``pilot_start``, or ``comparison_date`` (default:
    the earliest pilot start) for non-pilot people. Returns the table and the
    comparison date used.
    """
    if people is None:
        return None, None
    if not isinstance(people, pd.DataFrame):
        raise InputError(f"people must be a pandas DataFrame; got {type(people).__name__}.")
    if "person_id" not in people.columns:
        raise InputError(
            "people table has no 'person_id' column; it needs one row per person "
            f"with person_id (found columns: {', '.join(map(str, people.columns))})."
        )
    pid = people["person_id"]
    if pid.isna().any():
        raise InputError(
            f"people.person_id has {int(pid.isna().sum())} empty cell(s); every person needs an id."
        )
    dup = pid[pid.duplicated()]
    if len(dup):
        raise InputError(
            f"people.person_id must be unique; {len(dup)} duplicate(s), e.g. {dup.iloc[0]!r}."
        )
    out = pd.DataFrame({"person_id": pid.to_numpy(dtype=object)})
    if "in_scope" in people.columns:
        s = people["in_scope"]
        mapped = s.map(_to_bool_or_none) if s.dtype == object or isinstance(
            s.dtype, pd.StringDtype) else s.astype("boolean")
        bad = s.notna() & pd.Series(mapped).isna().to_numpy()
        if bad.any():
            raise InputError(
                "people.in_scope must be true/false (or yes/no, 1/0, empty = yes); found "
                f"{s[bad].iloc[0]!r}."
            )
        out["in_scope"] = pd.Series(mapped).fillna(True).astype(bool).to_numpy()
    else:
        out["in_scope"] = True
    starts = None
    if "pilot_start" in people.columns:
        starts = pd.to_datetime(people["pilot_start"], errors="coerce").to_numpy()
        bad = people["pilot_start"].notna().to_numpy() & pd.isna(starts)
        if bad.any():
            raise InputError(
                "people.pilot_start must be a date or empty; found "
                f"{people['pilot_start'][bad].iloc[0]!r}."
            )
        starts = pd.DatetimeIndex(starts).normalize()
        if starts.notna().sum() == 0:
            starts = None
    if starts is None:
        out["group"] = "all"
        out["cut"] = pd.NaT
        return out, None
    in_pilot = starts.notna()
    if comparison_date is None:
        comparison_date = starts[in_pilot].min()
    out["group"] = np.where(in_pilot, "pilot", "non-pilot")
    out["cut"] = starts.where(in_pilot, comparison_date)
    return out, pd.Timestamp(comparison_date)


def _to_bool_or_none(v: Any) -> bool | None:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    t = str(v).strip().lower()
    if t in ("true", "yes", "y", "1", "t"):
        return True
    if t in ("false", "no", "n", "0", "f"):
        return False
    if t == "":
        return None
    return None


# --------------------------------------------------------------------------- core
class SortedLog:
    """An event log encoded, checked and sorted once: the in-memory backend's working form.

    Built by :func:`prepare_log`. Per-event arrays are in :data:`TIE_RULE`
    order: ``ps`` (person rank), ``ds`` (calendar day, days since 1970),
    ``os_`` (organisation code into ``orgs``), ``es`` (event-type code into
    ``known``), ``rs`` (``referred_to`` code, ``-1`` none), ``ss`` (service
    code into ``svcs``, ``-1`` none) and, when asked for, ``rows`` (the row of
    the input table). ``grp_r``/``cut_r`` give each person rank's group code
    and pilot cut-off day; ``uniq_sorted`` their ids.
    """

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    @property
    def n_events(self) -> int:
        return len(self.ps)

    @property
    def role_codes(self) -> dict[str, int]:
        """Event-type code of each role (assessment, referral, declined, intervention)."""
        return {r: self.known.index(v) for r, v in self.settings.event_types.items()}

    def flags(self, parts: Collection[str] | None = None) -> EventFlags:
        """The failure-demand flags (:func:`evalkit.waste.flags.flag_sorted`)."""
        s = self.settings
        return flag_sorted(self.ps, self.ds, self.os_, self.es, roles=self.role_codes,
                           window_days=s.window_days, rereferral_days=s.rereferral_days,
                           referred_to=self.rs, declined_by=s.declined_by,
                           n_orgs=len(self.orgs), parts=parts)

    def group_of(self, idx: np.ndarray | None) -> np.ndarray | int:
        """Group code (index into :data:`GROUPS`) of the events at ``idx`` (all: None)."""
        if not self.has_grp:
            return 2
        return self.grp_r[self.ps if idx is None else self.ps[idx]]

    def period_of(self, idx: np.ndarray | None) -> np.ndarray | int:
        """Period code (index into :data:`PERIODS`) of the events at ``idx`` (all: None)."""
        if not self.has_cut:
            return 2
        c = self.cut_r[self.ps if idx is None else self.ps[idx]]
        d = self.ds if idx is None else self.ds[idx]
        return np.where(c == _NOCUT, 2, (d >= c).astype(np.int8))


def prepare_log(
    events: pd.DataFrame,
    people: pd.DataFrame | None = None,
    settings: WasteSettings | None = None,
    *,
    keep_rows: bool = False,
) -> SortedLog:
    """Encode, check (row accounting) and sort an in-memory event log once.

    The first half of :func:`compute_core`, shared with
    :func:`evalkit.waste.flag_events`. ``keep_rows`` keeps each sorted event's
    row in ``events`` (``SortedLog.rows``).
    """
    s = settings or WasteSettings()
    if not isinstance(events, pd.DataFrame):
        raise InputError(f"events must be a pandas DataFrame; got {type(events).__name__}.")
    for key in ("person_id", "date", "organisation", "event_type"):
        if s.col(key) not in events.columns:
            raise InputError(
                f"events table has no {s.col(key)!r} column (the {key} column). Found: "
                f"{', '.join(map(str, events.columns))}. Rename it or pass "
                f"columns={{'{key}': ...}}."
            )
    if s.declined_by == "referred_to" and s.col("referred_to") not in events.columns:
        raise InputError("declined_by='referred_to' needs a referred_to column in events.")
    n = len(events)
    ppl, _ = resolve_people(people, s.comparison_date)

    # ---- encode columns
    pcode, puniq = _encode(events[s.col("person_id")])
    t = _to_datetime(events[s.col("date")], s.col("date"))
    ocode, ouniq = _encode(events[s.col("organisation")])
    ecode_raw, euniq = _encode(events[s.col("event_type")])
    has_ref = s.col("referred_to") in events.columns
    rcode, runiq = (_encode(events[s.col("referred_to")]) if has_ref
                    else (None, np.array([], dtype=object)))
    has_svc = s.col("service") in events.columns
    scode, suniq = (_encode(events[s.col("service")]) if has_svc
                    else (None, np.array([], dtype=object)))
    has_eid = s.col("event_id") in events.columns
    if has_eid:
        eid = events[s.col("event_id")]
        if eid.isna().any():
            raise InputError(
                f"events.{s.col('event_id')} has {int(eid.isna().sum())} empty cell(s); fill "
                "them or drop the column (then file order breaks same-time ties)."
            )

    # organisation vocabulary: union of organisation and referred_to, sorted
    orgs = np.array(sorted(set(map(str, ouniq)) | set(map(str, runiq))), dtype=object)
    org = _lookup(ocode, _index_of(orgs, ouniq))
    ref = _lookup(rcode, _index_of(orgs, runiq)) if has_ref else None
    svcs = np.array(sorted(set(map(str, suniq))), dtype=object)
    svc = _lookup(scode, _index_of(svcs, suniq)) if has_svc else None

    # event types: normalise names, map to known types (-1 unknown, -2 missing)
    known = s.known_event_types
    norm = np.array([str(v).strip().lower() for v in euniq], dtype=object)
    kmap = pd.Index(known).get_indexer(norm).astype(np.int8) if len(norm) else np.zeros(
        0, np.int8)
    et = np.append(kmap, np.int8(-2))[ecode_raw]

    # ---- exclusions, in order of precedence
    reason = np.zeros(0, dtype=np.int16)  # 0 = used; allocated at the first exclusion
    labels: list[str] = ["used"]

    def flag(mask: np.ndarray, label: str) -> None:
        nonlocal reason
        if not mask.any():  # the usual case: skip the bookkeeping passes
            return
        if len(reason) == 0:
            reason = np.zeros(n, dtype=np.int16)
        m_ = mask & (reason == 0)
        if m_.any():
            labels.append(label)
            reason[m_] = len(labels) - 1

    nat = t == _NAT
    flag(pcode < 0, "missing person_id")
    flag(nat, "missing or invalid date")
    flag(org < 0, "missing organisation")
    flag(et == -2, "missing event type")
    unknown = et == -1
    if unknown.any():
        free = unknown if len(reason) == 0 else unknown & (reason == 0)
        for uc in np.unique(ecode_raw[free]):
            flag(unknown & (ecode_raw == uc), f"unknown event type {str(euniq[uc])!r}")
    del unknown
    day = np.empty(n, dtype=np.int32)  # days since 1970 (fits int32 for any real date)
    np.floor_divide(t, _DAY_NS, out=day, casting="unsafe")
    day[nat] = 0
    del nat
    if s.start is not None:
        flag(day < s.start.value // _DAY_NS, "dated before the start date")
    if s.end is not None:
        flag(day > s.end.value // _DAY_NS, "dated after the end date")

    n_p = len(puniq)
    grp_p = np.full(n_p, 2, dtype=np.int8)
    cut_p = np.full(n_p, _NOCUT, dtype=np.int64)
    if ppl is not None:
        pos = pd.Index(ppl["person_id"].to_numpy(dtype=object)).get_indexer(
            np.asarray(puniq, dtype=object))
        known_p = pos >= 0
        flag(~np.append(known_p, True)[pcode], "person not in the people table")
        scope = np.append(np.where(known_p, ppl["in_scope"].to_numpy()[pos], True), True)
        flag(~scope[pcode], "person not in scope")
        g = pd.Index(GROUPS).get_indexer(ppl["group"].to_numpy())
        grp_p = np.where(known_p, g[pos], 2).astype(np.int8)
        cutd = ppl["cut"].to_numpy().astype("datetime64[ns]").view(np.int64)
        cutd = np.where(cutd == _NAT, _NOCUT, cutd // _DAY_NS)
        cut_p = np.where(known_p, cutd[pos], _NOCUT)

    rows = (np.bincount(reason, minlength=len(labels)) if len(reason)
            else np.array([n]))
    acc = canonical_accounting(pd.DataFrame({"reason": labels,
                                             "rows": rows.astype(np.int64)}))

    keep = None if not len(reason) else np.flatnonzero(reason == 0)

    def take(a: np.ndarray) -> np.ndarray:
        return a if keep is None else a[keep]

    prank = rank_values(puniq).astype(np.int32)
    p = prank[take(pcode)]
    del pcode
    tk = take(t)
    dk = take(day)
    del t, day
    m = len(p)

    # ---- the one sort: (person, time, event_id, file order)
    order, ps, ds = order_events(
        p, tk, n_p, day=dk, event_id=events[s.col("event_id")] if has_eid else None,
        rows=keep)
    del p, tk, dk
    os_ = take(org)[order]
    es = take(et)[order]
    rs = take(ref)[order] if has_ref else np.full(m, -1, dtype=np.int8)
    ss = take(svc)[order] if has_svc else np.full(m, -1, dtype=np.int8)
    rows = (order if keep is None else keep[order]) if keep_rows else None
    del order, org, et, ref, svc

    # group/period codes per person rank
    grp_r = np.empty(n_p, dtype=np.int8)
    grp_r[prank] = grp_p
    cut_r = np.empty(n_p, dtype=np.int64)
    cut_r[prank] = cut_p
    uniq_sorted = np.empty(n_p, dtype=object)
    uniq_sorted[prank] = puniq
    return SortedLog(
        settings=s, n=n, accounting=acc, orgs=orgs, svcs=svcs, known=known, n_people=n_p,
        ps=ps, ds=ds, os_=os_, es=es, rs=rs, ss=ss, rows=rows, has_ref=has_ref,
        has_svc=has_svc, has_eid=has_eid, grp_r=grp_r, cut_r=cut_r,
        has_grp=bool((grp_r != 2).any()), has_cut=bool((cut_r != _NOCUT).any()),
        uniq_sorted=uniq_sorted)


def compute_core(
    events: pd.DataFrame,
    people: pd.DataFrame | None = None,
    settings: WasteSettings | None = None,
    *,
    measures: Collection[str] | None = None,
) -> WasteCore:
    """Compute the failure-demand aggregates from an in-memory event log.

    One sort of the log by (person, time, event_id, file order) and a few
    passes over its columns: every measure is a vectorised comparison of each
    event with its neighbour in that order (or with the next event of a given
    type, found by binary search), so the cost is close to that of the sort.

    Parameters
    ----------
    events : DataFrame
        The events table (see :mod:`evalkit.schema`): ``person_id``, ``date``,
        ``organisation``, ``event_type``, optional ``event_id``, ``service``,
        ``referred_to``.
    people : DataFrame, optional
        ``person_id`` with optional ``in_scope`` and ``pilot_start``.
    settings : WasteSettings, optional
        Windows, event-type names and column names.
    measures : collection of str, optional
        Compute only some parts (a quick look at a big log): any of
        ``handoff``, ``repeat_assessment``, ``bounced_referral`` (with
        ping-pong), ``wait``, ``per_person`` (with front doors). The others come
        back empty. Default: all (needed for a :class:`WasteReport`).

    Returns
    -------
    WasteCore
    """
    s = settings or WasteSettings()
    want = set(PARTS) if measures is None else set(measures)
    if want - set(PARTS):
        raise InputError(f"measures must be among {', '.join(PARTS)}; got "
                         f"{sorted(want - set(PARTS))}.")
    log = prepare_log(events, people, s)
    n, acc, orgs, svcs, known, n_p = log.n, log.accounting, log.orgs, log.svcs, log.known, \
        log.n_people
    ps, ds, os_, es, rs, ss = log.ps, log.ds, log.os_, log.es, log.rs, log.ss
    K, m = len(orgs), len(ps)
    group_of, period_of = log.group_of, log.period_of

    parts = want & set(FLAG_PARTS)
    if "per_person" in want:
        parts.add("wait")  # per person: referrals never followed
    f = log.flags(parts)
    ho, R, D, bounced, pp_idx = f.handoff, f.referrals, f.declines, f.bounced, f.ping_pong
    same, prev_org = f.repeat_same_org, f.repeat_previous_org
    occ_parts: list[tuple[int, np.ndarray, np.ndarray]] = [  # (measure, idx, other)
        (0, ho, os_[ho - 1]),
        (1, f.repeat[same], prev_org[same]),
        (2, f.repeat[~same], prev_org[~same]),
        (3, f.rereferral[bounced], f.decline_org[bounced]),
        (4, pp_idx, rs[pp_idx]),
    ]

    # ---- occurrences aggregate
    S = len(svcs)
    T = len(known)
    bases = [3, 3, K, S + 1, T, K + 1]
    occ_frames = []
    for mi, idx, other in occ_parts:
        if len(idx) == 0:
            continue
        key = _mixed_key(
            [(group_of(idx), 3), (period_of(idx), 3), (os_[idx], K), (ss[idx] + 1, S + 1),
             (es[idx], T), (other + 1, K + 1)])
        u, c = _count_keys(key, int(np.prod(bases, dtype=np.float64)))
        g_, q_, o_, s_, e_, x_ = _unmix(u, bases)
        occ_frames.append(pd.DataFrame({
            "measure": MEASURES[mi], "organisation": orgs[o_],
            "service": _with_na(svcs, s_ - 1), "event_type": np.array(known, dtype=object)[e_],
            "other_organisation": _with_na(orgs, x_ - 1),
            "group": np.array(GROUPS, dtype=object)[g_],
            "period": np.array(PERIODS, dtype=object)[q_], "count": c.astype(np.int64)}))
    occurrences = _finish_occurrences(occ_frames)

    # ---- event counts
    key = _mixed_key([(group_of(None), 3), (period_of(None), 3), (os_, K), (es, T)]) if m \
        else np.zeros(0, np.int64)
    u, c = _count_keys(key, K * T * 9)
    g_, q_, o_, e_ = _unmix(u, [3, 3, K, T])
    event_counts = pd.DataFrame({
        "organisation": orgs[o_], "event_type": np.array(known, dtype=object)[e_],
        "group": np.array(GROUPS, dtype=object)[g_], "period": np.array(PERIODS, dtype=object)[q_],
        "count": c.astype(np.int64)})
    event_counts = canonical_frame(event_counts.sort_values(
        ["organisation", "event_type", "group", "period"], ignore_index=True))
    del key

    # ---- waits: each referral to the person's next intervention
    wait = f.wait
    if len(R) and "wait" in want:
        wspan = int(wait.max()) + 2
        wb = [3, 3, K, K + 1, wspan]
        key = _mixed_key([(group_of(R), 3), (period_of(R), 3), (os_[R], K),
                          (rs[R] + 1, K + 1), (wait + 1, wspan)])
        u, c = _count_keys(key, int(np.prod(wb, dtype=np.float64)))
        g_, q_, o_, r_, w_ = _unmix(u, wb)
        wd = pd.array(w_ - 1, dtype="Int64")
        wd[w_ == 0] = pd.NA
        waits = pd.DataFrame({
            "organisation": orgs[o_], "referred_to": _with_na(orgs, r_ - 1),
            "group": np.array(GROUPS, dtype=object)[g_],
            "period": np.array(PERIODS, dtype=object)[q_], "wait_days": wd,
            "count": c.astype(np.int64)})
    else:
        waits = _empty_waits()
    waits = canonical_frame(waits.sort_values(
        ["organisation", "referred_to", "group", "period", "wait_days"],
        ignore_index=True, na_position="last"))

    # ---- per person
    if "per_person" in want:
        A = f.assessments
        per_person = _per_person(ps, ds, os_, f.same_person, ho, A, f.repeat, same, R, D,
                                 bounced, pp_idx, R[~f.followed], ps[A], os_[A], ds[A],
                                 s.front_door_days, n_p, K, log.uniq_sorted, log.grp_r)
    else:
        per_person = pd.DataFrame({c: pd.Series(dtype=object) for c in PER_PERSON_COLUMNS})

    meta = {
        "n_rows": n,
        "period_start": s.start if s.start is not None else (
            pd.Timestamp(int(ds.min()) * _DAY_NS) if m else None),
        "period_end": s.end if s.end is not None else (
            pd.Timestamp(int(ds.max()) * _DAY_NS) if m else None),
        "has_event_id": log.has_eid,
        "has_referred_to": log.has_ref,
        "referrals_without_referred_to": int((rs[R] < 0).sum()),
    }
    return WasteCore(acc, occurrences, event_counts, waits, per_person, meta)


def _per_person(ps, ds, os_, samep, ho, A, rep_idx, same, R, D, bounced, pp_idx, never,
                pa_, oa_, da_, front_door_days, n_p, K, uniq_sorted, grp_r) -> pd.DataFrame:
    """The per-person journey summary from the sorted arrays and measure indices."""
    m = len(ps)
    cnt_p = np.bincount(ps, minlength=n_p)
    pres = np.flatnonzero(cnt_p)

    def per(idx: np.ndarray) -> np.ndarray:
        return np.bincount(ps[idx], minlength=n_p)[pres].astype(np.int64)

    if m:
        starts = np.flatnonzero(np.r_[True, ~samep])
        ends = np.r_[starts[1:] - 1, m - 1]
    else:
        starts = ends = np.zeros(0, np.int64)
    if m and K <= 64:
        # distinct organisations per person: OR of one bit per organisation, then popcount
        bits = np.left_shift(np.uint64(1), os_.astype(np.uint64))
        n_orgs = np.bitwise_count(np.bitwise_or.reduceat(bits, starts)).astype(np.int64)
        del bits
    elif m:  # pragma: no cover - very many organisations
        pk = np.unique(ps.astype(np.int64) * K + os_)
        n_orgs = np.bincount(pk // K, minlength=n_p)[pres]
    else:
        n_orgs = np.zeros(0, np.int64)
    front = _front_doors(pa_, oa_, da_, front_door_days, n_p, K)[pres]
    return pd.DataFrame({
        "person_id": pd.Series(uniq_sorted[pres], dtype=object),
        "group": pd.Series(np.array(GROUPS, dtype=object)[grp_r[pres]], dtype=object),
        "first_date": (ds[starts].astype(np.int64) * _DAY_NS).astype("datetime64[ns]"),
        "last_date": (ds[ends].astype(np.int64) * _DAY_NS).astype("datetime64[ns]"),
        "events": cnt_p[pres].astype(np.int64),
        "organisations": n_orgs.astype(np.int64),
        "handoffs": per(ho),
        "assessments": per(A),
        "repeat_assessments": per(rep_idx),
        "reassessments": per(rep_idx[same]),
        "stories_retold": per(rep_idx[~same]),
        "referrals": per(R),
        "referrals_declined": per(D),
        "bounced_referrals": per(D[bounced]),
        "ping_pong": per(pp_idx),
        "referrals_never_followed": per(never),
        "front_doors": front.astype(np.int64),
    })


def _index_of(vocab: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value (as text) in a sorted vocabulary, as small ints."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int32)
    idx = pd.Index(vocab).get_indexer(np.array([str(v) for v in values], dtype=object))
    return idx.astype(np.int16 if len(vocab) < 32_000 else np.int32)


def _lookup(codes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[codes]`` with code ``-1`` (missing) giving ``-1``."""
    return np.append(table, table.dtype.type(-1))[codes]


def _count_keys(key: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys and their counts, by bincount when the key space is small."""
    if len(key) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if bound <= 20_000_000:
        c = np.zeros(max(bound, 1), dtype=np.int64)
        step = 1 << 20  # bincount casts to intp: slices keep the temporary small
        for a in range(0, len(key), step):
            part = np.bincount(key[a:a + step], minlength=len(c))
            c[: len(part)] += part
        u = np.flatnonzero(c)
        return u, c[u]
    return np.unique(key, return_counts=True)


def _front_doors(pa_: np.ndarray, oa_: np.ndarray, da_: np.ndarray, w: int,
                 n_p: int, K: int) -> np.ndarray:
    """Most distinct assessing organisations within any window of dates ``w`` days apart.

    Each assessment on day ``d`` keeps its organisation "open" for windows
    ending in ``[d, d + w]``. Per (person, organisation), overlapping spells
    are merged; the answer is the peak number of open spells, found with one
    sweep (+1 at a spell's start, -1 the day after its end, -1 first on ties).
    """
    out = np.zeros(n_p, dtype=np.int64)
    if len(pa_) == 0:
        return out
    if K <= 32:
        return _front_doors_dense(pa_, oa_, da_, w, n_p, K)
    k1 = pa_.astype(np.int64) * K + oa_
    o, _ = sorted_order(k1, n_p * K)  # by person, organisation, then date (stable)
    kp, ko, kd = pa_[o], oa_[o], da_[o].astype(np.int64)
    new = np.r_[True, (kp[1:] != kp[:-1]) | (ko[1:] != ko[:-1]) | (kd[1:] - kd[:-1] > w)]
    run_start = np.flatnonzero(new)
    run_end = np.r_[run_start[1:] - 1, len(kp) - 1]
    sp, s0, s1 = kp[run_start].astype(np.int64), kd[run_start], kd[run_end] + w + 1
    base = int(s0.min())
    span = int(s1.max()) - base + 1
    pers = np.r_[sp, sp]
    key = (pers * span + (np.r_[s0, s1] - base)) * 2
    key[: len(sp)] += 1  # starts (+1) after ends (-1) on the same day
    so, ksorted = sorted_order(key, n_p * span * 2)
    delta = np.where(so < len(sp), 1, -1)
    run = np.cumsum(delta)
    ps_sorted = ksorted // (2 * span)
    first = np.flatnonzero(np.r_[True, ps_sorted[1:] != ps_sorted[:-1]])
    out[ps_sorted[first]] = np.maximum.reduceat(run, first)
    return out


def _front_doors_dense(pa_: np.ndarray, oa_: np.ndarray, da_: np.ndarray, w: int,
                       n_p: int, K: int) -> np.ndarray:
    """Front doors for a few organisations: one running pass per organisation.

    For each assessment (in person, date order) and each organisation, a
    running maximum gives the day of that organisation's latest assessment of
    the person so far; the organisation counts if that day is at most ``w``
    days back. The person's answer is the largest count over their assessments.
    Same result as the sweep in :func:`_front_doors`, in O(assessments x K).
    """
    big = int(da_.max()) - int(da_.min()) + 2
    it = np.int32 if n_p * big < 2**31 else np.int64
    dd = (da_ - da_.min()).astype(it) + it(1)  # >= 1; 0 means "not yet"
    base = pa_.astype(it) * it(big)
    count = np.zeros(len(pa_), dtype=np.int16)
    v = np.empty(len(pa_), dtype=it)
    for o in np.unique(oa_):
        np.copyto(v, base)
        sel = oa_ == o
        v[sel] += dd[sel]
        np.maximum.accumulate(v, out=v)  # person offsets keep persons apart
        v -= base
        count += (v > 0) & (dd - v <= w)
    out = np.zeros(n_p, dtype=np.int64)
    first = np.flatnonzero(np.r_[True, pa_[1:] != pa_[:-1]])
    out[pa_[first]] = np.maximum.reduceat(count, first)
    return out


def _mixed_key(parts: list[tuple[np.ndarray | int, int]]) -> np.ndarray:
    """Mixed-radix key of several small codes (int32 when it fits); scalar
    (constant) parts cost nothing when they come first."""
    bound = 1
    for _, base in parts:
        bound *= base
    dtype = np.int32 if bound < 2**31 else np.int64
    key: np.ndarray | int = 0
    for arr, base in parts:
        if isinstance(key, int) and np.ndim(arr) == 0:
            key = key * base + int(arr)
        elif isinstance(key, int):
            k = np.array(arr, dtype=dtype)  # a copy: safe to update in place
            if key:
                k += dtype(key * base)
            key = k
        else:
            key *= dtype(base)
            key += arr
    return np.asarray(key, dtype=dtype)


def _unmix(key: np.ndarray, bases: list[int]) -> list[np.ndarray]:
    out = []
    k = np.asarray(key, dtype=np.int64)
    for base in reversed(bases):
        out.append(k % base)
        k = k // base
    return out[::-1]


def _with_na(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    ext = np.append(values.astype(object), None)
    return ext[np.where(idx < 0, len(values), idx)]


OCCURRENCE_COLUMNS = ("measure", "organisation", "service", "event_type",
                      "other_organisation", "group", "period", "count")


def _finish_occurrences(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "count" else object)
                             for c in OCCURRENCE_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    return sort_occurrences(canonical_frame(out))


def sort_occurrences(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical row order of an occurrences table (measure order, then names)."""
    df = df.copy()
    df["_m"] = df["measure"].map({m: i for i, m in enumerate(MEASURES)})
    df = df.sort_values(["_m", "organisation", "service", "event_type", "other_organisation",
                         "group", "period"], na_position="last", ignore_index=True)
    return df.drop(columns="_m")[list(OCCURRENCE_COLUMNS)].reset_index(drop=True)


_REASON_ORDER = ("used", "missing person_id", "missing or invalid date", "missing organisation",
                 "missing event type", "unknown event type", "dated before the start date",
                 "dated after the end date", "person not in the people table",
                 "person not in scope")


def canonical_accounting(acc: pd.DataFrame) -> pd.DataFrame:
    """Row accounting in a fixed order (precedence, then unknown types by name)."""
    acc = acc[(acc["rows"] > 0) | (acc["reason"] == "used")].copy()
    if "used" not in set(acc["reason"]):
        acc = pd.concat([pd.DataFrame({"reason": ["used"], "rows": [0]}), acc])

    def rank(r: str) -> tuple[int, str]:
        for i, k in enumerate(_REASON_ORDER):
            if r == k or (k == "unknown event type" and r.startswith(k)):
                return (i, r)
        return (len(_REASON_ORDER), r)

    acc["_r"] = [rank(r) for r in acc["reason"]]
    acc = acc.sort_values("_r").drop(columns="_r").reset_index(drop=True)
    return pd.DataFrame({"reason": pd.Series(acc["reason"].tolist(), dtype=object),
                         "rows": acc["rows"].to_numpy(dtype=np.int64)})


def canonical_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Aggregates with one representation: text as object with None, counts as int64."""
    out = {}
    for c in df.columns:
        col = df[c]
        if c == "count":
            out[c] = col.to_numpy(dtype=np.int64)
        elif c == "wait_days":
            out[c] = pd.array(col, dtype="Int64")
        elif col.dtype == object or isinstance(col.dtype, pd.StringDtype):
            vals = col.to_numpy(dtype=object, na_value=None) if isinstance(
                col.dtype, pd.StringDtype) else col.to_numpy(dtype=object).copy()
            vals[pd.isna(vals)] = None
            out[c] = pd.Series(vals, dtype=object)
        else:
            out[c] = col.to_numpy()
    return pd.DataFrame(out)


def _empty_waits() -> pd.DataFrame:
    return pd.DataFrame({
        "organisation": pd.Series(dtype=object), "referred_to": pd.Series(dtype=object),
        "group": pd.Series(dtype=object), "period": pd.Series(dtype=object),
        "wait_days": pd.Series(dtype="Int64"), "count": pd.Series(dtype="int64")})
