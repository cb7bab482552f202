"""Shared challenges: which needs cut across every partner, and who drives demand.

From the event log's ``need`` column (the presenting need or challenge), the
unit costs and the outcome panel, :func:`shared_challenges` ranks needs by
how far they cut across partners and says what each costs whom.

Definitions
-----------
* **Demand**: every event in the log (in the period), priced at its unit
  cost when the ``unit_costs`` table prices events (rows with an
  ``event_type``; the most specific row wins: event type + organisation +
  service, then event type + organisation, then event type + service, then
  event type alone). The partner bearing an event is its organisation's
  partner (``organisations`` table), else the unit cost's ``partner``, else
  the organisation itself.
* **Failure demand** (the definitions of ``evalkit.waste``, see
  :mod:`evalkit.community.history`): stories retold and re-assessments
  (priced at the repeat assessment), bounced referrals (priced at the
  re-referral) and hand-offs (priced at the receiving event), each weighted
  by an avoidable share (defaults as ``evalkit.waste``: story retold 1.0,
  re-assessment 0.5, bounced referral 1.0, hand-off 0.0). Each is attributed
  to the need recorded on the priced event.
* **Partners touched**: partners for which the need is at least
  ``min_share`` (default 1%) of their demand (cost when priced, else
  events). **Effective number of partners**: the inverse Simpson index
  ``1 / sum(s_k^2)`` of the need's demand shares ``s_k`` across partners: 1
  when one partner carries it all, the number of partners when they share it
  equally. Needs are ranked by partners touched, then effective partners,
  then cost.
* **Concentration**: people ranked by their demand (events, and cost when
  priced); the share of all demand from the top 1%, 5% and 10% of people
  with any event in the period, overall and for each need.
* **Outcomes**: for each need and outcome measure, the outcome rate per
  person-year among people who presented with the need, against people with
  events who did not (a rate ratio; descriptive, not causal).

Example
-------
>>> from evalkit.community.simulate import simulate_risk_data
>>> tables, _ = simulate_risk_data(400, n_months=12, seed=4)
>>> res = shared_challenges(tables)
>>> res.needs.columns[:4].tolist()
['rank', 'need', 'partners_touched', 'effective_partners']
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evaluate.result import Summary
from ..schema import EVENT_TYPES
from ..waste.measures import MEASURE_LABELS
from ..waste.pricing import DEFAULT_AVOIDABLE_SHARE as WASTE_SHARES
from ..waste.pricing import bearing_partner, cost_keys, match_unit_costs, resolve_shares
from ._data import get_tables, in_scope_mask
from .history import NEVER, EventHistory, day_number

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "shared_challenges",
    "ChallengesResult",
    "DEFAULT_AVOIDABLE_SHARE",
    "price_events",
    "NOT_RECORDED",
]

#: Failure-demand categories shared challenges price, in table order.
_CATEGORIES = ("story_retold", "reassessment", "bounced_referral", "handoff")

#: Default avoidable share per failure-demand category (``evalkit.waste``'s defaults).
DEFAULT_AVOIDABLE_SHARE: dict[str, float] = {c: WASTE_SHARES[c] for c in _CATEGORIES}

_CATEGORY_LABELS = {c: MEASURE_LABELS[c] for c in _CATEGORIES}

#: Label for events without a recorded need.
NOT_RECORDED = "(need not recorded)"


# ---------------------------------------------------------------- pricing
def price_events(keys: pd.DataFrame, unit_costs: pd.DataFrame) -> pd.DataFrame:
    """Unit cost of each (event_type, organisation, service) key.

    The matching rule of ``evalkit.waste`` (:func:`evalkit.waste.pricing.match_unit_costs`):
    the most specific ``unit_costs`` row wins: event type + organisation +
    service, then event type + organisation, then event type + service, then
    event type alone. Two equally specific rows for a key are an error.

    Returns ``keys`` with ``cost_gbp``, ``cost_partner``, ``item`` and
    ``price_year`` (NaN/None when no row prices the key).

    Examples
    --------
    >>> uc = pd.DataFrame({"item": ["Any assessment", "Council assessment"],
    ...     "cost_gbp": [100.0, 250.0], "price_year": ["2023-24"] * 2,
    ...     "partner": ["NHS", "Council"], "event_type": ["assessment"] * 2,
    ...     "organisation": [None, "Council"], "service": [None, None]})
    >>> k = pd.DataFrame({"event_type": ["assessment", "assessment", "contact"],
    ...     "organisation": ["Council", "GP", "GP"], "service": [None, None, None]})
    >>> price_events(k, uc)["cost_gbp"].tolist()
    [250.0, 100.0, nan]
    """
    out = keys.copy().reset_index(drop=True)
    uc = cost_keys(unit_costs)
    if "cost_gbp" not in uc.columns:
        uc["cost_gbp"] = np.nan
    row = match_unit_costs(out[["event_type", "organisation", "service"]], uc)[
        "cost_row"].to_numpy()
    has = row >= 0
    take = uc.iloc[np.where(has, row, 0)] if len(uc) else uc.reindex(range(len(out)))

    def col(name: str) -> np.ndarray:
        v = take[name].to_numpy(dtype=object)
        ok = has & pd.notna(v)
        return np.where(ok, v, None)

    out["cost_gbp"] = np.where(has, pd.to_numeric(take["cost_gbp"], errors="coerce")
                               .to_numpy(dtype=float), np.nan)
    out["cost_partner"] = col("partner")
    out["item"] = [None if i is None else str(i) for i in col("item")]
    out["price_year"] = [None if y is None else str(y) for y in col("price_year")]
    return out


def _uprate(unit_costs: pd.DataFrame, price_year: str | None, notes: list[str]
            ) -> tuple[pd.DataFrame, str | None]:
    uc = unit_costs
    ev = uc[uc["event_type"].notna()] if "event_type" in uc.columns else uc.iloc[:0]
    years = sorted({str(y) for y in ev.get("price_year", pd.Series(dtype=object)).dropna()})
    if not len(ev):
        return uc, None
    if price_year is None and len(years) <= 1:
        return uc, years[0] if years else None
    from ..money import normalise_price_year, uprate_unit_costs

    target = price_year or max(normalise_price_year(y) or y for y in years)
    up = uprate_unit_costs(ev, target, unstated="skip")
    skipped = up["uprating_factor"].isna().sum()
    if skipped:
        notes.append(f"{int(skipped)} event unit cost(s) have no stated price year and are "
                     "left unpriced.")
    if len(years) > 1 or price_year is not None:
        notes.append(f"Event unit costs uprated to {target} prices (GDP deflator).")
    return up, target


# ---------------------------------------------------------------- helpers
def _top_share(values: np.ndarray, shares: Sequence[float]) -> list[float]:
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    tot = v.sum()
    out = []
    for s in shares:
        k = int(np.ceil(s * len(v) - 1e-9))
        out.append(float(v[:k].sum() / tot) if tot > 0 and k > 0 else float("nan"))
    return out


def _lorenz(values: np.ndarray, points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    v = np.sort(np.asarray(values, dtype=float))[::-1]
    if v.sum() <= 0:
        return np.linspace(0, 1, points), np.full(points, np.nan)
    cum = np.concatenate([[0.0], np.cumsum(v) / v.sum()])
    x = np.linspace(0, 1, points)
    return x, np.interp(x * len(v), np.arange(len(v) + 1), cum)


# ---------------------------------------------------------------- result
class ChallengesResult:
    """Needs ranked by how far they cut across partners, with cost and concentration.

    Attributes
    ----------
    needs : DataFrame
        One row per need, ranked (see the module docstring for columns'
        definitions): ``rank, need, partners_touched, effective_partners,
        partners_any, n_people, n_events, cost, cost_share,
        failure_count, failure_cost, failure_share, top_partner,
        top_partner_share, top1_share, top5_share, top10_share``.
        ``failure_count`` counts failure-demand occurrences (one event can be
        both a story retold and a hand-off); ``failure_cost`` weights each by
        its avoidable share; ``failure_share`` is ``failure_cost / cost``
        (occurrences per event when unpriced); ``top*_share`` is the share of
        the need's events from its top 1%, 5%, 10% of people.
    by_partner : DataFrame
        Need x partner, long: ``need, partner, n_people, n_events, cost,
        failure_count, failure_cost`` and each as a share of the partner's
        total (``share_of_partner_events`` ...).
    failure : DataFrame
        Need x failure-demand category: ``count``, ``cost`` (avoidable),
        ``n_people``.
    concentration : DataFrame
        ``scope`` (``all`` or a need), ``top_share``, ``n_people`` (people in
        the top group), ``people_with_events``, ``share_of_events``,
        ``share_of_cost``.
    lorenz : DataFrame
        Cumulative share of demand by share of people (for the chart).
    outcomes : DataFrame
        Need x measure outcome rates (empty without outcomes).
    unpriced : DataFrame
        (event_type, organisation, service) keys with no unit cost and their
        event counts.
    priced : bool
        Whether any event was priced.
    """

    def __init__(self, *, needs: pd.DataFrame, by_partner: pd.DataFrame,
                 failure: pd.DataFrame, concentration: pd.DataFrame, lorenz: pd.DataFrame,
                 outcomes: pd.DataFrame, unpriced: pd.DataFrame, priced: bool,
                 settings: dict, notes: list[str], excluded: pd.DataFrame) -> None:
        self.needs = needs
        self.by_partner = by_partner
        self.failure = failure
        self.concentration = concentration
        self.lorenz = lorenz
        self.outcomes = outcomes
        self.unpriced = unpriced
        self.priced = priced
        self.settings = settings
        self.notes = notes
        self.excluded = excluded

    table_names = ("needs", "by_partner", "failure", "concentration", "outcomes")

    def to_frame(self, name: str = "needs") -> pd.DataFrame:
        """One table by name: ``needs`` (default), ``by_partner``, ``failure``,
        ``concentration``, ``outcomes``, ``lorenz`` or ``unpriced``."""
        allowed = (*self.table_names, "lorenz", "unpriced")
        if name not in allowed:
            raise InputError(f"Unknown table {name!r}; tables are: {', '.join(allowed)}.")
        return getattr(self, name).copy()

    def published_tables(self) -> dict[str, pd.DataFrame]:
        """The aggregate tables for publication, each with ``n_people`` per row.

        Pass them through disclosure control: need x partner cells can be small.
        """
        return {n: self.to_frame(n) for n in self.table_names if len(getattr(self, n))}

    def matrix(self, value: Literal["cost", "events", "failure_cost", "failure_count",
                                    "n_people"] | None = None,
               share: bool = False) -> pd.DataFrame:
        """Need x partner wide table (needs in rank order).

        ``share=True`` divides each partner's column by its total (the share
        of that partner's demand each need drives).
        """
        value = value or ("cost" if self.priced else "events")
        col = {"events": "n_events"}.get(value, value)
        if col not in ("cost", "n_events", "failure_cost", "failure_count", "n_people"):
            raise InputError("value must be 'cost', 'events', 'failure_cost', "
                             f"'failure_count' or 'n_people', got {value!r}.")
        if share and col == "n_people":
            raise InputError("share=True is not meaningful for n_people.")
        bp = self.by_partner.assign(**{col: self.by_partner[col].astype(float)})
        wide = bp.pivot_table(index="need", columns="partner", values=col,
                              aggfunc="sum", fill_value=0.0, observed=True)
        wide = wide.reindex(index=[n for n in self.needs["need"] if n in wide.index])
        if share:
            tot = wide.sum(axis=0).replace(0, np.nan)
            wide = wide / tot
        return wide

    def headline(self) -> list[str]:
        """Plain-English findings for the report."""
        out = []
        n = self.needs[self.needs["need"] != NOT_RECORDED]
        n_part = self.settings["n_partners"]
        if len(n):
            top = n.iloc[0]
            money = (f", {_gbp(top['cost'])} of demand ({top['cost_share']:.0%} of the total)"
                     if self.priced and np.isfinite(top["cost"]) else "")
            out.append(
                f"{str(top['need']).capitalize()} cuts across the most partners: it is at "
                f"least {self.settings['min_share']:.0%} of the demand of "
                f"{int(top['partners_touched'])} of {n_part} partners (effective number "
                f"{top['effective_partners']:.1f}), affecting {int(top['n_people']):,} people"
                f"{money}.")
            wide = n[n["partners_touched"] >= max(2, int(np.ceil(n_part / 2)))]
            if len(wide) > 1:
                out.append("Needs touching at least half the partners: "
                           + ", ".join(map(str, wide["need"])) + ".")
            if self.priced and n["failure_cost"].sum() > 0:
                f = n.sort_values("failure_cost", ascending=False).iloc[0]
                out.append(f"{str(f['need']).capitalize()} drives the most avoidable failure "
                           f"demand: {_gbp(f['failure_cost'])} ({f['failure_share']:.0%} of "
                           "its demand cost).")
        c = self.concentration[self.concentration["scope"] == "all"]
        if len(c):
            parts = [f"the top {r['top_share']:.0%} of people ({int(r['n_people']):,}) "
                     f"generate {r['share_of_events']:.0%} of events"
                     + (f" and {r['share_of_cost']:.0%} of cost" if self.priced and np.isfinite(
                         r["share_of_cost"]) else "") for _, r in c.iterrows()]
            out.append("Demand is concentrated: " + "; ".join(parts) + ".")
        return out

    def summary(self) -> Summary:
        s = self.settings
        header = [
            ("Events", f"{s['n_events']:,}"),
            ("People with events", f"{s['n_people']:,}"),
            ("Needs", f"{s['n_needs']}"),
            ("Partners", f"{s['n_partners']}"),
            ("Period", f"{s['start']:%Y-%m-%d} to {s['end']:%Y-%m-%d}"),
            ("Priced", ("yes, " + (s["price_year"] or "price year not stated")) if self.priced
             else "no (counts only)"),
        ]
        cols = ["need", "partners_touched", "effective_partners", "n_people", "n_events"]
        if self.priced:
            cols += ["cost", "cost_share", "failure_cost"]
        cols += ["failure_share", "top_partner", "top5_share"]
        tables = [("Needs ranked by how far they cut across partners",
                   self.needs.set_index("rank")[cols])]
        conc = self.concentration[self.concentration["scope"] == "all"]
        tables.append(("Concentration of demand", conc.set_index("top_share")[
            ["n_people", "share_of_events", "share_of_cost"]]))
        return Summary("Shared challenges across partners", header, tables,
                       [*self.headline(), *self.notes])

    def __repr__(self) -> str:
        top = ", ".join(map(str, self.needs["need"].head(3)))
        return (f"<ChallengesResult: {self.settings['n_needs']} needs across "
                f"{self.settings['n_partners']} partners, {self.settings['n_events']:,} events;"
                f" most cross-cutting: {top}>")

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_() + (
            f"<p><small>{html.escape(repr(self))}</small></p>")

    def plot(self, kind: Literal["heatmap", "concentration", "breadth"] = "heatmap",
             ax: Axes | None = None, *, value: str | None = None,
             share: bool = False) -> Axes:
        """Chart the shared challenges.

        Parameters
        ----------
        kind : {"heatmap", "concentration", "breadth"}
            ``heatmap``: need x partner of ``value`` (cost when priced, else
            events; ``share=True`` for each partner's share); ``concentration``:
            cumulative share of demand from the top x% of people, marking 1%,
            5% and 10%; ``breadth``: partners touched and effective partners
            per need.
        """
        from ..plotting import GREY, OKABE_ITO, get_axes

        if kind == "heatmap":
            wide = self.matrix(value, share=share)
            ax = get_axes(ax, figsize=(max(6.0, 0.9 * wide.shape[1] + 3),
                                       max(3.5, 0.45 * wide.shape[0] + 1.5)))
            v = wide.to_numpy(dtype=float)
            im = ax.imshow(v, aspect="auto", cmap="Blues")
            ax.set_xticks(range(wide.shape[1]))
            ax.set_xticklabels(wide.columns, rotation=40, ha="right")
            ax.set_yticks(range(wide.shape[0]))
            ax.set_yticklabels(wide.index)
            vmax = np.nanmax(v) if v.size and np.isfinite(v).any() else 1.0
            what = value or ("cost" if self.priced else "events")
            for i in range(v.shape[0]):
                for j in range(v.shape[1]):
                    x = v[i, j]
                    if not np.isfinite(x) or x == 0:
                        continue
                    if share:
                        txt = f"{x:.0%}"
                    elif "cost" in what:
                        txt = _gbp(x)
                    else:
                        txt = f"{x:,.0f}"
                    ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                            color="white" if x > 0.6 * vmax else "black")
            label = {"cost": "Cost of demand (£)", "events": "Events",
                     "failure_cost": "Avoidable failure-demand cost (£)",
                     "failure_count": "Failure-demand occurrences",
                     "n_people": "People"}.get(what, what)
            if share:
                label = f"Share of the partner's {label.split(' (')[0].lower()}"
            cb = ax.figure.colorbar(im, ax=ax)
            cb.set_label(label)
            if "cost" in what and not share:
                from ..plotting import gbp_formatter

                cb.ax.yaxis.set_major_formatter(gbp_formatter())
            ax.set_xlabel("Partner")
            ax.set_ylabel("Need")
            ax.set_title(f"Which needs land on which partners: {label.lower()}")
        elif kind == "concentration":
            ax = get_axes(ax)
            lz = self.lorenz
            ax.plot(lz["share_of_people"] * 100, lz["share_of_events"] * 100,
                    color=OKABE_ITO[0], lw=2, label="Events")
            if self.priced and lz["share_of_cost"].notna().any():
                ax.plot(lz["share_of_people"] * 100, lz["share_of_cost"] * 100,
                        color=OKABE_ITO[1], lw=2, label="Cost")
            ax.plot([0, 100], [0, 100], color=GREY, ls="--", lw=1, label="Equal shares")
            c = self.concentration[self.concentration["scope"] == "all"]
            ax.scatter(c["top_share"] * 100, c["share_of_events"] * 100, color=OKABE_ITO[5],
                       zorder=3, label="Top 1%, 5%, 10%")
            for _, r in c.iterrows():
                ax.annotate(f"top {r['top_share']:.0%}: {r['share_of_events']:.0%}",
                            (r["top_share"] * 100, r["share_of_events"] * 100),
                            textcoords="offset points", xytext=(6, -10), fontsize=8)
            ax.set_xlabel("People, highest demand first (%)")
            ax.set_ylabel("Cumulative share of demand (%)")
            ax.set_title("How concentrated demand is: share from the highest-demand people")
            ax.set_xlim(0, 100)
            ax.set_ylim(0, 100)
            ax.legend(frameon=False, loc="lower right")
        elif kind == "breadth":
            n = self.needs.iloc[::-1]
            ax = get_axes(ax, figsize=(7.0, max(3.0, 0.4 * len(n) + 1)))
            y = np.arange(len(n))
            ax.barh(y - 0.2, n["partners_touched"], height=0.4, color=OKABE_ITO[0],
                    label=f"Partners touched (>= {self.settings['min_share']:.0%} of demand)")
            ax.barh(y + 0.2, n["effective_partners"], height=0.4, color=OKABE_ITO[1],
                    label="Effective number of partners")
            ax.set_yticks(y)
            ax.set_yticklabels(n["need"])
            ax.set_xlabel("Partners")
            ax.set_title("How far each need cuts across partners")
            ax.legend(frameon=False)
        else:
            raise InputError(f"kind must be 'heatmap', 'concentration' or 'breadth', got "
                             f"{kind!r}.")
        return ax


def _gbp(x: float) -> str:
    if not np.isfinite(x):
        return ""
    if abs(x) >= 1e6:
        return f"£{x / 1e6:,.1f}m"
    if abs(x) >= 1e4:
        return f"£{x / 1e3:,.0f}k"
    return f"£{x:,.0f}"


# ---------------------------------------------------------------- main
def shared_challenges(
    data: Any,
    *,
    need_col: str = "need",
    start: Any = None,
    end: Any = None,
    population: Literal["all", "in_scope"] = "all",
    price_year: str | None = None,
    avoidable_share: Mapping[str, float] | None = None,
    min_share: float = 0.01,
    top_shares: Sequence[float] = (0.01, 0.05, 0.10),
    outcome_measures: Sequence[str] | None = None,
    window_days: int = 90,
    rereferral_days: int = 30,
    history: EventHistory | None = None,
) -> ChallengesResult:
    """Rank needs by how far they cut across partners (see the module docstring).

    Parameters
    ----------
    data : Place or dict of DataFrame
        Needs ``people`` and ``events`` (with a need column); uses
        ``unit_costs`` (event-priced rows), ``organisations`` and
        ``outcomes`` when present.
    need_col : str, default "need"
        Events column holding the need (e.g. ``"service"`` if needs are not
        recorded).
    start, end : date, optional
        Period: events on or after ``start`` and before ``end``.
    population : {"all", "in_scope"}
        Whose events count.
    price_year : str, optional
        Financial year to uprate event costs to (default: the place's
        ``money.price_year`` setting when costs have several price years).
    avoidable_share : mapping, optional
        Overrides :data:`DEFAULT_AVOIDABLE_SHARE`.
    min_share : float, default 0.01
        A need "touches" a partner when it is at least this share of the
        partner's demand.
    top_shares : sequence of float
        Top shares of people for the concentration table.
    outcome_measures : sequence of str, optional
        Outcome measures to describe by need (default: all in ``outcomes``).
    window_days, rereferral_days : int
        Failure-demand windows.
    history : EventHistory, optional
        A prepared event log to reuse.

    Returns
    -------
    ChallengesResult
    """
    tables, mapping, settings = get_tables(data, ("people", "events"),
                                           ("unit_costs", "outcomes", "organisations"))
    people, events = tables["people"], tables["events"]
    if need_col not in events.columns:
        raise InputError(f"events: no {need_col!r} column. Shared challenges need the "
                         "presenting need on each event (the optional 'need' column of the "
                         "events template); or pass need_col='service' to use services.")
    if not 0 <= min_share < 1:
        raise InputError(f"min_share must be between 0 and 1, got {min_share!r}.")
    if population not in ("all", "in_scope"):
        raise InputError(f"population must be 'all' or 'in_scope', got {population!r}.")
    if "ping_pong" in dict(avoidable_share or {}):
        raise InputError("avoidable_share: unknown category 'ping_pong' here; shared "
                         f"challenges price {list(_CATEGORIES)}.")
    shares = {c: v for c, v in resolve_shares(avoidable_share).items() if c in _CATEGORIES}
    if price_year is None and settings is not None:
        price_year_default = settings.money.price_year
    else:
        price_year_default = None
    notes: list[str] = []
    h = history or EventHistory(events, people, organisation_partner=mapping,
                                window_days=window_days, rereferral_days=rereferral_days,
                                need_col=need_col)
    if h.n_events == 0:
        raise InputError("events: no usable events (see the exclusions: "
                         + "; ".join(f"{r} {n}" for r, n in h.excluded.itertuples(index=False)
                                     if n) + ").")
    # ---- period and population
    sel = np.ones(h.n_events, dtype=bool)
    d_lo = day_number(start, "start") if start is not None else int(h.day.min(initial=NEVER))
    d_hi = day_number(end, "end") if end is not None else int(h.day.max(initial=-1)) + 1
    if start is not None and end is not None and d_hi <= d_lo:
        raise InputError(f"end ({end}) must be after start ({start}).")
    sel &= (h.day >= d_lo) & (h.day < d_hi)
    if population == "in_scope":
        sel &= in_scope_mask(people)[h.pcode]
    idx = np.flatnonzero(sel)
    if len(idx) == 0:
        raise InputError("events: no events in the period and population chosen.")
    n_out = int(h.n_events - len(idx))
    excluded = h.excluded.copy()
    if n_out:
        excluded = pd.concat([excluded, pd.DataFrame(
            {"reason": ["outside the period or population"], "rows": [n_out]})],
            ignore_index=True)

    # ---- needs (in order of first appearance; not-recorded last)
    need_names = list(h.needs) + [NOT_RECORDED]
    nneed = len(need_names)
    need = np.where(h.need[idx] < 0, nneed - 1, h.need[idx]).astype(np.int64)
    if (h.need[idx] < 0).all():
        raise InputError(f"events: the {need_col!r} column is empty for every event in the "
                         "period; record the presenting need to see shared challenges.")
    n_missing_need = int((h.need[idx] < 0).sum())
    if n_missing_need:
        notes.append(f"{n_missing_need:,} events ({n_missing_need / len(idx):.1%}) have no "
                     f"recorded need; they are shown as {NOT_RECORDED!r}.")

    # ---- pricing per event
    cost_per_event = np.full(len(idx), np.nan)
    partner_of_org = h.partners[h.org_partner] if len(h.org_partner) else np.array([])
    ev_partner = partner_of_org[h.org[idx]] if len(idx) else np.array([], dtype=object)
    priced = False
    used_year = None
    unpriced = pd.DataFrame(columns=["event_type", "organisation", "service", "n_events"])
    uc = tables.get("unit_costs")
    if uc is not None and "event_type" in uc.columns and uc["event_type"].notna().any():
        uc2, used_year = _uprate(uc, price_year or price_year_default, notes)
        ns = max(len(h.services), 1)
        no = len(h.organisations)
        svc = np.where(h.service[idx] < 0, ns, h.service[idx]).astype(np.int64)
        key = (h.etype[idx].astype(np.int64) * no + h.org[idx]) * (ns + 1) + svc
        ukeys, inv = np.unique(key, return_inverse=True)
        et_k, rest = np.divmod(ukeys, no * (ns + 1))
        org_k, svc_k = np.divmod(rest, ns + 1)
        svc_names = np.append(h.services, None) if len(h.services) else np.array(
            [None, None], dtype=object)
        kf = pd.DataFrame({"event_type": np.array(EVENT_TYPES, dtype=object)[et_k],
                           "organisation": h.organisations[org_k],
                           "service": [svc_names[s] if s < len(h.services) else None
                                       for s in svc_k]})
        pk = price_events(kf, uc2)
        cost_per_event = pk["cost_gbp"].to_numpy(dtype=float)[inv]
        # partner bearing: organisations table, else the unit cost's partner, else itself
        ev_partner = bearing_partner(h.organisations[org_k], pk["cost_partner"],
                                     mapping)[inv]
        counts = np.bincount(inv, minlength=len(ukeys))
        miss = pk["cost_gbp"].isna().to_numpy()
        unpriced = kf[miss].assign(n_events=counts[miss]).sort_values(
            "n_events", ascending=False).reset_index(drop=True)
        priced = bool((~miss).any())
        if priced and miss.any():
            share_un = counts[miss].sum() / counts.sum()
            notes.append(f"{share_un:.1%} of events have no unit cost (see .unpriced); cost "
                         "figures cover priced events only.")
    else:
        notes.append("No unit costs price events (unit_costs rows with an event_type), so "
                     "demand is shown as event counts; add event unit costs to see pounds.")
    partners, ev_pcode = np.unique(ev_partner.astype(str), return_inverse=True)
    npart = len(partners)
    cost = np.nan_to_num(cost_per_event) if priced else np.zeros(len(idx))

    # ---- failure demand per event (attributed to the priced event's need)
    pos_in = np.full(h.n_events, -1, dtype=np.int64)
    pos_in[idx] = np.arange(len(idx))
    cats = {}
    for cat, flag in (("story_retold", h.story_retold), ("reassessment", h.reassessment),
                      ("handoff", h.handoff)):
        cats[cat] = np.flatnonzero(flag[idx])
    bp = pos_in[h.bounce_pos]
    cats["bounced_referral"] = np.sort(bp[bp >= 0])
    fail_w = np.zeros(len(idx))  # avoidable cost
    fail_n = np.zeros(len(idx))  # failure events (count, unweighted)
    for cat, pos in cats.items():
        np.add.at(fail_n, pos, 1.0)
        if priced:
            np.add.at(fail_w, pos, shares[cat] * cost[pos])

    # ---- need x partner
    cell = need * npart + ev_pcode
    ncell = nneed * npart
    ev_cnt = np.bincount(cell, minlength=ncell).astype(float)
    cost_cell = np.bincount(cell, weights=cost, minlength=ncell)
    f_cnt = np.bincount(cell, weights=fail_n, minlength=ncell)
    f_cost = np.bincount(cell, weights=fail_w, minlength=ncell)
    pc = h.pcode[idx].astype(np.int64)
    npeople = h.n_people
    u = np.unique(cell * npeople + pc)
    ppl_cell = np.bincount(u // npeople, minlength=ncell).astype(float)
    un = np.unique(need * npeople + pc)
    ppl_need = np.bincount(un // npeople, minlength=nneed)
    grid = pd.DataFrame({
        "need": np.repeat(need_names, npart), "partner": np.tile(partners, nneed),
        "n_people": ppl_cell.astype(int), "n_events": ev_cnt.astype(int),
        "cost": cost_cell if priced else np.nan,
        "failure_count": f_cnt.astype(int), "failure_cost": f_cost if priced else np.nan,
    })
    grid = grid[grid["n_events"] > 0].reset_index(drop=True)
    for col, new in (("n_events", "share_of_partner_events"), ("cost", "share_of_partner_cost"),
                     ("failure_count", "share_of_partner_failure_count"),
                     ("failure_cost", "share_of_partner_failure_cost")):
        tot = grid.groupby("partner")[col].transform("sum")
        grid[new] = (grid[col] / tot.replace(0, np.nan)).astype(float)

    # ---- per need
    basis = "share_of_partner_cost" if priced else "share_of_partner_events"
    amount = "cost" if priced else "n_events"
    rows = []
    total_cost = float(cost.sum()) if priced else np.nan
    for j, nm in enumerate(need_names):
        g = grid[grid["need"] == nm]
        if g.empty:
            continue
        amt = g[amount].to_numpy(dtype=float)
        s = amt / amt.sum() if amt.sum() > 0 else np.zeros(len(amt))
        m = need == j
        pcnt = np.bincount(pc[m], minlength=npeople)
        pcnt = pcnt[pcnt > 0]
        t1, t5, t10 = (_top_share(pcnt, (0.01, 0.05, 0.10)))
        topk = int(np.argmax(amt))
        ncost = float(cost[m].sum()) if priced else np.nan
        rows.append({
            "need": nm,
            "partners_touched": int((g[basis].fillna(0) >= min_share).sum()) if min_share > 0
            else int(len(g)),
            "effective_partners": float(1 / np.sum(s**2)) if s.sum() > 0 else np.nan,
            "partners_any": int(len(g)),
            "n_people": int(ppl_need[j]),
            "n_events": int(m.sum()),
            "cost": ncost,
            "cost_share": ncost / total_cost if priced and total_cost > 0 else np.nan,
            "failure_count": int(fail_n[m].sum()),
            "failure_cost": float(fail_w[m].sum()) if priced else np.nan,
            "failure_share": (float(fail_w[m].sum()) / ncost if priced and ncost > 0 else
                              float(fail_n[m].sum()) / m.sum() if not priced else np.nan),
            "top_partner": str(g["partner"].iloc[topk]),
            "top_partner_share": float(s[topk]),
            "top1_share": t1, "top5_share": t5, "top10_share": t10,
        })
    needs_t = pd.DataFrame(rows)
    rec = needs_t["need"] != NOT_RECORDED
    order = needs_t[rec].sort_values(
        ["partners_touched", "effective_partners", "cost" if priced else "n_events"],
        ascending=False, kind="stable")
    needs_t = pd.concat([order, needs_t[~rec]], ignore_index=True)
    needs_t.insert(0, "rank", np.where(needs_t["need"] == NOT_RECORDED, 0,
                                       np.arange(1, len(needs_t) + 1)))
    needs_t["rank"] = needs_t["rank"].astype(int)
    if not priced:
        notes.append("Without prices, failure_share is the share of the need's events that "
                     "are failure demand (unweighted).")

    # ---- failure by need x category
    frows = []
    for cat, pos in cats.items():
        nd = need[pos]
        cnt = np.bincount(nd, minlength=nneed)
        cst = np.bincount(nd, weights=shares[cat] * cost[pos], minlength=nneed)
        ppl = np.bincount(np.unique(nd * npeople + pc[pos]) // npeople, minlength=nneed)
        for j, nm in enumerate(need_names):
            if cnt[j]:
                frows.append({"need": nm, "category": cat, "label": _CATEGORY_LABELS[cat],
                              "n_people": int(ppl[j]), "count": int(cnt[j]),
                              "avoidable_share": shares[cat],
                              "cost": float(cst[j]) if priced else np.nan})
    failure = pd.DataFrame(frows, columns=["need", "category", "label", "n_people", "count",
                                           "avoidable_share", "cost"])

    # ---- concentration
    shares_t = sorted({float(s) for s in top_shares})
    if any(not 0 < s < 1 for s in shares_t):
        raise InputError(f"top_shares must be between 0 and 1, got {list(top_shares)}.")
    per_events = np.bincount(pc, minlength=npeople)
    per_cost = np.bincount(pc, weights=cost, minlength=npeople)
    has = per_events > 0
    crow = []

    def conc(scope: str, ev: np.ndarray, cs: np.ndarray) -> None:
        se = _top_share(ev, shares_t)
        sc = _top_share(cs, shares_t) if priced else [np.nan] * len(shares_t)
        for s, a, b in zip(shares_t, se, sc):
            crow.append({"scope": scope, "top_share": s,
                         "n_people": int(np.ceil(s * len(ev) - 1e-9)),
                         "people_with_events": int(len(ev)), "share_of_events": a,
                         "share_of_cost": b})

    conc("all", per_events[has], per_cost[has])
    for j, nm in enumerate(need_names):
        m = need == j
        if not m.any():
            continue
        ev = np.bincount(pc[m], minlength=npeople)
        cs = np.bincount(pc[m], weights=cost[m], minlength=npeople)
        k = ev > 0
        conc(nm, ev[k], cs[k])
    concentration = pd.DataFrame(crow)
    x, le = _lorenz(per_events[has])
    _, lc = _lorenz(per_cost[has]) if priced else (None, np.full(len(x), np.nan))
    lorenz = pd.DataFrame({"share_of_people": x, "share_of_events": le, "share_of_cost": lc,
                           "n_people": int(has.sum())})

    # ---- outcomes by need
    outcomes_t = _outcomes_by_need(tables.get("outcomes"), h, need, pc, need_names,
                                   outcome_measures, d_lo, d_hi, notes)

    lo_ts = pd.Timestamp(d_lo, unit="D")
    hi_ts = pd.Timestamp(d_hi - 1, unit="D")
    settings_out = {
        "need_col": need_col, "start": lo_ts, "end": hi_ts, "population": population,
        "n_events": int(len(idx)), "n_people": int(has.sum()),
        "n_needs": int(rec.sum()), "n_partners": int(npart), "partners": list(partners),
        "min_share": float(min_share), "avoidable_share": shares,
        "price_year": used_year, "top_shares": shares_t,
        "window_days": h.window_days, "rereferral_days": h.rereferral_days,
    }
    return ChallengesResult(needs=needs_t, by_partner=grid, failure=failure,
                            concentration=concentration, lorenz=lorenz, outcomes=outcomes_t,
                            unpriced=unpriced, priced=priced, settings=settings_out,
                            notes=notes, excluded=excluded)


def _outcomes_by_need(outcomes: pd.DataFrame | None, h: EventHistory, need: np.ndarray,
                      pc: np.ndarray, need_names: list[str],
                      measures: Sequence[str] | None, d_lo: int, d_hi: int,
                      notes: list[str]) -> pd.DataFrame:
    cols = ["need", "measure", "n_people", "rate_per_person_year", "n_people_without",
            "rate_without", "rate_ratio", "months"]
    if outcomes is None or outcomes.empty:
        return pd.DataFrame(columns=cols)
    have = sorted(map(str, outcomes["measure"].dropna().unique()))
    ms = have if measures is None else list(measures)
    unknown = [m for m in ms if m not in have]
    if unknown:
        raise InputError(f"outcome_measures: {unknown} not in the outcomes table; its "
                         f"measures are: {', '.join(have)}.")
    per = pd.to_datetime(outcomes["period"])
    lo, hi = pd.Timestamp(d_lo, unit="D"), pd.Timestamp(d_hi, unit="D")
    o = outcomes[(per >= lo.normalize().replace(day=1)) & (per < hi)
                 & outcomes["measure"].isin(ms)]
    if o.empty:
        notes.append("No outcome rows fall in the period; outcomes by need not shown.")
        return pd.DataFrame(columns=cols)
    opc = h.person_ids.get_indexer(pd.Index(o["person_id"]))
    ok = opc >= 0
    o = o[ok]
    opc = opc[ok]
    months = int(pd.to_datetime(o["period"]).dt.to_period("M").nunique())
    npeople = h.n_people
    with_events = np.zeros(npeople, dtype=bool)
    with_events[pc] = True
    rows = []
    mcode, muniq = pd.factorize(o["measure"])
    val = o["value"].to_numpy(dtype=float)
    for mi, meas in enumerate(muniq):
        mm = mcode == mi
        tot = np.bincount(opc[mm], weights=np.nan_to_num(val[mm]), minlength=npeople)
        for j, nm in enumerate(need_names):
            has = np.zeros(npeople, dtype=bool)
            has[pc[need == j]] = True
            if not has.any():
                continue
            other = with_events & ~has
            r1 = tot[has].sum() / (has.sum() * months) * 12
            r0 = tot[other].sum() / (other.sum() * months) * 12 if other.any() else np.nan
            rows.append({"need": nm, "measure": str(meas), "n_people": int(has.sum()),
                         "rate_per_person_year": r1, "n_people_without": int(other.sum()),
                         "rate_without": r0,
                         "rate_ratio": r1 / r0 if r0 and np.isfinite(r0) and r0 > 0 else np.nan,
                         "months": months})
    return pd.DataFrame(rows, columns=cols)
