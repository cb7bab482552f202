"""On the synthetic place, the risk model finds the planted spirals.

The synthetic place plants spells of escalating need ("spirals", see
``evalkit.synthetic.risk``): more episodes of need and declined referrals, and
a ten-fold concentration of homelessness applications in spiral months. The
same seed with ``spiral_share=0`` is the control: everything else is drawn
alike (spirals have their own random stream).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit.community import auc_delong, fit_risk_model, shared_challenges
from evalkit.synthetic import make_place

CRISIS = "homeless_applications"
MARKERS = ["assessment_90d", "referral_declined_90d", "bounced_referrals_365d",
           "stories_retold_365d", "events_90d", "events_prev_90d", "contact_365d"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Oversubscribed BLAS threads slow small fits ten-fold on a shared 2-core box."""
    import statsmodels.api  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def spiral_place():
    return make_place(n_people=30000, seed=3, validate=False)


@pytest.fixture(scope="module")
def calm_place():
    return make_place(n_people=30000, seed=3, validate=False, spiral_share=0.0)


@pytest.fixture(scope="module")
def full(spiral_place):
    return fit_risk_model(spiral_place.place, crisis=CRISIS, horizon_months=6)


def in_spiral(truth, index, cutoff) -> np.ndarray:
    tp = truth.people.set_index("person_id").reindex(index)
    return ((tp["spiral_start"] <= cutoff) & (tp["spiral_end"] > cutoff)).to_numpy()


def test_truth_records_the_spirals(spiral_place):
    truth, cfg = spiral_place.truth, spiral_place.config
    risk = truth.planted["risk"]
    assert risk["spiral_share"] == cfg.spiral_share == 0.3
    assert risk["spiral_crisis_mult"][CRISIS] == 10.0
    tp = truth.people
    has = tp["spiral_start"].notna()
    assert not (has & ~tp["in_scope"]).any()  # only people in scope spiral
    assert has.sum() == risk["people_with_spiral"]
    assert has[tp["in_scope"]].mean() == pytest.approx(0.3, abs=0.02)
    months = (tp.loc[has, "spiral_end"].dt.to_period("M")
              - tp.loc[has, "spiral_start"].dt.to_period("M")).map(lambda d: d.n)
    assert months.between(1, 18).all()


def test_oracle_risk_matches_the_data(spiral_place):
    """The oracle is the planted probability: its mean equals the observed crisis rate
    (up to binomial noise, about 0.004 here) and it separates crises well."""
    place, truth = spiral_place
    cut = pd.Timestamp("2024-04-01")
    o = truth.crisis_risk(CRISIS, cut, 6)
    out = place.outcomes
    win = out[(out["measure"] == CRISIS) & (out["period"] >= cut)
              & (out["period"] < cut + pd.DateOffset(months=6))]
    y = win.groupby("person_id")["value"].sum().reindex(o.index).fillna(0) > 0
    assert o.mean() == pytest.approx(y.mean(), abs=0.015)
    assert auc_delong(y.to_numpy(), o.to_numpy())[0] > 0.7
    with pytest.raises(Exception, match="past the panel"):
        truth.crisis_risk(CRISIS, "2025-01-01", 6)


def test_model_is_well_above_no_skill_and_below_the_oracle(spiral_place, full):
    truth = spiral_place.truth
    p = full.performance
    assert p["auc_ci_lower"] > 0.55
    pred = full.person_predictions()
    o = truth.crisis_risk(CRISIS, full.settings["test_cutoff"], 6).reindex(pred.index)
    oracle_auc = auc_delong(pred["crisis"].to_numpy(), o.to_numpy())[0]
    # the oracle knows each person's frailties and future spiral months: an upper bound
    assert oracle_auc > p["auc"]
    assert p["oe_ratio"] == pytest.approx(1.0, abs=0.2)


def test_score_ranks_people_in_a_spiral_higher(spiral_place, full):
    pred = full.person_predictions()
    cut = full.settings["test_cutoff"]
    sp = in_spiral(spiral_place.truth, pred.index, cut)
    assert 0.04 < sp.mean() < 0.15
    auc, se = auc_delong(sp, pred["risk"].to_numpy())
    assert auc - 1.96 * se > 0.55
    assert pred.loc[sp, "risk"].mean() > 1.3 * pred.loc[~sp, "risk"].mean()


def test_escalation_markers_carry_the_planted_risk(spiral_place, calm_place):
    """Recent assessments and declined referrals (the spirals' footprints) predict
    crisis with spirals planted, and not without them (same seed, same everything
    else)."""
    kw = dict(crisis=CRISIS, features=MARKERS, prior_crisis=False, demographics=())
    on = fit_risk_model(spiral_place.place, **kw).coefficients.set_index("feature")
    off = fit_risk_model(calm_place.place, **kw).coefficients.set_index("feature")
    for f in ("assessment_90d", "referral_declined_90d"):
        assert on.loc[f, "coef"] > 0 and on.loc[f, "pvalue"] < 0.01, f
        assert off.loc[f, "pvalue"] > 0.01 or off.loc[f, "coef"] < 0, f
    marks = ["assessment_90d", "referral_declined_90d"]
    assert on.loc[marks, "coef"].sum() > off.loc[marks, "coef"].sum() + 0.1


def test_shared_challenges_on_the_synthetic_place(spiral_place):
    res = shared_challenges(spiral_place.place)
    assert res.priced
    assert res.settings["n_partners"] >= 5
    top = res.needs.iloc[0]
    assert top["partners_touched"] >= 5
    assert res.needs["n_events"].sum() == res.settings["n_events"]
    c = res.concentration[res.concentration["scope"] == "all"].set_index("top_share")
    assert c.loc[0.10, "share_of_events"] > 0.10  # demand is concentrated
