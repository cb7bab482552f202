"""Realism of the synthetic place: its counts, waits and confounding behave like
real administrative data, and its planted truths are recoverable.

One default-size place (20,000 people, the demo size) is generated once for
the module and validated as user data would be.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from evalkit.synthetic import make_place
from evalkit.synthetic.events import failure_demand_counts

SEED = 20240401


@pytest.fixture(scope="module")
def demo():
    return make_place(n_people=20_000, seed=SEED)


@pytest.fixture(scope="module")
def panel(demo):
    """Outcome panel joined to the people covariates and treatment timing."""
    place = demo.place
    people = place.people.set_index("person_id")
    out = place.outcomes.join(
        people[["pilot_start", "age_band", "sex", "deprivation_decile", "prior_service_use",
                "area"]], on="person_id")
    out["post"] = out["pilot_start"].notna() & (out["period"] >= out["pilot_start"])
    out["ever"] = out["pilot_start"].notna()
    return out


def _design(d: pd.DataFrame) -> np.ndarray:
    """Month fixed effects plus the generating confounders, as they enter the model:
    deprivation decile and prior service use linearly, age band and sex as dummies."""
    X = pd.get_dummies(d[["age_band", "sex"]].astype(str), drop_first=True, dtype=float)
    X["deprivation_decile"] = d["deprivation_decile"].astype(float)
    X["prior_service_use"] = d["prior_service_use"].astype(float)
    P = pd.get_dummies(d["period"].dt.strftime("%Y-%m"), drop_first=True, dtype=float)
    Z = pd.concat([X, P], axis=1)
    Z.insert(0, "const", 1.0)
    return Z.to_numpy()


def _regression_adjustment(d: pd.DataFrame, Z: np.ndarray):
    """Imputation by regression adjustment (Borusyak, Jaravel & Spiess 2024 style).

    Fit E[Y(0) | X, month] by least squares on every untreated person-month (never
    treated, and treated people before their start), predict Y(0) for treated
    person-months on or after the start, and average Y - prediction. Returns the
    ATT, its standard error and the residuals.

    Least squares by the normal equations (``Z'Z`` is 60 x 60), with the
    person-clustered (CR1) sandwich covariance as statsmodels computes it; it is
    one to two orders of magnitude faster here than ``statsmodels.OLS.fit`` (which
    factorises the 130,000 x 60 design).

    SE: the person-clustered variance of the treated residual mean plus the
    variance of the mean prediction from the clustered covariance of the fitted
    coefficients. The omitted covariance between the two is positive (a treated
    person's own pre-period rows pull the prediction towards their post-period
    values), so this SE is conservative.
    """
    post = d["post"].to_numpy()
    y = d["value"].to_numpy()
    groups = pd.factorize(d["person_id"])[0]
    Zc, yc, gc = Z[~post], y[~post], groups[~post]
    inv = np.linalg.pinv(Zc.T @ Zc)
    beta = inv @ (Zc.T @ yc)
    e = yc - Zc @ beta
    starts = np.flatnonzero(np.r_[True, gc[1:] != gc[:-1]])  # rows are sorted by person
    scores = np.add.reduceat(Zc * e[:, None], starts, axis=0)
    n, k, g = len(yc), Zc.shape[1], len(starts)
    cov = inv @ (scores.T @ scores) @ inv * (g / (g - 1)) * ((n - 1) / (n - k))
    fit = {"resid": y[post] - Z[post] @ beta, "groups": groups[post], "Z": Z[post], "cov": cov}
    att, se = _att_se(fit)
    return att, se, fit


def _att_se(fit: dict, mask: np.ndarray | None = None) -> tuple[float, float]:
    """Mean residual (the ATT) over the treated person-months in ``mask`` and its SE."""
    mask = np.ones(len(fit["resid"]), dtype=bool) if mask is None else mask
    r, g, Z = fit["resid"][mask], fit["groups"][mask], fit["Z"][mask]
    att = r.mean()
    per_person = np.bincount(g, weights=r - att)
    zbar = Z.mean(axis=0)
    var = (per_person ** 2).sum() / len(r) ** 2 + zbar @ fit["cov"] @ zbar
    return float(att), float(np.sqrt(var))


def _naive(d: pd.DataFrame):
    """Treated person-months after start vs never-treated person-months in the same
    calendar window: the comparison a naive evaluator makes. OLS of the outcome on a
    treated indicator (statsmodels) with person-clustered standard errors."""
    first = d.loc[d["ever"], "pilot_start"].min()
    keep = d["post"] | (~d["ever"] & (d["period"] >= first))
    x = d.loc[keep]
    X = sm.add_constant(x["post"].astype(float).to_numpy())
    fit = sm.OLS(x["value"].to_numpy(), X).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(x["person_id"])[0]})
    return float(fit.params[1]), float(fit.bse[1])


@pytest.fixture(scope="module")
def estimates(demo, panel):
    rows = []
    first = panel[panel["measure"] == panel["measure"].iloc[0]]
    Z = _design(first)
    for m in demo.truth.effects["measure"]:
        d = panel[panel["measure"] == m]
        assert (d["person_id"].to_numpy() == first["person_id"].to_numpy()).all()
        att, se, fit = _regression_adjustment(d, Z)
        naive, naive_se = _naive(d)
        p, g = d.loc[d["post"], "period"], d.loc[d["post"], "pilot_start"]
        e = ((p.dt.year - g.dt.year) * 12 + p.dt.month - g.dt.month).to_numpy()
        rows.append({"measure": m, "truth": demo.truth.att(m), "ra": att, "ra_se": se,
                     "naive": naive, "naive_se": naive_se, "fit": fit, "e": e})
    return pd.DataFrame(rows).set_index("measure")


def test_only_a_minority_is_in_scope(demo):
    share = demo.place.people["in_scope"].astype(bool).mean()
    assert 0.12 < share < 0.30


def test_count_outcomes_are_overdispersed(panel):
    """Variance exceeds the mean (Poisson gives equality) for every measure.

    Monthly values: the index of dispersion var/mean of independent Poisson draws
    has standard error sqrt(2 / n), about 0.003 for these 192,000 person-months,
    so an index above 1.03 is 10 standard errors from Poisson. Totals over the 48
    months (where the person frailties show) are far more dispersed still."""
    for m, d in panel.groupby("measure"):
        v = d["value"]
        assert v.var() > 1.03 * v.mean(), m
        totals = d.groupby("person_id")["value"].sum()
        assert totals.var() > 1.5 * totals.mean(), m
        person_means = d.groupby("person_id")["value"].mean()
        # between-person spread beyond Poisson: variance of person means exceeds
        # mean / n_months (what equal rates would give)
        assert person_means.var() > 2 * v.mean() / d["period"].nunique(), m


def test_waits_are_skewed_right(demo):
    """Days from each referral to the person's next intervention: long right tail."""
    ev = demo.place.events
    p = pd.factorize(ev["person_id"])[0]
    ref = np.flatnonzero((ev["event_type"] == "referral").to_numpy())
    itv = np.flatnonzero((ev["event_type"] == "intervention").to_numpy())
    k = np.searchsorted(itv, ref, side="right")
    ok = k < len(itv)
    nxt = itv[np.minimum(k, len(itv) - 1)]
    ok &= p[nxt] == p[ref]
    days = (ev["date"].to_numpy()[nxt[ok]] - ev["date"].to_numpy()[ref[ok]]).astype(
        "timedelta64[D]").astype(float)
    assert len(days) > 5000
    assert days.min() >= 0
    assert stats.skew(days) > 1.0
    assert days.mean() > 1.2 * np.median(days)
    assert np.percentile(days, 95) > 3 * np.median(days)


def test_rollout_is_staggered_and_most_deprived_first(demo):
    areas = demo.place.areas
    live = areas.dropna(subset=["pilot_start"])
    assert live["pilot_start"].nunique() == 3
    assert len(areas) - len(live) == 5  # never join
    by_wave = areas.groupby("pilot_wave")["deprivation_decile"]
    waves = sorted(w for w in areas["pilot_wave"].unique() if w > 0)
    for w1, w2 in zip(waves, waves[1:]):
        assert by_wave.max()[w1] <= by_wave.min()[w2]
    assert by_wave.max()[waves[-1]] <= by_wave.min()[0]


def test_selection_is_confounded(demo):
    """Treated people are more deprived and had more prior service use than the
    untreated people in scope (standardised differences well above 0.1)."""
    pe = demo.place.people
    scope = pe[pe["in_scope"].astype(bool)]
    t = scope["pilot_start"].notna()
    for col, sign in (("prior_service_use", 1), ("deprivation_decile", -1)):
        x = scope[col].astype(float)
        smd = (x[t].mean() - x[~t].mean()) / np.sqrt((x[t].var() + x[~t].var()) / 2)
        assert sign * smd > 0.2, (col, smd)


def test_naive_comparison_is_biased_away_from_the_truth(estimates):
    """Treated people have higher need, so the naive difference overstates their
    outcomes: it lies above the (negative) truth by more than 3 standard errors for
    every outcome with a planted effect (3 SE: one-sided p < 0.0014 if it were
    unbiased), and wrongly shows A&E attendances rising."""
    eff = estimates.drop(index="elective_admissions")
    z = (eff["naive"] - eff["truth"]) / eff["naive_se"]
    assert (z > 3).all(), z
    assert estimates.loc["ae_attendances", "naive"] > 0 > estimates.loc["ae_attendances",
                                                                         "truth"]


def test_regression_adjustment_on_generating_confounders_recovers_the_truth(estimates):
    """Regression adjustment on the covariates used in generation (the model is
    linear in them by construction) lands within 4 standard errors of the planted
    ATT for every outcome, including the zero of the placebo; for the outcomes with
    effects the tolerance excludes zero, so the check has teeth."""
    z = (estimates["ra"] - estimates["truth"]) / estimates["ra_se"]
    assert (z.abs() < 4).all(), z
    for m in ("ae_attendances", "ta_nights"):
        assert 4 * estimates.loc[m, "ra_se"] < abs(estimates.loc[m, "truth"]), m


def test_effects_ramp_up_as_planted(demo, estimates):
    """The estimated A&E effect grows with months since start as the planted path
    does: months 0-5 and months 12+ are each within 4 SE of their planted values,
    and the planted late effect is more than twice the early one."""
    row = estimates.loc["ae_attendances"]
    path = demo.truth.att_path("ae_attendances")
    e = row["e"]
    for lo, hi in ((0, 5), (12, 99)):
        est, se = _att_se(row["fit"], (e >= lo) & (e <= hi))
        p = path[(path["event_time"] >= lo) & (path["event_time"] <= hi)]
        truth = np.average(p["att"], weights=p["n_people"])
        assert abs(est - truth) < 4 * se, (lo, est, truth, se)
    early = path.loc[path["event_time"] <= 5, "att"].mean()
    late = path.loc[path["event_time"] >= 12, "att"].mean()
    assert late < 2 * early < 0


def test_sample_att_is_close_to_expected_att(demo):
    """The realised effect (coupled draws) differs from the expected one only by
    Monte Carlo noise: well within 10% of the expected effect."""
    eff = demo.truth.effects.set_index("measure").drop(index="elective_admissions")
    assert ((eff["att_sample"] - eff["att"]).abs() < 0.1 * eff["att"].abs()).all()
    assert demo.truth.att("elective_admissions", sample=True) == 0.0


def test_outcome_contacts_match_the_outcome_panel(demo):
    """Each A&E attendance in the panel is one Emergency department contact in the
    log, in the same month (the tables tell one story)."""
    ev = demo.place.events
    ae = ev[(ev["service"] == "Emergency department") & (ev["event_type"] == "contact")]
    by_month = ae.groupby(ae["date"].dt.to_period("M")).size()
    out = demo.place.outcomes
    panel = out[out["measure"] == "ae_attendances"].groupby(
        out["period"].dt.to_period("M"))["value"].sum()
    pd.testing.assert_series_equal(by_month.astype(float), panel, check_names=False,
                                   check_index_type=False)


def test_area_outcomes_are_the_sum_of_person_outcomes(demo):
    place = demo.place
    out = place.outcomes.join(place.people.set_index("person_id")["area"], on="person_id")
    agg = out.groupby(["area", "period", "measure"])["value"].sum()
    ao = place.area_outcomes.set_index(["area", "period", "measure"])["value"]
    pd.testing.assert_series_equal(agg.sort_index(), ao.sort_index(), check_names=False)


def test_failure_demand_truth_matches_the_published_log(demo):
    """Counting the treated people's repeats and bounces in the event log itself
    gives the truth's 'with pilot' numbers: the truth describes these data."""
    place, truth = demo
    ev = place.events
    treated = set(place.people.loc[place.people["pilot_start"].notna(), "person_id"])
    e = ev[ev["person_id"].isin(treated)]
    orgs = pd.Index(sorted(set(e["organisation"])))
    got = failure_demand_counts(
        pd.factorize(e["person_id"])[0],
        (e["date"] - e["date"].min()).dt.days.to_numpy(),
        e["event_type"].map({"assessment": 1, "referral": 2, "referral_accepted": 3,
                             "referral_declined": 4, "intervention": 5}).fillna(0)
        .astype(int).to_numpy(),
        orgs.get_indexer(e["organisation"]),
        orgs.get_indexer(e["referred_to"].fillna("")),
    )
    fd = truth.failure_demand
    fd = fd[fd["scope"] == "whole log"].set_index("quantity")["with_pilot"]
    for q in ("assessments", "repeat_assessments", "reassessments", "stories_retold",
              "referrals", "referrals_declined", "bounced_referrals", "pingpong_referrals",
              "interventions"):
        assert got[q] == fd[q], q


def test_pilot_removes_repeat_assessments_and_bounces(demo):
    """With common random numbers, the pilot removes a sizeable share of the repeat
    assessments, declined and bounced referrals of treated people after their start,
    close to the planted cuts (ramp-weighted), and shortens waits."""
    truth = demo.truth
    fd = truth.failure_demand.set_index(["scope", "quantity"])
    post = "on or after pilot start"
    for q in ("repeat_assessments", "stories_retold", "reassessments", "referrals_declined",
              "bounced_referrals"):
        assert truth.removed(q) > 0, q
        assert -0.6 < fd.loc[(post, q), "relative_change"] < -0.1, q
    # declines are cut by pilot_decline_reduction x ramp: between the ramp's average
    # over treated episodes (about 0.6) and full strength
    dec = -fd.loc[(post, "referrals_declined"), "relative_change"]
    assert 0.5 * 0.5 < dec < 0.5
    assert fd.loc[(post, "mean_wait_days"), "removed"] > 0
    # pre-start events are untouched, so the whole-log and post-start removals agree
    for q in ("assessments", "referrals_declined"):
        assert truth.removed(q) == truth.removed(q, post)
