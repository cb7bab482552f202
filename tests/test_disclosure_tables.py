"""Disclosure control of published tables: adversarial tables and properties.

The intruder in these tests is written independently of evalkit's own audit:
a plain linear programme over every cell (scipy ``linprog``) that knows every
published cell *exactly* (stronger than reality, where they are rounded),
every total, and that a hidden count is at least 1 (zeros are shown, so
``*`` never hides a 0).
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from scipy.optimize import linprog

from evalkit.disclosure import (
    METADATA_SHEET,
    Derived,
    DisclosurePolicy,
    Money,
    protect,
    protect_labels,
    protect_table,
    scan_build,
    sidecar_path,
    summarise_money,
    write_xlsx,
)
from evalkit.errors import InputError

HES = DisclosurePolicy.nhs()


# ---------------------------------------------------------------------------
# an independent intruder
# ---------------------------------------------------------------------------
def full_table(inner: np.ndarray) -> np.ndarray:
    """Inner counts plus row totals, column totals and the grand total."""
    r, c = inner.shape
    full = np.zeros((r + 1, c + 1))
    full[:r, :c] = inner
    full[:r, c] = inner.sum(axis=1)
    full[r, :c] = inner.sum(axis=0)
    full[r, c] = inner.sum()
    return full


def intruder_intervals(full: np.ndarray, hidden: np.ndarray, lower: float = 1.0):
    """Tightest bounds on each hidden cell of a table with margins, by LP.

    Variables are all cells; published cells are pinned to their true value;
    hidden cells are >= ``lower``; every row and column adds up to its total.
    """
    r1, c1 = full.shape
    n = r1 * c1
    idx = lambda i, j: i * c1 + j
    a_eq, b_eq = [], []
    for i in range(r1):  # row i: cells = total
        row = np.zeros(n)
        for j in range(c1 - 1):
            row[idx(i, j)] = 1
        row[idx(i, c1 - 1)] = -1
        a_eq.append(row)
        b_eq.append(0)
    for j in range(c1):
        row = np.zeros(n)
        for i in range(r1 - 1):
            row[idx(i, j)] = 1
        row[idx(r1 - 1, j)] = -1
        a_eq.append(row)
        b_eq.append(0)
    bounds = [(lower, None) if hidden.ravel()[k] else (full.ravel()[k], full.ravel()[k])
              for k in range(n)]
    out = {}
    for k in np.flatnonzero(hidden.ravel()):
        c = np.zeros(n)
        c[k] = 1
        lo = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        assert lo.status == 0
        out[divmod(int(k), c1)] = (lo.fun, math.inf if hi.status == 3 else -hi.fun)
    return out


def hidden_mask(pt, symbol="*") -> np.ndarray:
    return (pt.table == symbol).to_numpy()


# ---------------------------------------------------------------------------
# adversarial table 1: two-way table with margins
# ---------------------------------------------------------------------------
TWO_WAY = pd.DataFrame({"re-referred": [3, 15, 12], "not re-referred": [20, 25, 30]},
                       index=pd.Index(["Northfield", "Southgate", "Eastbrook"], name="area"))


def test_two_way_naive_primary_suppression_is_undone_by_subtraction():
    full = full_table(TWO_WAY.to_numpy(dtype=float))
    # Naive: hide only the small count, publish everything else unrounded.
    naive = full.copy()
    naive[0, 0] = np.nan
    # The intruder subtracts: row total minus the rest of the row ...
    assert naive[0, 2] - naive[0, 1] == 3
    # ... or column total minus the rest of the column.
    assert naive[3, 0] - naive[1, 0] - naive[2, 0] == 3
    hidden = np.zeros_like(full, dtype=bool)
    hidden[0, 0] = True
    lo, hi = intruder_intervals(full, hidden)[(0, 0)]
    assert lo == hi == 3  # a point: fully disclosed


def test_two_way_evalkit_blocks_subtraction():
    pt = protect_table(TWO_WAY)
    full = full_table(TWO_WAY.to_numpy(dtype=float))
    hidden = hidden_mask(pt)
    assert hidden[0, 0]                       # the 3 is suppressed
    assert hidden.sum() == 4                  # plus the cheapest rectangle of three more
    # every row and column with a hidden cell has at least two hidden cells
    assert all(hidden[i].sum() != 1 for i in range(hidden.shape[0]))
    assert all(hidden[:, j].sum() != 1 for j in range(hidden.shape[1]))
    bounds = intruder_intervals(full, hidden)
    for cell, (lo, hi) in bounds.items():
        assert hi - lo >= 1, f"cell {cell} is recoverable: [{lo}, {hi}]"
    lo, hi = bounds[(0, 0)]
    assert hi - lo >= HES.count_protection  # wide: at least threshold-1 = 7
    assert lo <= 3 <= hi
    # the record says why, and the audit agrees with the independent intruder
    rec = pt.record.set_index(["row", "column"])
    assert rec.loc[("Northfield", "re-referred"), "status"] == "small count"
    assert (pt.record["status"] == "secondary").sum() == 3
    aud = pt.audit.set_index(["row", "column"])
    assert aud.loc[("Northfield", "re-referred"), "intruder_lower"] == pytest.approx(lo)
    assert aud.loc[("Northfield", "re-referred"), "intruder_upper"] == pytest.approx(hi)


def test_secondary_pattern_is_the_cheapest_by_brute_force():
    """The MILP's pattern costs no more than any protecting pattern found by enumeration."""
    pt = protect_table(TWO_WAY)
    full = full_table(TWO_WAY.to_numpy(dtype=float))
    chosen = hidden_mask(pt)
    cost = lambda mask: float((full[mask] + 1).sum())  # evalkit's default cost
    cells = [(i, j) for i in range(4) for j in range(3) if (i, j) != (0, 0)]
    best = math.inf
    for k in range(1, 4):
        for extra in itertools.combinations(cells, k):
            mask = np.zeros_like(chosen)
            mask[0, 0] = True
            for c in extra:
                mask[c] = True
            if cost(mask) >= best:
                continue
            lo, hi = intruder_intervals(full, mask)[(0, 0)]
            if hi - lo >= HES.count_protection:
                best = cost(mask)
    assert cost(chosen) == pytest.approx(best)


# ---------------------------------------------------------------------------
# adversarial table 2: a single suppressed cell in a row with a total
# ---------------------------------------------------------------------------
def test_single_cell_suppression_in_a_row_total():
    row = pd.Series({"Housing": 5, "Police": 40, "NHS": 31}, name="referrals")
    # Naive: the total and the other cells give the hidden one away.
    assert (row.sum() - row["Police"] - row["NHS"]) == 5
    pt = protect_table(row)
    shown = pt.table["referrals"]
    assert shown["Housing"] == "*"
    assert (shown == "*").sum() == 2           # one more cell hidden
    assert shown["Total"] != "*"               # the total is kept (hiding it costs more)
    assert shown["Total"] == 75                # 76 rounded to the nearest 5
    # intruder: the two hidden cells add up to a known total, each is at least 1
    hidden = shown == "*"
    known = row[~hidden[row.index]].sum()
    pair_sum = row.sum() - known
    lo, hi = 1, pair_sum - 1
    assert hi - lo >= HES.count_protection
    # evalkit's own audit gives the same interval
    a = pt.audit.set_index("row").loc["Housing"]
    assert (a["intruder_lower"], a["intruder_upper"]) == (lo, hi)


def test_two_small_cells_that_pin_each_other_get_a_third():
    """1 + 1 with a known sum of 2 and a floor of 1 is fully disclosed: add a cell."""
    row = pd.Series({"a": 1, "b": 1, "c": 30, "d": 44}, name="n")
    pt = protect_table(row)
    hidden = (pt.table["n"] == "*")
    assert hidden[["a", "b"]].all()
    assert hidden.sum() >= 3
    assert pt.audit.assign(w=pt.audit.intruder_upper - pt.audit.intruder_lower)["w"].min() >= 1


# ---------------------------------------------------------------------------
# adversarial table 3: a mean of 3 people
# ---------------------------------------------------------------------------
def test_mean_of_three_people_is_suppressed():
    d = pd.DataFrame({"group": ["Rough sleepers", "Families", "Care leavers"],
                      "people": [3, 25, 7],
                      "mean_cost": [812.0, 640.5, 1203.3],
                      "median_nights": [14.0, 6.0, 30.0]})
    pt = protect(d, counts=["people"], derived={"mean_cost": "people",
                                                "median_nights": Derived(n="people")})
    t = pt.table.set_index("group")
    assert t.loc["Rough sleepers", "mean_cost"] == "*"
    assert t.loc["Rough sleepers", "median_nights"] == "*"
    assert t.loc["Care leavers", "mean_cost"] == "*"          # 7 < 8 (HES: 1-7)
    assert t.loc["Families", "mean_cost"] == pytest.approx(640.5)
    assert t.loc["Families", "people"] == 25
    rec = pt.record.set_index(["row", "column"])
    assert rec.loc[("Rough sleepers", "mean_cost"), "status"] == "few people"
    assert "fewer than 8 people" in rec.loc[("Rough sleepers", "mean_cost"), "reason"]


def test_mean_of_eight_people_is_published():
    d = pd.DataFrame({"people": [8], "mean": [3.5]})
    pt = protect(d, counts=["people"], derived={"mean": "people"})
    assert pt.table.loc[0, "mean"] == 3.5 and pt.table.loc[0, "people"] == 10


# ---------------------------------------------------------------------------
# adversarial table 4: a rounding attack
# ---------------------------------------------------------------------------
ROUNDING = pd.DataFrame({
    "area": ["North", "South", "All areas"],
    "re_referred": [4, 19, 23],
    "people": [30, 31, 61],
})


def _candidates(rounded: int, base: int = 5) -> range:
    """Integers that round to ``rounded`` at ``base`` (the intruder's view of a rounded count)."""
    return range(max(0, rounded - base // 2), rounded + base // 2 + 1)


def _consistent(pct_shown: float, k: int, n: int) -> bool:
    return round(100 * k / n, 1) == pct_shown


def test_rounding_attack_on_naive_output_recovers_the_hidden_count():
    """Naive: hide the 4 and (by hand) a second cell, round counts, but give percentages
    from the unrounded counts. The percentages undo the rounding."""
    pct = (100 * ROUNDING.re_referred / ROUNDING.people).round(1)
    naive = {"South": {"people": 30, "pct": pct[1]},           # re_referred hidden (secondary)
             "All areas": {"re_referred": 25, "people": 60, "pct": pct[2]}}
    total_k = {k for k in _candidates(naive["All areas"]["re_referred"])
               for n in _candidates(naive["All areas"]["people"])
               if _consistent(naive["All areas"]["pct"], k, n)}
    south_k = {k for n in _candidates(naive["South"]["people"]) for k in range(0, n + 1)
               if _consistent(naive["South"]["pct"], k, n)}
    north = {t - s for t in total_k for s in south_k if t - s >= 1}
    assert north == {4}   # the suppressed count is recovered exactly


def test_rounding_attack_fails_on_evalkit_output():
    d = ROUNDING.assign(pct=100 * ROUNDING.re_referred / ROUNDING.people)
    pt = protect(d, counts=["re_referred", "people"],
                 derived={"pct": ("re_referred", "people")},
                 total_row={"area": "All areas"})
    t = pt.table.set_index("area")
    assert t.loc["North", "re_referred"] == "*"
    assert t.loc["North", "pct"] == "*"
    assert t.loc["South", "re_referred"] == "*"        # secondary
    assert t.loc["South", "pct"] == "*"                # would reveal the secondary cell
    # published percentages come from the published (rounded) counts
    assert t.loc["All areas", "pct"] == pytest.approx(100 * 25 / 60)
    # The intruder's enumeration now leaves many values for North.
    total_k = {k for k in _candidates(t.loc["All areas", "re_referred"])
               for n in _candidates(t.loc["All areas", "people"])
               if round(100 * _round5(k) / _round5(n), 6) == round(t.loc["All areas", "pct"], 6)}
    assert len(total_k) == 5   # the percentage adds nothing to the rounded count
    north = {tk - s for tk in total_k for s in range(1, tk)}   # South's count only >= 1
    assert len(north) > 7


def _round5(v: int) -> int:
    return int(5 * math.floor(v / 5 + 0.5))


def test_totals_rounded_independently_not_from_rounded_cells():
    """Adding up rounded cells (suppressed one included) would leak round5(hidden)."""
    row = pd.Series({"a": 2, "b": 12, "c": 12, "d": 41}, name="n")
    pt = protect_table(row)
    shown = pt.table["n"]
    assert shown["Total"] == _round5(int(row.sum()))     # 67 -> 65, from the true total
    naive_additive_total = sum(_round5(v) for v in row)   # 0 + 10 + 10 + 40 = 60
    assert naive_additive_total != shown["Total"]


# ---------------------------------------------------------------------------
# primary rules and the policy
# ---------------------------------------------------------------------------
def test_hes_and_ons_primary_rules():
    s = pd.Series({"a": 0, "b": 1, "c": 7, "d": 8, "e": 9, "f": 10, "g": 13}, name="n")
    hes = protect_table(s, margins=False).table["n"]
    assert hes.tolist() == [0, "*", "*", 10, 10, 10, 15]
    ons = protect_table(s, margins=False, policy="ons").table["n"]
    assert ons.tolist() == [0, "*", "*", "*", "*", 10, 15]
    zeros = protect_table(s, margins=False, policy={"zeros": "suppress"}).table["n"]
    assert zeros.tolist()[:2] == ["*", "*"]


def test_zeros_suppressed_lower_bound_is_zero():
    t = pd.DataFrame({"x": [0, 20, 30], "y": [25, 22, 40]})
    pt = protect_table(t, policy={"zeros": "suppress"})
    hidden = hidden_mask(pt)
    assert hidden[0, 0]
    full = full_table(t.to_numpy(dtype=float))
    for _cell, (lo, hi) in intruder_intervals(full, hidden, lower=0.0).items():
        assert hi - lo >= 1


def test_custom_symbol_and_footnote():
    pt = protect_table(pd.Series({"a": 2, "b": 50, "c": 60}), policy={"symbol": "[c]"})
    assert (pt.table.iloc[:, 0] == "[c]").sum() == 2
    assert pt.footnote().startswith("[c] = fewer than 8 people")


def test_protected_percentages_recomputed_from_published_counts():
    d = pd.DataFrame({"yes": [23, 40], "n": [61, 80]})
    d["share"] = d.yes / d.n
    pt = protect(d, counts=["yes", "n"], derived={"share": ("yes", "n")})
    assert pt.table.loc[0, "share"] == pytest.approx(25 / 60)
    assert pt.table.loc[1, "share"] == pytest.approx(40 / 80)


def test_derived_scale_checked():
    d = pd.DataFrame({"yes": [23, 40], "n": [61, 80], "pct": [37.7, 12.0]})
    with pytest.raises(InputError, match="not a fixed multiple"):
        protect(d, counts=["yes", "n"], derived={"pct": ("yes", "n")})


def test_hidden_inputs_are_not_published():
    d = pd.DataFrame({"area": ["N", "S"], "n": [12, 30], "mean": [2.0, 3.0]})
    pt = protect(d, derived={"mean": "n"})
    assert list(pt.table.columns) == ["area", "mean"]


# ---------------------------------------------------------------------------
# money and dominance
# ---------------------------------------------------------------------------
def _money_frame():
    rng = np.random.default_rng(20240401)
    rows = []
    for area, n in (("North", 30), ("South", 25), ("East", 40), ("West", 3)):
        for i in range(n):
            rows.append({"person_id": f"{area[0]}{i:05d}", "area": area,
                         "cost": float(rng.gamma(2.0, 300.0))})
    # One East resident with a very expensive placement dominates East's total.
    rows.append({"person_id": "E99999", "area": "East", "cost": 250_000.0})
    return pd.DataFrame(rows)


def test_dominance_rule_and_money_secondary_suppression():
    d = _money_frame()
    s = summarise_money(d, "area", "cost")
    s.loc["All areas"] = [s.total.sum(), s.n.sum(), s.largest.max(),
                          np.sort(np.r_[s.largest, s.second])[-2]]
    pt = protect(s, counts=["n"], money={"total": Money(n="n", largest="largest",
                                                        second="second")},
                 total_row="All areas")
    t, st_ = pt.table, pt.status
    assert st_.loc["East", "total"] == "dominance"    # one person > 80% of East's total
    assert st_.loc["West", "total"] == "few people"   # 3 people
    assert st_.loc["West", "n"] == "small count"
    assert "largest" not in t.columns and "second" not in t.columns
    # East and West are hidden; the total row then lets nobody subtract both out
    # unless another cell is hidden too - check with the intruder's LP on money.
    hidden = (t["total"] == "*").to_numpy()
    vals = s["total"].to_numpy()
    lo_hi = _one_way_money_bounds(vals, hidden)
    for i, (lo, hi) in lo_hi.items():
        if st_.iloc[i]["total"] in ("dominance", "few people"):
            assert hi - lo >= HES.money_protection * vals[i] - 1e-6


def _one_way_money_bounds(vals: np.ndarray, hidden: np.ndarray):
    """Intruder bounds in a one-way money table whose last row is the total (>= 0)."""
    n = len(vals)
    a_eq = [np.r_[np.ones(n - 1), -1.0]]
    bounds = [(0, None) if hidden[k] else (vals[k], vals[k]) for k in range(n)]
    out = {}
    for k in np.flatnonzero(hidden):
        c = np.zeros(n)
        c[k] = 1
        lo = linprog(c, A_eq=a_eq, b_eq=[0], bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=a_eq, b_eq=[0], bounds=bounds, method="highs")
        out[int(k)] = (lo.fun, math.inf if hi.status == 3 else -hi.fun)
    return out


def test_money_needs_contributions_or_explicit_opt_out():
    with pytest.raises(InputError, match="largest"):
        Money(n="n")
    d = pd.DataFrame({"n": [20], "cost": [1000.0]})
    pt = protect(d, counts=["n"], money={"cost": Money(n="n", dominance=False)})
    assert any("Dominance rule not applied" in note for note in pt.notes)


def test_summarise_money_hand_worked():
    d = pd.DataFrame({"person_id": ["a", "a", "b", "c", "d"], "g": ["x", "x", "x", "x", "y"],
                      "v": [100.0, 50.0, 30.0, 20.0, 5.0]})
    s = summarise_money(d, "g", "v")
    assert s.loc["x"].tolist() == [200.0, 3, 150.0, 30.0]
    assert s.loc["y"].tolist() == [5.0, 1, 5.0, 0.0]


# ---------------------------------------------------------------------------
# hard to misuse
# ---------------------------------------------------------------------------
def test_undeclared_numeric_column_refused():
    d = pd.DataFrame({"area": ["N"], "people": [20], "cost": [5.0]})
    with pytest.raises(InputError, match=r"\['cost'\] are not declared"):
        protect(d, counts=["people"])


def test_identifier_columns_refused_or_dropped():
    d = pd.DataFrame({"Person ID": ["P0000123"], "people": [20]})
    with pytest.raises(InputError, match="identify people"):
        protect(d, counts=["people"])
    pt = protect(d, counts=["people"], drop_sensitive=True)
    assert "Person ID" not in pt.table.columns
    d2 = pd.DataFrame({"people": [20]}, index=pd.Index(["P1"], name="person_id"))
    with pytest.raises(InputError, match="index"):
        protect(d2, counts=["people"])


def test_bad_counts_refused():
    with pytest.raises(InputError, match="whole numbers"):
        protect(pd.DataFrame({"n": [2.5]}), counts=["n"])
    with pytest.raises(InputError, match="whole numbers"):
        protect(pd.DataFrame({"n": [-1]}), counts=["n"])
    with pytest.raises(InputError, match="add up"):
        protect(pd.DataFrame({"a": [10, 20], "b": [5, 5], "t": [15, 26]}), counts=["a", "b", "t"],
                sums={"t": ["a", "b"]})
    with pytest.raises(InputError, match="not found"):
        protect(pd.DataFrame({"n": [20]}), counts=["m"])
    with pytest.raises(InputError, match="exactly one"):
        protect(pd.DataFrame({"n": [20]}), counts=["n"], total_row="nope")


def test_opt_out_must_be_explicit_and_visible():
    d = pd.DataFrame({"region": ["England"], "people": [3]})
    with pytest.raises(InputError, match="reason"):
        protect(d, counts=["people"], opt_out="")
    pt = protect(d, counts=["people"], opt_out="national figure already published by ONS")
    assert pt.table.loc[0, "people"] == 3
    html_ = pt.to_html()
    assert 'data-evalkit-table="opted-out"' in html_
    assert "Disclosure control not applied: national figure" in html_
    assert "DISCLOSURE CONTROL OFF" in repr(pt)
    with pytest.raises(InputError, match="identify people"):
        protect(d.assign(postcode=["AN1 2YT"]), counts=["people"], opt_out="national figures")


def test_policy_cannot_be_switched_off_place_wide():
    from evalkit.errors import ConfigError

    with pytest.raises(ConfigError, match="enabled"):
        DisclosurePolicy.from_settings({"enabled": False})


# ---------------------------------------------------------------------------
# published files carry the marks the scan reads, and pass the scan
# ---------------------------------------------------------------------------
def test_html_csv_xlsx_marks_and_clean_scan(tmp_path):
    pt = protect_table(TWO_WAY, name="re-referrals")
    html_ = pt.to_html(caption="Re-referrals by area")
    assert 'class="evalkit-table evalkit-counts"' in html_
    assert html_.count('data-evalkit-kind="count"') == 3 + 4 * 3
    (tmp_path / "index.html").write_text(f"<html><body>{html_}</body></html>")
    pt.to_csv(tmp_path / "_downloads" / "rereferrals.csv")
    meta = json.loads(sidecar_path(tmp_path / "_downloads" / "rereferrals.csv").read_text())
    assert meta["columns"]["re-referred"] == "count" and meta["columns"]["area"] == "label"
    write_xlsx(tmp_path / "_downloads" / "tables.xlsx", {"Re-referrals": pt})
    wb = load_workbook(tmp_path / "_downloads" / "tables.xlsx")
    assert wb[METADATA_SHEET].sheet_state == "hidden"
    assert wb["Re-referrals"]["B2"].value == "*"
    report = scan_build(tmp_path, identifiers=["P0000123"], dates_of_birth=["1990-05-17"],
                        policy=HES)
    assert report.ok, report.lines()
    assert len(report.files_scanned) == 4


def test_labels_for_figures():
    pt = protect_table(TWO_WAY)
    assert pt.labels("re-referred") == ["*", "*", "10", "30"]
    assert pt.values["re-referred"].isna().tolist() == [True, True, False, False]
    assert protect_labels([2, 19, 0, 1234]) == ["*", "20", "0", "1,235"]
    assert protect_labels([12.5, 30.0], kind="derived", n=[3, 50]) == ["*", "30.0"]
    with pytest.raises(InputError, match="needs n="):
        protect_labels([12.5], kind="derived")


def test_summary_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    pt = protect_table(TWO_WAY, name="t")
    text = str(pt.summary())
    assert "secondary" in text and "analyst only" in text
    ax = pt.plot()
    assert ax.get_title() == "Disclosure control: t"


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------
CELL = st.sampled_from([0, 1, 2, 3, 5, 7, 8, 9, 12, 20, 41, 75])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(2, 4), st.data())
def test_property_two_way_tables(r, c, data):
    inner = np.array(data.draw(st.lists(CELL, min_size=r * c, max_size=r * c))).reshape(r, c)
    pt = protect_table(pd.DataFrame(inner, columns=[f"c{j}" for j in range(c)]))
    shown = pt.table.to_numpy()
    numbers = [v for v in shown.ravel() if not isinstance(v, str)]
    # no published count in 1..7, and every published count rounded to 5
    assert not any(1 <= v <= 7 for v in numbers)
    assert all(v % 5 == 0 for v in numbers)
    full = full_table(inner.astype(float))
    hidden = shown == "*"
    # every small cell is hidden
    assert hidden[(full >= 1) & (full <= 7)].all()
    for (i, j), (lo, hi) in intruder_intervals(full, hidden).items():
        assert hi - lo >= 1, f"cell ({i},{j}) = {full[i, j]} recoverable"
        if 1 <= full[i, j] <= 7:
            assert hi - lo >= HES.count_protection - 1e-9


@settings(max_examples=30, deadline=None)
@given(st.lists(CELL, min_size=1, max_size=7))
def test_property_one_way_tables(values):
    s = pd.Series(values, index=[f"k{i}" for i in range(len(values))], name="n")
    pt = protect_table(s)
    shown = pt.table["n"]
    numbers = [v for v in shown if not isinstance(v, str)]
    assert not any(1 <= v <= 7 for v in numbers)
    hidden = (shown == "*").to_numpy()
    full = np.r_[np.array(values, float), float(sum(values))]
    n = len(full)
    a_eq = [np.r_[np.ones(n - 1), -1.0]]
    bounds = [(1, None) if hidden[k] else (full[k], full[k]) for k in range(n)]
    for k in np.flatnonzero(hidden):
        cvec = np.zeros(n)
        cvec[k] = 1
        lo = linprog(cvec, A_eq=a_eq, b_eq=[0], bounds=bounds, method="highs").fun
        hi_res = linprog(-cvec, A_eq=a_eq, b_eq=[0], bounds=bounds, method="highs")
        hi = math.inf if hi_res.status == 3 else -hi_res.fun
        assert hi - lo >= 1


def test_column_sums_protect_each_row():
    d = pd.DataFrame({"service": ["Housing", "Police"], "female": [4, 30], "male": [25, 41],
                      "all": [29, 71]})
    pt = protect(d, counts=["female", "male", "all"], sums={"all": ["female", "male"]})
    t = pt.table.set_index("service")
    assert t.loc["Housing", "female"] == "*"
    # hiding one cell of "4 + 25 = 29" alone gives it away: a second cell goes too
    assert (t.loc["Housing"] == "*").sum() == 2
    assert (t.loc["Police"] == "*").sum() == 0


def test_money_means_checked_for_dominance():
    d = pd.DataFrame({"group": ["a", "b"], "n": [20, 20], "mean_cost": [500.0, 500.0],
                      "largest": [9000.0, 600.0], "second": [100.0, 550.0]})
    pt = protect(d, counts=["n"], money={"mean_cost": Money(n="n", largest="largest",
                                                            second="second", statistic="mean")})
    # group a: total 10,000, one person 9,000 (90%) -> suppressed; group b: 6% -> shown
    assert pt.status["mean_cost"].tolist() == ["dominance", ""]
