"""evaluate_place data preparation, exclusions, clear errors and the SMS rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalkit.errors import InputError
from evalkit.evaluate.place import _verdict, evaluate_place, rate_sms
from evalkit.evaluate.place_data import (
    NEVER,
    PersonPanel,
    _allocate,
    area_panel,
    excluded_frame,
    person_cross_section,
    prepare_person_panel,
)
from evalkit.place import Place
from evalkit.synthetic import make_place

AE = "ae_attendances"


@pytest.fixture(scope="module")
def small():
    place, truth = make_place(3000, seed=4, validate=False)
    return place, truth


def with_tables(place: Place, **tables) -> Place:
    t = dict(place.tables)
    for k, v in tables.items():
        if v is None:
            t.pop(k, None)
        else:
            t[k] = v
    return Place(place.settings, t, place.accounting)


def with_settings(place: Place, section: str = "evaluation", **kw) -> Place:
    s = place.settings
    new = s.model_copy(update={section: getattr(s, section).model_copy(update=kw)})
    return Place(new, place.tables, place.accounting)


def quick(place: Place, **kw):
    kw.setdefault("outcomes", [AE])
    kw.setdefault("designs", [])
    return evaluate_place(place, progress=False, n_boot=0, **kw)


# ----------------------------------------------------------------------------- errors
def test_no_outcomes_table(small):
    place, _ = small
    with pytest.raises(InputError, match="no outcomes table.*data: outcomes"):
        quick(with_tables(place, outcomes=None))
    with pytest.raises(InputError, match="no outcomes table"):
        prepare_person_panel(with_tables(place, outcomes=None))


def test_empty_outcomes_table(small):
    place, _ = small
    with pytest.raises(InputError, match="has no rows"):
        prepare_person_panel(with_tables(place, outcomes=place.outcomes.iloc[:0]))


def test_unknown_outcomes_designs_and_options(small):
    place, _ = small
    with pytest.raises(InputError, match=r"\['nope'\].*ae_attendances"):
        quick(place, outcomes=["nope"])
    with pytest.raises(InputError, match="Unknown design"):
        quick(place, designs=["regression_discontinuity"])
    with pytest.raises(InputError, match="allocation"):
        quick(place, allocation="lottery")
    with pytest.raises(InputError, match="too few for uniform bands"):
        evaluate_place(place, outcomes=[AE], designs=[], n_boot=50, progress=False)
    bad = with_settings(place, placebo_outcomes=["not_a_measure"])
    with pytest.raises(InputError, match="placebo_outcomes"):
        quick(bad)
    with pytest.raises(InputError, match="both as outcomes"):
        quick(place, outcomes=[AE, "elective_admissions"])
    with pytest.raises(InputError, match="not columns of the people table"):
        prepare_person_panel(place, [AE], covariates=["shoe_size"])
    with pytest.raises(InputError, match="missing must be"):
        prepare_person_panel(place, [AE], missing="impute")


def test_fewer_than_min_treated(small):
    place, _ = small
    people = place.people.copy()
    treated = people.index[people["pilot_start"].notna()]
    people.loc[treated[10:], "pilot_start"] = pd.NaT
    with pytest.raises(InputError, match="fewer than 20 treated people \\(10\\)"):
        quick(with_tables(place, people=people))


def test_no_pre_period(small):
    place, _ = small
    people = place.people.copy()
    people.loc[people["pilot_start"].notna(), "pilot_start"] = pd.Timestamp("2021-04-01")
    with pytest.raises(InputError, match="no pre-period.*first period"):
        quick(with_tables(place, people=people))


def test_too_few_never_treated_for_never_comparison(small):
    place, _ = small
    people = place.people.copy()
    scope = people["in_scope"].astype(bool)
    never = people.index[scope & people["pilot_start"].isna()]
    people.loc[never[5:], "pilot_start"] = pd.Timestamp("2024-06-01")
    p2 = with_settings(with_tables(place, people=people), comparison="never_treated")
    with pytest.raises(InputError, match="only 5 people are never treated.*not_yet_treated"):
        quick(p2)


def test_duplicate_outcome_rows(small):
    place, _ = small
    out = place.outcomes
    dup = pd.concat([out, out.iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError, match="more than once"):
        prepare_person_panel(with_tables(place, outcomes=dup), [out["measure"].iloc[0]])


# ----------------------------------------------------------------------------- exclusions
def test_missing_person_periods_dropped_or_zero(small):
    place, _ = small
    out = place.outcomes
    ids = out.loc[out["measure"] == AE, "person_id"].drop_duplicates().iloc[:3].tolist()
    hole = (out["person_id"].isin(ids)) & (out["period"] == pd.Timestamp("2022-01-01")) & (
        out["measure"] == AE)
    p2 = with_tables(place, outcomes=out.loc[~hole])
    full = prepare_person_panel(place, [AE])
    dropped = prepare_person_panel(p2, [AE])
    assert dropped.n_people == full.n_people - 3
    row = dropped.excluded[dropped.excluded["reason"].str.startswith("not observed")]
    assert int(row["units"].iloc[0]) == 3 and int(row["rows"].iloc[0]) == 3 * 47
    zero = prepare_person_panel(p2, [AE], missing="zero")
    assert zero.n_people == full.n_people
    assert any("taken as 0" in n for n in zero.notes)
    i = list(zero.person_ids).index(ids[0])
    assert zero.Y[AE][i, list(zero.periods).index(pd.Timestamp("2022-01-01"))] == 0.0


def test_study_window_and_first_period_starts(small):
    place, _ = small
    p2 = with_settings(place, study_start=pd.Timestamp("2021-07-01").date())
    full = prepare_person_panel(place, [AE])
    cut = prepare_person_panel(p2, [AE])
    assert cut.periods[0] == pd.Timestamp("2021-07-01") and cut.n_periods == 45
    row = cut.excluded[cut.excluded["stage"] == "study window"]
    assert int(row["rows"].iloc[0]) == full.n_people * 3
    # four treated people moved to start in the first month: excluded, counted
    people = place.people.copy()
    tr = people.index[people["pilot_start"].notna()][:4]
    people.loc[tr, "pilot_start"] = pd.Timestamp("2021-04-15")
    p3 = prepare_person_panel(with_tables(place, people=people), [AE])
    row = p3.excluded[p3.excluded["reason"].str.contains("no pre-period")]
    assert int(row["units"].iloc[0]) == 4 and p3.n_treated == full.n_treated - 4
    # a start after the window: comparison throughout, with a note
    people = place.people.copy()
    people.loc[tr[:1], "pilot_start"] = pd.Timestamp("2030-01-01")
    p4 = prepare_person_panel(with_tables(place, people=people), [AE])
    assert p4.n_treated == full.n_treated - 1 and any("after the last period" in n
                                                      for n in p4.notes)


def test_out_of_scope_and_no_rows(small):
    place, _ = small
    panel = prepare_person_panel(place, [AE])
    people = place.people
    n_scope = int(people["in_scope"].astype(bool).sum())
    ex = panel.excluded.set_index("reason")
    assert int(ex.iloc[0]["units"]) == len(people) - n_scope
    assert panel.n_people == n_scope
    # a person in scope without outcome rows is counted
    out = place.outcomes
    gone = out["person_id"].iloc[0]
    p2 = prepare_person_panel(with_tables(place, outcomes=out[out["person_id"] != gone]), [AE])
    assert p2.n_people == n_scope - 1
    assert int(p2.excluded.loc[p2.excluded["reason"].str.startswith("no outcome rows"),
                               "units"].iloc[0]) == 1


# ----------------------------------------------------------------------------- cross-section
def tiny_panel() -> PersonPanel:
    Y = np.array([[1.0, 2, 3, 4],     # treated from period 2
                  [0.0, 0, 1, 1],     # never
                  [5.0, 3, 3, 3],     # treated from period 1
                  [2.0, 2, 2, 6]])    # never
    return PersonPanel(
        person_ids=np.array(["A", "B", "C", "D"], dtype=object),
        areas=np.array(["x", "x", "y", "y"], dtype=object),
        periods=pd.date_range("2024-01-01", periods=4, freq="MS"),
        G=np.array([2, NEVER, 1, NEVER]), Y={"m": Y},
        covariates=pd.DataFrame({"age": [30, 40, 50, 60]},
                                index=pd.Index(["A", "B", "C", "D"], name="person_id")),
        excluded=excluded_frame([]))


def test_person_cross_section_by_hand():
    panel = tiny_panel()
    cs = person_cross_section(panel, "m", seed=0, min_per_start=1).set_index("person_id")
    assert cs.loc["A", "pre_mean"] == 1.5 and cs.loc["A", "post_mean"] == 3.5
    assert cs.loc["C", "pre_mean"] == 5.0 and cs.loc["C", "post_mean"] == 3.0
    assert cs.loc["C", "change"] == -2.0 and cs.loc["A", "start_period"] == "2024-03"
    # one comparison person per start month (two months, two never-treated people)
    assert sorted(cs.loc[["B", "D"], "start_index"]) == [1, 2]
    for p in ("B", "D"):
        s = int(cs.loc[p, "start_index"])
        y = panel.Y["m"][list(panel.person_ids).index(p)]
        assert cs.loc[p, "pre_mean"] == y[:s].mean() and cs.loc[p, "post_mean"] == y[s:].mean()
    assert list(cs["age"]) == [30, 50, 40, 60]
    tm = panel.treated_means("m")
    assert tm["pre_mean"] == pytest.approx((1 + 2 + 5) / 3)
    assert tm["post_mean"] == pytest.approx((3 + 4 + 3 + 3 + 3) / 5)
    long = panel.long("m")
    assert len(long) == 16 and long["pilot_start"].isna().sum() == 8


@given(st.lists(st.integers(1, 500), min_size=1, max_size=30), st.integers(0, 3000),
       st.integers(0, 5))
def test_allocate_properties(counts, total, minimum):
    c = np.array(counts, dtype=float)
    a = _allocate(c, total, minimum)
    assert a.sum() == total and (a >= 0).all()
    floor = minimum if total >= minimum * len(c) else 0
    assert (a >= floor).all()
    rest = total - floor * len(c)
    assert np.all(np.abs(a - floor - rest * c / c.sum()) < 1 + 1e-9)


# ----------------------------------------------------------------------------- area panel
def test_area_panel_rates_and_exclusions(small):
    place, _ = small
    panel = prepare_person_panel(place, [AE])
    ap = area_panel(place, panel, [AE])
    assert ap.source == "area_outcomes table"
    d = ap.data
    people = place.people[place.people["in_scope"].astype(bool)]
    a0 = d["area"].iloc[0]
    n0 = int((people["area"] == a0).sum())
    row = d.iloc[0]
    src = place.area_outcomes
    cnt = src[(src["area"] == a0) & (src["measure"] == AE) & (src["period"] == row["period"])]
    assert row["count"] == cnt["value"].iloc[0] and row["people"] == n0
    assert row["value"] == pytest.approx(cnt["value"].iloc[0] / n0 * 1000)
    # the same counts from summing the person panel (area totals are over people in scope)
    ap2 = area_panel(with_tables(place, area_outcomes=None), panel, [AE])
    assert ap2.source == "person panel summed by area"
    m = d.merge(ap2.data, on=["area", "period", "measure"])
    assert len(m) == len(d) and np.allclose(m["count_x"], m["count_y"])
    # areas with too few people in scope are left out and counted
    every = area_panel(place, panel, [AE], min_people=0)
    assert every.excluded.empty
    sizes = every.data.groupby("area")["people"].first().sort_values()
    assert sizes.iloc[0] < sizes.iloc[1]
    ap3 = area_panel(place, panel, [AE], min_people=int(sizes.iloc[1]))
    assert int(ap3.excluded["units"].iloc[0]) == 1
    assert int(ap3.excluded["rows"].iloc[0]) == panel.n_periods
    assert sizes.index[0] not in set(ap3.data["area"])
    live = place.areas.set_index("area")["pilot_start"]
    assert (ap.data.groupby("area")["pilot_start"].first().dropna()
            == live.reindex(ap.data["area"].unique()).dropna()).all()


# ----------------------------------------------------------------------------- SMS rules
def test_sms_rules_by_hand():
    ok = rate_sms({"a": 0.5, "b": 0.2}, {"p": True})
    assert ok.level == 3 and (ok.by_outcome["level"] == 3).all()
    assert "placebo outcomes show no effect" in ok.text
    pt = rate_sms({"a": 0.5, "b": 0.01}, {"p": True})
    assert pt.level == 2 and pt.by_outcome["level"].tolist() == [3, 2]
    assert "pre-trend test fails" in pt.text and "lowest: b" in pt.text
    plc = rate_sms({"a": 0.5, "b": 0.2}, {"p": False})
    assert plc.by_outcome["level"].tolist() == [2, 2] and "placebo" in plc.text
    floor = rate_sms({"a": 0.001}, {"p": False})
    assert floor.level == 2
    nan = rate_sms({"a": float("nan")})
    assert nan.level == 2 and "could not be tested" in nan.by_outcome["reasons"].iloc[0]
    assert "no placebo outcome was analysed" in nan.by_outcome["reasons"].iloc[0]
    assert rate_sms({"a": 0.5}, allocation="random_order").level == 4
    assert rate_sms({"a": 0.5}, {"p": True}, allocation="randomised").level == 5
    assert rate_sms({"a": 0.5}, allocation="randomised", max_baseline_smd=0.2).level == 4
    assert rate_sms({"a": 0.03}, alpha=0.01).level == 3       # alpha is the evaluation's
    with pytest.raises(InputError, match="allocation"):
        rate_sms({"a": 0.5}, allocation="coin")
    with pytest.raises(InputError, match="at least one"):
        rate_sms({})
    assert "Rule 1" in str(ok.summary()) and repr(ok).startswith("<SMSRating level 3")


def test_verdicts():
    v = _verdict("arrests", -0.01, -0.015, -0.005, 0.0001, 0.05, -20, -30, -10,
                 "per person per month")
    assert v.startswith("We are confident that the pilot reduced arrests: by about 0.0100")
    assert "20% of the pilot group's level" in v and "-30% to -10%" in v
    v = _verdict("arrests", 0.01, 0.001, 0.02, 0.03, 0.05, 20, 2, 40, "per person per month")
    assert v.startswith("We are fairly confident that the pilot increased arrests")
    v = _verdict("arrests", -0.01, -0.03, 0.01, 0.3, 0.05, -20, -60, 20, "per person per month")
    assert v.startswith("No clear change in arrests") and "including no effect" in v


# ----------------------------------------------------------------------------- options
def test_area_allocation_clusters_by_area(small):
    place, truth = small
    p2 = with_settings(place, "pilot", unit="area")
    ev = quick(p2)
    h = ev.headline[AE]
    assert h.diagnostics["clusters"] == len(place.areas)
    assert any("clustered by area" in n for n in ev.notes)
    assert any("unreliable" in w for w in ev.warnings)
    person = quick(place)
    assert person.headline[AE].estimate == pytest.approx(h.estimate, rel=1e-12)
    assert person.headline[AE].se != pytest.approx(h.se, rel=1e-3)


def test_no_checks_and_keep_influence(small):
    place, _ = small
    ev = quick(place, keep_influence=True)
    assert set(ev.to_frame("robustness")["check"]) == {"headline", "per_person",
                                                       "pre_trends"}
    assert ev.checks == {} and ev.placebo_outcomes == []
    agg = ev.headline[AE].aggregate("dynamic", min_e=-3, max_e=3)
    assert list(agg["term"]) == [f"e={e}" for e in range(-3, 4)] + ["overall"]
    assert ev.headline[AE].draws is None      # n_boot=0: analytic only
    assert ev.to_frame("dynamic")["band_lower"].isna().all()


def test_randomised_allocation_checks_baseline_balance(small):
    place, _ = small
    ev = quick(place, allocation="randomised")
    # the synthetic pilot group is needier than the rest: not what randomisation gives
    row = ev.sms.by_outcome.iloc[0]
    assert "baseline covariates differ" in row["reasons"]
    assert row["design_level"] == 5
    assert ev.sms.level == 5 - 1 - (not row["pre_trends_ok"])
    assert not ev.limitations()[0].startswith("Who joined the pilot")


def test_whole_area_checks_skip_with_a_reason(small):
    place, _ = small
    areas = place.areas.copy()
    areas["pilot_start"] = pd.NaT
    people = place.people      # person starts still define the treated
    ev = quick(with_tables(place, areas=areas, people=people),
               designs=["synthetic_control", "its"])
    assert "synthetic_control" not in ev.checks
    assert any("no go-live dates" in n for n in ev.notes)
    # every area live but one: too few comparison areas
    areas = place.areas.copy()
    never = areas.index[areas["pilot_start"].isna()]
    areas.loc[never[1:], "pilot_start"] = pd.Timestamp("2024-01-01")
    ev = quick(with_tables(place, areas=areas), designs=["synthetic_control", "its"])
    assert any("at least 2 are needed" in n for n in ev.notes)
