"""The synthetic place: determinism, the data contract, files, CLI, money, truth API."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from evalkit.commands import place as place_cmd
from evalkit.commands import synth as synth_cmd
from evalkit.errors import InputError
from evalkit.place import Place, load_place
from evalkit.schema import EVENT_TYPES, TABLES
from evalkit.synthetic import SynthConfig, Truth, build_config, make_place
from evalkit.synthetic.money import reference_unit_costs
from evalkit.synthetic.outcomes import ramp

SMALL = 3_000


@pytest.fixture(scope="module")
def small():
    return make_place(n_people=SMALL, seed=11)


def _assert_same(a, b) -> None:
    assert a.place.tables.keys() == b.place.tables.keys()
    for name in a.place.tables:
        pd.testing.assert_frame_equal(a.place.tables[name], b.place.tables[name], obj=name)
    for name in ("effects", "by_event_time", "by_cohort_period", "by_area_period",
                 "failure_demand", "people"):
        pd.testing.assert_frame_equal(getattr(a.truth, name), getattr(b.truth, name), obj=name)


# ----------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_tables_and_truth(small):
    again = make_place(n_people=SMALL, seed=11)
    _assert_same(small, again)


def test_different_seed_gives_different_tables(small):
    other = make_place(n_people=SMALL, seed=12, validate=False)
    assert not small.place.events["date"].equals(other.place.events["date"])
    assert small.truth.att("ae_attendances") != other.truth.att("ae_attendances")


def test_unvalidated_tables_are_typed_exactly_as_validation_types_them(small):
    """validate=False (fast, for big places) builds the same typed tables."""
    fast = make_place(n_people=SMALL, seed=11, validate=False)
    _assert_same(small, fast)


# ----------------------------------------------------------------------------- contract
def test_every_table_follows_the_schema(small):
    place = small.place
    assert isinstance(place, Place)
    assert set(place.tables) == set(TABLES)
    for name, df in place.tables.items():
        spec = TABLES[name]
        assert set(spec.required_names) <= set(df.columns), name
        assert list(df.columns[: len([c for c in spec.names if c in df.columns])]) == [
            c for c in spec.names if c in df.columns], name
        assert len(df) > 0, name
    ev = place.events
    assert set(ev["event_type"]) == set(EVENT_TYPES)
    assert ev["event_id"].is_unique
    assert ev.loc[ev["event_type"] == "referral", "referred_to"].notna().all()
    assert 8 <= ev["organisation"].nunique() <= 12
    out = place.outcomes
    assert (out["period"].dt.day == 1).all()
    assert (out["value"] >= 0).all()
    # a balanced panel: every in-scope person in every month for every measure
    n_scope = int(place.people["in_scope"].astype(bool).sum())
    assert len(out) == n_scope * 48 * 6


def test_event_log_is_in_time_order_within_person(small):
    ev = small.place.events
    same = ev["person_id"].to_numpy()[1:] == ev["person_id"].to_numpy()[:-1]
    gaps = np.diff(ev["date"].to_numpy()).astype("timedelta64[D]").astype(int)
    assert (gaps[same] >= 0).all()
    assert ev["date"].min() >= pd.Timestamp("2021-04-01")
    assert ev["date"].max() < pd.Timestamp("2025-04-01")


def test_journeys_hold_together(small):
    """Each accepted referral is followed by the receiver's intervention; a decline
    is recorded by the organisation referred to."""
    ev = small.place.events
    refs = ev[ev["event_type"] == "referral"]
    dec = ev[ev["event_type"] == "referral_declined"]
    # every decline follows a referral to that organisation by the same person
    m = dec.merge(refs, on="person_id", suffixes=("", "_ref"))
    m = m[(m["referred_to_ref"] == m["organisation"]) & (m["date_ref"] <= m["date"])]
    assert m["event_id"].nunique() == len(dec)


def test_pilot_starts_are_people_level_and_within_live_areas(small):
    place = small.place
    pe = place.people
    areas = place.areas.set_index("area")
    treated = pe[pe["pilot_start"].notna()]
    assert treated["in_scope"].astype(bool).all()
    go_live = treated["area"].map(areas["pilot_start"])
    assert (treated["pilot_start"] >= go_live).all()
    assert pe.loc[pe["area"].map(areas["pilot_start"]).isna(), "pilot_start"].isna().all()
    starts = place.pilot_starts()
    assert starts.notna().sum() == len(treated)
    assert treated["pilot_start"].nunique() > 5  # staggered cohorts


# ----------------------------------------------------------------------------- files and CLI
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_place_folder_round_trips_through_load_place(small, tmp_path, fmt):
    path = small.write(tmp_path / "anytown", format=fmt)
    loaded = load_place(path)
    for name, df in small.place.tables.items():
        pd.testing.assert_frame_equal(loaded.tables[name].reset_index(drop=True),
                                      df.reset_index(drop=True), obj=name)
    assert loaded.settings.programme is not None
    assert loaded.settings.evaluation.placebo_outcomes == ["elective_admissions"]
    truth = json.loads((tmp_path / "anytown" / "truth" / "truth.json").read_text())
    assert truth["seed"] == 11
    assert {e["measure"] for e in truth["effects"]} == set(small.truth.effects["measure"])


def test_write_refuses_to_overwrite_a_place(small, tmp_path):
    small.write(tmp_path)
    with pytest.raises(InputError, match="already holds a place"):
        small.write(tmp_path)
    small.write(tmp_path, overwrite=True)
    with pytest.raises(InputError, match="format must be"):
        small.write(tmp_path / "x", format="xlsx")


def _app() -> typer.Typer:
    app = typer.Typer()
    synth_cmd.register(app)
    place_cmd.register(app)
    return app


def test_cli_synth_writes_a_place_that_passes_validate(tmp_path):
    runner = CliRunner()
    out = tmp_path / "demo"
    r = runner.invoke(_app(), ["synth", str(out), "--people", "800", "--seed", "5", "-q"])
    assert r.exit_code == 0, r.output
    assert "ae_attendances" in r.output and "placebo" in r.output
    v = runner.invoke(_app(), ["validate", str(out / "place.yml")])
    assert v.exit_code == 0, v.output
    assert "valid" in v.output
    again = runner.invoke(_app(), ["synth", str(out), "--people", "800", "-q"])
    assert again.exit_code == 1 and "already holds a place" in again.output
    bad = runner.invoke(_app(), ["synth", str(tmp_path / "b"), "--format", "xlsx", "-q"])
    assert bad.exit_code == 2 and "csv or parquet" in bad.output
    tiny = runner.invoke(_app(), ["synth", str(tmp_path / "c"), "--people", "5", "-q"])
    assert tiny.exit_code == 1 and "n_people" in tiny.output


def test_cli_synth_parquet_is_the_same_place(tmp_path):
    runner = CliRunner()
    for fmt in ("csv", "parquet"):
        r = runner.invoke(_app(), ["synth", str(tmp_path / fmt), "-n", "600", "-s", "9",
                                   "-f", fmt, "-q", "--no-validate"])
        assert r.exit_code == 0, r.output
    a = load_place(tmp_path / "csv" / "place.yml")
    b = load_place(tmp_path / "parquet" / "place.yml")
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], obj=name)


# ----------------------------------------------------------------------------- config errors
@pytest.mark.parametrize("kwargs, words", [
    ({"n_poeple": 10}, ["n_poeple", "n_people"]),
    ({"n_people": 10}, ["n_people", "200"]),
    ({"pilot_waves": (10, 20), "areas_per_wave": (3,)}, ["pilot_waves", "same length"]),
    ({"areas_per_wave": (6, 6, 6)}, ["areas_per_wave", "n_areas"]),
    ({"pilot_waves": (10, 60, 30)}, ["pilot wave", "n_months"]),
    ({"start": "2021-04-15"}, ["start", "first day"]),
    ({"organisations": ("Police", "DWP Jobcentre Plus")}, ["at least 8"]),
    ({"organisations": ("Police", "Ministry of Magic")}, ["Ministry of Magic"]),
    ({"in_scope_share": 1.5}, ["in_scope_share"]),
    ({"sex_probs": {"female": 0.5, "robot": 0.5}}, ["robot"]),
])
def test_bad_parameters_raise_input_error_naming_them(kwargs, words):
    with pytest.raises(InputError) as err:
        make_place(validate=False, **kwargs)
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("update, words", [
    ({"benefit_item": "A&E attendance (all type)"}, ["benefit_item", "did you mean",
                                                    "A&E attendance (all types)"]),
    ({"benefit_partner": "NHS"}, ["benefit_partner", "'NHS'"]),
    ({"event_need": "boredom"}, ["event_need", "boredom"]),
    ({"age_weights": {"18-20": 1.0}}, ["18-20"]),
    ({"need_weight_male": -1.0}, ["need_floor", "above 0"]),
])
def test_bad_outcome_specs_raise_input_error(update, words):
    from evalkit.synthetic.config import DEFAULT_OUTCOMES

    outs = tuple(o.model_copy(update=update) if o.name == "ae_attendances" else o
                 for o in DEFAULT_OUTCOMES)
    with pytest.raises(InputError) as err:
        make_place(n_people=300, validate=False, outcomes=outs)
    for w in words:
        assert w in str(err.value)


def test_config_defaults_are_documented_and_overridable():
    cfg = SynthConfig()
    assert cfg.n_people == 20_000 and cfg.n_areas == 12 and cfg.n_months == 48
    for name, field in SynthConfig.model_fields.items():
        assert field.description, name
    assert build_config(cfg, ramp_months=6).ramp_months == 6
    assert cfg.ramp_months == 12  # configs are immutable


def test_placebo_only_and_larger_effects_change_the_truth():
    base = make_place(n_people=1500, seed=3, validate=False)
    from evalkit.synthetic.config import DEFAULT_OUTCOMES

    doubled = tuple(o.model_copy(update={"relative_effect": 2 * o.relative_effect})
                    for o in DEFAULT_OUTCOMES)
    big = make_place(n_people=1500, seed=3, validate=False, outcomes=doubled)
    a, b = base.truth.effects.set_index("measure"), big.truth.effects.set_index("measure")
    # the expected effect is linear in the relative effect (counts)
    for m in ("ae_attendances", "arrests", "csc_referrals"):
        assert b.loc[m, "att"] == pytest.approx(2 * a.loc[m, "att"], rel=1e-9)
    # Y(0) draws do not depend on the effect: the untreated panel is unchanged
    o1, o2 = base.place.outcomes, big.place.outcomes
    untreated = ~o1["person_id"].isin(base.truth.people.loc[base.truth.people["treated"],
                                                            "person_id"])
    pd.testing.assert_series_equal(o1.loc[untreated, "value"], o2.loc[untreated, "value"])


def test_no_pilot_effect_means_no_failure_demand_removed():
    sp = make_place(n_people=1500, seed=4, validate=False, pilot_shared_assessment=0.0,
                    pilot_reassessment_reduction=0.0, pilot_decline_reduction=0.0,
                    pilot_wait_reduction=0.0)
    assert (sp.truth.failure_demand["removed"] == 0).all()


# ----------------------------------------------------------------------------- truth
def test_truth_estimands_are_consistent(small):
    truth = small.truth
    for m in truth.effects["measure"]:
        gt = truth.att_gt(m)
        path = truth.att_path(m)
        overall = truth.att(m)
        # CS 'simple': cell ATT(g,t) weighted by treated people = the person-month ATT
        assert np.average(gt["att"], weights=gt["n_people"]) == pytest.approx(overall,
                                                                               abs=1e-12)
        # CS 'dynamic' path weighted by people = the same overall ATT
        assert np.average(path["att"], weights=path["n_people"]) == pytest.approx(
            overall, abs=1e-12)
        n_pm = int(truth.effects.set_index("measure").loc[m, "n_treated_person_months"])
        assert gt["n_people"].sum() == path["n_people"].sum() == n_pm
        assert (gt["period"] >= gt["cohort"]).all()
    # the effect on area totals adds up to the person-month effects
    ap = truth.by_area_period
    ae = ap[ap["measure"] == "ae_attendances"]["effect"].sum()
    eff = truth.effects.set_index("measure").loc["ae_attendances"]
    assert ae == pytest.approx(eff["att"] * eff["n_treated_person_months"], rel=1e-9)


def test_relative_effect_path_is_the_planted_ramp(small):
    """For count outcomes E[Y(1)] / E[Y(0)] - 1 = relative_effect x ramp(e) exactly,
    so att / mean_y0 over all treated person-months lies between the effect at the
    start and at full ramp."""
    eff = small.truth.effects.set_index("measure")
    for m in ("ae_attendances", "arrests"):
        r = eff.loc[m, "relative_effect"]
        assert r * ramp(np.array([0]), 12)[0] > eff.loc[m, "att_relative"] > r
    assert ramp(np.array([-1, 0, 11, 12]), 12).tolist() == [0.0, 1 / 12, 1.0, 1.0]


def test_truth_api(small, tmp_path):
    truth = small.truth
    assert isinstance(truth, Truth)
    assert truth.seed == 11
    assert truth.att("elective_admissions") == 0.0
    assert truth.att("ae_attendances") < 0
    with pytest.raises(InputError, match="Unknown measure"):
        truth.att("happiness")
    with pytest.raises(InputError, match="Unknown failure-demand"):
        truth.removed("miracles")
    assert truth.removed("repeat_assessments") > 0
    text = str(truth.summary())
    assert "Planted effects" in text and "ae_attendances" in text
    assert "<table>" in truth._repr_html_()
    assert "ae_attendances=" in repr(truth)
    frame = truth.to_frame()
    assert list(frame["measure"]) == [o.name for o in small.config.outcomes]
    json.dumps(truth.to_dict())
    matplotlib.use("Agg")
    ax = truth.plot()
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert truth.write(tmp_path / "t").joinpath("truth.json").exists()
    # true propensity: zero outside live areas, between 0 and 1 inside
    pe = truth.people
    assert pe["propensity"].between(0, 1).all()
    assert (pe.loc[pe["treated"], "propensity"] > 0).all()


def test_unpacking_and_repr(small):
    place, truth = small
    assert place is small.place and truth is small.truth
    assert "SyntheticPlace" in repr(small) and "events=" in repr(small)
    assert set(small.timings) >= {"people", "outcomes", "events"}


# ----------------------------------------------------------------------------- money
def test_unit_costs_come_from_the_sourced_reference(small):
    ref = reference_unit_costs().set_index("item")
    uc = small.place.unit_costs
    sourced = uc[uc["item"].isin(ref.index)]
    assert len(sourced) >= 10  # 6 assessments + 5 benefit items by default
    for r in sourced.itertuples():
        src = ref.loc[r.item]
        assert r.cost_gbp == pytest.approx(float(src["cost_gbp"]))
        assert r.price_year == src["price_year"].replace("/", "-")
        assert r.source == src["source"]
        assert r.cashable_share == {"yes": 1.0, "partly": 0.5, "no": 0.0}[src["cashable"]]
    derived = uc[~uc["item"].isin(ref.index)]
    assert derived["source"].str.contains("Derived|assumption").all()
    # every organisation's assessments, referrals and declines are priced
    for et in ("assessment", "referral", "referral_declined"):
        priced = set(uc.loc[uc["event_type"] == et, "organisation"])
        assert priced == set(small.place.events["organisation"]), et


def test_benefit_map_partners_and_programme(small):
    place = small.place
    bm = place.benefit_map
    assert set(bm["item"]) <= set(place.unit_costs["item"])
    assert set(bm["partner"]) <= set(place.partners["partner"])
    assert "elective_admissions" not in set(bm["measure"])  # the placebo has no value
    ta = bm.set_index("measure").loc["ta_nights"]
    assert ta["units_per_outcome"] == pytest.approx(1 / 7)
    orgs = place.organisations
    assert set(orgs["partner"]) <= set(place.partners["partner"])
    partners = place.partners
    assert (partners["caseload"] > 0).all() and (partners["budget"] > 0).all()
    prog = small.programme
    # the grant tapers to zero and stays there
    shares = prog["grant_share"].to_numpy()
    assert shares[0] == 1.0 and shares[-1] == 0.0 and (np.diff(shares) <= 0).all()
    assert (prog["running_cost_gbp"] > 0).all()
    assert prog["financial_year"].iloc[0] == "2022-23"  # first go-live October 2022
    s = place.settings.programme
    assert s.running_cost == list(prog["running_cost_gbp"])
    assert s.grant[-1] == 0.0
    # a partner alone costs more than its share: standalone costs add to more than
    # the joint running cost at full roll-out
    assert partners["standalone_cost"].sum() > prog["running_cost_gbp"].iloc[-1]


# ----------------------------------------------------------------------------- properties
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(200, 700), months=st.integers(24, 40),
       ramp_months=st.integers(1, 18))
def test_any_small_place_is_valid_and_consistent(seed, n, months, ramp_months):
    waves = (12, 16, 20)
    sp = make_place(n_people=n, seed=seed, n_months=months, ramp_months=ramp_months,
                    pilot_waves=waves)
    place, truth = sp
    out = place.outcomes
    nights = out[out["measure"] == "ta_nights"]
    assert (nights["value"] <= nights["period"].dt.days_in_month).all()
    assert (out["value"] == out["value"].round()).all()
    assert out["period"].nunique() == months
    eff = truth.effects.set_index("measure")
    assert (eff.loc[eff["relative_effect"] < 0, "att"].fillna(-1) <= 0).all()
    assert (truth.failure_demand["without_pilot"].fillna(0) >= 0).all()
