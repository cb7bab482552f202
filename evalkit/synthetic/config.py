"""Every parameter of the synthetic place, with documented defaults.

:class:`SynthConfig` holds every number the generator uses. Each default is
chosen to give a plausible English town of complex-need residents ("Anytown")
and is documented in ``docs/synthetic.md``; none is a published estimate of a
real pilot. Change any of them by keyword::

    make_place(n_people=5000, seed=3, ramp_months=6)

or build a config and pass it in (``make_place(config=cfg)``).

Examples
--------
>>> from evalkit.synthetic.config import SynthConfig
>>> cfg = SynthConfig(n_people=2000, seed=7)
>>> cfg.n_months, cfg.n_areas, len(cfg.outcomes)
(48, 12, 6)
>>> [o.name for o in cfg.outcomes if o.relative_effect == 0]
['elective_admissions']
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import InputError
from ..schema import AGE_BANDS

__all__ = [
    "SynthConfig",
    "OutcomeSpec",
    "ORGANISATIONS",
    "NEEDS",
    "DEFAULT_OUTCOMES",
    "AREA_NAMES",
    "PARTNERS",
    "build_config",
]

#: Default neighbourhood names (fictional). Extra areas are named "Area 13"...
AREA_NAMES: tuple[str, ...] = (
    "Northfield",
    "Southmead",
    "Eastbrook",
    "Westgate",
    "Riverside",
    "Hillcrest",
    "Oakwood",
    "Millbank",
    "Brookside",
    "Castleton",
    "Greenhill",
    "Marshside",
)

#: The organisations in the event log (11), in a fixed order.
ORGANISATIONS: tuple[str, ...] = (
    "Council housing",
    "Adult social care",
    "Children's social care",
    "NHS acute trust",
    "NHS mental health trust",
    "GP practices",
    "Police",
    "DWP Jobcentre Plus",
    "Probation service",
    "Anytown Homes housing association",
    "Anytown Community Support (charity)",
)

#: Presenting needs that start an episode of contact with services.
NEEDS: tuple[str, ...] = (
    "housing",
    "mental health",
    "money and benefits",
    "offending",
    "family and children",
    "physical health",
    "substance use",
)


_O = ORGANISATIONS

#: Routine (non-journey) contacts by organisation.
DEFAULT_ROUTINE_SHARES: dict[str, float] = {
    _O[5]: 0.70, _O[3]: 0.06, _O[4]: 0.04, _O[6]: 0.04, _O[0]: 0.04, _O[7]: 0.05,
    _O[1]: 0.02, _O[2]: 0.01, _O[8]: 0.005, _O[9]: 0.02, _O[10]: 0.015,
}

#: Presenting need at the start of an episode, by age group.
DEFAULT_NEED_PROBS: dict[str, dict[str, float]] = {
    "child": dict(zip(NEEDS, (0.05, 0.15, 0.02, 0.08, 0.55, 0.12, 0.03))),
    "adult": dict(zip(NEEDS, (0.22, 0.20, 0.18, 0.10, 0.10, 0.12, 0.08))),
    "older": dict(zip(NEEDS, (0.10, 0.15, 0.10, 0.02, 0.01, 0.55, 0.07))),
}

#: Relevance of each organisation to each need (zero entries get org_base_weight).
DEFAULT_NEED_ORG_WEIGHTS: dict[str, dict[str, float]] = {
    "housing": {_O[0]: 5, _O[9]: 4, _O[10]: 2, _O[7]: 1, _O[1]: 0.5, _O[4]: 0.5,
                _O[6]: 0.5, _O[5]: 0.5},
    "mental health": {_O[4]: 5, _O[5]: 3, _O[1]: 1.5, _O[10]: 1.5, _O[3]: 1, _O[6]: 1},
    "money and benefits": {_O[7]: 5, _O[10]: 3, _O[0]: 2, _O[9]: 1.5, _O[5]: 0.3},
    "offending": {_O[6]: 5, _O[8]: 4, _O[4]: 1, _O[0]: 1, _O[10]: 1},
    "family and children": {_O[2]: 5, _O[5]: 1, _O[6]: 1, _O[10]: 1.5, _O[0]: 1,
                            _O[4]: 0.5},
    "physical health": {_O[5]: 5, _O[3]: 4, _O[1]: 2, _O[10]: 0.5, _O[4]: 0.5},
    "substance use": {_O[4]: 3, _O[5]: 2, _O[10]: 3, _O[6]: 2, _O[8]: 1, _O[3]: 1.5},
}

#: How much each organisation acts as a front door (multiplies relevance at entry).
DEFAULT_ENTRY_WEIGHTS: dict[str, float] = {
    _O[5]: 3.0, _O[6]: 2.0, _O[3]: 2.0, _O[0]: 2.0, _O[1]: 1.0, _O[2]: 1.0,
    _O[4]: 1.0, _O[7]: 1.0, _O[8]: 0.5, _O[9]: 1.0, _O[10]: 1.5,
}


#: Partners (who pay) and the organisations each one runs, with its kind.
PARTNERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Anytown Council": ("local_authority", (_O[0], _O[1], _O[2])),
    "NHS Anytown ICB": ("nhs", (_O[3], _O[4], _O[5])),
    "Anytown Police": ("police", (_O[6],)),
    "DWP": ("dwp", (_O[7],)),
    "Probation Service": ("probation", (_O[8],)),
    "Anytown Homes": ("housing", (_O[9],)),
    "Anytown Community Support": ("voluntary", (_O[10],)),
}

#: Yearly budget per resident in pounds (illustrative orders of magnitude).
DEFAULT_BUDGET_PER_RESIDENT: dict[str, float] = {
    "Anytown Council": 1_100.0, "NHS Anytown ICB": 2_300.0, "Anytown Police": 250.0,
    "DWP": 60.0, "Probation Service": 30.0, "Anytown Homes": 200.0,
    "Anytown Community Support": 5.0,
}


class OutcomeSpec(BaseModel):
    """One outcome measure of the monthly person panel.

    The expected monthly value of person ``i`` in month ``t`` without the pilot is
    ``mu0[i, t] = lambda[i] + c[area(i), t]`` where

    - ``lambda[i] = base_rate * (need_floor + s[i]) / (need_floor + mean s) * F[i]``
      (``s`` is the person's need index for this measure, linear in the observed
      covariates; ``F`` a mean-one gamma frailty independent of them), and
    - ``c[a, t] = base_rate * (seasonal_amplitude * (1 + cos(2 pi (month - peak) / 12)) / 2
      + trend * t / (T - 1)) * shock[a, t]`` is an additive calendar term common to
      everyone in an area (mean-one log-normal area-month shocks).

    With the pilot, ``mu1 = mu0 * (1 + relative_effect * ramp(e))``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", revalidate_instances="always")

    name: str = Field(description="Measure name as written in outcomes.measure.")
    label: str = Field(description="Plain-English label with units.")
    kind: Literal["count", "nights"] = Field(
        "count",
        description="count: gamma-Poisson monthly count; nights: nights in a month "
        "(a month in temporary accommodation with probability pi, then "
        "1 + Binomial(days - 1, nights_share) nights).",
    )
    base_rate: float = Field(gt=0, description="Mean person-level part of the monthly "
                             "value for people in scope (before calendar effects).")
    relative_effect: float = Field(
        ge=-1.0, le=1.0,
        description="Planted relative change in the expected value at full ramp "
        "(-0.2 = 20% fewer). 0 makes a placebo outcome.")
    need_weight_deprivation: float = Field(1.0, ge=0, description="Weight on "
                                           "(10 - deprivation_decile) / 9 in the need index.")
    need_weight_prior_use: float = Field(1.5, ge=0, description="Weight on "
                                         "prior_service_use / prior_use_months.")
    need_weight_male: float = Field(0.0, description="Added to the need index for men.")
    age_weights: dict[str, float] = Field(
        default_factory=lambda: {b: 0.0 for b in AGE_BANDS},
        description="Added to the need index by age band.")
    frailty_shape: float = Field(1.5, gt=0, description="Shape of the outcome-specific "
                                 "gamma frailty (mean 1, variance 1/shape).")
    monthly_shape: float = Field(1.5, gt=0, description="Shape of the month-to-month "
                                 "gamma noise of count outcomes (mean 1).")
    seasonal_amplitude: float = Field(0.2, ge=0, description="Winter peak of the calendar "
                                      "term, as a share of base_rate.")
    seasonal_peak_month: int = Field(1, ge=1, le=12, description="Calendar month of the "
                                     "seasonal peak (1 = January).")
    trend: float = Field(0.1, ge=0, description="Additive rise of the calendar term over "
                         "the panel, as a share of base_rate.")
    nights_share: float = Field(0.7, gt=0, le=1, description="nights outcomes: share of "
                                "the remaining nights of a month spent in accommodation "
                                "once placed.")
    event_organisation: str | None = Field(
        None, description="If set, each unit of a count outcome is also written to "
        "the event log as a 'contact' at this organisation.")
    event_service: str | None = Field(None, description="Service for those contacts.")
    event_need: str | None = Field(None, description="Need recorded on those contacts.")
    benefit_item: str | None = Field(None, description="Reference unit-cost item pricing "
                                     "one unit of the measure (benefit map).")
    benefit_partner: str | None = Field(None, description="Partner whose budget gains.")
    benefit_units_per_outcome: float = Field(1.0, gt=0, description="Cost units per unit "
                                             "of the measure (1/7 prices nights weekly).")

    @field_validator("age_weights")
    @classmethod
    def _bands(cls, v: dict[str, float]) -> dict[str, float]:
        bad = set(v) - set(AGE_BANDS)
        if bad:
            raise ValueError(f"unknown age bands {sorted(bad)}; use {AGE_BANDS}")
        return v


def _ages(**kw: float) -> dict[str, float]:
    out = {b: 0.0 for b in AGE_BANDS}
    out.update({k.replace("_", "-").replace("plus", "+"): v for k, v in kw.items()})
    return out


#: Default outcome measures: five with planted effects and one placebo.
DEFAULT_OUTCOMES: tuple[OutcomeSpec, ...] = (
    OutcomeSpec(
        name="ae_attendances", label="A&E attendances per person per month",
        base_rate=0.22, relative_effect=-0.20,
        age_weights=_ages(**{"18_24": 0.3, "25_34": 0.2, "35_44": 0.2, "45_54": 0.2,
                             "55_64": 0.3, "65_74": 0.5, "75plus": 0.9}),
        seasonal_amplitude=0.25, seasonal_peak_month=1, trend=0.10,
        event_organisation="NHS acute trust", event_service="Emergency department",
        event_need="physical health", benefit_item="A&E attendance (all types)",
        benefit_partner="NHS Anytown ICB"),
    OutcomeSpec(
        name="arrests", label="Police arrests per person per month",
        base_rate=0.05, relative_effect=-0.15, need_weight_male=0.5, frailty_shape=1.0,
        monthly_shape=1.0,
        age_weights=_ages(**{"18_24": 0.8, "25_34": 0.6, "35_44": 0.4, "45_54": 0.2,
                             "55_64": 0.05}),
        seasonal_amplitude=0.15, seasonal_peak_month=7, trend=0.0,
        event_organisation="Police", event_service="Custody", event_need="offending",
        benefit_item="Police arrest (detained)", benefit_partner="Anytown Police"),
    OutcomeSpec(
        name="homeless_applications",
        label="Statutory homelessness applications per person per month",
        base_rate=0.02, relative_effect=-0.25, need_weight_prior_use=2.0,
        frailty_shape=1.0, monthly_shape=1.0,
        age_weights=_ages(**{"18_24": 0.6, "25_34": 0.5, "35_44": 0.3, "45_54": 0.2}),
        seasonal_amplitude=0.1, seasonal_peak_month=1, trend=0.2,
        event_organisation="Council housing", event_service="Homelessness applications",
        event_need="housing",
        benefit_item="Statutory homelessness application (one-off and ongoing costs)",
        benefit_partner="Anytown Council"),
    OutcomeSpec(
        name="ta_nights", label="Nights in temporary accommodation per person per month",
        kind="nights", base_rate=0.8, relative_effect=-0.30, need_weight_prior_use=2.0,
        frailty_shape=0.8, seasonal_amplitude=0.05, trend=0.2,
        age_weights=_ages(**{"18_24": 0.5, "25_34": 0.5, "35_44": 0.4, "45_54": 0.2}),
        benefit_item="Temporary accommodation: bed and breakfast, per household",
        benefit_partner="Anytown Council", benefit_units_per_outcome=1 / 7),
    OutcomeSpec(
        name="csc_referrals",
        label="Children's social care referrals (household) per person per month",
        base_rate=0.03, relative_effect=-0.15, need_weight_male=-0.2, frailty_shape=1.0,
        monthly_shape=1.0,
        age_weights=_ages(**{"18_24": 0.5, "25_34": 0.8, "35_44": 0.7, "45_54": 0.3}),
        seasonal_amplitude=0.1, seasonal_peak_month=10, trend=0.05,
        event_organisation="Children's social care", event_service="Children's front door",
        event_need="family and children", benefit_item="Children's social care referral",
        benefit_partner="Anytown Council"),
    OutcomeSpec(
        name="elective_admissions",
        label="Planned (elective) hospital admissions per person per month (placebo)",
        base_rate=0.02, relative_effect=0.0, need_weight_prior_use=0.5,
        need_weight_deprivation=0.3,
        age_weights=_ages(**{"45_54": 0.3, "55_64": 0.6, "65_74": 1.0, "75plus": 1.2}),
        seasonal_amplitude=0.1, seasonal_peak_month=3, trend=0.05,
        event_organisation="NHS acute trust", event_service="Elective admissions",
        event_need="physical health"),
)


class SynthConfig(BaseModel):
    """Every parameter of the synthetic place.

    Attributes are grouped: place and time; people; pilot roll-out; outcomes;
    service journeys (event log); early-warning risk (spirals); money.
    ``docs/synthetic.md`` explains each and why its default was chosen.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # ---- place and time -------------------------------------------------
    name: str = Field("Anytown", description="Name of the place.")
    n_people: int = Field(20_000, ge=200, le=2_000_000,
                          description="Residents in the people table.")
    seed: int = Field(20240401, ge=0, description="Seed of every random draw.")
    start: dt.date = Field(dt.date(2021, 4, 1), description="First month of the panel "
                           "and event log (a first of month).")
    n_months: int = Field(48, ge=12, le=240, description="Months in the panel.")
    n_areas: int = Field(12, ge=2, le=60, description="Neighbourhoods.")
    area_names: tuple[str, ...] | None = Field(None, description="Area names (default: "
                                               "AREA_NAMES, then 'Area 13'...).")
    area_size_concentration: float = Field(25.0, gt=0, description="Dirichlet "
                                           "concentration of area sizes (higher = more equal).")

    # ---- people ----------------------------------------------------------
    age_band_probs: dict[str, float] = Field(
        default_factory=lambda: {"0-17": 0.21, "18-24": 0.09, "25-34": 0.14,
                                 "35-44": 0.13, "45-54": 0.13, "55-64": 0.12,
                                 "65-74": 0.10, "75+": 0.08},
        description="Share of residents by age band (England-like).")
    sex_probs: dict[str, float] = Field(
        default_factory=lambda: {"female": 0.508, "male": 0.487, "other": 0.002,
                                 "unknown": 0.003},
        description="Share of residents by recorded sex.")
    deprivation_sd: float = Field(1.2, ge=0, description="SD of a person's deprivation "
                                  "decile around their area's decile (then rounded, 1-10).")
    prior_use_months: int = Field(24, ge=1, le=120, description="prior_service_use counts "
                                  "the months with any service contact in this many "
                                  "months before the panel.")
    prior_use_intercept: float = Field(-2.4, description="Logit of the monthly chance of "
                                       "prior contact for the least deprived adult.")
    prior_use_deprivation: float = Field(1.4, description="Added to that logit per unit "
                                         "of (10 - decile) / 9.")
    prior_use_person_sd: float = Field(0.9, ge=0, description="SD of a person's own "
                                       "random logit shift in prior contact.")
    in_scope_share: float = Field(0.20, gt=0, lt=1, description="Expected share of "
                                  "residents in scope of services (a minority).")
    in_scope_slope: float = Field(2.5, ge=0, description="Logit slope of being in scope "
                                  "on the need index (higher need, more likely).")
    need_floor: float = Field(0.25, gt=0, description="Added to the need index so "
                              "every in-scope person has a positive rate.")
    scope_need_weights: dict[str, float] = Field(
        default_factory=lambda: {"deprivation": 1.0, "prior_use": 1.5, "male": 0.1,
                                 "0-17": -0.6, "18-24": 0.2, "25-34": 0.3, "35-44": 0.3,
                                 "45-54": 0.2, "55-64": 0.1, "65-74": 0.0, "75+": 0.2},
        description="Weights of the general need index used for scope, pilot "
        "selection and episode rates: deprivation ((10-decile)/9), prior_use "
        "(share of months), male, and each age band.")
    common_frailty_shape: float = Field(3.0, gt=0, description="Shape of the person "
                                        "frailty shared by all outcomes and journeys (mean 1).")
    rate_need_slope: float = Field(0.8, ge=0, description="Routine contacts and episodes "
                                   "scale with exp(rate_need_slope * (need - mean need "
                                   "in scope)).")

    # ---- pilot -----------------------------------------------------------
    pilot_waves: tuple[int, ...] = Field((18, 24, 30), description="Month offsets "
                                         "(from start) at which each wave of areas goes live.")
    areas_per_wave: tuple[int, ...] = Field((3, 2, 2), description="Areas going live in "
                                            "each wave: the most deprived first; the rest never.")
    enrol_share: float = Field(0.75, gt=0, lt=1, description="Share of in-scope "
                               "residents of live areas who enrol (at average need).")
    enrol_slope: float = Field(2.5, ge=0, description="Logit slope of enrolling on the "
                               "need index (higher need enrols more).")
    enrol_delay_months: float = Field(3.0, ge=0, description="Mean months from the area "
                                      "going live to a person enrolling (at average need).")
    enrol_delay_slope: float = Field(0.8, ge=0, description="Log-scale reduction of the "
                                     "mean delay per unit of need (higher need enrols sooner).")
    enrol_max_delay: int = Field(24, ge=0, description="Longest enrolment delay in months.")
    ramp_months: int = Field(12, ge=1, description="Months to full effect: in month e "
                             "after start (e = 0 the start month) the effect is "
                             "min(1, (e + 1) / ramp_months) of its full size.")

    # ---- outcomes --------------------------------------------------------
    outcomes: tuple[OutcomeSpec, ...] = Field(DEFAULT_OUTCOMES, description="Outcome "
                                              "measures of the monthly panel.")
    area_shock_sd: float = Field(0.15, ge=0, description="SD of the log area-month shock "
                                 "multiplying the calendar term.")

    # ---- event log: routine contacts and journeys ---------------------------
    organisations: tuple[str, ...] = Field(ORGANISATIONS, description="Organisations "
                                           "in the log (a subset of ORGANISATIONS, 8 or more).")
    routine_contact_shares: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_ROUTINE_SHARES),
        description="Share of routine contacts by organisation (renormalised over "
        "the organisations in use).")
    need_probs: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_NEED_PROBS.items()},
        description="Chance of each presenting need at the start of an episode, for "
        "children (0-17), adults (18-64) and older people (65+).")
    need_org_weights: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_NEED_ORG_WEIGHTS.items()},
        description="Relevance of each organisation to each need: an episode's "
        "entry and onward organisations are drawn in proportion to these "
        "(plus org_base_weight); entry also multiplies by entry_weights.")
    entry_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_ENTRY_WEIGHTS),
        description="How much each organisation acts as a front door.")
    org_base_weight: float = Field(0.05, ge=0, description="Weight every organisation "
                                   "gets for every need (so any path is possible).")
    contact_rate_in_scope: float = Field(1.2, ge=0, description="Routine contacts per "
                                         "in-scope person per month (at average need).")
    contact_rate_out_of_scope: float = Field(0.35, ge=0, description="Routine contacts per "
                                             "out-of-scope resident per month.")
    episode_rate_in_scope: float = Field(0.1, ge=0, description="Episodes of need per "
                                         "in-scope person per month (at average need).")
    episode_rate_out_of_scope: float = Field(0.01, ge=0, description="Episodes per "
                                             "out-of-scope resident per month.")
    continue_probs: tuple[float, ...] = Field((0.65, 0.45, 0.30), description="Chance "
                                              "an episode is referred on after each hop; "
                                              "its length sets the most hops (+1 entry).")
    decline_prob: float = Field(0.30, ge=0, le=1, description="Chance a referral is declined.")
    rerefer_prob: float = Field(0.65, ge=0, le=1, description="Chance a declined referral "
                                "is re-referred (a bounce).")
    pingpong_prob: float = Field(0.5, ge=0, le=1, description="Chance a re-referral goes "
                                 "back to the organisation that declined.")
    decline_prob_second: float = Field(0.25, ge=0, le=1, description="Chance a re-referral "
                                       "is declined too (the episode then ends).")
    reassessment_prob: float = Field(0.30, ge=0, le=1, description="Chance an organisation "
                                     "assesses the person a second time.")
    wait_median_days: float = Field(21.0, gt=0, description="Median days from acceptance "
                                    "(or assessment) to intervention.")
    wait_sigma: float = Field(0.9, gt=0, description="Log-normal sigma of waits "
                              "(right-skewed).")
    assess_lag_median_days: float = Field(3.0, gt=0, description="Median days from "
                                          "contact or acceptance to assessment.")
    decision_median_days: float = Field(5.0, gt=0, description="Median days to accept or "
                                        "decline a referral.")
    rerefer_median_days: float = Field(10.0, gt=0, description="Median days from a decline "
                                       "to the re-referral.")
    onward_median_days: float = Field(14.0, gt=0, description="Median days from an "
                                      "intervention to the onward referral.")
    closure_median_days: float = Field(30.0, gt=0, description="Median days from the last "
                                       "intervention (or failed referral) to closure.")
    lag_sigma: float = Field(0.8, gt=0, description="Log-normal sigma of the other lags.")
    pilot_shared_assessment: float = Field(0.6, ge=0, le=1, description="Pilot: chance a "
                                           "receiving organisation uses the shared "
                                           "assessment instead of its own (full ramp).")
    pilot_reassessment_reduction: float = Field(0.5, ge=0, le=1, description="Pilot: "
                                                "relative cut in re-assessments.")
    pilot_decline_reduction: float = Field(0.5, ge=0, le=1, description="Pilot: relative "
                                           "cut in declined referrals.")
    pilot_wait_reduction: float = Field(0.25, ge=0, lt=1, description="Pilot: relative cut "
                                        "in waits.")
    repeat_window_days: int = Field(90, ge=1, description="Truth: window defining a "
                                    "repeat assessment (as evalkit.waste's default).")
    rereferral_days: int = Field(30, ge=1, description="Truth: window defining a bounced "
                                 "referral (as evalkit.waste's default).")

    # ---- early-warning risk: spirals (see evalkit.synthetic.risk) ---------
    spiral_share: float = Field(0.3, ge=0, le=1, description="Share of in-scope people "
                                "who go through one spiral (a spell of escalating need) "
                                "in the panel; 0 plants no risk structure.")
    spiral_months: tuple[int, int] = Field((6, 18), description="Shortest and longest "
                                           "spiral in months (uniform between).")
    spiral_episode_mult: float = Field(4.0, ge=1, description="Episodes of need a month "
                                       "are multiplied by this during a spiral (more "
                                       "contacts, assessments, referrals, stories retold).")
    spiral_decline_mult: float = Field(2.5, ge=1, description="The chance a referral is "
                                       "declined is multiplied by this during a spiral "
                                       "(capped at 0.95): more bounced referrals.")
    spiral_crisis_mult: dict[str, float] = Field(
        default_factory=lambda: {"homeless_applications": 10.0, "ae_attendances": 2.0},
        description="Count outcome -> how many times higher the person's own expected "
        "rate is in spiral months than in other months (the measure's average rate is "
        "kept): the planted crisis risk that the histories above signal.")

    # ---- money -----------------------------------------------------------
    price_year: str = Field("2024-25", description="Price year of the programme costs.")
    programme_fixed_cost_gbp: float = Field(200_000.0, ge=0, description="Yearly fixed "
                                            "running cost of the pilot (management, data).")
    programme_cost_per_person_gbp: float = Field(450.0, ge=0, description="Yearly "
                                                 "extra running cost per enrolled person "
                                                 "(the team reorganises existing staff).")
    grant_schedule: tuple[float, ...] = Field((1.0, 0.75, 0.5, 0.25, 0.0), description=
                                              "Central grant as a share of the running "
                                              "cost, by pilot year; tapers to zero.")
    partner_budget_per_resident: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_BUDGET_PER_RESIDENT),
        description="Each partner's yearly budget per resident in pounds (the budget "
        "driver of proportional cost splits).")
    cashable_map: dict[str, float] = Field(
        default_factory=lambda: {"yes": 1.0, "partly": 0.5, "no": 0.0},
        description="cashable_share for the reference table's yes / partly / no.")
    horizon_years: int = Field(10, ge=1, le=60, description="Appraisal horizon in years.")

    # ---- validators ------------------------------------------------------
    @field_validator("start")
    @classmethod
    def _first_of_month(cls, v: dt.date) -> dt.date:
        if v.day != 1:
            raise ValueError(f"start must be the first day of a month, got {v}")
        return v

    @field_validator("age_band_probs", "sex_probs")
    @classmethod
    def _probs(cls, v: dict[str, float]) -> dict[str, float]:
        if not v or any(p < 0 for p in v.values()) or sum(v.values()) <= 0:
            raise ValueError("must map each category to a non-negative share, not all zero")
        return v

    @model_validator(mode="after")
    def _check(self) -> SynthConfig:
        from ..schema import SEXES

        bad = set(self.sex_probs) - set(SEXES)
        if bad:
            raise ValueError(f"sex_probs has unknown categories {sorted(bad)}; use {SEXES}")
        bad = set(self.age_band_probs) - set(AGE_BANDS)
        if bad:
            raise ValueError(f"age_band_probs has unknown bands {sorted(bad)}; use {AGE_BANDS}")
        if len(self.pilot_waves) != len(self.areas_per_wave):
            raise ValueError("pilot_waves and areas_per_wave must have the same length "
                             f"({len(self.pilot_waves)} vs {len(self.areas_per_wave)})")
        if sum(self.areas_per_wave) > self.n_areas:
            raise ValueError(f"areas_per_wave adds to {sum(self.areas_per_wave)}, more than "
                             f"n_areas={self.n_areas}")
        if any(w < 1 or w >= self.n_months for w in self.pilot_waves):
            raise ValueError(f"every pilot wave month must be between 1 and n_months - 1 "
                             f"({self.n_months - 1}); got {self.pilot_waves}")
        if list(self.pilot_waves) != sorted(self.pilot_waves):
            raise ValueError("pilot_waves must be in increasing order")
        unknown = [o for o in self.organisations if o not in ORGANISATIONS]
        if unknown:
            raise ValueError(f"unknown organisations {unknown}; choose from {ORGANISATIONS}")
        if len(set(self.organisations)) < 8:
            raise ValueError("organisations must name at least 8 distinct organisations")
        names = [o.name for o in self.outcomes]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"outcome names must be unique and non-empty; got {names}")
        for o in self.outcomes:
            if o.event_organisation and o.event_organisation not in self.organisations:
                raise ValueError(f"outcome {o.name!r} writes contacts at "
                                 f"{o.event_organisation!r}, which is not in organisations")
        for o in self.outcomes:
            lowest = (self.need_floor + min(0.0, o.need_weight_male)
                      + min([0.0, *o.age_weights.values()]))
            if lowest <= 0:
                raise ValueError(f"outcome {o.name!r}: need_floor + the most negative "
                                 f"weights is {lowest:g}; it must stay above 0")
        for o in self.outcomes:
            if o.event_need is not None and o.event_need not in NEEDS:
                raise ValueError(f"outcome {o.name!r}: event_need {o.event_need!r} is not one "
                                 f"of {NEEDS}")
            if o.benefit_partner is not None and o.benefit_partner not in PARTNERS:
                raise ValueError(f"outcome {o.name!r}: benefit_partner {o.benefit_partner!r} "
                                 f"is not one of {tuple(PARTNERS)}")
        if (not self.continue_probs or len(self.continue_probs) > 5
                or any(not 0 <= p <= 1 for p in self.continue_probs)):
            raise ValueError("continue_probs must be 1 to 5 probabilities")
        for group in ("child", "adult", "older"):
            probs = self.need_probs.get(group)
            if not probs or set(probs) - set(NEEDS) or sum(probs.values()) <= 0 \
                    or any(v < 0 for v in probs.values()):
                raise ValueError(f"need_probs[{group!r}] must map needs {NEEDS} to "
                                 "non-negative chances, not all zero")
        for table in (self.routine_contact_shares, self.entry_weights,
                      *self.need_org_weights.values()):
            bad = set(table) - set(ORGANISATIONS)
            if bad:
                raise ValueError(f"unknown organisations {sorted(bad)} in weights; "
                                 f"choose from {ORGANISATIONS}")
        bad = set(self.need_org_weights) - set(NEEDS)
        if bad:
            raise ValueError(f"need_org_weights has unknown needs {sorted(bad)}")
        if self.area_names is not None and len(set(self.area_names)) < self.n_areas:
            raise ValueError(f"area_names needs {self.n_areas} distinct names")
        lo, hi = self.spiral_months
        if not 1 <= lo <= hi:
            raise ValueError(f"spiral_months must be (shortest, longest) with 1 <= shortest "
                             f"<= longest; got {self.spiral_months}")
        kinds = {o.name: o.kind for o in self.outcomes}
        for m, v in self.spiral_crisis_mult.items():
            if kinds.get(m) != "count":
                raise ValueError(f"spiral_crisis_mult names {m!r}, which is not a count "
                                 f"outcome; count outcomes: "
                                 f"{[k for k, t in kinds.items() if t == 'count']}")
            if v < 1:
                raise ValueError(f"spiral_crisis_mult[{m!r}] must be at least 1 (a spiral "
                                 f"raises crisis risk); got {v}")
        if not self.grant_schedule:
            raise ValueError("grant_schedule must have at least one year")
        return self

    # ---- convenience -----------------------------------------------------
    @property
    def max_hops(self) -> int:
        """Organisations an episode can reach: the entry one plus onward referrals."""
        return 1 + len(self.continue_probs)

    def areas(self) -> list[str]:
        """The area names used."""
        names = list(self.area_names or AREA_NAMES)
        names += [f"Area {k + 1}" for k in range(len(names), self.n_areas)]
        return names[: self.n_areas]


def build_config(config: SynthConfig | None = None, **overrides: Any) -> SynthConfig:
    """Return ``config`` (or the defaults) with ``overrides`` applied and validated.

    Raises
    ------
    InputError
        If an override names an unknown parameter or a value is out of range; the
        message names the parameter, the value and what is expected.

    Examples
    --------
    >>> build_config(n_people=1000, ramp_months=6).ramp_months
    6
    >>> build_config(n_poeple=10)
    Traceback (most recent call last):
    ...
    evalkit.errors.InputError: Unknown synthetic-place parameter 'n_poeple'. ...
    """
    from pydantic import ValidationError as PydanticError

    base = config if config is not None else SynthConfig()
    known = set(SynthConfig.model_fields)
    unknown = [k for k in overrides if k not in known]
    if unknown:
        close = _close_matches(unknown[0], known)
        raise InputError(
            f"Unknown synthetic-place parameter {unknown[0]!r}. "
            + (f"Did you mean {close!r}? " if close else "")
            + "See evalkit.synthetic.SynthConfig for every parameter."
        )
    data = base.model_dump()
    data.update(overrides)
    try:
        return SynthConfig.model_validate(data)
    except PydanticError as exc:
        msgs = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"]) or "config"
            val = e.get("input")
            shown = "" if isinstance(val, dict) else f" (got {val!r})"
            msgs.append(f"{loc}: {e['msg']}{shown}")
        raise InputError("Bad synthetic-place parameter: " + "; ".join(msgs)) from None


def _close_matches(word: str, options: set[str]) -> str | None:
    import difflib

    m = difflib.get_close_matches(word, sorted(options), n=1)
    return m[0] if m else None
