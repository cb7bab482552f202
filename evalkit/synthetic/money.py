"""Partners, organisations, unit costs, benefit map and programme money.

- **Partners** (who pay): a council, an ICB, police, DWP, probation, a
  housing association and a charity, with split drivers: ``budget`` (budget
  per resident x residents), ``caseload`` (in-scope people with any contact at
  the partner's organisations in the last 12 months of the panel),
  ``variable_cost`` (the per-person running cost for each enrolled person on
  that caseload: the cost of serving the partner's people within the shared
  team) and ``standalone_cost`` (what a partner would pay a year to run its own
  team for them: the fixed cost plus its variable cost; the sum over partners
  exceeds the joint cost, so sharing is worth it).
- **Organisations**: each event-log organisation and the partner that runs it.
- **Unit costs**: rows of the sourced reference table
  (``unit_costs_gmca_ucd.csv``: GMCA Unit Cost Database v1.4 and others) in
  evalkit's ``unit_costs`` schema: ``price_year`` written ``2009-10``,
  ``cashable`` yes/partly/no mapped to ``cashable_share`` 1/0.5/0, ``partner``
  the place's partner. Assessments are priced per organisation by a sourced
  row where one fits, otherwise *derived* from a sourced hourly rate times an
  assumed number of hours (the ``source`` says so); handling a referral and a
  declined referral is priced at ``referral_cost_share`` (25%) of the
  organisation's assessment cost, an assumption stated in ``source``.
- **Benefit map**: each outcome with a ``benefit_item`` -> that unit cost ->
  its ``benefit_partner``.
- **Programme**: yearly running cost (fixed + per enrolled person) and a
  central grant that tapers to zero (``grant_schedule``), for ``place.yml``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import normalise_financial_year
from ..schema import TABLES
from .config import ORGANISATIONS, PARTNERS, SynthConfig

__all__ = [
    "reference_unit_costs",
    "partners_table",
    "organisations_table",
    "unit_costs_table",
    "benefit_map_table",
    "programme_table",
    "ASSESSMENT_COSTS",
    "REFERRAL_COST_SHARE",
]

_O = ORGANISATIONS

#: How each organisation's assessment is priced: (reference item, hours or None).
#: ``None`` uses the item's unit cost as it is; a number multiplies an hourly rate.
ASSESSMENT_COSTS: dict[str, tuple[str, float | None]] = {
    _O[0]: ("Administering a homelessness application decision", None),
    _O[1]: ("Adult social worker hour (incl. qualification costs)", 3.0),
    _O[2]: ("Children's social care initial assessment", None),
    _O[3]: ("A&E attendance not leading to admission", None),
    _O[4]: ("Community mental health contact", None),
    _O[5]: ("GP face-to-face consultation (11.7 min)", None),
    _O[6]: ("Police officer (sergeant and below) hour", 2.0),
    _O[7]: ("Processing a new JSA claim", None),
    _O[8]: ("YOT practitioner hour", 3.0),
    _O[9]: ("Family support worker hour", 2.0),
    _O[10]: ("Family support worker hour", 1.5),
}

#: Handling a referral (referrer) or declining one (decliner), as a share of
#: the organisation's assessment cost: a synthetic-place assumption.
REFERRAL_COST_SHARE = 0.25

_DATA = Path(__file__).parent / "data" / "unit_costs_gmca_ucd.csv"
_SHIPPED = Path(__file__).parent.parent / "reference" / "unit_costs_gmca_ucd.csv"


def reference_unit_costs() -> pd.DataFrame:
    """The sourced reference unit costs (evalkit's shipped copy if present).

    Returns the raw reference table: ``item, unit, cost_gbp, price_year,
    agency_bearing_cost, cashable, source``.
    """
    for path in (_SHIPPED, _DATA):
        if path.exists():
            df = pd.read_csv(path)
            if {"item", "unit", "cost_gbp", "price_year", "cashable", "source"} <= set(df):
                return df
    raise FileNotFoundError(f"reference unit costs not found at {_DATA}")


def _partner_of_org() -> dict[str, str]:
    return {o: p for p, (_, orgs) in PARTNERS.items() for o in orgs}


def organisations_table(cfg: SynthConfig) -> pd.DataFrame:
    """Organisation -> partner, for the organisations in use."""
    owner = _partner_of_org()
    return pd.DataFrame({"organisation": list(cfg.organisations),
                         "partner": [owner[o] for o in cfg.organisations]})


def _partners_in_use(cfg: SynthConfig) -> list[str]:
    owner = _partner_of_org()
    used = {owner[o] for o in cfg.organisations}
    used |= {o.benefit_partner for o in cfg.outcomes if o.benefit_partner}
    return [p for p in PARTNERS if p in used]


def partners_table(cfg: SynthConfig, *, person: np.ndarray, day: np.ndarray,
                   org: np.ndarray, in_scope: np.ndarray, enrolled: np.ndarray,
                   n_days: int) -> pd.DataFrame:
    """Partners with budget, caseload and standalone-cost drivers.

    ``person``, ``day``, ``org`` are the event log's arrays (org indexes
    ``cfg.organisations``); ``in_scope`` and ``enrolled`` are per-person masks.
    """
    names = _partners_in_use(cfg)
    owner = _partner_of_org()
    org_partner = np.array([names.index(owner[o]) for o in cfg.organisations])
    recent = (day >= n_days - 365) & in_scope[person]
    p = person[recent].astype(np.int64)
    q = org_partner[org[recent]]
    pairs = np.unique(p * len(names) + q)
    caseload = np.bincount(pairs % len(names), minlength=len(names))
    enr = enrolled[pairs // len(names)]
    enrolled_caseload = np.bincount(pairs[enr] % len(names), minlength=len(names))
    kinds = [PARTNERS[n][0] for n in names]
    budget = [cfg.partner_budget_per_resident.get(n, 0.0) * cfg.n_people for n in names]
    variable = cfg.programme_cost_per_person_gbp * enrolled_caseload
    out = pd.DataFrame({
        "partner": names, "kind": kinds, "budget": np.round(budget, 0),
        "caseload": caseload.astype(float),
        "standalone_cost": np.round(cfg.programme_fixed_cost_gbp + variable, 0),
    })
    if "variable_cost" in TABLES["partners"].names:  # a driver of the split module
        out["variable_cost"] = np.round(variable, 0)
    return out


def _ref_row(ref: pd.DataFrame, item: str, what: str = "") -> pd.Series:
    rows = ref[ref["item"] == item]
    if len(rows) != 1:
        import difflib

        near = difflib.get_close_matches(item, ref["item"].astype(str).tolist(), 1)
        raise InputError(
            f"{what}unit cost item {item!r} is not in the reference unit-cost table"
            + (f"; did you mean {near[0]!r}?" if near else ".")
            + " Use an item of evalkit's reference table (unit_costs_gmca_ucd.csv).")
    return rows.iloc[0]


def _code(source: str) -> str:
    """Short citation: the part of ``source`` before the first ';'."""
    return str(source).split(";")[0].strip()


def unit_costs_table(cfg: SynthConfig) -> pd.DataFrame:
    """Unit costs in evalkit's schema: failure-demand pricing and benefit items."""
    ref = reference_unit_costs()
    owner = _partner_of_org()
    cmap = cfg.cashable_map
    rows: list[dict] = []

    def add(row: dict) -> None:
        if row["item"] not in {r["item"] for r in rows}:
            rows.append(row)

    for org in cfg.organisations:
        item, hours = ASSESSMENT_COSTS[org]
        r = _ref_row(ref, item)
        fy = normalise_financial_year(r["price_year"])
        if hours is None:
            name, cost, unit = item, float(r["cost_gbp"]), str(r["unit"])
            source = str(r["source"])
        else:
            name = f"{org} assessment ({hours:g} hours of '{item}')"
            cost, unit = round(hours * float(r["cost_gbp"]), 2), "per assessment"
            source = (f"Derived for the synthetic place: {hours:g} hours x {item} "
                      f"(GBP {float(r['cost_gbp']):g}, {_code(r['source'])}); the hours "
                      "are an assumption")
        if name in {x["item"] for x in rows}:
            name = f"{name} ({org})"
        base = {"item": name, "unit": unit, "cost_gbp": cost, "price_year": fy,
                "partner": owner[org], "cashable_share": cmap.get(str(r["cashable"]), 0.0),
                "source": source, "value_type": "fiscal", "event_type": "assessment",
                "organisation": org, "service": None}
        add(base)
        for etype, what in (("referral", "Making a referral"),
                            ("referral_declined", "Declining a referral")):
            add({"item": f"{what}: {org}", "unit": "per referral",
                 "cost_gbp": round(REFERRAL_COST_SHARE * base["cost_gbp"], 2),
                 "price_year": base["price_year"], "partner": owner[org],
                 "cashable_share": 0.0,
                 "source": f"Synthetic-place assumption: {REFERRAL_COST_SHARE:.0%} of "
                           f"'{base['item']}' ({_code(base['source'])})",
                 "value_type": "fiscal", "event_type": etype, "organisation": org,
                 "service": None})
    for spec in cfg.outcomes:
        if not spec.benefit_item:
            continue
        r = _ref_row(ref, spec.benefit_item, f"outcome {spec.name!r}: benefit_item: ")
        add({"item": spec.benefit_item, "unit": str(r["unit"]),
             "cost_gbp": float(r["cost_gbp"]),
             "price_year": normalise_financial_year(r["price_year"]),
             "partner": spec.benefit_partner or owner.get(spec.event_organisation or "", ""),
             "cashable_share": cmap.get(str(r["cashable"]), 0.0), "source": str(r["source"]),
             "value_type": "fiscal", "event_type": None, "organisation": None,
             "service": None})
    return pd.DataFrame(rows)


def benefit_map_table(cfg: SynthConfig) -> pd.DataFrame:
    """Outcome measure -> unit cost item -> partner."""
    rows = [{"measure": o.name, "item": o.benefit_item, "partner": o.benefit_partner,
             "units_per_outcome": o.benefit_units_per_outcome, "cashable_share": None,
             "value_type": "fiscal"}
            for o in cfg.outcomes if o.benefit_item and o.benefit_partner]
    return pd.DataFrame(rows, columns=["measure", "item", "partner", "units_per_outcome",
                                       "cashable_share", "value_type"])


def _fy_start(d: pd.Timestamp) -> int:
    return d.year if d.month >= 4 else d.year - 1


def programme_table(cfg: SynthConfig, start_dates: pd.Series) -> pd.DataFrame:
    """Running cost and central grant by pilot year (financial years).

    Year 1 is the financial year of the first go-live. The running cost of a
    year is ``programme_fixed_cost_gbp`` plus ``programme_cost_per_person_gbp``
    times the average number of people enrolled over its twelve months
    (enrolled people stay enrolled; after the panel ends the number stays at
    its final value). The grant is ``grant_schedule[k]`` times the running
    cost, zero once the schedule runs out.
    """
    first = pd.Timestamp(cfg.start) + pd.DateOffset(months=cfg.pilot_waves[0])
    y0 = _fy_start(first)
    starts = np.sort(pd.to_datetime(start_dates.dropna()).to_numpy())
    rows = []
    for k in range(cfg.horizon_years):
        fy = f"{y0 + k}-{(y0 + k + 1) % 100:02d}"
        months = pd.date_range(pd.Timestamp(year=y0 + k, month=4, day=1), periods=12,
                               freq="MS").to_numpy()
        enrolled = float(np.searchsorted(starts, months, side="right").mean())
        cost = cfg.programme_fixed_cost_gbp + cfg.programme_cost_per_person_gbp * enrolled
        share = cfg.grant_schedule[k] if k < len(cfg.grant_schedule) else 0.0
        rows.append({"year": k + 1, "financial_year": fy,
                     "people_enrolled": round(enrolled, 1),
                     "running_cost_gbp": round(cost, 0), "grant_gbp": round(share * cost, 0),
                     "grant_share": share, "price_year": cfg.price_year})
    return pd.DataFrame(rows)
