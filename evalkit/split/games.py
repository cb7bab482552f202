"""Cooperative cost and value games: who could do what, at what cost, alone or together.

Sign conventions
----------------
A **cost game** ``c`` gives, for every group (coalition) ``S`` of partners, what
``S`` would pay a year to meet its members' needs on its own: ``c(S)`` is its
*stand-alone cost*. An allocation ``x`` says what each partner **pays**;
it balances the budget when ``x(N) = c(N)``; a group ``S`` has a reason to
walk away when ``x(S) > c(S)``; the **core** is every ``x`` with
``x(S) <= c(S)`` for all ``S``.

A **value game** ``v`` gives what each group **gains** by acting together: the
savings ``v(S) = sum_{i in S} c({i}) - c(S)`` of a cost game, or a net benefit.
An allocation ``y`` says what each partner **receives**; the core is every ``y``
with ``y(S) >= v(S)``.

The two are linked by the *savings game*: from ``c`` build
``v(S) = sum_{i in S} c(i) - c(S)``; a savings allocation ``y`` is the payment
``x_i = c(i) - y_i``. Every solution evalkit computes (Shapley, nucleolus,
prenucleolus, least core, SCRB, tau) is covariant under this change, so a cost
game and its savings game give the same payments.

Internally, solutions work on the *worth* ``w``: ``w = v`` for a value game and
``w = -c`` for a cost game (payments are ``x = -y``).

Coalitions are stored as bitmasks: bit ``i`` set means ``players[i]`` is in the
group (``players`` in the order given). Up to 20 players an explicit game is a
dense array of ``2**n`` numbers (NaN where a coalition is not given); a game
can also be defined by a vectorised function of a membership matrix, which is
how the default service model and airport games work for any number of
partners.

Coalition tables
----------------
A CSV/XLSX with a ``coalition`` column naming the partners in each group,
separated by ``+`` or ``;`` (``Police + NHS`` or ``Police;NHS``; spaces around
names are ignored; names match the partners table exactly, or ignoring case
when that is unambiguous), and one number column called ``cost`` (a cost game)
or ``value`` (a value game). One row per coalition; the grand coalition (all
partners) is required; other rows may be left out when the rules chosen do not
need them (each method names the coalitions it is missing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError, Problem, ValidationError

__all__ = [
    "Game",
    "GameKind",
    "MissingCoalitionsError",
    "ServiceModel",
    "MAX_DENSE_PLAYERS",
    "popcount",
    "parse_coalition",
    "read_coalition_table",
]

GameKind = Literal["cost", "value"]

#: Largest number of players for which a game is held as a dense table of
#: ``2**n`` numbers (8 MB at 20 players).
MAX_DENSE_PLAYERS = 20

_SEP = re.compile(r"\s*[+;]\s*")


class MissingCoalitionsError(InputError):
    """A method needs coalitions the game does not define.

    Attributes
    ----------
    missing : list of str
        The missing coalitions, written ``A + B``.
    method : str
        The method that needs them.
    """

    def __init__(self, message: str, missing: Sequence[str], method: str) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.method = method


def popcount(masks: np.ndarray) -> np.ndarray:
    """Number of set bits of each integer in ``masks`` (vectorised).

    Examples
    --------
    >>> popcount(np.array([0, 1, 3, 7, 8])).tolist()
    [0, 1, 2, 3, 1]
    """
    m = np.asarray(masks).astype(np.uint64)
    count = np.zeros(m.shape, dtype=np.int64)
    while np.any(m):
        count += (m & np.uint64(1)).astype(np.int64)
        m = m >> np.uint64(1)
    return count


def _all_popcounts(n: int) -> np.ndarray:
    """Popcount of 0 .. 2**n - 1, built by doubling (fast for n up to 24)."""
    pc = np.zeros(1, dtype=np.int8)
    for _ in range(n):
        pc = np.concatenate([pc, pc + 1])
    return pc


def parse_coalition(text: Any, players: Sequence[str], *, row: int | None = None,
                    file: str | None = None) -> int:
    """Turn ``"Police + NHS"`` (or ``"Police;NHS"``) into a bitmask over ``players``.

    Names are matched exactly after trimming spaces, else ignoring case when
    that is unambiguous.

    Raises
    ------
    ValidationError
        Unknown or repeated partner names, or an empty coalition.

    Examples
    --------
    >>> parse_coalition("B + A", ["A", "B", "C"])
    3
    >>> parse_coalition("c;a", ["A", "B", "C"])
    5
    """
    index = {p: i for i, p in enumerate(players)}
    lower: dict[str, list[int]] = {}
    for i, p in enumerate(players):
        lower.setdefault(p.strip().lower(), []).append(i)
    if text is None or (isinstance(text, float) and np.isnan(text)) or str(text).strip() == "":
        raise ValidationError([Problem("coalitions", file, row, "coalition", None,
                                       "empty coalition: list the partners in the group, "
                                       "separated by '+' or ';'")])
    names = [s for s in _SEP.split(str(text).strip()) if s != ""]
    mask = 0
    problems = []
    for name in names:
        if name in index:
            i = index[name]
        elif len(lower.get(name.lower(), [])) == 1:
            i = lower[name.lower()][0]
        else:
            problems.append(Problem(
                "coalitions", file, row, "coalition", text,
                f"names unknown partner '{name}'; known partners are: "
                + ", ".join(players) + ". Check the spelling against the partners table."))
            continue
        if mask >> i & 1:
            problems.append(Problem("coalitions", file, row, "coalition", text,
                                    f"names partner '{players[i]}' twice"))
        mask |= 1 << i
    if problems:
        raise ValidationError(problems)
    if mask == 0:
        raise ValidationError([Problem("coalitions", file, row, "coalition", text,
                                       "no partner named in this coalition")])
    return mask


@dataclass
class Game:
    """A transferable-utility cooperative game over named players.

    Build one with :meth:`from_table`, :meth:`from_dict`, :meth:`from_array`,
    :meth:`from_function` or :class:`ServiceModel`; do not call the
    constructor directly.

    Attributes
    ----------
    players : tuple of str
        Player (partner) names; bit ``i`` of a coalition mask is ``players[i]``.
    kind : {'cost', 'value'}
        See the module notes for the sign conventions.
    name : str
        A short description used in summaries.

    Examples
    --------
    >>> g = Game.from_dict({"A": 8, "B": 11, "A+B": 11}, ["A", "B"], kind="cost")
    >>> g.grand
    11.0
    >>> g.value("A")
    8.0
    >>> g.is_complete
    True
    """

    players: tuple[str, ...]
    kind: GameKind
    name: str = ""
    _dense: np.ndarray | None = field(default=None, repr=False)
    _sparse: dict[int, float] | None = field(default=None, repr=False)
    _func: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_array(cls, values: Sequence[float] | np.ndarray, players: Sequence[str],
                   kind: GameKind = "cost", name: str = "") -> Game:
        """A game from a dense array indexed by bitmask (``values[0]`` is the empty set).

        ``NaN`` marks a coalition that is not given.
        """
        players = _check_players(players)
        _check_kind(kind)
        arr = np.asarray(values, dtype=float).copy()
        n = len(players)
        if arr.shape != (2 ** n,):
            raise InputError(f"values: expected an array of 2**{n} = {2 ** n} numbers "
                             f"(one per coalition, indexed by bitmask), got shape {arr.shape}.")
        if n > MAX_DENSE_PLAYERS:
            raise InputError(f"players: {n} players is too many for an explicit table "
                             f"(at most {MAX_DENSE_PLAYERS}); define the game by a function.")
        arr[0] = 0.0
        g = cls(tuple(players), kind, name, _dense=arr)
        g._check_grand()
        return g

    @classmethod
    def from_dict(cls, values: Mapping[Any, float], players: Sequence[str],
                  kind: GameKind = "cost", name: str = "") -> Game:
        """A game from ``{coalition: number}``.

        Keys are ``"A+B"``/``"A;B"`` strings, iterables of names, or integer bitmasks.
        """
        players = _check_players(players)
        table: dict[int, float] = {}
        problems = []
        for key, val in values.items():
            try:
                mask = _to_mask(key, players)
            except ValidationError as err:
                problems.extend(err.problems)
                continue
            if mask in table and not _same(table[mask], float(val)):
                problems.append(Problem("coalitions", None, None, "coalition", key,
                                        "this coalition is given twice with different numbers"))
            table[mask] = float(val)
        if problems:
            raise ValidationError(problems)
        return cls._from_mask_table(table, players, kind, name)

    @classmethod
    def _from_mask_table(cls, table: Mapping[int, float], players: tuple[str, ...],
                         kind: GameKind, name: str) -> Game:
        _check_kind(kind)
        n = len(players)
        for mask, val in table.items():
            if not np.isfinite(val):
                raise InputError(f"coalition {_names(mask, players)}: value {val!r} is not a "
                                 "finite number.")
        if n <= MAX_DENSE_PLAYERS:
            arr = np.full(2 ** n, np.nan)
            arr[0] = 0.0
            for mask, val in table.items():
                arr[mask] = val
            g = cls(players, kind, name, _dense=arr)
        else:
            g = cls(players, kind, name, _sparse={int(k): float(v) for k, v in table.items()})
        g._check_grand()
        return g

    @classmethod
    def from_table(cls, table: pd.DataFrame, players: Sequence[str], *,
                   coalition: str = "coalition", kind: GameKind | None = None,
                   file: str | None = None, name: str = "") -> Game:
        """A game from a coalition table (``coalition`` + ``cost`` or ``value`` column).

        Parameters
        ----------
        table : DataFrame
            One row per coalition.
        players : sequence of str
            The partner names (the partners table's ``partner`` column).
        coalition : str
            Name of the column listing partners separated by ``+`` or ``;``.
        kind : {'cost', 'value'}, optional
            Forced kind; by default the table's ``cost`` or ``value`` column decides.
        file : str, optional
            File name used in error messages.

        Raises
        ------
        ValidationError
            Every problem found (unknown partners, repeated coalitions, numbers
            that are not numbers), with spreadsheet row numbers.
        InputError
            Missing columns, or no grand coalition.
        """
        players = _check_players(players)
        if not isinstance(table, pd.DataFrame):
            raise InputError("coalition table: expected a pandas DataFrame.")
        cols = {str(c).strip().lower(): c for c in table.columns}
        if coalition.lower() not in cols:
            raise InputError(f"coalition table{_in(file)}: no '{coalition}' column (found: "
                             f"{', '.join(map(str, table.columns))}). Add a column listing the "
                             "partners in each group, separated by '+' or ';'.")
        ccol = cols[coalition.lower()]
        has_cost, has_value = "cost" in cols, "value" in cols
        if kind is None:
            if has_cost and has_value:
                raise InputError(f"coalition table{_in(file)}: has both 'cost' and 'value' "
                                 "columns; keep one (cost = what the group would pay alone, "
                                 "value = what it gains together).")
            if not (has_cost or has_value):
                raise InputError(f"coalition table{_in(file)}: needs a 'cost' column (what "
                                 "each group would pay on its own) or a 'value' column (what "
                                 "it gains together).")
            kind = "cost" if has_cost else "value"
        _check_kind(kind)
        if kind not in cols:
            raise InputError(f"coalition table{_in(file)}: no '{kind}' column.")
        vcol = cols[kind]
        problems: list[Problem] = []
        entries: dict[int, float] = {}
        first_row: dict[int, int] = {}
        rows = _sheet_rows(table.index)
        for row, ctext, val in zip(rows, table[ccol].tolist(), table[vcol].tolist()):
            try:
                mask = parse_coalition(ctext, players, row=row, file=file)
            except ValidationError as err:
                problems.extend(err.problems)
                continue
            num = pd.to_numeric(pd.Series([val]), errors="coerce").iloc[0]
            if pd.isna(num) or not np.isfinite(num):
                problems.append(Problem("coalitions", file, row, str(vcol), val,
                                        f"the {kind} must be a number"))
                continue
            if mask in entries:
                if not _same(entries[mask], float(num)):
                    problems.append(Problem(
                        "coalitions", file, row, str(ccol), ctext,
                        f"the same coalition is on row {first_row[mask]} with a different "
                        f"{kind} ({entries[mask]:,.2f}); keep one row per coalition"))
                continue
            entries[mask] = float(num)
            first_row[mask] = row
        if problems:
            raise ValidationError(problems)
        return cls._from_mask_table(entries, players, kind, name or (file or "coalition table"))

    @classmethod
    def from_function(cls, players: Sequence[str], func: Callable[[np.ndarray], np.ndarray],
                      kind: GameKind = "cost", name: str = "") -> Game:
        """A game defined by a vectorised function of membership.

        ``func`` takes a boolean array of shape ``(k, n)`` (row = coalition,
        column = player) and returns ``k`` numbers; it is never called with
        the empty coalition.
        """
        players = _check_players(players)
        _check_kind(kind)
        g = cls(players, kind, name, _func=func)
        g._check_grand()
        return g

    # ------------------------------------------------------------- basic info
    @property
    def n(self) -> int:
        """Number of players."""
        return len(self.players)

    @property
    def full_mask(self) -> int:
        """Bitmask of the grand coalition."""
        return (1 << self.n) - 1

    @property
    def is_complete(self) -> bool:
        """Whether every coalition has a number."""
        if self._func is not None:
            return True
        if self._dense is not None:
            return bool(np.all(np.isfinite(self._dense)))
        assert self._sparse is not None
        return len(self._sparse) == 2 ** self.n - 1

    @property
    def grand(self) -> float:
        """``c(N)`` or ``v(N)``: the grand coalition's number."""
        return float(self.values(np.array([self.full_mask]))[0])

    @property
    def standalone(self) -> np.ndarray:
        """Each player's singleton number (NaN where not given)."""
        return self.values(1 << np.arange(self.n, dtype=np.int64))

    def value(self, coalition: Any) -> float:
        """The number of one coalition (names, ``"A+B"`` string or bitmask); NaN if not given."""
        mask = _to_mask(coalition, self.players)
        return float(self.values(np.array([mask]))[0])

    def values(self, masks: np.ndarray) -> np.ndarray:
        """Numbers of many coalitions given as integer bitmasks (NaN where not given)."""
        masks = np.asarray(masks, dtype=np.int64)
        if self._dense is not None:
            return self._dense[masks]
        if self._sparse is not None:
            out = np.array([self._sparse.get(int(m), np.nan) for m in masks.ravel()], dtype=float)
            out[masks.ravel() == 0] = 0.0
            return out.reshape(masks.shape)
        assert self._func is not None
        flat = masks.ravel()
        member = ((flat[:, None] >> np.arange(self.n, dtype=np.int64)) & 1).astype(bool)
        out = np.zeros(flat.shape, dtype=float)
        nz = flat != 0
        if np.any(nz):
            out[nz] = np.asarray(self._func(member[nz]), dtype=float)
        return out.reshape(masks.shape)

    def evaluate(self, membership: np.ndarray) -> np.ndarray:
        """Numbers of coalitions given as a boolean membership array ``(..., n)``."""
        member = np.asarray(membership, dtype=bool)
        if member.shape[-1] != self.n:
            raise InputError(f"membership: last axis must have {self.n} columns (one per player).")
        if self._func is not None:
            flat = member.reshape(-1, self.n)
            out = np.zeros(flat.shape[0])
            nz = flat.any(axis=1)
            if np.any(nz):
                out[nz] = np.asarray(self._func(flat[nz]), dtype=float)
            return out.reshape(member.shape[:-1])
        if self.n > 62:
            raise InputError("membership: a table game with more than 62 players cannot be "
                             "evaluated; define the game by a function.")
        masks = (member.astype(np.int64) << np.arange(self.n, dtype=np.int64)).sum(axis=-1)
        return self.values(masks)

    def table(self, method: str = "this method") -> np.ndarray:
        """The dense array of all ``2**n`` numbers (index = bitmask).

        Raises
        ------
        MissingCoalitionsError
            When any coalition is missing (naming them) or the game is too big.
        """
        if self.n > MAX_DENSE_PLAYERS:
            raise InputError(f"{method} needs every coalition of {self.n} players "
                             f"(2**{self.n} of them), which is too many to hold; "
                             f"at most {MAX_DENSE_PLAYERS} players. Use the sampling estimate "
                             "(shapley with method='sample') or a simpler rule.")
        if "table" in self._cache:
            return self._cache["table"]
        if self._dense is not None:
            arr = self._dense
        elif self._func is not None:
            masks = np.arange(2 ** self.n, dtype=np.int64)
            arr = np.zeros(2 ** self.n)
            member = ((masks[1:, None] >> np.arange(self.n, dtype=np.int64)) & 1).astype(bool)
            arr[1:] = np.asarray(self._func(member), dtype=float)
        else:
            assert self._sparse is not None
            arr = np.full(2 ** self.n, np.nan)
            arr[0] = 0.0
            for m, v in self._sparse.items():
                arr[m] = v
        self.require(np.arange(1, 2 ** self.n, dtype=np.int64), method)
        self._cache["table"] = arr
        return arr

    def require(self, masks: Iterable[int] | np.ndarray, method: str) -> None:
        """Raise :class:`MissingCoalitionsError` unless every coalition in ``masks`` is given."""
        if self._func is not None:
            return
        masks = np.asarray(list(masks) if not isinstance(masks, np.ndarray) else masks,
                           dtype=np.int64)
        vals = self.values(masks)
        miss = masks[~np.isfinite(vals)]
        if miss.size:
            names = [self.coalition_name(int(m)) for m in miss]
            shown = "; ".join(f"'{s}'" for s in names[:8])
            more = f" and {len(names) - 8} more" if len(names) > 8 else ""
            raise MissingCoalitionsError(
                f"{method} needs the {self.kind} of {len(masks)} coalition"
                f"{'s' if len(masks) != 1 else ''}; the table is missing {len(names)}: "
                f"{shown}{more}. Add these rows to the coalition table, or choose rules that "
                "need fewer coalitions (SCRB needs only the whole group, each partner alone and "
                "each group of all but one).", names, method)

    def known_masks(self) -> np.ndarray:
        """Bitmasks of every non-empty coalition that has a number."""
        if self._func is not None:
            if self.n > MAX_DENSE_PLAYERS:
                raise InputError("known_masks: too many players to list every coalition.")
            return np.arange(1, 2 ** self.n, dtype=np.int64)
        if self._dense is not None:
            idx = np.flatnonzero(np.isfinite(self._dense))
            return idx[idx != 0].astype(np.int64)
        assert self._sparse is not None
        return np.array(sorted(m for m in self._sparse if m != 0), dtype=np.int64)

    def coalition_name(self, mask: int) -> str:
        """``"A + B"`` for a bitmask."""
        return _names(mask, self.players)

    # ------------------------------------------------------------ conversions
    def worth(self, masks: np.ndarray) -> np.ndarray:
        """The value-oriented number ``w``: ``v`` for a value game, ``-c`` for a cost game."""
        vals = self.values(masks)
        return vals if self.kind == "value" else -vals

    def worth_table(self, method: str = "this method") -> np.ndarray:
        """Dense ``w`` (see :meth:`worth`) for every coalition."""
        t = self.table(method)
        return t if self.kind == "value" else -t

    def to_savings(self) -> Game:
        """The savings game of a cost game: ``v(S) = sum_{i in S} c(i) - c(S)``.

        Examples
        --------
        >>> c = Game.from_dict({"A": 8, "B": 11, "A+B": 11}, ["A", "B"], kind="cost")
        >>> c.to_savings().value("A+B")
        8.0
        """
        if self.kind != "cost":
            raise InputError("to_savings: the game is already a value game.")
        alone = self.standalone
        if not np.all(np.isfinite(alone)):
            self.require(1 << np.arange(self.n, dtype=np.int64), "the savings game")
        return self.with_basis(alone, "value", name=f"savings of {self.name}".strip())

    def with_basis(self, basis: Sequence[float] | np.ndarray, kind: GameKind,
                   name: str = "") -> Game:
        """Convert between a cost game and a value game using per-player amounts.

        From a cost game ``c`` returns the value game ``basis(S) - c(S)``; from a
        value game ``v`` returns the cost game ``basis(S) - v(S)``. With
        ``basis`` = stand-alone costs this is the savings game; with ``basis`` =
        benefits, the net-benefit (surplus) game. Payments and receipts relate
        by ``x_i = basis_i - y_i``.
        """
        basis = np.asarray(basis, dtype=float)
        if basis.shape != (self.n,) or not np.all(np.isfinite(basis)):
            raise InputError(f"basis: expected {self.n} finite numbers (one per partner).")
        _check_kind(kind)
        if kind == self.kind:
            raise InputError(f"with_basis: the game is already a {kind} game.")
        base = self

        if self._func is not None:
            def func(member: np.ndarray) -> np.ndarray:
                return member @ basis - base._func(member)  # type: ignore[misc]
            return Game.from_function(self.players, func, kind, name)
        masks = self.known_masks()
        member = ((masks[:, None] >> np.arange(self.n, dtype=np.int64)) & 1).astype(float)
        vals = member @ basis - self.values(masks)
        return Game._from_mask_table(dict(zip(masks.tolist(), vals.tolist())),
                                     self.players, kind, name)

    def with_singletons(self, amounts: Sequence[float] | np.ndarray) -> Game:
        """Fill in missing singleton numbers (e.g. stand-alone costs from the partners table).

        Numbers already in the game are kept.
        """
        amounts = np.asarray(amounts, dtype=float)
        if self._func is not None:
            return self
        masks = self.known_masks()
        table = dict(zip(masks.tolist(), self.values(masks).tolist()))
        for i, a in enumerate(amounts):
            if (1 << i) not in table and np.isfinite(a):
                table[1 << i] = float(a)
        return Game._from_mask_table(table, self.players, self.kind, self.name)

    def to_frame(self) -> pd.DataFrame:
        """The game as a coalition table (``coalition``, ``size``, ``cost``/``value``)."""
        masks = self.known_masks()
        return pd.DataFrame({
            "coalition": [self.coalition_name(int(m)) for m in masks],
            "size": popcount(masks),
            self.kind: self.values(masks),
        }).sort_values(["size", "coalition"], kind="stable").reset_index(drop=True)

    def __repr__(self) -> str:
        if self._func is not None:
            given = "defined by a function"
        else:
            k = len(self.known_masks())
            given = f"{k} of {2 ** self.n - 1} coalitions given"
        return (f"Game({self.kind}, {self.n} players: {', '.join(self.players[:6])}"
                f"{'...' if self.n > 6 else ''}; {given}; grand = {self.grand:,.2f})")

    # --------------------------------------------------------------- checks
    def _check_grand(self) -> None:
        g = self.values(np.array([self.full_mask]))[0]
        if not np.isfinite(g):
            raise InputError(
                f"the game is not defined on the grand coalition (all {self.n} partners "
                f"together: '{self.coalition_name(self.full_mask)}'). Add a row for it: it is "
                f"the total {'cost' if self.kind == 'cost' else 'value'} to be shared.")

    def is_airport(self, tol: float = 1e-9) -> bool:
        """Whether ``c(S) = max_{i in S} c(i)`` for every given coalition (an airport game)."""
        if self.kind != "cost":
            return False
        alone = self.standalone
        if not np.all(np.isfinite(alone)):
            return False
        if self.n > MAX_DENSE_PLAYERS:
            return False
        masks = self.known_masks()
        member = ((masks[:, None] >> np.arange(self.n, dtype=np.int64)) & 1).astype(bool)
        mx = np.where(member, alone, -np.inf).max(axis=1)
        return bool(np.allclose(self.values(masks), mx, atol=tol * max(1.0, abs(mx).max())))


@dataclass
class ServiceModel:
    """The default model of a shared service when no coalition table is given.

    Every partner ``i`` has a stand-alone alternative costing ``standalone[i]``
    a year (what it would pay to meet the need on its own), and, if it joins a
    shared service, adds a variable cost ``variable[i]``; running the shared
    service at all costs ``fixed`` a year. A group ``S`` meets its members'
    needs as cheaply as it can: by the shared service for some members and
    their own alternatives for the rest, so

    ``c(S) = min(sum_{i in S} a_i, fixed + sum_{i in S} min(v_i, a_i))``

    (``a`` = stand-alone costs, ``v`` = variable costs).

    With ``benefit[i]`` (each partner's annual benefit from the evaluation) the
    model also gives the **surplus game** (each member may also do nothing):

    ``v(S) = max( sum_{i in S} max(0, b_i - a_i),
                  -fixed + sum_{i in S} max(0, b_i - a_i, b_i - variable_i) )``,

    and benefits bound what a partner should be asked to pay (individual
    rationality against benefit) and feed SCRB's "remaining benefits".

    All arrays may carry leading axes of draws (``(..., n)``) for Monte Carlo use
    through :meth:`cost_values` and :meth:`surplus_values`.

    Examples
    --------
    >>> m = ServiceModel(["A", "B"], fixed=100, variable=[10, 20], standalone=[80, 90])
    >>> g = m.cost_game()
    >>> g.value("A"), g.value("B"), g.value("A+B")
    (80.0, 90.0, 130.0)
    >>> m.pilot_cost
    130.0
    """

    players: Sequence[str]
    fixed: float
    variable: Sequence[float] | np.ndarray
    standalone: Sequence[float] | np.ndarray
    benefit: Sequence[float] | np.ndarray | None = None

    def __post_init__(self) -> None:
        self.players = _check_players(self.players)
        n = len(self.players)
        self.variable = _nonneg_vector(self.variable, n, "variable_cost")
        self.standalone = _nonneg_vector(self.standalone, n, "standalone_cost")
        if self.benefit is not None:
            self.benefit = _nonneg_vector(self.benefit, n, "benefit")
        if not np.isfinite(self.fixed) or self.fixed < 0:
            raise InputError(f"fixed_cost: expected a non-negative number of pounds, got "
                             f"{self.fixed!r}.")
        self.fixed = float(self.fixed)

    @property
    def pilot_cost(self) -> float:
        """What the shared service costs a year when every partner uses it: fixed + all variable."""
        return float(self.fixed + np.sum(self.variable))

    @staticmethod
    def cost_values(member: np.ndarray, fixed: Any, variable: np.ndarray,
                    standalone: np.ndarray) -> np.ndarray:
        """``c(S)`` for membership rows ``member (k, n)``; parameters may have draw axes.

        ``variable`` and ``standalone`` of shape ``(..., n)`` and ``fixed`` of
        shape ``(...)`` give an array ``(..., k)``.
        """
        mT = np.asarray(member, dtype=float).T
        a = np.asarray(standalone, dtype=float)
        v = np.asarray(variable, dtype=float)
        out = a @ mT
        joint = np.minimum(v, a) @ mT
        joint += np.asarray(fixed, dtype=float)[..., None]
        return np.minimum(out, joint, out=out)

    @staticmethod
    def surplus_values(member: np.ndarray, fixed: Any, variable: np.ndarray,
                       standalone: np.ndarray, benefit: np.ndarray) -> np.ndarray:
        """Net benefit ``v(S)`` for membership rows ``member (k, n)``.

        Draw axes as in :meth:`cost_values`.
        """
        m = np.asarray(member, dtype=float)
        a = np.asarray(standalone, dtype=float)
        v = np.asarray(variable, dtype=float)
        b = np.asarray(benefit, dtype=float)
        alone_gain = np.maximum(0.0, b - a)
        alone = alone_gain @ m.T
        joint = -np.asarray(fixed, dtype=float)[..., None] + np.maximum(alone_gain, b - v) @ m.T
        return np.maximum(alone, joint)

    @staticmethod
    def shapley_draws(fixed: Any, variable: Any, standalone: Any, *,
                      chunk: int | None = None) -> np.ndarray:
        """Exact Shapley payments of the service-model cost game for many draws.

        Parameters
        ----------
        fixed : array (D,)
            Fixed cost in each draw.
        variable, standalone : array (D, n)
            Per-partner variable and stand-alone costs in each draw (at most 20 partners).
        chunk : int, optional
            Draws per batch (default: about 64 MB of coalition values at a time).

        Returns
        -------
        ndarray (D, n)
            Each draw's Shapley payments (adding up to that draw's ``c(N)``).

        Examples
        --------
        >>> x = ServiceModel.shapley_draws([100, 120], [[10, 20], [10, 20]], [[80, 90], [80, 90]])
        >>> x.round(6).tolist()
        [[60.0, 70.0], [70.0, 80.0]]
        """
        from .solutions import shapley_table

        var = np.atleast_2d(np.asarray(variable, dtype=float))
        alone = np.atleast_2d(np.asarray(standalone, dtype=float))
        fx = np.atleast_1d(np.asarray(fixed, dtype=float))
        D, n = var.shape
        if alone.shape != (D, n) or fx.shape != (D,):
            raise InputError(f"shapley_draws: expected fixed (D,), variable and standalone "
                             f"(D, n); got {fx.shape}, {var.shape}, {alone.shape}.")
        if n > MAX_DENSE_PLAYERS:
            raise InputError(f"shapley_draws: at most {MAX_DENSE_PLAYERS} partners for exact "
                             "values.")
        member = ((np.arange(1, 2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
        step = chunk or max(1, int(8e6 // 2 ** n))
        out = np.empty((D, n))
        for s in range(0, D, step):
            e = min(D, s + step)
            vals = np.zeros((e - s, 2 ** n))
            vals[:, 1:] = ServiceModel.cost_values(member, fx[s:e], var[s:e], alone[s:e])
            out[s:e] = shapley_table(vals)
        return out

    def cost_game(self) -> Game:
        """The cost game ``c(S)`` (see the class notes)."""
        fixed, var, alone = self.fixed, self.variable, self.standalone

        def func(member: np.ndarray) -> np.ndarray:
            return ServiceModel.cost_values(member, fixed, var, alone)  # type: ignore[arg-type]

        return Game.from_function(self.players, func, "cost", name="default service model")

    def surplus_game(self) -> Game:
        """The net-benefit value game ``v(S)`` (needs ``benefit``)."""
        if self.benefit is None:
            raise InputError("surplus_game: the service model has no benefits; give each "
                             "partner's annual benefit (benefit=...).")
        fixed, var, alone, ben = self.fixed, self.variable, self.standalone, self.benefit

        def func(member: np.ndarray) -> np.ndarray:
            return ServiceModel.surplus_values(member, fixed, var, alone, ben)  # type: ignore[arg-type]

        return Game.from_function(self.players, func, "value",
                                  name="default service model (net benefit)")


def read_coalition_table(path: str, players: Sequence[str], *, kind: GameKind | None = None,
                         sheet: str | int = 0) -> Game:
    """Read a coalition table from CSV or XLSX (see the module notes for the format)."""
    from ._io import read_any

    df = read_any(path, sheet=sheet, table="coalitions")
    return Game.from_table(df, players, kind=kind, file=str(path))


# --------------------------------------------------------------------- helpers
def _check_players(players: Sequence[str]) -> tuple[str, ...]:
    if isinstance(players, str) or not isinstance(players, Iterable):
        raise InputError("players: expected a list of partner names.")
    names = tuple(str(p).strip() for p in players)
    if len(names) == 0:
        raise InputError("players: the list of partners is empty.")
    seen: set[str] = set()
    dups = [p for p in names if p in seen or seen.add(p)]  # type: ignore[func-returns-value]
    if dups:
        raise InputError(f"players: partner names must be unique; repeated: {', '.join(dups)}.")
    bad = [p for p in names if p == "" or "+" in p or ";" in p]
    if bad:
        raise InputError("players: partner names must be non-empty and must not contain '+' "
                         f"or ';' (they separate names in coalitions): {bad}.")
    return names


def _sheet_rows(index: pd.Index) -> list[int]:
    """Spreadsheet row numbers (header = row 1) for a table read from a file."""
    if pd.api.types.is_integer_dtype(index):
        return [int(i) + 2 for i in index]
    return list(range(2, len(index) + 2))


def _check_kind(kind: str) -> None:
    if kind not in ("cost", "value"):
        raise InputError(f"kind: expected 'cost' or 'value', got {kind!r}.")


def _to_mask(key: Any, players: Sequence[str]) -> int:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if key <= 0 or key >= 1 << len(players):
            raise InputError(f"coalition bitmask {key} is out of range for {len(players)} players.")
        return int(key)
    if isinstance(key, str):
        return parse_coalition(key, players)
    if isinstance(key, Iterable):
        return parse_coalition("+".join(str(k) for k in key), players)
    raise InputError(f"coalition: cannot read {key!r}; use 'A+B', a list of names or a bitmask.")


def _names(mask: int, players: Sequence[str]) -> str:
    return " + ".join(p for i, p in enumerate(players) if mask >> i & 1)


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _in(file: str | None) -> str:
    return f" ({file})" if file else ""


def _nonneg_vector(x: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.shape != (n,):
        raise InputError(f"{name}: expected {n} numbers (one per partner), got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: every partner needs a number; found a blank or non-number.")
    if np.any(arr < 0):
        raise InputError(f"{name}: amounts must not be negative (found {arr[arr < 0][0]:,.2f}).")
    return arr
