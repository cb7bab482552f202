"""The finance lead's workbook: an editable Inputs sheet, one sheet per view, and reading it back.

:func:`write_workbook` writes

* **Inputs**: every assumption, in titled blocks (Settings, Years, Partners,
  Rules, Effects, Benefit map, Unit costs, Sensitivity; or Benefits when the
  benefits were given as numbers). Cells meant for editing are shaded.
* one sheet per view: Summary, Funding, Options (by partner and rule), Cash
  flows, Probabilities, Break-even, Stability, Sensitivity, Coalitions, and
  Notes (each rule in plain English, the definitions). Pounds in a
  ``£#,##0`` format, probabilities and fractions as percentages, headers
  frozen, columns sized to their contents.

:func:`read_workbook` reads an edited workbook's Inputs sheet back into a
:class:`~evalkit.sustain.model.Scenario`; every problem is reported with the
sheet, the cell and what is wrong.

Block layout (for people editing by hand): a block starts with its title in
column A (e.g. ``Settings``), its column headers on the next row, then one
row per item until the first empty row. Add rows inside a block (a partner,
a year, a rule) without leaving a gap; keep titles and headers as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..money import Adjustments, _financial_year_labels, normalise_price_year

__all__ = ["write_workbook", "read_workbook", "INPUT_BLOCKS"]

GBP = '"£"#,##0;[Red]-"£"#,##0'
PCT = "0.0%"
TITLE = "evalkit sustainability model: inputs"

#: Blocks of the Inputs sheet, in order.
INPUT_BLOCKS = ("Settings", "Years", "Partners", "Rules", "Effects", "Benefit map",
                "Unit costs", "Benefits", "Sensitivity")

_SETTINGS_HELP = {
    "name": "Name of the scenario (titles only).",
    "first_year": "Financial year of year 0, e.g. 2025-26.",
    "horizon_years": "Years modelled (year 0 first). The Years block must list them all.",
    "price_year": "Financial year the pounds are expressed in (unit costs are uprated to it).",
    "running_cost": "Running cost in year 0 (£ a year). Blank cells in the Years block grow "
                    "from it by cost_inflation.",
    "cost_inflation": "Yearly growth of running costs, and of partners' stand-alone and "
                      "variable costs (0.02 = 2%).",
    "optimism_bias_costs": "Uplift on costs for optimism bias (0.1 = +10%).",
    "grant_as": "'amounts': the Years block's grant is pounds; 'shares': a share of each "
                "year's cost (1 = all of it).",
    "discount": "'Green Book' (3.5% declining schedule), 'health' (1.5%), or a flat rate "
                "such as 3.5%.",
    "benefits_counted": "'cashable': only savings that release cash count against a "
                        "partner's contribution; 'fiscal': all fiscal benefits count.",
    "shares_follow": "'each_draw': beneficiary pays and SCRB are recomputed with each Monte "
                     "Carlo draw's benefits; 'expected': fixed at the expected benefits.",
    "draws": "Monte Carlo draws of the effect estimates.",
    "seed": "Random seed: the same seed gives the same results.",
    "driver": "Partners column used by 'proportional' and 'capped' without a column.",
    "value_type": "Benefits valued: fiscal (budgets), economic or social (never added).",
    "periods_per_year": "Periods in a year for the effect estimates (12 for monthly).",
    "benefit_years": "How many years each year's cohort keeps benefiting.",
    "deadweight": "Share of the outcome that would have happened anyway (0-1).",
    "attribution": "Share of the change due to this pilot (0-1).",
    "drop_off": "Yearly decay of a cohort's benefit after its first year (0-1).",
    "ramp_up": "Share of the full benefit reached in years 0, 1, ... (comma-separated; "
               "blank = full from year 0).",
    "optimism_bias_benefits": "Haircut on benefits for optimism bias (0-1).",
}
_SENS_HELP = {
    "effect": "Effect size, x the estimate (blank: the 10th-90th percentile of the draws).",
    "unit_costs": "Unit costs, x as assumed.",
    "running_cost": "Running cost, x as assumed.",
    "discount_rate": "Flat discount rate a year.",
    "drop_off": "Benefit drop-off a year.",
    "cashable_share": "Cashable shares, x as assumed (at most 100%).",
}
_CHOICES = {"grant_as": ("amounts", "shares"), "benefits_counted": ("cashable", "fiscal"),
            "shares_follow": ("each_draw", "expected")}


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
def _inputs(sc: Any, result: Any) -> list[tuple[str, pd.DataFrame, str]]:
    """The Inputs sheet's blocks: (title, table, note)."""
    from ..benefits import BenefitsResult
    from .model import BenefitModel, Sensitivity, _partner_frame

    pdf, names = _partner_frame(sc)
    horizon = sc.horizon if sc.horizon is not None else (
        len(result.years) if result is not None else None)
    if horizon is None:
        raise InputError("write_workbook: the scenario needs a horizon.")
    bm = sc.benefits
    if isinstance(bm, BenefitsResult):
        bm = BenefitModel.from_result(bm)
    model = bm if isinstance(bm, BenefitModel) else None
    scalar = np.ndim(sc.running_cost) == 0
    disc = sc.discount
    disc_txt = "Green Book" if disc == "standard" else ("health" if disc == "health"
                                                         else float(disc))
    settings: list[tuple[str, Any]] = [
        ("name", sc.name), ("first_year", sc.first_year or ""),
        ("horizon_years", int(horizon)),
        ("price_year", (model.price_year if model is not None else sc.price_year) or ""),
        ("running_cost", float(sc.running_cost) if scalar else None),
        ("cost_inflation", float(sc.cost_inflation)),
        ("optimism_bias_costs", float(sc.optimism_bias_costs)),
        ("grant_as", sc.grant_as), ("discount", disc_txt), ("benefits_counted", sc.count),
        ("shares_follow", sc.shares_follow), ("draws", int(sc.draws)),
        ("seed", "" if sc.seed is None else int(sc.seed)), ("driver", sc.driver or ""),
    ]
    if model is not None:
        adj = model.adjustments
        settings += [
            ("value_type", model.value_type), ("periods_per_year", float(model.periods_per_year)),
            ("benefit_years", int(model.benefit_years)), ("deadweight", adj.deadweight),
            ("attribution", adj.attribution), ("drop_off", adj.drop_off),
            ("ramp_up", ", ".join(f"{x:g}" for x in adj.ramp_up)),
            ("optimism_bias_benefits", adj.benefit_haircut),
        ]
    blocks = [("Settings", pd.DataFrame({
        "setting": [k for k, _ in settings], "value": [v for _, v in settings],
        "meaning": [_SETTINGS_HELP[k] for k, _ in settings]}),
        "Edit the values; keep the setting names.")]
    yrs = pd.DataFrame({"year": np.arange(horizon)})
    if result is not None:
        labels = result.financial_years
    elif sc.first_year:
        labels = _financial_year_labels(sc.first_year, horizon)
    else:
        labels = [f"Year {t}" for t in range(horizon)]
    yrs["financial_year"] = labels
    if scalar:
        yrs["running_cost"] = None
    else:
        rc = [float(x) for x in sc.running_cost][:horizon]
        yrs["running_cost"] = rc + [None] * (horizon - len(rc))
    yrs["transition_cost"] = _padded(sc.transition_costs, horizon)
    yrs["grant"] = _padded(sc.grant, horizon)
    if model is not None:
        yrs["people_starting"] = model._people(horizon)
    blocks.append(("Years", yrs, "Blank running cost = year 0's figure grown by cost_inflation."))
    part = pdf.drop(columns=["_row"]).reset_index(drop=True)
    for c in part.columns:
        if isinstance(part[c].dtype, pd.CategoricalDtype):
            part[c] = part[c].astype(object)
    blocks.append(("Partners", part, "One row per partner; numeric columns drive the splits."))
    from .model import RULE_TEXT, _rules

    rules = _rules(sc, pdf)
    blocks.append(("Rules", pd.DataFrame({
        "rule": [r.given for r in rules], "label": [r.label for r in rules],
        "in plain English": [RULE_TEXT.get(r.name, "") for r in rules]}),
        "One rule per row, as in evalkit.split (equal, proportional:COLUMN, shapley...)."))
    if model is not None:
        blocks.append(("Effects", model.effects_table(),
                       "Change in events per treated person per period, with its standard "
                       "error."))
        bmap = model.benefit_map.copy()
        keep = [c for c in ("measure", "item", "partner", "units_per_outcome", "cashable_share",
                            "value_type", "direction", "discount_schedule") if c in bmap.columns]
        blocks.append(("Benefit map", bmap[keep].reset_index(drop=True),
                       "Which unit cost prices each outcome, and whose budget gains."))
        uc = _unit_costs_used(model)
        blocks.append(("Unit costs", uc, "Unit costs the benefit map uses, in their own price "
                       "year (uprated to the price year by the GDP deflator)."))
    else:
        arr = sc.benefits
        if isinstance(arr, pd.DataFrame):
            df = arr.set_index("partner") if "partner" in arr.columns else arr
            vals = df.reindex(names).fillna(0.0).to_numpy(dtype=float)
        else:
            vals = np.asarray(arr, dtype=float)
        b = pd.DataFrame(vals, columns=[f"year {t}" for t in range(vals.shape[1])])
        b.insert(0, "partner", names)
        blocks.append(("Benefits", b, "Counted benefits by partner and year (£). Monte Carlo "
                       "draws given with the scenario are not stored in the workbook."))
    sens = sc.sensitivity if isinstance(sc.sensitivity, Sensitivity) else \
        Sensitivity.from_mapping(sc.sensitivity)
    rows = []
    for k, v in sens.to_dict().items():
        rows.append({"input": k, "low": None if v is None else v[0],
                     "high": None if v is None else v[1], "meaning": _SENS_HELP[k]})
    blocks.append(("Sensitivity", pd.DataFrame(rows), "Low and high values for the tornado."))
    return blocks


def _padded(v: Sequence[float], horizon: int) -> list[float]:
    vals = [float(x) for x in (v or [])][:horizon]
    return vals + [0.0] * (horizon - len(vals))


def _unit_costs_used(model: Any) -> pd.DataFrame:
    from ..money import _item_key, load_unit_costs

    uc = model.unit_costs if model.unit_costs is not None else load_unit_costs()
    items = {_item_key(i) for i in model.benefit_map["item"].dropna()}
    sel = uc[uc["item"].map(_item_key).isin(items)]
    cols = [c for c in ("item", "unit", "cost_gbp", "price_year", "partner", "cashable_share",
                        "source", "value_type") if c in sel.columns]
    out = sel[cols].reset_index(drop=True).copy()
    for c in out.columns:
        if out[c].dtype == object or isinstance(out[c].dtype, pd.StringDtype):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def _style_header(cells: Any) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    fill = PatternFill("solid", fgColor="DDE7F0")
    for c in cells:
        c.font = Font(bold=True)
        c.fill = fill
        c.alignment = Alignment(wrap_text=True, vertical="top")


def _value(v: Any) -> Any:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (int, str)):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _money_col(name: str) -> bool:
    n = name.lower()
    if n in ("budget", "cap"):
        return True
    return any(h in n for h in ("cost", "grant", "benefit", "gap", "contribution", "npv", "net",
                                "surplus", "excess", "pv_", "optimism_bias"))


def _write_inputs(wb: Any, blocks: list[tuple[str, pd.DataFrame, str]]) -> None:
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    ws = wb.create_sheet("Inputs")
    edit = PatternFill("solid", fgColor="FFF7D6")
    ws["A1"] = TITLE
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = ("Edit the shaded cells, then re-run: evalkit sustain --from-xlsx THIS_FILE.xlsx "
                "[--xlsx new.xlsx]. Keep block titles and column headers; add rows inside a "
                "block without leaving an empty row.")
    row = 4
    widths: dict[int, int] = {}
    for title, df, note in blocks:
        ws.cell(row=row, column=1, value=title).font = Font(bold=True, size=12)
        ws.cell(row=row, column=2, value=note).font = Font(italic=True, color="595959")
        row += 1
        for j, col in enumerate(df.columns, start=1):
            ws.cell(row=row, column=j, value=str(col))
            widths[j] = max(widths.get(j, 8), len(str(col)) + 2)
        _style_header(ws[row][:len(df.columns)])
        row += 1
        for rec in df.itertuples(index=False):
            for j, (col, v) in enumerate(zip(df.columns, rec), start=1):
                cell = ws.cell(row=row, column=j, value=_value(v))
                read_only = col in ("meaning", "label", "in plain English", "financial_year") \
                    or (title == "Settings" and col == "setting") \
                    or (title == "Sensitivity" and col == "input") \
                    or (title == "Years" and col == "year")
                if not read_only:
                    cell.fill = edit
                if isinstance(cell.value, float):
                    if _money_col(str(col)) or (title == "Settings" and rec[0] in (
                            "running_cost",)) or col in ("cost_gbp",):
                        cell.number_format = GBP
                if title == "Settings" and col == "value" and rec[0] in _CHOICES:
                    dv = DataValidation(type="list", formula1='"' + ",".join(_CHOICES[rec[0]])
                                        + '"', allow_blank=False)
                    ws.add_data_validation(dv)
                    dv.add(cell)
                text = "" if cell.value is None else (f"{cell.value:,.0f}" if isinstance(
                    cell.value, float) and abs(cell.value) >= 1000 else str(cell.value))
                cap = 60 if col in ("meaning", "in plain English", "source") else 40
                widths[j] = min(cap, max(widths.get(j, 8), len(text) + 2))
            row += 1
        row += 1
    from openpyxl.utils import get_column_letter

    for j, w in widths.items():
        ws.column_dimensions[get_column_letter(j)].width = w


_DISPLAY = {
    "pv_contribution": "PV contribution (£)", "share_of_gap": "Share of the gap",
    "pv_benefit": "PV benefit (£)", "npv": "NPV (£)", "payback_year": "Payback (year)",
    "payback_financial_year": "Payback year", "p_breakeven": "P(benefits cover contribution)",
    "npv_p10": "NPV P10 (£)", "npv_p50": "NPV P50 (£)", "npv_p90": "NPV P90 (£)",
    "contribution": "Contribution (£)", "benefit": "Benefit (£)", "net": "Net (£)",
    "cumulative_net": "Cumulative net (£)", "discount_factor": "Discount factor",
    "discounted_net": "Discounted net (£)",
    "cumulative_discounted_net": "Cumulative discounted net (£)",
    "p_covers_year": "P(covers this year)", "p_covers_to_date": "P(covered to date)",
    "net_p10": "Net P10 (£)", "net_p50": "Net P50 (£)", "net_p90": "Net P90 (£)",
    "running_cost": "Running cost (£)", "transition_cost": "Transition cost (£)",
    "optimism_bias": "Optimism bias (£)", "total_cost": "Total cost (£)", "grant": "Grant (£)",
    "gap": "Funding gap (£)", "pv_gap": "PV of gap (£)",
    "fraction": "Fraction of the estimated effect", "binding_partner": "Last to break even",
    "method": "How solved", "in_core_expected": "In the core (expected values)",
    "worst_group": "Group most likely to walk away",
    "worst_excess": "It pays more than alone by (£)",
    "p_in_core": "P(in the core)", "first_to_leave": "Partner most likely to leave",
    "p_leave": "P(it pays more than its best alternative)", "npv_base": "NPV as assumed (£)",
    "npv_low": "NPV at low value (£)", "npv_high": "NPV at high value (£)", "swing": "Swing (£)",
    "low_value": "Low value", "high_value": "High value", "surplus": "Surplus (£)",
    "p_covers": "P(covers the gap)", "financial_year": "Financial year",
    "p_in_core_every_year": "P(in the core every year)",
    "first_year_out_expected": "First year outside the core (expected)",
    "first_to_walk_away_expected": "First to walk away (expected)",
    "first_year_leave_likely": "First year someone is likely (>50%) to leave",
    "first_likely_to_leave": "Who", "most_likely_to_leave": "Most likely to leave overall",
    "p_leave_max": "Its highest P(leave)", "effect_at_breakeven": "Effect at break-even",
}
_PCT_COLS = {"share_of_gap", "p_breakeven", "p_covers_year", "p_covers_to_date", "fraction",
             "p_in_core", "p_leave", "p_covers", "p_in_core_every_year", "p_leave_max"}
_GBP_COLS = {"pv_contribution", "pv_benefit", "npv", "npv_p10", "npv_p50", "npv_p90",
             "contribution", "benefit", "net", "cumulative_net", "discounted_net",
             "cumulative_discounted_net", "net_p10", "net_p50", "net_p90", "running_cost",
             "transition_cost", "optimism_bias", "total_cost", "grant", "gap", "pv_gap",
             "worst_excess", "npv_base", "npv_low", "npv_high", "swing", "surplus"}


def _write_view(wb: Any, name: str, df: pd.DataFrame) -> None:
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(name[:31])
    cols = list(df.columns)
    ws.append([_DISPLAY.get(c, c.replace("_", " ").capitalize()) for c in cols])
    for rec in df.itertuples(index=False):
        ws.append([_value(v) for v in rec])
    _style_header(ws[1])
    ws.freeze_panes = "C2" if len(cols) > 2 and cols[:2] in (["rule", "partner"],
                                                              ["rule", "year"]) else "B2"
    for j, c in enumerate(cols, start=1):
        letter = get_column_letter(j)
        fmt = GBP if c in _GBP_COLS else PCT if c in _PCT_COLS else (
            "0.0000" if c == "discount_factor" else None)
        if fmt:
            for cell in ws[letter][1:]:
                if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                    cell.number_format = fmt
        texts = [str(ws.cell(row=1, column=j).value)]
        for v in df[c].head(300).tolist():
            if isinstance(v, (float, np.floating)) and np.isfinite(v):
                texts.append(f"£{v:,.0f}" if fmt == GBP else f"{v:.1%}" if fmt == PCT
                             else f"{v:.4g}")
            else:
                texts.append(str(v))
        ws.column_dimensions[letter].width = min(60, max(9, max(len(t) for t in texts) + 2))


def _notes_frame(sc: Any, result: Any) -> pd.DataFrame:
    from .model import RULE_TEXT, _partner_frame, _rules

    pdf, _ = _partner_frame(sc)
    rows = []
    for r in _rules(sc, pdf):
        rows.append(("Rule", r.label, RULE_TEXT.get(r.name, "")))
    defs = [
        ("Funding gap", "Each year's cost (running cost, transition costs and any optimism-bias "
         "uplift) minus the central grant, never below zero: what the partners must find."),
        ("Contribution", "What a partner pays towards the gap under a rule."),
        ("Benefit", "The partner's counted benefit from the pilot (cashable savings, or all "
         "fiscal benefits: see Inputs > Settings > benefits_counted), in real pounds."),
        ("Net position", "Benefit minus contribution; cumulative = added up year by year."),
        ("NPV", "Net positions discounted to year 0 (HM Treasury Green Book rates) and added "
         "up."),
        ("Payback year", "The first year from which the partner's cumulative discounted net "
         "position stays at or above zero to the end of the horizon."),
        ("P(benefits cover contribution)", "Share of the Monte Carlo draws of the effect "
         "estimates in which the partner's NPV is zero or more."),
        ("Break-even fraction", "The smallest fraction of the estimated effect at which every "
         "partner's NPV is zero or more under the rule (above 100%: the effect would have to "
         "be larger than estimated)."),
        ("Stability (core)", "A split is in the core when no group of partners would pay less "
         "by going alone (its own alternatives, or doing without and giving up its benefit). "
         "'Partner most likely to leave' pays more than its own best alternative in the "
         "largest share of draws."),
        ("Minimum viable coalition", "The smallest groups of partners whose own benefits (PV) "
         "cover the whole funding gap (PV)."),
        ("Tornado", "How far each partner's NPV moves when one input goes from its low to its "
         "high value, the others as assumed."),
    ]
    rows += [("Definition", k, v) for k, v in defs]
    if result is not None:
        rows += [("Note", "", n) for n in result.notes]
        rows += [("Not computed", k, v) for k, v in result.unavailable.items()]
    return pd.DataFrame(rows, columns=["kind", "item", "explanation"])


def write_workbook(path: str | Path, scenario: Any, result: Any = None) -> Path:
    """Write the finance lead's workbook.

    Parameters
    ----------
    path : str or Path
        Ends in ``.xlsx``.
    scenario : Scenario
    result : SustainResult, optional
        Without it only the Inputs and Notes sheets are written.

    Returns
    -------
    Path
    """
    from openpyxl import Workbook

    path = Path(path)
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise InputError(f"path: the workbook must end in .xlsx (got {path.name}).")
    wb = Workbook()
    wb.remove(wb.active)
    if result is not None:
        head = pd.DataFrame(result._header(), columns=["item", "value"])
        _write_view(wb, "Summary", head)
    _write_inputs(wb, _inputs(scenario, result))
    if result is not None:
        fr = result.frames
        _write_view(wb, "Funding", fr["funding"])
        _write_view(wb, "Options", fr["options"])
        _write_view(wb, "Cash flows", fr["cashflows"])
        _write_view(wb, "Probabilities", fr["probabilities"])
        be = fr["breakeven"]
        _write_view(wb, "Break-even", be)
        if len(fr["breakeven_effects"]):
            _write_view(wb, "Break-even effects", fr["breakeven_effects"])
        _write_view(wb, "Stability", fr["stability"])
        _write_view(wb, "Stability by rule", fr["stability_rules"])
        if len(fr["tornado"]):
            _write_view(wb, "Sensitivity", fr["tornado"])
        _write_view(wb, "Coalitions", fr["coalitions"] if len(fr["coalitions"]) else
                    pd.DataFrame({"partners": ["no group's own benefits cover the gap"]}))
    _write_view(wb, "Notes", _notes_frame(scenario, result))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
class _Reader:
    def __init__(self, path: Path) -> None:
        from openpyxl import load_workbook

        self.path = path
        if not path.exists():
            raise InputError(f"{path}: workbook not found.")
        try:
            wb = load_workbook(path, data_only=True)
        except Exception as err:  # openpyxl raises several types for non-workbooks
            raise InputError(f"{path}: cannot read it as an Excel workbook ({err}).") from None
        if "Inputs" not in wb.sheetnames:
            raise InputError(f"{path}: no sheet named 'Inputs'. Use a workbook written by "
                             "'evalkit sustain --xlsx' (sheets: " + ", ".join(wb.sheetnames)
                             + ").")
        self.ws = wb["Inputs"]
        self.problems: list[str] = []
        self.blocks = self._find_blocks()

    def where(self, cell: Any, block: str, what: str) -> str:
        return f"{self.path.name}, sheet 'Inputs', cell {cell.coordinate} ({block}: {what})"

    def bad(self, cell: Any, block: str, what: str, msg: str) -> None:
        shown = "" if cell.value is None else f" (found {cell.value!r})"
        self.problems.append(f"{self.where(cell, block, what)}: {msg}{shown}.")

    def _find_blocks(self) -> dict[str, dict[str, Any]]:
        ws = self.ws
        titles: dict[str, int] = {}
        for r in range(1, ws.max_row + 1):
            v = ws.cell(row=r, column=1).value
            if isinstance(v, str) and v.strip() in INPUT_BLOCKS:
                if v.strip() in titles:
                    raise InputError(f"{self.path.name}, sheet 'Inputs', cell A{r}: the block "
                                     f"'{v.strip()}' appears twice (also at A{titles[v.strip()]});"
                                     " keep one.")
                titles[v.strip()] = r
        out: dict[str, dict[str, Any]] = {}
        starts = sorted(titles.values())
        for name, r in titles.items():
            hdr = r + 1
            cols = []
            for c in range(1, ws.max_column + 1):
                h = ws.cell(row=hdr, column=c).value
                if h is None or str(h).strip() == "":
                    break
                cols.append((str(h).strip(), c))
            rows = []
            rr = hdr + 1
            nxt = min([s for s in starts if s > r], default=ws.max_row + 1)
            while rr < nxt and rr <= ws.max_row:
                cells = [ws.cell(row=rr, column=c) for _, c in cols]
                if all(x.value is None or (isinstance(x.value, str) and not x.value.strip())
                       for x in cells):
                    break
                rows.append(dict(zip([h for h, _ in cols], cells)))
                rr += 1
            out[name] = {"row": r, "cols": [h for h, _ in cols], "rows": rows}
        return out

    def need(self, name: str) -> dict[str, Any]:
        if name not in self.blocks:
            raise InputError(f"{self.path.name}, sheet 'Inputs': the '{name}' block is missing "
                             "(its title must be in column A, as written by evalkit).")
        return self.blocks[name]

    def columns(self, name: str, required: Sequence[str]) -> None:
        b = self.need(name)
        miss = [c for c in required if c not in b["cols"]]
        if miss:
            raise InputError(f"{self.path.name}, sheet 'Inputs', row {b['row'] + 1} ({name} "
                             f"headers): missing column(s) {miss}; found {b['cols']}.")

    def number(self, cell: Any, block: str, what: str, *, blank: Any = "error",
               lo: float | None = None, hi: float | None = None, integer: bool = False
               ) -> Any:
        v = cell.value
        if v is None or (isinstance(v, str) and not v.strip()):
            if blank == "error":
                self.bad(cell, block, what, "a number is needed here")
                return None
            return blank
        x = _parse_number(v)
        if x is None:
            self.bad(cell, block, what, "expected a number (e.g. 1200000, £1,200,000, 2% or "
                     "0.02)")
            return None
        if integer and x != int(x):
            self.bad(cell, block, what, "expected a whole number")
            return None
        if lo is not None and x < lo:
            self.bad(cell, block, what, f"must be at least {lo:g}")
            return None
        if hi is not None and x > hi:
            self.bad(cell, block, what, f"must be at most {hi:g}")
            return None
        return int(x) if integer else x

    def text(self, cell: Any) -> str:
        v = cell.value
        return "" if v is None else str(v).strip()

    def table(self, name: str, numeric: Sequence[str] = (), blank_ok: Sequence[str] = ()
              ) -> pd.DataFrame:
        b = self.need(name)
        recs = []
        for r in b["rows"]:
            rec = {}
            for col, cell in r.items():
                if col in numeric:
                    rec[col] = self.number(cell, name, col,
                                           blank=np.nan if col in blank_ok else "error")
                else:
                    rec[col] = None if cell.value is None else (
                        cell.value.strip() if isinstance(cell.value, str) else cell.value)
            recs.append(rec)
        return pd.DataFrame(recs, columns=b["cols"])


def _parse_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(float(v)) else None
    t = str(v).strip().replace("£", "").replace(",", "").replace(" ", "")
    pct = t.endswith("%")
    if pct:
        t = t[:-1]
    mult = 1.0
    if t.lower().endswith("m"):
        mult, t = 1e6, t[:-1]
    elif t.lower().endswith("k"):
        mult, t = 1e3, t[:-1]
    try:
        x = float(t) * mult
    except ValueError:
        return None
    if not math.isfinite(x):
        return None
    return x / 100.0 if pct else x


def read_workbook(path: str | Path) -> Any:
    """Read an edited workbook's Inputs sheet back into a :class:`Scenario`.

    Raises
    ------
    InputError
        Listing every problem with the sheet, the cell, the block and setting
        it belongs to, and what is wrong.
    """
    from .model import BenefitModel, Scenario, Sensitivity

    rd = _Reader(Path(path))
    sb = rd.need("Settings")
    rd.columns("Settings", ["setting", "value"])
    cells: dict[str, Any] = {}
    for r in sb["rows"]:
        key = rd.text(r["setting"])
        if key in cells:
            rd.bad(r["setting"], "Settings", key, "this setting is listed twice")
        elif key not in _SETTINGS_HELP:
            rd.bad(r["setting"], "Settings", key or "setting", "unknown setting; the settings "
                   "are " + ", ".join(_SETTINGS_HELP))
        cells[key] = r["value"]

    def setting(key: str, **kw: Any) -> Any:
        if key not in cells:
            if kw.get("blank", "error") == "error":
                rd.problems.append(f"{rd.path.name}, sheet 'Inputs', Settings block (row "
                                   f"{sb['row']}): the setting '{key}' is missing.")
                return None
            return kw["blank"]
        return rd.number(cells[key], "Settings", key, **kw)

    def choice(key: str, options: Sequence[str], default: str) -> str:
        if key not in cells:
            return default
        v = rd.text(cells[key]).lower().replace(" ", "_")
        if v not in options:
            rd.bad(cells[key], "Settings", key, "expected one of " + ", ".join(options))
            return default
        return v

    name = rd.text(cells["name"]) if "name" in cells else "Sustainability scenario"
    first = rd.text(cells["first_year"]) if "first_year" in cells else ""
    if first and normalise_price_year(first) is None:
        rd.bad(cells["first_year"], "Settings", "first_year",
               "expected a financial year such as 2025-26")
    horizon = setting("horizon_years", lo=1, hi=100, integer=True)
    running0 = setting("running_cost", blank=None, lo=0)
    infl = setting("cost_inflation", blank=0.0, lo=-0.5, hi=1.0)
    ob = setting("optimism_bias_costs", blank=0.0, lo=0.0, hi=10.0)
    grant_as = choice("grant_as", _CHOICES["grant_as"], "amounts")
    count = choice("benefits_counted", _CHOICES["benefits_counted"], "cashable")
    follow = choice("shares_follow", _CHOICES["shares_follow"], "each_draw")
    draws = setting("draws", blank=2000, lo=1, integer=True)
    seed = setting("seed", blank=None, lo=0, integer=True)
    driver = rd.text(cells["driver"]) if "driver" in cells else ""
    discount: Any = "standard"
    if "discount" in cells:
        txt = rd.text(cells["discount"]).lower()
        if txt in ("", "green book", "green_book", "standard", "stpr"):
            discount = "standard"
        elif txt in ("health", "qaly"):
            discount = "health"
        else:
            x = _parse_number(cells["discount"].value)
            if x is None or not 0 <= x < 1:
                rd.bad(cells["discount"], "Settings", "discount", "expected 'Green Book', "
                       "'health' or a flat rate between 0% and 100% (e.g. 3.5%)")
            else:
                discount = x

    # ---- years
    rd.columns("Years", ["year", "running_cost", "transition_cost", "grant"])
    yb = rd.need("Years")
    years = yb["rows"]
    if horizon is not None and len(years) != horizon:
        rd.problems.append(f"{rd.path.name}, sheet 'Inputs', Years block (row {yb['row']}): "
                           f"{len(years)} year rows but horizon_years is {horizon}; list "
                           "every year once.")
    running: list[float | None] = []
    trans, grant, people = [], [], []
    for i, r in enumerate(years):
        y = rd.number(r["year"], "Years", "year", integer=True)
        if y is not None and y != i:
            rd.bad(r["year"], "Years", "year", f"years must run 0, 1, 2... in order; expected {i}")
        running.append(rd.number(r["running_cost"], "Years", f"running_cost, year {i}",
                                 blank=None, lo=0))
        trans.append(rd.number(r["transition_cost"], "Years", f"transition_cost, year {i}",
                               blank=0.0, lo=0))
        g = rd.number(r["grant"], "Years", f"grant, year {i}", blank=0.0, lo=0)
        if grant_as == "shares" and g is not None and g > 1:
            rd.bad(r["grant"], "Years", f"grant, year {i}", "with grant_as = shares the grant "
                   "is a share of the year's cost between 0 and 1 (e.g. 50% or 0.5)")
        grant.append(g)
        if "people_starting" in r:
            people.append(rd.number(r["people_starting"], "Years", f"people_starting, year {i}",
                                    blank=0.0, lo=0))
    if all(v is None for v in running):
        if running0 is None and "running_cost" in cells:
            rd.bad(cells["running_cost"], "Settings", "running_cost", "give year 0's running "
                   "cost here or every year's in the Years block")
        running_cost: Any = running0
    else:
        vec: list[float] = []
        for i, v in enumerate(running):
            if v is None:
                prev = vec[-1] * (1 + (infl or 0.0)) if vec else running0
                if prev is None:
                    rd.bad(years[i]["running_cost"], "Years", f"running_cost, year {i}",
                           "blank, and there is no earlier figure to grow from")
                    prev = 0.0
                v = prev
            vec.append(float(v))
        running_cost = vec

    # ---- partners and rules
    rd.columns("Partners", ["partner"])
    pb = rd.need("Partners")
    numeric = [c for c in pb["cols"] if c not in ("partner", "kind")]
    partners = rd.table("Partners", numeric=numeric, blank_ok=numeric)
    for r in pb["rows"]:
        if not rd.text(r["partner"]):
            rd.bad(r["partner"], "Partners", "partner", "the partner name is empty")
    rd.columns("Rules", ["rule"])
    rules = [rd.text(r["rule"]) for r in rd.need("Rules")["rows"] if rd.text(r["rule"])]

    # ---- benefits
    bm: Any
    if "Effects" in rd.blocks:
        rd.columns("Effects", ["measure", "estimate", "se"])
        eff = rd.table("Effects", numeric=["estimate", "se"], blank_ok=["se"])
        eff["se"] = eff["se"].fillna(0.0)
        for r, se in zip(rd.need("Effects")["rows"], eff["se"]):
            if se is not None and se == se and se < 0:
                rd.bad(r["se"], "Effects", "se", "a standard error cannot be negative")
        rd.columns("Benefit map", ["measure", "item", "partner"])
        bmap = rd.table("Benefit map", numeric=["units_per_outcome", "cashable_share"],
                        blank_ok=["units_per_outcome", "cashable_share"])
        rd.columns("Unit costs", ["item", "unit", "cost_gbp", "price_year", "partner",
                                  "cashable_share", "source"])
        uc = rd.table("Unit costs", numeric=["cost_gbp", "cashable_share"])
        py = rd.text(cells["price_year"]) if "price_year" in cells else ""
        if not py or normalise_price_year(py) is None:
            if "price_year" in cells:
                rd.bad(cells["price_year"], "Settings", "price_year",
                       "expected a financial year such as 2024-25")
            else:
                rd.problems.append(f"{rd.path.name}, sheet 'Inputs', Settings block: the "
                                   "setting 'price_year' is missing.")
        ramp_txt = rd.text(cells["ramp_up"]) if "ramp_up" in cells else ""
        ramp: list[float] = []
        for part in [p for p in ramp_txt.replace(";", ",").split(",") if p.strip()]:
            x = _parse_number(part)
            if x is None or not 0 <= x <= 1:
                rd.bad(cells["ramp_up"], "Settings", "ramp_up", "expected shares between 0 and "
                       "1 separated by commas, e.g. 0.5, 0.8")
                break
            ramp.append(x)
        adj_kw = {
            "deadweight": setting("deadweight", blank=0.0, lo=0, hi=1),
            "attribution": setting("attribution", blank=1.0, lo=0, hi=1),
            "drop_off": setting("drop_off", blank=0.0, lo=0, hi=1),
        }
        obb = setting("optimism_bias_benefits", blank=0.0, lo=0, hi=1)
        periods = setting("periods_per_year", blank=12.0, lo=1e-9)
        byears = setting("benefit_years", blank=1, lo=1, integer=True)
        vt = rd.text(cells["value_type"]).lower() if "value_type" in cells else "fiscal"
        if vt not in ("fiscal", "economic", "social"):
            rd.bad(cells["value_type"], "Settings", "value_type",
                   "expected fiscal, economic or social")
        bm = None
        if not rd.problems:
            adj = Adjustments(optimism_bias_benefits=obb or None, ramp_up=tuple(ramp),
                              **adj_kw)
            bm = BenefitModel(effects=eff, benefit_map=bmap, people_per_year=people or [0.0],
                              price_year=py, unit_costs=uc, periods_per_year=periods,
                              benefit_years=byears, adjustments=adj, value_type=vt)
    elif "Benefits" in rd.blocks:
        b = rd.need("Benefits")
        ycols = [c for c in b["cols"] if c != "partner"]
        tab = rd.table("Benefits", numeric=ycols, blank_ok=ycols)
        bm = tab.set_index("partner")[ycols].fillna(0.0) if not rd.problems else None
    else:
        raise InputError(f"{rd.path.name}, sheet 'Inputs': no 'Effects' block (effects, "
                         "benefit map and unit costs) and no 'Benefits' block; the workbook "
                         "needs one of them.")

    # ---- sensitivity
    sens_kw: dict[str, Any] = {}
    if "Sensitivity" in rd.blocks:
        rd.columns("Sensitivity", ["input", "low", "high"])
        for r in rd.need("Sensitivity")["rows"]:
            key = rd.text(r["input"])
            if key not in _SENS_HELP:
                rd.bad(r["input"], "Sensitivity", key or "input", "unknown input; the inputs are "
                       + ", ".join(_SENS_HELP))
                continue
            lo = rd.number(r["low"], "Sensitivity", f"{key} low", blank=None, lo=0)
            hi = rd.number(r["high"], "Sensitivity", f"{key} high", blank=None, lo=0)
            if (lo is None) != (hi is None) or (lo is None and key != "effect"):
                if key != "effect" or (lo is None) != (hi is None):
                    rd.bad(r["low"] if lo is None else r["high"], "Sensitivity", key,
                           "give both a low and a high value")
                continue
            sens_kw[key] = None if lo is None else (lo, hi)
    if rd.problems:
        raise InputError(f"{len(rd.problems)} problem(s) in the workbook's Inputs sheet:\n"
                         + "\n".join(f"  - {p}" for p in rd.problems))
    try:
        sens = Sensitivity.from_mapping(sens_kw)
    except InputError as err:
        raise InputError(f"{rd.path.name}, sheet 'Inputs', Sensitivity block: {err}") from None
    return Scenario(
        partners=partners, benefits=bm, running_cost=running_cost, horizon=horizon,
        first_year=first or None, cost_inflation=infl, transition_costs=trans, grant=grant,
        grant_as=grant_as, optimism_bias_costs=ob, discount=discount, rules=rules,
        driver=driver or None, count=count, draws=draws, seed=seed, sensitivity=sens,
        shares_follow=follow, name=name,
        price_year=(rd.text(cells["price_year"]) or None) if "price_year" in cells else None)
