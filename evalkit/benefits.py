"""Benefits by partner: effect estimates x unit costs x a benefit map.

A **benefit map** (schema ``benefit_map`` in :mod:`evalkit.schema`) says how
each outcome measure turns into money: which unit-cost item prices one unit
of it, which partner's budget gains, the cashable share and the value type.
:func:`benefits_by_partner` combines it with effect estimates and the number
of people treated each year to give benefits by partner by year, with
uncertainty carried through, in real prices of a stated price year.

Sign convention
---------------
An effect estimate is the **change in events per treated person per
period** (treated minus counterfactual), as every evalkit design reports it:
``-0.10`` A&E attendances per person per month means 0.1 fewer. For a
measure whose events cost money (the default, ``direction = "reduction"`` in
the benefit map) a **reduction is a positive benefit**:

    benefit = -effect x periods_per_year x unit cost x units_per_outcome

For a measure whose events are good and carry a value (a claimant entering
work, priced by the benefit saving), set ``direction = "increase"`` in the
benefit map: benefit = +effect x ... . Benefits are positive when the pilot
saves or gains money; a negative benefit is a dis-benefit.

The model
---------
People treated in programme year *c* (``treated_per_year[c]``) gain the
per-person benefit in year *c* and, if ``benefit_years`` > 1, in the
following years, decaying by the drop-off. With adjustments (see
:class:`evalkit.money.Adjustments`, applied in
:data:`evalkit.money.ADJUSTMENT_ORDER`), the benefit of map row *r* in year
*t* is::

    sum over cohorts c <= t with t - c < benefit_years of
        n_c x b_r x (1 - deadweight) x attribution x (1 - drop_off)^(t - c)
            x ramp_up[c] x (1 - optimism_bias_benefits)

where ``b_r`` is the per-person-per-year benefit at the effect estimate.
Ramp-up applies to the cohort's programme year (delivery maturity when they
were treated); drop-off to the years since that cohort's first year.

Uncertainty
-----------
Each measure's effect is drawn ``n_draws`` times: from the estimator's
bootstrap draws when the :class:`~evalkit.evaluate.result.EffectResult`
has them (used as they are when there are exactly ``n_draws``, which keeps
the joint draws of several outcomes from one bootstrap aligned; otherwise
resampled with replacement), else from ``Normal(estimate, se)``. Draws of
different measures are otherwise independent. Everything is seeded
(``numpy.random.default_rng(seed)``): the same seed gives the same draws.
Benefits are linear in the effect, so the central value (``mean``) is the
benefit at the point estimate; ``lower``/``upper`` are percentile limits of
the draws.

Draws for the sustainability model
----------------------------------
:meth:`BenefitsResult.draws` returns a :class:`BenefitDraws` holding an array
of shape ``(n_draws, n_partners, n_years)`` for **one value type** (fiscal by
default; value types are never added silently), with the partner and year
labels.

Examples
--------
>>> import pandas as pd
>>> from evalkit.benefits import benefits_by_partner
>>> bmap = pd.DataFrame({"measure": ["ae_attendances"],
...                      "item": ["A&E attendance (all types)"],
...                      "partner": ["NHS (CCG/ICB commissioner)"]})
>>> res = benefits_by_partner({"ae_attendances": (-0.05, 0.01)}, bmap,
...                           treated_per_year=[200, 200], price_year="2024-25",
...                           n_draws=500, seed=1)
>>> round(res.total("fiscal"), 2)  # 0.05 x 12 x 200 x 2 x £109 x 100/70.3261
37198.14
>>> res.draws("fiscal").values.shape
(500, 1, 2)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import InputError, Problem, ValidationError
from .evaluate.result import EffectResult, Summary
from .money import (
    ADJUSTMENT_ORDER,
    Adjustments,
    _close,
    _financial_year_labels,
    _item_key,
    _value_types,
    load_unit_costs,
    normalise_price_year,
    uprating_factor,
    validate_unit_costs,
    write_workbook,
)
from .schema import VALUE_TYPES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "DIRECTIONS",
    "benefits_by_partner",
    "validate_benefit_map",
    "BenefitsResult",
    "BenefitDraws",
]

#: Allowed values of the optional benefit-map column ``direction``.
DIRECTIONS: tuple[str, ...] = ("reduction", "increase")


# --------------------------------------------------------------------------
# effects
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Effect:
    measure: str
    estimate: float
    se: float
    draws: np.ndarray | None
    origin: str


def _one_effect(measure: str, obj: Any) -> _Effect:
    if isinstance(obj, EffectResult):
        d = None
        if obj.draws is not None:
            d = np.asarray(obj.draws, dtype=float).ravel()
            d = d[np.isfinite(d)]
            if d.size < 2:
                d = None
        est, se = float(obj.estimate), float(obj.se)
        if not math.isfinite(est):
            raise InputError(f"effects[{measure!r}]: the EffectResult's estimate is not a "
                             "finite number.")
        if d is None and (not math.isfinite(se) or se < 0):
            raise InputError(f"effects[{measure!r}]: the EffectResult has no usable standard "
                             f"error ({se!r}) and no bootstrap draws, so its uncertainty cannot "
                             "be carried through.")
        return _Effect(measure, est, se, d, obj.method or obj.design or "EffectResult")
    if isinstance(obj, Mapping):
        if "estimate" not in obj:
            raise InputError(f"effects[{measure!r}]: a dict needs 'estimate' (and 'se').")
        return _one_effect(measure, (obj["estimate"], obj.get("se", 0.0)))
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        est, se = obj
    elif np.isscalar(obj):
        est, se = obj, 0.0
    else:
        raise InputError(
            f"effects[{measure!r}]: give an EffectResult, an (estimate, se) pair or a number; "
            f"got {type(obj).__name__}."
        )
    try:
        est, se = float(est), float(se)
    except (TypeError, ValueError):
        raise InputError(f"effects[{measure!r}]: estimate and se must be numbers; got "
                         f"{obj!r}.") from None
    if not math.isfinite(est):
        raise InputError(f"effects[{measure!r}]: the estimate is not a finite number.")
    if not math.isfinite(se) or se < 0:
        raise InputError(f"effects[{measure!r}]: the standard error must be a number >= 0; "
                         f"got {se!r}.")
    return _Effect(measure, est, se, None, "estimate and SE")


def _parse_effects(effects: Any, map_measures: Sequence[str]) -> dict[str, _Effect]:
    from .evaluate.result import EffectResults

    if isinstance(effects, EffectResult):
        m = effects.outcome
        if not m:
            if len(set(map_measures)) == 1:
                m = map_measures[0]
            else:
                raise InputError("effects: this EffectResult has no outcome name, and the "
                                 "benefit map has several measures; pass a dict "
                                 "{measure: result}.")
        return {m: _one_effect(m, effects)}
    if isinstance(effects, EffectResults):
        out = {}
        for r in effects:
            if not r.outcome:
                raise InputError("effects: every result needs an outcome name.")
            if r.outcome in out:
                raise InputError(f"effects: two results for outcome {r.outcome!r}; pass one "
                                 "per measure.")
            out[r.outcome] = _one_effect(r.outcome, r)
        return out
    if isinstance(effects, pd.DataFrame):
        mcol = "measure" if "measure" in effects.columns else (
            "outcome" if "outcome" in effects.columns else None)
        if mcol is None or "estimate" not in effects.columns:
            raise InputError("effects: a DataFrame needs columns 'measure' (or 'outcome'), "
                             "'estimate' and 'se'.")
        out = {}
        for r in effects.to_dict("records"):
            m = str(r[mcol])
            if m in out:
                raise InputError(f"effects: measure {m!r} appears twice.")
            out[m] = _one_effect(m, (r["estimate"], r.get("se", 0.0)))
        return out
    if isinstance(effects, Mapping):
        return {str(k): _one_effect(str(k), v) for k, v in effects.items()}
    if isinstance(effects, tuple) and len(effects) == 2 and len(set(map_measures)) == 1:
        return {map_measures[0]: _one_effect(map_measures[0], effects)}
    raise InputError(
        "effects: give an EffectResult, a dict {measure: EffectResult or (estimate, se)}, or "
        "a DataFrame with measure, estimate and se."
    )


# --------------------------------------------------------------------------
# benefit map
# --------------------------------------------------------------------------


def _partner_names(partners: Any) -> list[str] | None:
    if partners is None:
        return None
    if isinstance(partners, pd.DataFrame):
        if "partner" not in partners.columns:
            raise InputError("partners: the table needs a 'partner' column.")
        return [str(p) for p in partners["partner"]]
    if isinstance(partners, str):
        return [partners]
    return [str(p) for p in partners]


def _blank(v: Any) -> bool:
    """Whether a table cell is empty: None, NaN/NA or only white space."""
    if v is None or isinstance(v, str):
        return v is None or v.strip() == ""
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # pragma: no cover - array-like cell
        return False


def _number(v: Any) -> float | None:
    """``v`` as a float, or None when it is not a number."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def validate_benefit_map(benefit_map: pd.DataFrame, unit_costs: pd.DataFrame, *,
                         partners: Any = None, measures: Iterable[str] | None = None,
                         file: str | None = None) -> pd.DataFrame:
    """Check a benefit map against the unit costs (and partners) and resolve it.

    Every problem is collected (spreadsheet rows: header = row 1) and raised
    together as a :class:`~evalkit.errors.ValidationError`: an item not in
    the unit costs (with close matches), a context-only item, a partner not
    in ``partners``, a negative or >1 cashable share, a negative
    ``units_per_outcome``, an unknown value type or direction, a measure with
    no effect estimate, a repeated (measure, item, partner).

    Returns
    -------
    DataFrame
        The map with ``partner`` (empty cells inherit the unit cost's
        partner), ``units_per_outcome`` (empty = 1), ``cashable_share`` and
        ``value_type`` (empty = the unit cost's) and ``direction`` (empty =
        reduction) filled in.
    """
    if not isinstance(benefit_map, pd.DataFrame):
        raise InputError(f"benefit_map: expected a DataFrame, got {type(benefit_map).__name__}.")
    missing = [c for c in ("measure", "item", "partner") if c not in benefit_map.columns]
    if missing:
        raise InputError(f"benefit_map: missing column(s) {missing}; it needs measure, item and "
                         "partner (optional: units_per_outcome, cashable_share, value_type, "
                         "direction).")
    if benefit_map.empty:
        raise InputError("benefit_map: the table is empty; add one row per measure and partner.")
    uc = unit_costs.copy()
    by_key = {_item_key(it): i for i, it in enumerate(uc["item"])}
    known_partners = _partner_names(partners)
    mset = None if measures is None else set(measures)
    problems: list[Problem] = []

    def bad(i: int, col: str | None, val: Any, msg: str) -> None:
        problems.append(Problem("benefit_map", file, i + 2, col, val, msg))

    rows = []
    seen: dict[tuple, int] = {}
    for i, r in enumerate(benefit_map.to_dict("records")):
        measure = r.get("measure")
        item = r.get("item")
        if _blank(measure):
            bad(i, "measure", None, "measure must not be empty")
            continue
        measure = str(measure).strip()
        if mset is not None and measure not in mset:
            bad(i, "measure", measure, "there is no effect estimate for this measure; effects "
                f"were given for: {', '.join(sorted(mset)) or 'none'}")
        if _blank(item):
            bad(i, "item", None, "item must name a unit-cost item")
            continue
        item = str(item).strip()
        j = by_key.get(_item_key(item))
        if j is None:
            bad(i, "item", item, "this item is not in the unit costs (unknown unit-cost item)."
                + _close(item, uc["item"]) + " Add it to your unit-cost table "
                "(evalkit.money.merge_unit_costs) or correct the name")
            continue
        urow = uc.iloc[j]
        if bool(urow.get("context_only", False)):
            bad(i, "item", item, "this shipped row is a composite multi-agency spend estimate, "
                "for context only: it is not a unit cost and cannot price a benefit; use "
                "itemised unit costs instead")
            continue
        partner = r.get("partner")
        if _blank(partner):
            partner = str(urow["partner"])
        partner = str(partner).strip()
        if known_partners is not None and partner not in known_partners:
            bad(i, "partner", partner, "this partner is not in the partners table (unknown "
                "partner)." + _close(partner, known_partners)
                + f" The partners are: {', '.join(known_partners)}")
        raw = r.get("cashable_share")
        cs = float(urow["cashable_share"]) if _blank(raw) else _number(raw)
        if cs is None:
            bad(i, "cashable_share", raw, "cashable_share must be a number between 0 and 1")
        elif not _blank(raw) and cs < 0:
            bad(i, "cashable_share", cs, "cashable_share is negative; it must be between 0 "
                "(none cashable) and 1 (all cash released)")
        elif not _blank(raw) and cs > 1:
            bad(i, "cashable_share", cs, "cashable_share must be at most 1")
        raw = r.get("units_per_outcome")
        upo = 1.0 if _blank(raw) else _number(raw)
        if upo is None:
            bad(i, "units_per_outcome", raw, "units_per_outcome must be a number")
        elif upo < 0:
            bad(i, "units_per_outcome", upo, "units_per_outcome must not be negative")
        cs = float("nan") if cs is None else cs
        upo = float("nan") if upo is None else upo
        vt = r.get("value_type")
        if _blank(vt):
            vt = str(urow.get("value_type") or "fiscal")
        vt = str(vt).strip().lower()
        if vt not in VALUE_TYPES:
            bad(i, "value_type", vt, f"value_type must be one of {', '.join(VALUE_TYPES)}")
        dr = r.get("direction")
        if _blank(dr):
            dr = "reduction"
        dr = str(dr).strip().lower()
        if dr not in DIRECTIONS:
            bad(i, "direction", dr, "direction must be 'reduction' (fewer events save money; "
                "the default) or 'increase' (more of the outcome is a gain)")
        key = (measure, _item_key(item), partner)
        if key in seen:
            bad(i, None, None, f"repeats measure {measure!r}, item {item!r} and partner "
                f"{partner!r} (also on row {seen[key] + 2})")
        seen[key] = i
        sched = r.get("discount_schedule", r.get("schedule"))
        sched = "standard" if _blank(sched) else str(sched).strip().lower()
        if sched not in ("standard", "health"):
            bad(i, "discount_schedule", sched, "discount_schedule must be standard or health")
        rows.append({"measure": measure, "item": str(urow["item"]), "partner": partner,
                     "units_per_outcome": upo, "cashable_share": cs, "value_type": vt,
                     "direction": dr, "schedule": sched, "_uc_row": j})
    if problems:
        raise ValidationError(problems)
    return pd.DataFrame(rows)


def _treated(treated_per_year: Any, horizon: int | None,
             benefit_years: int) -> tuple[np.ndarray, int]:
    if isinstance(treated_per_year, Mapping):
        keys = [int(k) for k in treated_per_year]
        if any(k < 0 for k in keys):
            raise InputError("treated_per_year: years must be >= 0.")
        n = np.zeros(max(keys) + 1)
        for k, v in treated_per_year.items():
            n[int(k)] = float(v)
    elif np.isscalar(treated_per_year):
        if horizon is None:
            raise InputError("treated_per_year is one number: give horizon= (how many years "
                             "people are treated and benefits counted), or a list by year.")
        n = np.full(int(horizon), float(treated_per_year))
    else:
        n = np.asarray(treated_per_year, dtype=float).ravel()
    if n.size == 0 or np.any(~np.isfinite(n)) or np.any(n < 0):
        raise InputError("treated_per_year must be numbers >= 0 (people treated in each "
                         "programme year, year 0 first).")
    h = int(horizon) if horizon is not None else int(n.size + benefit_years - 1)
    if h < 1:
        raise InputError("horizon must be at least 1.")
    if n.size > h:
        if np.any(n[h:] > 0):
            raise InputError(f"treated_per_year has people treated in year {n.size - 1} but "
                             f"horizon={h}; raise the horizon.")
        n = n[:h]
    return np.concatenate([n, np.zeros(h - n.size)]), h


# --------------------------------------------------------------------------
# main function
# --------------------------------------------------------------------------


def benefits_by_partner(effects: Any, benefit_map: pd.DataFrame, treated_per_year: Any, *,
                        price_year: str, unit_costs: pd.DataFrame | None = None,
                        periods_per_year: float = 12, horizon: int | None = None,
                        benefit_years: int = 1, adjustments: Adjustments | None = None,
                        partners: Any = None, n_draws: int = 2000, seed: int | None = 0,
                        alpha: float = 0.05, deflators: Any = None,
                        first_year: str | None = None,
                        price_years: Mapping[str, str] | None = None) -> BenefitsResult:
    """Benefits by partner by year from effect estimates and a benefit map.

    Parameters
    ----------
    effects : EffectResult, EffectResults, dict or DataFrame
        The change in events per treated person per period for each measure:
        an ``EffectResult`` (its ``outcome`` names the measure; its bootstrap
        ``draws`` are used when present), a dict ``{measure: EffectResult or
        (estimate, se) or estimate}``, or a DataFrame with ``measure``,
        ``estimate``, ``se``.
    benefit_map : DataFrame
        Columns ``measure, item, partner`` and optionally
        ``units_per_outcome`` (cost units per unit of the measure; empty = 1),
        ``cashable_share`` and ``value_type`` (empty = the unit cost's),
        ``direction`` (``reduction``, the default, or ``increase``) and
        ``discount_schedule`` (``health`` for QALY/wellbeing values).
    treated_per_year : number, list or dict
        People starting with the pilot in each programme year (year 0 first).
    price_year : str
        Financial year of the prices (unit costs are uprated to it).
    unit_costs : DataFrame, optional
        Unit costs in the ``unit_costs`` schema; the shipped table by default.
        Use :func:`evalkit.money.merge_unit_costs` to put yours over it.
    periods_per_year : float, default 12
        Periods in a year for the effect's period (12 for monthly effects).
    horizon : int, optional
        Years to count (default: treatment years + ``benefit_years`` - 1).
    benefit_years : int, default 1
        How many years each cohort's benefit lasts (its treatment year
        included); drop-off applies to years after the first.
    adjustments : Adjustments, optional
        Deadweight, attribution, drop-off, ramp-up and optimism bias on
        benefits (cost-side settings are carried to :func:`evalkit.money.appraise`).
    partners : list or DataFrame, optional
        The place's partners; when given, the benefit map may name only these.
    n_draws : int, default 2000
        Monte Carlo draws of each effect.
    seed : int, optional
        Seed of ``numpy.random.default_rng``; the same seed gives the same draws.
    alpha : float, default 0.05
        ``lower``/``upper`` are the ``alpha/2`` and ``1 - alpha/2`` percentiles.
    deflators : optional
        GDP deflator series (default: the shipped HM Treasury series).
    first_year : str, optional
        Financial year of programme year 0, for labels (e.g. ``"2025-26"``).
    price_years : mapping, optional
        Price years for unit costs whose price year is not stated.

    Returns
    -------
    BenefitsResult

    Raises
    ------
    ValidationError
        Benefit-map problems (unknown item or partner, negative cashable
        share, ...), all listed at once.
    InputError
        A unit cost whose price year is not stated, or outside the deflator
        series (naming the item and year).
    """
    target = normalise_price_year(price_year)
    if target is None:
        raise InputError("price_year must be a financial year such as '2024-25'.")
    try:
        periods = float(periods_per_year)
    except (TypeError, ValueError):
        raise InputError("periods_per_year must be a number (12 for monthly effects).") \
            from None
    if not (periods > 0 and math.isfinite(periods)):
        raise InputError("periods_per_year must be a positive number (12 for monthly effects).")
    if int(benefit_years) != benefit_years or benefit_years < 1:
        raise InputError("benefit_years must be a whole number of years >= 1.")
    benefit_years = int(benefit_years)
    if int(n_draws) != n_draws or n_draws < 2:
        raise InputError("n_draws must be a whole number >= 2.")
    n_draws = int(n_draws)
    if not 0 < alpha < 1:
        raise InputError("alpha must be between 0 and 1 (0.05 gives 95% intervals).")
    adjustments = adjustments or Adjustments()
    uc = load_unit_costs() if unit_costs is None else (
        unit_costs.copy() if "price_year_stated" in unit_costs.columns
        else validate_unit_costs(unit_costs))
    warnings: list[str] = []

    if not isinstance(benefit_map, pd.DataFrame) or "measure" not in benefit_map.columns:
        raise InputError("benefit_map: expected a DataFrame with columns measure, item, partner.")
    map_measures = [str(m).strip() for m in benefit_map["measure"].dropna()]
    eff = _parse_effects(effects, map_measures)
    bm = validate_benefit_map(benefit_map, uc, partners=partners, measures=eff.keys())
    unused = sorted(set(eff) - set(bm["measure"]))
    if unused:
        warnings.append(f"Effects given for measure(s) not in the benefit map, not valued: "
                        f"{', '.join(unused)}.")

    # ---- unit costs uprated to the price year
    supplied = {_item_key(k): v for k, v in (price_years or {}).items()}
    uc_rows = []
    for j in sorted(set(bm["_uc_row"])):
        u = uc.iloc[j]
        py = supplied.get(_item_key(u["item"]))
        if py is None:
            py = u["price_year"] if isinstance(u["price_year"], str) else None
        if py is None:
            note = u.get("price_year_note")
            raise InputError(
                f"Unit cost {u['item']!r} has no stated price year"
                + (f" (the source says {note!r})" if isinstance(note, str) and note else "")
                + ", so it cannot be uprated to " + target + ". Supply it with "
                f"price_years={{{u['item']!r}: 'YYYY-YY'}} if you know it, or use another item."
            )
        f = uprating_factor(py, target, deflators=deflators, item=str(u["item"]))
        uc_rows.append({"_uc_row": j, "item": u["item"], "unit": u["unit"],
                        "cost_gbp_original": float(u["cost_gbp"]), "price_year_original": py,
                        "uprating_factor": f, "cost_gbp": float(u["cost_gbp"]) * f,
                        "unit_cost_partner": u["partner"], "source": u["source"]})
    ucu = pd.DataFrame(uc_rows)
    bm = bm.merge(ucu[["_uc_row", "cost_gbp", "unit"]], on="_uc_row", how="left")
    bm["value_per_unit"] = bm["cost_gbp"] * bm["units_per_outcome"]
    bm["sign"] = np.where(bm["direction"] == "reduction", -1.0, 1.0)

    # ---- cohorts and coefficients: benefit[r, t] = coef[r, t] x effect[m(r)]
    n, h = _treated(treated_per_year, horizon, benefit_years)
    t = np.arange(h)
    lag = t[None, :] - t[:, None]                       # [c, t] = t - c
    alive = (lag >= 0) & (lag < benefit_years)
    lag_c = np.where(alive, lag, 0)
    steps = adjustments.benefit_step_factors(np.broadcast_to(t[:, None], (h, h)), lag_c)
    step_mats = [np.broadcast_to(np.asarray(s, dtype=float), (h, h)) * alive for s in steps]
    gross_w = n[:, None] * alive                        # people x year weight, no adjustment
    per_person = bm["sign"].to_numpy() * periods * bm["value_per_unit"].to_numpy()  # (R,)
    cum = gross_w.copy()
    stage_w = [gross_w.sum(axis=0)]
    for s in step_mats:
        cum = cum * np.where(alive, s, 0.0)
        stage_w.append(cum.sum(axis=0))
    stage_w = np.asarray(stage_w)                        # (1 + steps, T)
    coef = per_person[:, None] * stage_w[-1][None, :]   # (R, T), adjusted

    measures = sorted(set(bm["measure"]))
    m_idx = {m: i for i, m in enumerate(measures)}
    r_m = np.array([m_idx[m] for m in bm["measure"]])
    est = np.array([eff[m].estimate for m in measures])

    # ---- draws of each measure's effect
    rng = np.random.default_rng(seed)
    D = np.empty((n_draws, len(measures)))
    origin = []
    for i, m in enumerate(measures):
        e = eff[m]
        if e.draws is not None:
            if e.draws.size == n_draws:
                D[:, i] = e.draws
                origin.append(f"bootstrap draws ({e.draws.size}, used as they are)")
            else:
                D[:, i] = e.draws[rng.integers(0, e.draws.size, n_draws)]
                origin.append(f"bootstrap draws ({e.draws.size}, resampled to {n_draws})")
        else:
            D[:, i] = rng.normal(e.estimate, e.se, n_draws) if e.se > 0 else e.estimate
            origin.append("normal(estimate, se)" if e.se > 0 else "point estimate (se = 0)")
            if e.se == 0:
                warnings.append(f"Measure {m!r} has no standard error: its benefits carry no "
                                "uncertainty.")
    effects_used = pd.DataFrame({
        "measure": measures, "estimate": est, "se": [eff[m].se for m in measures],
        "source": [eff[m].origin for m in measures], "draws": origin})

    # ---- aggregate by (value type, cashable) x partner x year
    partners_out = sorted(set(bm["partner"]))
    p_idx = {p: i for i, p in enumerate(partners_out)}
    r_p = np.array([p_idx[p] for p in bm["partner"]])
    cs = bm["cashable_share"].to_numpy(dtype=float)
    vts_present = [v for v in VALUE_TYPES if v in set(bm["value_type"])]
    Dr = D[:, r_m]                                       # (draws, R)
    point_r = est[r_m][:, None] * coef                   # (R, T)
    draws_store: dict[tuple[str, bool], np.ndarray] = {}
    point_store: dict[tuple[str, bool], np.ndarray] = {}
    for vt in vts_present:
        sel = (bm["value_type"] == vt).to_numpy()
        for cash in (True, False):
            share = cs if cash else (1.0 - cs)
            W = np.zeros((len(bm), len(partners_out)))
            W[np.flatnonzero(sel), r_p[sel]] = share[sel]
            # (draws, R) @ (R, P*T): one matrix product for every partner and year
            K = (W[:, :, None] * coef[:, None, :]).reshape(len(bm), -1)
            draws_store[(vt, cash)] = (Dr @ K).reshape(n_draws, len(partners_out), h)
            point_store[(vt, cash)] = np.einsum("rt,rp->pt", point_r, W)

    labels = _financial_year_labels(first_year, h)
    lo_q, hi_q = alpha / 2, 1 - alpha / 2
    rows = []
    for (vt, cash), arr in draws_store.items():
        flat = np.ascontiguousarray(arr.reshape(n_draws, -1).T)   # draws last: fast
        q = np.quantile(flat, [lo_q, hi_q], axis=1).reshape(2, *arr.shape[1:])  # (2, P, T)
        pt = point_store[(vt, cash)]
        for p in partners_out:
            pi = p_idx[p]
            if not ((bm["partner"] == p) & (bm["value_type"] == vt)).any():
                continue
            for yr in range(h):
                rows.append({"partner": p, "year": yr, "financial_year": labels[yr],
                             "value_type": vt, "cashable": cash, "mean": pt[pi, yr],
                             "lower": q[0, pi, yr], "upper": q[1, pi, yr]})
    table = pd.DataFrame(rows, columns=["partner", "year", "financial_year", "value_type",
                                        "cashable", "mean", "lower", "upper"])

    # ---- detail by map row, with the adjustment stages at the point estimate
    det = []
    stage_names = ["gross", *ADJUSTMENT_ORDER]
    for r, row in enumerate(bm.to_dict("records")):
        for yr in range(h):
            rec = {"measure": row["measure"], "item": row["item"], "partner": row["partner"],
                   "value_type": row["value_type"], "cashable_share": row["cashable_share"],
                   "direction": row["direction"], "schedule": row["schedule"],
                   "year": yr, "financial_year": labels[yr],
                   "effect": est[r_m[r]], "value_per_unit": row["value_per_unit"],
                   "people_benefiting": stage_w[0][yr]}
            for k, sname in enumerate(stage_names):
                rec["gross" if k == 0 else f"after_{sname}"] = (
                    est[r_m[r]] * per_person[r] * stage_w[k][yr])
            rec["benefit"] = point_r[r, yr]
            det.append(rec)
    detail = pd.DataFrame(det)

    return BenefitsResult(
        table=table, detail=detail, effects_used=effects_used,
        unit_costs_used=ucu.drop(columns="_uc_row"), benefit_map=bm.drop(columns="_uc_row"),
        adjustments=adjustments, price_year=target, horizon=h, first_year=labels[0],
        partners=partners_out, value_types=vts_present, n_draws=n_draws, seed=seed,
        alpha=alpha, periods_per_year=periods, benefit_years=benefit_years,
        treated_per_year=n, _draws=draws_store, warnings=warnings)


# --------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------


@dataclass(repr=False)
class BenefitDraws:
    """Monte Carlo draws of benefits for one value type, labelled.

    Attributes
    ----------
    values : ndarray, shape (n_draws, n_partners, n_years)
        Benefit in real pounds of ``price_year``; ``values[d, p, t]`` is draw
        *d* for partner ``partners[p]`` in programme year ``years[t]``.
    partners : list of str
    years : list of int
        Programme years (0 = first).
    financial_years : list of str or None
    value_type : str
    cashable : bool or None
        ``True``: cashable part only; ``False``: non-cashable only; ``None``: both.
    """

    values: np.ndarray
    partners: list[str]
    years: list[int]
    financial_years: list[str | None]
    value_type: str
    cashable: bool | None
    price_year: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.values.shape)  # type: ignore[return-value]

    def partner(self, name: str) -> np.ndarray:
        """Draws for one partner, shape (n_draws, n_years)."""
        if name not in self.partners:
            raise InputError(f"No partner {name!r}; the partners are {', '.join(self.partners)}.")
        return self.values[:, self.partners.index(name), :]

    def total(self) -> np.ndarray:
        """Each draw's total over partners and years, shape (n_draws,)."""
        return self.values.sum(axis=(1, 2))

    def to_frame(self) -> pd.DataFrame:
        """Long table: draw, partner, year, financial_year, value."""
        d, p, t = self.values.shape
        return pd.DataFrame({
            "draw": np.repeat(np.arange(d), p * t),
            "partner": np.tile(np.repeat(self.partners, t), d),
            "year": np.tile(self.years, d * p),
            "financial_year": np.tile(np.asarray(self.financial_years, dtype=object), d * p),
            "value": self.values.ravel(),
        })

    def __repr__(self) -> str:
        c = {True: "cashable", False: "non-cashable", None: "all"}[self.cashable]
        return (f"<BenefitDraws {self.value_type} ({c}), {self.price_year} prices: "
                f"{self.shape[0]} draws x {self.shape[1]} partners x {self.shape[2]} years>")


@dataclass(repr=False)
class BenefitsResult:
    """Benefits by partner and year, with uncertainty; from :func:`benefits_by_partner`.

    Attributes
    ----------
    table : DataFrame
        Tidy: ``partner, year, financial_year, value_type, cashable`` (bool),
        ``mean`` (at the point estimate), ``lower``, ``upper`` (percentile
        limits of the draws), real pounds of ``price_year``, after adjustments.
    detail : DataFrame
        One row per benefit-map row and year, with each adjustment stage.
    effects_used, unit_costs_used, benefit_map : DataFrame
        What went in: the effects and how they were drawn, the unit costs
        with their uprating, the resolved benefit map.
    adjustments : Adjustments
    """

    table: pd.DataFrame
    detail: pd.DataFrame
    effects_used: pd.DataFrame
    unit_costs_used: pd.DataFrame
    benefit_map: pd.DataFrame
    adjustments: Adjustments
    price_year: str
    horizon: int
    first_year: str | None
    partners: list[str]
    value_types: list[str]
    n_draws: int
    seed: int | None
    alpha: float
    periods_per_year: float
    benefit_years: int
    treated_per_year: np.ndarray
    _draws: dict[tuple[str, bool], np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def years(self) -> list[int]:
        return list(range(self.horizon))

    def draws(self, value_type: str = "fiscal", cashable: bool | None = None) -> BenefitDraws:
        """Draws for one value type: shape ``(n_draws, n_partners, n_years)``.

        Value types are never added: ask for each separately.
        ``cashable=None`` adds the cashable and non-cashable parts of the same
        value type; ``True``/``False`` gives one part.
        """
        vts = _value_types(value_type)
        if len(vts) != 1:
            raise InputError("draws() takes one value type; fiscal, economic and social "
                             "draws are kept apart.")
        vt = vts[0]
        shape = (self.n_draws, len(self.partners), self.horizon)
        if (vt, True) not in self._draws:
            arr = np.zeros(shape)
        elif cashable is None:
            arr = self._draws[(vt, True)] + self._draws[(vt, False)]
        else:
            arr = self._draws[(vt, bool(cashable))].copy()
        return BenefitDraws(values=arr, partners=list(self.partners), years=self.years,
                            financial_years=_financial_year_labels(self.first_year,
                                                                   self.horizon),
                            value_type=vt, cashable=cashable, price_year=self.price_year)

    def total(self, value_type: str = "fiscal", partner: str | None = None,
              cashable: bool | None = None) -> float:
        """Undiscounted total benefit (at the point estimate) of one value type."""
        vt = _value_types(value_type)
        if len(vt) != 1:
            raise InputError("total() takes one value type; they are never added silently.")
        f = self.table[self.table["value_type"] == vt[0]]
        if partner is not None:
            if partner not in self.partners:
                raise InputError(f"No partner {partner!r}; the partners are "
                                 f"{', '.join(self.partners)}.")
            f = f[f["partner"] == partner]
        if cashable is not None:
            f = f[f["cashable"] == bool(cashable)]
        return float(f["mean"].sum())

    def by_partner(self, value_type: str = "fiscal") -> pd.DataFrame:
        """Partner x year table of one value type (cashable + non-cashable)."""
        vt = _value_types(value_type)
        if len(vt) != 1:
            raise InputError("by_partner() takes one value type.")
        f = self.table[self.table["value_type"] == vt[0]]
        return f.pivot_table(index="partner", columns="year", values="mean", aggfunc="sum",
                             fill_value=0.0)

    def adjustment_steps(self, discount: str | float | None = None) -> pd.DataFrame:
        """Waterfall of the benefit adjustments at the point estimate.

        Columns ``value_type, order, step, change, after`` (undiscounted real
        pounds); with ``discount`` (``"standard"``, ``"health"`` or a flat
        rate) also ``change_pv`` and ``after_pv``, discounting each row by its
        year (rows marked ``health`` use the health schedule unless a flat
        rate is given).
        """
        from .money import discount_factors

        rows = []
        stages = ["gross"] + [f"after_{s}" for s in ADJUSTMENT_ORDER]
        det = self.detail
        if discount is not None:
            if isinstance(discount, str) and discount == "standard":
                dfac = np.where(det["schedule"].to_numpy() == "health",
                                discount_factors(det["year"], "health"),
                                discount_factors(det["year"], "standard"))
            else:
                dfac = discount_factors(det["year"], discount)
        for vt in self.value_types:
            sel = (det["value_type"] == vt).to_numpy()
            f = det[sel]
            prev = prev_pv = None
            for k, s in enumerate(stages):
                val = float(f[s].sum())
                rec = {"value_type": vt, "order": k,
                       "step": "gross benefits" if k == 0 else
                       ADJUSTMENT_ORDER[k - 1].replace("_", "-"),
                       "change": 0.0 if prev is None else val - prev, "after": val}
                if discount is not None:
                    pv = float((f[s].to_numpy() * dfac[sel]).sum())
                    rec["change_pv"] = 0.0 if prev_pv is None else pv - prev_pv
                    rec["after_pv"] = pv
                    prev_pv = pv
                rows.append(rec)
                prev = val
        return pd.DataFrame(rows)

    def for_appraisal(self) -> pd.DataFrame:
        """Benefits as rows for :func:`evalkit.money.appraise` (already adjusted)."""
        f = self.table
        sched = (self.benefit_map.groupby(["partner", "value_type"])["schedule"]
                 .agg(lambda s: "health" if (s == "health").all() else "standard"))
        mixed = (self.benefit_map.groupby(["partner", "value_type"])["schedule"].nunique() > 1)
        if mixed.any():
            raise InputError("A partner has both standard- and health-discounted benefits of "
                             "the same value type; give them different value types or "
                             "appraise them separately.")
        return pd.DataFrame({
            "year": f["year"].to_numpy(), "partner": f["partner"].to_numpy(),
            "value_type": f["value_type"].to_numpy(),
            "cashable_share": np.where(f["cashable"].to_numpy(dtype=bool), 1.0, 0.0),
            "value": f["mean"].to_numpy(),
            "schedule": [sched[(p, v)] for p, v in zip(f["partner"], f["value_type"])],
        })

    def to_frame(self, kind: str = "table") -> pd.DataFrame:
        """``table`` (tidy, default), ``detail``, ``effects``, ``unit_costs``, ``map``,
        ``steps`` or ``adjustments``."""
        kinds = {"table": lambda: self.table.copy(), "detail": lambda: self.detail.copy(),
                 "effects": lambda: self.effects_used.copy(),
                 "unit_costs": lambda: self.unit_costs_used.copy(),
                 "map": lambda: self.benefit_map.copy(), "steps": self.adjustment_steps,
                 "adjustments": self.adjustments.to_frame}
        if kind not in kinds:
            raise InputError(f"kind must be one of {', '.join(kinds)}; got {kind!r}.")
        return kinds[kind]()

    def summary(self) -> Summary:
        """Totals by partner and value type, with intervals and what went in."""
        from .plotting import format_gbp

        lvl = f"{100 * (1 - self.alpha):g}%"
        rows = []
        for vt in self.value_types:
            arr_all = self.draws(vt).values
            for p in self.partners:
                if not ((self.benefit_map["partner"] == p)
                        & (self.benefit_map["value_type"] == vt)).any():
                    continue
                pi = self.partners.index(p)
                tot = arr_all[:, pi, :].sum(axis=1)
                lo, hi = np.quantile(tot, [self.alpha / 2, 1 - self.alpha / 2])
                rows.append({"partner": p, "value_type": vt,
                             "total": self.total(vt, p),
                             "cashable": self.total(vt, p, cashable=True),
                             f"{lvl} lower": lo, f"{lvl} upper": hi,
                             "P(benefit > 0)": float((tot > 0).mean())})
        tab = pd.DataFrame(rows).set_index(["partner", "value_type"])
        header = [("Price base", f"real {self.price_year} prices"),
                  ("Years", f"{self.horizon}" + (f" from {self.first_year}"
                                                 if self.first_year else "")),
                  ("People treated", f"{self.treated_per_year.sum():,.0f}"),
                  ("Benefit lasts", f"{self.benefit_years} year(s) per cohort"),
                  ("Draws", f"{self.n_draws:,} (seed {self.seed})"),
                  ("Partners", f"{len(self.partners)}")]
        for vt in self.value_types:
            header.append((f"Total {vt}", format_gbp(self.total(vt))))
        eff = self.effects_used.set_index("measure")
        adj = self.adjustments.to_frame().set_index("adjustment")[["value", "basis"]]
        notes = [
            "Benefits are undiscounted real pounds; a reduction in events is a positive benefit "
            "(direction 'reduction'). Value types are reported separately, never added.",
            f"Intervals are {lvl} percentile intervals of the Monte Carlo draws of the effects.",
        ] + [f"Warning: {w}" for w in self.warnings]
        return Summary("Benefits by partner", header,
                       [("Totals over all years (£)", tab), ("Effects used", eff),
                        ("Adjustments", adj)], notes)

    def __repr__(self) -> str:
        tots = ", ".join(f"{vt} £{self.total(vt):,.0f}" for vt in self.value_types)
        return (f"<BenefitsResult {self.price_year} prices, {self.horizon} years, "
                f"{len(self.partners)} partners: {tots}>")

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def plot(self, ax: Axes | None = None, value_type: str = "fiscal") -> Axes:
        """Stacked bars of one value type's benefits by year, one colour per partner,
        with the total's interval as error bars."""
        from .plotting import gbp_formatter, get_axes, palette

        vt = _value_types(value_type)[0]
        ax = get_axes(ax, figsize=(max(6.0, 0.8 * self.horizon + 3), 4.5))
        pivot = self.by_partner(vt) if vt in self.value_types else pd.DataFrame()
        x = np.arange(self.horizon)
        labels = _financial_year_labels(self.first_year, self.horizon)
        bottom = np.zeros(self.horizon)
        for p, col in zip(pivot.index, palette(len(pivot))):
            v = pivot.loc[p].reindex(x, fill_value=0.0).to_numpy()
            ax.bar(x, v, bottom=bottom, color=col, label=p, width=0.65)
            bottom = bottom + v
        if vt in self.value_types:
            tot = self.draws(vt).values.sum(axis=1)
            lo, hi = np.quantile(tot, [self.alpha / 2, 1 - self.alpha / 2], axis=0)
            ax.errorbar(x, bottom, yerr=[np.maximum(bottom - lo, 0), np.maximum(hi - bottom, 0)],
                        fmt="none", ecolor="black", capsize=3, lw=1,
                        label=f"{100 * (1 - self.alpha):g}% interval (total)")
        ax.set_xticks(x, [lab or str(i) for i, lab in zip(x, labels)])
        ax.yaxis.set_major_formatter(gbp_formatter())
        ax.set_xlabel("Programme year" if labels[0] is None else "Financial year")
        ax.set_ylabel(f"Benefit (£, {self.price_year} prices)")
        ax.set_title(f"{vt.capitalize()} benefits by partner and year")
        ax.legend(frameon=False, fontsize=8)
        return ax

    def to_excel(self, path: str | Path) -> Path:
        """Workbook: Benefits (tidy), By partner, Detail, Effects, Unit costs, Adjustments."""
        sheets = [("Benefits", self.table), ("Detail", self.detail),
                  ("Effects", self.effects_used), ("Unit costs", self.unit_costs_used),
                  ("Benefit map", self.benefit_map),
                  ("Adjustments", self.adjustments.to_frame()),
                  ("Adjustment steps", self.adjustment_steps())]
        for vt in self.value_types:
            sheets.insert(1, (f"By partner ({vt})", self.by_partner(vt).reset_index()))
        return write_workbook(path, sheets)
