"""Secondary cell suppression and the intruder's audit, for tables with totals.

A table with totals is a set of cells ``x`` tied by linear constraints: each
total equals the sum of its parts. Once some cells are suppressed, an intruder
who knows every published figure (even unrounded) and that cells are
non-negative can still bound each suppressed cell by solving two linear
programmes, ``min x_p`` and ``max x_p`` subject to the constraints (the
"attacker problem", Hundepool et al. 2012, sect. 4.3). A suppressed cell is
*protected* when the interval ``[min, max]`` is at least as wide as the
required protection.

Choosing the extra (secondary) suppressions
-------------------------------------------
evalkit solves the cell suppression problem exactly as a mixed-integer
programme (the compact model of Fischetti & Salazar-Gonzalez 1999) with
:func:`scipy.optimize.milp` (HiGHS):

* a binary ``y_j`` per candidate cell (1 = suppress), cost ``c_j``;
* for every primary cell ``p`` that is not already protected, two feasible
  tables ``v + z'`` and ``v + z''`` that agree with every published cell
  (``|z_j| <= M y_j`` for candidates) and respect the known lower bounds, with
  ``z'_p - z''_p >= w_p``: these witness that the intruder's interval for ``p``
  is at least ``w_p`` wide;
* minimise ``sum c_j y_j``. The default cost is the cell's value plus one,
  so the pattern hides as few people (and as few cells) as possible and
  avoids hiding large totals.

Because the intruder's feasible set only grows when more cells are hidden,
the two witnesses per cell are necessary and sufficient: the programme's
optimum is the least costly pattern that protects every primary cell. For
one- and two-way tables with margins the constraint matrix is totally
unimodular, so the linear-programming bounds are also the integer bounds.

Every pattern is then audited by solving the attacker problem for each
suppressed cell (:func:`attacker_intervals`). A secondary cell whose value
turns out to be determined anyway is published again (hiding it protects
nothing). If the solver fails, evalkit falls back to suppressing every
candidate cell, which is always safe.

Examples
--------
A row ``3 + 40 + 50 = 93`` where only the 3 is small: suppressing 3 alone
leaves it recoverable (93 - 40 - 50), so the 40 is suppressed as well.

>>> import numpy as np
>>> values = np.array([3., 40., 50., 93.])
>>> res = secondary_suppression(values, primary=np.array([1, 0, 0, 0], bool),
...                             constraints=[(3, (0, 1, 2))], lower=np.ones(4),
...                             required_width=np.array([7., 0, 0, 0]))
>>> res.suppressed.tolist()
[True, True, False, False]
>>> lo, hi = attacker_intervals(values, res.suppressed, [(3, (0, 1, 2))], np.ones(4))
>>> float(lo[0]), float(hi[0])
(1.0, 42.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from ..errors import InputError

__all__ = [
    "Constraint",
    "SuppressionResult",
    "attacker_intervals",
    "secondary_suppression",
]

#: ``(total_index, (component_indices...))``: the total equals the sum of the parts.
Constraint = tuple[int, tuple[int, ...]]

_TOL = 1e-7


@dataclass
class SuppressionResult:
    """What secondary suppression decided.

    Attributes
    ----------
    suppressed : ndarray of bool
        Every suppressed cell (primary and secondary).
    secondary : ndarray of bool
        Cells suppressed only to protect others.
    lower, upper : ndarray of float
        The intruder's bounds for each suppressed cell (NaN for published
        cells; ``inf`` when unbounded above).
    protects : dict of int to list of int
        For each secondary cell, the primary cells whose protection needed it
        (from the solver's witnesses); used to explain the record.
    method : str
        ``"none needed"``, ``"milp"`` or ``"fallback: all candidates"``.
    """

    suppressed: np.ndarray
    secondary: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    protects: dict[int, list[int]] = field(default_factory=dict)
    method: str = "none needed"


def _constraint_matrix(n: int, constraints: Sequence[Constraint]) -> sparse.csr_matrix:
    rows, cols, vals = [], [], []
    for k, (total, parts) in enumerate(constraints):
        rows.append(k)
        cols.append(total)
        vals.append(1.0)
        for j in parts:
            rows.append(k)
            cols.append(j)
            vals.append(-1.0)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(constraints), n))


def _check(values: np.ndarray, constraints: Sequence[Constraint]) -> None:
    n = len(values)
    for total, parts in constraints:
        idx = (total, *parts)
        if any(i < 0 or i >= n for i in idx):
            raise InputError(f"constraint {total} = sum{parts} refers to a cell outside "
                             f"0..{n - 1}.")
        s = float(np.sum(values[list(parts)]))
        if abs(values[total] - s) > 1e-6 * max(1.0, abs(values[total])):
            raise InputError(
                f"a total ({values[total]:g}) does not equal the sum of its parts ({s:g}); "
                "disclosure control needs the unrounded figures with totals that add up."
            )


def attacker_intervals(
    values: np.ndarray,
    suppressed: np.ndarray,
    constraints: Sequence[Constraint],
    lower: np.ndarray | float = 0.0,
    upper: np.ndarray | float = np.inf,
    cells: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The intruder's tightest bounds on every suppressed cell.

    Solves ``min x_s`` and ``max x_s`` for each suppressed cell ``s`` over all
    tables that agree with the published cells, satisfy the totals, and lie
    within ``[lower, upper]`` (the intruder's prior knowledge, e.g. counts are
    at least 1 when zeros are shown).

    Parameters
    ----------
    values : array of float
        True values of every cell (published cells are taken as exactly known).
    suppressed : array of bool
    constraints : list of (total, parts)
    lower, upper : float or array
        Known bounds for suppressed cells (``-inf``/``inf`` for none).
    cells : list of int, optional
        Only bound these suppressed cells (default: all).

    Returns
    -------
    lo, hi : arrays of float
        NaN for published cells.
    """
    values = np.asarray(values, dtype=float)
    supp = np.asarray(suppressed, dtype=bool)
    n = len(values)
    lower = np.broadcast_to(np.asarray(lower, dtype=float), (n,))
    upper = np.broadcast_to(np.asarray(upper, dtype=float), (n,))
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    idx = np.flatnonzero(supp)
    if idx.size == 0:
        return lo, hi
    scale = max(1.0, float(np.nanmax(np.abs(values))))
    v = values / scale
    pos = {j: i for i, j in enumerate(idx)}
    a_rows, b = [], []
    for total, parts in constraints:
        row = np.zeros(idx.size)
        rhs = 0.0
        for j, coef in ((total, 1.0), *((p, -1.0) for p in parts)):
            if j in pos:
                row[pos[j]] += coef
            else:
                rhs -= coef * v[j]
        if np.any(row != 0):
            a_rows.append(row)
            b.append(rhs)
    bounds = [(None if not np.isfinite(lower[j]) else lower[j] / scale,
               None if not np.isfinite(upper[j]) else upper[j] / scale) for j in idx]
    a_eq = np.array(a_rows) if a_rows else None
    b_eq = np.array(b) if a_rows else None
    wanted = set(idx.tolist() if cells is None else [int(c) for c in cells])
    for i, j in enumerate(idx):
        if int(j) not in wanted:
            continue
        cvec = np.zeros(idx.size)
        cvec[i] = 1.0
        for sign, out in ((1.0, lo), (-1.0, hi)):
            res = linprog(sign * cvec, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
            if res.status == 3:  # unbounded
                out[j] = -np.inf if sign > 0 else np.inf
            elif res.status != 0:
                raise InputError(
                    "the published table is inconsistent (its totals cannot be met by "
                    f"non-negative cells): {res.message}"
                )
            else:
                out[j] = round(sign * res.fun * scale, 6)
    return lo, hi


def _solve_milp(
    v: np.ndarray,
    lower: np.ndarray,
    constraints: Sequence[Constraint],
    fixed_suppressed: np.ndarray,
    candidates: np.ndarray,
    targets: list[int],
    widths: np.ndarray,
    cost: np.ndarray,
    time_limit: float,
    tight: bool = True,
) -> tuple[np.ndarray | None, dict[int, list[int]], int]:
    """Solve the compact cell-suppression MILP on scaled values.

    With ``tight`` the big-M of target ``p``'s witnesses is its required width
    ``w_p``: in a table whose constraints form a network (one- and two-way
    tables with margins), a feasible perturbation that moves ``p`` by ``w``
    decomposes into conformal cycles, and the cycles through ``p`` alone give a
    witness that moves no cell by more than ``w`` in the same directions. This
    makes the relaxation much tighter; the audit that follows checks the result.
    """
    n = len(v)
    free = np.flatnonzero(fixed_suppressed | candidates)
    cand = np.flatnonzero(candidates & ~fixed_suppressed)
    fpos = {j: i for i, j in enumerate(free)}
    ypos = {j: i for i, j in enumerate(cand)}
    nf, ny, nt = free.size, cand.size, len(targets)
    big_m = float(np.sum(np.abs(v)) + np.max(widths) + 1.0)
    nvar = ny + 2 * nt * nf

    def zcol(t: int, copy: int, j: int) -> int:
        return ny + (2 * t + copy) * nf + fpos[j]

    m_t = [min(big_m, float(widths[p])) if tight else big_m for p in targets]

    def down_of(j: int, t: int) -> float:
        d = v[j] - lower[j] if np.isfinite(lower[j]) else big_m
        return min(d, m_t[t])

    lb = np.zeros(nvar)
    ub = np.ones(nvar)
    for t in range(nt):
        for copy in (0, 1):
            for j in free:
                c = zcol(t, copy, j)
                lb[c] = -down_of(j, t)
                ub[c] = m_t[t]

    rows, cols, vals, rlo, rhi = [], [], [], [], []
    r = 0
    active = [(tot, parts) for tot, parts in constraints
              if any(j in fpos for j in (tot, *parts))]
    for t, p in enumerate(targets):
        for copy in (0, 1):
            for tot, parts in active:
                for j, coef in ((tot, 1.0), *((q, -1.0) for q in parts)):
                    if j in fpos:
                        rows.append(r)
                        cols.append(zcol(t, copy, j))
                        vals.append(coef)
                rlo.append(0.0)
                rhi.append(0.0)
                r += 1
            for j in cand:
                # z_j <= M y_j  and  z_j >= -D_j y_j
                down = down_of(j, t)
                rows += [r, r]
                cols += [zcol(t, copy, j), ypos[j]]
                vals += [1.0, -m_t[t]]
                rlo.append(-np.inf)
                rhi.append(0.0)
                r += 1
                rows += [r, r]
                cols += [zcol(t, copy, j), ypos[j]]
                vals += [1.0, down]
                rlo.append(0.0)
                rhi.append(np.inf)
                r += 1
        rows += [r, r]
        cols += [zcol(t, 0, p), zcol(t, 1, p)]
        vals += [1.0, -1.0]
        rlo.append(widths[p])
        rhi.append(np.inf)
        r += 1
    a = sparse.csr_matrix((vals, (rows, cols)), shape=(r, nvar))
    c = np.zeros(nvar)
    c[:ny] = cost[cand]
    integrality = np.zeros(nvar)
    integrality[:ny] = 1
    res = milp(c, integrality=integrality, bounds=Bounds(lb, ub),
               constraints=LinearConstraint(a, rlo, rhi),
               options={"time_limit": time_limit, "disp": False})
    if res.x is None:
        return None, {}, res.status
    x = res.x
    chosen = np.zeros(n, dtype=bool)
    for j in cand:
        chosen[j] = x[ypos[j]] > 0.5
    protects: dict[int, list[int]] = {}
    for t, p in enumerate(targets):
        for j in cand:
            if chosen[j] and any(abs(x[zcol(t, cp, j)]) > 1e-9 for cp in (0, 1)):
                protects.setdefault(int(j), []).append(int(p))
    return chosen, protects, res.status


def secondary_suppression(
    values: np.ndarray,
    primary: np.ndarray,
    constraints: Sequence[Constraint],
    lower: np.ndarray | float = 0.0,
    required_width: np.ndarray | float = 1.0,
    *,
    candidates: np.ndarray | None = None,
    cost: np.ndarray | None = None,
    time_limit: float = 30.0,
) -> SuppressionResult:
    """Choose the least costly extra suppressions so no suppressed cell is recoverable.

    Parameters
    ----------
    values : array of float
        True (unrounded) values of every cell, totals included.
    primary : array of bool
        Cells suppressed by the primary rules.
    constraints : list of (total, parts)
        Each total equals the sum of its parts. Must hold for ``values``.
    lower : float or array
        What an intruder knows each suppressed cell is at least (1 for counts
        when zeros are shown, 0 for non-negative money, ``-inf`` for none).
    required_width : float or array
        Width the intruder's interval must reach for each primary cell.
    candidates : array of bool, optional
        Cells that may be suppressed as secondaries (default: every
        non-primary cell whose value exceeds its lower bound, i.e. not zeros).
    cost : array of float, optional
        Cost of suppressing each cell (default: value + 1).
    time_limit : float
        Seconds allowed to the MILP solver; at the limit the best pattern found so
        far is used (after the audit), or, if none, every candidate is hidden.

    Returns
    -------
    SuppressionResult
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    primary = np.asarray(primary, dtype=bool).copy()
    if primary.shape != (n,):
        raise InputError(f"primary has shape {primary.shape}; expected ({n},).")
    _check(values, constraints)
    lower = np.array(np.broadcast_to(np.asarray(lower, dtype=float), (n,)))
    widths = np.array(np.broadcast_to(np.asarray(required_width, dtype=float), (n,)))
    if candidates is None:
        candidates = ~primary & ~(np.isfinite(lower) & (values <= lower))
        candidates &= values != 0
    candidates = np.asarray(candidates, dtype=bool) & ~primary
    if cost is None:
        cost = np.abs(values) + 1.0
    scale = max(1.0, float(np.max(np.abs(values))) if n else 1.0)
    v = values / scale
    lw = lower / scale
    w = widths / scale

    suppressed = primary.copy()
    method = "none needed"
    protects: dict[int, list[int]] = {}
    in_constraint = np.zeros(n, dtype=bool)
    for tot, parts in constraints:
        in_constraint[[tot, *parts]] = True
    tol = _TOL * scale

    prim_idx = np.flatnonzero(primary & in_constraint)

    def unprotected(pattern: np.ndarray) -> list[int]:
        lo, hi = attacker_intervals(values, pattern, constraints, lower, cells=prim_idx)
        return [int(p) for p in prim_idx if (hi[p] - lo[p]) < widths[p] - tol]

    todo = unprotected(suppressed)
    if todo:
        tight, slack = True, 0.0
        for _ in range(4):
            chosen, prot, status = _solve_milp(
                v, lw, constraints, suppressed, candidates, todo,
                w * (1.0 + slack) + _TOL * (slack > 0), cost, time_limit, tight=tight)
            if chosen is None:
                break
            trial = suppressed | chosen
            if not unprotected(trial):
                suppressed = trial
                method = "milp" if status == 0 else "milp (time limit: best pattern found)"
                protects = prot
                break
            if tight:              # numerical trouble: retry with the loose model
                tight = False
            else:
                slack = slack * 10 if slack else 1e-3
        if not method.startswith("milp"):
            suppressed |= candidates
            method = "fallback: all candidates"

    # A secondary cell whose value is determined anyway protects nothing: publish it.
    lo, hi = attacker_intervals(values, suppressed, constraints, lower)
    determined = suppressed & ~primary & (hi - lo <= tol)
    if determined.any():
        suppressed &= ~determined
        for j in np.flatnonzero(determined):
            protects.pop(int(j), None)
        lo, hi = attacker_intervals(values, suppressed, constraints, lower)
    secondary = suppressed & ~primary
    return SuppressionResult(
        suppressed=suppressed,
        secondary=secondary,
        lower=lo,
        upper=hi,
        protects={j: sorted(set(ps)) for j, ps in protects.items()},
        method=method,
    )
