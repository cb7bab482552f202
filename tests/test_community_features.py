"""Person-level features at a cut-off, worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.community.features import (
    FeatureBuilder,
    OutcomeHistory,
    feature_label,
    month_number,
    person_features,
)
from evalkit.community.history import EventHistory
from evalkit.errors import InputError

PEOPLE = pd.DataFrame({
    "person_id": ["A", "B", "C"],
    "age_band": ["25-34", "75+", None],
    "sex": ["female", "male", "female"],
    "deprivation_decile": [1, 10, 5],
})
CUT = "2024-04-01"


def ev(rows):
    df = pd.DataFrame(rows, columns=["person_id", "date", "organisation", "event_type"])
    df["date"] = pd.to_datetime(df["date"])
    return df


EVENTS = ev([
    # A: a busy recent history
    ("A", "2023-03-01", "GP", "contact"),             # 397 days before: outside 365
    ("A", "2023-04-02", "GP", "contact"),             # 365 days before: inside 365
    ("A", "2023-12-01", "Council", "assessment"),     # 122 days: 365 only; prev-90 no
    ("A", "2024-01-02", "NHS", "assessment"),         # 90 days: in 90d; story retold
    ("A", "2024-01-03", "NHS", "referral"),           # referral -> intervention 01-23
    ("A", "2024-01-10", "Police", "referral_declined"),
    ("A", "2024-01-20", "NHS", "referral"),           # bounce (10 days); still open
    ("A", "2024-01-23", "Council", "intervention"),
    ("A", "2024-03-31", "GP", "contact"),             # day before the cut-off
    ("A", "2024-04-01", "GP", "contact"),             # on the cut-off: never used
    # B: one event long ago
    ("B", "2021-01-01", "GP", "contact"),
])


@pytest.fixture(scope="module")
def feats():
    return person_features(EVENTS, PEOPLE, CUT)


def test_window_counts_and_boundaries(feats):
    a = feats.loc["A"]
    assert a["events_365d"] == 8       # 2023-04-02 .. 2024-03-31
    assert a["events_90d"] == 6        # 2024-01-02 .. 2024-03-31
    assert a["contact_365d"] == 2
    assert a["contact_90d"] == 1
    assert a["assessment_365d"] == 2
    assert a["assessment_90d"] == 1
    assert a["referral_90d"] == 2
    assert a["referral_declined_90d"] == 1
    assert a["intervention_90d"] == 1
    # previous 90 days (91..180 days before): only 2023-12-01 (122 days)
    assert a["events_prev_90d"] == 1


def test_failure_demand_features(feats):
    a = feats.loc["A"]
    # hand-offs in order GP, GP, Council, NHS, NHS, Police, NHS, Council, GP: within 365
    # days the receiving events are Council(12-01), NHS(01-02), Police, NHS(01-20),
    # Council(01-23), GP(03-31)
    assert a["handoffs_365d"] == 6
    assert a["stories_retold_365d"] == 1
    assert a["reassessments_365d"] == 0
    assert a["bounced_referrals_365d"] == 1
    assert a["organisations_365d"] == 4
    assert a["org_365d:GP"] == 2
    assert a["org_365d:NHS"] == 3
    assert a["org_365d:Police"] == 1


def test_waits_and_open_referrals(feats):
    a = feats.loc["A"]
    # both referrals (01-03, 01-20) wait for the intervention on 01-23: 20 and 3 days
    assert a["mean_wait_days_365d"] == pytest.approx(11.5)
    assert a["open_referrals"] == 0
    e2 = pd.concat([EVENTS, ev([("C", "2024-02-01", "NHS", "referral"),
                                ("C", "2024-03-01", "NHS", "referral")])],
                   ignore_index=True)
    f = person_features(e2, PEOPLE, CUT)
    assert f.loc["C", "open_referrals"] == 2
    assert f.loc["C", "longest_open_wait_days"] == 60  # 2024-02-01 to 2024-04-01


def test_recency_cap_and_no_events(feats):
    assert feats.loc["A", "days_since_last_event"] == 1
    assert feats.loc["A", "no_prior_events"] == 0
    assert feats.loc["B", "days_since_last_event"] == 730  # capped
    assert feats.loc["C", "no_prior_events"] == 1
    assert feats.loc["C", "days_since_last_event"] == 730
    assert feats.loc["C", "events_365d"] == 0


def test_demographics_carried_and_types(feats):
    assert feats.loc["A", "age_band"] == "25-34"
    assert feats.loc["B", "deprivation_decile"] == 10
    assert feats["events_90d"].dtype == np.float32
    assert feats.attrs["cutoff"] == pd.Timestamp(CUT)


def test_by_partner():
    f = person_features(EVENTS, PEOPLE, CUT, by="partner",
                        organisation_partner={"GP": "NHS", "NHS": "NHS"})
    assert f.loc["A", "org_365d:NHS"] == 5
    assert f.loc["A", "org_365d:Council"] == 2


def test_prior_crisis_from_outcomes():
    out = pd.DataFrame({
        "person_id": ["A", "A", "A", "B"],
        "period": pd.to_datetime(["2023-03-01", "2023-04-01", "2024-03-01", "2024-04-01"]),
        "measure": ["ae"] * 4, "value": [5.0, 1.0, 2.0, 9.0]})
    f = person_features(EVENTS, PEOPLE, CUT, outcomes=out, crisis="ae")
    # 12 months before April 2024: April 2023 .. March 2024
    assert f.loc["A", "prior_crisis_365d"] == 3
    assert f.loc["B", "prior_crisis_365d"] == 0  # April 2024 is the future


def test_outcome_history_totals_and_errors():
    out = pd.DataFrame({"person_id": ["A", "Z"], "period": pd.to_datetime(["2024-01-01"] * 2),
                        "measure": ["ae", "ae"], "value": [2.0, 1.0]})
    oh = OutcomeHistory(out, pd.Index(["A", "B"]), ["ae"])
    assert oh.n_unmatched_rows == 1
    assert oh.totals(month_number("2024-01-01"), month_number("2024-02-01")).tolist() == [2, 0]
    with pytest.raises(InputError, match="not in the outcomes table; its measures are: ae"):
        OutcomeHistory(out, pd.Index(["A"]), "arrests")
    with pytest.raises(InputError, match="missing column"):
        OutcomeHistory(out.drop(columns="value"), pd.Index(["A"]), "ae")


def test_many_cutoffs_from_one_history_match_single_calls():
    h = EventHistory(EVENTS, PEOPLE)
    fb = FeatureBuilder(h, PEOPLE)
    for cut in ("2024-01-01", "2024-02-15", "2024-04-01"):
        a = fb.features(cut)
        b = person_features(EVENTS, PEOPLE, cut)
        pd.testing.assert_frame_equal(a, b)


def test_population_subset():
    h = EventHistory(EVENTS, PEOPLE)
    fb = FeatureBuilder(h, PEOPLE)
    f = fb.features(CUT, np.array([False, True, True]))
    assert f.index.tolist() == ["B", "C"]


def test_labels():
    assert feature_label("stories_retold_365d").startswith("stories retold")
    assert feature_label("events_prev_90d") == "events in the 90 days before that"
    assert feature_label("sex=male") == "sex: male"
    assert feature_label("open_referrals") == "referrals still waiting for an intervention"


@pytest.mark.parametrize("kw, match", [
    (dict(windows=()), "windows"),
    (dict(windows=(0, 30)), "windows"),
    (dict(by="team"), "by must be"),
])
def test_bad_settings(kw, match):
    with pytest.raises(InputError, match=match):
        person_features(EVENTS, PEOPLE, CUT, **kw)


def test_month_number_rules():
    assert month_number("2024-01-01") == 2024 * 12
    with pytest.raises(InputError, match="first day of a month"):
        month_number("2024-01-15")
    with pytest.raises(InputError, match="not a date"):
        month_number("soon")
