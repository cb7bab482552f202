"""Simple split rules: hand-worked numbers, vectorised use, bad input."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evalkit.errors import InputError
from evalkit.split import (
    Game,
    airport,
    allocate,
    base_plus_variable,
    beneficiary_pays,
    capped_proportional,
    equal,
    fixed_shares,
    proportional,
    shapley,
)


def test_hand_worked_rules():
    assert equal(1_200_000, 4).tolist() == [300_000] * 4
    assert proportional(1_200_000, [50, 30, 20]).tolist() == [600_000, 360_000, 240_000]
    assert beneficiary_pays(1000, [0, 300, 100]).tolist() == [0, 750, 250]
    assert fixed_shares(1000, [0.5, 0.25, 0.25]).tolist() == [500, 250, 250]
    assert fixed_shares(1000, [40, 35, 25]).tolist() == [400, 350, 250]
    # 20% base = 200 split equally (100 each); 800 by driver 1:3.
    assert base_plus_variable(1000, [1, 3], base_share=0.2).tolist() == [300, 700]
    # Base pounds per partner: 100 + 50; remaining 850 by 1:1.
    assert base_plus_variable(1000, [1, 1], base=[100, 50]).tolist() == [525, 475]


def test_capped_redistribution_cascade():
    # Proportional: 250, 250, 500. A is capped at 100: excess 150 goes to B and C
    # pro rata (1:2): B 300, C 600. C capped at 550: excess 50 to B: B 350.
    x = capped_proportional(1000, [1, 1, 2], [100, np.inf, 550])
    np.testing.assert_allclose(x, [100, 350, 550])
    # Equivalent closed form: x_i = min(cap_i, lambda * d_i) with lambda = 350.
    np.testing.assert_allclose(x, np.minimum([100, np.inf, 550], 350 * np.array([1, 1, 2])))


def test_capped_errors():
    with pytest.raises(InputError, match="caps cannot cover the cost"):
        capped_proportional(1000, [1, 1], [300, 400])
    # The uncapped partner has a zero driver: a proportional rule cannot reach it.
    with pytest.raises(InputError, match="caps cannot cover the cost.*zero"):
        capped_proportional(1000, [1, 1, 0], [300, 400, None])
    with pytest.raises(InputError, match="negative"):
        capped_proportional(1000, [1, 1], [-1, 400])


@pytest.mark.parametrize("rule", [proportional, beneficiary_pays])
def test_driver_errors(rule):
    with pytest.raises(InputError, match="must not be negative"):
        rule(100, [1, -2, 3])
    with pytest.raises(InputError, match="every partner's driver is zero"):
        rule(100, [0, 0, 0])
    with pytest.raises(InputError, match="blank or non-number"):
        rule(100, [1, np.nan, 3])


def test_other_errors():
    with pytest.raises(InputError, match="add up to 100%"):
        fixed_shares(100, [50, 30])
    with pytest.raises(InputError, match="more than the cost"):
        base_plus_variable(100, [1, 1], base=80)
    with pytest.raises(InputError, match="exactly one"):
        base_plus_variable(100, [1, 1])
    with pytest.raises(InputError, match="must not be negative"):
        equal(-5, 3)
    with pytest.raises(InputError, match="unknown simple rule"):
        allocate("lottery", 100, n=3)


def test_vectorised_draws_and_years():
    rng = np.random.default_rng(0)
    D, n = 10_000, 15
    ben = rng.gamma(2.0, 50_000, size=(D, n))
    costs = rng.normal(1.2e6, 1e5, size=D)
    for rule, kw in [("equal", {"n": n}), ("proportional", {"driver": ben}),
                     ("beneficiary_pays", {"benefit": ben}),
                     ("base_plus_variable", {"driver": ben, "base_share": 0.3}),
                     ("capped_proportional", {"driver": ben, "caps": np.full(n, 2.5e5)}),
                     ("airport", {"levels": ben})]:
        x = allocate(rule, costs, **kw)
        assert x.shape == (D, n)
        np.testing.assert_allclose(x.sum(axis=1), costs, rtol=1e-12)
    # One driver, many years.
    x = proportional([100, 200], [1, 3])
    assert x.tolist() == [[25, 75], [50, 150]]
    # Draw-by-draw equals the batch.
    d = 17
    np.testing.assert_allclose(allocate("capped_proportional", costs[d], driver=ben[d],
                                        caps=np.full(n, 2.5e5)),
                               allocate("capped_proportional", costs, driver=ben,
                                        caps=np.full(n, 2.5e5))[d])


def test_airport_rule_equals_shapley_of_airport_game():
    levels = np.array([8.0, 11, 13, 18, 11])
    names = list("ABCDE")
    table = {"+".join(c): max(levels[names.index(p)] for p in c)
             for k in range(1, 6) for c in combinations(names, k)}
    g = Game.from_dict(table, names, kind="cost")
    np.testing.assert_allclose(airport(18, levels), shapley(g).amounts, atol=1e-12)
    # Scaling: levels in hours, cost in pounds.
    np.testing.assert_allclose(airport(36, levels), 2 * shapley(g).amounts, atol=1e-12)


# Drivers are 0 or at least 0.001 (subnormal floats make ratio checks meaningless).
amount = st.one_of(st.just(0.0), st.floats(1e-3, 1e6, allow_nan=False))
drivers = st.lists(amount, min_size=2, max_size=12).filter(
    lambda d: sum(d) > 1e-3)


@given(drivers, st.floats(0, 1e7, allow_nan=False))
def test_proportional_and_base_balance_the_budget(d, cost):
    for x in (proportional(cost, d), base_plus_variable(cost, d, base_share=0.25),
              beneficiary_pays(cost, d)):
        assert x.sum() == pytest.approx(cost, rel=1e-9, abs=1e-6)
        assert np.all(x >= -1e-9)


@given(drivers, st.floats(0, 1e6, allow_nan=False), st.data())
def test_capped_balances_and_respects_caps(d, cost, data):
    n = len(d)
    caps = np.array(data.draw(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=n,
                                       max_size=n)))
    reach = caps[np.array(d) > 0].sum()
    if reach < cost:
        with pytest.raises(InputError):
            capped_proportional(cost, d, caps)
        return
    x = capped_proportional(cost, d, caps)
    assert x.sum() == pytest.approx(cost, rel=1e-9, abs=1e-6)
    assert np.all(x <= caps * (1 + 1e-9) + 1e-6)
    # Uncapped partners pay in proportion to their drivers.
    free = (x < caps - 1e-6) & (np.array(d) > 0)
    if free.sum() >= 2:
        ratio = x[free] / np.array(d)[free]
        assert np.allclose(ratio, ratio[0], rtol=1e-6)
