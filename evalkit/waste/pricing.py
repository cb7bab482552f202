"""Pricing failure demand: counts x unit costs x avoidable share, by partner.

Which event prices each category
--------------------------------
Each occurrence is priced at the unit cost of **one event**, the event it is
dated by:

========================  ==========================================  =============
category                  priced event                                default share
========================  ==========================================  =============
``story_retold``          the repeat assessment                       1.0
``reassessment``          the repeat assessment                       0.5
``bounced_referral``      the re-referral (the referral work redone)  1.0
``ping_pong``             the referral back to the decliner           0.0
``handoff``               the receiving organisation's event          0.0
========================  ==========================================  =============

The **avoidable share** is the fraction of that cost treated as failure
demand. Defaults are judgements, stated in the report and overridable per
place: a story retold to a new organisation within the window is wholly
avoidable with a shared assessment (1.0, the issue's default); half of
same-organisation re-assessments are assumed to be planned reviews (0.5); a
bounced referral repeats the whole referral (1.0); ping-pong referrals are
almost all already bounced re-referrals, so pricing them again would double
count (0.0, counted and shown); a hand-off is not in itself failure (many are
the right onward referral) and its receiving event is often the repeat
assessment already priced (0.0).

Unit costs are matched on the priced event's ``event_type``, then
``organisation``, then ``service``: the most specific row wins (event type +
organisation + service, then event type + organisation, then event type +
service, then event type alone); two equally specific rows are an error.
The partner bearing a cost is the organisation's partner in the
``organisations`` table, else the unit cost's ``partner``, else the
organisation itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from .measures import MEASURES

__all__ = ["DEFAULT_AVOIDABLE_SHARE", "price_occurrences", "PricingResult", "Uprater",
           "match_unit_costs", "cost_keys", "bearing_partner", "resolve_shares",
           "priced_unit_costs", "attach_unit_costs"]

#: Default avoidable share per category (documented in the module docstring).
DEFAULT_AVOIDABLE_SHARE: dict[str, float] = {
    "handoff": 0.0,
    "reassessment": 0.5,
    "story_retold": 1.0,
    "bounced_referral": 1.0,
    "ping_pong": 0.0,
}

#: ``uprate(costs, from_price_year, to_price_year) -> costs`` (vectorised).
Uprater = Callable[[np.ndarray, str, str], Any]


class PricingResult:
    """Priced occurrences and the facts the report states about prices."""

    def __init__(self, priced: pd.DataFrame, price_year: str | None, avoidable_share: dict,
                 unpriced: pd.DataFrame, uprated: bool) -> None:
        self.priced = priced
        self.price_year = price_year
        self.avoidable_share = avoidable_share
        self.unpriced = unpriced
        self.uprated = uprated


def resolve_shares(avoidable_share: Mapping[str, float] | None) -> dict[str, float]:
    """Default shares updated with the user's, checked to be in [0, 1]."""
    shares = dict(DEFAULT_AVOIDABLE_SHARE)
    for k, v in dict(avoidable_share or {}).items():
        if k not in MEASURES:
            raise InputError(
                f"avoidable_share has unknown category {k!r}; the categories are "
                f"{', '.join(MEASURES)}."
            )
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = float("nan")
        if not 0.0 <= f <= 1.0:
            raise InputError(f"avoidable_share[{k!r}] must be between 0 and 1; got {v!r}.")
        shares[k] = f
    return shares


def cost_keys(unit_costs: pd.DataFrame) -> pd.DataFrame:
    """The unit costs that price events, with their matching keys normalised.

    Keeps rows with an ``event_type`` (stripped, lower case); empty
    ``organisation``/``service`` become ``None`` (any organisation/service).
    Optional columns missing from the table are added empty. Costs are not
    checked (see :func:`match_unit_costs` for the matching rule).
    """
    uc = unit_costs.copy()
    for c in ("item", "event_type", "organisation", "service", "partner", "source",
              "value_type", "price_year"):
        if c not in uc.columns:
            uc[c] = None
    if "cashable_share" not in uc.columns:
        uc["cashable_share"] = np.nan
    et = uc["event_type"].astype(object)
    uc = uc[et.notna() & (et.astype(str).str.strip() != "")].copy()
    uc["event_type"] = uc["event_type"].astype(str).str.strip().str.lower()
    for c in ("organisation", "service"):
        uc[c] = uc[c].where(uc[c].notna() & (uc[c].astype(str).str.strip() != ""), None)
    return uc.reset_index(drop=True)


def _clean_costs(unit_costs: pd.DataFrame) -> pd.DataFrame:
    need = ["cost_gbp", "price_year", "event_type"]
    missing = [c for c in need if c not in unit_costs.columns]
    if missing:
        raise InputError(
            f"unit_costs has no {', '.join(map(repr, missing))} column; pricing failure demand "
            "needs cost_gbp, price_year and event_type (organisation and service optional)."
        )
    uc = cost_keys(unit_costs)
    uc["cost_gbp"] = pd.to_numeric(uc["cost_gbp"], errors="coerce")
    bad = uc["cost_gbp"].isna() | (uc["cost_gbp"] < 0)
    if bad.any():
        row = uc[bad].iloc[0]
        raise InputError(
            f"unit_costs row {row.get('item')!r} has cost_gbp {row['cost_gbp']!r}; it must be "
            "a number of pounds, 0 or more."
        )
    if uc["price_year"].isna().any():
        row = uc[uc["price_year"].isna()].iloc[0]
        raise InputError(f"unit_costs row {row.get('item')!r} has no price_year (e.g. 2023-24).")
    uc["price_year"] = uc["price_year"].astype(str).str.replace("/", "-", regex=False)
    return uc


def match_unit_costs(keys: pd.DataFrame, unit_costs: pd.DataFrame) -> pd.DataFrame:
    """For each (event_type, organisation, service) row of ``keys``, the best unit-cost row.

    Returns ``keys`` with a ``cost_row`` column (index into the cleaned unit
    costs, ``-1`` when none matches). Specificity: organisation counts 2,
    service 1; the highest score wins and a tie at the top is an error.
    """
    k = keys.reset_index(drop=True).reset_index(names="_key")
    uc = unit_costs.reset_index(names="cost_row")[["cost_row", "event_type", "organisation",
                                                   "service", "item"]]
    uc = uc.rename(columns={"organisation": "_uc_org", "service": "_uc_svc"})
    pairs = k.merge(uc, on="event_type", how="inner")
    org_ok = pairs["_uc_org"].isna() | (pairs["_uc_org"] == pairs["organisation"])
    svc_ok = pairs["_uc_svc"].isna() | (pairs["_uc_svc"] == pairs["service"])
    pairs = pairs[org_ok.fillna(False).to_numpy(dtype=bool)
                  & svc_ok.fillna(False).to_numpy(dtype=bool)].copy()
    pairs["_score"] = 2 * pairs["_uc_org"].notna().astype(int) + pairs["_uc_svc"].notna().astype(
        int)
    top = pairs.groupby("_key")["_score"].transform("max")
    best = pairs[pairs["_score"] == top]
    n_best = best.groupby("_key")["cost_row"].transform("size")
    if (n_best > 1).any():
        clash = best[n_best > 1]
        first = clash[clash["_key"] == clash["_key"].iloc[0]]
        et, org, svc = first[["event_type", "organisation", "service"]].iloc[0]
        raise InputError(
            f"unit_costs has {len(first)} equally specific rows for event type {et!r} at "
            f"{org!r}" + (f" (service {svc!r})" if svc is not None else "") + ": "
            + ", ".join(repr(i) for i in first["item"].tolist())
            + ". They price the same events equally specifically: keep one, or narrow them "
            "with organisation/service."
        )
    chosen = best.set_index("_key")["cost_row"]
    out = keys.reset_index(drop=True).copy()
    out["cost_row"] = chosen.reindex(range(len(out))).fillna(-1).to_numpy(dtype=np.int64)
    return out


def organisation_partners(organisations: pd.DataFrame | None) -> dict[Any, Any]:
    """``organisation -> partner`` from the organisations table (empty without one)."""
    if organisations is None:
        return {}
    if not {"organisation", "partner"} <= set(organisations.columns):
        raise InputError("organisations table needs columns organisation and partner.")
    return dict(zip(organisations["organisation"], organisations["partner"]))


def bearing_partner(organisation: Any, cost_partner: Any,
                    organisation_partner: Mapping[Any, Any] | None) -> np.ndarray:
    """The partner bearing each event's cost.

    The organisation's partner in ``organisation_partner`` (the organisations
    table), else the matched unit cost's ``partner``, else the organisation
    itself.

    Examples
    --------
    >>> bearing_partner(["GP", "Police", "Hub"], [None, "Home Office", None],
    ...                 {"GP": "NHS"}).tolist()
    ['NHS', 'Home Office', 'Hub']
    """
    org = pd.Series(np.asarray(organisation, dtype=object))
    omap = dict(organisation_partner or {})
    part = org.map(omap) if omap else pd.Series(np.full(len(org), None, dtype=object))
    part = part.where(part.notna(), pd.Series(np.asarray(cost_partner, dtype=object)))
    part = part.where(part.notna(), org)
    return part.to_numpy(dtype=object)


def priced_unit_costs(
    keys: pd.DataFrame,
    needed: pd.DataFrame,
    unit_costs: pd.DataFrame | None,
    *,
    unpriced: Literal["error", "allow"] = "error",
    uprate: Uprater | None = None,
    price_year: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, str | None, bool]:
    """Match unit costs to (event_type, organisation, service) keys, in one price year.

    ``needed`` lists the keys that must be priced (``unpriced="error"``
    raises naming them). Returns the keys with ``cost_row``, the cleaned unit
    costs restated in the price year, that price year and whether anything
    was uprated. Used by :func:`price_occurrences` and
    :func:`evalkit.waste.flag_events`.
    """
    if unit_costs is None:
        uc = _clean_costs(pd.DataFrame(columns=["cost_gbp", "price_year", "event_type"]))
    else:
        if not isinstance(unit_costs, pd.DataFrame):
            raise InputError(f"unit_costs must be a DataFrame; got {type(unit_costs).__name__}.")
        uc = _clean_costs(unit_costs)
    matched = match_unit_costs(keys, uc)
    missing = matched[matched["cost_row"] < 0].merge(needed.drop_duplicates(),
                                                      on=["event_type", "organisation", "service"])
    if len(missing):
        pairs = sorted({(e, o) for e, o in zip(missing["event_type"], missing["organisation"])})
        if unpriced == "error":
            listed = "\n".join(f"  - event_type {e!r} at organisation {o!r}" for e, o in pairs)
            raise InputError(
                f"No unit cost for {len(pairs)} (event type, organisation) pair(s) needed to "
                f"price failure demand:\n{listed}\nAdd unit_costs rows with these event_type "
                "(and organisation, or leave organisation empty to price every organisation), "
                "set that category's avoidable_share to 0, or pass unpriced='allow'."
            )
    used = uc.loc[sorted(set(matched.loc[matched["cost_row"] >= 0, "cost_row"]))]
    years = sorted(set(used["price_year"]))
    uprated = False
    if price_year is not None:
        price_year = str(price_year).replace("/", "-")
    cost = uc["cost_gbp"].to_numpy(dtype=float).copy()
    if uprate is not None:
        target = price_year or (years[-1] if years else None)
        for y in years:
            sel = (uc["price_year"] == y).to_numpy()
            if y != target:
                cost[sel] = np.asarray(uprate(cost[sel], y, target), dtype=float)
                uprated = True
        price_year = target
    else:
        if len(years) > 1:
            raise InputError(
                f"The unit costs used are in {len(years)} price years ({', '.join(years)}); "
                "adding them would mix prices. Pass uprate= (e.g. from evalkit.money) and "
                "price_year=, or restate the costs in one price year."
            )
        if price_year is not None and years and years[0] != price_year:
            raise InputError(
                f"price_year={price_year!r} asked for, but the unit costs are in {years[0]} prices "
                "and no uprate= function was given to convert them."
            )
        price_year = years[0] if years else price_year
    uc = uc.assign(cost_gbp=cost)
    return matched, uc, price_year, uprated


def attach_unit_costs(m: pd.DataFrame, uc: pd.DataFrame) -> pd.DataFrame:
    """Add ``item``, ``unit_cost_gbp``, ``cashable_share``, ``source``, ``cost_partner``
    and ``priced`` (in place) to rows ``m`` carrying a ``cost_row`` into the unit
    costs ``uc`` returned by :func:`priced_unit_costs`."""
    m["cost_row"] = m["cost_row"].fillna(-1).astype(np.int64)
    has = m["cost_row"].to_numpy() >= 0
    ridx = np.where(has, m["cost_row"].to_numpy(), 0)
    take = uc.iloc[ridx].reset_index(drop=True) if len(uc) else None

    def col(name: str, default: Any = None) -> np.ndarray:
        if take is None:
            return np.full(len(m), default, dtype=object)
        vals = take[name].to_numpy(dtype=object)
        return np.where(has, vals, default)

    m["item"] = col("item")
    m["unit_cost_gbp"] = np.where(has, col("cost_gbp", np.nan).astype(float), np.nan)
    m["cashable_share"] = pd.to_numeric(pd.Series(col("cashable_share", np.nan)),
                                        errors="coerce").to_numpy()
    m["source"] = col("source")
    m["cost_partner"] = col("partner")
    m["priced"] = has
    return m


def price_occurrences(
    occurrences: pd.DataFrame,
    unit_costs: pd.DataFrame | None,
    organisations: pd.DataFrame | None = None,
    *,
    avoidable_share: Mapping[str, float] | None = None,
    unpriced: Literal["error", "allow"] = "error",
    uprate: Uprater | None = None,
    price_year: str | None = None,
) -> PricingResult:
    """Price an occurrences table (see :class:`~evalkit.waste.measures.WasteCore`).

    Parameters
    ----------
    occurrences : DataFrame
        Counts by measure, organisation, service, event type, group, period.
    unit_costs : DataFrame or None
        The unit_costs table (rows with an ``event_type`` are used). ``None``
        leaves everything unpriced (allowed only with ``unpriced="allow"``).
    organisations : DataFrame, optional
        ``organisation`` -> ``partner``.
    avoidable_share : mapping, optional
        Overrides of :data:`DEFAULT_AVOIDABLE_SHARE`.
    unpriced : {"error", "allow"}
        ``"error"`` (default) raises listing every (event type, organisation)
        pair that needs a unit cost and has none; ``"allow"`` leaves them
        unpriced (cost missing) and lists them in the report.
    uprate : callable, optional
        ``uprate(costs, from_year, to_year)`` returning costs in ``to_year``
        prices (e.g. from :mod:`evalkit.money`). Needed when the unit costs
        used have more than one price year, or differ from ``price_year``.
    price_year : str, optional
        Price year to state the costs in (e.g. ``"2024-25"``). Default: the
        unit costs' own price year.
    """
    shares = resolve_shares(avoidable_share)
    if unpriced not in ("error", "allow"):
        raise InputError(f"unpriced must be 'error' or 'allow'; got {unpriced!r}.")
    occ = occurrences.copy()
    occ["avoidable_share"] = occ["measure"].map(shares).astype(float)
    keys = occ[["event_type", "organisation", "service"]].drop_duplicates().reset_index(drop=True)
    needed = occ.loc[occ["avoidable_share"] > 0, ["event_type", "organisation", "service"]]
    matched, uc, price_year, uprated = priced_unit_costs(
        keys, needed, unit_costs, unpriced=unpriced, uprate=uprate, price_year=price_year)

    # attach to every occurrence row
    m = attach_unit_costs(occ.merge(matched, on=["event_type", "organisation", "service"],
                                    how="left", sort=False), uc)
    m["gross_cost_gbp"] = m["count"] * m["unit_cost_gbp"]
    m["avoidable_cost_gbp"] = np.where(m["avoidable_share"] == 0, 0.0,
                                       m["gross_cost_gbp"] * m["avoidable_share"])
    m["cashable_cost_gbp"] = m["avoidable_cost_gbp"] * m["cashable_share"]
    m["partner"] = bearing_partner(m["organisation"], m["cost_partner"],
                                   organisation_partners(organisations))
    m = m.drop(columns=["cost_row", "cost_partner"])
    unpriced_tab = (m[(m["avoidable_share"] > 0) & ~m["priced"]]
                    .groupby(["measure", "event_type", "organisation"], dropna=False)["count"]
                    .sum().reset_index())
    return PricingResult(m, price_year, shares, unpriced_tab, uprated)
