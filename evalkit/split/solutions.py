"""Game-theoretic allocations: Shapley, nucleolus, prenucleolus, least core, SCRB, tau, airport.

Every function takes a :class:`~evalkit.split.games.Game` and returns an
:class:`Allocation` in the game's own units: **payments** for a cost game,
**receipts** for a value game (see :mod:`evalkit.split.games` for the signs).

Methods and sources
-------------------
Shapley value (Shapley 1953)
    ``phi_i = sum_{S not containing i} |S|!(n-|S|-1)!/n! [w(S+i) - w(S)]``,
    computed exactly, vectorised over all ``2**n`` coalitions with bitmask
    arrays (up to 20 players; also over many games at once, see
    :func:`shapley_table`). Larger games: permutation sampling (Castro, Gomez &
    Tejada 2009) with antithetic (reversed) permutations and a standard error
    per partner.
Nucleolus and prenucleolus (Schmeidler 1969)
    Sequential linear programmes (Maschler, Peleg & Shapley 1979) with
    ``scipy.optimize.linprog`` (HiGHS). At each stage only the coalitions
    that are tight at **every** optimum are fixed: those with a strictly
    positive dual value (complementary slackness); if no dual is clearly
    positive, each tight coalition is tested by a further LP that tries to
    make it slack. Fixing every coalition that happens to be binding in the
    solution the solver returns is the classic mistake (Guajardo & Jornsten
    2015) and gives wrong answers. Coalitions whose excess is determined by
    those already fixed are dropped, so at most ``n - 1`` stages are needed.
    The nucleolus is restricted to imputations (no partner worse off than
    alone); the prenucleolus is not.
Least core (Maschler, Peleg & Shapley 1979)
    The smallest ``eps`` such that some budget-balanced allocation leaves no
    group paying more than ``c(S) + eps`` (cost games). ``eps <= 0`` iff the
    core is non-empty. Variants of Young, Okada & Hashimoto (1982): *weak*
    (``eps`` per member, ``|S| eps``) and *proportional* (``eps`` as a share of
    the group's cost, ``c(S) eps``). The least core is a set; the point
    reported is its own nucleolus (for the standard variant, the
    prenucleolus), as Young et al. did.
SCRB: separable costs, remaining benefits (US Federal Inter-Agency River Basin Committee 1950)
    ``SC_i = c(N) - c(N - i)``; remaining benefit ``r_i = min(c(i), b_i) - SC_i``
    (benefit ``b_i`` when given, else the stand-alone cost alone);
    ``x_i = SC_i + r_i / sum(r) * (c(N) - sum(SC))``. Needs only the grand
    coalition, the singletons and the all-but-one coalitions.
Tau value (Tijs 1981)
    Utopia payoffs ``M_i = w(N) - w(N - i)``, minimal rights
    ``m_i = max_{S containing i} [w(S) - sum_{j in S - i} M_j]``; tau is the
    efficient point on the segment from ``m`` to ``M``. Defined for
    quasi-balanced games (``m <= M``, ``sum m <= w(N) <= sum M``).
Airport rule (Littlechild & Owen 1973)
    For airport games ``c(S) = max_{i in S} c(i)``: see :func:`evalkit.split.rules.airport`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from math import factorial
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from ..errors import EvalkitError, InputError
from . import rules as _rules
from .games import MAX_DENSE_PLAYERS, Game, _all_popcounts

__all__ = [
    "Allocation",
    "shapley",
    "shapley_table",
    "shapley_sample",
    "nucleolus",
    "prenucleolus",
    "least_core",
    "least_core_value",
    "scrb",
    "tau",
    "airport_rule",
    "sequential_lp",
]

ExcessKind = Literal["standard", "per_capita", "proportional"]


class SolverError(EvalkitError):
    """The linear-programming solver failed on a well-formed problem."""


@dataclass
class Allocation:
    """An allocation of a game's total among its players.

    Attributes
    ----------
    method : str
        Which solution produced it.
    players : tuple of str
    kind : {'cost', 'value'}
        ``cost``: ``amounts`` are payments; ``value``: receipts.
    amounts : ndarray
        One number per player, adding up to the game's grand-coalition number.
    se : ndarray or None
        Standard errors (sampling estimates only).
    details : dict
        Method-specific extras (``epsilon`` of a least core, LP stages...).
    notes : list of str
        Plain-English caveats.
    """

    method: str
    players: tuple[str, ...]
    kind: str
    amounts: np.ndarray
    se: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_series(self) -> pd.Series:
        """Amounts indexed by player."""
        return pd.Series(self.amounts, index=pd.Index(self.players, name="partner"),
                         name=self.method)

    def __getitem__(self, player: str) -> float:
        return float(self.amounts[self.players.index(player)])

    def __repr__(self) -> str:
        what = "pays" if self.kind == "cost" else "receives"
        body = ", ".join(f"{p} {what} {a:,.2f}" for p, a in zip(self.players, self.amounts))
        return f"Allocation({self.method}: {body})"


def _alloc(game: Game, method: str, worth_alloc: np.ndarray, **kw: Any) -> Allocation:
    amounts = np.asarray(worth_alloc, dtype=float)
    if game.kind == "cost":
        amounts = -amounts
    return Allocation(method, game.players, game.kind, amounts + 0.0, **kw)


# ---------------------------------------------------------------- Shapley
def _shapley_weights(n: int) -> np.ndarray:
    """``w[s] = s!(n-s-1)!/n!`` for s = 0..n-1."""
    return np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])


def shapley_table(values: Any) -> np.ndarray:
    """Exact Shapley values from full coalition tables, vectorised.

    Parameters
    ----------
    values : array (..., 2**n)
        ``values[..., mask]`` is the number of the coalition with bitmask
        ``mask`` (bit ``i`` = player ``i``); ``values[..., 0]`` is ignored
        (taken as 0). Leading axes are independent games (e.g. Monte Carlo
        draws), computed in one pass.

    Returns
    -------
    ndarray (..., n)
        Shapley values in the same units (payments for cost tables).

    Examples
    --------
    >>> shapley_table([0, 8, 11, 11]).tolist()    # airport game, 2 players
    [4.0, 7.0]
    """
    v = np.asarray(values, dtype=float)
    size = v.shape[-1]
    n = size.bit_length() - 1
    if size != 1 << n or n < 1:
        raise InputError(f"values: the last axis must have 2**n entries (one per coalition); "
                         f"got {size}.")
    if n > 24:
        raise InputError("values: at most 24 players for an exact table.")
    lead = v.shape[:-1]
    if np.any(v[..., 0] != 0):
        v = v.copy()
        v[..., 0] = 0.0
    if not np.all(np.isfinite(v)):
        raise InputError("values: every coalition needs a finite number for the Shapley value.")
    # phi_i = sum_{T contains i} w(|T|-1) v(T) - sum_{S without i} w(|S|) v(S)
    #       = sum_{T contains i} u(T) - B,  u(T) = v(T) [w(|T|-1) + w(|T|)],  B = sum_S w(|S|) v(S)
    # (w(-1) = w(n) = 0), so each player needs one sum over half the table: O(n 2**n)
    # reads of contiguous blocks and no temporary differences.
    w = _shapley_weights(n)
    wa = np.concatenate([[0.0], w])  # w(|T| - 1), zero for the empty set
    wb = np.concatenate([w, [0.0]])  # w(|S|), zero for the grand coalition
    pc = _all_popcounts(n)
    u = v * (wa + wb)[pc]
    total_b = v @ wb[pc]
    if lead and n <= 16:
        # Many games at once: one matrix product with the (2**n x n) membership matrix.
        return u @ _membership_matrix(n) - total_b[..., None]
    out = np.empty(lead + (n,))
    for i in range(n):
        blocks = u.reshape(lead + (1 << (n - 1 - i), 2, 1 << i))
        out[..., i] = blocks[..., 1, :].sum(axis=(-2, -1)) - total_b
    return out


@lru_cache(maxsize=8)
def _membership_matrix(n: int) -> np.ndarray:
    masks = np.arange(1 << n, dtype=np.int64)
    m = ((masks[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(float)
    m.setflags(write=False)
    return m


def shapley_sample(game: Game, n_permutations: int = 2000, *, seed: int = 0,
                   antithetic: bool = True, progress: bool = False) -> Allocation:
    """Shapley value estimated by sampling permutations (Castro et al. 2009).

    Each sampled order of arrival gives every player its marginal contribution;
    the estimate is the mean. With ``antithetic=True`` each order is paired
    with its reverse (which lowers the variance); the standard error is then
    computed from the pair means. Every sampled order's contributions add up to
    the grand-coalition number, so the estimate balances the budget exactly.

    Parameters
    ----------
    game : Game
        Any game that can evaluate arbitrary coalitions (complete table or a
        function-defined game).
    n_permutations : int
        Number of orders sampled (rounded up to even when antithetic).
    seed : int
        Seed for ``numpy.random.default_rng``.

    Returns
    -------
    Allocation
        With ``se`` (standard error per player) and ``details['n_permutations']``.
    """
    n = game.n
    if n_permutations < 2:
        raise InputError("n_permutations: need at least 2 sampled orders.")
    if game._func is None and not game.is_complete:
        missing = 2 ** n - 1 - len(game.known_masks())
        raise InputError(f"The sampled Shapley value needs a game that can give any "
                         f"coalition's number; the table is missing {missing:,} coalitions. "
                         "Define the game by a function (e.g. the default service model).")
    rng = np.random.default_rng(seed)
    half = (n_permutations + 1) // 2 if antithetic else n_permutations
    perms = np.argsort(rng.random((half, n)), axis=1)
    if antithetic:
        perms = np.concatenate([perms, perms[:, ::-1]])
    total = perms.shape[0]
    contrib = np.empty((total, n))
    chunk = max(1, int(2e7 // max(1, n * n)))
    starts = range(0, total, chunk)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc="Shapley sampling", unit="chunk")
    grand = game.grand
    for s in starts:
        p = perms[s:s + chunk]
        rank = np.argsort(p, axis=1)  # rank[k, i] = position of player i
        member = rank[:, None, :] < np.arange(1, n + 1)[None, :, None]  # (k, n, n)
        vals = game.evaluate(member)  # (k, n): value after t+1 arrivals
        vals[:, -1] = grand
        marg = np.diff(vals, axis=1, prepend=0.0)
        out = np.empty_like(marg)
        np.put_along_axis(out, p, marg, axis=1)
        contrib[s:s + chunk] = out
    if antithetic:
        pairs = 0.5 * (contrib[:half] + contrib[half:])
        est = pairs.mean(axis=0)
        se = pairs.std(axis=0, ddof=1) / np.sqrt(half)
    else:
        est = contrib.mean(axis=0)
        se = contrib.std(axis=0, ddof=1) / np.sqrt(total)
    return Allocation("shapley", game.players, game.kind, est, se=se,
                      details={"n_permutations": int(total), "antithetic": antithetic,
                               "seed": seed, "exact": False},
                      notes=[f"Sampled estimate from {total:,} orders of arrival; largest "
                             f"standard error {se.max():,.2f}."])


def shapley(game: Game, *, method: Literal["auto", "exact", "sample"] = "auto",
            n_permutations: int = 2000, seed: int = 0, progress: bool = False) -> Allocation:
    """Shapley value: exact up to 20 players, a sampling estimate with standard errors above.

    Examples
    --------
    >>> g = Game.from_dict({"A": 8, "B": 11, "C": 13, "D": 18, "A+B": 11, "A+C": 13,
    ...     "A+D": 18, "B+C": 13, "B+D": 18, "C+D": 18, "A+B+C": 13, "A+B+D": 18,
    ...     "A+C+D": 18, "B+C+D": 18, "A+B+C+D": 18}, list("ABCD"), kind="cost")
    >>> shapley(g).amounts.round(9).tolist()
    [2.0, 3.0, 4.0, 9.0]
    """
    if method not in ("auto", "exact", "sample"):
        raise InputError(f"method: expected 'auto', 'exact' or 'sample', got {method!r}.")
    if method == "sample" or (method == "auto" and game.n > MAX_DENSE_PLAYERS):
        return shapley_sample(game, n_permutations, seed=seed, progress=progress)
    table = game.table("The Shapley value")
    return Allocation("shapley", game.players, game.kind, shapley_table(table),
                      details={"exact": True})


# ------------------------------------------------------- nucleolus family
def _membership(masks: np.ndarray, n: int) -> np.ndarray:
    return ((masks[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(float)


def sequential_lp(worth: np.ndarray, n: int, *, restricted: bool,
                  scale: np.ndarray | None = None, tol: float = 1e-9,
                  max_stages: int | None = None) -> tuple[np.ndarray, list[float], dict]:
    """Lexicographic minimisation of (scaled) excesses by sequential LPs.

    Parameters
    ----------
    worth : array (2**n,)
        ``w`` (value orientation) for every coalition.
    n : int
        Number of players.
    restricted : bool
        Restrict to imputations (``x_i >= w({i})``): the nucleolus. Otherwise
        the prenucleolus.
    scale : array (2**n,), optional
        Positive divisor of each coalition's excess (``|S|`` for the per-capita
        nucleolus, ``c(S)`` for the proportional one). Default 1.
    tol : float
        Relative tolerance for ties and rank decisions.

    Returns
    -------
    x : ndarray (n,)
        The (pre)nucleolus in worth units.
    levels : list of float
        The optimal (scaled) maximal excess at each stage; ``levels[0]`` is the
        least-core value.
    info : dict
        ``n_lps`` (LPs solved), ``fixed`` (coalitions fixed per stage).
    """
    W = np.asarray(worth, dtype=float)
    full = (1 << n) - 1
    if n == 1:
        return np.array([W[full]]), [0.0], {"n_lps": 0, "fixed": []}
    masks = np.arange(1, full, dtype=np.int64)
    A = _membership(masks, n)
    wS = W[masks]
    s = np.ones(len(masks)) if scale is None else np.asarray(scale, dtype=float)[masks]
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise InputError("excess scale: every coalition's scale must be positive "
                         "(the proportional variant needs every group's cost to be above zero).")
    big = max(1.0, float(np.max(np.abs(W))))
    atol = tol * big
    lb = W[1 << np.arange(n)] if restricted else np.full(n, -np.inf)
    if restricted and lb.sum() > W[full] + atol:
        raise InputError("the nucleolus needs at least one imputation (an allocation leaving "
                         "every partner at least as well off as alone), but the partners' "
                         "stand-alone positions add up to more than the whole group's: "
                         f"{lb.sum():,.2f} > {W[full]:,.2f}. Use the prenucleolus instead.")
    bounds = [(None if not np.isfinite(b) else float(b), None) for b in lb] + [(None, None)]
    free = np.ones(len(masks), dtype=bool)
    eq_rows = [np.ones(n)]
    eq_rhs = [float(W[full])]
    Q = np.ones((n, 1)) / np.sqrt(n)
    levels: list[float] = []
    fixed_log: list[list[int]] = []
    n_lps = 0
    c = np.zeros(n + 1)
    c[-1] = 1.0
    stages = max_stages or (n + 5)
    for _ in range(stages):
        idx = np.flatnonzero(free)
        A_ub = np.hstack([-A[idx], -s[idx, None]])
        b_ub = -wS[idx]
        A_eq = np.hstack([np.array(eq_rows), np.zeros((len(eq_rows), 1))])
        res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=np.array(eq_rhs),
                      bounds=bounds, method="highs")
        n_lps += 1
        if res.status != 0:
            raise SolverError(f"nucleolus: the linear programme failed at stage "
                              f"{len(levels) + 1}: {res.message}")
        eps = float(res.x[-1])
        y = -np.asarray(res.ineqlin.marginals)
        weight = y * s[idx]
        slack = (b_ub - A_ub @ res.x)  # >= 0; 0 = tight
        tight = slack <= atol * 10
        chosen = idx[(weight > 1e-9) & tight]
        if chosen.size == 0:
            chosen = _always_tight(idx[tight], A, wS, s, eps, free, eq_rows, eq_rhs,
                                   bounds, n, atol)
            n_lps += int(np.sum(tight))
        if chosen.size == 0:  # pragma: no cover - numerical safeguard
            raise SolverError("nucleolus: could not identify the coalitions tight at every "
                              "optimum (numerical trouble); rescale the costs and retry.")
        levels.append(eps)
        fixed_log.append([int(masks[k]) for k in chosen])
        for k in chosen[np.argsort(-weight[np.searchsorted(idx, chosen)])]:
            a = A[k]
            r = a - Q @ (Q.T @ a)
            if np.linalg.norm(r) > 1e-9 * np.sqrt(n):
                eq_rows.append(a.copy())
                eq_rhs.append(float(wS[k] - s[k] * eps))
                Q = np.hstack([Q, (r / np.linalg.norm(r))[:, None]])
            free[k] = False
        if Q.shape[1] >= n:
            break
        rest = np.flatnonzero(free)
        if rest.size:
            R = A[rest] - (A[rest] @ Q) @ Q.T
            inspan = np.linalg.norm(R, axis=1) <= 1e-9 * np.sqrt(n)
            free[rest[inspan]] = False
        if not free.any():  # pragma: no cover - implies full rank
            break
    M = np.array(eq_rows)
    if M.shape[0] >= n and np.linalg.matrix_rank(M) == n:
        x = np.linalg.lstsq(M, np.array(eq_rhs), rcond=None)[0]
    else:  # pragma: no cover - should not happen
        raise SolverError("nucleolus: the stages did not pin down a unique allocation.")
    return x, levels, {"n_lps": n_lps, "fixed": fixed_log}


def _always_tight(cand: np.ndarray, A: np.ndarray, wS: np.ndarray, s: np.ndarray, eps: float,
                  free: np.ndarray, eq_rows: list, eq_rhs: list, bounds: list, n: int,
                  atol: float) -> np.ndarray:
    """Of the coalitions tight at one optimum, those tight at every optimum (one LP each)."""
    idx = np.flatnonzero(free)
    A_ub = -A[idx]
    b_ub = -wS[idx] + s[idx] * eps + atol
    A_eq = np.array(eq_rows)
    keep = []
    for k in cand:
        # maximise the slack of coalition k: min (w(S) - x(S)) i.e. min -a_k x
        res = linprog(A[k], A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=np.array(eq_rhs),
                      bounds=bounds[:n], method="highs")
        if res.status == 0:
            best_excess = wS[k] - float(A[k] @ res.x)
            if best_excess >= s[k] * eps - 10 * atol:
                keep.append(k)
    return np.array(keep, dtype=np.int64)


def _scale(game: Game, excess: ExcessKind) -> np.ndarray | None:
    if excess == "standard":
        return None
    if excess == "per_capita":
        return _all_popcounts(game.n).astype(float)
    if excess == "proportional":
        if game.kind != "cost":
            raise InputError("the proportional variant is defined for cost games (excess as a "
                             "share of each group's stand-alone cost).")
        return game.table("The proportional nucleolus").copy()
    raise InputError(f"excess: expected 'standard', 'per_capita' or 'proportional', got "
                     f"{excess!r}.")


_EXCESS_LABEL = {"standard": "", "per_capita": "per-capita ", "proportional": "proportional "}


def nucleolus(game: Game, *, excess: ExcessKind = "standard", tol: float = 1e-9) -> Allocation:
    """The nucleolus (restricted to imputations), by sequential LPs.

    Parameters
    ----------
    game : Game
        Needs every coalition.
    excess : {'standard', 'per_capita', 'proportional'}
        Plain excess, excess per member (Grotte's per-capita nucleolus; the
        *weak* variant of Young et al. 1982), or excess as a share of the
        group's cost (*proportional*).

    Examples
    --------
    >>> g = Game.from_dict({"P1": 0, "P2": 0, "P3": 0, "P1+P2": 10, "P1+P3": 0,
    ...                     "P2+P3": 0, "P1+P2+P3": 2}, ["P1", "P2", "P3"], kind="value")
    >>> (np.round(nucleolus(g).amounts, 9) + 0.0).tolist()  # Peleg & Sudholter (2007) Ex. 5.5.12
    [1.0, 1.0, 0.0]
    """
    W = game.worth_table(f"The {_EXCESS_LABEL[excess]}nucleolus")
    x, levels, info = sequential_lp(W, game.n, restricted=True, scale=_scale(game, excess),
                                    tol=tol)
    return _alloc(game, "nucleolus" if excess == "standard" else f"{excess}_nucleolus", x,
                  details={"levels": _levels_out(game, levels), **info})


def prenucleolus(game: Game, *, excess: ExcessKind = "standard", tol: float = 1e-9) -> Allocation:
    """The prenucleolus (not restricted to imputations), by sequential LPs.

    Examples
    --------
    >>> g = Game.from_dict({"P1": 0, "P2": 0, "P3": 0, "P1+P2": 10, "P1+P3": 0,
    ...                     "P2+P3": 0, "P1+P2+P3": 2}, ["P1", "P2", "P3"], kind="value")
    >>> np.round(prenucleolus(g).amounts, 9).tolist()  # Peleg & Sudholter (2007) Ex. 5.5.12
    [3.0, 3.0, -4.0]
    """
    W = game.worth_table(f"The {_EXCESS_LABEL[excess]}prenucleolus")
    x, levels, info = sequential_lp(W, game.n, restricted=False, scale=_scale(game, excess),
                                    tol=tol)
    return _alloc(game, "prenucleolus" if excess == "standard" else f"{excess}_prenucleolus",
                  x, details={"levels": _levels_out(game, levels), **info})


def _levels_out(game: Game, levels: list[float]) -> list[float]:
    # In cost terms the excess of S is x(S) - c(S), the same number as w(S) - y(S).
    return [float(v) for v in levels]


_VARIANT = {"standard": "standard", "weak": "per_capita", "proportional": "proportional"}


def least_core(game: Game, *, variant: Literal["standard", "weak", "proportional"] = "standard",
               tol: float = 1e-9) -> Allocation:
    """The least core's value ``epsilon`` and its nucleolus point.

    For a cost game, ``epsilon`` is the smallest amount such that some
    budget-balanced allocation has every group paying at most
    ``c(S) + epsilon`` (``weak``: ``c(S) + |S| epsilon``; ``proportional``:
    ``c(S) (1 + epsilon)``). ``epsilon <= 0`` means the core is non-empty and
    ``-epsilon`` is how far inside it the point is; ``epsilon > 0`` is the
    least-core distance of an empty core. For a value game the same with
    ``v(S) - epsilon``.

    Examples
    --------
    >>> g = Game.from_dict({"A": 1, "B": 1, "C": 1, "A+B": 1, "A+C": 1, "B+C": 1,
    ...                     "A+B+C": 1.8}, ["A", "B", "C"], kind="cost")
    >>> lc = least_core(g)
    >>> round(lc.details["epsilon"], 6), np.round(lc.amounts, 6).tolist()
    (0.2, [0.6, 0.6, 0.6])
    """
    if variant not in _VARIANT:
        raise InputError(f"variant: expected 'standard', 'weak' or 'proportional', got "
                         f"{variant!r}.")
    excess = _VARIANT[variant]
    W = game.worth_table(f"The {variant} least core")
    x, levels, info = sequential_lp(W, game.n, restricted=False, scale=_scale(game, excess),
                                    tol=tol)
    name = "least_core" if variant == "standard" else f"{variant}_least_core"
    return _alloc(game, name, x, details={"epsilon": float(levels[0]), "variant": variant,
                                          "levels": levels, **info})


def least_core_value(worth: np.ndarray, n: int, masks: np.ndarray | None = None) -> float:
    """The least-core value ``min_x max_S (w(S) - x(S))`` over budget-balanced ``x``.

    ``masks`` restricts the coalitions considered (e.g. the known ones of a
    partial table); by default every proper coalition.
    """
    W = np.asarray(worth, dtype=float)
    full = (1 << n) - 1
    if n == 1:
        return 0.0
    if masks is None:
        masks = np.arange(1, full, dtype=np.int64)
    masks = masks[(masks != 0) & (masks != full)]
    if masks.size == 0:
        return float("-inf")
    A = _membership(masks, n)
    A_ub = np.hstack([-A, -np.ones((len(masks), 1))])
    c = np.zeros(n + 1)
    c[-1] = 1
    res = linprog(c, A_ub=A_ub, b_ub=-W[masks], A_eq=np.hstack([np.ones((1, n)), [[0.0]]]),
                  b_eq=[W[full]], bounds=[(None, None)] * (n + 1), method="highs")
    if res.status != 0:  # pragma: no cover
        raise SolverError(f"least core: the linear programme failed: {res.message}")
    return float(res.x[-1])


# --------------------------------------------------------------- SCRB, tau
def scrb(game: Game, benefit: Any = None) -> Allocation:
    """Separable costs, remaining benefits.

    Parameters
    ----------
    game : Game
        Needs the grand coalition, each player alone and each all-but-one group.
    benefit : array (n,), optional
        Each partner's benefit (cost games only); the *justifiable* cost is
        ``min(c(i), benefit_i)``.

    Notes
    -----
    A negative remaining benefit (separable cost above the justifiable cost)
    is set to zero, with a note, as in US water-resources practice.

    Examples
    --------
    >>> g = Game.from_dict({"A": 8, "B": 11, "A+B": 15}, ["A", "B"], kind="cost")
    >>> scrb(g).amounts.tolist()   # SC = (4, 7), NSC = 4, r = (4, 4)
    [6.0, 9.0]
    """
    n = game.n
    full = game.full_mask
    single = 1 << np.arange(n, dtype=np.int64)
    others = full ^ single
    needed = np.unique(np.concatenate([[full], single, others[others != 0]]))
    game.require(needed, "SCRB")
    c = game.values(np.array([full]))[0] if game.kind == "cost" else -game.values(
        np.array([full]))[0]
    sign = 1.0 if game.kind == "cost" else -1.0
    c_minus = sign * game.values(others)
    c_alone = sign * game.values(single)
    sep = c - c_minus
    just = c_alone.copy()
    notes = []
    if benefit is not None:
        if game.kind != "cost":
            raise InputError("benefit: SCRB takes benefits only for cost games.")
        b = np.asarray(benefit, dtype=float)
        if b.shape != (n,) or not np.all(np.isfinite(b)):
            raise InputError(f"benefit: expected {n} numbers (one per partner).")
        just = np.minimum(just, b)
    rem = just - sep
    if np.any(rem < 0):
        neg = [game.players[i] for i in np.flatnonzero(rem < 0)]
        notes.append("Separable cost exceeds the justifiable cost for " + ", ".join(neg)
                     + "; their remaining benefit is set to zero.")
        rem = np.maximum(rem, 0.0)
    nsc = c - sep.sum()
    if rem.sum() <= 0:
        if abs(nsc) > 1e-9 * max(1.0, abs(c)):
            raise InputError("SCRB is not defined for this game: no partner has a positive "
                             "remaining benefit, so the non-separable cost "
                             f"({nsc:,.2f}) cannot be shared in proportion to them.")
        x = sep
    else:
        x = sep + nsc * rem / rem.sum()
    amounts = x if game.kind == "cost" else -x
    return Allocation("scrb", game.players, game.kind, amounts,
                      details={"separable": sign * sep, "remaining_benefit": rem,
                               "non_separable": sign * nsc}, notes=notes)


def tau(game: Game, tol: float = 1e-9) -> Allocation:
    """The tau value (Tijs 1981); cost games through their savings game.

    Examples
    --------
    >>> g = Game.from_dict({"P1": 0, "P2": 0, "P3": 0, "P1+P2": 1, "P1+P3": 2,
    ...                     "P2+P3": 1, "P1+P2+P3": 3}, ["P1", "P2", "P3"], kind="value")
    >>> np.round(tau(g).amounts, 9).tolist()   # Stach (2011)
    [1.2, 0.6, 1.2]
    """
    n = game.n
    W = game.worth_table("The tau value")
    full = game.full_mask
    single = 1 << np.arange(n)
    M = W[full] - W[full ^ single]
    msum = np.zeros(1)
    for i in range(n):
        msum = np.concatenate([msum, msum + M[i]])
    R = (W - msum).reshape((2,) * n)
    m = np.empty(n)
    for i in range(n):
        sel = [slice(None)] * n
        sel[n - 1 - i] = 1
        m[i] = R[tuple(sel)].max() + M[i]
    atol = tol * max(1.0, float(np.abs(W).max()))
    if np.any(m > M + atol) or m.sum() > W[full] + atol or W[full] > M.sum() + atol:
        raise InputError("The tau value is not defined for this game: it is not "
                         "quasi-balanced (each partner's minimal right must not exceed its "
                         "utopia payoff, and the total must lie between their sums).")
    gap = M.sum() - m.sum()
    x = M.copy() if gap <= atol else m + (W[full] - m.sum()) / gap * (M - m)
    return _alloc(game, "tau", x, details={"utopia": -M if game.kind == "cost" else M,
                                           "minimal_right": -m if game.kind == "cost" else m})


def airport_rule(game: Game) -> Allocation:
    """Littlechild-Owen rule for an airport game ``c(S) = max_{i in S} c(i)``.

    Needs each partner's stand-alone cost and the grand coalition; with a
    complete table the airport structure is checked.

    Examples
    --------
    >>> g = Game.from_dict({"A": 8, "B": 11, "C": 13, "D": 18, "A+B+C+D": 18},
    ...                    list("ABCD"), kind="cost")
    >>> airport_rule(g).amounts.tolist()
    [2.0, 3.0, 4.0, 9.0]
    """
    if game.kind != "cost":
        raise InputError("The airport rule applies to cost games.")
    single = 1 << np.arange(game.n, dtype=np.int64)
    game.require(np.concatenate([single, [game.full_mask]]), "The airport rule")
    levels = game.standalone
    grand = game.grand
    notes = []
    if abs(levels.max() - grand) > 1e-9 * max(1.0, grand):
        raise InputError(f"The airport rule needs the whole group's cost to equal the highest "
                         f"stand-alone cost ({levels.max():,.2f}), but it is {grand:,.2f}: "
                         "this is not an airport game.")
    if game.is_complete:
        if not game.is_airport():
            raise InputError("The airport rule needs an airport game: every group's cost must "
                             "be the highest stand-alone cost among its members.")
    else:
        notes.append("Airport structure checked only on the coalitions given.")
    return Allocation("airport", game.players, "cost", _rules.airport(grand, levels),
                      notes=notes)
