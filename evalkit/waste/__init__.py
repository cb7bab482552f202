"""Failure demand: repeat assessments, hand-offs, bounced referrals, waits and front doors.

Turns a person-level event log into counts, rates and pounds of failure
demand, by organisation and by the partner bearing the cost.

>>> import pandas as pd
>>> from evalkit.waste import measure_waste
>>> ev = pd.DataFrame({
...     "person_id": ["A", "A", "A"],
...     "date": pd.to_datetime(["2024-01-01", "2024-01-10", "2024-02-01"]),
...     "organisation": ["Council", "NHS", "NHS"],
...     "event_type": ["assessment", "assessment", "intervention"]})
>>> r = measure_waste(ev)
>>> r.to_frame("totals").set_index("measure").loc[["handoff", "story_retold"], "count"].tolist()
[1, 1]

See :mod:`evalkit.waste.measures` for the definitions, :mod:`evalkit.waste.pricing`
for pricing and :func:`measure_waste_duckdb` for logs larger than memory.
:func:`flag_events` gives the failure demand of each event and
:func:`failure_demand_panel` counts it per person and period (an ``outcomes``
panel for :mod:`evalkit.evaluate`); :mod:`evalkit.waste.flags` holds the one
implementation of the event order and the flags, which
:mod:`evalkit.community` reuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pandas as pd

from .measures import MEASURE_LABELS, MEASURES, TIE_RULE, WasteCore, WasteSettings, compute_core
from .panel import PANEL_MEASURES, failure_demand_panel, flag_events
from .pricing import DEFAULT_AVOIDABLE_SHARE, Uprater
from .report import GLOSSARY, WasteReport, assemble_report

__all__ = [
    "measure_waste",
    "measure_waste_duckdb",
    "waste_from_place",
    "flag_events",
    "failure_demand_panel",
    "PANEL_MEASURES",
    "WasteReport",
    "WasteSettings",
    "WasteCore",
    "DEFAULT_AVOIDABLE_SHARE",
    "GLOSSARY",
    "MEASURES",
    "MEASURE_LABELS",
    "TIE_RULE",
]


def measure_waste(
    events: pd.DataFrame,
    people: pd.DataFrame | None = None,
    unit_costs: pd.DataFrame | None = None,
    organisations: pd.DataFrame | None = None,
    *,
    window_days: int = 90,
    rereferral_days: int = 30,
    front_door_days: int = 365,
    event_types: Mapping[str, str] | None = None,
    declined_by: Literal["organisation", "referred_to"] = "organisation",
    start: Any = None,
    end: Any = None,
    comparison_date: Any = None,
    columns: Mapping[str, str] | None = None,
    avoidable_share: Mapping[str, float] | None = None,
    unpriced: Literal["error", "allow"] = "error",
    uprate: Uprater | None = None,
    price_year: str | None = None,
) -> WasteReport:
    """Measure and price failure demand in an in-memory event log.

    Parameters
    ----------
    events : DataFrame
        The ``events`` table: ``person_id``, ``date``, ``organisation``,
        ``event_type``; optional ``event_id`` (breaks same-time ties),
        ``service``, ``referred_to``.
    people : DataFrame, optional
        ``person_id`` with optional ``in_scope`` and ``pilot_start``: rates per
        1,000 people in scope, and the pilot vs non-pilot, before vs after
        comparison. Events of people not in it (or out of scope) are excluded
        and counted.
    unit_costs : DataFrame, optional
        Unit costs with ``event_type`` (and optional ``organisation``,
        ``service``) to price failure demand. Without it nothing is priced.
    organisations : DataFrame, optional
        ``organisation`` -> ``partner`` (who bears the cost).
    window_days, rereferral_days, front_door_days : int
        Windows in days (defaults 90, 30, 365).
    event_types : mapping, optional
        Event type for each role (``assessment``, ``referral``, ``declined``,
        ``intervention``).
    declined_by : {"organisation", "referred_to"}
        Column naming the organisation that declined, on declined rows.
    start, end : date-like, optional
        Date window (inclusive); rows outside are excluded and counted.
    comparison_date : date-like, optional
        Before/after date for non-pilot people (default: earliest pilot start).
    columns : mapping, optional
        Events column names when they differ from the schema's.
    avoidable_share : mapping, optional
        Avoidable share per category (see :data:`DEFAULT_AVOIDABLE_SHARE`).
    unpriced : {"error", "allow"}
        Whether missing unit costs are an error (default) or left unpriced.
    uprate : callable, optional
        ``uprate(costs, from_year, to_year)`` to restate costs in ``price_year``.
    price_year : str, optional
        Price year for the costs (needs ``uprate`` if the costs are in another).

    Returns
    -------
    WasteReport
    """
    settings = WasteSettings(
        window_days=window_days, rereferral_days=rereferral_days,
        front_door_days=front_door_days, event_types=dict(event_types or {}),
        declined_by=declined_by, start=start, end=end, comparison_date=comparison_date,
        columns=dict(columns or {}))
    core = compute_core(events, people, settings)
    return assemble_report(core, people, unit_costs, organisations, settings=settings,
                           avoidable_share=avoidable_share, unpriced=unpriced, uprate=uprate,
                           price_year=price_year, backend="pandas")


def measure_waste_duckdb(
    source: Any,
    people: pd.DataFrame | None = None,
    unit_costs: pd.DataFrame | None = None,
    organisations: pd.DataFrame | None = None,
    *,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    threads: int | None = None,
    **kwargs: Any,
) -> WasteReport:
    """The same measures and report computed by DuckDB, for logs larger than memory.

    ``source`` is a Parquet file, a glob (``"events/*.parquet"``), a list of
    Parquet files (file order = list order, then row order in each file), or a
    DataFrame. Other arguments as :func:`measure_waste`. Gives numbers
    identical to :func:`measure_waste` on the same rows.
    """
    from .duckdb_backend import compute_core_duckdb

    price_kw = {k: kwargs.pop(k) for k in ("avoidable_share", "unpriced", "uprate", "price_year")
                if k in kwargs}
    if "event_types" in kwargs:
        kwargs["event_types"] = dict(kwargs["event_types"] or {})
    if "columns" in kwargs:
        kwargs["columns"] = dict(kwargs["columns"] or {})
    settings = WasteSettings(**kwargs)
    core = compute_core_duckdb(source, people, settings, memory_limit=memory_limit,
                               temp_directory=temp_directory, threads=threads)
    return assemble_report(core, people, unit_costs, organisations, settings=settings,
                           backend="duckdb", **price_kw)


def waste_from_place(place: Any, **overrides: Any) -> WasteReport:
    """Run :func:`measure_waste` on a loaded :class:`~evalkit.place.Place`.

    Uses ``place.events``, ``place.people`` (with each person's pilot start from
    ``place.pilot_starts()``, so area-level starts count), ``place.unit_costs``,
    ``place.organisations`` and ``place.settings.waste`` (``window_days``,
    ``rereferral_days``, ``front_door_days``, ``avoidable_share``); keyword
    ``overrides`` win.
    """
    ws = getattr(getattr(place, "settings", None), "waste", None)
    kw: dict[str, Any] = {}
    for name in ("window_days", "rereferral_days", "front_door_days", "avoidable_share",
                 "event_types", "declined_by", "start", "end", "comparison_date",
                 "price_year", "unpriced"):
        v = getattr(ws, name, None) if ws is not None else None
        if v is not None:
            kw[name] = dict(v) if isinstance(v, Mapping) else v
    kw.update(overrides)
    people = getattr(place, "people", None)
    if people is not None and hasattr(place, "pilot_starts"):
        # Pilot starts may be set per person or per area (place.yml pilot.start_source).
        starts = place.pilot_starts()
        people = people.assign(pilot_start=people["person_id"].map(starts).to_numpy())
    return measure_waste(
        place.events, people, getattr(place, "unit_costs", None),
        getattr(place, "organisations", None), **kw)
