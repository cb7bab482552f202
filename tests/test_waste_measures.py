"""Hand-built journeys with every failure-demand count worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import InputError
from evalkit.waste import measure_waste
from evalkit.waste.measures import WasteSettings, compute_core

ROWS = [
    # event_id, person, date, organisation, event_type, referred_to
    # P1: story retold, re-assessment exactly at the 90-day boundary, 91 days is not a repeat
    ("E01", "P1", "2024-01-01", "Council", "contact", None),
    ("E02", "P1", "2024-01-01", "Council", "assessment", None),
    ("E03", "P1", "2024-01-20", "NHS", "assessment", None),       # 19 days: story retold
    ("E04", "P1", "2024-04-19", "NHS", "assessment", None),       # 90 days: re-assessment
    ("E05", "P1", "2024-07-19", "NHS", "assessment", None),       # 91 days: not a repeat
    # P2: referred and declined repeatedly (bounce at 5 days, at exactly 30, not at 31)
    ("E10", "P2", "2024-02-01", "Council", "referral", "Housing"),
    ("E11", "P2", "2024-02-05", "Housing", "referral_declined", None),
    ("E12", "P2", "2024-02-10", "Council", "referral", "Housing"),   # bounce + ping-pong
    ("E13", "P2", "2024-02-12", "Housing", "referral_declined", None),
    ("E14", "P2", "2024-03-13", "Council", "referral", "Housing"),   # 30 days: bounce + ping-pong
    ("E15", "P2", "2024-03-20", "Housing", "referral_declined", None),
    ("E16", "P2", "2024-04-20", "Council", "referral", "Mental health"),  # 31 days: neither
    ("E17", "P2", "2024-05-01", "Mental health", "intervention", None),
    # P3: one event only
    ("E20", "P3", "2024-03-01", "Police", "contact", None),
    # P4: same-day tie broken by event_id (E40 before E41 although E41 comes first in the file),
    # a referral with no referred_to, and referrals never followed by an intervention
    ("E41", "P4", "2024-06-01", "Police", "referral", None),
    ("E40", "P4", "2024-06-01", "Council", "referral_declined", None),
    ("E42", "P4", "2024-06-02", "Police", "referral", "Council"),  # ping-pong (Council declined)
    # P5/P6: front doors across a rolling 365 days, at and beyond the boundary
    ("E50", "P5", "2023-01-01", "Org A", "assessment", None),
    ("E51", "P5", "2023-06-01", "Org B", "assessment", None),
    ("E52", "P5", "2024-01-01", "Org C", "assessment", None),  # 365 days after E50: 3 doors
    ("E60", "P6", "2023-01-01", "Org A", "assessment", None),
    ("E61", "P6", "2023-06-01", "Org B", "assessment", None),
    ("E62", "P6", "2024-01-02", "Org C", "assessment", None),  # 366 days: 2 doors
    # excluded rows
    ("E70", "P7", "2024-01-01", "Council", "phone call", None),
    ("E71", "P8", "2024-01-01", None, "contact", None),
]


def journeys(with_id: bool = True) -> pd.DataFrame:
    df = pd.DataFrame(ROWS, columns=["event_id", "person_id", "date", "organisation",
                                     "event_type", "referred_to"])
    df["date"] = pd.to_datetime(df["date"])
    return df if with_id else df.drop(columns="event_id")


@pytest.fixture(scope="module")
def report():
    return measure_waste(journeys())


def total(report, measure):
    return int(report.to_frame("totals").set_index("measure").loc[measure, "count"])


def person(report, pid):
    return report.to_frame("per_person").set_index("person_id").loc[pid]


def test_totals_by_hand(report):
    assert total(report, "events") == 23
    assert total(report, "handoff") == 13          # 1 + 7 + 0 + 1 + 2 + 2
    assert total(report, "story_retold") == 1
    assert total(report, "reassessment") == 1
    assert total(report, "repeat_assessment") == 2
    assert total(report, "referral") == 6
    assert total(report, "referral_declined") == 4
    assert total(report, "bounced_referral") == 3  # P2: 2, P4: 1
    assert total(report, "ping_pong") == 3         # P2: 2, P4: 1
    assert total(report, "referral_never_followed") == 2


def test_row_accounting(report):
    acc = report.to_frame("excluded").set_index("reason")["rows"]
    assert acc.to_dict() == {"used": 23, "missing organisation": 1,
                             "unknown event type 'phone call'": 1}
    assert acc.sum() == len(ROWS)


def test_per_person_by_hand(report):
    p1 = person(report, "P1")
    assert (p1.events, p1.organisations, p1.handoffs, p1.assessments) == (5, 2, 1, 4)
    assert (p1.repeat_assessments, p1.reassessments, p1.stories_retold) == (2, 1, 1)
    assert p1.front_doors == 2
    p2 = person(report, "P2")
    assert (p2.handoffs, p2.referrals, p2.referrals_declined) == (7, 4, 3)
    assert (p2.bounced_referrals, p2.ping_pong, p2.referrals_never_followed) == (2, 2, 0)
    assert p2.front_doors == 0
    p3 = person(report, "P3")
    assert (p3.events, p3.handoffs, p3.organisations, p3.front_doors) == (1, 0, 1, 0)
    assert p3.first_date == p3.last_date == pd.Timestamp("2024-03-01")
    p4 = person(report, "P4")
    assert (p4.handoffs, p4.bounced_referrals, p4.ping_pong) == (1, 1, 1)
    assert p4.referrals_never_followed == 2
    assert person(report, "P5").front_doors == 3
    assert person(report, "P6").front_doors == 2
    assert set(report.to_frame("per_person")["person_id"]) == {"P1", "P2", "P3", "P4", "P5", "P6"}


def test_handoff_matrix_by_hand(report):
    h = report.to_frame("handoffs").set_index(["from_organisation", "to_organisation"])
    assert h["handoffs"].to_dict() == {
        ("Council", "Housing"): 3, ("Council", "Mental health"): 1, ("Council", "NHS"): 1,
        ("Council", "Police"): 1, ("Housing", "Council"): 3, ("Org A", "Org B"): 2,
        ("Org B", "Org C"): 2}
    mat = report.to_frame("handoff_matrix")
    assert mat.to_numpy().sum() == 13
    assert mat.loc["Housing", "Council"] == 3 and mat.loc["Council", "Council"] == 0


def test_repeats_by_organisation(report):
    bo = report.to_frame("by_organisation").set_index("organisation")
    assert bo.loc["NHS", "assessments"] == 3
    assert bo.loc["NHS", "reassessments"] == 1
    assert bo.loc["NHS", "stories_retold"] == 1
    assert bo.loc["NHS", "repeat_share"] == pytest.approx(2 / 3)
    assert bo.loc["Council", "handoffs_out"] == 6 and bo.loc["Council", "handoffs_in"] == 3
    assert bo.loc["Housing", "bounces_after_its_decline"] == 2
    assert bo.loc["Council", "bounces_after_its_decline"] == 1
    assert bo.loc["Housing", "ping_pong_received"] == 2
    assert bo.loc["Police", "referrals_never_followed"] == 2


def test_waits_by_hand(report):
    w = report.to_frame("waits")
    allrow = w[w["dimension"] == "all"].iloc[0]
    # P2 waits 90, 81, 49 and 11 days for the 1 May intervention; P4's two never followed
    assert (allrow.referrals, allrow.followed, allrow.never_followed) == (6, 4, 2)
    assert allrow.mean_days == pytest.approx(57.75)
    assert allrow.median_days == pytest.approx(65.0)
    assert allrow.p25_days == pytest.approx(np.percentile([11, 49, 81, 90], 25))
    assert allrow.p90_days == pytest.approx(np.percentile([11, 49, 81, 90], 90))
    assert allrow.max_days == 90
    to = w[w["dimension"] == "referred_to"].set_index("organisation")
    assert to.loc["Housing", "referrals"] == 3 and to.loc["Housing", "median_days"] == 81
    assert to.loc["(not recorded)", "never_followed"] == 1
    bands = report.to_frame("waits_distribution").set_index("band")["referrals"]
    assert bands["8-14 days"] == 1 and bands["29-56 days"] == 1
    assert bands["57-91 days"] == 2 and bands["never followed"] == 2


def test_front_door_distribution(report):
    fd = report.to_frame("front_doors")
    assert fd[["front_doors", "people"]].values.tolist() == [[2, 2], [3, 1]]


def test_same_day_ties_follow_file_order_without_event_id():
    # Without event_id, P4's referral (first in the file) comes before the same-day
    # decline, so the hand-offs become Police -> Council -> Police (2, not 1) and the
    # decline's next referral is the next day's (still a bounce).
    r = measure_waste(journeys(with_id=False))
    p4 = person(r, "P4")
    assert (p4.handoffs, p4.bounced_referrals, p4.ping_pong) == (2, 1, 1)
    assert total(r, "handoff") == 14


def test_time_of_day_orders_within_a_day():
    df = journeys().drop(columns="event_id")
    # give the decline a time after the referral: it now comes second
    i41 = df.index[df["event_type"].eq("referral") & df["person_id"].eq("P4")][0]
    i40 = df.index[df["event_type"].eq("referral_declined") & df["person_id"].eq("P4")][0]
    df.loc[i41, "date"] = pd.Timestamp("2024-06-01 09:00")
    df.loc[i40, "date"] = pd.Timestamp("2024-06-01 15:30")
    p4 = person(measure_waste(df), "P4")
    assert p4.handoffs == 2
    df.loc[i40, "date"] = pd.Timestamp("2024-06-01 08:00")
    assert person(measure_waste(df), "P4").handoffs == 1


def test_windows_are_parameters():
    r = measure_waste(journeys(), window_days=89, rereferral_days=29, front_door_days=364)
    assert total(r, "reassessment") == 0          # 90-day gap now outside
    assert total(r, "story_retold") == 1
    assert total(r, "bounced_referral") == 2      # the 30-day bounce drops out
    assert person(r, "P5").front_doors == 2
    r = measure_waste(journeys(), window_days=91)
    assert total(r, "reassessment") == 2


def test_event_type_names_are_parameters():
    df = journeys()
    df["event_type"] = df["event_type"].replace({"assessment": "triage", "referral": "ref"})
    r = measure_waste(df, event_types={"assessment": "triage", "referral": "ref"})
    assert total(r, "story_retold") == 1 and total(r, "bounced_referral") == 3
    # with default names these rows are unknown types, excluded with a reason
    r2 = measure_waste(df)
    acc = r2.to_frame("excluded").set_index("reason")["rows"]
    assert acc["unknown event type 'triage'"] == 10 and acc["unknown event type 'ref'"] == 6


def test_declined_by_referred_to():
    df = journeys()
    # a system that records declines against the referrer with the decliner in referred_to
    dec = df["event_type"].eq("referral_declined")
    df.loc[dec, "referred_to"] = df.loc[dec, "organisation"]
    df.loc[dec, "organisation"] = "Council"
    r = measure_waste(df, declined_by="referred_to")
    assert total(r, "ping_pong") == 3
    assert total(r, "bounced_referral") == 3


def test_event_type_case_and_spaces_are_normalised():
    df = journeys()
    df.loc[df["event_type"].eq("assessment"), "event_type"] = " Assessment "
    assert total(measure_waste(df), "story_retold") == 1


def test_date_window_exclusions():
    r = measure_waste(journeys(), start="2024-01-01", end="2024-06-30")
    acc = r.to_frame("excluded").set_index("reason")["rows"]
    assert acc["dated before the start date"] == 4   # P5 and P6's two 2023 assessments each
    assert acc["dated after the end date"] == 1      # P1's 19 July assessment
    assert acc.sum() == len(ROWS)
    assert r.meta["period_start"] == pd.Timestamp("2024-01-01")


def test_people_scope_and_pilot_groups():
    people = pd.DataFrame({
        "person_id": ["P1", "P2", "P3", "P4", "P5"],
        "pilot_start": pd.to_datetime(["2024-03-01", None, None, "2024-01-01", None]),
        "in_scope": [True, True, False, None, True],
    })
    r = measure_waste(journeys(), people)
    acc = r.to_frame("excluded").set_index("reason")["rows"]
    # P6's 3 rows; P7 and P8's rows keep their earlier reasons (precedence)
    assert acc["person not in the people table"] == 3
    assert acc["missing organisation"] == 1
    assert acc["person not in scope"] == 1                      # P3
    # before/after pilot start: P1's story retold (Jan) is before its 1 March start,
    # its re-assessment (April) after
    pc = r.to_frame("pilot_comparison").set_index(["group", "period", "measure"])
    assert pc.loc[("pilot", "before", "story_retold"), "value"] == 1
    assert pc.loc[("pilot", "after", "reassessment"), "value"] == 1
    # non-pilot people split at the earliest pilot start (1 Jan 2024): P2's 2 bounces after
    assert pc.loc[("non-pilot", "after", "bounced_referral"), "value"] == 2
    assert pc.loc[("pilot", "after", "bounced_referral"), "value"] == 1     # P4
    # in-scope population: P1, P2, P4 (empty = in scope), P5
    assert r.meta["population"] == 4
    assert pc.loc[("pilot", "all", "handoff"), "people"] == 2


def test_rates_per_1000_people_per_year():
    r = measure_waste(journeys(), start="2023-01-01", end="2024-12-31")
    t = r.to_frame("totals").set_index("measure")
    years = 731 / 365.25
    assert t.loc["handoff", "rate_per_1000_per_year"] == pytest.approx(13 / 6 / years * 1000)


def test_str_and_categorical_inputs_agree():
    df = journeys()
    a = compute_core(df)
    b = compute_core(df.astype({c: "category" for c in ["person_id", "organisation",
                                                        "event_type", "referred_to"]}))
    c = compute_core(df.astype({c: "object" for c in ["person_id", "organisation",
                                                      "event_type", "referred_to"]}))
    for other in (b, c):
        pd.testing.assert_frame_equal(a.occurrences, other.occurrences)
        pd.testing.assert_frame_equal(a.per_person, other.per_person)
        pd.testing.assert_frame_equal(a.waits, other.waits)


def test_column_names_are_parameters():
    df = journeys().rename(columns={"person_id": "client", "date": "when"})
    r = measure_waste(df, columns={"person_id": "client", "date": "when"})
    assert total(r, "handoff") == 13


def test_bad_inputs_have_clear_errors():
    with pytest.raises(InputError, match="no 'person_id' column"):
        measure_waste(journeys().drop(columns="person_id"))
    with pytest.raises(InputError, match="window_days must be a whole number"):
        measure_waste(journeys(), window_days=-1)
    with pytest.raises(InputError, match="unknown role"):
        measure_waste(journeys(), event_types={"assess": "x"})
    with pytest.raises(InputError, match="same event type to two roles"):
        measure_waste(journeys(), event_types={"assessment": "referral"})
    df = journeys()
    df.loc[0, "event_id"] = None
    with pytest.raises(InputError, match="event_id has 1 empty cell"):
        measure_waste(df)
    with pytest.raises(InputError, match="end .* is before start"):
        measure_waste(journeys(), start="2024-02-01", end="2024-01-01")
    with pytest.raises(InputError, match="must be a date"):
        WasteSettings(start="not a date")
    with pytest.raises(InputError, match="people.person_id must be unique"):
        measure_waste(journeys(), pd.DataFrame({"person_id": ["P1", "P1"]}))
    with pytest.raises(InputError, match="declined_by"):
        measure_waste(journeys(), declined_by="partner")


def test_empty_after_exclusions():
    df = journeys().iloc[-2:]  # only the two excluded rows
    r = measure_waste(df)
    assert total(r, "events") == 0 and total(r, "handoff") == 0
    assert r.to_frame("per_person").empty


def test_measure_subset_gives_the_same_numbers():
    full = compute_core(journeys())
    part = compute_core(journeys(), measures=("handoff", "repeat_assessment", "wait"))
    tot = part.occurrences.groupby("measure")["count"].sum()
    assert tot.to_dict() == {"handoff": 13, "reassessment": 1, "story_retold": 1}
    pd.testing.assert_frame_equal(full.waits, part.waits)
    assert part.per_person.empty
    with pytest.raises(InputError, match="measures must be among"):
        compute_core(journeys(), measures=("front_doors",))
