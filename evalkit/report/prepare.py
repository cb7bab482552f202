"""Run every analysis once and publish its tables: the report context.

Each chapter has a *step* (``step_<key>``) that takes the place and the
context built so far, runs its analysis, and publishes the tables and
headline numbers the chapter shows. A step that cannot run because the place
lacks the data (no event log, too few people...) raises
:class:`~evalkit.errors.InputError`; the chapter then says so in plain English.
Any other exception is a bug and fails the build.
"""

from __future__ import annotations

import datetime as _dt
import platform
import sys
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InputError
from ..place import Place
from .context import ReportContext, Section
from .publish import Publisher

__all__ = ["prepare_context", "STEPS", "package_versions"]

_PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "matplotlib", "pandera", "pydantic",
             "openpyxl", "duckdb", "pyarrow", "jupyter-book", "scikit-learn")


def package_versions() -> dict[str, str]:
    """evalkit, Python and dependency versions (for provenance)."""
    out = {"evalkit": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


Step = Callable[[Place, ReportContext, Publisher], "Section | list[Section]"]


def step_data(place: Place, ctx: ReportContext, pub: Publisher) -> Section:
    """Methods and data: sources, row accounting, provenance, settings."""
    sec = Section("data", "Methods and data")
    prov = place.provenance()
    if len(prov):
        prov = prov.rename(columns={"table": "Table", "path": "File", "sha256": "SHA-256",
                                    "bytes": "Size (bytes)"})
        pub.table("provenance_files", prov, title="Input files and their SHA-256 fingerprints",
                  chapter="data", other=["Size (bytes)"], formats={"Size (bytes)": "{:,.0f}"})
    vers = pd.DataFrame(sorted(ctx.versions.items()), columns=["Package", "Version"])
    pub.table("provenance_versions", vers, title="Software versions", chapter="data")
    sec.headline["tables_loaded"] = len(place.tables)
    return sec


def step_waste(place: Place, ctx: ReportContext, pub: Publisher) -> Section:
    """Pillar to post: failure demand, its cost and who bears it, pilot vs non-pilot."""
    from ..disclosure import Money
    from ..money import uprate
    from ..waste import waste_from_place

    if place.events is None:
        raise InputError("This place has no event log (data: events: in place.yml), so failure "
                         "demand cannot be measured.")
    sec = Section("waste", "Pillar to post")
    rep = waste_from_place(place, uprate=uprate, price_year=place.settings.money.price_year,
                           unpriced="allow")
    excl = rep.to_frame("excluded")
    sec.results["exclusions"] = [
        {"Analysis": "Failure demand", "Table": "events", "Reason": str(r["reason"]),
         "Rows": int(r["rows"])} for _, r in excl[excl["reason"] != "used"].iterrows()]

    tot = rep.to_frame("totals")
    # Dominance rule: every event of a measure is priced alike, so the person with the
    # most events of a measure contributes the largest share of its cost.
    pp = rep.to_frame("per_person")
    per_person_col = {"handoff": "handoffs", "repeat_assessment": "repeat_assessments",
                      "reassessment": "reassessments", "story_retold": "stories_retold",
                      "bounced_referral": "bounced_referrals", "ping_pong": "ping_pong"}
    largest, second = [], []
    for _, r in tot.iterrows():
        col = per_person_col.get(r["measure"])
        unit = (r["avoidable_cost_gbp"] / r["count"]) if col and r["count"] else np.nan
        top = np.sort(pp[col].to_numpy())[-2:] if col in pp.columns and len(pp) else []
        largest.append(float(top[-1]) * unit if len(top) else np.nan)
        second.append(float(top[-2]) * unit if len(top) > 1 else 0.0)
    tot = tot.assign(_largest=largest, _second=second)
    t = tot[["label", "count", "people_affected", "rate_per_1000_per_year",
             "avoidable_cost_gbp", "_largest", "_second"]].rename(columns={
        "label": "Measure", "count": "Number", "people_affected": "People affected",
        "rate_per_1000_per_year": "Per 1,000 people a year",
        "avoidable_cost_gbp": "Avoidable cost"})
    pub.table("waste_totals", t, title="Failure demand: how often people were passed from "
              "pillar to post, and what the avoidable part cost", chapter="waste",
              counts=["Number", "People affected"],
              derived={"Per 1,000 people a year": "People affected"},
              money={"Avoidable cost": Money(n="People affected", largest="_largest",
                                             second="_second")},
              formats={"Avoidable cost": "gbp", "Per 1,000 people a year": "{:,.0f}"},
              notes=[f"Pounds in {place.settings.money.price_year} prices. Counts are of "
                     "events; people affected is the number of different people."])

    cbp = rep.to_frame("cost_by_partner")
    wide = cbp.pivot_table(index="partner", columns="measure", values="avoidable_cost_gbp",
                           aggfunc="sum", fill_value=0.0)
    n_by = cbp.pivot_table(index="partner", values="count", aggfunc="sum")["count"]
    partner_tab = pd.DataFrame({
        "Partner": wide.index,
        "Avoidable cost": wide.sum(axis=1).to_numpy(),
        "_events": n_by.reindex(wide.index).to_numpy(),
    }).sort_values("Avoidable cost", ascending=False)
    pub.table("waste_cost_by_partner", partner_tab, title="Who bears the avoidable cost of "
              "failure demand", chapter="waste",
              money={"Avoidable cost": Money(n="_events", dominance=False)},
              formats={"Avoidable cost": "gbp"},
              notes=["Each partner's cost adds up many priced events; the dominance rule is "
                     "applied to the place-wide totals above, where each person's share is "
                     "known."])

    hm = rep.to_frame("handoff_matrix")
    hm.index.name = "From"
    hm.columns.name = None
    pub.crosstab("handoff_matrix", hm, title="Hand-offs: from which organisation (rows) to "
                 "which (columns)", chapter="waste")

    fd = rep.to_frame("front_doors")
    fd_all = fd[fd["group"] == "all"].copy()
    fd_all["band"] = np.where(fd_all["front_doors"] >= 6, "6 or more",
                              fd_all["front_doors"].astype(int).astype(str))
    fd_ser = fd_all.groupby("band", sort=False)["people"].sum()
    fd_ser.index.name = "Organisations that assessed them in a year"
    fd_ser.name = "People"
    pub.crosstab("front_doors", fd_ser, title="How many times people told their story: "
                 "organisations that assessed each person within a rolling year",
                 chapter="waste")

    w = rep.to_frame("waits")
    w = w[w["dimension"].isin(["all", "referred_to"])]
    wt = w[["organisation", "referrals", "never_followed", "median_days", "p90_days"]].rename(
        columns={"organisation": "Referred to", "referrals": "Referrals",
                 "never_followed": "Never followed by help", "median_days": "Median wait (days)",
                 "p90_days": "90th percentile (days)"})
    pub.table("waits", wt, title="Waits from referral to help (days)", chapter="waste",
              counts=["Referrals", "Never followed by help"],
              derived={"Median wait (days)": "Referrals", "90th percentile (days)": "Referrals"},
              formats={"Median wait (days)": "{:,.0f}", "90th percentile (days)": "{:,.0f}"})

    pc = rep.to_frame("pilot_comparison")
    measures = ["repeat_assessment", "story_retold", "bounced_referral", "handoff"]
    pc = pc[pc["measure"].isin(measures) & pc["period"].isin(["before", "after"])]
    if len(pc) and pc["group"].nunique() > 1:
        labels = dict(zip(tot["measure"], tot["label"]))
        pcw = pc.pivot_table(index=["measure"], columns=["group", "period"],
                             values="rate_per_1000_person_years")
        ppl = pc.groupby("group")["people"].max()
        rows = []
        for m in measures:
            if m not in pcw.index:
                continue
            row = {"Measure": labels.get(m, m)}
            for g, gl in (("pilot", "Pilot"), ("non-pilot", "Others")):
                for per in ("before", "after"):
                    row[f"{gl}: {per}"] = pcw.loc[m].get((g, per), np.nan)
            rows.append(row)
        pct = pd.DataFrame(rows)
        pct["_pilot"] = int(ppl.get("pilot", 0))
        pct["_others"] = int(ppl.get("non-pilot", 0))
        derived = {c: ("_pilot" if c.startswith("Pilot") else "_others")
                   for c in pct.columns if ":" in c}
        pub.table("waste_pilot_comparison", pct, title="Failure demand per 1,000 people a "
                  "year, before and after the pilot started: pilot people and others",
                  chapter="waste", derived=derived,
                  formats={c: "{:,.0f}" for c in derived},
                  notes=["'Before' and 'after' are relative to each pilot person's start date; "
                         "for others, to the median start date. A simple comparison, not the "
                         "evaluation: see *Did it work?* for effects against a comparison "
                         "group."])
    row = tot.set_index("measure")
    sec.headline.update({
        "repeats": pub.count(row.loc["repeat_assessment", "count"]),
        "stories": pub.count(row.loc["story_retold", "count"]),
        "bounces": pub.count(row.loc["bounced_referral", "count"]),
        "people": pub.count(row.loc["events", "people_affected"]),
        "avoidable_cost": pub.money(float(rep.total_avoidable_cost),
                                    n_people=float(row.loc["events", "people_affected"])),
        "price_year": place.settings.money.price_year,
        "top_partner": str(partner_tab["Partner"].iloc[0]) if len(partner_tab) else "",
    })
    sec.results["glossary"] = dict(zip(rep.glossary()["term"], rep.glossary()["definition"]))
    sec.results["report"] = rep
    sec.text["summary"] = _waste_summary(sec.headline)
    return sec


def _waste_summary(h: dict[str, Any]) -> str:
    from .runtime import format_value as fv

    return (f"**Pillar to post.** Among the {fv(h['people'], 'count')} people in scope with "
            f"a service contact, people told their story again to a new organisation "
            f"{fv(h['stories'], 'count')} times and were bounced between services "
            f"{fv(h['bounces'], 'count')} times. The avoidable part of this failure demand "
            f"cost {fv(h['avoidable_cost'], 'gbp')} ({h['price_year']} prices); "
            f"{h['top_partner']} bears the most. [More: Pillar to post](pillar-to-post.md)")


def step_community(place: Place, ctx: ReportContext, pub: Publisher) -> list[Section]:
    """Shared challenges (needs across partners) and early identification (risk model)."""
    from ..community import fit_risk_model, shared_challenges
    from ..disclosure import Money

    cs = place.settings.community
    out: list[Section] = []

    # ---- shared challenges
    ch_sec = Section("challenges", "Shared challenges")
    try:
        if place.events is None or cs.need_column not in place.events.columns:
            raise InputError(f"The event log has no '{cs.need_column}' column recording each "
                             "contact's need, so needs cannot be compared across partners.")
        ch = shared_challenges(place, need_col=cs.need_column,
                               price_year=place.settings.money.price_year)
        tabs = ch.published_tables()
        needs = tabs["needs"]
        needs = needs[needs["rank"] > 0]
        nt = needs[["rank", "need", "partners_touched", "n_people", "n_events", "failure_cost",
                    "top_partner", "top10_share"]].rename(columns={
            "rank": "Rank", "need": "Need", "partners_touched": "Partners it touches",
            "n_people": "People", "n_events": "Contacts", "failure_cost": "Avoidable cost",
            "top_partner": "Partner bearing most", "top10_share": "Share from top 10% of people"})
        pub.table("challenges_needs", nt, title="Needs ranked by how far they cut across "
                  "partners", chapter="challenges", counts=["People", "Contacts"],
                  other=["Rank", "Partners it touches"],
                  money={"Avoidable cost": Money(n="People", dominance=False)},
                  derived={"Share from top 10% of people": "People"},
                  formats={"Avoidable cost": "gbp", "Share from top 10% of people": "{:.0%}"},
                  notes=["Partners it touches: partners for whom the need is at least 1% of "
                         "demand."])
        bp = tabs["by_partner"][["need", "partner", "n_people", "failure_cost"]].rename(
            columns={"need": "Need", "partner": "Partner", "n_people": "People",
                     "failure_cost": "Avoidable cost"})
        pub.table("challenges_need_partner", bp, title="Avoidable cost of each need to each "
                  "partner", chapter="challenges", counts=["People"],
                  money={"Avoidable cost": Money(n="People", dominance=False)},
                  formats={"Avoidable cost": "gbp"})
        conc = tabs["concentration"]
        conc = conc[conc["scope"] == "all"][["top_share", "n_people", "share_of_events",
                                             "share_of_cost", "people_with_events"]]
        conc = conc.rename(columns={"top_share": "Top share of people", "n_people": "People",
                                    "share_of_events": "Share of contacts",
                                    "share_of_cost": "Share of cost",
                                    "people_with_events": "_all"})
        pub.table("challenges_concentration", conc, title="How concentrated demand is: the "
                  "share of all contacts and cost from the most frequent users",
                  chapter="challenges", counts=["People"], other=["Top share of people"],
                  derived={"Share of contacts": "_all", "Share of cost": "_all"},
                  formats={"Top share of people": "{:.0%}", "Share of contacts": "{:.0%}",
                           "Share of cost": "{:.0%}"})
        top = needs.iloc[0]
        ch_sec.headline.update({
            "top_need": str(top["need"]), "top_partners": int(top["partners_touched"]),
            "n_partners": int(place.partners.shape[0]),
            "top_people": pub.count(top["n_people"]),
            "cross_cutting": int((needs["partners_touched"] >= place.partners.shape[0] / 2
                                  ).sum()),
            "top10_cost": pub.derived(float(conc.loc[conc["Top share of people"] == 0.10,
                                                     "Share of cost"].iloc[0]),
                                      float(conc["_all"].iloc[0]))
            if (conc["Top share of people"] == 0.10).any() else float("nan"),
        })
        ch_sec.results["result"] = ch
    except InputError as err:
        if ctx.demo:
            raise
        ch_sec.status, ch_sec.reason = "skipped", str(err)
    out.append(ch_sec)

    # ---- early identification
    eh = Section("early_help", "Early help")
    try:
        crisis = cs.crisis
        if crisis is None:
            measures = [] if place.outcomes is None else list(place.outcomes["measure"].unique())
            crisis = ("homeless_applications" if "homeless_applications" in measures
                      else (place.settings.evaluation.outcomes or measures or [None])[0])
        if crisis is None:
            raise InputError("There is no outcome to predict (no outcomes table).")
        rm = fit_risk_model(place, crisis, horizon_months=cs.horizon_months, model=cs.model,
                            top_share=cs.top_share)
        tabs = rm.published_tables()
        perf = tabs["performance"].iloc[[0]]
        perf_t = pd.DataFrame({
            "Crisis predicted": [str(perf["crisis"].iloc[0])],
            "Months ahead": [int(perf["horizon_months"].iloc[0])],
            "Tested at": [str(perf["test_cutoff"].iloc[0])[:10]],
            "People": [perf["n_people"].iloc[0]], "Crises": [perf["crises"].iloc[0]],
            "AUC": [perf["auc"].iloc[0]], "AUC lower": [perf["auc_ci_lower"].iloc[0]],
            "AUC upper": [perf["auc_ci_upper"].iloc[0]], "Brier score": [perf["brier"].iloc[0]],
            "Brier (no skill)": [perf["brier_no_skill"].iloc[0]],
        })
        pub.table("risk_performance", perf_t, title="How well the model predicted, on people "
                  "and months it had not seen", chapter="early_help",
                  counts=["People", "Crises"], other=["Months ahead"],
                  derived={c: "People" for c in ("AUC", "AUC lower", "AUC upper",
                                                  "Brier score", "Brier (no skill)")},
                  formats={"AUC": "{:.2f}", "AUC lower": "{:.2f}", "AUC upper": "{:.2f}",
                           "Brier score": "{:.3f}", "Brier (no skill)": "{:.3f}"})
        cap = tabs["capture"][["top_share", "n_flagged", "crises_flagged", "ppv",
                               "crises_outside_flagged", "share_of_crises_outside", "lift",
                               "crises"]].rename(columns={
            "top_share": "Share flagged", "n_flagged": "People flagged",
            "crises_flagged": "Went on to crisis", "ppv": "Share of flagged in crisis",
            "crises_outside_flagged": "Crises outside the flagged",
            "share_of_crises_outside": "Share of crises missed", "lift": "Times the base rate",
            "crises": "_crises"})
        pub.table("risk_capture", cap, title="What the model would have meant in practice",
                  chapter="early_help",
                  counts=["People flagged", "Went on to crisis", "Crises outside the flagged"],
                  other=["Share flagged"],
                  derived={"Share of flagged in crisis": ("Went on to crisis", "People flagged"),
                           "Share of crises missed": "_crises",
                           "Times the base rate": "People flagged"},
                  formats={"Share flagged": "{:.0%}", "Share of flagged in crisis": "{:.0%}",
                           "Share of crises missed": "{:.0%}", "Times the base rate": "{:.1f}"})
        rel = tabs["reliability"][["band", "n_people", "crises", "mean_predicted",
                                   "observed_rate"]].rename(columns={
            "band": "Risk band", "n_people": "People", "crises": "Crises",
            "mean_predicted": "Predicted risk", "observed_rate": "Observed rate"})
        pub.table("risk_reliability", rel, title="Calibration: predicted risk against what "
                  "happened, by tenth of predicted risk", chapter="early_help",
                  counts=["People", "Crises"], other=["Risk band"],
                  derived={"Predicted risk": "People", "Observed rate": ("Crises", "People")},
                  formats={"Predicted risk": "{:.1%}", "Observed rate": "{:.1%}"})
        fair = tabs["fairness"]
        fair = fair[fair["assessed"].astype(bool)][["group_by", "group", "n_people", "crises",
                                                    "auc", "sensitivity", "oe_ratio"]]
        fair = fair.rename(columns={
            "group_by": "Grouped by", "group": "Group", "n_people": "People",
            "crises": "Crises", "auc": "AUC", "sensitivity": "Share of crises flagged",
            "oe_ratio": "Observed / expected"})
        pub.table("risk_fairness", fair, title="Fairness: the same checks for each group",
                  chapter="early_help", counts=["People", "Crises"],
                  derived={"AUC": "People", "Share of crises flagged": "Crises",
                           "Observed / expected": "People"},
                  formats={"AUC": "{:.2f}", "Share of crises flagged": "{:.0%}",
                           "Observed / expected": "{:.2f}"})
        coef = tabs["coefficients"].head(12)[["label", "odds_ratio", "ci_lower", "ci_upper",
                                              "pvalue", "n_people"]].rename(columns={
            "label": "History feature", "odds_ratio": "Odds ratio", "ci_lower": "Lower",
            "ci_upper": "Upper", "pvalue": "p-value", "n_people": "_n"})
        pub.table("risk_coefficients", coef, title="What the model looks at (transparent "
                  "logistic regression; odds ratio per standard deviation)",
                  chapter="early_help",
                  derived={c: "_n" for c in ("Odds ratio", "Lower", "Upper", "p-value")},
                  formats={"Odds ratio": "{:.2f}", "Lower": "{:.2f}", "Upper": "{:.2f}",
                           "p-value": "{:.3f}"})
        eh.headline.update({
            "crisis": crisis, "horizon": cs.horizon_months,
            "auc": pub.derived(float(perf["auc"].iloc[0]), float(perf["n_people"].iloc[0])),
            "top_share": cs.top_share,
        })
        eh.text["gaps"] = "\n\n".join(f"- {g}" for g in rm.gaps)
        eh.results["result_summary"] = str(rm.summary())
    except InputError as err:
        if ctx.demo:
            raise
        eh.status, eh.reason = "skipped", str(err)
    out.append(eh)
    return out


#: The steps, in the order they run (later steps may use earlier sections).
STEPS: dict[str, Step] = {
    "data": step_data,
    "waste": step_waste,
}

#: Sections a step fills (when it is skipped, each says why).
_STEP_SECTIONS: dict[str, tuple[str, ...]] = {
    "finance": ("benefits", "split", "sustain"),
}


def prepare_context(
    place: Place,
    book_dir: str | Path,
    *,
    demo: bool = False,
    progress: bool = True,
    steps: Mapping[str, Step] | None = None,
    strict: bool | None = None,
) -> ReportContext:
    """Run every analysis once, publish its tables into ``book_dir``, and save the context.

    Parameters
    ----------
    place : Place
    book_dir : path
        The book folder being built (tables are written to ``_static/downloads``).
    demo : bool
        The place is the built-in synthetic demo (the report says so).
    progress : bool
        Print each step and its time to stderr.
    strict : bool, optional
        Fail instead of skipping a chapter whose analysis cannot run (default:
        on for the demo, which must exercise every chapter).

    Returns
    -------
    ReportContext
    """
    book_dir = Path(book_dir)
    s = place.settings
    ctx = ReportContext(
        place_name=s.name,
        title=s.report.title or f"{s.name}: {s.pilot.name}",
        settings=s.model_dump(mode="json"),
        created=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        versions=package_versions(),
        seed=s.seed,
        provenance=place.provenance(),
        accounting=place.accounting.to_frame(),
        disclosure=s.disclosure.model_dump(),
        demo=demo,
    )
    pub = Publisher(ctx, book_dir, s.disclosure)
    for key, step in (steps or STEPS).items():
        t0 = time.perf_counter()
        try:
            out = step(place, ctx, pub)
        except InputError as err:
            if strict or (strict is None and demo):
                raise
            out = [Section(k, k, status="skipped", reason=str(err))
                   for k in _STEP_SECTIONS.get(key, (key,))]
        secs = out if isinstance(out, list) else [out]
        for sec in secs:
            ctx.sections[sec.key] = sec
        if progress:
            status = "done" if all(s.ok for s in secs) else (
                "partly" if any(s.ok for s in secs) else "skipped")
            print(f"  {key:<18} {status:<8} {time.perf_counter() - t0:6.1f} s",
                  file=sys.stderr, flush=True)
    _write_downloads_workbook(ctx, pub)
    ctx.save(book_dir)
    return ctx


def _write_downloads_workbook(ctx: ReportContext, pub: Publisher) -> None:
    """Every published table in one workbook (with disclosure marks for the leak scan)."""
    from ..disclosure import write_xlsx

    sheets: dict[str, Any] = {}
    for name, t in ctx.tables.items():
        sheet = name[:31]
        sheets[sheet] = t.protected
    path = pub.book_dir / "_static" / "downloads" / "all-tables.xlsx"
    write_xlsx(path, sheets)
    ctx.downloads["all_tables_xlsx"] = "_static/downloads/all-tables.xlsx"



# ---------------------------------------------------------------------------
# Money: who benefits, sharing the cost, sustaining it
# ---------------------------------------------------------------------------
def _finance_effects(place: Place, ctx: ReportContext) -> tuple[Any, str, int]:
    """Effect estimates for the finance chapters, where they came from, and n treated."""
    ev = ctx.sections.get("evaluate")
    if ev is not None and ev.ok and ev.results.get("effects"):
        placebo = set(place.settings.evaluation.placebo_outcomes)
        effects = {m: r for m, r in ev.results["effects"].items() if m not in placebo}
        n = int(min(r.n_treated for r in effects.values())) if effects else 0
        return effects, "the evaluation in *Did it work?*", n
    eff = place.settings.sustain.effects
    if eff:
        df = pd.DataFrame([{"measure": k, "estimate": v.estimate, "se": v.se}
                           for k, v in eff.items()])
        return df, "the effect sizes given in place.yml (sustain: effects:)", 0
    raise InputError(
        "There are no effect estimates to value: the evaluation did not run for this place "
        "and place.yml gives none under 'sustain: effects:'.")


def _only_estimated(sc: Any, effects: Any) -> tuple[Any, list[str]]:
    """Drop benefit-map rows for measures without an effect estimate (listed, not hidden)."""
    import dataclasses

    measures = set(effects) if isinstance(effects, dict) else set(effects["measure"])
    bm = sc.benefits.benefit_map
    missing = sorted(set(bm["measure"]) - measures)
    if not missing:
        return sc, []
    kept = bm[bm["measure"].isin(measures)]
    if kept.empty:
        raise InputError("None of the benefit map's measures has an effect estimate, so no "
                         "benefit can be valued.")
    return sc.replace(benefits=dataclasses.replace(sc.benefits, benefit_map=kept)), missing


def _with_n(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """Attach the number of treated people behind modelled figures (a hidden column)."""
    out = df.copy()
    out["_people"] = max(int(n), 0)
    return out


#: Reader-friendly names of common outcome measures (others: underscores become spaces).
MEASURE_LABELS = {
    "ae_attendances": "A&E attendances", "arrests": "arrests",
    "homeless_applications": "homelessness applications",
    "ta_nights": "nights in temporary accommodation",
    "csc_referrals": "children's social care referrals",
    "elective_admissions": "planned hospital admissions",
}


def measure_label(measure: str) -> str:
    """A measure's name for readers: ``ae_attendances`` -> ``A&E attendances``."""
    return MEASURE_LABELS.get(measure, str(measure).replace("_", " "))


def _relabel(text: str, measures: list[str]) -> str:
    for m in sorted(measures, key=len, reverse=True):
        text = text.replace(m, measure_label(m))
    return text


def step_evaluate(place: Place, ctx: ReportContext, pub: Publisher) -> Section:
    """Did it work: headline effects, dynamic paths, robustness, SMS rating, limitations."""
    from ..evaluate.place import evaluate_place

    if place.outcomes is None:
        raise InputError("This place has no person-level outcomes table (data: outcomes: in "
                         "place.yml), so the pilot's effect cannot be estimated.")
    ev = evaluate_place(place, progress=False)
    sec = Section("evaluate", "Did it work?")
    measures = list(ev.outcomes) + list(ev.placebo_outcomes)
    head = ev.to_frame("headline")
    h = pd.DataFrame({
        "Outcome": [measure_label(m) for m in head["outcome"]],
        "Change per person per month": head["estimate"],
        "Lower (95%)": head["ci_lower"], "Upper (95%)": head["ci_upper"],
        "Change (%)": head["percent_change"] / 100.0, "p-value": head["pvalue"],
        "People in the pilot": head["n_treated"], "Comparison people": head["n_comparison"],
    })
    est_cols = ["Change per person per month", "Lower (95%)", "Upper (95%)", "Change (%)",
                "p-value"]
    pub.table("effects", h, title="The pilot's effect on each outcome (Callaway & Sant'Anna "
              "difference-in-differences, staggered roll-out)", chapter="evaluate",
              counts=["People in the pilot", "Comparison people"],
              derived={c: "People in the pilot" for c in est_cols},
              formats={"Change per person per month": "{:+.4f}", "Lower (95%)": "{:+.4f}",
                       "Upper (95%)": "{:+.4f}", "Change (%)": "{:+.0%}", "p-value": "{:.3f}"},
              notes=["Change (%) is relative to the pilot group's level before the pilot. A "
                     "negative change means fewer events."])
    rob = ev.to_frame("robustness")
    r = pd.DataFrame({
        "Outcome": [measure_label(m) for m in rob["outcome"]], "Check": rob["description"],
        "Units": rob["unit"] if "unit" in rob.columns else "per person per month",
        "Estimate": rob["estimate"], "Lower (95%)": rob["ci_lower"],
        "Upper (95%)": rob["ci_upper"],
        "Agrees with headline": rob["consistent"].map(
            lambda v: "" if v != v or v is None else ("yes" if bool(v) else "no")),
        "_n": rob["n_treated"].fillna(0),
    })
    pub.table("robustness", r, title="Robustness: the same question answered other ways",
              chapter="evaluate",
              derived={"Estimate": "_n", "Lower (95%)": "_n", "Upper (95%)": "_n"},
              formats={"Estimate": "{:+.4f}", "Lower (95%)": "{:+.4f}",
                       "Upper (95%)": "{:+.4f}"})
    pt = ev.to_frame("pre_trends")
    ptab = pd.DataFrame({"Outcome": [measure_label(m) for m in pt["outcome"]],
                         "Months tested before the start": pt["window"],
                         "p-value (no difference before)": pt["pvalue"],
                         "_n": int(ev.n_treated)})
    pub.table("pre_trends", ptab, title="Were the groups on the same path before the pilot? "
              "(joint test that the pre-pilot differences are zero)", chapter="evaluate",
              other=["Months tested before the start"],
              derived={"p-value (no difference before)": "_n"},
              formats={"p-value (no difference before)": "{:.3f}"},
              notes=["A small p-value (below 0.05) is a warning that the groups were already "
                     "drifting apart before the pilot."])
    bal = ev.to_frame("balance")
    if len(bal):
        b = bal[["covariate", "smd_before", "smd_after"]].groupby("covariate", sort=False).max()
        b = b.reset_index().rename(columns={
            "covariate": "Characteristic", "smd_before": "Difference before matching (SMD)",
            "smd_after": "Difference after matching (SMD)"})
        b["_n"] = int(ev.n_treated)
        pub.table("balance", b, title="Balance of the matched comparison group "
                  "(standardised mean differences; below 0.1 is good)", chapter="evaluate",
                  derived={"Difference before matching (SMD)": "_n",
                           "Difference after matching (SMD)": "_n"},
                  formats={"Difference before matching (SMD)": "{:.2f}",
                           "Difference after matching (SMD)": "{:.2f}"})
    bac = ev.to_frame("bacon")
    if len(bac):
        bb = bac.rename(columns={"outcome": "Outcome", "type": "Comparison",
                                 "weight": "Weight in TWFE", "estimate": "Estimate",
                                 "comparisons": "Number of 2x2s"})
        bb["Outcome"] = bb["Outcome"].map(measure_label)
        bb["_n"] = int(ev.n_treated)
        pub.table("bacon", bb, title="Why the usual two-way fixed effects regression "
                  "misleads: its comparisons and their weights (Goodman-Bacon)",
                  chapter="evaluate", other=["Number of 2x2s"],
                  derived={"Weight in TWFE": "_n", "Estimate": "_n"},
                  formats={"Weight in TWFE": "{:.0%}", "Estimate": "{:+.4f}"})
    effects = ev.effects()
    sec.results.update({"evaluation": ev, "effects": effects})
    sec.results["exclusions"] = [
        {"Analysis": "Evaluation", "Table": "people" if r["stage"] == "people" else r["stage"],
         "Reason": str(r["reason"]) + ("" if r.get("measure", "all") == "all"
                                       else f" ({measure_label(r['measure'])})"),
         "Rows": int(r["units"] if r["stage"] == "people" else r["rows"])}
        for _, r in ev.excluded.iterrows()]
    sec.headline.update({
        "sms_level": int(ev.sms.level), "n_treated": pub.count(ev.n_treated),
        "n_people": pub.count(ev.n_people),
    })
    for _, row in head.iterrows():
        m = row["outcome"]
        sec.headline[f"{m}.estimate"] = pub.derived(float(row["estimate"]), row["n_treated"])
        sec.headline[f"{m}.pct"] = pub.derived(float(row["percent_change"]), row["n_treated"])
    sec.text.update({
        "design": _relabel(ev.design, measures),
        "sms": ev.sms.text,
        "verdicts": "\n".join(f"- {_relabel(v, measures)}" for v in head["verdict"]),
        "limitations": "\n".join(f"- {_relabel(x, measures)}" for x in ev.limitations()),
        "summary": _evaluate_summary(head, ev, pub),
    })
    return sec


def _evaluate_summary(head: pd.DataFrame, ev: Any, pub: Publisher) -> str:
    from .runtime import format_value as fv

    if pub.policy.too_few(float(ev.n_treated)):
        return ("**Did it work?** Too few people took part to publish the estimates "
                "safely.")
    clear = head[(head["ci_upper"] < 0) | (head["ci_lower"] > 0)]
    parts = []
    for _, r in clear.iterrows():
        direction = "fewer" if r["estimate"] < 0 else "more"
        sure = "confident" if r["pvalue"] < 0.01 else "fairly confident"
        parts.append(f"we are {sure} it led to {direction} {measure_label(r['outcome'])} "
                     f"(about {fv(abs(r['percent_change']) / 100, 'pct')} "
                     f"{'fewer' if r['estimate'] < 0 else 'more'})")
    unclear = [measure_label(m) for m in head["outcome"] if m not in set(clear["outcome"])]
    text = (f"**Did it work?** Comparing the {fv(pub.count(ev.n_treated), 'count')} people in "
            "the pilot with similar people not yet in it, ")
    text += ("; ".join(parts) + "." if parts else "we cannot yet tell whether it changed any "
             "outcome.")
    if unclear and parts:
        text += f" We cannot yet tell whether it changed {', '.join(unclear)}."
    text += (f" The evidence is level {int(ev.sms.level)} of 5 on the Maryland Scientific "
             "Methods Scale. [More: Did it work?](did-it-work.md)")
    return text


def step_finance(place: Place, ctx: ReportContext, pub: Publisher) -> list[Section]:
    """Benefits by partner and appraisal; cost-split options; sustainability after the grant."""
    from ..money import appraise
    from ..split import split_options
    from ..sustain import scenario_from_place

    effects, source, n_treated = _finance_effects(place, ctx)
    # Modelled money from effects estimated on n_treated people: suppressed (as a derived
    # figure) if the evaluation rests on too few people. Effects typed in place.yml carry
    # no person count (0 means "not from person-level data").
    n_people = n_treated if n_treated > 0 else 10**9

    sc = scenario_from_place(place, effects=effects)
    sc, unvalued = _only_estimated(sc, effects)
    res = sc.run(progress=False)
    horizon = sc.horizon
    benefits = sc.benefits.build(horizon, n_draws=sc.draws, seed=sc.seed)
    costs = pd.DataFrame({"year": range(horizon), "cost": _yearly(sc.running_cost, horizon)})
    apr = appraise(costs, benefits, price_year=sc.price_year, first_year=sc.first_year,
                   cost_partner="Programme (grant and partners)",
                   discount=sc.discount if sc.discount is not None else "standard")

    # ---- chapter 4: who benefits
    ben = Section("benefits", "Who benefits")
    pt = apr.partner_table().reset_index()
    keep = [c for c in pt.columns if c == "partner" or c.startswith("PV") or "NPV" in c]
    pt = pt[keep].rename(columns={"partner": "Partner"})
    empty = [c for c in pt.columns if c != "Partner" and ("economic" in c or "social" in c)
             and not pt[c].astype(float).abs().gt(0).any()]
    pt = pt.drop(columns=empty)
    money_cols = [c for c in pt.columns if c != "Partner"]
    pub.table("benefits_by_partner", _with_n(pt, n_people),
              title="Present value of costs and benefits by partner (real pounds, "
              f"{sc.price_year} prices, discounted)", chapter="benefits",
              derived={c: "_people" for c in money_cols},
              formats={c: "gbp" for c in money_cols},
              notes=[f"Benefits are modelled from {source}. Fiscal values only; economic and "
                     "social values are never added to them."]
              + ([f"Not valued (no effect estimate): {', '.join(unvalued)}."]
                 if unvalued else []))
    fiscal = apr.metrics()
    fiscal = fiscal[fiscal["basis"] == "fiscal"]
    total = fiscal[fiscal["scope"] == "Total"].iloc[0]
    ben.headline.update({
        "pv_costs": pub.derived(float(total["pv_costs"]), n_people),
        "pv_benefits": pub.derived(float(total["pv_benefits"]), n_people),
        "npv": pub.derived(float(total["npv"]), n_people),
        "bcr": pub.derived(float(total["bcr"]), n_people),
        "cashable": pub.derived(float(apr.pv_benefits("fiscal", cashable=True)), n_people),
    })
    ben.results.update({"appraisal": apr, "benefits": benefits, "source": source})
    ben.text["summary"] = _benefits_summary(ben.headline, sc.price_year)

    # ---- chapter 5: sharing the cost
    spl = Section("split", "Sharing the cost")
    funding = res.to_frame("funding")
    gap_years = funding[funding["gap"] > 0]
    if len(gap_years):
        no_grant = gap_years[gap_years["grant"] <= 0]
        first_full = no_grant.iloc[0] if len(no_grant) else gap_years.iloc[-1]
        cost_to_share = float(first_full["gap"])
        year_label = str(first_full.get("financial_year") or f"year {int(first_full['year'])}")
        partners = place.partners.copy()
        if "benefit" not in partners.columns or partners["benefit"].isna().all():
            # Beneficiary pays: each partner's average yearly fiscal benefit (modelled).
            yearly = benefits.by_partner("fiscal").mean(axis=1)
            partners["benefit"] = partners["partner"].map(yearly).fillna(0.0)
        fixed = None
        if {"standalone_cost", "variable_cost"} <= set(partners.columns):
            fixed = max(cost_to_share - float(partners["variable_cost"].sum()), 0.0)
        rules = _split_rules(place)
        opts = split_options(partners, cost_to_share, rules=rules, fixed_cost=fixed)
        pounds = opts.pounds().reset_index().rename(columns={"partner": "Partner"})
        rule_cols = [c for c in pounds.columns if c != "Partner"]
        pub.table("split_options", pounds,
                  title=f"What each partner would pay towards the {year_label} funding gap of "
                  f"£{cost_to_share:,.0f}, under each rule", chapter="split", other=rule_cols,
                  formats={c: "gbp" for c in rule_cols},
                  notes=["Contributions are budget decisions about organisations, not figures "
                         "about people."])
        props = opts.property_table().reset_index().rename(columns={"rule": "Rule"})
        pub.table("split_properties", props, title="Can any partner reasonably refuse? "
                  "Properties of each rule", chapter="split")
        # SplitOptions holds the game's cost function (a closure), so keep its views.
        spl.results.update({"lines": dict(opts.lines), "year": year_label,
                            "cost": cost_to_share})
        spl.headline.update({"cost_to_share": cost_to_share, "year": year_label,
                             "rules": len(rule_cols)})
        spl.text["summary"] = _split_summary(opts, year_label, cost_to_share)
    else:
        spl.status, spl.reason = "skipped", ("The central grant covers the whole running cost "
                                             "in every year modelled, so there is nothing to "
                                             "share.")

    # ---- chapter 6: sustaining it
    sus = Section("sustain", "Sustaining it")
    f = funding.rename(columns={"financial_year": "Year", "total_cost": "Cost",
                                "grant": "Central grant", "gap": "Funding gap"})
    cols = [c for c in ("Year", "Cost", "Central grant", "Funding gap") if c in f]
    pub.table("funding_cliff", f[cols], title="The funding cliff: running cost, grant and the "
              "gap partners must fill (real pounds)", chapter="sustain",
              other=[c for c in cols if c != "Year"],
              formats={c: "gbp" for c in cols if c != "Year"})
    o = res.to_frame("options")
    rule_order = list(dict.fromkeys(o["rule"]))
    for what, col, title, fmt in (
            ("npv", "npv", "Each partner's net present value (benefits minus contribution), "
             "by rule", "gbp"),
            ("probability", "p_breakeven", "Each partner's chance that its benefits cover its "
             "contribution, by rule", "{:.0%}")):
        wide = o.pivot(index="partner", columns="rule", values=col)[rule_order]
        wide = wide.reindex(list(dict.fromkeys(o["partner"]))).reset_index()
        wide = wide.rename(columns={"partner": "Partner"})
        wide.columns.name = None
        pub.table(f"sustain_{what}", _with_n(wide, n_people), title=title, chapter="sustain",
                  derived={c: "_people" for c in rule_order},
                  formats={c: fmt for c in rule_order},
                  notes=[f"Over {res.n_draws:,} Monte Carlo draws of the effect estimates; "
                         "NPVs are means, in real pounds, discounted."])
    be = res.to_frame("breakeven")[["rule", "fraction", "binding_partner"]].rename(
        columns={"rule": "Rule", "fraction": "Share of the estimated effect needed",
                 "binding_partner": "Last partner to break even"})
    pub.table("breakeven", _with_n(be, n_people), title="Break-even: how much of the estimated "
              "effect is needed for every partner to come out ahead", chapter="sustain",
              derived={"Share of the estimated effect needed": "_people"},
              formats={"Share of the estimated effect needed": "{:.0%}"},
              notes=["A share above 100% means every partner breaks even only if the pilot "
                     "does better than estimated; blank means never under that rule."])
    co = res.to_frame("coalitions")
    if len(co):
        co = co[["partners", "pv_benefit", "surplus", "p_covers"]].rename(columns={
            "partners": "Partners", "pv_benefit": "PV of their benefits",
            "surplus": "Surplus over the gap", "p_covers": "Chance it covers the gap"})
        pub.table("coalitions", _with_n(co.head(10), n_people), title="Smallest groups of "
                  "partners whose own benefits cover the whole funding gap", chapter="sustain",
                  derived={c: "_people" for c in co.columns if c != "Partners"},
                  formats={"PV of their benefits": "gbp", "Surplus over the gap":
                           "gbp", "Chance it covers the gap": "{:.0%}"})
    tor = res.to_frame("tornado")
    if len(tor):
        sus.results["tornado"] = tor
    h = res.headline
    sus.headline.update({
        "pv_gap": float(h["pv_gap"]), "first_gap_year": h["first_gap_year"],
        "p_place": pub.derived(float(h["p_place"]), n_people),
        "place_npv": pub.derived(float(h["place_npv"]), n_people),
        "place_breakeven": pub.derived(float(h["place_breakeven"]), n_people)
        if h["place_breakeven"] == h["place_breakeven"] else float("nan"),
        "mvc_size": h["mvc_size"],
    })
    sus.results.update({"result": res, "scenario": sc})
    sus.text["summary"], sus.text["decision"] = _sustain_summary(res, pub, n_people)

    # ---- the finance lead's workbook, linked from the chapters: only when its figures are
    # publishable (it holds the modelled values the tables above would otherwise hide)
    if not any(isinstance(v, str) and v == pub.policy.symbol for v in sus.headline.values()):
        book_xlsx = pub.book_dir / "_static" / "downloads" / "finance-options.xlsx"
        res.to_excel(book_xlsx)
        sus.results["workbook"] = "_static/downloads/finance-options.xlsx"
    return [ben, spl, sus]


def _yearly(value: Any, horizon: int) -> list[float]:
    if isinstance(value, (list, tuple)) or hasattr(value, "__len__"):
        vals = [float(v) for v in value]
        return (vals + [vals[-1]] * horizon)[:horizon]
    return [float(value)] * horizon


def _split_rules(place: Place) -> list[str]:
    s = place.settings.split
    out = []
    for r in s.rules:
        if r == "proportional" and s.driver:
            out.append(f"proportional:{s.driver}")
        else:
            out.append(r)
    return out


def _benefits_summary(h: dict[str, Any], price_year: str) -> str:
    from .runtime import format_value as fv

    if isinstance(h["npv"], str):
        return ("**What it is worth.** The evaluation rests on too few people to publish "
                "the value of the benefits.")
    verdict = "more than pays for itself" if h["npv"] > 0 else "does not pay for itself"
    return (f"**What it is worth.** Valued with sourced unit costs ({price_year} prices, "
            f"discounted as the Green Book requires), the pilot's benefits to public budgets "
            f"are worth {fv(h['pv_benefits'], 'gbp')} against costs of "
            f"{fv(h['pv_costs'], 'gbp')}: on these estimates it {verdict} (benefit-cost ratio "
            f"{fv(h['bcr'], 'ratio')}). {fv(h['cashable'], 'gbp')} of the benefits is cashable "
            "(money actually released); the rest is capacity freed for other work. "
            "[More: Who benefits](who-benefits.md)")


def _split_summary(opts: Any, year: str, cost: float) -> str:
    props = opts.property_table(display=False)
    in_core = [r for r, ok in zip(props.index, props.get("in_core", [])) if ok is True]
    text = (f"**Sharing the cost.** From {year} the partners must find "
            f"£{cost:,.0f} a year between them. {len(opts.labels)} ways of splitting it are "
            "compared in [Sharing the cost](sharing-the-cost.md)")
    if in_core:
        text += (f"; {', '.join(in_core[:3])} leave no partner, or group of partners, better "
                 "off going alone.")
    else:
        text += "."
    return text


def _sustain_summary(res: Any, pub: Publisher, n_people: int) -> tuple[str, str]:
    from .runtime import format_value as fv

    h = res.headline
    p_place = pub.derived(float(h["p_place"]), n_people)
    if isinstance(p_place, str):
        return ("**After the grant.** Too few people are behind the estimates to publish "
                "the chances.", "")
    o = res.to_frame("options")
    best = o.groupby("rule")["p_breakeven"].min().sort_values(ascending=False)
    best_rule, best_p = best.index[0], float(best.iloc[0])
    summary = (f"**After the grant.** The grant tapers away; the gap partners must fill is "
               f"worth {fv(h['pv_gap'], 'gbp')} over the period modelled. Taken together, the "
               f"partners' benefits cover it with a {fv(p_place, 'pct')} chance. Under "
               f"*{best_rule}*, the rule that gives every partner the best worst-case chance, "
               f"even the least likely partner breaks even with a {fv(best_p, 'pct')} chance. "
               "[More: Sustaining it](sustaining-it.md)")
    if p_place >= 0.8:
        decision = (f"Keep the pilot going and agree a split now. The evidence says the "
                    f"partners together are likely to get their money back; *{best_rule}* "
                    "is the split that leaves the fewest partners at risk.")
    elif p_place >= 0.5:
        decision = ("Keep the pilot going while the evidence firms up, and agree a split that "
                    f"no partner can reasonably refuse (*{best_rule}* does best here). The "
                    "partners together more likely than not get their money back, but the "
                    "chance is not yet high: review the estimates after another year of data.")
    else:
        decision = ("On current evidence the partners' own benefits are unlikely to cover the "
                    "cost once the grant ends. Before committing, look for a smaller, cheaper "
                    "model, other funders, or stronger evidence of effect.")
    return summary, decision


STEPS["evaluate"] = step_evaluate
STEPS["finance"] = step_finance  # after "evaluate", whose effects it values
STEPS["community"] = step_community
_STEP_SECTIONS["community"] = ("challenges", "early_help")


def step_summary(place: Place, ctx: ReportContext, pub: Publisher) -> Section:
    """The summary page's 'at a glance' table, from the other sections' published headlines."""
    from .runtime import format_value as fv

    sec = Section("summary", "Summary for decision-makers")
    rows = []

    def add(label: str, value: Any, fmt: str, chapter: str) -> None:
        rows.append({"What": label, "Figure": fv(value, fmt), "Where it comes from": chapter})

    ev = ctx.sections.get("evaluate")
    if ev is not None and ev.ok:
        add("People in the pilot", ev.headline["n_treated"], "count", "Did it work?")
        add("Strength of evidence (Maryland scale)", f"level {ev.headline['sms_level']} of 5",
            "text", "Did it work?")
    w = ctx.sections.get("waste")
    if w is not None and w.ok:
        add("Stories retold to a new organisation", w.headline["stories"], "count",
            "Pillar to post")
        add("Avoidable cost of failure demand", w.headline["avoidable_cost"], "gbp",
            "Pillar to post")
    b = ctx.sections.get("benefits")
    if b is not None and b.ok:
        add("Benefits to public budgets (present value)", b.headline["pv_benefits"], "gbp",
            "Who benefits")
        add("Benefit-cost ratio", b.headline["bcr"], "ratio", "Who benefits")
    su = ctx.sections.get("sustain")
    if su is not None and su.ok:
        add("Funding gap after the grant (present value)", su.headline["pv_gap"], "gbp",
            "Sustaining it")
        add("Chance the partners' benefits cover the gap", su.headline["p_place"], "pct",
            "Sustaining it")
    if not rows:
        raise InputError("No analysis ran for this place, so there is nothing to summarise.")
    pub.table("at_a_glance", pd.DataFrame(rows), title="At a glance", chapter="summary",
              notes=["Every figure has passed disclosure control; the chapter named gives the "
                     "detail."])
    return sec


STEPS["summary"] = step_summary


def step_accounting(place: Place, ctx: ReportContext, pub: Publisher) -> Section:
    """Row accounting, published last: rows read, used and excluded when loading, and the
    rows or people each analysis then set aside, with the reasons."""
    sec = Section("accounting", "Row accounting")
    rows = []
    for a in place.accounting:
        reasons = "; ".join(f"{n:,} {r}" for r, n in a.exclusions.items()) or "none"
        rows.append({"Table": a.table, "File": a.file or "", "Rows read": a.read,
                     "Rows used": a.used, "Rows excluded": a.excluded,
                     "Why excluded": reasons})
    nums = ["Rows read", "Rows used", "Rows excluded"]
    pub.table("row_accounting", pd.DataFrame(rows), title="Every input row: read, used or "
              "excluded when loading, and why", chapter="data", other=nums,
              formats={c: "{:,.0f}" for c in nums},
              notes=["Counts of records (rows) in the input files, not of people."])
    later = [e for s_ in ctx.sections.values() for e in s_.results.get("exclusions", [])]
    if later:
        pub.table("analysis_exclusions", pd.DataFrame(later), title="What each analysis then "
                  "set aside, and why", chapter="data", counts=["Rows"],
                  notes=["Rows of a table, or people for the evaluation. Each analysis uses "
                         "every loaded row except these."])
    return sec


STEPS["accounting"] = step_accounting
