"""Money: sourced unit costs, uprating, Green Book discounting and appraisal.

This module follows HM Treasury's *Green Book* (2022 edition, Annex A6 on
discounting) and the GMCA / New Economy cost-benefit analysis method adopted
as Green Book supplementary guidance in *Supporting public service
transformation: cost benefit analysis guidance for local partnerships*
(HM Treasury, Public Service Transformation Network and New Economy, April
2014). It takes plain DataFrames, numbers and result objects; it never needs
a ``Place``.

What is here
------------
Unit costs
    :func:`load_unit_costs` (the shipped, sourced table in evalkit's
    ``unit_costs`` schema), :func:`load_raw_unit_costs` (the CSV as
    published), :func:`convert_unit_costs` (the documented conversion),
    :func:`validate_unit_costs` and :func:`merge_unit_costs` (your rows replace
    shipped rows with the same item).
Uprating
    :func:`load_deflators`, :func:`normalise_price_year`,
    :func:`uprating_factor`, :func:`uprate`, :func:`uprate_unit_costs`:
    ``cost x index[target year] / index[price year]`` with the HM Treasury GDP
    deflator.
Discounting
    :func:`load_discount_schedule`, :func:`discount_rates`,
    :func:`discount_factors`, :func:`present_value`: the Green Book declining
    schedule, applied cumulatively (the factor for year *t* is the product of
    ``1 / (1 + r_k)`` over years ``k = 1..t``), the health schedule for
    QALY/wellbeing values, or a flat rate for sensitivity tests.
Adjustments
    :class:`Adjustments`: optimism bias (on costs and/or benefits, as a
    percentage or by confidence grade), deadweight, attribution, drop-off and
    ramp-up, applied in the documented order :data:`ADJUSTMENT_ORDER`.
Appraisal
    :func:`appraise` returns an :class:`Appraisal`: present values, NPV, BCR,
    ROI and payback year, by partner and in total, with fiscal, economic and
    social value kept apart (never added unless you ask), cashable and
    non-cashable benefits separated, in real prices of a stated price year.

Sign conventions
----------------
Costs and benefits are positive amounts of money in real pounds of the
stated price year. A benefit is a saving or a gain (a reduction in A&E
attendances is a positive benefit; :mod:`evalkit.benefits` turns effect
estimates into benefits with that sign). Year 0 is the first year of the
appraisal and is not discounted.

Examples
--------
>>> from evalkit.money import appraise, discount_factors
>>> round(float(discount_factors([40])[0]), 6)  # crosses the 30-year kink
0.265105
>>> a = appraise(costs=[100_000, 100_000],
...              benefits=pd.DataFrame({"year": [0, 1], "partner": ["NHS", "NHS"],
...                                     "value": [60_000, 90_000]}),
...              price_year="2024-25")
>>> round(a.npv("fiscal"), 2)  # 60,000 + 90,000/1.035 - (100,000 + 100,000/1.035)
-49661.84
>>> round(a.bcr("fiscal"), 4)
0.7474
"""

from __future__ import annotations

import difflib
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import InputError, Problem, ValidationError
from .evaluate.result import Summary
from .schema import VALUE_TYPES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    # unit costs
    "DEFAULT_CASHABLE_SHARES",
    "CONTEXT_ONLY_ITEMS",
    "UNIT_COST_COLUMNS",
    "load_raw_unit_costs",
    "load_unit_costs",
    "convert_unit_costs",
    "validate_unit_costs",
    "merge_unit_costs",
    # uprating
    "load_deflators",
    "normalise_price_year",
    "uprating_factor",
    "uprate",
    "uprate_unit_costs",
    # discounting
    "load_discount_schedule",
    "discount_rates",
    "discount_factors",
    "present_value",
    # adjustments and appraisal
    "ADJUSTMENT_ORDER",
    "load_optimism_bias_grades",
    "Adjustments",
    "appraise",
    "Appraisal",
]

# --------------------------------------------------------------------------
# constants and sources
# --------------------------------------------------------------------------

GREEN_BOOK = (
    "HM Treasury (2022), The Green Book: Central Government Guidance on Appraisal and "
    "Evaluation, Annex A6 (discounting, with its table of long-term discount rates)"
)
GMCA_CBA = (
    "HM Treasury, Public Service Transformation Network and New Economy (2014), "
    "Supporting public service transformation: cost benefit analysis guidance for local "
    "partnerships (the GMCA CBA method)"
)
DEFLATOR_SOURCE = (
    "HM Treasury, GDP deflators at market prices, and money GDP, March 2026 (Quarterly "
    "National Accounts), ONS series L8GG, financial years, 2024-25 = 100"
)

#: Default cashable share for each ``cashable`` class of the shipped table.
#: ``yes`` = cash that stops being paid out (benefit payments, spot-purchased
#: placements, bed and breakfast, legal aid) -> 1.0; ``no`` = staff time and
#: overheads, released only as capacity -> 0.0; ``partly`` = activity-priced
#: or placement costs released only if activity payments fall or capacity
#: closes -> 0.5, a neutral midpoint convention (not evidence): override it
#: with local knowledge via ``cashable_shares={"partly": ...}``.
DEFAULT_CASHABLE_SHARES: dict[str, float] = {"yes": 1.0, "partly": 0.5, "no": 0.0}

#: Composite multi-agency rows of the shipped table: gross before/after spend
#: estimates, not unit costs. Kept for context only; they cannot price a
#: benefit (see ``reference/SOURCES.md``).
CONTEXT_ONLY_ITEMS: tuple[str, ...] = (
    "Public service use by a Fulfilling Lives beneficiary at entry (average)",
    "Reactive public spend on a troubled family in year before programme (average, 7 LAs)",
    "Spend on a troubled family, West Cheshire estimate",
)

#: Shipped rows whose figure mixes value types; tagged with the wider type so
#: that they are never added to fiscal savings silently.
_MIXED_VALUE_TYPE_ITEMS: dict[str, str] = {
    "Permanent exclusion from school (fiscal and economic)": "economic",
}

#: Columns of evalkit's ``unit_costs`` table (see :mod:`evalkit.schema`).
UNIT_COST_COLUMNS: tuple[str, ...] = (
    "item", "unit", "cost_gbp", "price_year", "partner", "cashable_share", "source",
    "value_type", "event_type", "organisation", "service",
)
_REQUIRED_UNIT_COST_COLUMNS = ("item", "unit", "cost_gbp", "price_year", "partner",
                               "cashable_share", "source")

#: The order in which benefit adjustments are applied (then discounting).
#: All are multiplicative, so the order never changes the net total; it fixes
#: how much of the reduction is credited to each step in the waterfall.
ADJUSTMENT_ORDER: tuple[str, ...] = (
    "deadweight", "attribution", "drop_off", "ramp_up", "optimism_bias",
)

_REF = Path(__file__).with_name("reference")


def _ref(name: str) -> Path:
    return _REF / name


# --------------------------------------------------------------------------
# price years and deflators
# --------------------------------------------------------------------------

_FY = re.compile(r"^\s*(?:fy\s*)?(\d{4})\s*[-/\u2013\u2014_]\s*(\d{2}|\d{4})\s*$", re.I)


def normalise_price_year(value: Any, *, item: str | None = None) -> str | None:
    """Return a financial year as ``YYYY-YY``, or ``None`` if not stated.

    Accepts ``2009-10``, ``2009/10``, ``2009/2010``, ``FY2009-10``. Empty
    cells and text starting "not stated" give ``None`` (the price year is
    unknown). Anything else (a calendar year such as ``2015``) is an error:
    a financial year is needed to uprate with the Treasury deflator.

    Examples
    --------
    >>> normalise_price_year("2006/07")
    '2006-07'
    >>> normalise_price_year("1999/2000")
    '1999-00'
    >>> normalise_price_year("not stated (2015 report)") is None
    True
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if text == "" or text.lower().startswith("not stated") or text.lower() in {"nan", "none"}:
        return None
    m = _FY.match(text)
    if m:
        start = int(m.group(1))
        end = m.group(2)
        end_int = int(end) if len(end) == 4 else (start // 100) * 100 + int(end)
        if len(end) == 2 and end_int < start:
            end_int += 100
        if end_int == start + 1:
            return f"{start}-{str(end_int)[-2:]}"
    where = f" for item {item!r}" if item else ""
    raise InputError(
        f"Price year {value!r}{where} is not a financial year. Write it as YYYY-YY, "
        "e.g. 2009-10 (2009/10 is accepted); a calendar year such as 2015 is ambiguous."
    )


@lru_cache(maxsize=1)
def _shipped_deflators() -> pd.Series:
    df = pd.read_csv(_ref("gdp_deflators.csv"), dtype={"financial_year": str})
    s = pd.Series(df["gdp_deflator_index"].to_numpy(dtype=float),
                  index=pd.Index(df["financial_year"].astype(str), name="financial_year"),
                  name="gdp_deflator_index")
    return s


def load_deflators() -> pd.Series:
    """HM Treasury GDP deflator index by financial year (2024-25 = 100).

    Returns
    -------
    Series
        Indexed by financial year (``"2000-01"`` ... ``"2024-25"``). ``attrs``
        holds the source, base and status (outturn years only; the release
        prints only percentage changes for forecast years).

    Examples
    --------
    >>> d = load_deflators()
    >>> d.index[0], d.index[-1], float(d["2024-25"])
    ('2000-01', '2024-25', 100.0)
    """
    s = _shipped_deflators().copy()
    s.attrs.update(source=DEFLATOR_SOURCE, base="2024-25 = 100", status="outturn")
    return s


def _coerce_deflators(deflators: Any) -> pd.Series:
    if deflators is None:
        return _shipped_deflators()
    if isinstance(deflators, pd.DataFrame):
        cols = {c.lower(): c for c in deflators.columns}
        year_col = cols.get("financial_year") or cols.get("year")
        idx_col = cols.get("gdp_deflator_index") or cols.get("index") or cols.get("deflator")
        if year_col is None or idx_col is None:
            raise InputError(
                "deflators: a DataFrame needs columns 'financial_year' and "
                f"'gdp_deflator_index'; it has {list(deflators.columns)}."
            )
        deflators = pd.Series(deflators[idx_col].to_numpy(), index=deflators[year_col])
    elif isinstance(deflators, Mapping):
        deflators = pd.Series(dict(deflators))
    if not isinstance(deflators, pd.Series):
        raise InputError("deflators: give a Series or DataFrame of index values by financial "
                         "year (or leave it out to use the shipped HM Treasury series).")
    idx = [normalise_price_year(y) for y in deflators.index]
    if any(y is None for y in idx):
        raise InputError("deflators: every financial year must be stated (YYYY-YY).")
    vals = pd.to_numeric(pd.Series(deflators.to_numpy()), errors="coerce").to_numpy(dtype=float)
    if np.any(~np.isfinite(vals)) or np.any(vals <= 0):
        raise InputError("deflators: every index value must be a positive number.")
    return pd.Series(vals, index=pd.Index(idx, name="financial_year"), name="gdp_deflator_index")


def uprating_factor(from_year: Any, to_year: Any, *, deflators: Any = None,
                    item: str | None = None) -> float:
    """``index[to_year] / index[from_year]`` with the GDP deflator.

    Parameters
    ----------
    from_year, to_year : str
        Financial years (``2009-10`` or ``2009/10``).
    deflators : Series, DataFrame or mapping, optional
        Index values by financial year; the shipped HM Treasury series by
        default. Pass a longer series (e.g. with forecast years) to uprate
        beyond 2024-25.
    item : str, optional
        The unit-cost item being uprated, named in any error.

    Raises
    ------
    InputError
        If either year is not stated or lies outside the deflator series.

    Examples
    --------
    >>> round(uprating_factor("2009-10", "2024-25"), 6)
    1.477013
    """
    d = _coerce_deflators(deflators)
    what = f"unit cost {item!r}" if item else "the amount"
    fy = normalise_price_year(from_year, item=item)
    ty = normalise_price_year(to_year)
    if fy is None:
        raise InputError(
            f"Cannot uprate {what}: its price year is not stated. Supply the price year "
            "it is priced in (e.g. price_years={item: '2015-16'}) or leave it out."
        )
    if ty is None:
        raise InputError("Cannot uprate: the target price year is not stated; give one "
                         "such as '2024-25'.")
    span = f"{d.index[0]} to {d.index[-1]}"
    if fy not in d.index:
        raise InputError(
            f"Cannot uprate {what}: its price year {fy} is outside the GDP deflator "
            f"series ({span}). Check the price year, or pass deflators= with a series "
            "that covers it."
        )
    if ty not in d.index:
        raise InputError(
            f"Cannot uprate {what} to {ty}: that price year is outside the GDP deflator "
            f"series ({span}). Choose a target price year inside it, or pass deflators= "
            "with a series that covers it (e.g. with OBR forecast years)."
        )
    return float(d[ty] / d[fy])


def uprate(amount: Any, from_year: Any, to_year: Any, *, deflators: Any = None,
           item: str | None = None) -> Any:
    """Uprate an amount (or array) from one price year to another.

    ``amount x index[to_year] / index[from_year]``.

    Examples
    --------
    >>> round(uprate(362, "2009-10", "2024-25"), 2)  # CSC initial assessment, UCD SS6.3
    534.68
    """
    f = uprating_factor(from_year, to_year, deflators=deflators, item=item)
    if np.isscalar(amount):
        return float(amount) * f
    return np.asarray(amount, dtype=float) * f


# --------------------------------------------------------------------------
# unit costs
# --------------------------------------------------------------------------


def load_raw_unit_costs() -> pd.DataFrame:
    """The shipped unit-cost CSV exactly as published.

    Columns: ``item, unit, cost_gbp, price_year`` (``2006/07`` or a "not
    stated" note), ``agency_bearing_cost``, ``cashable`` (yes/partly/no, an
    analyst's classification, not a field of the source) and ``source``.
    """
    return pd.read_csv(_ref("unit_costs_gmca_ucd.csv"), dtype=str, keep_default_na=False)


def convert_unit_costs(raw: pd.DataFrame,
                       cashable_shares: Mapping[str, float] | None = None,
                       partner_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Convert a table in the shipped CSV's columns to evalkit's ``unit_costs`` schema.

    The documented conversion:

    * ``cashable`` yes/partly/no -> ``cashable_share`` by
      :data:`DEFAULT_CASHABLE_SHARES` (1.0 / 0.5 / 0.0), overridable with
      ``cashable_shares``; the class itself is kept in column ``cashable``.
    * ``agency_bearing_cost`` -> ``partner`` (renamed through ``partner_map``
      when given, e.g. ``{"NHS (CCG/ICB commissioner)": "Anytown ICB"}``);
      ``multi_agency`` flags agencies joined by ";".
    * ``price_year`` ``2006/07`` -> ``2006-07``. "not stated" rows are kept
      with ``price_year`` empty, ``price_year_stated = False`` and the
      original note in ``price_year_note``: uprating them is an error unless
      you supply a price year.
    * Composite multi-agency rows (:data:`CONTEXT_ONLY_ITEMS`) are kept with
      ``context_only = True``: they are gross spend estimates, not unit costs,
      and cannot price a benefit.
    * ``value_type`` is ``fiscal`` (public-budget costs), except rows whose
      figure mixes fiscal and economic cost, tagged ``economic``.

    Examples
    --------
    >>> uc = convert_unit_costs(load_raw_unit_costs(), cashable_shares={"partly": 0.25})
    >>> row = uc.set_index("item").loc["A&E attendance (all types)"]
    >>> row["price_year"], row["cashable"], float(row["cashable_share"])
    ('2011-12', 'partly', 0.25)
    """
    need = {"item", "unit", "cost_gbp", "price_year", "agency_bearing_cost", "cashable",
            "source"}
    missing = need - set(raw.columns)
    if missing:
        raise InputError(
            f"convert_unit_costs: the table lacks column(s) {sorted(missing)}; it must have "
            f"the shipped CSV's columns {sorted(need)}."
        )
    shares = dict(DEFAULT_CASHABLE_SHARES)
    if cashable_shares:
        for k, v in cashable_shares.items():
            key = str(k).strip().lower()
            if key not in shares:
                raise InputError(f"cashable_shares: unknown class {k!r}; the classes are "
                                 "yes, partly and no.")
            v = float(v)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"cashable_shares[{k!r}] = {v:g} must be between 0 and 1.")
            shares[key] = v
    pmap = dict(partner_map or {})
    rows = []
    problems: list[Problem] = []
    for i, r in enumerate(raw.to_dict("records")):
        item = str(r["item"]).strip()
        cls = str(r["cashable"]).strip().lower()
        if cls not in shares:
            problems.append(Problem("unit_costs", None, i + 2, "cashable", r["cashable"],
                                    "must be yes, partly or no"))
            continue
        try:
            py = normalise_price_year(r["price_year"], item=item)
        except InputError as e:
            problems.append(Problem("unit_costs", None, i + 2, "price_year", r["price_year"],
                                    str(e)))
            continue
        try:
            cost = float(r["cost_gbp"])
        except (TypeError, ValueError):
            problems.append(Problem("unit_costs", None, i + 2, "cost_gbp", r["cost_gbp"],
                                    "must be a number"))
            continue
        agency = str(r["agency_bearing_cost"]).strip()
        rows.append({
            "item": item,
            "unit": str(r["unit"]).strip(),
            "cost_gbp": cost,
            "price_year": py,
            "partner": pmap.get(agency, agency),
            "cashable_share": shares[cls],
            "source": str(r["source"]).strip(),
            "value_type": _MIXED_VALUE_TYPE_ITEMS.get(item, "fiscal"),
            "event_type": None,
            "organisation": None,
            "service": None,
            "cashable": cls,
            "agency_bearing_cost": agency,
            "multi_agency": ";" in agency,
            "price_year_stated": py is not None,
            "price_year_note": None if py is not None else str(r["price_year"]).strip(),
            "context_only": item in CONTEXT_ONLY_ITEMS,
            "origin": "shipped",
        })
    if problems:
        raise ValidationError(problems)
    out = pd.DataFrame(rows)
    out.attrs["cashable_shares"] = shares
    return out


def load_unit_costs(*, cashable_shares: Mapping[str, float] | None = None,
                    partner_map: Mapping[str, str] | None = None,
                    include_context_only: bool = True) -> pd.DataFrame:
    """The shipped, sourced unit costs in evalkit's ``unit_costs`` schema.

    About 100 published UK public-service unit costs (mostly the GMCA / New
    Economy Unit Cost Database v1.4, March 2015), converted by
    :func:`convert_unit_costs`. Every row keeps its ``source``.

    Parameters
    ----------
    cashable_shares : mapping, optional
        Override :data:`DEFAULT_CASHABLE_SHARES`, e.g. ``{"partly": 0.3}``.
    partner_map : mapping, optional
        Rename agencies to your partners' names.
    include_context_only : bool, default True
        Keep the composite rows flagged ``context_only``.

    Examples
    --------
    >>> uc = load_unit_costs()
    >>> len(uc), int(uc["context_only"].sum()), int((~uc["price_year_stated"]).sum())
    (99, 3, 11)
    """
    out = convert_unit_costs(load_raw_unit_costs(), cashable_shares=cashable_shares,
                             partner_map=partner_map)
    if not include_context_only:
        out = out[~out["context_only"]].reset_index(drop=True)
    return out


def _item_key(item: Any) -> str:
    return " ".join(str(item).split()).casefold()


def validate_unit_costs(table: pd.DataFrame, *, name: str = "unit_costs",
                        file: str | None = None) -> pd.DataFrame:
    """Check a user's unit-cost table and return it normalised.

    Required columns: ``item, unit, cost_gbp, price_year, partner,
    cashable_share, source``; optional ``value_type`` (empty = fiscal),
    ``event_type``, ``organisation``, ``service``; other columns are kept.
    Price years are normalised to ``YYYY-YY``; "not stated" (or empty) is
    allowed but flagged (``price_year_stated = False``) so that uprating the
    row is an error.

    Raises
    ------
    ValidationError
        Listing every problem (spreadsheet row numbers: header = row 1).
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{name}: expected a DataFrame, got {type(table).__name__}.")
    missing = [c for c in _REQUIRED_UNIT_COST_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            f"{name}: missing column(s) {missing}. A unit-cost table needs "
            f"{list(_REQUIRED_UNIT_COST_COLUMNS)} (see evalkit.schema, table 'unit_costs')."
        )
    df = table.copy().reset_index(drop=True)
    problems: list[Problem] = []

    def bad(i: int, col: str, val: Any, msg: str) -> None:
        problems.append(Problem(name, file, i + 2, col, val, msg))

    items = df["item"].astype("string").str.strip()
    costs = pd.to_numeric(df["cost_gbp"], errors="coerce")
    shares = pd.to_numeric(df["cashable_share"], errors="coerce")
    seen: dict[str, int] = {}
    price_years: list[str | None] = []
    notes: list[str | None] = []
    for i in range(len(df)):
        it = items.iloc[i]
        if pd.isna(it) or it == "":
            bad(i, "item", None, "item must not be empty")
        else:
            k = _item_key(it)
            if k in seen:
                bad(i, "item", it, f"duplicate item (also on row {seen[k] + 2}); items must "
                    "be unique")
            seen[k] = i
        c = costs.iloc[i]
        if pd.isna(c):
            bad(i, "cost_gbp", df["cost_gbp"].iloc[i], "cost_gbp must be a number")
        elif c < 0:
            bad(i, "cost_gbp", c, "cost_gbp must not be negative")
        s = shares.iloc[i]
        if pd.isna(s):
            bad(i, "cashable_share", df["cashable_share"].iloc[i],
                "cashable_share must be a number between 0 and 1")
        elif s < 0:
            bad(i, "cashable_share", s, "cashable_share is negative; it must be between 0 "
                "(nothing cashable) and 1 (all cash released)")
        elif s > 1:
            bad(i, "cashable_share", s, "cashable_share must be at most 1")
        raw_py = df["price_year"].iloc[i]
        try:
            py = normalise_price_year(raw_py, item=None if pd.isna(it) else str(it))
        except InputError as e:
            bad(i, "price_year", raw_py, str(e))
            py = None
        price_years.append(py)
        notes.append(None if py is not None else (None if pd.isna(raw_py) else str(raw_py)))
        if "value_type" in df.columns:
            vt = df["value_type"].iloc[i]
            if not (vt is None or pd.isna(vt) or str(vt).strip() == ""):
                if str(vt).strip().lower() not in VALUE_TYPES:
                    bad(i, "value_type", vt, f"value_type must be one of {', '.join(VALUE_TYPES)}")
    if problems:
        raise ValidationError(problems)
    df["item"] = items.astype(object)
    df["cost_gbp"] = costs.astype(float)
    df["cashable_share"] = shares.astype(float)
    df["price_year"] = pd.Series(price_years, dtype=object)
    df["price_year_stated"] = df["price_year"].notna()
    if "price_year_note" not in df.columns:
        df["price_year_note"] = pd.Series(notes, dtype=object)
    if "value_type" not in df.columns:
        df["value_type"] = "fiscal"
    df["value_type"] = [
        "fiscal" if (v is None or pd.isna(v) or str(v).strip() == "") else str(v).strip().lower()
        for v in df["value_type"]
    ]
    for col in ("event_type", "organisation", "service"):
        if col not in df.columns:
            df[col] = None
    if "context_only" not in df.columns:
        df["context_only"] = False
    df["context_only"] = df["context_only"].fillna(False).astype(bool)
    return df


def merge_unit_costs(user: pd.DataFrame, base: pd.DataFrame | None = None, *,
                     name: str = "unit_costs") -> pd.DataFrame:
    """Merge your unit costs over the shipped ones: the same item replaces.

    Items match ignoring case and repeated spaces. The result has an
    ``origin`` column (``user`` or ``shipped``); ``attrs["replaced"]`` lists
    the shipped items your rows replaced and ``attrs["added"]`` the new ones.

    Parameters
    ----------
    user : DataFrame
        Your table in the ``unit_costs`` schema (checked by
        :func:`validate_unit_costs`).
    base : DataFrame, optional
        The table to merge over; :func:`load_unit_costs` by default.

    Examples
    --------
    >>> mine = pd.DataFrame({"item": ["A&E attendance (all types)"], "unit": ["per attendance"],
    ...     "cost_gbp": [250.0], "price_year": ["2023/24"], "partner": ["Anytown ICB"],
    ...     "cashable_share": [0.2], "source": ["Anytown ICB finance, 2023-24 SLR"]})
    >>> merged = merge_unit_costs(mine)
    >>> merged.attrs["replaced"], len(merged)
    (['A&E attendance (all types)'], 99)
    >>> merged.set_index("item").loc["A&E attendance (all types)", "origin"]
    'user'
    """
    u = validate_unit_costs(user, name=name)
    u["origin"] = "user"
    b = load_unit_costs() if base is None else validate_unit_costs(base, name="base unit costs")
    if "origin" not in b.columns:
        b["origin"] = "shipped"
    ukeys = {_item_key(x) for x in u["item"]}
    keep = ~b["item"].map(_item_key).isin(ukeys)
    replaced = [x for x in b.loc[~keep, "item"]]
    bkeys = {_item_key(x) for x in b["item"]}
    added = [x for x in u["item"] if _item_key(x) not in bkeys]
    out = pd.concat([b[keep], u], ignore_index=True, sort=False)
    out.attrs["replaced"] = replaced
    out.attrs["added"] = added
    return out


def uprate_unit_costs(table: pd.DataFrame, to_year: str, *,
                      price_years: Mapping[str, str] | None = None,
                      deflators: Any = None, unstated: str = "error") -> pd.DataFrame:
    """Uprate every cost in a unit-cost table to one price year.

    Returns a copy with ``cost_gbp`` in ``to_year`` prices and
    ``price_year = to_year``, keeping ``cost_gbp_original``,
    ``price_year_original`` and ``uprating_factor``.

    Parameters
    ----------
    table : DataFrame
        A ``unit_costs`` table (e.g. :func:`load_unit_costs`).
    to_year : str
        Target financial year, e.g. ``"2024-25"``.
    price_years : mapping, optional
        Price years you supply for rows whose price year is not stated
        (``{item: "2015-16"}``); they also override stated ones.
    deflators : optional
        See :func:`uprating_factor`.
    unstated : {"error", "skip"}
        What to do with rows whose price year is not stated and not supplied:
        ``"error"`` (default) raises naming the items; ``"skip"`` leaves their
        uprated cost empty (NaN) with ``uprating_factor`` NaN.

    Examples
    --------
    >>> up = uprate_unit_costs(load_unit_costs(), "2024-25", unstated="skip")
    >>> round(float(up.set_index("item").loc["Police arrest (detained)", "cost_gbp"]), 2)
    938.27
    """
    if unstated not in ("error", "skip"):
        raise InputError("unstated must be 'error' or 'skip'.")
    df = validate_unit_costs(table) if "price_year_stated" not in table.columns else table.copy()
    target = normalise_price_year(to_year)
    if target is None:
        raise InputError("to_year must be a financial year such as '2024-25'.")
    supplied = {_item_key(k): normalise_price_year(v, item=k)
                for k, v in (price_years or {}).items()}
    known = {_item_key(x) for x in df["item"]}
    unknown = [k for k in (price_years or {}) if _item_key(k) not in known]
    if unknown:
        raise InputError(f"price_years names item(s) not in the table: {unknown}.")
    factors = []
    pys = []
    missing_items = []
    for it, py, note in zip(df["item"], df["price_year"], df.get("price_year_note",
                                                               [None] * len(df))):
        py_use = supplied.get(_item_key(it), py if isinstance(py, str) else None)
        if py_use is None:
            missing_items.append((it, note))
            factors.append(np.nan)
            pys.append(None)
            continue
        factors.append(uprating_factor(py_use, target, deflators=deflators, item=it))
        pys.append(py_use)
    if missing_items and unstated == "error":
        listing = "; ".join(f"{it!r} ({note})" if note else repr(it) for it, note in
                            missing_items[:10])
        more = f" and {len(missing_items) - 10} more" if len(missing_items) > 10 else ""
        raise InputError(
            f"{len(missing_items)} unit cost(s) have no stated price year, so they cannot be "
            f"uprated: {listing}{more}. Supply price_years={{item: 'YYYY-YY'}} for them, "
            "remove them, or pass unstated='skip' to leave them un-uprated (NaN)."
        )
    out = df.copy()
    out["cost_gbp_original"] = df["cost_gbp"].astype(float)
    out["price_year_original"] = pd.Series(pys, index=df.index, dtype=object)
    out["uprating_factor"] = np.asarray(factors, dtype=float)
    out["cost_gbp"] = out["cost_gbp_original"] * out["uprating_factor"]
    out["price_year"] = [target if np.isfinite(f) else None for f in factors]
    return out


# --------------------------------------------------------------------------
# discounting
# --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _schedule_table() -> pd.DataFrame:
    df = pd.read_csv(_ref("discount_schedule.csv"))
    df["year_to"] = df["year_to"].fillna(np.inf)
    return df


@lru_cache(maxsize=1)
def _schedule_arrays() -> dict[str, np.ndarray]:
    tab = _schedule_table()
    return {"year_to": tab["year_to"].to_numpy(dtype=float),
            "standard": tab["standard"].to_numpy(dtype=float),
            "health": tab["health"].to_numpy(dtype=float)}


def load_discount_schedule() -> pd.DataFrame:
    """The Green Book declining long-term discount rates.

    Columns ``year_from, year_to`` (inclusive; the last band is open),
    ``standard`` (3.5% for years 0-30, 3.0% 31-75, 2.5% 76-125, 2.0%
    126-200, 1.5% 201-300, 1.0% beyond) and ``health`` (1.5% for years 0-30,
    then declining in proportion: the rate for health effects valued in
    QALYs or wellbeing, which excludes the wealth effect). Source: HM
    Treasury Green Book (2022) Annex A6 (long-term discount rates).
    """
    df = _schedule_table().copy()
    df.attrs["source"] = GREEN_BOOK
    return df


def _years_array(years: Any, name: str = "years") -> np.ndarray:
    arr = np.atleast_1d(np.asarray(years))
    if arr.size == 0:
        return arr.astype(int)
    try:
        f = arr.astype(float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be whole numbers of years from year 0.") from None
    if np.any(~np.isfinite(f)) or np.any(f != np.round(f)) or np.any(f < 0):
        raise InputError(f"{name} must be whole numbers >= 0 (year 0 is the first, "
                         f"undiscounted year); got {arr.tolist()[:10]}.")
    return f.astype(int)


def _check_schedule(schedule: Any) -> str | float:
    if isinstance(schedule, str):
        key = schedule.strip().lower()
        aliases = {"standard": "standard", "green_book": "standard", "greenbook": "standard",
                   "stpr": "standard", "health": "health", "qaly": "health",
                   "wellbeing": "health"}
        if key not in aliases:
            raise InputError(
                f"discount schedule {schedule!r} is unknown: use 'standard' (Green Book "
                "3.5% declining), 'health' (1.5% declining, for QALY/wellbeing values) or "
                "a flat rate such as 0.035 for a sensitivity test."
            )
        return aliases[key]
    try:
        r = float(schedule)
    except (TypeError, ValueError):
        raise InputError(f"discount must be 'standard', 'health' or a rate; got {schedule!r}.") \
            from None
    if not (0.0 <= r < 1.0):
        raise InputError(f"A flat discount rate must be between 0 and 1 (e.g. 0.035 for "
                         f"3.5%); got {r!r}.")
    return r


def discount_rates(years: Any, schedule: str | float = "standard") -> np.ndarray:
    """The discount rate that applies in each year.

    The rate for year *t* is the one that discounts year *t* back to year
    *t - 1*. Years 0-30 use 3.5% (standard) or 1.5% (health), 31-75 use 3.0%
    (1.29%), and so on (:func:`load_discount_schedule`).

    Examples
    --------
    >>> discount_rates([1, 30, 31, 75, 76, 301]).tolist()
    [0.035, 0.035, 0.03, 0.03, 0.025, 0.01]
    """
    y = _years_array(years)
    sch = _check_schedule(schedule)
    if isinstance(sch, float):
        return np.full(y.shape, sch, dtype=float)
    arrs = _schedule_arrays()
    idx = np.searchsorted(arrs["year_to"], y, side="left")
    return arrs[sch][idx]


def discount_factors(years: Any, schedule: str | float = "standard") -> np.ndarray:
    """Green Book discount factors, applied cumulatively.

    The factor for year *t* is ``prod_{k=1..t} 1 / (1 + r_k)`` with ``r_k``
    the rate for year *k*: a lower rate for later years changes only the
    discounting of those later years, never retroactively. Year 0 has factor 1.

    Parameters
    ----------
    years : int or array of int
        Years from year 0 (the first, undiscounted year).
    schedule : {"standard", "health"} or float
        The Green Book schedule (default), the health schedule for QALY or
        wellbeing values, or a flat rate for sensitivity tests.

    Examples
    --------
    >>> f = discount_factors([0, 1, 30, 31, 40])
    >>> [round(float(x), 6) for x in f]
    [1.0, 0.966184, 0.356278, 0.345901, 0.265105]
    >>> round(float(discount_factors(10, 0.05)[0]), 6)
    0.613913
    """
    y = _years_array(years)
    if y.size == 0:
        return np.zeros(0)
    sch = _check_schedule(schedule)
    if isinstance(sch, float):
        return (1.0 + sch) ** -y.astype(float)
    top = int(y.max())
    if top == 0:
        return np.ones(y.shape)
    rates = discount_rates(np.arange(1, top + 1), sch)
    cum = np.concatenate([[1.0], np.cumprod(1.0 / (1.0 + rates))])
    return cum[y]


def present_value(values: Any, years: Any = None,
                  schedule: str | float = "standard") -> float:
    """Present value of a stream of real amounts.

    Examples
    --------
    >>> round(present_value([100, 100, 100]), 4)  # 100 + 100/1.035 + 100/1.035**2
    289.9694
    """
    v = np.asarray(values, dtype=float).ravel()
    y = np.arange(v.size) if years is None else _years_array(years)
    if y.size != v.size:
        raise InputError(f"values ({v.size}) and years ({y.size}) must have the same length.")
    return float(np.sum(v * discount_factors(y, schedule)))


# --------------------------------------------------------------------------
# adjustments
# --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _grades() -> pd.DataFrame:
    return pd.read_csv(_ref("optimism_bias_grades.csv"))


def load_optimism_bias_grades() -> pd.DataFrame:
    """Optimism-bias corrections by confidence grade (1 = best evidence).

    Columns ``grade, cost_uplift, benefit_haircut, evidence``: the grade's
    uplift on costs and haircut on benefits, in the style of the GMCA /
    HM Treasury (2014) local-partnership CBA method, which grades each input
    by the quality and age of its evidence. See ``reference/SOURCES.md``: these
    figures were transcribed without the source table at hand in this build,
    so check them against the guidance before publishing, or pass your own
    percentages to :class:`Adjustments`.
    """
    df = _grades().copy()
    df.attrs["source"] = GMCA_CBA
    df.attrs["status"] = "transcribed; verify against the source before publication"
    return df


def _fraction(name: str, value: Any, lo: float = 0.0, hi: float = 1.0) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number (a fraction such as 0.2 for 20%); "
                         f"got {value!r}.") from None
    if not (lo <= v <= hi) or not math.isfinite(v):
        raise InputError(f"{name} = {v:g} is out of range: it must be between {lo:g} and "
                         f"{hi:g} (a fraction, e.g. 0.2 for 20%).")
    return v


@dataclass(frozen=True)
class Adjustments:
    """The GMCA / Green Book adjustments, each a named, stated parameter.

    Benefit adjustments are applied in the order of :data:`ADJUSTMENT_ORDER`
    (deadweight, attribution, drop-off, ramp-up, optimism bias), then
    discounting. Costs get the optimism-bias uplift, then discounting.

    Parameters
    ----------
    optimism_bias_costs : float, optional
        Uplift on costs (0.1 = costs x 1.10). Default: none.
    optimism_bias_benefits : float, optional
        Haircut on benefits (0.1 = benefits x 0.90). Default: none.
    confidence_grade_costs, confidence_grade_benefits : int, optional
        Instead of a percentage, a confidence grade 1-6 looked up in
        :func:`load_optimism_bias_grades`. Give a grade or a percentage, not both.
    deadweight : float, default 0
        Share of the outcome that would have happened anyway. The default is 0
        because an evaluated effect (treated minus a comparison group) is
        already net of deadweight; set it only when the benefits you value are
        gross outcomes (before/after, no comparison).
    attribution : float, default 1
        Share of the change due to this pilot (rather than other services
        working with the same people). Default 1: the evaluation's comparison
        group already isolates the pilot's effect; lower it when other
        programmes contributed.
    drop_off : float, default 0
        Proportional decay of a benefit in each year after its first: the
        benefit in its *k*-th year after the first is multiplied by
        ``(1 - drop_off) ** k``. Default 0 (no decay).
    ramp_up : sequence of float, default ()
        Share of the full benefit achieved in programme years 0, 1, ...
        while delivery beds in (e.g. ``(0.5, 0.8)``); years beyond the
        sequence get 1. Default: none.

    Examples
    --------
    >>> adj = Adjustments(optimism_bias_benefits=0.15, deadweight=0.2, drop_off=0.3)
    >>> [round(f, 4) for f in adj.benefit_step_factors(programme_year=0, years_since_start=2)]
    [0.8, 1.0, 0.49, 1.0, 0.85]
    >>> round(adj.benefit_factor(0, 2), 4)
    0.3332
    """

    optimism_bias_costs: float | None = None
    optimism_bias_benefits: float | None = None
    confidence_grade_costs: int | None = None
    confidence_grade_benefits: int | None = None
    deadweight: float = 0.0
    attribution: float = 1.0
    drop_off: float = 0.0
    ramp_up: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.optimism_bias_costs is not None and self.confidence_grade_costs is not None:
            raise InputError("Give optimism_bias_costs or confidence_grade_costs, not both.")
        if (self.optimism_bias_benefits is not None
                and self.confidence_grade_benefits is not None):
            raise InputError("Give optimism_bias_benefits or confidence_grade_benefits, "
                             "not both.")
        if self.optimism_bias_costs is not None:
            object.__setattr__(self, "optimism_bias_costs",
                               _fraction("optimism_bias_costs", self.optimism_bias_costs,
                                         0.0, 10.0))
        if self.optimism_bias_benefits is not None:
            object.__setattr__(self, "optimism_bias_benefits",
                               _fraction("optimism_bias_benefits",
                                         self.optimism_bias_benefits))
        for g in ("confidence_grade_costs", "confidence_grade_benefits"):
            v = getattr(self, g)
            if v is not None:
                grades = _grades()["grade"].tolist()
                if v not in grades:
                    raise InputError(f"{g} = {v!r} is not a confidence grade; the grades are "
                                     f"{grades} (1 = strongest evidence).")
        object.__setattr__(self, "deadweight", _fraction("deadweight", self.deadweight))
        object.__setattr__(self, "attribution", _fraction("attribution", self.attribution))
        object.__setattr__(self, "drop_off", _fraction("drop_off", self.drop_off))
        ramp = self.ramp_up
        if ramp is None:
            ramp = ()
        if np.isscalar(ramp):
            raise InputError("ramp_up must be a sequence of shares by programme year, e.g. "
                             "(0.5, 0.8) for 50% in year 0 and 80% in year 1.")
        object.__setattr__(self, "ramp_up",
                           tuple(_fraction(f"ramp_up[{i}]", x) for i, x in enumerate(ramp)))

    # ------------------------------------------------------------ values
    @property
    def cost_uplift(self) -> float:
        """The optimism-bias uplift applied to costs (0 if none)."""
        if self.confidence_grade_costs is not None:
            g = _grades().set_index("grade")
            return float(g.loc[self.confidence_grade_costs, "cost_uplift"])
        return float(self.optimism_bias_costs or 0.0)

    @property
    def benefit_haircut(self) -> float:
        """The optimism-bias haircut applied to benefits (0 if none)."""
        if self.confidence_grade_benefits is not None:
            g = _grades().set_index("grade")
            return float(g.loc[self.confidence_grade_benefits, "benefit_haircut"])
        return float(self.optimism_bias_benefits or 0.0)

    def ramp_factor(self, programme_year: Any) -> np.ndarray:
        """Ramp-up share for each programme year (1 beyond the given sequence)."""
        t = np.asarray(programme_year, dtype=int)
        ramp = np.asarray(self.ramp_up + (1.0,), dtype=float)
        return ramp[np.minimum(t, len(self.ramp_up))]

    def benefit_step_factors(self, programme_year: Any, years_since_start: Any
                             ) -> tuple[Any, Any, Any, Any, Any]:
        """Multiplicative factor of each step, in :data:`ADJUSTMENT_ORDER`."""
        k = np.asarray(years_since_start, dtype=float)
        drop = (1.0 - self.drop_off) ** k
        ramp = self.ramp_factor(programme_year)
        out = (1.0 - self.deadweight, self.attribution, drop, ramp, 1.0 - self.benefit_haircut)
        return tuple(float(x) if np.ndim(x) == 0 else x for x in out)  # type: ignore[return-value]

    def benefit_factor(self, programme_year: Any, years_since_start: Any) -> Any:
        """The product of all benefit adjustments (before discounting)."""
        f = 1.0
        for x in self.benefit_step_factors(programme_year, years_since_start):
            f = f * x
        return f

    def benefit_side(self) -> tuple:
        """The benefit-side settings (to compare two sets of adjustments)."""
        return (self.benefit_haircut, self.deadweight, self.attribution, self.drop_off,
                self.ramp_up)

    @property
    def any_benefit_adjustment(self) -> bool:
        return self.benefit_side() != (0.0, 0.0, 1.0, 0.0, ())

    # ----------------------------------------------------------- display
    def to_frame(self) -> pd.DataFrame:
        """Every adjustment with its value, what it applies to, default and source."""
        def pct(x: float) -> str:
            return f"{100 * x:g}%"

        if self.confidence_grade_costs is not None:
            ob_c = f"grade {self.confidence_grade_costs}: +{pct(self.cost_uplift)}"
            ob_c_src = ("confidence-grade table (reference/optimism_bias_grades.csv; "
                        "verify against " + GMCA_CBA + ")")
        else:
            ob_c = f"+{pct(self.cost_uplift)}" if self.cost_uplift else "none"
            ob_c_src = "stated by the user" if self.optimism_bias_costs is not None else \
                "default: no adjustment (Green Book 2022 paras 5.43-5.46: use your own evidence)"
        if self.confidence_grade_benefits is not None:
            ob_b = f"grade {self.confidence_grade_benefits}: -{pct(self.benefit_haircut)}"
            ob_b_src = ob_c_src if self.confidence_grade_costs is not None else (
                "confidence-grade table (reference/optimism_bias_grades.csv; verify against "
                + GMCA_CBA + ")")
        else:
            ob_b = f"-{pct(self.benefit_haircut)}" if self.benefit_haircut else "none"
            ob_b_src = "stated by the user" if self.optimism_bias_benefits is not None else \
                ("default: no adjustment (the Green Book gives no generic benefit values; "
                 "GMCA method: grade the evidence)")
        rows = [
            ("deadweight", pct(self.deadweight), "benefits", 1, "0%",
             "default 0: an evaluated effect is already net of what would have happened "
             "anyway" if self.deadweight == 0 else "stated by the user"),
            ("attribution", pct(self.attribution), "benefits", 2, "100%",
             "default 100%: the comparison group isolates the pilot's effect"
             if self.attribution == 1 else "stated by the user"),
            ("drop_off", pct(self.drop_off) + " a year", "benefits", 3, "0% (no decay)",
             "default: no decay" if self.drop_off == 0 else
             "stated by the user: benefit x (1 - drop_off)^(years after its first)"),
            ("ramp_up", ", ".join(pct(x) for x in self.ramp_up) or "none", "benefits", 4,
             "none (full benefit from year 0)",
             "default: none" if not self.ramp_up else
             "stated by the user: share of full benefit in programme years 0, 1, ..."),
            ("optimism_bias_benefits", ob_b, "benefits", 5, "none", ob_b_src),
            ("optimism_bias_costs", ob_c, "costs", 1, "none", ob_c_src),
        ]
        return pd.DataFrame(rows, columns=["adjustment", "value", "applies_to", "order",
                                           "default", "basis"])

    def __repr__(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                 if getattr(self, f.name) != f.default and not (
                     f.name == "ramp_up" and not self.ramp_up)]
        return f"Adjustments({', '.join(parts)})"


# --------------------------------------------------------------------------
# appraisal
# --------------------------------------------------------------------------


def _value_types(value_type: Any) -> tuple[str, ...]:
    if isinstance(value_type, str):
        vts = (value_type,)
    elif isinstance(value_type, Iterable):
        vts = tuple(value_type)
    else:
        vts = ()
    vts = tuple(str(v).strip().lower() for v in vts)
    if not vts or any(v not in VALUE_TYPES for v in vts):
        raise InputError(
            f"value_type {value_type!r} is not valid: give one of {', '.join(VALUE_TYPES)}, "
            "or a tuple of them to add them together on purpose, e.g. "
            "value_type=('fiscal', 'economic', 'social'). evalkit never adds value types "
            "without being asked."
        )
    if len(set(vts)) != len(vts):
        raise InputError(f"value_type {value_type!r} names a type twice.")
    return vts


def _vt_label(vts: tuple[str, ...]) -> str:
    if len(vts) == 1:
        return vts[0]
    return " + ".join(vts) + " (added on request)"


def _stream_frame(obj: Any, what: str, value_cols: Sequence[str]) -> pd.DataFrame:
    """Costs/benefits as a DataFrame with a ``year`` and an ``amount`` column."""
    if isinstance(obj, pd.DataFrame):
        df = obj.copy()
    elif isinstance(obj, pd.Series):
        df = pd.DataFrame({"year": obj.index, "amount": obj.to_numpy()})
    elif isinstance(obj, Mapping):
        df = pd.DataFrame({"year": list(obj.keys()), "amount": list(obj.values())})
    elif isinstance(obj, (Sequence, np.ndarray)) and not isinstance(obj, str):
        arr = np.asarray(obj, dtype=float).ravel()
        df = pd.DataFrame({"year": np.arange(arr.size), "amount": arr})
    else:
        raise InputError(f"{what}: give a DataFrame with 'year' and an amount column, a list "
                         "of amounts by year (year 0 first) or a dict {year: amount}.")
    if "amount" not in df.columns:
        col = next((c for c in value_cols if c in df.columns), None)
        if col is None:
            raise InputError(f"{what}: no amount column; name it one of {list(value_cols)} "
                             f"(columns found: {list(df.columns)}).")
        df = df.rename(columns={col: "amount"})
    if "year" not in df.columns:
        raise InputError(f"{what}: no 'year' column (years from 0, the first year of the "
                         "appraisal).")
    amt = pd.to_numeric(df["amount"], errors="coerce")
    bad = amt.isna() | ~np.isfinite(amt.fillna(0.0))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{what}: amount on row {i + 2} is not a number "
                         f"({df['amount'].iloc[i]!r}).")
    df["amount"] = amt.astype(float)
    df["year"] = _years_array(df["year"].to_numpy(), name=f"{what} 'year'")
    return df.reset_index(drop=True)


def _financial_year_labels(first_year: str | None, n: int) -> list[str | None]:
    if first_year is None:
        return [None] * n
    fy = normalise_price_year(first_year)
    if fy is None:
        raise InputError("first_year must be a financial year such as '2025-26'.")
    start = int(fy[:4])
    return [f"{start + i}-{str(start + i + 1)[-2:]}" for i in range(n)]


def appraise(costs: Any, benefits: Any, *, price_year: str,
             discount: str | float = "standard", adjustments: Adjustments | None = None,
             horizon: int | None = None, first_year: str | None = None,
             public_value: bool = False, cost_partner: str = "Programme",
             deflators: Any = None, title: str = "Cost-benefit appraisal") -> Appraisal:
    """Green Book / GMCA appraisal of a pilot: PVs, NPV, BCR, ROI, payback.

    Parameters
    ----------
    costs : DataFrame, list or dict
        Programme costs, real pounds, positive. A DataFrame has ``year``
        (0 = first year), an amount column (``cost``, ``cost_gbp``, ``amount``
        or ``value``) and optionally ``partner`` (who pays; default
        ``cost_partner``), ``item`` and ``price_year`` (uprated to
        ``price_year`` when different). A list is costs by year from year 0.
    benefits : DataFrame or :class:`evalkit.benefits.BenefitsResult`
        Benefits, real pounds, positive = a saving or gain. A DataFrame has
        ``year``, an amount column (``value``, ``benefit``, ``amount`` or
        ``mean``), ``partner`` and optionally ``value_type`` (default
        fiscal), ``cashable_share`` (0-1; or a boolean ``cashable``; default
        0), ``item``, ``price_year`` and ``schedule`` (``health`` for QALY or
        wellbeing values). These are gross: ``adjustments`` are applied here.
        A ``BenefitsResult`` is already adjusted (its adjustments are used).
    price_year : str
        The financial year whose prices all figures are in (e.g. ``2024-25``).
    discount : {"standard", "health"} or float, default "standard"
        Green Book declining schedule (rows marked ``schedule = health`` use
        the health schedule), or a flat rate for every flow (sensitivity).
    adjustments : Adjustments, optional
        Optimism bias, deadweight, attribution, drop-off, ramp-up. Default:
        none, stated in the output.
    horizon : int, optional
        Number of appraisal years (default: up to the last year with a flow).
    first_year : str, optional
        Financial year of year 0 (e.g. ``"2025-26"``), for labels.
    public_value : bool, default False
        Also report "public value" (fiscal + economic + social added), the
        GMCA model's public-value measure, clearly labelled. Off by default:
        value types are never added without saying so.
    cost_partner : str, default "Programme"
        Payer for cost rows without a ``partner``.
    deflators : optional
        GDP deflator series for uprating rows with their own ``price_year``.

    Returns
    -------
    Appraisal

    Examples
    --------
    >>> b = pd.DataFrame({"year": [0, 1, 1], "partner": ["NHS", "NHS", "Police"],
    ...                   "value": [50_000, 80_000, 30_000], "cashable_share": [0.5, 0.5, 0]})
    >>> a = appraise([100_000, 20_000], b, price_year="2024-25",
    ...              adjustments=Adjustments(optimism_bias_costs=0.1))
    >>> round(a.pv_costs(), 2)  # (100,000 + 20,000/1.035) x 1.10
    131256.04
    >>> a.payback_year("fiscal")  # cumulative PV benefits pass PV costs in year 1
    1
    """
    from .benefits import BenefitsResult  # local: benefits imports money

    target = normalise_price_year(price_year)
    if target is None:
        raise InputError("price_year must be a financial year such as '2024-25'.")
    disc = _check_schedule(discount)
    warnings: list[str] = []

    # ---- benefits
    already_adjusted = isinstance(benefits, BenefitsResult)
    if already_adjusted:
        if normalise_price_year(benefits.price_year) != target:
            raise InputError(
                f"The benefits are in {benefits.price_year} prices but price_year is {target}; "
                "re-run benefits_by_partner with the same price_year."
            )
        if adjustments is None:
            adjustments = benefits.adjustments
        elif adjustments.benefit_side() != benefits.adjustments.benefit_side():
            raise InputError(
                "These benefits were already adjusted in benefits_by_partner "
                f"({benefits.adjustments!r}); pass the same adjustments (or none) to appraise, "
                "so that deadweight, attribution, drop-off, ramp-up and optimism bias are not "
                "applied twice."
            )
        bdf = benefits.for_appraisal()
    else:
        bdf = benefits
    adjustments = adjustments or Adjustments()
    b = _stream_frame(bdf, "benefits", ("value", "benefit", "benefit_gbp", "mean"))
    if "partner" not in b.columns:
        raise InputError("benefits: a 'partner' column is needed (whose budget gains).")
    b["partner"] = b["partner"].astype(str)
    if "value_type" not in b.columns:
        b["value_type"] = "fiscal"
    b["value_type"] = b["value_type"].fillna("fiscal").astype(str).str.strip().str.lower()
    badvt = sorted(set(b["value_type"]) - set(VALUE_TYPES))
    if badvt:
        raise InputError(f"benefits: value_type {badvt} unknown; use {', '.join(VALUE_TYPES)}.")
    if "cashable_share" in b.columns:
        cs = pd.to_numeric(b["cashable_share"], errors="coerce").fillna(0.0)
    elif "cashable" in b.columns:
        cs = b["cashable"].map(lambda x: 1.0 if str(x).strip().lower() in
                               {"true", "1", "yes", "1.0"} else 0.0).astype(float)
    else:
        cs = pd.Series(0.0, index=b.index)
        warnings.append("Benefits had no cashable share: all treated as non-cashable.")
    if ((cs < 0) | (cs > 1)).any():
        raise InputError("benefits: cashable_share must be between 0 and 1 (negative found)"
                         if (cs < 0).any() else "benefits: cashable_share must be at most 1.")
    b["cashable_share"] = cs.astype(float)
    if (b["amount"] < 0).any():
        warnings.append("Some benefits are negative (dis-benefits); they are kept as entered.")
    if "item" not in b.columns:
        b["item"] = ""
    b["item"] = b["item"].fillna("").astype(str)
    if "schedule" not in b.columns:
        b["schedule"] = "standard"
    b["schedule"] = [_check_schedule(s) if isinstance(s, str) and s.strip() else "standard"
                     for s in b["schedule"].fillna("standard")]
    if "price_year" in b.columns and not already_adjusted:
        b["amount"] = [a if (p is None or (isinstance(p, float) and math.isnan(p))) else
                       a * uprating_factor(p, target, deflators=deflators, item=it or None)
                       for a, p, it in zip(b["amount"], b["price_year"], b["item"])]

    # ---- costs
    c = _stream_frame(costs, "costs", ("cost", "cost_gbp", "amount", "value"))
    if "partner" not in c.columns:
        c["partner"] = cost_partner
    c["partner"] = c["partner"].fillna(cost_partner).astype(str)
    if (c["amount"] < 0).any():
        raise InputError("costs: amounts must be positive; record savings as benefits.")
    if "item" not in c.columns:
        c["item"] = ""
    c["item"] = c["item"].fillna("").astype(str)
    if "price_year" in c.columns:
        c["amount"] = [a if (p is None or (isinstance(p, float) and math.isnan(p))) else
                       a * uprating_factor(p, target, deflators=deflators, item=it or None)
                       for a, p, it in zip(c["amount"], c["price_year"], c["item"])]

    # ---- horizon
    last = int(max(b["year"].max() if len(b) else 0, c["year"].max() if len(c) else 0))
    if horizon is None:
        horizon = last + 1
    else:
        horizon = int(horizon)
        if horizon < 1:
            raise InputError("horizon must be at least 1 year.")
        if last >= horizon:
            raise InputError(f"horizon={horizon} years (0 to {horizon - 1}) but there are flows "
                             f"in year {last}; raise the horizon or drop those rows.")
    labels = _financial_year_labels(first_year, horizon)

    # ---- benefit adjustments (gross -> adjusted), row by row
    b = b.groupby(["partner", "item", "value_type", "schedule", "cashable_share", "year"],
                  as_index=False, sort=True)["amount"].sum()
    if already_adjusted:
        for s in ADJUSTMENT_ORDER:
            b[f"f_{s}"] = 1.0
    else:
        first = (b[b["amount"] != 0].groupby(["partner", "item", "value_type"])["year"].min())
        key = list(zip(b["partner"], b["item"], b["value_type"]))
        start = np.array([first.get(k, y) for k, y in zip(key, b["year"])], dtype=int)
        k_since = np.maximum(b["year"].to_numpy() - start, 0)
        steps = adjustments.benefit_step_factors(b["year"].to_numpy(), k_since)
        for s, f in zip(ADJUSTMENT_ORDER, steps):
            b[f"f_{s}"] = np.broadcast_to(np.asarray(f, dtype=float), (len(b),)).copy()
    b["gross"] = b["amount"]
    fac = np.ones(len(b))
    for s in ADJUSTMENT_ORDER:
        fac = fac * b[f"f_{s}"].to_numpy()
    b["adjusted"] = b["gross"] * fac
    if isinstance(disc, float) or disc == "health":
        b["discount_factor"] = discount_factors(b["year"], disc)
    else:
        b["discount_factor"] = np.where(
            b["schedule"].to_numpy() == "health",
            discount_factors(b["year"], "health"), discount_factors(b["year"], "standard"))
    b["pv"] = b["adjusted"] * b["discount_factor"]
    b["flow"] = "benefit"

    c = c.groupby(["partner", "item", "year"], as_index=False, sort=True)["amount"].sum()
    c["gross"] = c["amount"]
    c["f_optimism_bias"] = 1.0 + adjustments.cost_uplift
    c["adjusted"] = c["gross"] * c["f_optimism_bias"]
    c["discount_factor"] = discount_factors(c["year"], disc)
    c["pv"] = c["adjusted"] * c["discount_factor"]
    c["flow"] = "cost"
    c["value_type"] = None
    c["cashable_share"] = np.nan
    c["schedule"] = disc if isinstance(disc, str) else "flat"

    cols = ["flow", "year", "financial_year", "partner", "item", "value_type",
            "cashable_share", "schedule", "gross"] + [f"f_{s}" for s in ADJUSTMENT_ORDER] + [
        "adjusted", "discount_factor", "pv"]
    for d in (b, c):
        d["financial_year"] = [labels[y] for y in d["year"]]
        for s in ADJUSTMENT_ORDER:
            if f"f_{s}" not in d.columns:
                d[f"f_{s}"] = 1.0
    flows = pd.concat([c[cols], b[cols]], ignore_index=True)
    flows["pv_cashable"] = np.where(flows["flow"] == "benefit",
                                    flows["pv"] * flows["cashable_share"].fillna(0.0), np.nan)
    flows["pv_non_cashable"] = np.where(flows["flow"] == "benefit",
                                        flows["pv"] - flows["pv_cashable"], np.nan)
    disc_label = (f"flat {100 * disc:g}% a year (sensitivity)" if isinstance(disc, float)
                  else ("Green Book health schedule (1.5% declining)" if disc == "health" else
                        "Green Book 3.5% declining"))
    pre_steps = benefits.adjustment_steps(disc) if already_adjusted else None
    return Appraisal(flows=flows, price_year=target, horizon=horizon, first_year=labels[0],
                     discount=disc, discount_label=disc_label, adjustments=adjustments,
                     public_value=public_value, warnings=warnings, title=title,
                     benefits_pre_adjusted=already_adjusted, benefit_steps=pre_steps)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


@dataclass(repr=False)
class Appraisal:
    """Result of :func:`appraise`: a GMCA-style CBA output.

    Attributes
    ----------
    flows : DataFrame
        One row per cost or benefit stream and year: ``flow`` (cost/benefit),
        ``year``, ``financial_year``, ``partner``, ``item``, ``value_type``,
        ``cashable_share``, ``schedule``, ``gross`` (real, before
        adjustments), one ``f_<step>`` factor per adjustment, ``adjusted``,
        ``discount_factor``, ``pv``, ``pv_cashable``, ``pv_non_cashable``.
    price_year : str
        All figures are real pounds in this financial year's prices.
    adjustments : Adjustments
    public_value : bool
        Whether the fiscal + economic + social total is reported (labelled).
    """

    flows: pd.DataFrame
    price_year: str
    horizon: int
    first_year: str | None
    discount: str | float
    discount_label: str
    adjustments: Adjustments
    public_value: bool = False
    warnings: list[str] = field(default_factory=list)
    title: str = "Cost-benefit appraisal"
    benefits_pre_adjusted: bool = False
    benefit_steps: pd.DataFrame | None = None

    # ------------------------------------------------------------- pieces
    def __post_init__(self) -> None:
        # Partner x year (x value type) arrays, built once: every metric reads these.
        f = self.flows
        self._partners = sorted(set(f["partner"]))
        pidx = {p: i for i, p in enumerate(self._partners)}
        P, T, V = len(self._partners), self.horizon, len(VALUE_TYPES)
        self._cost = {k: np.zeros((P, T)) for k in ("adjusted", "pv")}
        self._ben = {k: np.zeros((V, P, T)) for k in ("adjusted", "pv", "pv_cashable")}
        c = f[f["flow"] == "cost"]
        ci = (c["partner"].map(pidx).to_numpy(), c["year"].to_numpy(dtype=int))
        for k in self._cost:
            np.add.at(self._cost[k], ci, c[k].to_numpy(dtype=float))
        b = f[f["flow"] == "benefit"]
        vidx = {v: i for i, v in enumerate(VALUE_TYPES)}
        bi = (b["value_type"].map(vidx).to_numpy(), b["partner"].map(pidx).to_numpy(),
              b["year"].to_numpy(dtype=int))
        for k in self._ben:
            np.add.at(self._ben[k], bi, b[k].to_numpy(dtype=float))

    @property
    def partners(self) -> list[str]:
        """Every partner with a cost or a benefit, sorted."""
        return list(self._partners)

    def _prow(self, partner: str | None) -> slice | int:
        if partner is None:
            return slice(None)
        if partner not in self._partners:
            raise InputError(f"partner {partner!r} has no costs or benefits here; the "
                             f"partners are: {', '.join(self._partners)}.")
        return self._partners.index(partner)

    def _cost_by_year(self, partner: str | None, key: str = "pv") -> np.ndarray:
        a = self._cost[key][self._prow(partner)]
        return a if a.ndim == 1 else a.sum(axis=0)

    def _ben_by_year(self, vts: tuple[str, ...], partner: str | None,
                     key: str = "pv") -> np.ndarray:
        v = [VALUE_TYPES.index(x) for x in vts]
        a = self._ben[key][v][:, self._prow(partner)]
        a = a.sum(axis=0)
        return a if a.ndim == 1 else a.sum(axis=0)

    def pv_costs(self, partner: str | None = None) -> float:
        """Present value of costs (after any optimism-bias uplift)."""
        return float(self._cost_by_year(partner).sum())

    def pv_benefits(self, value_type: Any = "fiscal", partner: str | None = None,
                    cashable: bool | None = None) -> float:
        """Present value of benefits of one value type (or an explicit tuple).

        ``cashable=True`` gives only the cashable part, ``False`` only the
        non-cashable part, ``None`` both.
        """
        vts = _value_types(value_type)
        total = self._ben_by_year(vts, partner).sum()
        if cashable is None:
            return float(total)
        cash = self._ben_by_year(vts, partner, "pv_cashable").sum()
        return float(cash if cashable else total - cash)

    def npv(self, value_type: Any = "fiscal", partner: str | None = None) -> float:
        """Net present value: PV of ``value_type`` benefits minus PV of costs."""
        return self.pv_benefits(value_type, partner) - self.pv_costs(partner)

    def bcr(self, value_type: Any = "fiscal", partner: str | None = None) -> float:
        """Benefit-cost ratio: PV benefits / PV costs (NaN if no costs)."""
        return _ratio(self.pv_benefits(value_type, partner), self.pv_costs(partner))

    def roi(self, value_type: Any = "fiscal", partner: str | None = None) -> float:
        """Return on investment: (PV benefits - PV costs) / PV costs (NaN if no costs).

        The GMCA model's "£X of benefit per £1 spent" is the BCR; the ROI here
        is the net return per £1 (BCR - 1).
        """
        return _ratio(self.npv(value_type, partner), self.pv_costs(partner))

    def yearly(self, value_type: Any = "fiscal", partner: str | None = None) -> pd.DataFrame:
        """Costs and benefits by year: real, present value and cumulative PV net."""
        vts = _value_types(value_type)
        out = pd.DataFrame({"year": np.arange(self.horizon)})
        out["financial_year"] = _financial_year_labels(self.first_year, self.horizon)
        out["costs"] = self._cost_by_year(partner, "adjusted")
        out["benefits"] = self._ben_by_year(vts, partner, "adjusted")
        out["pv_costs"] = self._cost_by_year(partner, "pv")
        out["pv_benefits"] = self._ben_by_year(vts, partner, "pv")
        out["pv_benefits_cashable"] = self._ben_by_year(vts, partner, "pv_cashable")
        out["pv_net"] = out["pv_benefits"] - out["pv_costs"]
        out["cumulative_pv_net"] = out["pv_net"].cumsum()
        out["value_type"] = _vt_label(vts)
        return out

    def payback_year(self, value_type: Any = "fiscal", partner: str | None = None,
                     discounted: bool = True) -> int | None:
        """First year in which cumulative benefits reach cumulative costs.

        Cumulative present values by default (``discounted=False`` uses real
        undiscounted sums). ``None`` if it does not pay back within the horizon,
        or if the scope bears no costs (nothing to pay back).
        """
        vts = _value_types(value_type)
        key = "pv" if discounted else "adjusted"
        costs = self._cost_by_year(partner, key)
        if costs.sum() == 0:
            return None  # nothing to pay back
        net = np.cumsum(self._ben_by_year(vts, partner, key) - costs)
        ok = np.flatnonzero(net >= -1e-9)
        return int(ok[0]) if ok.size else None

    # ------------------------------------------------------------- tables
    def _bases(self) -> list[tuple[str, tuple[str, ...]]]:
        out = [(v, (v,)) for v in VALUE_TYPES]
        if self.public_value:
            out.append(("public value (fiscal + economic + social, added on request)",
                        tuple(VALUE_TYPES)))
        return out

    def metrics(self) -> pd.DataFrame:
        """Tidy headline metrics: one row per scope (partner or Total) and basis.

        ``basis`` is a single value type (fiscal, economic, social); the
        public-value row (all three added) appears only when
        ``public_value=True`` and says so.
        """
        rows = []
        for scope in [*self.partners, "Total"]:
            p = None if scope == "Total" else scope
            for label, vts in self._bases():
                pvc = self.pv_costs(p)
                pvb = self.pv_benefits(vts, p)
                pby = self.payback_year(vts, p)
                rows.append({
                    "scope": scope, "basis": label, "pv_costs": pvc, "pv_benefits": pvb,
                    "pv_benefits_cashable": self.pv_benefits(vts, p, cashable=True),
                    "pv_benefits_non_cashable": self.pv_benefits(vts, p, cashable=False),
                    "npv": pvb - pvc, "bcr": _ratio(pvb, pvc), "roi": _ratio(pvb - pvc, pvc),
                    "payback_year": pby,
                    "payback_financial_year": (None if pby is None or self.first_year is None
                                               else _financial_year_labels(
                                                   self.first_year, self.horizon)[pby]),
                })
        df = pd.DataFrame(rows)
        df["payback_year"] = df["payback_year"].astype("Int64")
        return df

    def partner_table(self) -> pd.DataFrame:
        """The GMCA-style "costs and benefits by agency" table (present values).

        Columns: PV costs; PV fiscal benefits cashable and non-cashable; PV
        economic; PV social; fiscal NPV, BCR, ROI and payback year. Economic
        and social values sit in their own columns and are never added to
        fiscal ones (unless ``public_value=True``, which adds labelled columns).
        """
        rows = {}
        for scope in [*self.partners, "Total"]:
            p = None if scope == "Total" else scope
            r = {
                "PV costs": self.pv_costs(p),
                "PV fiscal benefits: cashable": self.pv_benefits("fiscal", p, True),
                "PV fiscal benefits: non-cashable": self.pv_benefits("fiscal", p, False),
                "PV economic benefits": self.pv_benefits("economic", p),
                "PV social benefits": self.pv_benefits("social", p),
                "Fiscal NPV": self.npv("fiscal", p),
                "Fiscal BCR": self.bcr("fiscal", p),
                "Fiscal ROI": self.roi("fiscal", p),
                "Fiscal payback year": self.payback_year("fiscal", p),
            }
            if self.public_value:
                vts = tuple(VALUE_TYPES)
                r["Public value NPV (fiscal + economic + social)"] = self.npv(vts, p)
                r["Public value BCR (fiscal + economic + social)"] = self.bcr(vts, p)
            rows[scope] = r
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.name = "partner"
        df["Fiscal payback year"] = df["Fiscal payback year"].astype("Int64")
        return df

    def adjustment_steps(self) -> pd.DataFrame:
        """The adjustments as a waterfall, step by step, per value type.

        For each value type with benefits: gross benefits, the change made by
        each step in :data:`ADJUSTMENT_ORDER` (undiscounted and in present
        value), the net benefits; then the costs before and after the
        optimism-bias uplift.
        """
        rows = []
        steps = list(ADJUSTMENT_ORDER)
        ben = self.flows[self.flows["flow"] == "benefit"]
        if self.benefit_steps is not None:
            # adjusted earlier, in benefits_by_partner: its waterfall, discounted here
            pre = self.benefit_steps.copy()
            pre["factor_range"] = ""
            rows.extend(pre[["value_type", "order", "step", "factor_range", "change",
                             "change_pv", "after", "after_pv"]].to_dict("records"))
            ben = ben.iloc[0:0]
        for vt in VALUE_TYPES:
            f = ben[ben["value_type"] == vt]
            if f.empty:
                continue
            cur = f["gross"].to_numpy().copy()
            df = f["discount_factor"].to_numpy()
            rows.append({"value_type": vt, "order": 0, "step": "gross benefits",
                         "factor_range": "", "change": 0.0, "change_pv": 0.0,
                         "after": cur.sum(), "after_pv": float((cur * df).sum())})
            for i, s in enumerate(steps, start=1):
                fac = f[f"f_{s}"].to_numpy()
                new = cur * fac
                lo, hi = (float(fac.min()), float(fac.max())) if fac.size else (1.0, 1.0)
                rows.append({"value_type": vt, "order": i, "step": s.replace("_", "-"),
                             "factor_range": f"{lo:.4g}" if lo == hi else f"{lo:.4g}-{hi:.4g}",
                             "change": float((new - cur).sum()),
                             "change_pv": float(((new - cur) * df).sum()),
                             "after": float(new.sum()), "after_pv": float((new * df).sum())})
                cur = new
        c = self.flows[self.flows["flow"] == "cost"]
        g = c["gross"].to_numpy()
        a = c["adjusted"].to_numpy()
        d = c["discount_factor"].to_numpy()
        rows.append({"value_type": "costs", "order": 0, "step": "costs as entered",
                     "factor_range": "", "change": 0.0, "change_pv": 0.0,
                     "after": float(g.sum()), "after_pv": float((g * d).sum())})
        rows.append({"value_type": "costs", "order": 1, "step": "optimism-bias uplift",
                     "factor_range": f"{1 + self.adjustments.cost_uplift:.4g}",
                     "change": float((a - g).sum()), "change_pv": float(((a - g) * d).sum()),
                     "after": float(a.sum()), "after_pv": float((a * d).sum())})
        out = pd.DataFrame(rows)
        if self.benefits_pre_adjusted:
            out.attrs["note"] = ("benefits were adjusted in benefits_by_partner; the benefit "
                                 "steps are its waterfall, discounted here")
        return out

    def to_frame(self, kind: str = "metrics") -> pd.DataFrame:
        """A table of results.

        Parameters
        ----------
        kind : {"metrics", "partners", "yearly", "flows", "adjustments", "steps"}
            Headline metrics (tidy), the by-partner table, fiscal costs and
            benefits by year, every cash flow, the adjustment settings, or the
            adjustment waterfall.
        """
        kinds = {
            "metrics": self.metrics,
            "partners": lambda: self.partner_table().reset_index(),
            "yearly": lambda: self.yearly("fiscal"),
            "flows": lambda: self.flows.copy(),
            "adjustments": self.adjustments.to_frame,
            "steps": self.adjustment_steps,
        }
        if kind not in kinds:
            raise InputError(f"kind must be one of {', '.join(kinds)}; got {kind!r}.")
        return kinds[kind]()

    # ------------------------------------------------------------ summary
    def summary(self) -> Summary:
        """A GMCA CBA output sheet: costs, benefits by agency, NPV, BCR, ROI, payback."""
        from .plotting import format_gbp

        def money(x: float) -> str:
            return format_gbp(x)

        def ratio(x: float) -> str:
            return "n/a" if x != x else f"{x:.2f}"

        pby = self.payback_year("fiscal")
        fy = _financial_year_labels(self.first_year, self.horizon)
        header = [
            ("Price base", f"real {self.price_year} prices"),
            ("Discounting", self.discount_label),
            ("Horizon", f"{self.horizon} years" + (f" from {self.first_year}"
                                                  if self.first_year else "")),
            ("PV costs", money(self.pv_costs())),
            ("PV fiscal benefits", money(self.pv_benefits("fiscal"))),
            ("  of which cashable", money(self.pv_benefits("fiscal", cashable=True))),
            ("Fiscal NPV", money(self.npv("fiscal"))),
            ("Fiscal BCR", ratio(self.bcr("fiscal"))),
            ("Fiscal ROI", ratio(self.roi("fiscal"))),
            ("Fiscal payback", "not within horizon" if pby is None else
             f"year {pby}" + (f" ({fy[pby]})" if fy[pby] else "")),
            ("PV economic benefits", money(self.pv_benefits("economic"))),
            ("PV social benefits", money(self.pv_benefits("social"))),
        ]
        costs = (self.flows[self.flows["flow"] == "cost"]
                 .groupby("partner")[["gross", "adjusted", "pv"]].sum()
                 .rename(columns={"gross": "costs (real)", "adjusted":
                                  "after optimism bias (real)", "pv": "PV costs"}))
        costs.loc["Total"] = costs.sum()
        met = self.metrics()
        present = {"fiscal"} | set(self.flows.loc[self.flows["flow"] == "benefit",
                                                  "value_type"])
        met = met[(met["scope"] == "Total") & (met["basis"].isin(present)
                                               | met["basis"].str.startswith("public"))]
        met = met.set_index("basis")[["pv_costs", "pv_benefits", "npv", "bcr", "roi",
                                      "payback_year"]]
        parts = self.partner_table()
        for vt, col in (("economic", "PV economic benefits"), ("social", "PV social benefits")):
            if vt not in present:
                parts = parts.drop(columns=col)
        adj = self.adjustments.to_frame().set_index("adjustment")[["value", "basis"]]
        tables = [
            ("Costs by agency", costs),
            ("Benefits by agency (present values, £)", parts),
            ("Headline by value type (never added unless asked)", met),
            ("Adjustments (in order of application)", adj),
        ]
        notes = [
            f"All figures are real pounds in {self.price_year} prices, discounted "
            + ("with the Green Book declining schedule (3.5% a year for years 0-30; rows "
               "marked health at the 1.5% health rate)" if self.discount == "standard" else
               f"at the {self.discount_label} rate")
            + ". Fiscal, economic and social values are reported "
            "separately and never added together"
            + (" except in the rows labelled 'public value'." if self.public_value else "."),
            "BCR = PV benefits / PV costs; ROI = (PV benefits - PV costs) / PV costs; payback "
            "= first year cumulative discounted benefits reach cumulative discounted costs.",
            f"Sources: {GREEN_BOOK}; {GMCA_CBA}.",
        ] + [f"Warning: {w}" for w in self.warnings]
        return Summary(self.title, header, tables, notes)

    def __repr__(self) -> str:
        return (f"<Appraisal {self.price_year} prices, {self.horizon} years: PV costs "
                f"£{self.pv_costs():,.0f}, fiscal NPV £{self.npv('fiscal'):,.0f}, fiscal BCR "
                f"{self.bcr('fiscal'):.2f}; {len(self.partners)} partners>")

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    # --------------------------------------------------------------- plot
    def plot(self, ax: Axes | None = None, kind: str = "partners",
             value_type: str = "fiscal") -> Axes:
        """Chart the appraisal.

        Parameters
        ----------
        kind : {"partners", "waterfall", "cumulative"}
            ``partners``: present-value benefits by partner, one bar per value
            type side by side (fiscal with its cashable part stacked on the
            non-cashable part; economic; social), so the chart never shows a
            total of different types, with each partner's PV costs marked.
            ``waterfall``: the adjustment waterfall for one value type, from
            gross benefits to net present value. ``cumulative``:
            cumulative discounted net position by year (payback).
        """
        from .plotting import OKABE_ITO, gbp_formatter, get_axes

        if kind == "partners":
            ax = get_axes(ax, figsize=(max(6.0, 1.2 * len(self.partners) + 2), 4.5))
            parts = self.partner_table().drop(index="Total")
            x = np.arange(len(parts))
            # One bar per value type present, side by side: fiscal (cashable stacked on
            # non-cashable), economic, social. Different types are never stacked together.
            groups = [("fiscal", [("Fiscal, cashable", "PV fiscal benefits: cashable",
                                   OKABE_ITO[0]),
                                  ("Fiscal, non-cashable", "PV fiscal benefits: non-cashable",
                                   OKABE_ITO[4])]),
                      ("economic", [("Economic", "PV economic benefits", OKABE_ITO[1])]),
                      ("social", [("Social", "PV social benefits", OKABE_ITO[2])])]
            groups = [g for g in groups
                      if not all(np.allclose(parts[c].to_numpy(dtype=float), 0)
                                 for _, c, _ in g[1])] or groups[:1]
            width = 0.8 / len(groups)
            for gi, (_vt, layers) in enumerate(groups):
                xs = x - 0.4 + width * (gi + 0.5)
                bottom = np.zeros(len(parts))
                for label, col_name, colour in layers:
                    v = parts[col_name].to_numpy(dtype=float)
                    ax.bar(xs, v, bottom=bottom, color=colour, label=label, width=width * 0.95)
                    bottom = bottom + v
            has_cost = parts["PV costs"].to_numpy(dtype=float) > 0
            ax.scatter(x[has_cost], parts["PV costs"].to_numpy(dtype=float)[has_cost],
                       marker="_", s=1400, color=OKABE_ITO[7], linewidths=2.5,
                       label="PV costs borne", zorder=3)
            ax.set_xticks(x, list(parts.index), rotation=30, ha="right")
            ax.yaxis.set_major_formatter(gbp_formatter())
            ax.set_ylabel(f"Present value (£, {self.price_year} prices)")
            ax.set_xlabel("Partner")
            ax.set_title("Benefits by partner and value type (present values)")
            ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                      markerscale=0.4)
            return ax
        if kind == "waterfall":
            ax = get_axes(ax, figsize=(8, 4.5))
            steps = self.adjustment_steps()
            s = steps[steps["value_type"] == _value_types(value_type)[0]]
            if s.empty:
                raise InputError(f"There are no {value_type} benefits to chart.")
            labels = ["Gross"] + [st for st in s["step"].iloc[1:]] + ["Net PV"]
            gross = float(s["after_pv"].iloc[0])
            changes = s["change_pv"].iloc[1:].to_numpy()
            level = gross
            ax.bar(0, gross, color=OKABE_ITO[0])
            for i, ch in enumerate(changes, start=1):
                ax.bar(i, ch, bottom=level, color=OKABE_ITO[5] if ch < 0 else OKABE_ITO[2])
                level += ch
            ax.bar(len(labels) - 1, level, color=OKABE_ITO[0])
            ax.set_xticks(np.arange(len(labels)), labels, rotation=30, ha="right")
            ax.yaxis.set_major_formatter(gbp_formatter())
            ax.set_ylabel(f"Present value (£, {self.price_year} prices)")
            ax.set_title(f"Adjustments to {value_type} benefits, in order of application")
            return ax
        if kind == "cumulative":
            ax = get_axes(ax)
            y = self.yearly(value_type)
            ax.axhline(0, color="black", lw=0.8)
            ax.plot(y["year"], y["cumulative_pv_net"], marker="o", color=OKABE_ITO[0])
            ax.yaxis.set_major_formatter(gbp_formatter())
            ax.set_xlabel("Appraisal year (0 = first year)")
            ax.set_ylabel("Cumulative discounted net position (£)")
            ax.set_title(f"Payback: cumulative {value_type} benefits less costs")
            return ax
        raise InputError("kind must be 'partners', 'waterfall' or 'cumulative'.")

    # -------------------------------------------------------------- excel
    def to_excel(self, path: str | Path) -> Path:
        """Write the appraisal to an Excel workbook a finance lead can use.

        Sheets: Summary, By partner, Headline metrics, Yearly (fiscal),
        Cash flows, Adjustments, Notes. Currency formats, frozen headers.
        """
        path = Path(path)
        summ = pd.DataFrame(self.summary().header, columns=["Measure", "Value"])
        sheets: list[tuple[str, pd.DataFrame]] = [
            ("Summary", summ),
            ("By partner", self.partner_table().reset_index()),
            ("Headline metrics", self.metrics()),
            ("Yearly (fiscal)", self.yearly("fiscal")),
            ("Cash flows", self.flows),
            ("Adjustments", self.adjustments.to_frame()),
            ("Adjustment steps", self.adjustment_steps()),
            ("Notes", pd.DataFrame({"Note": self.summary().notes})),
        ]
        write_workbook(path, sheets)
        return path


# --------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------

_MONEY_HINTS = ("pv", "cost", "benefit", "npv", "gross", "adjusted", "amount", "value",
                "mean", "lower", "upper", "after", "change", "£")
_RATIO_HINTS = ("bcr", "roi", "factor", "share", "f_")
GBP_FORMAT = '"£"#,##0;[Red]-"£"#,##0'


def _is_money_col(name: str) -> bool:
    n = name.lower()
    if any(h in n for h in _RATIO_HINTS) or "year" in n:
        return False
    return any(h in n for h in _MONEY_HINTS)


def write_workbook(path: str | Path, sheets: Sequence[tuple[str, pd.DataFrame]]) -> Path:
    """Write DataFrames to sheets with currency formats and frozen headers.

    Money columns (names with pv, cost, benefit, npv, value...) get a pound
    format; ratio columns (bcr, roi, factor, share) two decimals; the header
    row is bold and frozen; column widths fit the content.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    path = Path(path)
    wb = Workbook()
    wb.remove(wb.active)
    for name, df in sheets:
        ws = wb.create_sheet(title=name[:31])
        df = df.copy()
        ws.append([str(c) for c in df.columns])
        for rec in df.itertuples(index=False):
            row = []
            for v in rec:
                if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                    row.append(None)
                elif isinstance(v, (np.integer,)):
                    row.append(int(v))
                elif isinstance(v, (np.floating,)):
                    row.append(float(v) if np.isfinite(v) else None)
                elif isinstance(v, (np.bool_, bool)):
                    row.append(bool(v))
                elif isinstance(v, (int, float, str)):
                    row.append(v)
                else:
                    row.append(str(v))
            ws.append(row)
        head_fill = PatternFill("solid", fgColor="DDE7F0")
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = head_fill
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.freeze_panes = "B2" if df.shape[1] > 1 else "A2"
        for j, col in enumerate(df.columns, start=1):
            letter = get_column_letter(j)
            numeric = pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(
                df[col])
            fmt = None
            if numeric and _is_money_col(str(col)):
                fmt = GBP_FORMAT
            elif numeric and any(h in str(col).lower() for h in _RATIO_HINTS):
                fmt = "0.00"
            if fmt:
                for cell in ws[letter][1:]:
                    cell.number_format = fmt
            width = max([len(str(col))] + [len(f"{v:,.0f}") if isinstance(v, float) and
                                           math.isfinite(v) else len(str(v))
                                           for v in df[col].head(200)])
            ws.column_dimensions[letter].width = min(max(10, width + 3), 60)
    wb.save(path)
    return path


def _close(name: str, options: Iterable[str]) -> str:
    m = difflib.get_close_matches(str(name), list(options), n=3, cutoff=0.5)
    return f" Did you mean {', '.join(repr(x) for x in m)}?" if m else ""


def _escape(x: str) -> str:  # pragma: no cover - tiny helper kept for HTML reprs
    return html.escape(x)
