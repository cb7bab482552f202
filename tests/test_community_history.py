"""EventHistory: ordering, failure-demand flags and exclusions, worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.community.history import EventHistory, day_number
from evalkit.errors import InputError


def ev(rows, cols=("person_id", "date", "organisation", "event_type")):
    df = pd.DataFrame(rows, columns=list(cols))
    df["date"] = pd.to_datetime(df["date"])
    return df


PEOPLE = pd.DataFrame({"person_id": ["A", "B", "C"]})


def flags_by_row(h: EventHistory, name: str) -> list[int]:
    """Flag per original row (undo the sort)."""
    out = np.zeros(h.n_rows, dtype=int)
    out[h.rows] = getattr(h, name)
    return out.tolist()


def test_handoffs_and_repeat_assessments_by_hand():
    e = ev([
        ("A", "2024-01-01", "Council", "assessment"),   # first: never a repeat
        ("A", "2024-02-01", "NHS", "assessment"),       # 31 days, new org: story retold
        ("A", "2024-03-01", "NHS", "assessment"),       # 29 days, same org: re-assessment
        ("A", "2024-05-30", "NHS", "assessment"),       # exactly 90 days: re-assessment
        ("A", "2024-08-29", "Police", "assessment"),    # 91 days: not a repeat
        ("B", "2024-01-01", "NHS", "contact"),
        ("B", "2024-01-02", "NHS", "contact"),          # same org: no hand-off
    ])
    h = EventHistory(e, PEOPLE)
    assert flags_by_row(h, "story_retold") == [0, 1, 0, 0, 0, 0, 0]
    assert flags_by_row(h, "reassessment") == [0, 0, 1, 1, 0, 0, 0]
    # hand-offs: Council->NHS and NHS->Police for A; none for B nor across people
    assert flags_by_row(h, "handoff") == [0, 1, 0, 0, 1, 0, 0]


def test_bounces_boundary_and_one_per_decline():
    e = ev([
        ("A", "2024-01-01", "NHS", "referral_declined"),
        ("A", "2024-01-31", "Council", "referral"),     # 30 days: bounce
        ("A", "2024-03-01", "NHS", "referral_declined"),
        ("A", "2024-04-01", "Council", "referral"),     # 31 days: not a bounce
        ("B", "2024-01-01", "NHS", "referral_declined"),
        ("B", "2024-01-05", "Police", "referral_declined"),
        ("B", "2024-01-10", "Council", "referral"),     # one re-referral, two bounces
        ("C", "2024-01-01", "NHS", "referral_declined"),  # never re-referred
    ])
    e["referred_to"] = ["", "NHS", "", "NHS", "", "", "NHS", ""]
    h = EventHistory(e, PEOPLE)
    assert len(h.bounce_pos) == 3
    rows = sorted(h.rows[h.bounce_decline_pos].tolist())
    assert rows == [0, 4, 5]
    assert sorted(h.rows[h.bounce_pos].tolist()) == [1, 6, 6]
    assert sorted(h.bounce_day.tolist()) == [day_number("2024-01-10")] * 2 + [
        day_number("2024-01-31")]


def test_waits_to_next_intervention_and_open_referrals():
    e = ev([
        ("A", "2024-01-01", "NHS", "referral"),
        ("A", "2024-01-10", "NHS", "referral"),
        ("A", "2024-01-21", "Council", "intervention"),
        ("A", "2024-02-01", "NHS", "referral"),        # never followed: open
        ("B", "2024-01-01", "NHS", "referral"),
        ("C", "2024-01-03", "NHS", "intervention"),    # another person's intervention
    ])
    h = EventHistory(e, PEOPLE)
    order = np.argsort(h.rows[h.ref_pos])
    nxt = h.ref_next_intervention[order]
    d = day_number("2024-01-21")
    never = np.iinfo(np.int32).max
    assert nxt.tolist() == [d, d, never, never]


def test_same_day_ties_use_event_id_then_row_order():
    # on one day A is assessed by NHS then Council; event_id decides the order
    e = ev([
        ("A", "2024-01-01", "Council", "assessment"),
        ("A", "2024-01-01", "NHS", "assessment"),
    ])
    e["event_id"] = ["E2", "E1"]
    h = EventHistory(e, PEOPLE)
    assert h.rows.tolist() == [1, 0]  # E1 (NHS) first
    assert flags_by_row(h, "story_retold") == [1, 0]
    # without event_id, file order
    h2 = EventHistory(e.drop(columns="event_id"), PEOPLE)
    assert h2.rows.tolist() == [0, 1]
    assert flags_by_row(h2, "story_retold") == [0, 1]
    # numbers compare numerically: 10 after 9
    e["event_id"] = [10, 9]
    assert EventHistory(e, PEOPLE).rows.tolist() == [1, 0]


def test_timed_events_same_day_order_by_time_and_windows_use_dates():
    e = ev([
        ("A", "2024-01-01 15:00", "Council", "assessment"),
        ("A", "2024-01-01 09:00", "NHS", "assessment"),
        ("A", "2024-03-31 23:59", "Police", "assessment"),  # 90 calendar days later
    ])
    h = EventHistory(e, PEOPLE)
    assert h.rows.tolist() == [1, 0, 2]
    assert flags_by_row(h, "story_retold") == [1, 0, 1]


def test_exclusions_are_counted_with_reasons():
    e = ev([
        ("A", "2024-01-01", "NHS", "contact"),
        ("Z", "2024-01-01", "NHS", "contact"),          # not in people
        (None, "2024-01-01", "NHS", "contact"),
        ("A", None, "NHS", "contact"),
        ("A", "2024-01-01", None, "contact"),
        ("A", "2024-01-01", "NHS", "phone call"),       # unknown type
    ])
    h = EventHistory(e, PEOPLE)
    ex = h.excluded.set_index("reason")["rows"]
    assert h.n_events == 1
    assert ex.sum() == 5
    assert ex["person not in the people table"] == 1
    assert ex["missing person_id"] == 1
    assert ex["missing date"] == 1
    assert ex["missing organisation"] == 1
    assert ex.filter(like="unknown event_type").iloc[0] == 1


def test_partner_mapping():
    e = ev([("A", "2024-01-01", "GP", "contact"), ("A", "2024-01-02", "Acute", "contact"),
            ("A", "2024-01-03", "Police", "contact")])
    h = EventHistory(e, PEOPLE, organisation_partner={"GP": "NHS", "Acute": "NHS"})
    assert sorted(h.partners.tolist()) == ["NHS", "Police"]
    names = h.partners[h.org_partner[h.org]].tolist()
    assert names == ["NHS", "NHS", "Police"]


@pytest.mark.parametrize("bad, match", [
    (dict(events="x"), "events: expected a DataFrame"),
    (dict(drop="organisation"), "missing column"),
    (dict(window_days=-1), "window_days"),
    (dict(people=pd.DataFrame({"person_id": ["A", "A"]})), "more than once"),
    (dict(people=pd.DataFrame({"id": ["A"]})), "person_id"),
])
def test_bad_input(bad, match):
    e = ev([("A", "2024-01-01", "NHS", "contact")])
    if "drop" in bad:
        e = e.drop(columns=bad.pop("drop"))
    events = bad.pop("events", e)
    people = bad.pop("people", PEOPLE)
    with pytest.raises(InputError, match=match):
        EventHistory(events, people, **bad)


def test_day_number_errors():
    with pytest.raises(InputError, match="not a date"):
        day_number("next Tuesday")


ORGS = ["Council", "NHS", "Police"]
TYPES = ["contact", "assessment", "referral", "referral_declined", "intervention"]


@st.composite
def logs(draw):
    n = draw(st.integers(1, 40))
    rows = []
    for _ in range(n):
        rows.append((draw(st.sampled_from(["A", "B", "C"])),
                     pd.Timestamp("2024-01-01") + pd.Timedelta(days=draw(st.integers(0, 120))),
                     draw(st.sampled_from(ORGS)), draw(st.sampled_from(TYPES))))
    e = pd.DataFrame(rows, columns=["person_id", "date", "organisation", "event_type"])
    e["event_id"] = [f"E{i:04d}" for i in range(n)]
    return e


@settings(max_examples=40, deadline=None)
@given(logs(), st.randoms(use_true_random=False))
def test_properties_shuffle_invariance_and_handoff_total(e, rnd):
    h = EventHistory(e, PEOPLE)
    perm = list(range(len(e)))
    rnd.shuffle(perm)
    h2 = EventHistory(e.iloc[perm].reset_index(drop=True), PEOPLE)
    # same events in the same order (identified by event_id), same flags
    ids1 = e["event_id"].to_numpy()[h.rows]
    ids2 = e.iloc[perm]["event_id"].to_numpy()[h2.rows]
    assert ids1.tolist() == ids2.tolist()
    for name in ("handoff", "story_retold", "reassessment"):
        assert getattr(h, name).tolist() == getattr(h2, name).tolist()
    assert len(h.bounce_pos) == len(h2.bounce_pos)
    # hand-offs = organisation changes within each person's ordered events
    srt = e.assign(_r=range(len(e))).sort_values(["person_id", "date", "event_id"])
    changes = sum((g["organisation"] != g["organisation"].shift()).sum() - 1
                  for _, g in srt.groupby("person_id"))
    assert int(h.handoff.sum()) == changes
    assert h.bounce_pos.size <= int((e["event_type"] == "referral_declined").sum())
