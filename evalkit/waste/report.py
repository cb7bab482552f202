"""``WasteReport``: every failure-demand table, built once from a :class:`WasteCore`.

Both backends (in memory and DuckDB) hand the same aggregates to
:func:`assemble_report`, so their reports are identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evaluate.result import Summary
from .measures import (
    GROUPS,
    MEASURE_LABELS,
    MEASURES,
    TIE_RULE,
    WasteCore,
    WasteSettings,
    resolve_people,
)
from .pricing import PricingResult, price_occurrences, resolve_shares

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["WasteReport", "assemble_report", "GLOSSARY", "weighted_quantile"]

#: Plain-English definitions, reused by the report glossary.
GLOSSARY: dict[str, str] = {
    "Failure demand": (
        "Work a service does because something was not done, or not done right, "
        "earlier: telling the story again, being passed on, being referred back."),
    "Event order": TIE_RULE,
    "Hand-off": (
        "Two consecutive events of the same person recorded by different "
        "organisations; counted per (from, to) pair in the hand-off matrix."),
    "Repeat assessment": (
        "An assessment whose person's previous assessment, at any organisation, was "
        "at most {window_days} days earlier (by calendar date)."),
    "Re-assessment": "A repeat assessment by the same organisation as the previous one.",
    "Story retold": "A repeat assessment by a different organisation from the previous one.",
    "Bounced referral": (
        "A declined referral followed by the same person's next referral within "
        "{rereferral_days} days; counted once per declined referral."),
    "Ping-pong referral": (
        "A referral to an organisation that declined the same person at most "
        "{rereferral_days} days earlier (needs referred_to)."),
    "Wait": (
        "Days from a referral to the same person's next intervention; referrals "
        "never followed by an intervention are counted separately."),
    "Front doors": (
        "The largest number of distinct organisations that assessed a person within "
        "any {front_door_days}-day window: how many times they told their story."),
    "Avoidable share": (
        "The fraction of a failure-demand event's unit cost counted as avoidable "
        "cost; defaults are judgements set out in the method notes."),
    "Rate per 1,000 people per year": (
        "Count divided by the people in scope and the years observed, times 1,000."),
}

WAIT_BANDS: tuple[tuple[str, int, int], ...] = (
    ("same day", 0, 0), ("1-7 days", 1, 7), ("8-14 days", 8, 14), ("15-28 days", 15, 28),
    ("29-56 days", 29, 56), ("57-91 days", 57, 91), ("92-182 days", 92, 182),
    ("183+ days", 183, 10**12),
)

TOTAL_ROWS: tuple[tuple[str, str], ...] = (
    ("events", "Events used"),
    ("handoff", MEASURE_LABELS["handoff"]),
    ("repeat_assessment", "Repeat assessments (all)"),
    ("reassessment", MEASURE_LABELS["reassessment"]),
    ("story_retold", MEASURE_LABELS["story_retold"]),
    ("referral", "Referrals"),
    ("referral_declined", "Referrals declined"),
    ("bounced_referral", MEASURE_LABELS["bounced_referral"]),
    ("ping_pong", MEASURE_LABELS["ping_pong"]),
    ("referral_never_followed", "Referrals never followed by an intervention"),
)

_PERSON_COL = {
    "events": "events", "handoff": "handoffs", "repeat_assessment": "repeat_assessments",
    "reassessment": "reassessments", "story_retold": "stories_retold", "referral": "referrals",
    "referral_declined": "referrals_declined", "bounced_referral": "bounced_referrals",
    "ping_pong": "ping_pong", "referral_never_followed": "referrals_never_followed",
}


def weighted_quantile(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """Quantile of data given as distinct sorted ``values`` with ``counts``.

    Linear interpolation between order statistics (Hyndman & Fan type 7, the
    default of numpy and R), computed exactly from the counts.

    Examples
    --------
    >>> weighted_quantile(np.array([1, 2, 10]), np.array([2, 1, 1]), 0.5)
    1.5
    """
    n = int(counts.sum())
    if n == 0:
        return float("nan")
    cum = np.cumsum(counts)
    h = (n - 1) * q
    lo = int(np.floor(h))
    hi = min(lo + 1, n - 1)
    x_lo = float(values[np.searchsorted(cum, lo, side="right")])
    x_hi = float(values[np.searchsorted(cum, hi, side="right")])
    return x_lo + (h - lo) * (x_hi - x_lo)


def _wait_stats(w: pd.DataFrame | tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """Referrals, followed, never followed, mean and quantiles of the wait in days."""
    if isinstance(w, pd.DataFrame):
        days = w["wait_days"].to_numpy(dtype=float, na_value=np.nan)
        cnt = w["count"].to_numpy(dtype=np.int64)
    else:
        days, cnt = w
    fol = ~np.isnan(days)
    n_all = int(cnt.sum())
    v_all, c_all = days[fol], cnt[fol]
    v, inv = np.unique(v_all, return_inverse=True)
    c = np.bincount(inv, weights=c_all, minlength=len(v)).astype(np.int64)
    n_f = int(c.sum())
    out = {"referrals": n_all, "followed": n_f, "never_followed": n_all - n_f}
    out["mean_days"] = float((v * c).sum() / n_f) if n_f else float("nan")
    for name, q in (("p25_days", 0.25), ("median_days", 0.5), ("p75_days", 0.75),
                    ("p90_days", 0.9)):
        out[name] = weighted_quantile(v, c, q)
    out["max_days"] = float(v.max()) if n_f else float("nan")
    return out


def assemble_report(
    core: WasteCore,
    people: pd.DataFrame | None = None,
    unit_costs: pd.DataFrame | None = None,
    organisations: pd.DataFrame | None = None,
    *,
    settings: WasteSettings | None = None,
    avoidable_share: Mapping[str, float] | None = None,
    unpriced: str = "error",
    uprate: Any = None,
    price_year: str | None = None,
    backend: str = "pandas",
) -> WasteReport:
    """Build a :class:`WasteReport` from backend aggregates (shared by both backends)."""
    s = settings or WasteSettings()
    shares = resolve_shares(avoidable_share)
    priced_any = unit_costs is not None
    if priced_any:
        pricing: PricingResult = price_occurrences(
            core.occurrences, unit_costs, organisations, avoidable_share=shares,
            unpriced=unpriced,  # type: ignore[arg-type]
            uprate=uprate, price_year=price_year)
    else:
        pricing = price_occurrences(core.occurrences, None, organisations,
                                    avoidable_share=shares, unpriced="allow")
    pp = core.per_person
    ppl, comparison_date = resolve_people(people, s.comparison_date)
    start, end = core.meta.get("period_start"), core.meta.get("period_end")
    days = int((end - start).days) + 1 if start is not None and end is not None else 0
    years = days / 365.25
    if ppl is not None:
        in_scope = ppl[ppl["in_scope"]]
        n_pop = len(in_scope)
        pop_note = "people in scope (people table)"
    else:
        in_scope = None
        n_pop = len(pp)
        pop_note = "people with at least one event (no people table given)"
    occ = core.occurrences
    occ_tot = occ.groupby("measure")["count"].sum()
    ev = core.event_counts
    et_tot = ev.groupby("event_type")["count"].sum()
    roles = s.event_types
    waits = core.waits
    priced = pricing.priced
    cost_m = priced.groupby("measure")[["avoidable_cost_gbp", "gross_cost_gbp",
                                        "cashable_cost_gbp"]].sum(min_count=1)

    def count_of(key: str) -> int:
        if key == "events":
            return int(ev["count"].sum())
        if key == "repeat_assessment":
            return int(occ_tot.get("reassessment", 0) + occ_tot.get("story_retold", 0))
        if key in MEASURES:
            return int(occ_tot.get(key, 0))
        if key == "referral":
            return int(et_tot.get(roles["referral"], 0))
        if key == "referral_declined":
            return int(et_tot.get(roles["declined"], 0))
        if key == "referral_never_followed":
            return int(waits.loc[waits["wait_days"].isna(), "count"].sum())
        raise KeyError(key)

    def cost_of(key: str, col: str) -> float:
        if key == "repeat_assessment":
            keys = ["reassessment", "story_retold"]
        elif key in MEASURES:
            keys = [key]
        else:
            return float("nan")
        if col == "avoidable_cost_gbp" and all(shares[k] == 0 for k in keys):
            return 0.0
        if not priced_any:
            return float("nan")
        vals = [cost_m[col].get(k, np.nan) for k in keys if k in cost_m.index]
        vals = [v for v in vals if v == v]
        if not vals:
            return 0.0 if count_of(key) == 0 else float("nan")
        return float(sum(vals))

    rows = []
    for key, label in TOTAL_ROWS:
        c = count_of(key)
        rows.append({
            "measure": key, "label": label, "count": c,
            "people_affected": int((pp[_PERSON_COL[key]] > 0).sum()) if len(pp) else 0,
            "rate_per_1000_per_year": (c / n_pop / years * 1000) if n_pop and years else np.nan,
            "avoidable_share": shares.get(key, np.nan),
            "gross_cost_gbp": cost_of(key, "gross_cost_gbp"),
            "avoidable_cost_gbp": cost_of(key, "avoidable_cost_gbp"),
            "cashable_cost_gbp": cost_of(key, "cashable_cost_gbp"),
        })
    totals = pd.DataFrame(rows)

    # ---- hand-offs
    h = occ[occ["measure"] == "handoff"]
    handoffs = (h.groupby(["other_organisation", "organisation"])["count"].sum().reset_index()
                .rename(columns={"other_organisation": "from_organisation",
                                 "organisation": "to_organisation", "count": "handoffs"}))
    handoffs = handoffs.sort_values(["from_organisation", "to_organisation"], ignore_index=True)

    # ---- by organisation
    orgs = sorted(set(ev["organisation"]) | set(occ["organisation"])
                  | set(occ["other_organisation"].dropna()) | set(waits["referred_to"].dropna()))
    bo = pd.DataFrame({"organisation": orgs})
    omap = {}
    if organisations is not None and {"organisation", "partner"} <= set(organisations.columns):
        omap = dict(zip(organisations["organisation"], organisations["partner"]))
    bo["partner"] = [omap.get(o, o) for o in orgs]

    def by(frame: pd.DataFrame, col: str, **filt: Any) -> pd.Series:
        f = frame
        for k, v in filt.items():
            f = f[f[k] == v]
        return f.groupby(col)["count"].sum().reindex(orgs, fill_value=0).to_numpy()

    bo["events"] = by(ev, "organisation")
    bo["assessments"] = by(ev, "organisation", event_type=roles["assessment"])
    bo["repeat_assessments"] = (by(occ, "organisation", measure="reassessment")
                                + by(occ, "organisation", measure="story_retold"))
    bo["reassessments"] = by(occ, "organisation", measure="reassessment")
    bo["stories_retold"] = by(occ, "organisation", measure="story_retold")
    with np.errstate(invalid="ignore", divide="ignore"):
        bo["repeat_share"] = np.where(bo["assessments"] > 0,
                                      bo["repeat_assessments"] / bo["assessments"], np.nan)
    bo["handoffs_out"] = by(occ, "other_organisation", measure="handoff")
    bo["handoffs_in"] = by(occ, "organisation", measure="handoff")
    bo["referrals_made"] = by(ev, "organisation", event_type=roles["referral"])
    bo["referrals_received"] = by(waits, "referred_to")
    bo["declines_recorded"] = by(ev, "organisation", event_type=roles["declined"])
    bo["bounces_after_its_decline"] = by(occ, "other_organisation", measure="bounced_referral")
    bo["ping_pong_received"] = by(occ, "other_organisation", measure="ping_pong")
    bo["referrals_never_followed"] = by(waits[waits["wait_days"].isna()], "organisation")
    w_days = waits["wait_days"].to_numpy(dtype=float, na_value=np.nan)
    w_cnt = waits["count"].to_numpy(dtype=np.int64)
    w_org = waits["organisation"].to_numpy(dtype=object)
    w_to = waits["referred_to"].to_numpy(dtype=object)
    med = []
    for o in orgs:
        sel = w_org == o
        med.append(_wait_stats((w_days[sel], w_cnt[sel]))["median_days"] if sel.any()
                   else np.nan)
    bo["median_wait_days"] = med
    cost_o = priced.groupby("organisation")[["avoidable_cost_gbp", "cashable_cost_gbp"]].sum(
        min_count=1)
    av = cost_o["avoidable_cost_gbp"].reindex(orgs)
    bo["avoidable_cost_gbp"] = (av.fillna(0.0) if priced_any else av).to_numpy()
    bo["cashable_cost_gbp"] = cost_o["cashable_cost_gbp"].reindex(orgs).to_numpy()

    # ---- costs
    cost_by_category = (priced.groupby("measure")
                        .agg(count=("count", "sum"), avoidable_share=("avoidable_share", "first"),
                             gross_cost_gbp=("gross_cost_gbp", lambda x: x.sum(min_count=1)),
                             avoidable_cost_gbp=("avoidable_cost_gbp",
                                                 lambda x: x.sum(min_count=1)),
                             cashable_cost_gbp=("cashable_cost_gbp",
                                                lambda x: x.sum(min_count=1)))
                        .reindex(list(MEASURES)).reset_index())
    cost_by_category["count"] = cost_by_category["count"].fillna(0).astype(np.int64)
    cost_by_category["avoidable_share"] = [shares[m] for m in MEASURES]
    zero = (cost_by_category["count"] == 0) | (cost_by_category["avoidable_share"] == 0)
    if priced_any:
        cost_by_category.loc[zero, "avoidable_cost_gbp"] = 0.0
    else:
        cost_by_category.loc[cost_by_category["avoidable_share"] == 0, "avoidable_cost_gbp"] = 0.0
    cost_by_category.insert(1, "label", [MEASURE_LABELS[m] for m in MEASURES])
    cbp = priced[priced["avoidable_share"] > 0]
    cost_by_partner = (cbp.groupby(["partner", "measure"])
                       .agg(count=("count", "sum"),
                            avoidable_cost_gbp=("avoidable_cost_gbp",
                                                lambda x: x.sum(min_count=1)),
                            cashable_cost_gbp=("cashable_cost_gbp", lambda x: x.sum(min_count=1)))
                       .reset_index())
    cost_by_partner["_m"] = cost_by_partner["measure"].map({m: i for i, m in enumerate(MEASURES)})
    cost_by_partner = cost_by_partner.sort_values(["partner", "_m"], ignore_index=True).drop(
        columns="_m")
    costs = priced.copy()

    # ---- waits
    wrows = [{"dimension": "all", "organisation": "All organisations",
              **_wait_stats((w_days, w_cnt))}]
    for dim, arr in (("referred_from", w_org), ("referred_to", w_to)):
        present = sorted({o for o in arr if o is not None})
        for o in present:
            sel = arr == o
            wrows.append({"dimension": dim, "organisation": o,
                          **_wait_stats((w_days[sel], w_cnt[sel]))})
        missing = np.array([o is None for o in arr], dtype=bool)
        if dim == "referred_to" and missing.any():
            wrows.append({"dimension": dim, "organisation": "(not recorded)",
                          **_wait_stats((w_days[missing], w_cnt[missing]))})
    wait_summary = pd.DataFrame(wrows)
    fol = waits[waits["wait_days"].notna()]
    wd = fol["wait_days"].to_numpy(dtype=np.int64)
    band_rows = []
    for label, lo, hi in WAIT_BANDS:
        band_rows.append({"band": label, "referrals": int(fol["count"][(wd >= lo) & (wd <= hi)]
                                                          .sum())})
    band_rows.append({"band": "never followed",
                      "referrals": int(waits.loc[waits["wait_days"].isna(), "count"].sum())})
    waits_distribution = pd.DataFrame(band_rows)
    tot = waits_distribution["referrals"].sum()
    waits_distribution["share"] = waits_distribution["referrals"] / tot if tot else np.nan

    # ---- front doors
    fd_rows = []
    assessed = pp[pp["assessments"] > 0]
    for g, sub in [("all", assessed)] + ([(g, assessed[assessed["group"] == g])
                                          for g in ("pilot", "non-pilot")]
                                         if (pp["group"] != "all").any() else []):
        vc = sub["front_doors"].value_counts().sort_index()
        n_g = int(vc.sum())
        for k, v in vc.items():
            fd_rows.append({"group": g, "front_doors": int(k), "people": int(v),
                            "share": v / n_g if n_g else np.nan})
    front_doors = pd.DataFrame(fd_rows, columns=["group", "front_doors", "people", "share"])

    # ---- pilot comparison
    comparison = _pilot_comparison(core, in_scope, pp, start, end, priced, roles)

    excluded = core.accounting.copy()
    settings_tab = pd.DataFrame([
        ("window_days", s.window_days, "Repeat-assessment window (days)"),
        ("rereferral_days", s.rereferral_days, "Bounce / ping-pong window (days)"),
        ("front_door_days", s.front_door_days, "Front-door rolling window (days)"),
        ("declined_by", s.declined_by, "Column naming the declining organisation"),
        ("event_types", ", ".join(f"{k}={v}" for k, v in roles.items()), "Event-type roles"),
        ("period_start", None if start is None else start.date().isoformat(), "First day observed"),
        ("period_end", None if end is None else end.date().isoformat(), "Last day observed"),
        ("comparison_date", None if comparison_date is None else
         comparison_date.date().isoformat(), "Before/after date for non-pilot people"),
        ("population", n_pop, pop_note),
        ("price_year", pricing.price_year, "Price year of the costs"),
        ("uprated", pricing.uprated, "Costs uprated to the price year"),
        ("tie_rule", TIE_RULE, "Order of same-time events"),
        ("backend", backend, "Computed by"),
    ] + [(f"avoidable_share.{m}", shares[m], MEASURE_LABELS[m]) for m in MEASURES],
        columns=["setting", "value", "meaning"])

    tables = {
        "totals": totals, "by_organisation": bo, "handoffs": handoffs,
        "handoff_matrix": handoff_matrix(handoffs, orgs), "per_person": pp.copy(),
        "cost_by_category": cost_by_category, "cost_by_partner": cost_by_partner,
        "costs": costs, "waits": wait_summary, "waits_distribution": waits_distribution,
        "front_doors": front_doors, "pilot_comparison": comparison, "excluded": excluded,
        "unpriced": pricing.unpriced, "settings": settings_tab,
    }
    notes = []
    n_excl = int(excluded.loc[excluded["reason"] != "used", "rows"].sum())
    if n_excl:
        notes.append(f"{n_excl:,} of {core.meta['n_rows']:,} event rows excluded "
                     "(see the 'excluded' table for reasons).")
    nref = core.meta.get("referrals_without_referred_to", 0)
    if nref:
        notes.append(f"{nref:,} referral(s) have no referred_to, so cannot be checked for "
                     "ping-pong.")
    if not priced_any:
        notes.append("Not priced: no unit_costs table was given, so costs are blank.")
    elif len(pricing.unpriced):
        notes.append(f"{int(pricing.unpriced['count'].sum()):,} failure-demand event(s) "
                     "have no unit cost and are left unpriced (see 'unpriced').")
    return WasteReport(tables=tables, settings=s, meta={
        **core.meta, "population": n_pop, "population_note": pop_note, "years": years,
        "price_year": pricing.price_year, "backend": backend, "priced": priced_any,
        "comparison_date": comparison_date}, notes=notes)


def handoff_matrix(handoffs: pd.DataFrame, orgs: list[str] | None = None) -> pd.DataFrame:
    """Wide hand-off matrix: rows = from organisation, columns = to organisation."""
    if orgs is None:
        orgs = sorted(set(handoffs["from_organisation"]) | set(handoffs["to_organisation"]))
    mat = handoffs.pivot_table(index="from_organisation", columns="to_organisation",
                               values="handoffs", aggfunc="sum", fill_value=0)
    mat = mat.reindex(index=orgs, columns=orgs, fill_value=0).astype(np.int64)
    mat.index.name, mat.columns.name = "from_organisation", "to_organisation"
    return mat


def _pilot_comparison(core: WasteCore, in_scope: pd.DataFrame | None, pp: pd.DataFrame,
                      start: pd.Timestamp | None, end: pd.Timestamp | None,
                      priced: pd.DataFrame, roles: Mapping[str, str]) -> pd.DataFrame:
    cols = ["group", "period", "measure", "value", "people", "person_years",
            "rate_per_1000_person_years"]
    if start is None or end is None:
        return pd.DataFrame(columns=cols)
    total_days = (end - start).days + 1
    # person-time by group and period
    pt = []
    if in_scope is None:
        n = len(pp)
        pt.append(("all", "all", n, n * total_days / 365.25))
    else:
        grp = in_scope["group"].to_numpy()
        cut = pd.DatetimeIndex(in_scope["cut"])
        has_cut = cut.notna()
        before = np.where(has_cut, np.clip(((cut - start).days).to_numpy(dtype=float), 0,
                                           total_days), np.nan)
        for g in [x for x in GROUPS if x in set(grp)]:
            sel = grp == g
            n = int(sel.sum())
            if has_cut[sel].any():
                b = float(np.nansum(before[sel]))
                pt.append((g, "before", n, b / 365.25))
                pt.append((g, "after", n, (n * total_days - b) / 365.25))
            pt.append((g, "all", n, n * total_days / 365.25))
    occ = core.occurrences
    ev = core.event_counts
    w = core.waits

    def summed(frame: pd.DataFrame, g: str, period: str, col: str = "count") -> Any:
        f = frame[frame["group"] == g]
        if period != "all":
            f = f[f["period"] == period]
        return f[col]

    rows = []
    for g, period, n, py in pt:
        vals = {}
        for m in MEASURES:
            vals[m] = int(summed(occ[occ["measure"] == m], g, period).sum())
        vals["repeat_assessment"] = vals["reassessment"] + vals["story_retold"]
        vals["referral"] = int(summed(ev[ev["event_type"] == roles["referral"]], g, period).sum())
        vals["referral_never_followed"] = int(summed(w[w["wait_days"].isna()], g, period).sum())
        vals["avoidable_cost_gbp"] = float(summed(priced, g, period,
                                                  "avoidable_cost_gbp").sum())
        for m, v in vals.items():
            rows.append({"group": g, "period": period, "measure": m, "value": v, "people": n,
                         "person_years": py,
                         "rate_per_1000_person_years": v / py * 1000 if py > 0 else np.nan})
    out = pd.DataFrame(rows, columns=cols)
    return out


class WasteReport:
    """Failure demand in an event log: counts, rates, waits, front doors and cost.

    Tables (``report.to_frame(name)``): ``totals``, ``by_organisation``,
    ``handoffs`` (tidy from/to/count), ``handoff_matrix`` (wide),
    ``per_person`` (journey summary), ``cost_by_category``,
    ``cost_by_partner``, ``costs`` (every priced line), ``waits`` (wait
    distribution overall and by organisation), ``waits_distribution`` (bands),
    ``front_doors``, ``pilot_comparison``, ``excluded`` (row accounting),
    ``unpriced``, ``settings``.
    """

    def __init__(self, tables: dict[str, pd.DataFrame], settings: WasteSettings,
                 meta: dict[str, Any], notes: list[str]) -> None:
        self.tables = tables
        self.settings = settings
        self.meta = meta
        self.notes = notes

    # ------------------------------------------------------------ accessors
    @property
    def table_names(self) -> list[str]:
        """Names accepted by :meth:`to_frame`."""
        return list(self.tables)

    def to_frame(self, name: str = "totals") -> pd.DataFrame:
        """A copy of table ``name`` (default the headline ``totals``)."""
        if name not in self.tables:
            raise InputError(
                f"WasteReport has no table {name!r}; it has: {', '.join(self.tables)}.")
        return self.tables[name].copy()

    @property
    def totals(self) -> pd.DataFrame:
        return self.to_frame("totals")

    @property
    def total_avoidable_cost(self) -> float:
        """Avoidable cost of failure demand in pounds (price year in ``meta``)."""
        if not self.meta.get("priced", True):
            return float("nan")
        return float(self.tables["cost_by_category"]["avoidable_cost_gbp"].sum(min_count=1))

    def glossary(self) -> pd.DataFrame:
        """The definitions used, with this report's windows filled in."""
        s = self.settings
        fmt = {"window_days": s.window_days, "rereferral_days": s.rereferral_days,
               "front_door_days": s.front_door_days}
        return pd.DataFrame([(k, v.format(**fmt)) for k, v in GLOSSARY.items()],
                            columns=["term", "definition"])

    # ------------------------------------------------------------ summary
    def headline(self) -> pd.DataFrame:
        """The headline table the CLI prints: count, rate and avoidable cost per measure."""
        t = self.tables["totals"]
        out = pd.DataFrame({
            "Measure": t["label"],
            "Count": t["count"].map(lambda v: f"{v:,}"),
            "People": t["people_affected"].map(lambda v: f"{v:,}"),
            "Per 1,000 people a year": t["rate_per_1000_per_year"].map(
                lambda v: "" if v != v else f"{v:,.1f}"),
            "Avoidable cost": t["avoidable_cost_gbp"].map(_gbp),
        })
        return out.set_index("Measure")

    def summary(self) -> Summary:
        """Headline figures, the cost by partner and the row accounting."""
        m = self.meta
        w = self.tables["waits"].iloc[0]
        start, end = m.get("period_start"), m.get("period_end")
        header = [
            ("Period", f"{start.date()} to {end.date()}" if start is not None else "-"),
            ("Population", f"{m['population']:,}"),
            ("People with events", f"{len(self.tables['per_person']):,}"),
            ("Price year", str(m.get("price_year") or "-")),
            ("Avoidable cost", _gbp(self.total_avoidable_cost)),
            ("Median wait (days)", "" if w["median_days"] != w["median_days"]
             else f"{w['median_days']:g}"),
            ("Never followed", f"{int(w['never_followed']):,}"),
            ("Backend", m.get("backend", "")),
        ]
        cbp = self.tables["cost_by_partner"]
        part = (cbp.groupby("partner")["avoidable_cost_gbp"].sum().sort_values(ascending=False)
                .map(_gbp).to_frame("Avoidable cost"))
        excl = self.tables["excluded"].set_index("reason")
        notes = [f"Population: {m['population_note']}."] + self.notes
        return Summary("Failure demand", header,
                       [("Headline", self.headline()), ("Avoidable cost by partner", part),
                        ("Rows used and excluded", excl)], notes)

    def __repr__(self) -> str:
        t = self.tables["totals"].set_index("measure")["count"]
        py = self.meta.get("price_year")
        year = f" ({py} prices)" if py and self.meta.get("priced", True) else ""
        return (f"<WasteReport {t['events']:,} events, {len(self.tables['per_person']):,} "
                f"people: {t['handoff']:,} hand-offs, {t['repeat_assessment']:,} repeat "
                f"assessments ({t['story_retold']:,} stories retold), {t['bounced_referral']:,} "
                f"bounced referrals; avoidable cost {_gbp(self.total_avoidable_cost)}{year}>")

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    # ------------------------------------------------------------ plots
    def plot(self, kind: str = "handoffs", ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Plot one chart: ``handoffs`` (heatmap), ``front_doors``, ``cost_by_partner``,
        ``waits`` or ``pilot``."""
        from . import plots

        fns = {"handoffs": plots.plot_handoffs, "front_doors": plots.plot_front_doors,
               "cost_by_partner": plots.plot_cost_by_partner, "waits": plots.plot_waits,
               "pilot": plots.plot_pilot_comparison}
        if kind not in fns:
            raise InputError(f"plot kind must be one of {', '.join(fns)}; got {kind!r}.")
        return fns[kind](self, ax=ax, **kwargs)

    # ------------------------------------------------------------ export
    def to_csv(self, directory: str | Path, tables: list[str] | None = None) -> list[Path]:
        """Write each table to ``DIRECTORY/waste_<name>.csv``; returns the paths."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in tables or self.table_names:
            df = self.to_frame(name)
            p = d / f"waste_{name}.csv"
            df.to_csv(p, index=name == "handoff_matrix")
            paths.append(p)
        return paths

    def to_excel(self, path: str | Path, tables: list[str] | None = None) -> Path:
        """Write every table (and the glossary) to one workbook, a sheet each."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(p, engine="openpyxl") as xw:
            for name in tables or self.table_names:
                df = self.to_frame(name)
                for c in df.columns:
                    if isinstance(df[c].dtype, pd.DatetimeTZDtype):
                        df[c] = df[c].dt.tz_localize(None)
                df.to_excel(xw, sheet_name=name[:31], index=name == "handoff_matrix")
            self.glossary().to_excel(xw, sheet_name="glossary", index=False)
        return p


def _gbp(v: float) -> str:
    from ..plotting import format_gbp

    return "" if v != v else format_gbp(v)
