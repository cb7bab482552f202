"""Games: coalition tables, partial tables, conversions, the default service model."""

from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd
import pytest

from evalkit.errors import InputError, ValidationError
from evalkit.split import Game, ServiceModel, read_coalition_table, scrb, shapley
from evalkit.split.games import parse_coalition, popcount

PLAYERS = ["Council", "NHS", "Police"]


def test_parse_coalition_separators_case_and_spaces():
    assert parse_coalition(" NHS +Council ", PLAYERS) == 0b011
    assert parse_coalition("police; council", PLAYERS) == 0b101
    assert parse_coalition("Council+NHS+Police", PLAYERS) == 0b111


def test_unknown_partner_is_named_with_row():
    df = pd.DataFrame({"coalition": ["Council + NHS", "Council + Polce", "Council+NHS+Police"],
                       "cost": [10, 9, 12]})
    with pytest.raises(ValidationError) as err:
        Game.from_table(df, PLAYERS, file="coal.csv")
    msg = str(err.value)
    assert "row 3" in msg and "'Polce'" in msg and "Council, NHS, Police" in msg
    assert err.value.problems[0].column == "coalition"


def test_repeated_name_empty_and_duplicate_coalitions():
    df = pd.DataFrame({"coalition": ["NHS + NHS", "", "Police+NHS", "NHS;Police",
                                     "Council+NHS+Police"],
                       "cost": [1, 2, 3, 4, 5]})
    with pytest.raises(ValidationError) as err:
        Game.from_table(df, PLAYERS)
    problems = {p.row: p.message for p in err.value.problems}
    assert "twice" in problems[2]
    assert "empty coalition" in problems[3]
    assert "same coalition is on row 4" in problems[5]
    assert 4 not in problems


def test_same_coalition_twice_with_same_number_is_accepted():
    df = pd.DataFrame({"coalition": ["Police+NHS", "NHS;Police", "Council+NHS+Police"],
                       "cost": [3, 3, 5]})
    assert Game.from_table(df, PLAYERS).value("NHS+Police") == 3


def test_grand_coalition_required():
    df = pd.DataFrame({"coalition": ["Council + NHS"], "cost": [10]})
    with pytest.raises(InputError, match="not defined on the grand coalition"):
        Game.from_table(df, PLAYERS)


def test_cost_or_value_column():
    df = pd.DataFrame({"coalition": ["Council+NHS+Police"], "cost": [5], "value": [1]})
    with pytest.raises(InputError, match="both 'cost' and 'value'"):
        Game.from_table(df, PLAYERS)
    with pytest.raises(InputError, match="needs a 'cost' column"):
        Game.from_table(df[["coalition"]], PLAYERS)
    with pytest.raises(InputError, match="no 'coalition' column"):
        Game.from_table(df.rename(columns={"coalition": "group"}), PLAYERS)
    g = Game.from_table(df[["coalition", "value"]], PLAYERS)
    assert g.kind == "value" and g.grand == 1


def test_non_numeric_cost_is_reported():
    df = pd.DataFrame({"coalition": ["Council", "Council+NHS+Police"], "cost": ["lots", 5]})
    with pytest.raises(ValidationError, match="row 2.*must be a number"):
        Game.from_table(df, PLAYERS)


def test_players_must_be_valid():
    with pytest.raises(InputError, match="unique"):
        Game.from_dict({"A": 1}, ["A", "A"])
    with pytest.raises(InputError, match="must not contain"):
        Game.from_dict({"A": 1}, ["A+B"])


def test_partial_table_reports_completeness_and_values():
    g = Game.from_dict({"Council": 5, "Council+NHS+Police": 9}, PLAYERS, kind="cost")
    assert not g.is_complete
    assert np.isnan(g.value("NHS"))
    assert g.standalone[0] == 5 and np.isnan(g.standalone[1])
    assert list(g.known_masks()) == [1, 7]
    assert "2 of 7 coalitions" in repr(g)
    frame = g.to_frame()
    assert list(frame.columns) == ["coalition", "size", "cost"]
    assert frame["coalition"].tolist() == ["Council", "Council + NHS + Police"]


def test_read_coalition_table_csv_and_xlsx(tmp_path):
    df = pd.DataFrame({"coalition": ["Council", "NHS", "Police", "Council+NHS", "Council;Police",
                                     "NHS + Police", "Council + NHS + Police"],
                       "cost": [5, 4, 3, 8, 7, 6, 10]})
    df.to_csv(tmp_path / "c.csv", index=False)
    df.to_excel(tmp_path / "c.xlsx", index=False)
    a = read_coalition_table(tmp_path / "c.csv", PLAYERS)
    b = read_coalition_table(tmp_path / "c.xlsx", PLAYERS)
    assert a.is_complete and b.is_complete
    np.testing.assert_array_equal(a.table(), b.table())
    with pytest.raises(InputError, match="not found"):
        read_coalition_table(tmp_path / "missing.csv", PLAYERS)
    (tmp_path / "c.txt2").write_text("x")
    with pytest.raises(InputError, match="not a CSV or Excel"):
        read_coalition_table(tmp_path / "c.txt2", PLAYERS)


def test_savings_game_sign_convention():
    c = Game.from_dict({"A": 8, "B": 11, "A+B": 15}, ["A", "B"], kind="cost")
    v = c.to_savings()
    assert v.kind == "value"
    assert v.value("A") == 0 and v.value("B") == 0 and v.value("A+B") == 4
    # Savings split equally (Shapley) = payments 8 - 2 and 11 - 2.
    np.testing.assert_allclose(shapley(v).amounts, [2, 2])
    np.testing.assert_allclose(shapley(c).amounts, [6, 9])
    back = v.with_basis([8, 11], "cost")
    np.testing.assert_allclose(back.table(), c.table())


def test_worth_is_negated_cost():
    c = Game.from_dict({"A": 8, "B": 11, "A+B": 15}, ["A", "B"], kind="cost")
    np.testing.assert_allclose(c.worth_table(), -c.table())


def test_popcount():
    assert popcount(np.arange(8)).tolist() == [0, 1, 1, 2, 1, 2, 2, 3]


def test_function_game_evaluate_and_values_agree():
    w = np.array([1.0, 2.0, 4.0])
    g = Game.from_function(PLAYERS, lambda m: (m * w).sum(axis=1) ** 1.5, kind="cost")
    masks = np.arange(1, 8)
    member = ((masks[:, None] >> np.arange(3)) & 1).astype(bool)
    np.testing.assert_allclose(g.values(masks), g.evaluate(member))
    assert g.grand == pytest.approx(7 ** 1.5)


# --------------------------------------------------------------- service model
def _brute_cost(S, F, v, a):
    best = sum(a[i] for i in S)
    for use in product([0, 1], repeat=len(S)):
        T = [i for i, u in zip(S, use) if u]
        if T:
            best = min(best, F + sum(v[i] for i in T) + sum(a[i] for i in S if i not in T))
    return best


def _brute_surplus(S, F, v, a, b):
    best = -np.inf
    for choice in product([0, 1, 2], repeat=len(S)):  # nothing / alone / shared
        shared = any(c == 2 for c in choice)
        val = -F if shared else 0.0
        for i, c in zip(S, choice):
            val += 0 if c == 0 else (b[i] - a[i] if c == 1 else b[i] - v[i])
        best = max(best, val)
    return best


def test_service_model_matches_brute_force():
    rng = np.random.default_rng(0)
    n = 5
    F = 300.0
    v = rng.uniform(20, 120, n)
    a = rng.uniform(50, 250, n)
    b = rng.uniform(0, 300, n)
    m = ServiceModel([f"P{i}" for i in range(n)], F, v, a, b)
    cg, sg = m.cost_game(), m.surplus_game()
    for mask in range(1, 2 ** n):
        S = [i for i in range(n) if mask >> i & 1]
        assert cg.values(np.array([mask]))[0] == pytest.approx(_brute_cost(S, F, v, a))
        assert sg.values(np.array([mask]))[0] == pytest.approx(_brute_surplus(S, F, v, a, b))
    assert m.pilot_cost == pytest.approx(F + v.sum())


def test_service_model_vectorised_over_draws():
    rng = np.random.default_rng(1)
    n, D = 4, 6
    member = ((np.arange(1, 2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
    F = rng.uniform(100, 200, D)
    v = rng.uniform(10, 50, (D, n))
    a = rng.uniform(40, 120, (D, n))
    out = ServiceModel.cost_values(member, F, v, a)
    assert out.shape == (D, 2 ** n - 1)
    for d in range(D):
        np.testing.assert_allclose(out[d], ServiceModel.cost_values(member, F[d], v[d], a[d]))


def test_service_model_bad_inputs():
    with pytest.raises(InputError, match="variable_cost: amounts must not be negative"):
        ServiceModel(["A", "B"], 10, [-1, 2], [5, 5])
    with pytest.raises(InputError, match="fixed_cost"):
        ServiceModel(["A", "B"], -10, [1, 2], [5, 5])
    with pytest.raises(InputError, match="one per partner"):
        ServiceModel(["A", "B"], 10, [1, 2, 3], [5, 5])
    with pytest.raises(InputError, match="no benefits"):
        ServiceModel(["A", "B"], 10, [1, 2], [5, 5]).surplus_game()


def test_scrb_on_service_model_balances():
    m = ServiceModel(PLAYERS, 600, [150, 120, 60], [500, 450, 200])
    g = m.cost_game()
    assert scrb(g).amounts.sum() == pytest.approx(g.grand)


def test_shapley_draws_matches_game_by_game():
    rng = np.random.default_rng(3)
    D, n = 5, 6
    F = rng.uniform(100, 300, D)
    v = rng.uniform(10, 60, (D, n))
    a = rng.uniform(40, 150, (D, n))
    batch = ServiceModel.shapley_draws(F, v, a, chunk=2)
    for d in range(D):
        g = ServiceModel([f"P{i}" for i in range(n)], F[d], v[d], a[d]).cost_game()
        np.testing.assert_allclose(batch[d], shapley(g).amounts, atol=1e-9)
