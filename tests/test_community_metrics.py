"""Validation metrics: AUC (DeLong), Brier, calibration, reliability, capture."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from evalkit.community.metrics import (
    auc_delong,
    brier,
    calibration_stats,
    capture_table,
    flag_top,
    reliability_table,
    roc_table,
    wilson_interval,
)


def _hanley_mcneil():
    # Hanley & McNeil (1982), Radiology 143:29-36, Table 1: CT ratings (1 = definitely
    # normal ... 5 = definitely abnormal) of 58 normal and 51 abnormal patients.
    neg = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    pos = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    return np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos].astype(float)


def test_auc_reproduces_hanley_mcneil_1982():
    y, p = _hanley_mcneil()
    auc, se = auc_delong(y, p)
    # published area 0.893 (3 d.p.)
    assert round(auc, 3) == 0.893
    # their SE (0.032) uses an exponential approximation; DeLong's is model-free and
    # close to it. Recompute theirs from the published formula and compare.
    na, nn = 51, 58
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se_hm = np.sqrt((auc * (1 - auc) + (na - 1) * (q1 - auc**2) + (nn - 1) * (q2 - auc**2))
                    / (na * nn))
    assert round(se_hm, 3) == 0.032
    assert abs(se - se_hm) < 0.003


def _delong_brute(y, p):
    x, z = p[y == 1], p[y == 0]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), np.sqrt(v10.var(ddof=1) / len(x) + v01.var(ddof=1) / len(z))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=4, max_size=60))
def test_auc_and_se_match_definition_with_ties(pairs):
    y = np.array([a for a, _ in pairs], dtype=int)
    p = np.array([b for _, b in pairs], dtype=float)
    if y.sum() < 2 or (1 - y).sum() < 2:
        return
    auc, se = auc_delong(y, p)
    a2, s2 = _delong_brute(y, p)
    assert auc == pytest.approx(a2, abs=1e-12)
    assert se == pytest.approx(s2, abs=1e-12)
    assert auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_auc_one_class_is_nan():
    assert np.isnan(auc_delong(np.zeros(5), np.arange(5.0))[0])


def test_brier_by_hand():
    assert brier(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx((0.04 + 0.16) / 2)


def test_wilson_reproduces_newcombe_1998():
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (score
    # interval without continuity correction), printed to 4 decimal places.
    lo, hi = wilson_interval(np.array([81, 15, 0, 1]), np.array([263, 148, 20, 29]))
    assert np.round(lo, 4).tolist() == [0.2553, 0.0624, 0.0, 0.0061]
    assert np.round(hi, 4).tolist() == [0.3662, 0.1605, 0.1611, 0.1718]


def test_calibration_stats_detects_overconfidence():
    rng = np.random.default_rng(1)
    eta = rng.normal(-2, 1, 40000)
    p_true = 1 / (1 + np.exp(-eta))
    y = rng.random(40000) < p_true
    good = calibration_stats(y, p_true)
    # slope 1 and O/E 1 up to sampling error (SE of the slope about 0.03 here)
    assert good["slope"] == pytest.approx(1.0, abs=0.1)
    assert good["oe_ratio"] == pytest.approx(1.0, abs=0.05)
    assert abs(good["intercept"]) < 0.06
    over = calibration_stats(y, 1 / (1 + np.exp(-2 * (eta + 2) + 2)))  # too extreme
    assert over["slope"] == pytest.approx(0.5, abs=0.06)


def test_reliability_table_by_hand():
    p = np.array([0.1, 0.1, 0.2, 0.2, 0.9, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1])
    r = reliability_table(y, p, n_bins=3)
    assert r["n_people"].tolist() == [2, 2, 2]
    assert r["observed_rate"].tolist() == [0.0, 0.5, 1.0]
    assert r["mean_predicted"].tolist() == pytest.approx([0.1, 0.2, 0.9])
    # ties are never split across bands
    r2 = reliability_table(y, np.array([0.1, 0.1, 0.1, 0.1, 0.9, 0.9]), n_bins=3)
    assert r2["n_people"].tolist() == [4, 2]
    assert r2["n_people"].sum() == 6
    # fewer people than bands
    assert reliability_table(np.array([1, 0]), np.array([0.3, 0.1]), 10)["n_people"].sum() == 2


def test_capture_table_by_hand():
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    p = np.linspace(1, 0, 20)
    c = capture_table(y, p, [0.05, 0.10, 0.25]).set_index("top_share")
    # top 5% of 20 = 1 person (a crisis); top 10% = 2 (both crises); top 25% = 5 (3)
    assert c.loc[0.05, "n_flagged"] == 1 and c.loc[0.05, "crises_flagged"] == 1
    assert c.loc[0.10, "crises_flagged"] == 2
    assert c.loc[0.25, "n_flagged"] == 5 and c.loc[0.25, "crises_flagged"] == 3
    assert c.loc[0.25, "crises_outside_flagged"] == 1
    assert c.loc[0.25, "ppv"] == pytest.approx(0.6)
    assert c.loc[0.25, "sensitivity"] == pytest.approx(0.75)
    assert c.loc[0.25, "lift"] == pytest.approx(0.6 / 0.2)


def test_flag_top_ties_by_position():
    assert flag_top(np.array([0.5, 0.5, 0.5, 0.1]), 0.5).tolist() == [True, True, False, False]


def test_roc_table_endpoints():
    r = roc_table(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.8]))
    assert r["true_positive_rate"].iloc[0] == pytest.approx(1.0)  # perfect separation
    assert r["false_positive_rate"].iloc[-1] == 1.0
