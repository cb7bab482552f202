"""Issue 5 on the synthetic place: every person-level comparison method recovers the
planted effect within its confidence interval; the naive comparison does not.

The place (12,000 residents, about 2,400 in scope and 1,500 treated, seed 6) is the
synthetic place's default story at a size that runs in seconds: the most deprived
neighbourhoods go live first and the neediest residents enrol first, so treated
people have far higher A&E use than the rest whatever the pilot does.

Estimands. Callaway & Sant'Anna's simple aggregation targets ``truth.att``: the mean
effect over treated person-months. The person-level designs compare each treated
person's months since their start with comparison people measured over the same
calendar months (a pseudo-start, :func:`person_cross_section`), so they target the
mean over treated *people* of each person's mean effect: Callaway & Sant'Anna's
*group* aggregation, computed here from the planted ATT(g, t).

Each interval is a 95% interval, so each single check is a 95% event; the seed is
fixed, so the test is deterministic. The slow test checks coverage over 40 seeds.
"""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.evaluate import (
    DifferenceInMeans,
    EntropyBalancing,
    InverseProbabilityWeighting,
    NearestNeighbourMatching,
    StaggeredDiD,
)
from evalkit.evaluate.place_data import person_cross_section, prepare_person_panel
from evalkit.synthetic import make_place

MEASURE = "ae_attendances"
# the covariates that drove selection (the need index is linear in these)
COVS = ["age_band", "male", "deprivation_decile", "prior_service_use"]


def per_person_truth(truth, measure: str) -> float:
    """Mean over treated people of their mean planted effect since start."""
    gt = truth.att_gt(measure)
    per = gt.groupby("cohort").agg(att=("att", "mean"), n=("n_people", "first"))
    return float(np.average(per["att"], weights=per["n"]))


def designs():
    by_start = COVS + ["start_period"]
    return {
        "nn_matching": (NearestNeighbourMatching(covariates=COVS, exact=["start_period"], k=3,
                                                 replace=True, progress=False), "post_mean"),
        "ipw": (InverseProbabilityWeighting(covariates=by_start, progress=False),
                "post_mean"),
        "ipw_doubly_robust": (InverseProbabilityWeighting(covariates=by_start,
                                                          method="regression",
                                                          progress=False), "post_mean"),
        "entropy_balancing": (EntropyBalancing(covariates=by_start, progress=False),
                              "post_mean"),
        "matched_did": (NearestNeighbourMatching(covariates=COVS + ["pre_mean"],
                                                 exact=["start_period"], k=3, replace=True,
                                                 progress=False), "change"),
    }


def _data(seed: int, n: int = 12_000):
    place, truth = make_place(n, seed=seed, validate=False)
    panel = prepare_person_panel(place, [MEASURE])
    xs = person_cross_section(panel, MEASURE, seed=seed)
    xs["male"] = (xs["sex"] == "male").astype(float)
    return truth, panel, xs


@pytest.fixture(scope="module")
def data():
    return _data(seed=6)


def test_naive_comparison_is_badly_biased(data):
    truth, _, xs = data
    tp = per_person_truth(truth, MEASURE)
    naive = DifferenceInMeans(outcome="post_mean").fit(xs)
    assert tp < 0
    assert not (naive.ci_lower <= tp <= naive.ci_upper)
    # the naive comparison shows the pilot *raising* A&E attendances, by many SEs
    assert naive.estimate > 0
    assert (naive.estimate - tp) / naive.se > 3


@pytest.mark.parametrize("name", list(designs()))
def test_each_comparison_method_covers_the_planted_effect(data, name):
    truth, _, xs = data
    tp = per_person_truth(truth, MEASURE)
    design, outcome = designs()[name]
    res = design.fit(xs, outcome=outcome)
    assert res.ci_lower <= tp <= res.ci_upper, (name, res.estimate, tp)
    # and is informative: the interval excludes the naive estimate
    naive = DifferenceInMeans(outcome="post_mean").fit(xs)
    assert not (res.ci_lower <= naive.estimate <= res.ci_upper)


def test_callaway_santanna_covers_both_estimands(data):
    truth, panel, _ = data
    cs = StaggeredDiD(control_group="not_yet", n_boot=0, progress=False).fit(
        panel.long(MEASURE))
    assert cs.ci_lower <= truth.att(MEASURE) <= cs.ci_upper
    grp = cs.tables["overall"].set_index("aggregation").loc["group"]
    assert grp["ci_lower"] <= per_person_truth(truth, MEASURE) <= grp["ci_upper"]


def test_balance_after_weighting_and_matching(data):
    _, _, xs = data
    before = NearestNeighbourMatching(covariates=COVS, exact=["start_period"], k=3,
                                      replace=True, progress=False).balance(xs)
    assert before.max_abs_smd_before > 0.3        # treated people are needier
    eb = EntropyBalancing(covariates=COVS + ["start_period"], progress=False).balance(xs)
    assert eb.max_abs_smd_after < 1e-4           # exact mean balance by construction


def test_pseudo_starts_share_comparison_people_by_start_month(data):
    _, panel, xs = data
    t = xs[xs["treated"] == 1]["start_period"].value_counts()
    c = xs[xs["treated"] == 0]["start_period"].value_counts().reindex(t.index, fill_value=0)
    assert c.sum() == panel.n_never
    assert (c >= 2).all()                        # every start month has comparators
    # proportional to the treated starts (largest remainders, after the minimum of 2)
    expected = (panel.n_never - 2 * len(t)) * t / t.sum() + 2
    assert np.all(np.abs(c - expected) < 1 + 1e-9)


@pytest.mark.slow
def test_coverage_over_seeds():
    """40 seeds (run time about 80 s).

    Observed when written: Callaway & Sant'Anna covers the truth in 97.5% of seeds; the
    matched DiD in 90-97.5% (it carries some regression-to-the-mean bias: it matches on
    the pre-period outcome while people joined on stable need; docs/evaluate-place.md);
    the level-based designs (matching, IPW, entropy balancing on post-period means) in
    80-87.5%; the naive comparison never. The level designs' errors track an equal-sized
    "effect" on the pre-period outcome (a placebo; errors correlated 0.84), i.e. a level
    gap between the groups given the covariates that differencing removes; at 200,000
    residents that gap is within 1.6 SEs of zero, so it is small-sample behaviour (skewed
    counts, about 900 comparators reweighted towards the few needy ones), not hidden
    confounding. Bounds: Callaway & Sant'Anna at least 90%, the person-level designs at
    least 80% (a design with 90% coverage falls below 32/40 with probability 0.02), the
    naive comparison at most 10%.
    """
    cover = {k: 0 for k in list(designs()) + ["callaway_santanna", "naive"]}
    n_seeds = 40
    for seed in range(100, 100 + n_seeds):
        truth, panel, xs = _data(seed)
        tp = per_person_truth(truth, MEASURE)
        for name, (design, outcome) in designs().items():
            r = design.fit(xs, outcome=outcome)
            cover[name] += r.ci_lower <= tp <= r.ci_upper
        r = DifferenceInMeans(outcome="post_mean").fit(xs)
        cover["naive"] += r.ci_lower <= tp <= r.ci_upper
        cs = StaggeredDiD(control_group="not_yet", n_boot=0, progress=False).fit(
            panel.long(MEASURE))
        cover["callaway_santanna"] += cs.ci_lower <= truth.att(MEASURE) <= cs.ci_upper
    rates = {k: v / n_seeds for k, v in cover.items()}
    print(rates)
    assert rates.pop("naive") <= 0.1
    assert rates.pop("callaway_santanna") >= 0.9
    assert all(v >= 0.8 for v in rates.values()), rates
