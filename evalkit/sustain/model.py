"""The sustainability model: who pays what after the grant, and how sure each partner can be.

A :class:`Scenario` holds every assumption; :func:`run` (or
:meth:`Scenario.run`) evaluates it and returns a
:class:`~evalkit.sustain.result.SustainResult`. See ``docs/sustain.md`` for the
definitions; the short version:

* Years ``0 .. H-1`` (``horizon`` years, year 0 first and undiscounted).
  Running cost (one figure grown by ``cost_inflation`` a year, or one per
  year), one-off transition costs, an optional optimism-bias uplift on costs,
  and a central grant (pounds, or shares of each year's cost). The **funding
  gap** is ``max(0, cost - grant)``.
* Each split rule divides each year's gap among the partners. Rules come from
  :mod:`evalkit.split`: the closed-form rules broadcast; Shapley, nucleolus,
  SCRB and tau use a cost game (the split module's service model from the
  partners' ``standalone_cost`` and ``variable_cost``, or a coalition table).
* Benefits by partner and year come from :mod:`evalkit.benefits` (with their
  Monte Carlo draws) or from plain arrays. Each partner's **net position** is
  benefit minus contribution; NPV uses the Green Book discount factors of
  :func:`evalkit.money.discount_factors`.
* Over the draws: the probability each partner's benefits cover its
  contribution (over the horizon, in each year and to date) with P10/P50/P90;
  whether each split stays in the core of the game in which partners may also
  go alone or do without; who would walk away first.
* Break-even fractions of the estimated effect, a tornado of each partner's
  NPV, and the minimum viable coalitions.

Examples
--------
>>> import pandas as pd
>>> from evalkit.sustain import Scenario
>>> sc = Scenario(partners=["Council", "NHS"], running_cost=100_000, horizon=3,
...               grant=[100_000], benefits=[[0, 60_000, 60_000], [0, 50_000, 50_000]],
...               rules=["equal"], discount=0.0)
>>> res = sc.run(progress=False)
>>> res.to_frame("funding")["gap"].tolist()
[0.0, 100000.0, 100000.0]
>>> res.to_frame("options").set_index("partner")["npv"].round(0).tolist()
[20000.0, 0.0]
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..benefits import BenefitsResult, benefits_by_partner
from ..errors import EvalkitError, InputError
from ..money import Adjustments, _financial_year_labels, discount_factors, normalise_price_year
from ..split import Game, RuleSpec, ServiceModel, parse_rule, scrb_amounts
from ..split import solutions as S
from ..split.games import MAX_DENSE_PLAYERS, MissingCoalitionsError
from ..split.options import _compute, _partners, _resolve_game
from ..split.properties import core_excess_table
from ..split.rules import beneficiary_pays

__all__ = [
    "Scenario",
    "BenefitModel",
    "Sensitivity",
    "run",
    "scenario_from_place",
    "DEFAULT_RULES",
    "RULE_TEXT",
]

#: Rules compared when none are named (the split settings' defaults).
DEFAULT_RULES: tuple[str, ...] = ("equal", "proportional", "beneficiary_pays", "shapley",
                                  "nucleolus", "scrb")

#: Plain-English description of each rule, for the workbook's Notes sheet.
RULE_TEXT: dict[str, str] = {
    "equal": "Every partner pays the same share of each year's funding gap.",
    "proportional": "Each partner pays in proportion to a number it has (budget, caseload, "
                    "population...): twice the caseload, twice the payment.",
    "fixed": "Each partner pays a negotiated percentage of the gap, the same every year.",
    "base_variable": "A base amount is split equally; the rest in proportion to a driver.",
    "capped": "In proportion to a driver, but no partner pays more than its cap a year; what "
              "a capped partner cannot pay is shared pro rata by the others.",
    "beneficiary_pays": "Each partner pays in proportion to the benefit it gets (here: the "
                        "present value of its counted benefits over the horizon), so every "
                        "partner gets the same return per pound.",
    "airport": "Partners need different levels of the service; each step up in level is paid "
               "by the partners who need it (Littlechild & Owen 1973).",
    "shapley": "Each partner pays its average extra cost: how much it adds to the cost of "
               "meeting the needs of the partners before it, averaged over every order in "
               "which the partners could have joined (Shapley 1953).",
    "nucleolus": "The split that makes the most aggrieved group of partners as well off as "
                 "possible, then the next most aggrieved, and so on (Schmeidler 1969); for the "
                 "service model it is the Talmud rule on the savings (Aumann & Maschler 1985).",
    "prenucleolus": "As the nucleolus, without requiring every partner to be at least as well "
                    "off as alone.",
    "least_core": "The split that minimises the largest amount by which any group pays more "
                  "than it would on its own (its fairest point is reported).",
    "weak_least_core": "As the least core, with that amount counted per member of the group.",
    "proportional_least_core": "As the least core, with that amount as a share of the "
                               "group's own cost.",
    "scrb": "Separable costs, remaining benefits: each partner pays the extra cost it causes, "
            "and the rest is shared in proportion to what the service is worth to it beyond "
            "that (its benefit or its own alternative, whichever is lower).",
    "tau": "A compromise between the most each partner could be asked to pay and the least it "
           "could argue for (Tijs 1981).",
}

_COUNT = ("cashable", "fiscal")
_SENS_KEYS = ("effect", "unit_costs", "running_cost", "discount_rate", "drop_off",
              "cashable_share")


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Sensitivity:
    """Low and high values for the tornado chart.

    Multipliers (1 = as assumed) for ``effect``, ``unit_costs``,
    ``running_cost`` and ``cashable_share``; flat annual rates for
    ``discount_rate``; a yearly decay for ``drop_off``. ``effect=None`` takes
    the 10th and 90th percentiles of the Monte Carlo draws of the place's
    total benefit relative to the point estimate (0.5 and 1.5 when the draws
    carry no uncertainty).

    Examples
    --------
    >>> Sensitivity().running_cost
    (0.9, 1.1)
    >>> Sensitivity.from_mapping({"discount_rate": [0.01, 0.07]}).discount_rate
    (0.01, 0.07)
    """

    effect: tuple[float, float] | None = None
    unit_costs: tuple[float, float] = (0.8, 1.2)
    running_cost: tuple[float, float] = (0.9, 1.1)
    discount_rate: tuple[float, float] = (0.015, 0.05)
    drop_off: tuple[float, float] = (0.0, 0.25)
    cashable_share: tuple[float, float] = (0.5, 1.5)

    def __post_init__(self) -> None:
        for k in _SENS_KEYS:
            v = getattr(self, k)
            if v is None and k == "effect":
                continue
            try:
                lo, hi = (float(x) for x in v)
            except (TypeError, ValueError):
                raise InputError(f"sensitivity.{k}: expected two numbers (low, high), got "
                                 f"{v!r}.") from None
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi < 0:
                raise InputError(f"sensitivity.{k}: low and high must be numbers >= 0, got "
                                 f"({lo:g}, {hi:g}).")
            if k in ("discount_rate", "drop_off") and (lo >= 1 or hi >= 1):
                raise InputError(f"sensitivity.{k}: rates must be below 1 (0.05 = 5%), got "
                                 f"({lo:g}, {hi:g}).")
            object.__setattr__(self, k, (lo, hi))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Sensitivity:
        """Build from ``{"effect": [0.5, 1.5], ...}`` (unknown keys are errors)."""
        values = dict(values or {})
        bad = sorted(set(values) - set(_SENS_KEYS))
        if bad:
            raise InputError(f"sensitivity: unknown input(s) {bad}; the inputs are "
                             f"{', '.join(_SENS_KEYS)}.")
        return cls(**{k: tuple(v) if v is not None else None for k, v in values.items()})

    def to_dict(self) -> dict[str, tuple[float, float] | None]:
        return {k: getattr(self, k) for k in _SENS_KEYS}


@dataclass
class BenefitModel:
    """The ingredients of benefits by partner, so the model can rebuild them.

    Holds what :func:`evalkit.benefits.benefits_by_partner` needs; the
    sustainability model calls it with the scenario's horizon, draws and seed,
    and again at the point estimate for the drop-off and cashable-share bars of
    the tornado. Round-trips through the finance workbook.

    Parameters
    ----------
    effects : DataFrame, dict or EffectResults
        ``measure, estimate, se`` (or anything ``benefits_by_partner`` accepts).
    benefit_map : DataFrame
    people_per_year : float or list
        People starting with the pilot each year (one figure = every year).
    price_year : str
    unit_costs : DataFrame, optional
        In the ``unit_costs`` schema (merge yours over the shipped table first
        with :func:`evalkit.money.merge_unit_costs`); default the shipped table.
    periods_per_year : float, default 12
        12 for monthly effects.
    benefit_years : int, default 1
        How many years each cohort's benefit lasts.
    adjustments : Adjustments
        Deadweight, attribution, drop-off, ramp-up, optimism bias on benefits.
    value_type : str, default "fiscal"
    deflators : optional
        GDP deflator series (default: shipped).
    """

    effects: Any
    benefit_map: pd.DataFrame
    people_per_year: float | Sequence[float]
    price_year: str
    unit_costs: pd.DataFrame | None = None
    periods_per_year: float = 12.0
    benefit_years: int = 1
    adjustments: Adjustments = field(default_factory=Adjustments)
    value_type: str = "fiscal"
    deflators: Any = None
    result: BenefitsResult | None = field(default=None, repr=False)

    @classmethod
    def from_result(cls, result: BenefitsResult, value_type: str = "fiscal") -> BenefitModel:
        """The ingredients of a :class:`~evalkit.benefits.BenefitsResult`.

        The result's own draws are used for the Monte Carlo; rebuilds (for the
        tornado and the workbook) use its effect estimates and standard errors,
        its resolved benefit map and its unit costs already uprated to its
        price year.
        """
        if not isinstance(result, BenefitsResult):
            raise InputError("from_result: expected a BenefitsResult.")
        uc = result.unit_costs_used
        unit_costs = pd.DataFrame({
            "item": uc["item"], "unit": uc["unit"], "cost_gbp": uc["cost_gbp"],
            "price_year": result.price_year, "partner": uc["unit_cost_partner"].astype(str),
            "cashable_share": 0.0, "source": uc["source"].astype(str)})
        bm = _map_for_rebuild(result.benefit_map)
        eff = result.effects_used[["measure", "estimate", "se"]].copy()
        people = result.treated_per_year
        return cls(effects=eff, benefit_map=bm, people_per_year=list(people),
                   price_year=result.price_year, unit_costs=unit_costs,
                   periods_per_year=result.periods_per_year,
                   benefit_years=result.benefit_years, adjustments=result.adjustments,
                   value_type=value_type, deflators={result.price_year: 100.0}, result=result)

    def effects_table(self) -> pd.DataFrame:
        """``measure, estimate, se`` of the effects (as used)."""
        if self.result is not None:
            return self.result.effects_used[["measure", "estimate", "se"]].copy()
        if isinstance(self.effects, pd.DataFrame):
            df = self.effects.rename(columns={"outcome": "measure"})
            if "se" not in df.columns:
                df = df.assign(se=0.0)
            return df[["measure", "estimate", "se"]].copy()
        res = self.build(1, n_draws=2, seed=0)
        return res.effects_used[["measure", "estimate", "se"]].copy()

    def _people(self, horizon: int) -> np.ndarray:
        p = np.asarray(self.people_per_year, dtype=float).ravel()
        if p.size == 1:
            p = np.full(horizon, float(p[0]))
        if p.size < horizon:
            p = np.concatenate([p, np.zeros(horizon - p.size)])
        if np.any(~np.isfinite(p)) or np.any(p < 0):
            raise InputError("people_per_year: expected numbers >= 0 (people starting with the "
                             "pilot each year).")
        return p[:horizon]

    def build(self, horizon: int, *, n_draws: int, seed: int | None,
              first_year: str | None = None, partners: Any = None,
              adjustments: Adjustments | None = None, cashable_factor: float = 1.0,
              point: bool = False) -> BenefitsResult:
        """Run :func:`~evalkit.benefits.benefits_by_partner` for ``horizon`` years.

        ``point=True`` uses the point estimates with no uncertainty (two
        identical draws); ``cashable_factor`` multiplies every cashable share
        (capped at 1).
        """
        if self.result is not None and adjustments is None and cashable_factor == 1.0 \
                and not point and self.result.horizon == horizon:
            return self.result
        effects = self.effects
        bmap = self.benefit_map
        if point or self.result is not None:
            effects = {r["measure"]: (float(r["estimate"]), 0.0 if point else float(r["se"]))
                       for r in self.effects_table().to_dict("records")}
        if cashable_factor != 1.0:
            base = self.build(horizon, n_draws=2, seed=0, point=True).benefit_map
            bmap = _map_for_rebuild(base)
            bmap["cashable_share"] = np.minimum(1.0, bmap["cashable_share"] * cashable_factor)
        return benefits_by_partner(
            effects, bmap, self._people(horizon), price_year=self.price_year,
            unit_costs=self.unit_costs, periods_per_year=self.periods_per_year,
            horizon=horizon, benefit_years=self.benefit_years,
            adjustments=adjustments or self.adjustments, partners=partners,
            n_draws=2 if point else n_draws, seed=0 if point else seed,
            deflators=self.deflators, first_year=first_year)


def _map_for_rebuild(bm: pd.DataFrame) -> pd.DataFrame:
    cols = ["measure", "item", "partner", "units_per_outcome", "cashable_share", "value_type",
            "direction"]
    out = bm[cols].copy()
    out["discount_schedule"] = bm["schedule"] if "schedule" in bm.columns else "standard"
    return out.reset_index(drop=True)


@dataclass
class Scenario:
    """Every assumption of a sustainability scenario.

    Parameters
    ----------
    partners : DataFrame or list of str
        ``partner`` plus numeric driver columns (``budget``, ``caseload``...);
        ``standalone_cost`` and ``variable_cost`` (a year, in year-0 prices)
        give the service model used by the game rules; ``cap`` caps.
    benefits : BenefitModel, BenefitsResult, array (partners x years) or DataFrame
        Benefits by partner and year. Arrays and DataFrames (partner index,
        one column per year) are counted as they are (treated as cashable);
        pass ``benefit_draws`` (draws x partners x years) for uncertainty.
    running_cost : float or list
        A year, in pounds: one figure (year 0, grown by ``cost_inflation``) or
        one per year (later years grow from the last by ``cost_inflation``).
    horizon : int, optional
        Years modelled (default: the benefits' years).
    first_year : str, optional
        Financial year of year 0 (labels only), e.g. ``"2025-26"``.
    cost_inflation : float, default 0
        Yearly growth of running costs (and of partners' stand-alone and
        variable costs in the service model).
    transition_costs : list, default ()
        One-off costs in years 0, 1, ...
    grant : list, default ()
        Central grant in years 0, 1, ... (then none): pounds, or shares of the
        year's cost with ``grant_as="shares"`` (e.g. ``[1, 1, 0.5]``).
    optimism_bias_costs : float, default 0
        Uplift on costs (0.1 = +10%).
    discount : "standard", "health" or float
        Green Book schedule (default) or a flat rate.
    rules : list of str
        Split rules (as in :mod:`evalkit.split`: ``equal``,
        ``proportional[:COL]``, ``fixed``, ``capped[:COL]``,
        ``beneficiary_pays``, ``shapley``, ``nucleolus``, ``scrb``...).
    driver : str, optional
        Column used by ``proportional`` and ``capped`` without a column
        (default: ``caseload``, else the first numeric driver column).
    caps, fixed_shares : dict, optional
        Partner -> most it pays a year; partner -> negotiated share.
    game : Game, DataFrame or path, optional
        A coalition cost table for the game rules (default: the service model
        when the partners table has ``standalone_cost`` and ``variable_cost``).
    count : {"cashable", "fiscal"}
        Benefits counted against contributions: cashable fiscal savings
        (default: money actually released) or all fiscal benefits.
    benefit_draws : array (draws, partners, years), optional
        Monte Carlo draws for array benefits.
    draws : int, default 2000
        Draws when benefits are built from a :class:`BenefitModel`.
    seed : int, default 0
    sensitivity : Sensitivity or dict
    shares_follow : {"each_draw", "expected"}
        Whether benefit-dependent rules (beneficiary pays, SCRB) are
        re-evaluated with each draw's benefits (an agreement indexed to the
        benefits achieved) or fixed at the expected values.
    name : str
    """

    partners: pd.DataFrame | Sequence[str]
    benefits: Any
    running_cost: float | Sequence[float]
    horizon: int | None = None
    first_year: str | None = None
    cost_inflation: float = 0.0
    transition_costs: Sequence[float] = ()
    grant: Sequence[float] = ()
    grant_as: Literal["amounts", "shares"] = "amounts"
    optimism_bias_costs: float = 0.0
    discount: str | float = "standard"
    rules: Sequence[str] = DEFAULT_RULES
    driver: str | None = None
    caps: Mapping[str, float] = field(default_factory=dict)
    fixed_shares: Mapping[str, float] = field(default_factory=dict)
    game: Any = None
    count: Literal["cashable", "fiscal"] = "cashable"
    benefit_draws: Any = None
    draws: int = 2000
    seed: int | None = 0
    sensitivity: Sensitivity | Mapping[str, Any] = field(default_factory=Sensitivity)
    shares_follow: Literal["each_draw", "expected"] = "each_draw"
    name: str = "Sustainability scenario"
    price_year: str | None = None

    def run(self, *, progress: bool | None = None, tornado: bool = True) -> Any:
        """Evaluate the scenario (see :func:`run`)."""
        return run(self, progress=progress, tornado=tornado)

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some assumptions changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_place(cls, place: Any, effects: Any = None) -> Scenario:
        """See :func:`scenario_from_place`."""
        return scenario_from_place(place, effects)

    def to_excel(self, path: Any) -> Any:
        """Write the inputs-only workbook (no results); see :mod:`evalkit.sustain.excel`."""
        from .excel import write_workbook

        return write_workbook(path, self, None)


# ---------------------------------------------------------------------------
# preparing inputs
# ---------------------------------------------------------------------------
def _num(name: str, v: Any, *, lo: float | None = None, hi: float | None = None) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a number, got {v!r}.") from None
    if not math.isfinite(x):
        raise InputError(f"{name}: expected a finite number, got {v!r}.")
    if lo is not None and x < lo:
        raise InputError(f"{name}: must be at least {lo:g}, got {x:g}.")
    if hi is not None and x > hi:
        raise InputError(f"{name}: must be at most {hi:g}, got {x:g}.")
    return x


def _vector(name: str, v: Any, horizon: int, *, what: str = "pounds") -> np.ndarray:
    if v is None:
        return np.zeros(horizon)
    arr = np.atleast_1d(np.asarray(v, dtype=object)).ravel()
    out = np.zeros(horizon)
    if arr.size > horizon:
        extra = [float(x) for x in arr[horizon:] if x is not None and float(x) != 0]
        if extra:
            raise InputError(f"{name}: {arr.size} years given but the horizon is {horizon} "
                             "years; shorten the list or lengthen the horizon.")
    for i, x in enumerate(arr[:horizon]):
        if x is None or (isinstance(x, float) and math.isnan(x)):
            continue
        out[i] = _num(f"{name}[year {i}]", x, lo=0.0)
    return out


@dataclass
class _Benefits:
    """Benefits aligned to the scenario's partners: point (n, T) and draws (D, n, T)."""

    cash: np.ndarray
    noncash: np.ndarray
    draws_cash: np.ndarray | None
    draws_noncash: np.ndarray | None
    model: BenefitModel | None
    result: BenefitsResult | None
    notes: list[str]

    def counted(self, count: str, draws: bool = False) -> np.ndarray | None:
        c, n = (self.draws_cash, self.draws_noncash) if draws else (self.cash, self.noncash)
        if c is None:
            return None
        return c if count == "cashable" else c + n


def _align(values: np.ndarray, have: list[str], names: list[str], what: str) -> np.ndarray:
    extra = sorted(set(have) - set(names))
    if extra:
        raise InputError(f"benefits: partner(s) {extra} have benefits but are not in the "
                         f"partners table ({', '.join(names)}). Add them or correct the "
                         f"benefit map ({what}).")
    out = np.zeros(values.shape[:-2] + (len(names), values.shape[-1]))
    for j, p in enumerate(have):
        out[..., names.index(p), :] = values[..., j, :]
    return out


def _result_benefits(res: BenefitsResult, value_type: str, names: list[str], horizon: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if res.horizon != horizon:
        raise InputError(f"benefits: the benefits cover {res.horizon} years but the scenario's "
                         f"horizon is {horizon} years; build benefits with horizon={horizon}.")
    t = res.table[res.table["value_type"] == value_type]
    pts = []
    for cash in (True, False):
        f = t[t["cashable"] == cash]
        piv = f.pivot_table(index="partner", columns="year", values="mean", aggfunc="sum",
                            fill_value=0.0).reindex(index=res.partners, columns=range(horizon),
                                                    fill_value=0.0)
        pts.append(_align(piv.to_numpy(dtype=float), list(res.partners), names, "point"))
    dc = _align(res.draws(value_type, cashable=True).values, list(res.partners), names, "draws")
    dn = _align(res.draws(value_type, cashable=False).values, list(res.partners), names, "draws")
    return pts[0], pts[1], dc, dn


def _prepare_benefits(sc: Scenario, names: list[str], horizon: int, labels: list) -> _Benefits:
    b = sc.benefits
    notes: list[str] = []
    first = labels[0]
    if isinstance(b, BenefitsResult):
        b = BenefitModel.from_result(b)
    if isinstance(b, BenefitModel):
        res = b.build(horizon, n_draws=int(sc.draws), seed=sc.seed, first_year=first,
                      partners=names)
        c, n, dc, dn = _result_benefits(res, b.value_type, names, horizon)
        notes.extend(res.warnings)
        if b.result is not None and res is b.result and res.n_draws != sc.draws:
            notes.append(f"The benefits' own {res.n_draws:,} Monte Carlo draws were used.")
        return _Benefits(c, n, dc, dn, b, res, notes)
    # plain arrays
    if isinstance(b, pd.DataFrame):
        df = b.copy()
        if "partner" in df.columns:
            df = df.set_index("partner")
        missing = [p for p in df.index.astype(str) if p not in names]
        if missing:
            raise InputError(f"benefits: partner(s) {missing} are not in the partners table.")
        df.index = df.index.astype(str)
        arr = df.reindex(names).fillna(0.0).to_numpy(dtype=float)
    else:
        try:
            arr = np.asarray(b, dtype=float)
        except (TypeError, ValueError):
            raise InputError("benefits: expected a BenefitModel, a BenefitsResult, or numbers "
                             "(one row per partner, one column per year).") from None
    if arr.ndim != 2 or arr.shape[0] != len(names):
        raise InputError(f"benefits: expected {len(names)} rows (one per partner) and one "
                         f"column per year; got shape {arr.shape}.")
    if arr.shape[1] != horizon:
        raise InputError(f"benefits: {arr.shape[1]} years of benefits but the horizon is "
                         f"{horizon} years.")
    if not np.all(np.isfinite(arr)):
        raise InputError("benefits: every benefit must be a finite number of pounds.")
    draws = None
    if sc.benefit_draws is not None:
        draws = np.asarray(sc.benefit_draws, dtype=float)
        if draws.ndim != 3 or draws.shape[1:] != arr.shape:
            raise InputError(f"benefit_draws: expected shape (draws, {arr.shape[0]}, "
                             f"{arr.shape[1]}), got {draws.shape}.")
        if not np.all(np.isfinite(draws)):
            raise InputError("benefit_draws: every draw must be a finite number.")
    else:
        notes.append("Benefits were given without Monte Carlo draws: probabilities reflect no "
                     "uncertainty (each is 0% or 100%).")
    zeros = np.zeros_like(arr)
    return _Benefits(arr, zeros, draws, None if draws is None else np.zeros_like(draws), None,
                     None, notes)


# ---------------------------------------------------------------------------
# the engine: costs, games, rules for one set of assumptions
# ---------------------------------------------------------------------------
@dataclass
class _Rule:
    spec: RuleSpec
    text: str          # resolved, e.g. "proportional:caseload"
    label: str
    given: str = ""    # as written, e.g. "proportional" (follows the driver setting)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def uses_model_benefits(self) -> bool:
        return self.name == "scrb" or (self.name == "beneficiary_pays"
                                       and self.spec.column is None)


class _Engine:
    """Costs, discounting, games and rules for one set of assumptions (no benefits)."""

    def __init__(self, sc: Scenario, pdf: pd.DataFrame, names: list[str], horizon: int, *,
                 running_factor: float = 1.0, discount: str | float | None = None) -> None:
        self.sc = sc
        self.pdf = pdf
        self.names = names
        self.n = len(names)
        self.T = horizon
        t = np.arange(horizon)
        self.years = t
        infl = _num("cost_inflation", sc.cost_inflation, lo=-0.5, hi=1.0)
        rc = sc.running_cost
        if np.ndim(rc) == 0:
            running = _num("running_cost", rc, lo=0.0) * (1.0 + infl) ** t
        else:
            given = _vector("running_cost", rc, len(rc))
            if len(given) == 0:
                raise InputError("running_cost: give at least one year's running cost.")
            running = np.empty(horizon)
            k = min(len(given), horizon)
            running[:k] = given[:k]
            for i in range(k, horizon):
                running[i] = running[i - 1] * (1.0 + infl)
        self.running = running * running_factor
        self.transition = _vector("transition_costs", sc.transition_costs, horizon)
        ob = _num("optimism_bias_costs", sc.optimism_bias_costs, lo=0.0, hi=10.0)
        base = self.running + self.transition
        self.optimism = base * ob
        self.cost = base + self.optimism
        if sc.grant_as == "shares":
            shares = _vector("grant", sc.grant, horizon)
            if np.any(shares > 1):
                raise InputError("grant: with grant_as='shares' each year's grant is a share of "
                                 "the year's cost between 0 and 1 (e.g. [1, 1, 0.5]); got "
                                 f"{shares.max():g}.")
            self.grant = shares * self.cost
        elif sc.grant_as == "amounts":
            self.grant = _vector("grant", sc.grant, horizon)
        else:
            raise InputError(f"grant_as: expected 'amounts' or 'shares', got {sc.grant_as!r}.")
        self.gap = np.maximum(self.cost - self.grant, 0.0)
        self.surplus = np.maximum(self.grant - self.cost, 0.0)
        self.discount = sc.discount if discount is None else discount
        self.df = discount_factors(t, self.discount)
        self.notes: list[str] = []
        self._game_setup()
        self._alone_nt = np.ascontiguousarray(self.alone.T)               # (n, T)
        self._variable_nt = np.ascontiguousarray(self.variable.T)
        self._fixed_plus_v = self.fixed + self._variable_nt                # (n, T)
        self._cache: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------ games
    def _col(self, name: str) -> np.ndarray | None:
        if name not in self.pdf.columns:
            return None
        v = pd.to_numeric(self.pdf[name], errors="coerce").to_numpy(dtype=float)
        return v if np.all(np.isfinite(v)) else None

    def _game_setup(self) -> None:
        T, n = self.T, self.n
        infl = (1.0 + float(self.sc.cost_inflation)) ** self.years
        self.game_kind: str | None = None
        self.table: np.ndarray | None = None
        sa, var = self._col("standalone_cost"), self._col("variable_cost")
        if self.sc.game is not None:
            notes: list[str] = []
            g = _resolve_game(self.sc.game, self.names, sa, None, "standalone_cost", "benefit",
                              notes)
            self.notes.extend(notes)
            if g.n > 16:
                raise InputError("game: a coalition table for the sustainability model may have "
                                 "at most 16 partners.")
            self.game = g
            self.game_kind = "table"
            if g.is_complete:
                self.table = g.table("the sustainability model")
            if g.grand <= 0:
                raise InputError("game: the whole group's cost must be above zero.")
        elif sa is not None and var is not None:
            self.game_kind = "service"
        a = sa[None, :] * infl[:, None] if sa is not None else np.full((T, n), np.inf)
        self.alone = a
        if self.game_kind == "service":
            # variable_cost is each partner's yearly cost at full running. In ramp-up
            # years (running cost below its peak, in real terms) the service is
            # smaller, so variable costs scale with the running cost.
            real_cost = self.cost / infl
            peak = float(real_cost.max()) if T else 0.0
            ramp = np.minimum(1.0, real_cost / peak) if peak > 0 else np.zeros(T)
            v = var[None, :] * (infl * ramp)[:, None]
            fixed = self.cost - v.sum(axis=1)
            if np.any(fixed < -1e-6 * np.maximum(1.0, self.cost)):
                k = int(np.argmax(fixed < 0))
                raise InputError(
                    f"variable_cost: the partners' variable costs add up to "
                    f"{v[k].sum():,.0f} in year {k}, more than the pilot's cost that year "
                    f"({self.cost[k]:,.0f}); the service model needs fixed cost = running cost "
                    "- variable costs >= 0 at full running. Check the variable_cost column.")
            fixed = np.maximum(fixed, 0.0)
            extra = np.maximum(self.grant - fixed, 0.0)
            vn = v.sum(axis=1)
            scale = np.clip(1.0 - np.divide(extra, vn, out=np.zeros(T), where=vn > 0), 0.0, 1.0)
            self.fixed = np.maximum(fixed - self.grant, 0.0)
            self.variable = v * scale[:, None]
        else:
            self.fixed = self.gap.copy()
            self.variable = np.zeros((T, n))
        if self.game_kind == "service":
            full = np.ones((1, n), dtype=bool)
            self.grand = ServiceModel.cost_values(full, self.fixed, self.variable, a)[:, 0]
            dear = (self.gap > 0) & (self.grand < self.gap * (1 - 1e-9))
            if np.any(dear):
                self.notes.append(
                    "In year(s) " + ", ".join(str(int(i)) for i in np.flatnonzero(dear))
                    + " the partners' own alternatives would cost less than the funding gap: "
                    "game-based rules share the gap in the game's proportions, and those splits "
                    "are outside the core.")
        elif self.game_kind == "table":
            self.grand = self.gap.copy()

    def _service_triplet(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``c(N)``, ``c(N - i)`` and ``c(i)`` for each year, in pounds of the gap."""
        n = self.n
        if self.game_kind == "service":
            eye = np.eye(n, dtype=bool)
            member = np.vstack([np.ones((1, n), bool), ~eye, eye])
            vals = ServiceModel.cost_values(member, self.fixed, self.variable, self.alone)
            return vals[:, 0], vals[:, 1:n + 1], vals[:, n + 1:]
        g = self.game
        full = g.full_mask
        single = 1 << np.arange(n, dtype=np.int64)
        g.require(np.concatenate([[full], single, full ^ single]), "SCRB")
        s = self.gap / g.grand
        return (g.grand * s, s[:, None] * g.values(full ^ single)[None, :],
                s[:, None] * g.values(single)[None, :])

    def _game_amounts(self, name: str) -> np.ndarray:
        """Payments (T, n) of a game rule at the scale of each year's gap (benefit-free)."""
        if name in self._cache:
            return self._cache[name]
        if self.game_kind is None:
            raise InputError(f"{_label(name)} needs a cost game: give each partner's "
                             "standalone_cost and variable_cost (the service model) or a "
                             "coalition table.")
        T, n = self.T, self.n
        if self.game_kind == "table":
            g = self.game
            a = _solve(g, name)
            out = (a / g.grand)[None, :] * self.gap[:, None]
        else:
            live = self.gap > 0
            amt = np.zeros((T, n))
            if np.any(live):
                F, v, al = self.fixed[live], self.variable[live], self.alone[live]
                if name == "shapley":
                    if n > MAX_DENSE_PLAYERS:
                        raise InputError(f"Shapley value: exact values need at most "
                                         f"{MAX_DENSE_PLAYERS} partners (got {n}).")
                    amt[live] = ServiceModel.shapley_draws(F, v, al)
                elif name in ("nucleolus", "prenucleolus", "least_core"):
                    amt[live] = ServiceModel.nucleolus_draws(F, v, al)
                elif name == "scrb":
                    gN, without, alone = self._service_triplet()
                    x = scrb_amounts(gN, without, alone)
                    if not np.all(np.isfinite(x[live])):
                        raise InputError("SCRB is not defined for this game: no partner has a "
                                         "positive remaining benefit.")
                    amt = np.where(live[:, None], x, 0.0)
                else:
                    seen: dict[tuple, np.ndarray] = {}
                    for t in np.flatnonzero(live):
                        key = tuple(np.round(np.concatenate([[self.fixed[t]], self.variable[t],
                                                             self.alone[t]])
                                             / max(self.grand[t], 1e-300), 10))
                        if key not in seen:
                            m = ServiceModel(self.names, self.fixed[t], self.variable[t],
                                             self.alone[t])
                            seen[key] = _solve(m.cost_game(), name) / self.grand[t]
                        amt[t] = seen[key] * self.grand[t]
            out = _to_gap(amt, self.grand, self.gap)
        self._cache[name] = out
        return out

    # ------------------------------------------------------------ rules
    def payments(self, rule: _Rule, B: np.ndarray, *, counter: dict | None = None
                 ) -> np.ndarray:
        """What each partner pays: (n, T), or (..., n, T) for rules using benefits ``B``."""
        name = rule.name
        if name == "beneficiary_pays" and rule.spec.column is None:
            pv = np.maximum(np.einsum("...nt,t->...n", B, self.df), 0.0)
            none = ~np.any(pv > 0, axis=-1)
            if np.any(none):
                pv = np.where(none[..., None], 1.0, pv)
                if counter is not None:
                    counter["beneficiary_equal"] = counter.get("beneficiary_equal", 0) + int(
                        np.sum(none))
            shares = beneficiary_pays(1.0, pv)
            return shares[..., :, None] * self.gap
        if name == "scrb":
            if self.game_kind is None:
                raise InputError("SCRB needs a cost game: give each partner's standalone_cost "
                                 "and variable_cost (the service model) or a coalition table.")
            gN, without, alone = self._service_triplet()
            Bt = np.swapaxes(B, -1, -2)                       # (..., T, n)
            x = scrb_amounts(gN, without, alone, Bt)
            bad = ~np.all(np.isfinite(x), axis=-1)
            if np.any(bad):
                plain = scrb_amounts(gN, without, alone)
                x = np.where(bad[..., None], plain, x)
                live = np.broadcast_to(self.gap > 0, bad.shape)
                if counter is not None:
                    counter["scrb_plain"] = counter.get("scrb_plain", 0) + int(np.sum(bad & live))
            x = _to_gap(x, gN, self.gap)
            return np.swapaxes(x, -1, -2)
        if name in ("shapley", "nucleolus", "prenucleolus", "least_core", "weak_least_core",
                    "proportional_least_core", "tau"):
            return self._game_amounts(name).T
        cgame = self.game if self.game_kind == "table" else None
        pay, _, _ = _compute(rule.spec, self.pdf, self.names, self.gap, cgame, None, None, 0, 0)
        return np.asarray(pay, dtype=float).T

    # ------------------------------------------------------------ stability
    def stability(self, x: np.ndarray, B: np.ndarray, *, members: bool = True
                  ) -> dict[str, np.ndarray]:
        """Core of the opt-out game for payments ``x`` (n, T or ..., n, T) and benefits ``B``.

        Each group may meet its members' needs through the pilot, their own
        alternatives, or not at all (forgoing their benefits): the split
        module's service model with stand-alone cost ``min(a_i, b_i)``.
        Returns ``excess`` (..., T), the largest ``x(S) - c_hat(S)`` over every
        group including all partners; ``worst`` (..., n, T) its membership
        (when ``members``); ``single`` (..., n, T), each partner's
        ``x_i - c_hat(i)``.
        """
        if self.game_kind == "table":
            shape = np.broadcast_shapes(x.shape, B.shape)
            xt = np.ascontiguousarray(np.swapaxes(np.broadcast_to(x, shape), -1, -2))
            bt = np.ascontiguousarray(np.swapaxes(B, -1, -2))
            out = self._table_stability(xt, bt)
            out["single"] = np.swapaxes(out["single"], -1, -2)
            out["worst"] = np.swapaxes(out["worst"], -1, -2)
            return out
        a = np.minimum(self._alone_nt, B)                     # do without = forgo the benefit
        exc, worst = ServiceModel.core_excess(x, self.fixed, self._variable_nt, a,
                                              members=members, grand=True, axis=-2)
        np.minimum(a, self._fixed_plus_v, out=a)              # c_hat of each partner alone
        single = np.subtract(x, a, out=a)
        return {"excess": exc, "worst": worst, "single": single}

    def _table_stability(self, xt: np.ndarray, bt: np.ndarray) -> dict[str, np.ndarray]:
        n = self.n
        if self.table is None:
            raise InputError("stability needs every coalition's cost in the table.")
        s = self.gap / self.game.grand                        # (T,)
        lead = np.broadcast_shapes(xt.shape, bt.shape)[:-1]   # (..., T)
        c = np.broadcast_to(self.table[None, :] * s[:, None], lead + (2 ** n,)).copy()
        b = np.broadcast_to(bt, lead + (n,))
        for i in range(n):
            blocks = c.reshape(lead + (2 ** (n - 1 - i), 2, 2 ** i))
            np.minimum(blocks[..., 1, :], blocks[..., 0, :] + b[..., i, None, None],
                       out=blocks[..., 1, :])
        exc, mask = core_excess_table(c, xt)
        full = 2 ** n - 1
        grand_exc = xt.sum(axis=-1) - c[..., full]
        use_grand = grand_exc > exc
        mask = np.where(use_grand, full, mask)
        exc = np.maximum(exc, grand_exc)
        worst = ((mask[..., None] >> np.arange(n)) & 1).astype(bool)
        single = xt - c[..., 1 << np.arange(n)]                # (..., T, n)
        return {"excess": exc, "worst": worst, "single": single}


def _to_gap(amounts: np.ndarray, grand: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Rescale game payments (..., T, n) from each year's c(N) to its funding gap."""
    g = np.asarray(grand, dtype=float)
    live = gap > 0
    if np.any(live & (g <= 0)):
        raise InputError("the game's whole-group cost is zero in a year with a funding gap, "
                         "so its shares cannot be formed.")
    share = np.divide(amounts, g[..., None], out=np.zeros(np.broadcast_shapes(
        amounts.shape, g.shape + (1,))), where=(g > 0)[..., None])
    return share * gap[:, None]


def _solve(game: Game, name: str) -> np.ndarray:
    if name == "shapley":
        return S.shapley(game).amounts
    if name == "nucleolus":
        return S.nucleolus(game).amounts
    if name == "prenucleolus":
        return S.prenucleolus(game).amounts
    if name == "least_core":
        return S.least_core(game).amounts
    if name == "weak_least_core":
        return S.least_core(game, variant="weak").amounts
    if name == "proportional_least_core":
        return S.least_core(game, variant="proportional").amounts
    if name == "tau":
        return S.tau(game).amounts
    if name == "scrb":
        return S.scrb(game).amounts
    if name == "airport":
        return S.airport_rule(game).amounts
    raise InputError(f"unknown game rule {name!r}")  # pragma: no cover


def _label(name: str) -> str:
    return parse_rule(name).label


# ---------------------------------------------------------------------------
# partners and rules
# ---------------------------------------------------------------------------
_NOT_DRIVERS = {"standalone_cost", "variable_cost", "cap", "benefit", "fixed_share"}


def _partner_frame(sc: Scenario) -> tuple[pd.DataFrame, list[str]]:
    p = sc.partners
    if isinstance(p, pd.DataFrame):
        df = p.copy()
    elif isinstance(p, (list, tuple)) and all(isinstance(x, str) for x in p):
        df = pd.DataFrame({"partner": list(p)})
    else:
        raise InputError("partners: expected a partners table (DataFrame with a 'partner' "
                         "column) or a list of partner names.")
    df = df.reset_index(drop=True)
    pdf, names = _partners(df, "partner", None)
    for key, mapping, col in (("caps", sc.caps, "cap"), ("fixed_shares", sc.fixed_shares,
                                                          "fixed_share")):
        if mapping:
            unknown = sorted(set(map(str, mapping)) - set(names))
            if unknown:
                raise InputError(f"{key}: partner(s) {unknown} are not in the partners table "
                                 f"({', '.join(names)}).")
            vals = [mapping.get(nm, np.nan) for nm in names]
            if col == "fixed_share" and any(v is None or v != v for v in vals):
                raise InputError("fixed_shares: give every partner a share (0 if none); missing: "
                                 + ", ".join(nm for nm, v in zip(names, vals)
                                             if v is None or v != v) + ".")
            pdf[col] = [np.nan if v is None else _num(f"{key}[{nm}]", v, lo=0.0)
                        for nm, v in zip(names, vals)]
    return pdf, names


def _default_driver(pdf: pd.DataFrame, driver: str | None) -> str:
    if driver:
        if driver not in pdf.columns:
            nums = [c for c in pdf.columns if c not in ("partner", "kind", "_row")
                    and pd.api.types.is_numeric_dtype(pdf[c])]
            raise InputError(f"driver: the partners table has no column {driver!r}; numeric "
                             f"columns: {', '.join(map(str, nums)) or 'none'}.")
        return driver
    if "caseload" in pdf.columns:
        return "caseload"
    for c in pdf.columns:
        if c in ("partner", "kind", "_row") or c in _NOT_DRIVERS:
            continue
        if pd.api.types.is_numeric_dtype(pdf[c]) and not pd.api.types.is_bool_dtype(pdf[c]):
            return str(c)
    raise InputError("proportional: the partners table has no numeric driver column (budget, "
                     "caseload, population...); add one or set the driver.")


def _rules(sc: Scenario, pdf: pd.DataFrame) -> list[_Rule]:
    rules = sc.rules
    if isinstance(rules, str):
        rules = [r for r in rules.split(",") if r.strip()]
    out: list[_Rule] = []
    for text in rules:
        raw = str(text).strip()
        parts = [p.strip() for p in raw.split(":")]
        head = parts[0].lower().replace("-", "_").replace(" ", "_")
        if head in ("proportional", "proportional_to") and len(parts) == 1:
            raw = f"proportional:{_default_driver(pdf, sc.driver)}"
        elif head in ("fixed", "fixed_shares", "fixed_percentages") and len(parts) == 1:
            if "fixed_share" not in pdf.columns:
                raise InputError("fixed: give the negotiated shares (fixed_shares: {partner: "
                                 "share}) or name a column, e.g. 'fixed:share'.")
            raw = "fixed:fixed_share"
        elif head in ("capped", "capped_proportional") and len(parts) == 1:
            raw = f"capped:{_default_driver(pdf, sc.driver)}:cap"
        spec = parse_rule(raw)
        label = "Fixed shares" if spec.name == "fixed" and spec.column == "fixed_share" \
            else spec.label
        out.append(_Rule(spec, raw, label, str(text).strip()))
    keys = [r.spec.key for r in out]
    if len(set(keys)) != len(keys):
        raise InputError("rules: a rule is listed twice.")
    if not out:
        raise InputError("rules: no rules to compare.")
    return out


# ---------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------
def _payback(cum_disc: np.ndarray, tol: float) -> np.ndarray:
    """First year from which the cumulative discounted net position stays >= 0 (-1 if never)."""
    ok = cum_disc >= -tol
    T = ok.shape[-1]
    # last year with a negative position; payback is the year after it
    neg = ~ok
    any_neg = neg.any(axis=-1)
    last_neg = T - 1 - np.argmax(neg[..., ::-1], axis=-1)
    year = np.where(any_neg, last_neg + 1, 0)
    return np.where(year >= T, -1, year)


def run(scenario: Scenario, *, progress: bool | None = None, tornado: bool = True) -> Any:
    """Evaluate a :class:`Scenario`.

    Parameters
    ----------
    scenario : Scenario
    progress : bool, optional
        Show a progress bar (stderr) over the Monte Carlo; default: only for
        long runs (over about twenty million partner-year-draw evaluations).
    tornado : bool, default True
        Compute the tornado sensitivity (several deterministic re-runs).

    Returns
    -------
    SustainResult
    """
    from .result import SustainResult

    sc = scenario
    if not isinstance(sc, Scenario):
        raise InputError("run: expected a Scenario.")
    if sc.count not in _COUNT:
        raise InputError(f"count: expected 'cashable' or 'fiscal', got {sc.count!r}.")
    if sc.shares_follow not in ("each_draw", "expected"):
        raise InputError("shares_follow: expected 'each_draw' or 'expected', got "
                         f"{sc.shares_follow!r}.")
    sens = sc.sensitivity if isinstance(sc.sensitivity, Sensitivity) else \
        Sensitivity.from_mapping(sc.sensitivity)
    if int(sc.draws) < 1:
        raise InputError("draws: need at least one Monte Carlo draw.")
    pdf, names = _partner_frame(sc)
    horizon = sc.horizon
    if horizon is None:
        if isinstance(sc.benefits, BenefitsResult):
            horizon = sc.benefits.horizon
        elif isinstance(sc.benefits, BenefitModel):
            raise InputError("horizon: give the number of years to model.")
        elif isinstance(sc.benefits, pd.DataFrame):
            horizon = sc.benefits.drop(columns=["partner"], errors="ignore").shape[1]
        else:
            horizon = int(np.shape(sc.benefits)[-1])
    horizon = int(_num("horizon", horizon, lo=1, hi=100))
    first = None
    if sc.first_year is not None:
        first = normalise_price_year(sc.first_year)
        if first is None:
            raise InputError(f"first_year: expected a financial year such as 2025-26, got "
                             f"{sc.first_year!r}.")
    labels = _financial_year_labels(first, horizon)
    eng = _Engine(sc, pdf, names, horizon)
    ben = _prepare_benefits(sc, names, horizon, labels)
    rules = _rules(sc, pdf)
    notes = list(eng.notes) + list(ben.notes)
    if np.any(eng.surplus > 0):
        notes.append("The grant exceeds the cost in year(s) "
                     + ", ".join(str(int(i)) for i in np.flatnonzero(eng.surplus > 0))
                     + "; the surplus is not shared out (the gap is zero).")
    Bp = ben.counted(sc.count)[None]                      # (1, n, T)
    Bd = ben.counted(sc.count, draws=True)
    if Bd is None:
        Bd = Bp
    D = Bd.shape[0]
    tol = 1e-6 * max(1.0, float(np.max(eng.cost)))

    # ---- deterministic pass and rule availability
    unavailable: dict[str, str] = {}
    det: dict[str, dict[str, np.ndarray]] = {}
    done: list[_Rule] = []
    for r in rules:
        try:
            pay = eng.payments(r, Bp)
        except (MissingCoalitionsError, EvalkitError) as err:
            unavailable[r.label] = str(err)
            continue
        pay = np.broadcast_to(pay, Bp.shape)[0]
        det[r.label] = _det_metrics(pay, Bp[0], eng.df, tol)
        st = eng.stability(pay[None], Bp)
        det[r.label]["stab"] = {k: v[0] for k, v in st.items()}
        done.append(r)
    if not done:
        raise InputError("rules: none of the rules could be computed:\n"
                         + "\n".join(f"  - {k}: {v}" for k, v in unavailable.items()))

    # ---- Monte Carlo
    mc = _monte_carlo(eng, done, Bd, Bp, sc.shares_follow, progress, tol, notes)

    # ---- break-even, coalitions, tornado
    be = _breakeven(eng, done, Bp[0], sc, tol)
    coal = _coalitions(eng, Bp[0], Bd, names)
    tor = None
    eff_range = sens.effect
    if eff_range is None:
        eff_range = _effect_range(eng, Bp[0], Bd)
    if tornado:
        tor = _tornado(sc, eng, pdf, names, horizon, labels, ben, done, sens, eff_range, det,
                       notes)
    return SustainResult._build(sc, eng, ben, names, labels, done, unavailable, det, mc, be,
                                coal, tor, sens, eff_range, D, notes)


def _det_metrics(pay: np.ndarray, B: np.ndarray, df: np.ndarray, tol: float
                 ) -> dict[str, np.ndarray]:
    net = B - pay
    disc = net * df
    cum = np.cumsum(disc, axis=-1)
    return {"pay": pay, "benefit": B, "net": net, "cum": np.cumsum(net, axis=-1),
            "disc": disc, "cum_disc": cum, "npv": cum[..., -1],
            "pv_pay": pay @ df, "pv_benefit": B @ df, "payback": _payback(cum, tol)}


def _monte_carlo(eng: _Engine, rules: list[_Rule], Bd: np.ndarray, Bp: np.ndarray,
                 follow: str, progress: bool | None, tol: float, notes: list[str]
                 ) -> dict[str, dict[str, Any]]:
    D, n, T = Bd.shape
    chunk = max(1, min(D, int(4e6 // max(1, n * T))))
    starts = list(range(0, D, chunk))
    total = len(rules) * len(starts)
    work = D * n * T * len(rules)
    show = progress if progress is not None else work > 2e7
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="Monte Carlo", unit="batch", leave=False)
    counter: dict[str, int] = {}
    out: dict[str, dict[str, Any]] = {}
    df = eng.df
    probs = [0.1, 0.5, 0.9]
    shared: dict[str, Any] = {}
    seen: dict[bytes, str] = {}

    def benefit_quantiles() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Quantiles shift with a constant: for a rule whose payments do not vary with the
        # draws, quantile(B - pay) = quantile(B) - pay; the benefits' quantiles are computed once.
        if "q" not in shared:
            pvb = Bd @ df                                                   # (D, n)
            shared["pvb"] = pvb
            shared["q"] = np.quantile(np.ascontiguousarray(pvb.T), probs, axis=1)
            shared["qy"] = np.quantile(np.ascontiguousarray(Bd.reshape(D, -1).T), probs,
                                       axis=1).reshape(3, n, T)
        return shared["pvb"], shared["q"], shared["qy"]

    for r in rules:
        fixed_pay = None
        if not r.uses_model_benefits or follow == "expected":
            fixed_pay = np.ascontiguousarray(
                np.broadcast_to(eng.payments(r, Bp, counter={}), Bp.shape)[0])
            key = fixed_pay.tobytes()
            if key in seen:                       # same payments as an earlier rule
                out[r.label] = out[seen[key]]
                if bar is not None:
                    bar.update(len(starts))
                continue
            seen[key] = r.label
        npv = np.empty((D, n))
        net_all = None if fixed_pay is not None else np.empty((D, n, T))
        cover_year = np.zeros((n, T))
        cover_date = np.zeros((n, T))
        in_core = np.zeros(T)
        in_core_all = 0.0
        leave = np.zeros((n, T))
        for s in starts:
            B = Bd[s:s + chunk]
            pay = fixed_pay if fixed_pay is not None else eng.payments(r, B, counter=counter)
            net = B - pay
            cum = np.cumsum(net * df, axis=-1)
            npv[s:s + chunk] = cum[..., -1]
            if net_all is not None:
                net_all[s:s + chunk] = net
            cover_year += np.sum(net >= -tol, axis=0)
            cover_date += np.sum(cum >= -tol, axis=0)
            st = eng.stability(pay, B, members=False)
            ok = st["excess"] <= tol                           # (d, T)
            in_core += ok.sum(axis=0)
            in_core_all += float(np.sum(ok.all(axis=-1)))
            leave += np.sum(st["single"] > tol, axis=0)
            if bar is not None:
                bar.update(1)
        if fixed_pay is None:
            q = np.quantile(np.ascontiguousarray(npv.T), probs, axis=1)      # (3, n)
            qy = np.quantile(np.ascontiguousarray(net_all.reshape(D, -1).T), probs,
                             axis=1).reshape(3, n, T)
        else:
            _, qb, qby = benefit_quantiles()
            q = qb - (fixed_pay @ df)[None, :]
            qy = qby - fixed_pay[None]
        out[r.label] = {
            "npv": npv, "p_npv": np.mean(npv >= -tol, axis=0), "npv_q": q,
            "p_year": cover_year / D, "p_to_date": cover_date / D, "net_q": qy,
            "p_core": in_core / D, "p_core_all": in_core_all / D, "p_leave": leave / D,
        }
    if bar is not None:
        bar.close()
    if counter.get("beneficiary_equal"):
        notes.append(f"Beneficiary pays: in {counter['beneficiary_equal']:,} draw(s) no partner "
                     "had a positive benefit, so the gap was split equally in those draws.")
    if counter.get("scrb_plain"):
        notes.append(f"SCRB: in {counter['scrb_plain']:,} draw-year(s) no partner had a positive "
                     "remaining benefit, so SCRB used stand-alone costs alone there.")
    return out


# ---------------------------------------------------------------------------
# break-even
# ---------------------------------------------------------------------------
def _breakeven(eng: _Engine, rules: list[_Rule], B: np.ndarray, sc: Scenario, tol: float
               ) -> dict[str, Any]:
    """Smallest fraction f of the estimated effect at which every partner's NPV >= 0."""
    df = eng.df
    pvb = B @ df                                                # (n,)
    pv_gap = float(eng.gap @ df)
    total_b = float(pvb.sum())
    place = pv_gap / total_b if total_b > 0 else (0.0 if pv_gap <= tol else np.inf)
    rows = []
    for r in rules:
        if r.name != "scrb":
            # Payments do not change when every benefit is scaled by f > 0 (beneficiary
            # pays shares are ratios of benefits), so NPV_i(f) = f PVB_i - PVpay_i.
            pay = np.broadcast_to(eng.payments(r, B[None]), (1,) + B.shape)[0]
            pvp = pay @ df
            f = np.where(pvb > 0, pvp / np.where(pvb > 0, pvb, 1.0),
                         np.where(pvp <= tol, 0.0, np.inf))
            f = np.maximum(f, 0.0)
            k = int(np.argmax(f))
            rows.append({"rule": r.label, "fraction": float(f[k]), "binding": eng.names[k],
                         "method": "exact (payments do not depend on the effect's size)"
                         if r.name != "beneficiary_pays" else
                         "exact (shares do not change when every benefit is scaled)"})
        else:
            f, who = _bisect_breakeven(eng, r, B, 1e-9 * max(1.0, pv_gap))
            rows.append({"rule": r.label, "fraction": f, "binding": who,
                         "method": "scan and bisection (payments depend on the benefits)"})
    return {"rules": rows, "place": place, "pv_gap": pv_gap, "pv_benefit": total_b}


def _bisect_breakeven(eng: _Engine, r: _Rule, B: np.ndarray, tol: float
                      ) -> tuple[float, str]:
    df = eng.df

    def worst(f: float) -> tuple[float, int]:
        Bf = (f * B)[None]
        pay = np.broadcast_to(eng.payments(r, Bf), Bf.shape)[0]
        npv = (Bf[0] - pay) @ df
        k = int(np.argmin(npv))
        return float(npv[k]), k

    if worst(0.0)[0] >= -tol:
        return 0.0, ""
    grid = np.concatenate([np.linspace(0, 4, 161)[1:], np.geomspace(4, 1000, 120)[1:]])
    prev = 0.0
    for f in grid:
        v, _ = worst(float(f))
        if v >= -tol:
            lo, hi = prev, float(f)
            for _ in range(80):
                mid = 0.5 * (lo + hi)
                if worst(mid)[0] >= -tol:
                    hi = mid
                else:
                    lo = mid
                if hi - lo <= 1e-10 * max(1.0, hi):
                    break
            _, k = worst(lo)
            return hi, eng.names[k]
        prev = float(f)
    _, k = worst(1000.0)
    return np.inf, eng.names[k]


# ---------------------------------------------------------------------------
# minimum viable coalitions
# ---------------------------------------------------------------------------
def _coalitions(eng: _Engine, B: np.ndarray, Bd: np.ndarray, names: list[str],
                max_listed: int = 50) -> dict[str, Any]:
    df = eng.df
    pvb = B @ df
    pvd = Bd @ df                                               # (D, n)
    pv_gap = float(eng.gap @ df)
    order = np.argsort(-pvb, kind="stable")
    cums = np.cumsum(pvb[order])
    ok = np.flatnonzero(cums >= pv_gap - 1e-9 * max(1.0, pv_gap))
    if ok.size == 0:
        return {"size": None, "sets": [], "pv_gap": pv_gap, "best": float(np.sum(
            np.maximum(pvb, 0)))}
    k = int(ok[0]) + 1
    sets = []
    n = len(names)
    if math.comb(n, k) <= 200_000:
        for combo in itertools.combinations(range(n), k):
            idx = list(combo)
            tot = float(pvb[idx].sum())
            if tot >= pv_gap - 1e-9 * max(1.0, pv_gap):
                sets.append((idx, tot))
    else:
        sets.append((sorted(order[:k].tolist()), float(cums[k - 1])))
    sets.sort(key=lambda s: -s[1])
    rows = []
    for idx, tot in sets[:max_listed]:
        rows.append({"partners": " + ".join(names[i] for i in idx), "size": k,
                     "pv_benefit": tot, "pv_gap": pv_gap, "surplus": tot - pv_gap,
                     "p_covers": float(np.mean(pvd[:, idx].sum(axis=1) >= pv_gap - 1e-9 * max(
                         1.0, pv_gap)))})
    return {"size": k, "sets": rows, "pv_gap": pv_gap, "n_sets": len(sets)}


# ---------------------------------------------------------------------------
# tornado
# ---------------------------------------------------------------------------
def _effect_range(eng: _Engine, B: np.ndarray, Bd: np.ndarray) -> tuple[float, float]:
    point = float((B @ eng.df).sum())
    tot = (Bd @ eng.df).sum(axis=1)
    if point <= 0 or Bd.shape[0] < 2 or np.ptp(tot) <= 1e-9 * max(1.0, abs(point)):
        return (0.5, 1.5)
    lo, hi = np.quantile(tot, [0.1, 0.9]) / point
    return (float(max(lo, 0.0)), float(max(hi, 0.0)))


def _tornado(sc: Scenario, eng: _Engine, pdf: pd.DataFrame, names: list[str], horizon: int,
             labels: list, ben: _Benefits, rules: list[_Rule], sens: Sensitivity,
             eff_range: tuple[float, float], det: dict, notes: list[str]) -> pd.DataFrame:
    count = sc.count
    base_b = ben.counted(count)
    rows = []

    def npvs(e: _Engine, B: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for r in rules:
            try:
                pay = np.broadcast_to(e.payments(r, B[None]), (1,) + B.shape)[0]
            except EvalkitError:
                out[r.label] = np.full(len(names), np.nan)
                continue
            out[r.label] = (B - pay) @ e.df
        return out

    def add(key: str, what: str, lo_v: float, hi_v: float, lo_res: dict | None,
            hi_res: dict | None, note: str = "") -> None:
        for r in rules:
            base = det[r.label]["npv"]
            for i, p in enumerate(names):
                lo = np.nan if lo_res is None else lo_res[r.label][i]
                hi = np.nan if hi_res is None else hi_res[r.label][i]
                rows.append({"rule": r.label, "partner": p, "input": key, "meaning": what,
                             "low_value": lo_v, "high_value": hi_v, "npv_base": base[i],
                             "npv_low": lo, "npv_high": hi,
                             "swing": abs(hi - lo) if np.isfinite(lo) and np.isfinite(hi)
                             else np.nan, "note": note})

    # benefits scaled by a factor
    for key, what, (lo, hi) in (("effect", "effect size (x the estimate)", eff_range),
                                ("unit_costs", "unit costs (x as assumed)", sens.unit_costs)):
        add(key, what, lo, hi, npvs(eng, base_b * lo), npvs(eng, base_b * hi))
    # costs or discounting rebuilt at the low and the high value
    for key, what, arg, (lo, hi) in (
            ("running_cost", "running cost (x as assumed)", "running_factor", sens.running_cost),
            ("discount_rate", "discount rate (flat, a year)", "discount", sens.discount_rate)):
        res = [npvs(_Engine(sc, pdf, names, horizon, **{arg: k}), base_b) for k in (lo, hi)]
        add(key, what, lo, hi, res[0], res[1])
    lo, hi = sens.drop_off
    model = ben.model
    if model is None:
        add("drop_off", "benefit drop-off a year", lo, hi, None, None,
            "not assessed: benefits were given as numbers, not rebuilt from effects")
    else:
        res = []
        for k in (lo, hi):
            adj = dataclasses.replace(model.adjustments, drop_off=k)
            r0 = model.build(horizon, n_draws=2, seed=0, first_year=labels[0], partners=names,
                             adjustments=adj, point=True)
            c, nn, _, _ = _result_benefits(r0, model.value_type, names, horizon)
            res.append(npvs(eng, c if count == "cashable" else c + nn))
        note = "" if model.benefit_years > 1 else (
            "no effect: each cohort's benefit lasts one year (benefit_years = 1), and drop-off "
            "applies to the years after the first")
        add("drop_off", "benefit drop-off a year", lo, hi, res[0], res[1], note)
    lo, hi = sens.cashable_share
    if count == "fiscal":
        add("cashable_share", "cashable share (x as assumed)", lo, hi, npvs(eng, base_b),
            npvs(eng, base_b), "no effect: all fiscal benefits are counted, cashable or not")
    elif model is None:
        tot = ben.cash + ben.noncash
        add("cashable_share", "cashable share (x as assumed, at most 100%)", lo, hi,
            npvs(eng, np.minimum(ben.cash * lo, tot)), npvs(eng, np.minimum(ben.cash * hi, tot)),
            "benefits given as numbers are treated as cashable: only a lower share moves them")
    else:
        res = []
        for k in (lo, hi):
            r0 = model.build(horizon, n_draws=2, seed=0, first_year=labels[0], partners=names,
                             cashable_factor=k, point=True)
            c, _, _, _ = _result_benefits(r0, model.value_type, names, horizon)
            res.append(npvs(eng, c))
        add("cashable_share", "cashable share (x as assumed, at most 100%)", lo, hi, res[0],
            res[1])
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# from a place
# ---------------------------------------------------------------------------
def scenario_from_place(place: Any, effects: Any = None) -> Scenario:
    """Build a :class:`Scenario` from a :class:`~evalkit.place.Place`.

    Uses ``place.yml``'s ``programme`` (costs, grant, horizon), ``money``
    (price year, discounting, adjustments), ``split`` (rules, driver, caps,
    fixed shares) and ``sustain`` (draws, effects, which benefits count...)
    settings, the partners table, the benefit map and the unit costs (yours
    merged over the shipped table).

    Parameters
    ----------
    place : Place
    effects : DataFrame, dict or EffectResults, optional
        Effect estimates (``measure, estimate, se``); default: the
        ``sustain.effects`` settings.
    """
    from ..money import load_unit_costs, merge_unit_costs

    s = place.settings
    prog = s.programme
    if prog is None:
        raise InputError(f"{place.name}: place.yml has no 'programme:' section; add first_year, "
                         "horizon_years, running_cost and grant (see data/templates/place.yml).")
    if place.benefit_map is None:
        raise InputError(f"{place.name}: the sustainability model needs a benefit map (data: "
                         "benefit_map: in place.yml; template data/templates/benefit_map.csv).")
    if effects is None:
        eff = s.sustain.effects
        if not eff:
            raise InputError("effects: give the effect estimates (--effects effects.csv with "
                             "measure, estimate, se) or list them under 'sustain: effects:' in "
                             "place.yml, e.g. ae_attendances: {estimate: -0.05, se: 0.02}.")
        effects = pd.DataFrame([{"measure": k, "estimate": v.estimate, "se": v.se}
                                for k, v in eff.items()])
    uc = merge_unit_costs(place.unit_costs) if place.unit_costs is not None else \
        load_unit_costs()
    people = prog.people_per_year
    if people is None:
        people = _people_from_data(place)
    m = s.money
    adj = Adjustments(optimism_bias_benefits=m.optimism_bias_benefits or None,
                      deadweight=m.deadweight, attribution=m.attribution, drop_off=m.drop_off,
                      ramp_up=tuple(m.ramp_up))
    bm = BenefitModel(effects=effects, benefit_map=place.benefit_map.copy(),
                      people_per_year=people, price_year=m.price_year, unit_costs=uc,
                      periods_per_year=12.0 if s.evaluation.period == "month" else 1.0,
                      benefit_years=s.sustain.benefit_years, adjustments=adj,
                      value_type="fiscal")
    partners = place.partners.copy()
    for c in partners.columns:
        if isinstance(partners[c].dtype, pd.CategoricalDtype):
            partners[c] = partners[c].astype(object)
    return Scenario(
        partners=partners, benefits=bm, running_cost=prog.running_cost,
        horizon=prog.horizon_years, first_year=prog.first_year,
        cost_inflation=prog.cost_inflation, transition_costs=list(prog.transition_costs),
        grant=list(prog.grant), grant_as=s.sustain.grant_as,
        optimism_bias_costs=m.optimism_bias_costs,
        discount="standard" if m.discount_rate is None else m.discount_rate,
        rules=list(s.split.rules), driver=s.split.driver, caps=dict(s.split.caps),
        fixed_shares=dict(s.split.fixed_shares), count=s.sustain.benefits,
        draws=s.sustain.draws, seed=s.seed,
        sensitivity=Sensitivity.from_mapping(s.sustain.sensitivity),
        shares_follow=s.sustain.shares_follow, name=place.name, price_year=m.price_year)


def _people_from_data(place: Any) -> float:
    try:
        starts = place.pilot_starts().dropna()
    except EvalkitError:
        starts = pd.Series([], dtype="datetime64[ns]")
    if starts.empty:
        raise InputError("programme.people_per_year is empty and no one in the people table "
                         "has a pilot start date; set people_per_year in place.yml.")
    fy = starts.dt.year - (starts.dt.month < 4).astype(int)
    return float(fy.value_counts().mean())
