"""evaluate_place on the default demo place (20,000 residents, seed 20240401): the
report's "Did it work?" numbers against the planted truth, and the result object.

Tolerances. Each headline check is a 95% confidence interval covering the planted
ATT (a 95% event each; the place and the seed are fixed, so the test is
deterministic). Uniform bands are 95% sup-t bands over the whole event-study path.
Bootstrap draws: their mean is within 4 Monte Carlo SEs (SE/sqrt(499)) of the
estimate and their SD within 15% of the analytic SE (the SD of a 499-draw SD is
about 3%; the multiplier-bootstrap and analytic SEs agree asymptotically).
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from evalkit.benefits import benefits_by_partner
from evalkit.evaluate.place import PlaceEvaluation, evaluate_place
from evalkit.evaluate.result import EffectResult
from evalkit.synthetic import make_place

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def demo():
    place, truth = make_place(validate=False)      # the demo place: every default
    ev = evaluate_place(place, progress=False)
    return place, truth, ev


def test_headline_covers_the_truth_for_every_outcome(demo):
    place, truth, ev = demo
    h = ev.to_frame("headline").set_index("outcome")
    assert list(h.index) == place.settings.evaluation.outcomes
    for m, row in h.iterrows():
        att = truth.att(m)
        assert row["ci_lower"] <= att <= row["ci_upper"], (m, row["estimate"], att)
    # the main outcome is clearly detected, and the naive direction (up) is not shown
    assert h.loc["ae_attendances", "ci_upper"] < 0


def test_placebo_shows_no_effect_and_sms_is_level_3(demo):
    _, truth, ev = demo
    pl = ev.to_frame("placebo").set_index("outcome")
    assert list(pl.index) == ["elective_admissions"]
    assert truth.att("elective_admissions") == 0.0
    assert pl.loc["elective_admissions", "passes"]
    assert ev.sms.level == 3
    by = ev.sms.by_outcome.set_index("outcome")
    assert (by["level"] == 3).all() and by["pre_trends_ok"].all()
    assert "level 3 of 5" in ev.sms.text and "not decided at random" in ev.sms.text


def test_dynamic_paths_within_uniform_bands(demo):
    _, truth, ev = demo
    dyn = ev.to_frame("dynamic")
    assert dyn["band_lower"].notna().all()
    for m in ev.outcomes + ev.placebo_outcomes:
        d = dyn[dyn["outcome"] == m].set_index("event_time")
        path = truth.att_path(m).set_index("event_time")["att"]
        common = d.index.intersection(path.index)
        assert len(common) == 30             # first starts Oct 2022: months 0-29
        inside = (d.loc[common, "band_lower"] <= path[common]) & (
            path[common] <= d.loc[common, "band_upper"])
        assert inside.all(), m
        pre = d[(d.index >= -12) & (d.index < 0)]
        assert ((pre["band_lower"] <= 0) & (0 <= pre["band_upper"])).all(), m


def test_pre_trend_tests(demo):
    _, _, ev = demo
    pt = ev.pre_trends.set_index("outcome")
    assert (pt["df"] == 12).all()            # 12 months before the start
    assert (pt["pvalue"] > 0.05).all()       # parallel trends hold by construction
    h = ev.to_frame("headline").set_index("outcome")
    assert np.allclose(h["pre_trend_pvalue"], pt.loc[h.index, "pvalue"])


def test_percent_change_and_means_by_hand(demo):
    place, _, ev = demo
    m = "ae_attendances"
    out = place.outcomes
    o = out[out["measure"] == m].merge(place.pilot_starts().rename("start").reset_index(),
                                       on="person_id")
    tr = o[o["start"].notna()]
    pre = tr[tr["period"] < tr["start"]]["value"].mean()
    post = tr[tr["period"] >= tr["start"]]["value"].mean()
    row = ev.to_frame("headline").set_index("outcome").loc[m]
    assert row["pre_mean"] == pytest.approx(pre, rel=1e-12)
    assert row["post_mean"] == pytest.approx(post, rel=1e-12)
    assert row["percent_change"] == pytest.approx(100 * row["estimate"] / pre, rel=1e-12)
    assert row["counterfactual_mean"] == pytest.approx(post - row["estimate"], rel=1e-12)
    # E-value of the rate ratio post / counterfactual (VanderWeele & Ding 2017)
    rr = 1 / (post / (post - row["estimate"]))
    assert row["e_value"] == pytest.approx(rr + np.sqrt(rr * (rr - 1)), rel=1e-9)
    assert row["e_value"] > row["e_value_ci"] > 1
    assert row["verdict"].startswith("We are confident that the pilot reduced ae_attendances")


def test_robustness_table(demo):
    _, truth, ev = demo
    rob = ev.to_frame("robustness")
    for m in ev.outcomes:
        checks = set(rob.loc[rob["outcome"] == m, "check"])
        assert checks == {"headline", "per_person", "pre_trends", "alternative_comparison",
                          "twfe", "matched_did", "synthetic_control", "its"}
    assert set(rob.loc[rob["outcome"] == "elective_admissions", "check"]) == {"placebo"}
    r = rob.set_index(["outcome", "check"])
    assert (r.xs("headline", level="check")["unit"] == "per person per month").all()
    assert (r.xs("its", level="check")["unit"] == "per 1,000 people in scope per month").all()
    # never- and not-yet-treated comparisons agree everywhere on the demo place
    assert r.xs("alternative_comparison", level="check")["consistent"].all()
    # TWFE: the Goodman-Bacon weighted sum equals it
    for m in ev.outcomes:
        bac = ev.checks["bacon"][m]
        comp = bac.tables["comparisons"]
        assert float((comp["weight"] * comp["estimate"]).sum()) == pytest.approx(
            r.loc[(m, "twfe"), "estimate"], abs=1e-10)
    # matched DiD of A&E covers the per-person truth (its estimand)
    gt = truth.att_gt("ae_attendances")
    per = gt.groupby("cohort").agg(att=("att", "mean"), n=("n_people", "first"))
    tp = float(np.average(per["att"], weights=per["n"]))
    md = r.loc[("ae_attendances", "matched_did")]
    assert md["ci_lower"] <= tp <= md["ci_upper"]
    cs_group = r.loc[("ae_attendances", "per_person")]
    assert cs_group["ci_lower"] <= tp <= cs_group["ci_upper"]


def pooled_area_truth(place, truth, measure: str) -> float:
    """Planted whole-area effect per 1,000 people in scope per month, pooled over waves
    with weights people in scope x post months (as evaluate_place pools them)."""
    areas = place.areas.set_index("area")
    scope = place.people[place.people["in_scope"].astype(bool)].groupby("area").size()
    b = truth.by_area_period[truth.by_area_period["measure"] == measure]
    periods = pd.date_range("2021-04-01", periods=48, freq="MS")
    eff, w = [], []
    for start, live in areas[areas["pilot_start"].notna()].groupby("pilot_start").groups.items():
        total = b[b["area"].isin(live)].groupby("period")["effect"].sum()
        n_post = int((periods >= start).sum())
        people = int(scope.reindex(live).sum())
        eff.append(total[total.index >= start].sum() / n_post / people * 1000)
        w.append(people * n_post)
    return float(np.average(eff, weights=w))


def test_whole_area_checks_recover_the_planted_area_effects(demo):
    place, truth, ev = demo
    tab = ev.to_frame("area_designs")
    assert len(tab) == 3 * 2 * len(ev.outcomes)        # 3 waves x SC and ITS x outcomes
    assert set(tab["wave"]) == {"wave 2022-10", "wave 2023-04", "wave 2023-10"}
    # five never-live areas: the smallest placebo p-value possible is 1/6
    sc = tab[tab["design"] == "synthetic_control"]
    assert np.allclose(sc["min_pvalue"], 1 / 6) and (sc["pvalue"] >= 1 / 6 - 1e-12).all()
    r = ev.to_frame("robustness").set_index(["outcome", "check"])
    for m in ev.outcomes:
        tr = pooled_area_truth(place, truth, m)
        its = r.loc[(m, "its")]
        assert its["ci_lower"] <= tr <= its["ci_upper"], (m, its["estimate"], tr)
        # de-meaned synthetic control: within 1.96 placebo SDs (no finite CI with 5 donors)
        s = r.loc[(m, "synthetic_control")]
        assert abs(s["estimate"] - tr) <= 1.96 * s["se"], (m, s["estimate"], tr)
        assert np.isnan(s["ci_lower"]) and "none can be below 0.17" in s["note"]
    # the main outcome's whole-area effect is clearly negative (truth -33 per 1,000)
    assert r.loc[("ae_attendances", "synthetic_control"), "estimate"] < -20
    assert any("never go live" in n for n in ev.notes)
    assert ev.checks["synthetic_control"]["ae_attendances"].unit.endswith(
        "per 1,000 people in scope per month")


def test_other_tables(demo):
    _, _, ev = demo
    bal = ev.to_frame("balance")
    assert {"outcome", "covariate", "smd_before", "smd_after"} <= set(bal.columns)
    a = bal[bal["outcome"] == "ae_attendances"].set_index("covariate")
    assert "pre_mean" in a.index
    assert a["smd_before"].abs().max() > 0.3 > a["smd_after"].abs().max()
    bacon = ev.to_frame("bacon")
    for m in ev.outcomes:
        assert bacon.loc[bacon["outcome"] == m, "weight"].sum() == pytest.approx(1.0)
    assert len(ev.to_frame("bacon_comparisons")) > len(bacon)
    with pytest.raises(Exception, match="No table 'nonsense'"):
        ev.to_frame("nonsense")


def test_effects_for_finance(demo):
    place, truth, ev = demo
    eff = ev.effects()
    assert list(eff) == ev.outcomes
    for m, r in eff.items():
        assert isinstance(r, EffectResult) and r.outcome == m
        assert r.unit.endswith("per person per month")
        assert len(r.draws) == 499
        assert abs(r.draws.mean() - r.estimate) < 4 * r.se / np.sqrt(499)
        assert r.draws.std(ddof=1) == pytest.approx(r.se, rel=0.15)
    tpy = ev.to_frame("treated_per_year")
    assert list(tpy["financial_year"]) == ["2022-23", "2023-24", "2024-25"]
    assert tpy["starts"].sum() == int(truth.effects["n_treated"].iloc[0]) == ev.n_treated
    res = benefits_by_partner(eff, place.benefit_map, ev.people_treated_per_year(),
                              price_year="2024-25", unit_costs=place.unit_costs,
                              n_draws=499, seed=1)
    assert res.total("fiscal") > 0       # fewer events: savings


def test_exclusions_are_counted(demo):
    place, _, ev = demo
    ex = ev.excluded
    people = place.people
    n_oos = int((~people["in_scope"].astype(bool)).sum())
    row = ex[ex["reason"].str.startswith("not in scope")]
    assert int(row["units"].iloc[0]) == n_oos
    assert ev.n_people + n_oos == len(people)
    assert ev.n_people == ev.n_treated + ev.n_never_treated


def test_summary_repr_and_plots(demo):
    _, _, ev = demo
    text = str(ev.summary())
    assert "Did it work?" in text and "Callaway & Sant'Anna" in text
    assert "Maryland Scientific Methods Scale" in text
    assert ev._repr_html_().startswith("<h4>")
    assert repr(ev).startswith("<PlaceEvaluation 'Anytown'") and "SMS level 3" in repr(ev)
    assert isinstance(ev, PlaceEvaluation)
    for kind in ("forest", "twfe_vs_cs", "bacon"):
        ax = ev.plot(kind)
        assert ax.get_title() and ax.get_xlabel()
    ax = ev.plot("event_study", outcome="arrests")
    assert "arrests" in ax.get_title() and "since" in ax.get_xlabel()
    axes = ev.plot("event_study")
    assert axes.size >= len(ev.outcomes)
    with pytest.raises(Exception, match="kind must be"):
        ev.plot("pie")


def test_limitations(demo):
    _, _, ev = demo
    lim = ev.limitations()
    assert lim[0].startswith("Who joined the pilot, and when, was not decided at random")
    assert "5 of 5 outcomes" in lim[0]
    unclear = [x for x in lim if x.startswith("The data cannot tell")]
    assert len(unclear) == 1
    h = ev.to_frame("headline").set_index("outcome")
    # exactly the outcomes whose interval includes zero are named, with their 80%-power
    # minimum detectable effect (2.8 SEs) as a share of the pre-pilot level
    includes_zero = h.index[(h["ci_lower"] <= 0) & (h["ci_upper"] >= 0)].tolist()
    assert "arrests" in includes_zero and "homeless_applications" in includes_zero
    for m in h.index:
        pct = 100 * (1.959964 + 0.841621) * h.loc[m, "se"] / h.loc[m, "pre_mean"]
        named = f"{m} (about {pct:.0f}% of the pre-pilot level)" in unclear[0]
        assert named == (m in includes_zero), m
    assert "ae_attendances" not in unclear[0]
    assert any("followed for 1 to 30 months" in x for x in lim)
    assert any("not in scope" in x for x in lim)
    assert "Limitation:" in str(ev.summary())


def test_influence_functions_are_dropped_by_default(demo):
    _, _, ev = demo
    for r in ev.headline.values():
        assert "influence" not in r.extra and "cells" not in r.extra
    assert isinstance(ev.headline["arrests"].tables["dynamic"], pd.DataFrame)
