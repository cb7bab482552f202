"""Failure demand event by event, and per person and period (a panel for evaluation).

:func:`flag_events` gives every used event of the log, in the order of the
tie rule, with the failure demand it carries (the definitions of
:mod:`evalkit.waste.measures`, computed by the same code as the waste report)
and, with unit costs, its avoidable cost. :func:`failure_demand_panel` counts
them per person and calendar period in the tidy ``outcomes`` shape
(``person_id``, ``period``, ``measure``, ``value``), so failure demand can be
an outcome of a difference-in-differences or any other design in
:mod:`evalkit.evaluate`.

Each occurrence sits on the event it is dated (and priced) by, as in the
report: a hand-off on the receiving event, a repeat assessment on the
repeat, a bounced referral on the re-referral (one per declined event, so
one re-referral can carry two bounces), a ping-pong on the referral back to
the decliner. Summing a column of :func:`flag_events` gives the report's
total for that measure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from .flags import day_number
from .measures import (
    COLUMN_KEYS,
    MEASURES,
    SortedLog,
    WasteSettings,
    prepare_log,
    resolve_people,
)
from .pricing import (
    Uprater,
    attach_unit_costs,
    bearing_partner,
    organisation_partners,
    priced_unit_costs,
    resolve_shares,
)

__all__ = ["flag_events", "failure_demand_panel", "PANEL_MEASURES"]

#: Measures of :func:`failure_demand_panel` (plus ``avoidable_cost_gbp`` when priced).
PANEL_MEASURES: tuple[str, ...] = MEASURES

_FLAG_SETTINGS = ("window_days", "rereferral_days", "event_types", "declined_by", "columns")
_PRICE_SETTINGS = ("avoidable_share", "unpriced", "uprate", "price_year")


def flag_events(
    events: pd.DataFrame,
    people: pd.DataFrame | None = None,
    unit_costs: pd.DataFrame | None = None,
    organisations: pd.DataFrame | None = None,
    *,
    window_days: int = 90,
    rereferral_days: int = 30,
    event_types: Mapping[str, str] | None = None,
    declined_by: Literal["organisation", "referred_to"] = "organisation",
    start: Any = None,
    end: Any = None,
    columns: Mapping[str, str] | None = None,
    avoidable_share: Mapping[str, float] | None = None,
    unpriced: Literal["error", "allow"] = "error",
    uprate: Uprater | None = None,
    price_year: str | None = None,
) -> pd.DataFrame:
    """The failure demand each event carries, one row per used event in sorted order.

    Arguments as :func:`evalkit.waste.measure_waste`. Rows excluded by its
    row accounting (missing values, unknown event types, outside
    ``start``/``end``, people not in ``people`` or out of scope) are left out.

    Returns
    -------
    DataFrame
        In the order of :data:`~evalkit.waste.TIE_RULE`: ``row`` (position in
        ``events``), ``person_id``, ``date``, ``organisation``,
        ``event_type`` (and ``event_id``, ``service``, ``referred_to`` when
        present), then the flags: ``handoff`` (bool, on the receiving event),
        ``handoff_from`` (the sending organisation), ``repeat_assessment``,
        ``reassessment``, ``story_retold`` (bool), ``bounced_referral``
        (int: declines this referral re-refers within ``rereferral_days``),
        ``ping_pong`` (bool), ``wait_days`` (referrals: days to the person's
        next intervention, missing when never followed) and
        ``never_followed`` (bool). With ``unit_costs``: ``unit_cost_gbp`` (the
        matched unit cost of events carrying failure demand, in
        ``attrs["price_year"]`` prices), ``partner`` (bearing the cost) and
        ``avoidable_cost_gbp`` (sum over the event's flags of avoidable share
        x unit cost; missing when a needed cost is missing and
        ``unpriced="allow"``).

    Examples
    --------
    >>> ev = pd.DataFrame({
    ...     "person_id": ["A", "A", "A"],
    ...     "date": pd.to_datetime(["2024-01-01", "2024-01-10", "2024-02-01"]),
    ...     "organisation": ["Council", "NHS", "NHS"],
    ...     "event_type": ["assessment", "assessment", "intervention"]})
    >>> f = flag_events(ev)
    >>> f[["organisation", "handoff", "story_retold"]].to_numpy().tolist()
    [['Council', False, False], ['NHS', True, True], ['NHS', False, False]]
    """
    s = WasteSettings(
        window_days=window_days, rereferral_days=rereferral_days,
        event_types=dict(event_types or {}), declined_by=declined_by, start=start, end=end,
        columns=dict(columns or {}))
    return _flag(events, people, unit_costs, organisations, s, avoidable_share=avoidable_share,
                 unpriced=unpriced, uprate=uprate, price_year=price_year)[0]


def _flag(
    events: pd.DataFrame,
    people: pd.DataFrame | None,
    unit_costs: pd.DataFrame | None,
    organisations: pd.DataFrame | None,
    s: WasteSettings,
    *,
    avoidable_share: Mapping[str, float] | None = None,
    unpriced: Literal["error", "allow"] = "error",
    uprate: Uprater | None = None,
    price_year: str | None = None,
) -> tuple[pd.DataFrame, SortedLog]:
    """:func:`flag_events` with its settings made, and the sorted log it came from."""
    if unpriced not in ("error", "allow"):
        raise InputError(f"unpriced must be 'error' or 'allow'; got {unpriced!r}.")
    shares = resolve_shares(avoidable_share)
    log = prepare_log(events, people, s, keep_rows=True)
    f = log.flags()
    m, rows = log.n_events, log.rows
    out: dict[str, Any] = {"row": rows.astype(np.int64)}
    for key in COLUMN_KEYS:
        if s.col(key) in events.columns:
            out[key] = events[s.col(key)].take(rows).reset_index(drop=True)

    def mark(idx: np.ndarray) -> np.ndarray:
        b = np.zeros(m, dtype=bool)
        b[idx] = True
        return b

    flags = {
        "handoff": mark(f.handoff),
        "repeat_assessment": mark(f.repeat),
        "reassessment": mark(f.reassessment),
        "story_retold": mark(f.story_retold),
        "bounced_referral": np.bincount(f.bounced_referral, minlength=m).astype(np.int64),
        "ping_pong": mark(f.ping_pong),
    }
    handoff_from = np.full(m, None, dtype=object)
    handoff_from[f.handoff] = log.orgs[log.os_[f.handoff - 1]]
    wait = pd.array(np.zeros(m, dtype=np.int64), dtype="Int64")
    wait[:] = pd.NA
    R = f.referrals
    wait[R[f.followed]] = f.wait[f.followed]
    out.update(handoff=flags["handoff"], handoff_from=pd.Series(handoff_from, dtype=object))
    out.update({k: v for k, v in flags.items() if k != "handoff"})
    out.update(wait_days=wait, never_followed=mark(R[~f.followed]))
    frame = pd.DataFrame(out)
    frame.attrs["price_year"] = None
    if unit_costs is None:
        return frame, log

    # ---- pricing: the waste report's rule, event by event
    weight = np.zeros(m)
    for measure in MEASURES:
        weight += shares[measure] * flags[measure]
    carries = np.zeros(m, dtype=bool)
    for measure in MEASURES:
        carries |= flags[measure] > 0
    S, K = len(log.svcs) + 1, len(log.orgs)
    key = (log.es.astype(np.int64) * K + log.os_) * S + (log.ss + 1)
    ukey, kinv = np.unique(key[carries], return_inverse=True)
    e_k, rest = np.divmod(ukey, K * S)
    o_k, s_k = np.divmod(rest, S)
    svc_names = np.append(None, log.svcs).astype(object)
    keys = pd.DataFrame({"event_type": np.array(log.known, dtype=object)[e_k],
                         "organisation": log.orgs[o_k], "service": svc_names[s_k]})
    needed_k = np.zeros(len(ukey), dtype=bool)
    needed_k[kinv[weight[carries] > 0]] = True
    matched, uc, used_year, _ = priced_unit_costs(
        keys, keys[needed_k], unit_costs, unpriced=unpriced, uprate=uprate,
        price_year=price_year)
    priced_keys = attach_unit_costs(matched, uc)
    unit = np.full(m, np.nan)
    unit[carries] = priced_keys["unit_cost_gbp"].to_numpy(dtype=float)[kinv]
    cost_partner = np.full(m, None, dtype=object)
    cost_partner[carries] = priced_keys["cost_partner"].to_numpy(dtype=object)[kinv]
    frame["unit_cost_gbp"] = unit
    frame["partner"] = bearing_partner(log.orgs[log.os_], cost_partner,
                                       organisation_partners(organisations))
    frame["avoidable_cost_gbp"] = np.where(weight == 0, 0.0, weight * unit)
    frame.attrs["price_year"] = used_year
    return frame, log


def _period_starts(days: np.ndarray, freq: str) -> pd.DatetimeIndex:
    """Start date of the period (of frequency ``freq``) containing each day number."""
    dates = pd.DatetimeIndex(np.asarray(days, dtype=np.int64).astype("datetime64[D]"))
    try:
        return dates.to_period(freq).start_time
    except (ValueError, TypeError, AttributeError) as err:
        raise InputError(
            f"freq={freq!r} is not a period frequency; use 'M' (months), 'Q' (quarters), "
            "'Y' (calendar years) or 'Y-MAR' (financial years April to March)."
        ) from err


def failure_demand_panel(
    events: pd.DataFrame,
    people: pd.DataFrame | None = None,
    *,
    freq: str = "M",
    measures: Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    fill: bool = True,
    unit_costs: pd.DataFrame | None = None,
    organisations: pd.DataFrame | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """Failure demand per person and period, tidy: person_id, period, measure, value.

    Every event of the log is flagged first (:func:`flag_events`, so a
    repeat whose previous assessment fell in an earlier period still counts),
    then each occurrence is counted in the period of the event carrying it.

    Parameters
    ----------
    events : DataFrame
        The events table.
    people : DataFrame, optional
        ``person_id`` (with optional ``in_scope``): the panel's people, in
        this order, including those with no events (all zeros). Without it,
        the people with at least one used event, in id order.
    freq : str, default "M"
        Period length: a pandas period frequency such as ``"M"`` (months),
        ``"Q"`` (quarters), ``"Y"`` or ``"Y-MAR"`` (UK financial years).
    measures : sequence of str, optional
        Among :data:`PANEL_MEASURES` (default all) and, with ``unit_costs``,
        ``avoidable_cost_gbp`` (included by default then).
    start, end : date-like, optional
        First and last period (the periods containing them); default the
        periods of the first and last used event. Events outside still count
        towards flags inside.
    fill : bool, default True
        Every person x period x measure, zeros included (a balanced panel, as
        difference-in-differences needs); ``False`` keeps non-zero cells only.
    unit_costs, organisations : DataFrame, optional
        Price failure demand (adds ``avoidable_cost_gbp``).
    **settings
        Other arguments of :func:`flag_events` (``window_days``,
        ``rereferral_days``, ``event_types``, ``declined_by``, ``columns``,
        ``avoidable_share``, ``unpriced``, ``uprate``, ``price_year``).

    Returns
    -------
    DataFrame
        ``person_id``, ``period`` (start date of the period), ``measure``,
        ``value`` (counts as integers; float when ``avoidable_cost_gbp`` is
        included), sorted by person, period and measure: the shape of the
        ``outcomes`` table.

    Examples
    --------
    >>> ev = pd.DataFrame({
    ...     "person_id": ["A", "A", "A"],
    ...     "date": pd.to_datetime(["2024-01-01", "2024-01-10", "2024-02-20"]),
    ...     "organisation": ["Council", "NHS", "NHS"],
    ...     "event_type": ["assessment", "assessment", "assessment"]})
    >>> p = failure_demand_panel(ev, pd.DataFrame({"person_id": ["A", "B"]}),
    ...                          measures=["story_retold", "reassessment"])
    >>> p[p["person_id"] == "A"]["value"].tolist()
    [1, 0, 0, 1]
    >>> len(p)  # 2 people x 2 months x 2 measures
    8
    """
    priced = unit_costs is not None
    allowed = list(PANEL_MEASURES) + (["avoidable_cost_gbp"] if priced else [])
    chosen = list(allowed if measures is None else measures)
    unknown = [x for x in chosen if x not in allowed]
    if unknown or not chosen:
        extra = "" if priced else " (avoidable_cost_gbp needs unit_costs)"
        raise InputError(f"measures must be among {allowed}{extra}; got {unknown or chosen}.")
    if not isinstance(fill, bool):
        raise InputError(f"fill must be True or False; got {fill!r}.")
    bad = sorted(set(settings) - set(_FLAG_SETTINGS) - set(_PRICE_SETTINGS))
    if bad:
        raise InputError(f"failure_demand_panel got unknown argument(s) {bad}; the flag "
                         f"settings are {', '.join(_FLAG_SETTINGS + _PRICE_SETTINGS)}.")
    kw = {k: dict(v or {}) if k in ("event_types", "columns") else v
          for k, v in settings.items() if k in _FLAG_SETTINGS}
    f, log = _flag(events, people, unit_costs, organisations, WasteSettings(**kw),
                   **{k: v for k, v in settings.items() if k in _PRICE_SETTINGS})
    ev_period = _period_starts(log.ds, freq)
    lo = _period_starts([day_number(start, "start")], freq)[0] if start is not None else (
        ev_period.min() if len(f) else None)
    hi = _period_starts([day_number(end, "end")], freq)[0] if end is not None else (
        ev_period.max() if len(f) else None)
    if lo is None or hi is None:
        raise InputError("failure_demand_panel: no used events and no start/end to set "
                         "the periods; give start= and end=.")
    if hi < lo:
        raise InputError(f"end ({end}) is before start ({start}).")
    periods = pd.period_range(lo, hi, freq=freq).start_time
    ppl, _ = resolve_people(people, None)
    if ppl is not None:
        persons = pd.Index(ppl.loc[ppl["in_scope"], "person_id"].to_numpy(dtype=object))
    else:
        persons = pd.Index(pd.unique(f["person_id"].to_numpy(dtype=object)))
    P, Q = len(persons), len(periods)
    pc = persons.get_indexer(f["person_id"].to_numpy(dtype=object))
    qc = pd.Index(periods).get_indexer(ev_period)
    inside = (qc >= 0) & (pc >= 0)
    cell = pc[inside].astype(np.int64) * Q + qc[inside]
    cols = {"avoidable_cost_gbp": "avoidable_cost_gbp"}
    values = []
    for name in chosen:
        w = f[cols.get(name, name)].to_numpy(dtype=float)[inside]
        if name == "avoidable_cost_gbp" and np.isnan(w).any():
            v = np.bincount(cell, weights=np.nan_to_num(w), minlength=P * Q)
            v[np.unique(cell[np.isnan(w)])] = np.nan  # a missing cost leaves its cell unknown
        else:
            v = np.bincount(cell, weights=w, minlength=P * Q)
        values.append(v)
    val = np.stack(values, axis=1).reshape(-1) if values else np.zeros(0)
    M = len(chosen)
    panel = pd.DataFrame({
        "person_id": pd.Series(np.repeat(persons.to_numpy(dtype=object), Q * M), dtype=object),
        "period": np.tile(np.repeat(periods.to_numpy(), M), P),
        "measure": pd.Series(np.tile(np.array(chosen, dtype=object), P * Q), dtype=object),
        "value": val if "avoidable_cost_gbp" in chosen else np.rint(val).astype(np.int64),
    })
    if not fill:
        panel = panel[panel["value"].fillna(1) != 0].reset_index(drop=True)
    return panel
