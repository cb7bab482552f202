"""Properties of a cost split: would any partner, or group of partners, reasonably refuse it?

For an allocation of payments ``x`` (cost games; receipts for value games):

budget balance
    ``sum x = c(N)``: the whole cost is covered, no more.
individual rationality
    No partner pays more than its stand-alone cost ``c(i)`` (what it would pay
    to meet the need alone), nor, when benefits are known, more than its
    benefit. For a value game: no partner receives less than ``v(i)``.
core
    No group ``S`` pays more than it would on its own: ``x(S) <= c(S)``.
    :func:`core_check` names the most-violated group and by how much.
least core
    When the core is empty, the smallest uniform amount ``epsilon`` such that
    some split has ``x(S) <= c(S) + epsilon`` for every group: how far from
    stable the best possible split is.

:func:`kohlberg_check` tests Kohlberg's (1971) characterisation of the
(pre)nucleolus: for every level ``alpha`` the coalitions with excess at least
``alpha`` form a balanced collection (for the nucleolus, balanced together
with the partners held at their stand-alone position).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linprog

from ..errors import InputError
from ..plotting import format_gbp
from .games import MAX_DENSE_PLAYERS, Game
from .solutions import _membership, least_core_value

__all__ = [
    "CoreCheck",
    "budget_gap",
    "individual_rationality",
    "core_check",
    "kohlberg_check",
    "partner_lines",
    "coalition_sums",
    "core_excess_table",
    "least_core_epsilon",
]


def coalition_sums(x: np.ndarray) -> np.ndarray:
    """``x(S)`` for every bitmask ``S`` (length ``2**n``), by doubling.

    Examples
    --------
    >>> coalition_sums(np.array([1.0, 2.0])).tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    out = np.zeros(1)
    for xi in np.asarray(x, dtype=float):
        out = np.concatenate([out, out + xi])
    return out


def budget_gap(x: Any, total: float) -> float:
    """``sum(x) - total`` (positive: more than the cost is collected)."""
    return float(np.sum(x) - total)


def individual_rationality(x: Any, players: Sequence[str], *, standalone: Any = None,
                           benefit: Any = None, kind: str = "cost",
                           tol: float = 1e-6) -> list[dict[str, Any]]:
    """Partners for whom the split is worse than their alternative.

    Returns one dict per breach: ``partner``, ``against`` (``stand-alone cost``
    or ``benefit``), ``limit``, ``amount`` and ``excess`` (how much worse).
    """
    x = np.asarray(x, dtype=float)
    out = []
    for label, lim in (("stand-alone cost", standalone), ("benefit", benefit)):
        if lim is None:
            continue
        lim = np.asarray(lim, dtype=float)
        for i, p in enumerate(players):
            if not np.isfinite(lim[i]):
                continue
            over = x[i] - lim[i] if kind == "cost" else lim[i] - x[i]
            if over > tol:
                out.append({"partner": p, "against": label, "limit": float(lim[i]),
                            "amount": float(x[i]), "excess": float(over)})
    return out


@dataclass
class CoreCheck:
    """Result of checking an allocation against the core.

    Attributes
    ----------
    in_core : bool
        No checked group is worse off than on its own (within ``tol``).
    worst_coalition : str
        The most-violated group (or the tightest one when none is violated).
    worst_excess : float
        For cost games ``x(S) - c(S)``; for value games ``v(S) - y(S)``:
        positive = how much worse off than alone that group is.
    checked : int
        Number of groups checked (proper, non-empty coalitions with a number).
    total : int
        Number of proper, non-empty coalitions (``2**n - 2``).
    """

    in_core: bool
    worst_coalition: str
    worst_excess: float
    checked: int
    total: int

    @property
    def complete(self) -> bool:
        """Whether every group was checked."""
        return self.checked == self.total


def core_check(game: Game, x: Any, tol: float | None = None) -> CoreCheck:
    """Check ``x`` against every coalition the game defines; name the most violated.

    Examples
    --------
    >>> g = Game.from_dict({"A": 8, "B": 11, "A+B": 15}, ["A", "B"], kind="cost")
    >>> core_check(g, [9, 6])
    CoreCheck(in_core=False, worst_coalition='A', worst_excess=1.0, checked=2, total=2)
    """
    x = np.asarray(x, dtype=float)
    n = game.n
    full = game.full_mask
    if tol is None:
        tol = 1e-7 * max(1.0, abs(game.grand))
    if n == 1:
        return CoreCheck(True, game.players[0], 0.0, 0, 0)
    if game.is_complete and n <= MAX_DENSE_PLAYERS:
        t = game.table("the core check")
        sums = coalition_sums(x)
        masks = np.arange(1, full, dtype=np.int64)
        vals = t[1:full]
        xs = sums[1:full]
    else:
        masks = game.known_masks()
        masks = masks[masks != full]
        if masks.size == 0:
            return CoreCheck(True, "", float("nan"), 0, 2 ** n - 2)
        vals = game.values(masks)
        xs = _membership(masks, n) @ x
    exc = xs - vals if game.kind == "cost" else vals - xs
    k = int(np.argmax(exc))
    return CoreCheck(bool(exc[k] <= tol), game.coalition_name(int(masks[k])), float(exc[k]),
                     int(masks.size), 2 ** n - 2)


def core_excess_table(values: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Largest excess ``x(S) - c(S)`` over proper groups, for many cost tables at once.

    The vectorised form of :func:`core_check` for complete tables (e.g. one per
    Monte Carlo draw and year).

    Parameters
    ----------
    values : array (..., 2**n)
        Cost of every coalition by bitmask (``values[..., 0]`` ignored).
    x : array (..., n)
        Payments (leading axes broadcast with ``values``).

    Returns
    -------
    excess : ndarray (...)
        Positive = that group pays more than on its own (outside the core).
    worst : ndarray of int (...)
        Bitmask of the group attaining it.

    Examples
    --------
    >>> e, m = core_excess_table([0, 8, 11, 15], [[9, 6], [7, 8]])
    >>> e.tolist(), m.tolist()
    ([1.0, -1.0], [1, 1])
    """
    c = np.asarray(values, dtype=float)
    xa = np.asarray(x, dtype=float)
    n = xa.shape[-1]
    if c.shape[-1] != 2 ** n:
        raise InputError(f"values: expected 2**{n} = {2 ** n} coalition values on the last "
                         f"axis, got {c.shape[-1]}.")
    if n < 2:
        shape = np.broadcast_shapes(c.shape[:-1], xa.shape[:-1])
        return np.full(shape, -np.inf), np.zeros(shape, dtype=np.int64)
    sums = np.zeros(xa.shape[:-1] + (1,))
    for i in range(n):
        sums = np.concatenate([sums, sums + xa[..., i:i + 1]], axis=-1)
    exc = (sums - c)[..., 1:-1]
    k = np.argmax(exc, axis=-1)
    return np.take_along_axis(exc, k[..., None], axis=-1)[..., 0], (k + 1).astype(np.int64)


def least_core_epsilon(game: Game) -> tuple[float, bool]:
    """The least-core value in the game's units, and whether every coalition was used.

    For a cost game: the smallest ``eps`` such that some budget-balanced ``x``
    has ``x(S) <= c(S) + eps`` for all ``S``. With a partial table only the
    given coalitions count, so the value is a lower bound.
    """
    n = game.n
    if game.is_complete and n <= MAX_DENSE_PLAYERS:
        return least_core_value(game.worth_table("the least core"), n), True
    masks = game.known_masks()
    full = game.full_mask
    W = np.zeros(full + 1) if n <= MAX_DENSE_PLAYERS else None
    if W is None:
        raise InputError("the least core needs at most 20 players.")
    W[masks] = game.worth(masks)
    W[full] = game.worth(np.array([full]))[0]
    return least_core_value(W, n, masks), False


def kohlberg_check(game: Game, amounts: Any, *, restricted: bool = True,
                   tol: float | None = None) -> bool:
    """Kohlberg's criterion: is ``amounts`` the nucleolus (``restricted``) or prenucleolus?

    For each distinct excess level ``alpha`` (from the highest down), the
    collection ``D(alpha) = {S : e(S) >= alpha}`` must be balanced: positive
    weights ``d_S`` with ``sum_S d_S 1_S = 1_N``. For the nucleolus the
    singletons of partners held exactly at their stand-alone position may be
    added with weight ``>= 0`` (Kohlberg 1971; Peleg & Sudholter 2007, Thm 5.2.7).
    Also checks budget balance and, when ``restricted``, individual rationality.
    """
    n = game.n
    W = game.worth_table("Kohlberg's criterion")
    y = np.asarray(amounts, dtype=float)
    y = y if game.kind == "value" else -y
    full = game.full_mask
    if tol is None:
        tol = 1e-6 * max(1.0, float(np.abs(W).max()))
    if abs(y.sum() - W[full]) > tol:
        return False
    single = 1 << np.arange(n)
    if restricted and np.any(y < W[single] - tol):
        return False
    if n == 1:
        return True
    masks = np.arange(1, full, dtype=np.int64)
    A = _membership(masks, n)
    exc = W[masks] - A @ y
    t0 = np.flatnonzero(np.abs(y - W[single]) <= tol) if restricted else np.array([], int)
    levels = np.sort(np.unique(np.round(exc / tol) * tol))[::-1]
    for alpha in levels:
        D = A[exc >= alpha - tol]
        if not _balanced(D, n, t0):
            return False
        if np.linalg.matrix_rank(D) == n:
            # Once D(alpha) spans R^n it determines the point; lower levels add nothing.
            return True
    return True


def _balanced(D: np.ndarray, n: int, t0: np.ndarray) -> bool:
    """Feasibility of ``D' d + E g = lam 1``, ``d >= 1``, ``g >= 0`` (``E`` = singletons in t0)."""
    k = D.shape[0]
    m = len(t0)
    E = np.zeros((n, m))
    E[t0, np.arange(m)] = 1.0
    A_eq = np.hstack([D.T, E, -np.ones((n, 1))])
    res = linprog(np.zeros(k + m + 1), A_eq=A_eq, b_eq=np.zeros(n),
                  bounds=[(1, None)] * k + [(0, None)] * m + [(None, None)], method="highs")
    return res.status == 0


def partner_lines(players: Sequence[str], x: Any, *, standalone: Any = None,
                  benefit: Any = None, total: float | None = None,
                  tol: float = 0.5) -> list[str]:
    """One plain-English line per partner: what it pays, against going alone and its benefit.

    Examples
    --------
    >>> partner_lines(["Police", "NHS"], [300000, 500000], standalone=[400000, 450000])
    ['Police pays £300,000 (37.5%), £100,000 less than going alone (£400,000).', \
'NHS pays £500,000 (62.5%), £50,000 MORE than going alone (£450,000): it could reasonably refuse.']
    """
    x = np.asarray(x, dtype=float)
    total = float(np.sum(x)) if total is None else total
    sa = None if standalone is None else np.asarray(standalone, dtype=float)
    bn = None if benefit is None else np.asarray(benefit, dtype=float)
    # (reference amounts, then the words when the partner pays less, more, the same)
    refs = [(sa, "less than going alone", "MORE than going alone", "the same as going alone"),
            (bn, "less than its benefit", "more than its benefit", "exactly its benefit")]
    lines = []
    for i, p in enumerate(players):
        share = f" ({x[i] / total:.1%})" if total else ""
        parts = [f"{p} pays {format_gbp(x[i])}{share}"]
        refuse = False
        for ref, less, more, same in refs:
            if ref is None or not np.isfinite(ref[i]):
                continue
            d = ref[i] - x[i]
            amount = f"({format_gbp(ref[i])})"
            if d > tol:
                parts.append(f"{format_gbp(d)} {less} {amount}")
            elif d < -tol:
                parts.append(f"{format_gbp(-d)} {more} {amount}")
                refuse = True
            else:
                parts.append(f"{same} {amount}")
        text = ", ".join(parts)
        if refuse:
            text += ": it could reasonably refuse"
        lines.append(text + ".")
    return lines
