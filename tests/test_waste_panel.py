"""Per-event flags and the person-period failure-demand panel.

The flags are the waste report's own (one implementation): summing them gives
the report's totals and costs, community's EventHistory gets the same flags,
and the panel recovers the synthetic place's planted reductions exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_waste_measures import journeys

from evalkit.community.history import EventHistory
from evalkit.errors import InputError
from evalkit.money import uprate
from evalkit.synthetic import make_place
from evalkit.waste import (
    MEASURES,
    failure_demand_panel,
    flag_events,
    measure_waste,
)


def by_id(f: pd.DataFrame, col: str) -> dict[str, object]:
    return dict(zip(f["event_id"], f[col]))


def test_flag_events_by_hand():
    f = flag_events(journeys())
    assert len(f) == 23  # 25 rows, 2 excluded (unknown type, missing organisation)
    # sorted by person, date, event_id: E40 comes before E41 on the same day
    assert f["event_id"].tolist()[14:17] == ["E40", "E41", "E42"]
    assert f["row"].tolist()[14:17] == [15, 14, 16]
    assert [k for k, v in by_id(f, "story_retold").items() if v] == ["E03"]
    assert [k for k, v in by_id(f, "reassessment").items() if v] == ["E04"]
    # bounces sit on the re-referral; E16 (31 days after E15) is not one
    bounced = {k: v for k, v in by_id(f, "bounced_referral").items() if v}
    assert bounced == {"E12": 1, "E14": 1, "E41": 1}
    assert [k for k, v in by_id(f, "ping_pong").items() if v] == ["E12", "E14", "E42"]
    assert by_id(f, "handoff_from")["E11"] == "Council"
    assert by_id(f, "handoff_from")["E10"] is None
    # waits: every referral of P2 waits for E17 (2024-05-01); P4's are never followed
    w = by_id(f, "wait_days")
    assert [w[k] for k in ("E10", "E12", "E14", "E16")] == [90, 81, 49, 11]
    assert pd.isna(w["E41"]) and pd.isna(w["E01"])
    assert [k for k, v in by_id(f, "never_followed").items() if v] == ["E41", "E42"]


def test_flag_sums_are_the_report_totals():
    ev = journeys()
    f = flag_events(ev)
    totals = measure_waste(ev).to_frame("totals").set_index("measure")["count"]
    for m in MEASURES:
        assert int(f[m].sum()) == int(totals[m]), m


@pytest.fixture(scope="module")
def place():
    return make_place(n_people=2_500, seed=11, validate=False)


def test_flags_and_costs_match_the_report_on_a_synthetic_place(place):
    pl = place.place
    money = dict(uprate=uprate, price_year="2024-25")
    shares = {"reassessment": 0.5}
    f = flag_events(pl.events, None, pl.unit_costs, pl.organisations, avoidable_share=shares,
                    **money)
    rep = measure_waste(pl.events, None, pl.unit_costs, pl.organisations,
                        avoidable_share=shares, **money)
    totals = rep.to_frame("totals").set_index("measure")["count"]
    for m in MEASURES:
        assert int(f[m].sum()) == int(totals[m]), m
    assert f.attrs["price_year"] == "2024-25"
    # pounds: same total and the same split by partner (rounding of sums only)
    assert f["avoidable_cost_gbp"].sum() == pytest.approx(rep.total_avoidable_cost, rel=1e-12)
    cbp = rep.to_frame("cost_by_partner").groupby("partner")["avoidable_cost_gbp"].sum()
    mine = f.groupby("partner")["avoidable_cost_gbp"].sum()
    mine = mine[mine > 0]
    pd.testing.assert_series_equal(mine.sort_index(), cbp[cbp > 0].sort_index(),
                                   check_names=False, rtol=1e-12)


def test_event_history_has_the_same_flags(place):
    """community's EventHistory and waste's flag_events: one implementation, same flags."""
    pl = place.place
    ev = pl.events
    f = flag_events(ev).set_index("row")
    h = EventHistory(ev, pl.people)
    assert h.n_events == len(f)
    rows = h.rows
    assert rows.tolist() == f.index.tolist()  # same order (people ids sort as they are listed)
    for name in ("handoff", "reassessment", "story_retold"):
        assert getattr(h, name).tolist() == f[name].tolist(), name
    bounces = np.bincount(h.bounce_pos, minlength=h.n_events)
    assert bounces.tolist() == f["bounced_referral"].tolist()
    ref = f.iloc[h.ref_pos]
    never = np.iinfo(np.int32).max
    wait = np.where(h.ref_next_intervention == never, -1,
                    h.ref_next_intervention.astype(np.int64) - h.day[h.ref_pos])
    assert wait.tolist() == ref["wait_days"].fillna(-1).astype(int).tolist()


def test_panel_by_hand_balanced_with_zeros():
    ev = journeys()
    people = pd.DataFrame({"person_id": ["P2", "P1", "P9"],
                           "in_scope": [True, True, True]})
    p = failure_demand_panel(ev, people, freq="Q", start="2024-01-01", end="2024-06-30",
                             measures=["reassessment", "story_retold", "bounced_referral"])
    assert list(p.columns) == ["person_id", "period", "measure", "value"]
    assert p["value"].dtype == np.int64
    assert len(p) == 3 * 2 * 3  # people (table order) x quarters x measures, zeros kept
    assert p["person_id"].unique().tolist() == ["P2", "P1", "P9"]
    assert p["period"].unique().tolist() == [pd.Timestamp("2024-01-01"),
                                             pd.Timestamp("2024-04-01")]
    v = p.set_index(["person_id", "period", "measure"])["value"]
    q1, q2 = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-04-01")
    assert v["P1", q1, "story_retold"] == 1 and v["P1", q2, "reassessment"] == 1
    assert v["P1", q1, "reassessment"] == 0
    assert v["P2", q1, "bounced_referral"] == 2  # E12 in February, E14 in March
    assert (v.loc["P9"] == 0).all()
    # events outside the periods still count towards flags inside them
    later = failure_demand_panel(ev, people, freq="Q", start="2024-04-01",
                                 measures=["reassessment"])
    assert later.set_index(["person_id", "period"])["value"]["P1", q2] == 1
    # fill=False keeps non-zero cells only
    sparse = failure_demand_panel(ev, people, freq="Q", fill=False)
    assert (sparse["value"] != 0).all()
    assert set(sparse["person_id"]) == {"P1", "P2"}


def test_panel_prices_failure_demand():
    ev = journeys()
    uc = pd.DataFrame({"item": ["Assessment", "Referral", "Any"], "cost_gbp": [300.0, 50.0, 10.0],
                       "price_year": ["2024-25"] * 3,
                       "event_type": ["assessment", "referral", "referral_declined"]})
    uc2 = pd.concat([uc, pd.DataFrame({"item": ["Contact", "Intervention"],
                                       "cost_gbp": [5.0, 100.0], "price_year": ["2024-25"] * 2,
                                       "event_type": ["contact", "intervention"]})])
    p = failure_demand_panel(ev, unit_costs=uc2, freq="M", fill=False)
    assert p["value"].dtype == float
    cost = p[p["measure"] == "avoidable_cost_gbp"].set_index(["person_id", "period"])["value"]
    # P1: story retold (300 x 1.0) in January, re-assessment (300 x 0.5) in April
    assert cost["P1", pd.Timestamp("2024-01-01")] == 300.0
    assert cost["P1", pd.Timestamp("2024-04-01")] == 150.0
    # P2: two bounced re-referrals at 50 x 1.0 (February, March)
    assert cost.loc["P2"].tolist() == [50.0, 50.0]
    assert cost.sum() == pytest.approx(measure_waste(ev, unit_costs=uc2).total_avoidable_cost)


def test_panel_recovers_the_planted_reduction_exactly(place):
    """Pilot off vs on: the panel's drop in repeats is what the generator removed."""
    off = make_place(n_people=2_500, seed=11, validate=False, pilot_shared_assessment=0.0,
                     pilot_reassessment_reduction=0.0, pilot_decline_reduction=0.0,
                     pilot_wait_reduction=0.0)
    people = place.place.people
    kw = dict(measures=["story_retold", "reassessment", "bounced_referral"])
    on_p = failure_demand_panel(place.place.events, people, **kw)
    off_p = failure_demand_panel(off.place.events, people, **kw)
    assert len(on_p) == len(off_p)
    for m, truth in (("story_retold", "stories_retold"), ("reassessment", "reassessments"),
                     ("bounced_referral", "bounced_referrals")):
        removed = (off_p.loc[off_p["measure"] == m, "value"].sum()
                   - on_p.loc[on_p["measure"] == m, "value"].sum())
        assert removed == place.truth.removed(truth) > 0, m


def test_panel_feeds_a_did_design(place):
    from evalkit.evaluate.did import TWFE

    pl = place.place
    people = pl.people.assign(pilot_start=pl.people["person_id"].map(pl.pilot_starts()))
    panel = failure_demand_panel(pl.events, people, measures=["story_retold"])
    data = panel.merge(people[["person_id", "pilot_start"]], on="person_id")
    res = TWFE(measure="story_retold", first_treat="pilot_start").fit(data)
    n_treated = int(people.loc[people["in_scope"].astype(bool), "pilot_start"].notna().sum())
    assert res.to_frame()["n_treated"].iloc[0] == n_treated
    assert np.isfinite(res.estimate)


@pytest.mark.parametrize("kw, match", [
    (dict(freq="fortnightly"), "not a period frequency"),
    (dict(measures=["waits"]), "measures must be among"),
    (dict(measures=["avoidable_cost_gbp"]), "needs unit_costs"),
    (dict(start="2024-06-01", end="2024-01-01"), "before start"),
    (dict(start="someday"), "not a date"),
    (dict(fill="yes"), "fill must be"),
    (dict(front_door_days=30), "unknown argument"),
])
def test_panel_bad_input(kw, match):
    with pytest.raises(InputError, match=match):
        failure_demand_panel(journeys(), **kw)


def test_flag_events_bad_input():
    with pytest.raises(InputError, match="unpriced"):
        flag_events(journeys(), unpriced="maybe")
    with pytest.raises(InputError, match="No unit cost"):
        flag_events(journeys(), unit_costs=pd.DataFrame(
            {"item": ["x"], "cost_gbp": [1.0], "price_year": ["2024-25"],
             "event_type": ["contact"]}))


ORGS = ["Council", "NHS", "Police"]
TYPES = ["contact", "assessment", "referral", "referral_declined", "intervention"]


@st.composite
def logs(draw):
    n = draw(st.integers(1, 40))
    rows = [(draw(st.sampled_from(["A", "B", "C"])),
             pd.Timestamp("2024-01-01") + pd.Timedelta(days=draw(st.integers(0, 200))),
             draw(st.sampled_from(ORGS)), draw(st.sampled_from(TYPES)),
             draw(st.sampled_from(ORGS + [None]))) for _ in range(n)]
    return pd.DataFrame(rows, columns=["person_id", "date", "organisation", "event_type",
                                       "referred_to"])


@settings(max_examples=40, deadline=None)
@given(logs(), st.sampled_from(["M", "Q", "Y-MAR"]))
def test_panel_sums_are_the_report_totals(ev, freq):
    p = failure_demand_panel(ev, freq=freq)
    totals = measure_waste(ev).to_frame("totals").set_index("measure")["count"]
    sums = p.groupby("measure")["value"].sum()
    for m in MEASURES:
        assert int(sums[m]) == int(totals[m]), m
    n_people, n_periods = p["person_id"].nunique(), p["period"].nunique()
    assert len(p) == n_people * n_periods * len(MEASURES)
