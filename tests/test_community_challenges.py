"""Shared challenges on a hand-built log: every number worked out by hand."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from evalkit.community.challenges import NOT_RECORDED, price_events, shared_challenges
from evalkit.errors import InputError

PEOPLE = pd.DataFrame({"person_id": ["A", "B", "C", "D"], "in_scope": [True, True, True, False]})
ORGS = pd.DataFrame({"organisation": ["Council housing", "Adult social care", "NHS acute",
                                      "Police"],
                     "partner": ["Council", "Council", "NHS", "Police"]})
ROWS = [
    # person, date, organisation, event_type, referred_to, need
    ("A", "2024-01-01", "Council housing", "assessment", None, "housing"),       # 1
    ("A", "2024-01-10", "NHS acute", "assessment", None, "housing"),             # 2 story
    ("A", "2024-01-12", "NHS acute", "referral", "Police", "housing"),           # 3
    ("A", "2024-01-15", "Police", "referral_declined", None, "housing"),         # 4
    ("A", "2024-01-20", "NHS acute", "referral", "Council housing", "housing"),  # 5 bounce
    ("B", "2024-02-01", "NHS acute", "contact", None, "mental health"),          # 6
    ("B", "2024-02-02", "NHS acute", "assessment", None, "mental health"),       # 7
    ("B", "2024-02-20", "NHS acute", "assessment", None, "mental health"),       # 8 re-ass.
    ("C", "2024-03-01", "Police", "contact", None, "housing"),                   # 9
    ("C", "2024-03-05", "Police", "contact", None, None),                        # 10
    ("D", "2024-03-01", "Adult social care", "assessment", None, "debt"),        # 11
]
EVENTS = pd.DataFrame(ROWS, columns=["person_id", "date", "organisation", "event_type",
                                     "referred_to", "need"])
EVENTS["date"] = pd.to_datetime(EVENTS["date"])
UNIT_COSTS = pd.DataFrame({
    "item": ["Assessment", "Acute assessment", "Referral", "Contact"],
    "unit": ["per event"] * 4, "cost_gbp": [100.0, 200.0, 50.0, 10.0],
    "price_year": ["2023-24"] * 4, "partner": ["Council", "NHS", "NHS", "Police"],
    "cashable_share": [0.0] * 4, "source": ["test"] * 4,
    "event_type": ["assessment", "assessment", "referral", "contact"],
    "organisation": [None, "NHS acute", None, None], "service": [None] * 4,
})
OUTCOMES = pd.DataFrame({
    "person_id": np.repeat(["A", "B", "C", "D"], 3),
    "period": np.tile(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]), 4),
    "measure": "ae", "value": [2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]})
TABLES = {"people": PEOPLE, "events": EVENTS, "organisations": ORGS,
          "unit_costs": UNIT_COSTS, "outcomes": OUTCOMES}


@pytest.fixture(scope="module")
def res():
    return shared_challenges(TABLES, top_shares=(0.25, 0.5))


def test_ranking_partners_touched_and_effective_number(res):
    n = res.needs.set_index("need")
    assert res.needs["need"].tolist() == ["housing", "mental health", "debt", NOT_RECORDED]
    assert res.needs["rank"].tolist() == [1, 2, 3, 0]
    assert n.loc["housing", "partners_touched"] == 3
    # housing costs £100 (Council), £300 (NHS), £10 (Police): 1 / sum(share^2)
    s = np.array([100, 300, 10]) / 410
    assert n.loc["housing", "effective_partners"] == pytest.approx(1 / np.sum(s**2))
    assert n.loc["mental health", "partners_touched"] == 1
    assert n.loc["mental health", "effective_partners"] == pytest.approx(1.0)
    assert n.loc["housing", "n_people"] == 2
    assert n.loc["housing", "n_events"] == 6
    assert n.loc["housing", "cost"] == pytest.approx(410)
    assert n.loc["housing", "cost_share"] == pytest.approx(410 / 930)
    assert n.loc["housing", "top_partner"] == "NHS"
    assert n.loc["housing", "top_partner_share"] == pytest.approx(300 / 410)


def test_need_by_partner_cells_and_shares(res):
    g = res.by_partner.set_index(["need", "partner"])
    assert g.loc[("housing", "NHS"), "n_events"] == 3
    assert g.loc[("housing", "Police"), "n_people"] == 2
    assert g.loc[("housing", "Police"), "cost"] == pytest.approx(10)  # decline unpriced
    assert g.loc[("housing", "Council"), "share_of_partner_cost"] == pytest.approx(0.5)
    assert g.loc[("mental health", "NHS"), "share_of_partner_cost"] == pytest.approx(410 / 710)
    assert g.loc[(NOT_RECORDED, "Police"), "n_events"] == 1
    m = res.matrix(share=True)
    assert m.loc["housing", "Council"] == pytest.approx(0.5)
    assert m.sum(axis=0).to_numpy() == pytest.approx(1.0)
    assert res.matrix("events").loc["housing", "NHS"] == 3


def test_failure_demand_attributed_to_needs(res):
    f = res.failure.set_index(["need", "category"])
    assert f.loc[("housing", "story_retold"), "count"] == 1
    assert f.loc[("housing", "story_retold"), "cost"] == pytest.approx(200)   # share 1.0
    assert f.loc[("housing", "bounced_referral"), "cost"] == pytest.approx(50)
    assert f.loc[("housing", "handoff"), "count"] == 3
    assert f.loc[("housing", "handoff"), "cost"] == 0                          # share 0.0
    assert f.loc[("mental health", "reassessment"), "cost"] == pytest.approx(100)  # 0.5
    n = res.needs.set_index("need")
    assert n.loc["housing", "failure_count"] == 5
    assert n.loc["housing", "failure_cost"] == pytest.approx(250)
    assert n.loc["housing", "failure_share"] == pytest.approx(250 / 410)
    # overriding an avoidable share
    r2 = shared_challenges(TABLES, avoidable_share={"handoff": 1.0})
    assert r2.needs.set_index("need").loc["housing", "failure_cost"] == pytest.approx(
        250 + 200 + 0 + 50)


def test_concentration_by_hand(res):
    c = res.concentration
    allc = c[c["scope"] == "all"].set_index("top_share")
    # events per person 5, 3, 2, 1; cost per person 400, 410, 20, 100
    assert allc.loc[0.25, "share_of_events"] == pytest.approx(5 / 11)
    assert allc.loc[0.5, "share_of_events"] == pytest.approx(8 / 11)
    assert allc.loc[0.25, "share_of_cost"] == pytest.approx(410 / 930)
    assert allc.loc[0.5, "share_of_cost"] == pytest.approx(810 / 930)
    assert allc.loc[0.5, "n_people"] == 2
    lz = res.lorenz
    assert lz["share_of_events"].iloc[0] == 0 and lz["share_of_events"].iloc[-1] == 1


def test_pricing_specificity_and_unpriced(res):
    assert res.priced
    up = res.unpriced
    assert set(up["event_type"]) == {"referral_declined"}
    assert up["n_events"].sum() == 1
    keys = pd.DataFrame({"event_type": ["assessment", "assessment"],
                         "organisation": ["NHS acute", "Police"], "service": ["A&E", None]})
    p = price_events(keys, UNIT_COSTS)
    assert p["cost_gbp"].tolist() == [200.0, 100.0]
    uc = pd.concat([UNIT_COSTS, UNIT_COSTS.iloc[[0]].assign(item="Dup")], ignore_index=True)
    with pytest.raises(InputError, match="equally specifically"):
        price_events(keys, uc)


def test_outcomes_by_need(res):
    o = res.outcomes.set_index(["need", "measure"])
    # housing people A, C: 3 attendances over 2 people x 3 months = 6 a person-year
    assert o.loc[("housing", "ae"), "rate_per_person_year"] == pytest.approx(6.0)
    assert o.loc[("housing", "ae"), "rate_without"] == 0
    assert np.isnan(o.loc[("housing", "ae"), "rate_ratio"])
    assert o.loc[("mental health", "ae"), "rate_without"] == pytest.approx(3 / 9 * 12)
    assert o.loc[("mental health", "ae"), "rate_ratio"] == 0


def test_unpriced_place_shows_counts():
    r = shared_challenges({k: v for k, v in TABLES.items() if k != "unit_costs"})
    assert not r.priced
    assert r.needs["cost"].isna().all()
    assert any("event counts" in n for n in r.notes)
    n = r.needs.set_index("need")
    # shares by events: housing is 1/2 of Council's, 3/6 of NHS's, 2/3 of Police's
    s = np.array([1, 3, 2]) / 6
    assert n.loc["housing", "effective_partners"] == pytest.approx(1 / np.sum(s**2))
    assert r.matrix().loc["housing", "Police"] == 2
    assert r.plot("heatmap").get_title().endswith("events")


def test_period_population_and_min_share():
    r = shared_challenges(TABLES, start="2024-02-01", population="in_scope")
    assert r.settings["n_events"] == 5  # B's three and C's two; D out of scope
    assert "debt" not in set(r.needs["need"])
    ex = r.excluded.set_index("reason")["rows"]
    assert ex["outside the period or population"] == 6
    r2 = shared_challenges(TABLES, min_share=0.45)
    # housing is 50% of Council's, 42% of NHS's, 50% of Police's cost
    assert r2.needs.set_index("need").loc["housing", "partners_touched"] == 2


def test_published_tables_have_people_counts(res):
    pub = res.published_tables()
    assert set(pub) == {"needs", "by_partner", "failure", "concentration", "outcomes"}
    for name, df in pub.items():
        assert "n_people" in df.columns, name
        assert not ({"A", "B", "C", "D"} & set(map(str, df.to_numpy().ravel()))), name


def test_summary_headline_repr_plots(res):
    text = res.summary().as_text()
    assert "Housing cuts across the most partners" in text
    assert "Demand is concentrated" in text
    assert repr(res).startswith("<ChallengesResult: 3 needs across 3 partners")
    for kind in ("heatmap", "concentration", "breadth"):
        ax = res.plot(kind)
        assert ax.get_title()
    assert res.plot("heatmap", share=True, value="failure_cost").get_title()
    with pytest.raises(InputError, match="kind must be"):
        res.plot("sankey")
    with pytest.raises(InputError, match="value must be"):
        res.matrix("pounds")
    with pytest.raises(InputError, match="Unknown table"):
        res.to_frame("people")


@pytest.mark.parametrize("change, kw, match", [
    (lambda t: {**t, "events": t["events"].drop(columns="need")}, {}, "no 'need' column"),
    (lambda t: {**t, "events": t["events"].assign(need=None)}, {}, "empty for every event"),
    (lambda t: t, {"min_share": 1.5}, "min_share"),
    (lambda t: t, {"avoidable_share": {"waits": 1}}, "unknown category"),
    (lambda t: t, {"avoidable_share": {"handoff": 2}}, "between 0 and 1"),
    (lambda t: t, {"top_shares": (0, 0.5)}, "top_shares"),
    (lambda t: t, {"start": "2025-01-01"}, "no events in the period"),
    (lambda t: t, {"outcome_measures": ["arrests"]}, "not in the outcomes table"),
    (lambda t: {k: v for k, v in t.items() if k != "events"}, {}, "events"),
])
def test_bad_input(change, kw, match):
    with pytest.raises(InputError, match=match):
        shared_challenges(change(TABLES), **kw)


def test_need_column_choice():
    r = shared_challenges(TABLES, need_col="organisation")
    assert set(r.needs["need"]) == set(EVENTS["organisation"])
