"""Pricing failure demand: unit-cost matching, avoidable shares, partners, price years."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_waste_measures import journeys

from evalkit.errors import InputError
from evalkit.waste import DEFAULT_AVOIDABLE_SHARE, measure_waste

ORGS = pd.DataFrame({"organisation": ["Council", "NHS", "Housing"],
                     "partner": ["Council", "NHS trust", "Council"]})


def costs(**over):
    df = pd.DataFrame({
        "item": ["Assessment (any)", "Assessment (NHS)", "Referral"],
        "unit": ["per assessment", "per assessment", "per referral"],
        "cost_gbp": [200.0, 300.0, 50.0],
        "price_year": ["2023-24"] * 3,
        "partner": ["Any", "NHS trust", "Referrer"],
        "cashable_share": [0.5, 0.25, 0.0],
        "source": ["test"] * 3,
        "value_type": ["fiscal"] * 3,
        "event_type": ["assessment", "assessment", "referral"],
        "organisation": [None, "NHS", None],
        "service": [None, None, None],
    })
    for k, v in over.items():
        df[k] = v
    return df


def test_costs_by_hand():
    r = measure_waste(journeys(), unit_costs=costs(), organisations=ORGS)
    cat = r.to_frame("cost_by_category").set_index("measure")
    # story retold at NHS (E03): £300 x 1.0; re-assessment at NHS (E04): £300 x 0.5
    assert cat.loc["story_retold", "avoidable_cost_gbp"] == pytest.approx(300.0)
    assert cat.loc["reassessment", "gross_cost_gbp"] == pytest.approx(300.0)
    assert cat.loc["reassessment", "avoidable_cost_gbp"] == pytest.approx(150.0)
    # bounces priced at the re-referral: E12 and E14 (Council), E41 (Police): 3 x £50
    assert cat.loc["bounced_referral", "avoidable_cost_gbp"] == pytest.approx(150.0)
    # ping-pong and hand-offs: avoidable share 0 by default
    assert cat.loc["ping_pong", "avoidable_cost_gbp"] == 0.0
    assert cat.loc["handoff", "avoidable_cost_gbp"] == 0.0
    assert r.total_avoidable_cost == pytest.approx(600.0)
    # cashable: NHS assessments 25%, referrals 0%
    assert cat.loc["story_retold", "cashable_cost_gbp"] == pytest.approx(75.0)
    assert cat.loc["bounced_referral", "cashable_cost_gbp"] == pytest.approx(0.0)
    # partner: organisations table first, then the unit cost's partner (Police is not
    # in the organisations table, so its re-referral falls to the cost row's 'Referrer')
    part = r.to_frame("cost_by_partner").groupby("partner")["avoidable_cost_gbp"].sum()
    assert part.to_dict() == pytest.approx({"NHS trust": 450.0, "Council": 100.0,
                                            "Referrer": 50.0})
    bo = r.to_frame("by_organisation").set_index("organisation")
    assert bo.loc["NHS", "avoidable_cost_gbp"] == pytest.approx(450.0)
    assert r.meta["price_year"] == "2023-24"
    t = r.to_frame("totals").set_index("measure")
    assert t.loc["repeat_assessment", "avoidable_cost_gbp"] == pytest.approx(450.0)


def test_avoidable_share_overrides():
    r = measure_waste(journeys(), unit_costs=costs(), organisations=ORGS,
                      avoidable_share={"reassessment": 1.0, "ping_pong": 1.0,
                                       "story_retold": 0.0})
    cat = r.to_frame("cost_by_category").set_index("measure")
    assert cat.loc["reassessment", "avoidable_cost_gbp"] == pytest.approx(300.0)
    assert cat.loc["story_retold", "avoidable_cost_gbp"] == 0.0
    # ping-pong referrals E12, E14 (Council) and E42 (Police): 3 x £50
    assert cat.loc["ping_pong", "avoidable_cost_gbp"] == pytest.approx(150.0)
    assert DEFAULT_AVOIDABLE_SHARE["story_retold"] == 1.0
    with pytest.raises(InputError, match="between 0 and 1"):
        measure_waste(journeys(), unit_costs=costs(), avoidable_share={"handoff": 1.5})
    with pytest.raises(InputError, match="unknown category 'repeats'"):
        measure_waste(journeys(), unit_costs=costs(), avoidable_share={"repeats": 1.0})


def test_missing_unit_costs_listed_or_allowed():
    c = costs().iloc[:2]  # no referral cost
    with pytest.raises(InputError) as err:
        measure_waste(journeys(), unit_costs=c)
    msg = str(err.value)
    assert "event_type 'referral' at organisation 'Council'" in msg
    assert "event_type 'referral' at organisation 'Police'" in msg
    assert "unpriced='allow'" in msg
    r = measure_waste(journeys(), unit_costs=c, unpriced="allow")
    un = r.to_frame("unpriced")
    assert un["count"].sum() == 3 and set(un["organisation"]) == {"Council", "Police"}
    assert r.to_frame("cost_by_category").set_index("measure").loc[
        "story_retold", "avoidable_cost_gbp"] == pytest.approx(300.0)
    assert any("unpriced" in n for n in r.notes)


def test_no_unit_costs_means_not_priced():
    r = measure_waste(journeys())
    assert np.isnan(r.total_avoidable_cost)
    assert r.meta["priced"] is False
    assert any("Not priced" in n for n in r.notes)


def test_most_specific_unit_cost_wins_and_ties_are_errors():
    c = costs()
    svc = c.iloc[[1]].assign(item="NHS front door", service="Front door", cost_gbp=400.0)
    df = journeys()
    df["service"] = np.where(df["event_id"] == "E03", "Front door", None)
    r = measure_waste(df, unit_costs=pd.concat([c, svc], ignore_index=True))
    cat = r.to_frame("cost_by_category").set_index("measure")
    assert cat.loc["story_retold", "avoidable_cost_gbp"] == pytest.approx(400.0)
    dup = pd.concat([c, c.iloc[[2]].assign(item="Referral again")], ignore_index=True)
    with pytest.raises(InputError, match="2 equally specific rows for event type 'referral'"):
        measure_waste(journeys(), unit_costs=dup)


def test_price_years_and_uprating():
    mixed = costs(price_year=["2023-24", "2022-23", "2023-24"])
    with pytest.raises(InputError, match="2 price years"):
        measure_waste(journeys(), unit_costs=mixed)
    with pytest.raises(InputError, match="no uprate= function"):
        measure_waste(journeys(), unit_costs=costs(), price_year="2024-25")
    calls = []

    def uprate(values, from_year, to_year):
        calls.append((from_year, to_year))
        years = int(to_year[:4]) - int(from_year[:4])
        return np.asarray(values) * 1.1 ** years

    r = measure_waste(journeys(), unit_costs=mixed, uprate=uprate, price_year="2024-25")
    assert r.meta["price_year"] == "2024-25"
    cat = r.to_frame("cost_by_category").set_index("measure")
    # NHS assessments (2022-23) x 1.1^2; referrals (2023-24) x 1.1
    assert cat.loc["story_retold", "avoidable_cost_gbp"] == pytest.approx(300 * 1.21)
    assert cat.loc["bounced_referral", "avoidable_cost_gbp"] == pytest.approx(150 * 1.1)
    assert ("2022-23", "2024-25") in calls
    st = r.to_frame("settings").set_index("setting")["value"]
    assert st["price_year"] == "2024-25" and bool(st["uprated"]) is True


def test_bad_unit_cost_tables():
    with pytest.raises(InputError, match="no 'event_type' column"):
        measure_waste(journeys(), unit_costs=costs().drop(columns="event_type"))
    with pytest.raises(InputError, match="cost_gbp"):
        measure_waste(journeys(), unit_costs=costs(cost_gbp=[-1.0, 1.0, 1.0]))
