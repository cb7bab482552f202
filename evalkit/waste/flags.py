"""Event order (the tie rule) and per-event failure-demand flags: the one implementation.

Everything in evalkit that flags failure demand event by event uses these two
functions: :func:`evalkit.waste.measures.compute_core` (the waste report's
aggregates), :func:`evalkit.waste.flag_events` (a flag per event) and
:class:`evalkit.community.history.EventHistory` (person features for early
identification). The definitions are in :mod:`evalkit.waste.measures` and
``docs/waste.md``.

* :func:`order_events` puts events in the one order: person, then date and
  time, then ``event_id`` (numbers numerically, text character by character),
  then row order. It returns the order and the sorted person and day codes.
* :func:`flag_sorted` takes integer-coded columns already in that order and
  returns the positions of every hand-off, repeat assessment (re-assessment or
  story retold), bounced referral, ping-pong referral, and each referral's wait
  to the person's next intervention, as :class:`EventFlags`. Each measure is
  one vectorised comparison of an event with its neighbour (or with the next
  event of a given type, found by binary search).

Examples
--------
>>> import numpy as np
>>> person = np.array([0, 0, 0, 1])
>>> day = np.array([0, 10, 32, 0])
>>> t = day.astype(np.int64) * DAY_NS
>>> order, ps, ds = order_events(person, t, 2)
>>> f = flag_sorted(ps, ds, org=np.array([0, 1, 1, 2]), etype=np.array([0, 0, 0, 1]),
...                 roles={"assessment": 0, "referral": 1, "declined": 2,
...                        "intervention": 3})
>>> f.handoff.tolist(), f.repeat.tolist(), f.repeat_same_org.tolist()
([1], [1, 2], [False, True])
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["TIE_RULE", "DAY_NS", "EventFlags", "order_events", "flag_sorted", "FLAG_PARTS",
           "to_timestamp", "day_number"]

#: The tie rule, as the reports state it.
TIE_RULE = (
    "Events are ordered by person, then date and time, then event_id when the "
    "column is present (numbers numerically, text character by character), then "
    "their row order in the input file. A date without a time counts as midnight."
)

#: Nanoseconds in a day.
DAY_NS = 86_400_000_000_000
_SEC_NS = 1_000_000_000

#: Measures :func:`flag_sorted` can compute (each on its own or together).
FLAG_PARTS: tuple[str, ...] = ("handoff", "repeat_assessment", "bounced_referral", "wait")

#: Event-type roles :func:`flag_sorted` needs a code for.
_ROLE_KEYS = ("assessment", "referral", "declined", "intervention")


# --------------------------------------------------------------------------- dates
def to_timestamp(value: Any, name: str = "date") -> pd.Timestamp:
    """``value`` as a Timestamp, or an :class:`InputError` naming ``name``.

    Examples
    --------
    >>> to_timestamp("2024-04-01").year
    2024
    """
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {value!r} is not a date; give one such as "
                         "'2024-04-01'.") from None
    if ts is pd.NaT:
        raise InputError(f"{name}: a date is needed, got an empty value.")
    return ts


def day_number(value: Any, name: str = "cutoff") -> int:
    """Whole days since 1970-01-01 of a date (the calendar day of a timestamp).

    Examples
    --------
    >>> day_number("1970-01-11")
    10
    """
    return int(to_timestamp(value, name).normalize().value // DAY_NS)


# --------------------------------------------------------------------------- sorting helpers
def rank_values(uniques: np.ndarray) -> np.ndarray:
    """Rank of each unique value in sorted order (numbers numerically, text by code point)."""
    if len(uniques) == 0:
        return np.zeros(0, dtype=np.int64)
    try:
        order = np.argsort(pd.Index(uniques).to_numpy(), kind="stable")
    except TypeError as err:
        raise InputError(
            "A key column mixes numbers and text, so its values cannot be put in "
            "order; store it as text."
        ) from err
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[order] = np.arange(len(uniques))
    return rank


def sorted_order(key: np.ndarray, bound: int,
                 inplace: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Stable sort order of non-negative int64 ``key`` (< ``bound``) and the sorted keys.

    When the row number fits in the spare low bits, the rows are packed into
    the key and sorted by value (much faster than an argsort); ties keep row
    order, so the sort is stable either way.
    """
    n = len(key)
    bits = max(1, int(max(n - 1, 1)).bit_length())
    if bound <= (2**62 >> bits):
        packed = key if inplace else key.copy()
        packed <<= bits
        step = 1 << 20  # row numbers added in slices: no full-size temporary
        for a in range(0, n, step):
            packed[a:a + step] |= np.arange(a, min(a + step, n), dtype=np.int64)
        packed.sort()
        order = np.empty(n, dtype=np.int32 if n < 2**31 else np.int64)
        np.bitwise_and(packed, (1 << bits) - 1, out=order, casting="unsafe")
        packed >>= bits
        return order, packed
    order = np.argsort(key, kind="stable")
    return order, key[order]


def all_midnight(t: np.ndarray) -> bool:
    """Whether every time (int64 ns) is a whole day (a date without a time), in slices."""
    step = 1 << 20
    for a in range(0, len(t), step):
        if np.any(t[a:a + step] % DAY_NS):
            return False
    return True


def _event_id_rank(values: pd.Series) -> np.ndarray:
    """Sort key for event ids: numbers as they are, text ranked by code point.

    Missing text ids rank first (as empty text); missing numbers (NaN) sort last.
    """
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(
            values.dtype):
        arr = values.to_numpy()
        if arr.dtype == object:  # nullable numbers with missing values
            arr = values.to_numpy(dtype=float, na_value=np.nan)
        return arr
    codes, uniq = pd.factorize(values, use_na_sentinel=True)
    rank = rank_values(np.asarray(uniq, dtype=object))
    return np.append(rank, -1)[codes]


# --------------------------------------------------------------------------- the one sort
def order_events(
    person: np.ndarray,
    time_ns: np.ndarray,
    n_people: int,
    *,
    day: np.ndarray | None = None,
    event_id: Any = None,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order events by person, date and time, ``event_id``, then row order (:data:`TIE_RULE`).

    Parameters
    ----------
    person : ndarray of int
        Person code of each event, ``0 <= person < n_people`` (people are put
        in code order).
    time_ns : ndarray of int64
        Date and time of each event, nanoseconds since 1970 (no missing values).
    n_people : int
        Number of person codes.
    day : ndarray of int, optional
        The calendar day of ``time_ns`` (days since 1970), when already known.
    event_id : array-like, optional
        The ``event_id`` column; same-time ties are ordered by it (numbers
        numerically, text character by character), then by row. Only the tied
        rows are read.
    rows : ndarray of int, optional
        Position in ``event_id`` of each event (when ``person`` covers only some
        rows of the table ``event_id`` comes from).

    Returns
    -------
    order : ndarray of int
        Positions (into ``person``) in sorted order.
    person_sorted, day_sorted : ndarray of int32
        Person code and calendar day of each event, in sorted order.
    """
    m = len(person)
    if m == 0:
        z = np.zeros(0, dtype=np.int32)
        return np.zeros(0, dtype=np.int64), z, z.copy()
    if day is None:
        day = np.empty(m, dtype=np.int32)
        np.floor_divide(time_ns, DAY_NS, out=day, casting="unsafe")
    dmin = int(day.min())
    midnight = all_midnight(time_ns)
    tkey: np.ndarray | None
    if midnight:
        tkey = None  # the day itself, added in place below
        span = int(day.max()) - dmin + 1
    else:
        tkey = time_ns - time_ns.min()
        if not np.any(tkey % _SEC_NS):
            tkey //= _SEC_NS  # whole seconds
        span = int(tkey.max()) + 1
    n_people = max(int(n_people), 1)
    if n_people * span >= 2**62:  # pragma: no cover - sub-second stamps over long spans
        _, tkey = np.unique(time_ns, return_inverse=True)
        span = int(tkey.max()) + 1
        midnight = False
    key = person.astype(np.int64)
    key *= span
    if tkey is None:
        key += day
        key -= dmin
    else:
        key += tkey
    del tkey
    order, ks = sorted_order(key, n_people * span, inplace=True)
    del key
    if event_id is not None:
        dup = ks[1:] == ks[:-1]
        if dup.any():
            in_tie = np.zeros(m, dtype=bool)
            in_tie[:-1] |= dup
            in_tie[1:] |= dup
            tpos = np.flatnonzero(in_tie)
            sub = order[tpos]
            ev = event_id if isinstance(event_id, pd.Series) else pd.Series(event_id)
            erank = _event_id_rank(ev.iloc[sub if rows is None else rows[sub]])
            lex = np.lexsort((np.arange(len(sub)), erank, ks[tpos]))
            order[tpos] = sub[lex]
        del dup
    ps = np.empty(m, dtype=np.int32)
    np.floor_divide(ks, span, out=ps, casting="unsafe")
    if midnight:
        ds = np.empty(m, dtype=np.int32)
        np.remainder(ks, span, out=ds, casting="unsafe")
        ds += np.int32(dmin)
    else:
        ds = day[order].astype(np.int32)
    return order, ps, ds


# --------------------------------------------------------------------------- the flags
@dataclass
class EventFlags:
    """Failure demand found in a sorted event log, as positions into it.

    Every array of positions is increasing. Per-role arrays (``repeat_*``,
    ``declines``/``decline_org``/``bounced``/``rereferral``,
    ``referrals``/``next_intervention``/``wait``) run in parallel.

    Attributes
    ----------
    same_person : ndarray of bool
        ``same_person[i]``: events ``i`` and ``i + 1`` are the same person's.
    handoff : ndarray of int
        Hand-offs, at the receiving event (the previous event is the sender).
    assessments : ndarray of int
        Every assessment.
    repeat : ndarray of int
        Repeat assessments (a previous assessment within ``window_days``).
    repeat_previous_org : ndarray of int
        Organisation code of each repeat's previous assessment.
    repeat_same_org : ndarray of bool
        Re-assessment (same organisation) rather than story retold.
    referrals, declines : ndarray of int
        Every referral, every declined referral.
    decline_org : ndarray of int
        The declining organisation of each decline (``-1`` unknown).
    bounced : ndarray of bool
        Per decline: followed by the person's next referral within ``rereferral_days``.
    rereferral : ndarray of int
        Per decline: position of the person's next referral (valid where ``bounced``).
    ping_pong : ndarray of int
        Referrals back to an organisation that declined the person within
        ``rereferral_days`` (empty without ``referred_to``).
    followed : ndarray of bool
        Per referral: an intervention of the person follows it.
    next_intervention : ndarray of int
        Per referral: position of the person's next intervention (``-1`` none).
    wait : ndarray of int
        Per referral: days to that intervention (``-1`` none).
    """

    same_person: np.ndarray
    handoff: np.ndarray
    assessments: np.ndarray
    repeat: np.ndarray
    repeat_previous_org: np.ndarray
    repeat_same_org: np.ndarray
    referrals: np.ndarray
    declines: np.ndarray
    decline_org: np.ndarray
    bounced: np.ndarray
    rereferral: np.ndarray
    ping_pong: np.ndarray
    followed: np.ndarray
    next_intervention: np.ndarray
    wait: np.ndarray

    @property
    def reassessment(self) -> np.ndarray:
        """Positions of re-assessments (repeat by the same organisation)."""
        return self.repeat[self.repeat_same_org]

    @property
    def story_retold(self) -> np.ndarray:
        """Positions of stories retold (repeat by a different organisation)."""
        return self.repeat[~self.repeat_same_org]

    @property
    def bounced_referral(self) -> np.ndarray:
        """Positions of the re-referral of each bounce (one per declined event)."""
        return self.rereferral[self.bounced]


def flag_sorted(
    person: np.ndarray,
    day: np.ndarray,
    org: np.ndarray,
    etype: np.ndarray,
    *,
    roles: Mapping[str, int],
    window_days: int = 90,
    rereferral_days: int = 30,
    referred_to: np.ndarray | None = None,
    declined_by: Literal["organisation", "referred_to"] = "organisation",
    n_orgs: int | None = None,
    parts: Collection[str] | None = None,
) -> EventFlags:
    """Flag failure demand in an event log already in :func:`order_events` order.

    Parameters
    ----------
    person, day, org, etype : ndarray of int
        Sorted person code, calendar day, organisation code (``>= 0``) and
        event-type code of each event.
    roles : mapping
        Event-type code of each role: ``assessment``, ``referral``,
        ``declined``, ``intervention`` (a code no event has turns the role off).
    window_days, rereferral_days : int
        Repeat-assessment window; bounce and ping-pong window (days, inclusive).
    referred_to : ndarray of int, optional
        Organisation code each referral went to (``-1`` not recorded), in the
        codes of ``org``. Without it there is no ping-pong.
    declined_by : {"organisation", "referred_to"}
        Which code names the organisation that declined, on declined rows.
    n_orgs : int, optional
        Number of organisation codes (default: the largest code + 1).
    parts : collection of str, optional
        Compute only some of :data:`FLAG_PARTS` (the others come back empty).

    Returns
    -------
    EventFlags
    """
    want = set(FLAG_PARTS) if parts is None else set(parts)
    if want - set(FLAG_PARTS):
        raise InputError(f"parts must be among {', '.join(FLAG_PARTS)}; got "
                         f"{sorted(want - set(FLAG_PARTS))}.")
    missing = [r for r in _ROLE_KEYS if r not in roles]
    if missing:
        raise InputError(f"roles needs an event-type code for {missing}.")
    ps, ds, os_, es = person, day, org, etype
    m = len(ps)
    empty = np.zeros(0, np.int64)
    samep = ps[1:] == ps[:-1]
    if declined_by == "referred_to" and referred_to is None:
        raise InputError("declined_by='referred_to' needs referred_to codes.")

    # 1. hand-offs: consecutive events of a person at different organisations
    ho = np.flatnonzero(samep & (os_[1:] != os_[:-1])) + 1 if "handoff" in want else empty

    # 2. repeat assessments: previous assessment of the person within window_days
    A = np.flatnonzero(es == roles["assessment"])
    pa_, da_, oa_ = ps[A], ds[A], os_[A]
    if "repeat_assessment" in want:
        rep_i = np.flatnonzero((pa_[1:] == pa_[:-1]) & (da_[1:] - da_[:-1] <= window_days))
    else:
        rep_i = empty
    rep_idx = A[1:][rep_i]
    prev_org = oa_[:-1][rep_i]
    same = prev_org == oa_[1:][rep_i]

    # 3. bounced referrals (next referral within rereferral_days) and ping-pong
    R = np.flatnonzero(es == roles["referral"])
    D = np.flatnonzero(es == roles["declined"]) if "bounced_referral" in want else empty
    dec_org = os_[D] if declined_by == "organisation" else referred_to[D]
    bounced = np.zeros(len(D), dtype=bool)
    rr = np.zeros(len(D), dtype=np.int64)
    if len(R) and len(D):
        nxt = np.searchsorted(R, D, side="right")
        rr = R[np.minimum(nxt, len(R) - 1)]
        bounced = (nxt < len(R)) & (ps[rr] == ps[D]) & (ds[rr] - ds[D] <= rereferral_days)

    pp_idx = empty
    if referred_to is not None and len(R) and len(D):
        K = int(n_orgs) if n_orgs is not None else int(max(os_.max(initial=-1),
                                                           referred_to.max(initial=-1))) + 1
        Rk = R[referred_to[R] >= 0]
        has_dec = dec_org >= 0
        Dk, dk_org = D[has_dec], dec_org[has_dec]
        if len(Rk) and len(Dk):
            n_p = int(ps.max()) + 1
            if n_p * (K + 1) * (m + 1) >= 2**63:  # pragma: no cover - beyond memory anyway
                raise InputError("This event log is too large for the in-memory path; use "
                                 "evalkit.waste.measure_waste_duckdb over Parquet files.")
            # latest decline of (person, organisation) before each referral to it
            pair_d = ps[Dk].astype(np.int64) * K + dk_org
            pair_r = ps[Rk].astype(np.int64) * K + referred_to[Rk]
            kd = pair_d * (m + 1) + Dk
            kd.sort()
            j = np.searchsorted(kd, pair_r * (m + 1) + Rk, side="left") - 1
            jj = np.maximum(j, 0)
            dsel = kd[jj] % (m + 1)
            pp = ((j >= 0) & (kd[jj] // (m + 1) == pair_r)
                  & (ds[Rk] - ds[dsel] <= rereferral_days))
            pp_idx = Rk[pp]

    # 4. waits: each referral to the person's next intervention
    followed = np.zeros(len(R), dtype=bool)
    wait = np.full(len(R), -1, dtype=np.int64)
    nxt_i = np.full(len(R), -1, dtype=np.int64)
    if "wait" in want:
        I = np.flatnonzero(es == roles["intervention"])
        if len(I) and len(R):
            ni = np.searchsorted(I, R, side="right")
            ii = I[np.minimum(ni, len(I) - 1)]
            followed = (ni < len(I)) & (ps[ii] == ps[R])
            wait = np.where(followed, ds[ii] - ds[R], -1)
            nxt_i = np.where(followed, ii, -1)
    return EventFlags(
        same_person=samep, handoff=ho, assessments=A, repeat=rep_idx,
        repeat_previous_org=prev_org, repeat_same_org=same, referrals=R, declines=D,
        decline_org=dec_org, bounced=bounced, rereferral=rr, ping_pong=pp_idx,
        followed=followed, next_intervention=nxt_i, wait=wait)
