"""Cost-split options side by side, with an honest account of who could refuse which.

:func:`split_options` takes a partners table (``partner`` plus numeric driver
columns, see ``partners`` in :mod:`evalkit.schema`), the cost to share (one
year or several) and optionally a game (a coalition table, or the default
service model) and returns a :class:`SplitOptions`: a partner x rule table of
pounds and shares, a property table (budget balance, individual rationality,
core membership with the most-violated group) and a plain-English line per
partner, with ``summary()``, ``plot()`` and ``to_excel()``.

Rule names (``rules=[...]`` or ``--rules`` on the command line)
----------------------------------------------------------------
========================== ==========================================================
``equal``                   everyone pays the same
``proportional:COL``        in proportion to column COL (budget, caseload, ...)
``fixed:COL``               negotiated shares in COL (percentages or fractions)
``base_variable:COL:B``     base B split equally (B a share such as ``0.3`` or
                            ``30%``, or a column of base pounds), the rest by COL
``capped:COL[:CAPCOL]``     proportional to COL, nobody pays more than CAPCOL
                            (default ``cap``; blank = no cap); excess redistributed
                            pro rata among the uncapped
``beneficiary_pays[:COL]``  in proportion to benefit (default column ``benefit``)
``airport[:COL]``           Littlechild-Owen: levels of need in COL (default
                            ``standalone_cost``), or the airport game given
``shapley``                 Shapley value of the game
``nucleolus``               nucleolus (restricted to imputations)
``prenucleolus``            prenucleolus
``least_core``              least core (its point is the prenucleolus; its value is
                            the least-core distance)
``weak_least_core``         Young et al. (1982) weak least core (per member)
``proportional_least_core`` Young et al. (1982) proportional least core
``scrb``                    separable costs, remaining benefits
``tau``                     tau value
========================== ==========================================================

Game-based rules compute each partner's share of the game's total ``c(N)``
and apply the shares to each year's cost.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import EvalkitError, InputError, Problem, ValidationError
from ..evaluate.result import Summary
from ..plotting import GREY, format_gbp, gbp_formatter, get_axes, palette
from . import rules as R
from . import solutions as S
from .games import MAX_DENSE_PLAYERS, Game, MissingCoalitionsError, ServiceModel
from .properties import core_check, individual_rationality, least_core_epsilon, partner_lines

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["RuleSpec", "SplitOptions", "parse_rule", "split_options", "GAME_RULES",
           "read_partners"]

GAME_RULES = ("shapley", "nucleolus", "prenucleolus", "least_core", "weak_least_core",
              "proportional_least_core", "scrb", "tau")
_SIMPLE = ("equal", "proportional", "fixed", "base_variable", "capped", "beneficiary_pays",
           "airport")
_ALIASES = {
    "fixed_shares": "fixed", "fixed_percentages": "fixed", "base_plus_variable": "base_variable",
    "capped_proportional": "capped", "beneficiary": "beneficiary_pays",
    "littlechild_owen": "airport", "shapley_value": "shapley", "tau_value": "tau",
    "proportional_to": "proportional",
}
#: Columns that are never offered as a default proportional driver.
_NOT_DRIVERS = {"variable_cost", "cap", "benefit"}
_HATCHES = ("", "//", "..", "xx")
_LABELS = {
    "equal": "Equal shares", "shapley": "Shapley value", "nucleolus": "Nucleolus",
    "prenucleolus": "Prenucleolus", "least_core": "Least core",
    "weak_least_core": "Weak least core", "proportional_least_core": "Proportional least core",
    "scrb": "SCRB", "tau": "Tau value",
}


@dataclass(frozen=True)
class RuleSpec:
    """One rule to compare.

    Attributes
    ----------
    name : str
        Canonical rule name (``equal``, ``proportional``, ``shapley``...).
    column : str or None
        The partners-table column the rule uses (driver, shares, levels...).
    param : str or None
        Second argument (base share or base column; cap column).
    explicit : bool
        Whether the user asked for it (errors in an explicitly requested rule
        are raised; a default rule that cannot be computed is listed as
        unavailable with the reason).
    """

    name: str
    column: str | None = None
    param: str | None = None
    explicit: bool = True

    @property
    def key(self) -> str:
        """The rule as written: ``proportional:budget``."""
        return ":".join(p for p in (self.name, self.column, self.param) if p)

    @property
    def label(self) -> str:
        """Display name for tables and charts."""
        col = (self.column or "").replace("_", " ")
        if self.name == "proportional":
            return f"Proportional to {col}"
        if self.name == "fixed":
            return f"Fixed shares ({col})"
        if self.name == "base_variable":
            base = self.param or ""
            frac = _as_fraction(base)
            b = f"{frac:.0%} equal" if frac is not None else f"base {base.replace('_', ' ')}"
            return f"{b} + {col}"
        if self.name == "capped":
            return f"{col.capitalize()}, capped"
        if self.name == "beneficiary_pays":
            return "Beneficiary pays" if self.column in (None, "benefit") else \
                f"Beneficiary pays ({col})"
        if self.name == "airport":
            return "Airport rule" if self.column in (None, "standalone_cost") else \
                f"Airport rule ({col})"
        return _LABELS.get(self.name, self.name)


def parse_rule(text: str | RuleSpec, *, explicit: bool = True) -> RuleSpec:
    """Read a rule written as ``name[:column[:param]]``.

    Examples
    --------
    >>> parse_rule("proportional:budget")
    RuleSpec(name='proportional', column='budget', param=None, explicit=True)
    >>> parse_rule("Base-variable:caseload:30%").label
    '30% equal + caseload'
    """
    if isinstance(text, RuleSpec):
        return text
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"rules: cannot read rule {text!r}; write e.g. 'equal', "
                         "'proportional:budget' or 'shapley'.")
    parts = [p.strip() for p in text.strip().split(":")]
    name = re.sub(r"[\s\-]+", "_", parts[0].lower())
    name = _ALIASES.get(name, name)
    if name not in _SIMPLE + GAME_RULES:
        raise InputError(f"rules: unknown rule '{parts[0]}'. Choose from: "
                         + ", ".join(_SIMPLE + GAME_RULES) + ".")
    col = parts[1] if len(parts) > 1 and parts[1] else None
    param = parts[2] if len(parts) > 2 and parts[2] else None
    if len(parts) > 3:
        raise InputError(f"rules: '{text}' has too many ':' parts.")
    if name in ("proportional", "fixed", "base_variable", "capped") and col is None:
        raise InputError(f"rules: '{name}' needs a column, e.g. '{name}:budget'"
                         + (":0.3" if name == "base_variable" else "") + ".")
    if name == "base_variable" and param is None:
        raise InputError("rules: 'base_variable' needs the base, e.g. 'base_variable:caseload:0.3'"
                         " (30% split equally, the rest by caseload) or a column of base pounds.")
    if name in GAME_RULES + ("equal",) and col is not None:
        raise InputError(f"rules: '{name}' takes no column (got '{text}').")
    if name == "capped" and param is None:
        param = "cap"
    return RuleSpec(name, col, param, explicit)


def _as_fraction(text: str) -> float | None:
    t = text.strip()
    try:
        if t.endswith("%"):
            return float(t[:-1]) / 100.0
        return float(t)
    except ValueError:
        return None


# ---------------------------------------------------------------- inputs
def read_partners(path: str | Path, sheet: str | int = 0) -> pd.DataFrame:
    """Read a partners table (CSV or XLSX)."""
    from ._io import read_any

    return read_any(path, sheet=sheet, table="partners")


def _partners(df: pd.DataFrame, partner: str, file: str | None) -> tuple[pd.DataFrame, list[str]]:
    if not isinstance(df, pd.DataFrame):
        raise InputError("partners: expected a pandas DataFrame (or a CSV/XLSX path).")
    if partner not in df.columns:
        raise InputError(f"partners{f' ({file})' if file else ''}: no '{partner}' column (found: "
                         f"{', '.join(map(str, df.columns))}). The partners table needs a "
                         f"'{partner}' column naming each partner.")
    if len(df) == 0:
        raise InputError("partners: the table has no rows.")
    rows = _rows(df)
    problems = []
    names = []
    seen: dict[str, int] = {}
    for r, v in zip(rows, df[partner].tolist()):
        name = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
        if not name:
            problems.append(Problem("partners", file, r, partner, None,
                                    "partner name is empty"))
        elif "+" in name or ";" in name:
            problems.append(Problem("partners", file, r, partner, name,
                                    "partner names must not contain '+' or ';' (they separate "
                                    "partners in coalition tables)"))
        elif name in seen:
            problems.append(Problem("partners", file, r, partner, name,
                                    f"partner listed twice (also on row {seen[name]})"))
        else:
            seen[name] = r
        names.append(name)
    if problems:
        raise ValidationError(problems)
    out = df.copy()
    out["_row"] = rows
    out.index = pd.Index(names, name="partner")
    return out, names


def _rows(df: pd.DataFrame) -> list[int]:
    if pd.api.types.is_integer_dtype(df.index):
        return [int(i) + 2 for i in df.index]
    return list(range(2, len(df) + 2))


def _numeric(df: pd.DataFrame, col: str, purpose: str, file: str | None, *,
             allow_blank: bool = False, allow_negative: bool = False) -> np.ndarray:
    if col not in df.columns:
        nums = [c for c in df.columns if c not in ("partner", "kind", "_row")
                and pd.api.types.is_numeric_dtype(df[c])]
        raise InputError(f"partners: no column '{col}' for {purpose}. Numeric columns "
                         f"available: {', '.join(map(str, nums)) or 'none'}.")
    raw = df[col]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        vals = pd.to_numeric(raw, errors="coerce")
    else:
        text = pd.Series([None if _blank(v) else str(v) for v in raw.tolist()], index=raw.index,
                         dtype=object)
        vals = pd.to_numeric(text.str.replace(r"[£,\s]", "", regex=True), errors="coerce")
    problems = []
    for r, p, orig, v in zip(df["_row"], df.index, raw.tolist(), vals.tolist()):
        if _blank(orig):
            if not allow_blank:
                problems.append(Problem("partners", file, r, col, None,
                                        f"{p}: a number is needed for {purpose} (use 0 if none)"))
            continue
        if v is None or not np.isfinite(v):
            problems.append(Problem("partners", file, r, col, orig,
                                    f"{p}: not a number ({purpose})"))
        elif v < 0 and not allow_negative:
            problems.append(Problem("partners", file, r, col, orig,
                                    f"{p}: must not be negative ({purpose}); drivers and costs "
                                    "are amounts of 0 or more"))
    if problems:
        raise ValidationError(problems)
    return vals.to_numpy(dtype=float)


def _blank(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _costs(cost: Any) -> tuple[list[str], np.ndarray]:
    if isinstance(cost, Mapping):
        labels = [str(k) for k in cost.keys()]
        vals = list(cost.values())
    elif isinstance(cost, pd.Series):
        labels = [str(k) for k in cost.index]
        vals = cost.tolist()
    elif np.ndim(cost) == 0:
        labels, vals = ["Year 1"], [cost]
    else:
        vals = list(cost)
        labels = [f"Year {i + 1}" for i in range(len(vals))]
    try:
        arr = np.asarray(vals, dtype=float)
    except (TypeError, ValueError) as err:
        raise InputError(f"cost: expected pounds (a number or one per year), got {cost!r}.") \
            from err
    if arr.size == 0:
        raise InputError("cost: no cost given.")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InputError(f"cost: each year's cost must be a non-negative number of pounds "
                         f"(got {vals}).")
    return labels, arr


# ---------------------------------------------------------------- result
@dataclass(repr=False)
class SplitOptions:
    """Cost-split options compared side by side.

    Attributes
    ----------
    partners : list of str
    years : list of str
        Labels of the years (one per cost).
    costs : ndarray
        The cost to share in each year.
    rules : list of RuleSpec
        The rules computed (in column order).
    payments : dict
        ``{year: DataFrame partner x rule label of pounds}``.
    properties : DataFrame
        One row per rule (assessed in the first year).
    lines : dict
        ``{rule label: [plain-English line per partner]}``.
    unavailable : dict
        ``{rule key: reason}`` for rules that could not be computed.
    game : Game or None
        The cost game used by game-based rules and the core check.
    least_core : float or None
        Least-core value of the game in pounds (``<= 0``: core non-empty).
    notes : list of str
    """

    partners: list[str]
    years: list[str]
    costs: np.ndarray
    rules: list[RuleSpec]
    payments: dict[str, pd.DataFrame]
    properties: pd.DataFrame
    lines: dict[str, list[str]]
    unavailable: dict[str, str] = field(default_factory=dict)
    game: Game | None = None
    least_core: float | None = None
    least_core_complete: bool = True
    standalone: np.ndarray | None = None
    benefit: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    inputs: pd.DataFrame | None = None

    # ------------------------------------------------------------ views
    @property
    def labels(self) -> list[str]:
        """Rule labels in column order."""
        return [r.label for r in self.rules]

    def _year(self, year: str | int | None) -> str:
        if year is None:
            return self.years[0]
        if isinstance(year, int) and not isinstance(year, bool) and str(year) not in self.years:
            return self.years[year]
        if str(year) not in self.years:
            raise InputError(f"year: unknown year {year!r}; years are {', '.join(self.years)}.")
        return str(year)

    def pounds(self, year: str | int | None = None, total: bool = False) -> pd.DataFrame:
        """Partner x rule table of pounds for one year (default the first).

        ``total=True`` adds a Total row.
        """
        df = self.payments[self._year(year)].copy()
        if total:
            df.loc["Total"] = df.sum(axis=0)
        return df

    def shares(self, year: str | int | None = None) -> pd.DataFrame:
        """Partner x rule table of shares of the year's cost (fractions)."""
        y = self._year(year)
        c = self.costs[self.years.index(y)]
        df = self.payments[y]
        return df / c if c else df * np.nan

    def allocation(self, rule: str, year: str | int | None = None) -> pd.Series:
        """Pounds per partner under one rule (by label or key)."""
        df = self.payments[self._year(year)]
        try:
            key = parse_rule(rule).key
        except InputError:
            key = None
        for r in self.rules:
            if rule in (r.label, r.key, r.name) or r.key == key:
                return df[r.label].rename(r.label)
        raise InputError(f"rule: {rule!r} is not among the options ({', '.join(self.labels)}).")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: year, rule, rule_key, partner, pounds, share."""
        out = []
        for y, c in zip(self.years, self.costs):
            df = self.payments[y]
            for r in self.rules:
                for p in self.partners:
                    v = float(df.loc[p, r.label])
                    out.append({"year": y, "rule": r.label, "rule_key": r.key, "partner": p,
                                "pounds": v, "share": v / c if c else np.nan})
        return pd.DataFrame(out)

    def property_table(self, display: bool = True, compact: bool = False) -> pd.DataFrame:
        """The property table.

        ``display=False`` gives the raw columns (booleans, pounds); ``display=True``
        readable text; ``compact=True`` short text for a terminal.
        """
        if not display:
            return self.properties.copy()
        p = self.properties
        out = pd.DataFrame(index=p.index)
        out["Budget balanced"] = [_yn(v) for v in p["budget_balanced"]]
        if compact:
            out["Worse off than alternative"] = [
                "not assessed" if ok is None else ("none" if ok else txt)
                for ok, txt in zip(p["individually_rational"], p["ir_short"])]
        else:
            out["Partners worse off than alone"] = [
                "not assessed" if ok is None else ("none" if ok else txt)
                for ok, txt in zip(p["individually_rational"], p["ir_breaches"])]
        out["In the core"] = [note if ok is None else _core_text(ok, chk, tot)
                              for ok, chk, tot, note in zip(p["in_core"], p["groups_checked"],
                                                            p["groups_total"], p["core_note"])]
        out["Most-violated group"] = [
            "" if ok is None or ok else (f"{g} (+{format_gbp(v)})" if compact else
                                         f"{g} pays {format_gbp(v)} more than alone")
            for ok, g, v in zip(p["in_core"], p["most_violated_group"], p["violation"])]
        return out

    # ---------------------------------------------------------- summary
    def _header(self) -> list[tuple[str, str]]:
        h = [("Partners", str(len(self.partners))),
             ("Cost to share", format_gbp(self.costs[0]) + (
                 f" ({self.years[0]})" if len(self.years) > 1 else ""))]
        if len(self.years) > 1:
            h.append(("Years", f"{len(self.years)}: {format_gbp(self.costs.sum())} in all"))
        h.append(("Rules compared", str(len(self.rules))))
        if self.game is not None:
            h.append(("Game", self.game.name or self.game.kind))
            if self.least_core is not None:
                lc = self.least_core
                part = "" if self.least_core_complete else " (given groups only)"
                if lc <= 1e-7 * max(1.0, abs(self.game.grand)):
                    h.append(("Core", f"non-empty{part}"))
                    if lc < 0:
                        h.append(("Stability margin", format_gbp(-lc)))
                else:
                    h.append(("Core", f"EMPTY{part}; least-core distance {format_gbp(lc)}"))
            elif self.game.n > MAX_DENSE_PLAYERS:
                h.append(("Core", f"not assessed (> {MAX_DENSE_PLAYERS} partners)"))
        else:
            h.append(("Game", "none (core not assessed)"))
        return h

    def summary(self) -> Summary:
        """Text in a terminal, HTML in a notebook: pounds, properties, notes."""
        pounds = self.pounds().T
        pounds["Total"] = pounds.sum(axis=1)
        pounds = pounds.map(format_gbp)
        pounds.index.name = "rule"
        tabs = [("Pounds a year by rule (columns: partners)"
                 + (f", {self.years[0]}" if len(self.years) > 1 else ""), pounds),
                ("Properties", self.property_table(compact=True))]
        notes = list(self.notes)
        if self.game is not None and self.least_core is not None and \
                self.least_core > 1e-7 * max(1.0, abs(self.game.grand)):
            notes.insert(0, f"The core is empty: whatever the split, some group of partners "
                            f"would pay at least {format_gbp(self.least_core)} more than it "
                            "would on its own (the least-core distance).")
        if self.game is not None and self.least_core is not None and self.least_core < 0:
            notes.insert(0, f"The core is non-empty: the nucleolus leaves every group of "
                            f"partners at least {format_gbp(-self.least_core)} a year better off "
                            "than it would be on its own (the stability margin, minus the "
                            "least-core value).")
        for key, why in self.unavailable.items():
            notes.append(f"Not computed - {key}: {why}")
        return Summary("Cost-split options", self._header(), tabs, notes)

    def __repr__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        s = self.summary()._repr_html_()
        lines = "".join(
            f"<h5>{html.escape(lab)}</h5><ul>" + "".join(
                f"<li>{html.escape(t)}</li>" for t in ls) + "</ul>"
            for lab, ls in self.lines.items())
        return s + "<details><summary>Partner by partner</summary>" + lines + "</details>"

    # ------------------------------------------------------------- plot
    def plot(self, ax: Axes | None = None, kind: str = "grouped",
             year: str | int | None = None, **kwargs: Any) -> Axes:
        """Compare rules: grouped bars (partners x rules) or stacked bars (one per rule).

        In the grouped chart black ticks mark each partner's stand-alone cost
        when known.
        """
        if kind not in ("grouped", "stacked"):
            raise InputError(f"kind: expected 'grouped' or 'stacked', got {kind!r}.")
        df = self.pounds(year)
        figsize = (max(7.0, 0.9 * len(self.partners) * max(1, len(self.rules)) ** 0.5 + 3),
                   4.5)
        ax = get_axes(ax, figsize=figsize)
        if kind == "grouped":
            k = len(df.columns)
            width = 0.8 / max(k, 1)
            xs = np.arange(len(df.index))
            for j, (lab, col) in enumerate(zip(df.columns, palette(k))):
                ax.bar(xs - 0.4 + width * (j + 0.5), df[lab].to_numpy(), width, label=lab,
                       color=col, hatch=_HATCHES[(j // 8) % len(_HATCHES)],
                       edgecolor="white", linewidth=0.3, **kwargs)
            if self.standalone is not None and np.any(np.isfinite(self.standalone)):
                ok = np.isfinite(self.standalone)
                ax.hlines(self.standalone[ok], xs[ok] - 0.42, xs[ok] + 0.42, colors="black",
                          linewidths=1.5, linestyles="--", label="Going alone", zorder=3)
            ax.set_xticks(xs)
            ax.set_xticklabels(df.index, rotation=30 if len(df.index) > 4 else 0,
                               ha="right" if len(df.index) > 4 else "center")
            ax.set_xlabel("Partner")
        else:
            xs = np.arange(len(df.columns))
            bottom = np.zeros(len(df.columns))
            for j, (p, col) in enumerate(zip(df.index, palette(len(df.index)))):
                vals = df.loc[p].to_numpy()
                ax.bar(xs, vals, 0.7, bottom=bottom, label=p, color=col,
                       hatch=_HATCHES[(j // 8) % len(_HATCHES)], edgecolor="white",
                       linewidth=0.3, **kwargs)
                bottom += vals
            ax.set_xticks(xs)
            ax.set_xticklabels(df.columns, rotation=30, ha="right")
            ax.set_xlabel("Rule")
        ax.axhline(0, color=GREY, linewidth=0.8)
        ax.yaxis.set_major_formatter(gbp_formatter())
        y = self._year(year)
        ax.set_ylabel("Pays a year (£)")
        ax.set_title(f"Cost-split options: {format_gbp(self.costs[self.years.index(y)])}"
                     + (f" ({y})" if len(self.years) > 1 else ""))
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return ax

    # ------------------------------------------------------------ Excel
    def to_excel(self, path: str | Path) -> Path:
        """Write a workbook with one sheet per view (pounds, shares, properties, lines...).

        Pounds use a ``£#,##0`` format and shares ``0.0%``; headers are frozen
        and column widths fitted.
        """
        from openpyxl.styles import Alignment, Font

        path = Path(path)
        if path.suffix.lower() not in (".xlsx", ".xlsm"):
            raise InputError(f"path: the workbook must end in .xlsx (got {path.name}).")
        gbp = '"£"#,##0;[Red]-"£"#,##0'
        pct = "0.0%"
        sheets: list[tuple[str, pd.DataFrame, dict[str, str]]] = []
        head = pd.DataFrame(self._header(), columns=["Item", "Value"])
        notes = self.summary().notes
        if notes:
            head = pd.concat([head, pd.DataFrame({"Item": ["Note"] * len(notes),
                                                  "Value": notes})], ignore_index=True)
        sheets.append(("Summary", head, {}))
        for y in self.years:
            name = "Pounds" if len(self.years) == 1 else f"Pounds {y}"[:31]
            sheets.append((name, self.pounds(y, total=True).reset_index(),
                           {c: gbp for c in self.labels}))
        sheets.append(("Shares", self.shares().reset_index(), {c: pct for c in self.labels}))
        props = self.property_table().reset_index().rename(columns={"index": "Rule"})
        raw = self.properties[["budget_gap", "violation", "groups_checked"]].reset_index(
            drop=True).rename(columns={"budget_gap": "Budget gap (£)",
                                       "violation": "Worst group excess (£)",
                                       "groups_checked": "Groups checked"})
        props = pd.concat([props, raw], axis=1)
        sheets.append(("Properties", props, {"Budget gap (£)": gbp,
                                             "Worst group excess (£)": gbp}))
        lines = pd.DataFrame([{"Rule": lab, "Partner": p, "In plain English": t}
                              for lab, ls in self.lines.items()
                              for p, t in zip(self.partners, ls)])
        sheets.append(("Partner lines", lines, {}))
        if len(self.years) > 1:
            sheets.append(("By year", self.to_frame(), {"pounds": gbp, "share": pct}))
        if self.game is not None and (self.game._func is None or self.game.n <= 12):
            sheets.append(("Coalitions", self.game.to_frame(), {self.game.kind: gbp}))
        if self.inputs is not None:
            sheets.append(("Inputs", self.inputs.reset_index(drop=True), {}))
        path.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            for name, df, fmts in sheets:
                df.to_excel(xw, sheet_name=name, index=False)
                ws = xw.sheets[name]
                ws.freeze_panes = "B2"
                for cell in ws[1]:
                    cell.font = Font(bold=True)
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
                for j, col in enumerate(df.columns, start=1):
                    letter = ws.cell(row=1, column=j).column_letter
                    fmt = fmts.get(col)
                    if fmt:
                        for row in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                            row[0].number_format = fmt
                    texts = [str(col)] + [_xl_text(v, fmt) for v in df[col].tolist()]
                    ws.column_dimensions[letter].width = min(80, max(8, max(map(len, texts)) + 2))
        return path


def _xl_text(v: Any, fmt: str | None) -> str:
    if isinstance(v, (float, int, np.floating)) and fmt and "£" in fmt:
        return format_gbp(float(v))
    if isinstance(v, (float, np.floating)) and fmt == "0.0%":
        return f"{v:.1%}"
    return str(v)


def _ir_short(breaches: list[dict[str, Any]]) -> str:
    by: dict[str, list[str]] = {}
    for b in breaches:
        tag = "alone" if b["against"] == "stand-alone cost" else "benefit"
        by.setdefault(b["partner"], []).append(f"+{format_gbp(b['excess'])} vs {tag}")
    return "; ".join(f"{p} {', '.join(v)}" for p, v in by.items())


def _yn(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "not assessed"
    return "yes" if v else "NO"


def _core_text(ok: Any, checked: Any, total: Any) -> str:
    if ok is None or (isinstance(ok, float) and np.isnan(ok)):
        return "not assessed (no game)"
    part = "" if checked == total else f" ({int(checked)} of {int(total)} groups given)"
    return ("yes" if ok else "NO") + part


# ------------------------------------------------------------- computation
def split_options(partners: pd.DataFrame | str | Path, cost: Any = None, *,
                  rules: Sequence[str | RuleSpec] | str | None = None,
                  game: Game | pd.DataFrame | str | Path | None = None,
                  fixed_cost: float | None = None,
                  partner: str = "partner", benefit: str = "benefit",
                  standalone: str = "standalone_cost", variable: str = "variable_cost",
                  shapley_samples: int = 2000, seed: int = 0,
                  strict: bool = False) -> SplitOptions:
    """Compute cost-split options and their properties.

    Parameters
    ----------
    partners : DataFrame or path
        ``partner`` column plus numeric driver columns (``budget``,
        ``caseload``, ``population``, ``benefit``, ``standalone_cost``,
        ``variable_cost``, ``cap``, negotiated shares...).
    cost : float, sequence or mapping, optional
        The cost to share: one year, a list (Year 1, Year 2...) or
        ``{"2025-26": ..., "2026-27": ...}``. Default: the game's total.
    rules : list of str or RuleSpec, or a comma-separated string, optional
        See the module notes. Default: equal; proportional to every numeric
        driver column; beneficiary pays when there is a ``benefit`` column;
        Shapley, nucleolus, SCRB and tau when there is a game.
    game : Game, DataFrame, or path, optional
        A coalition table (``coalition`` + ``cost``/``value``) or a
        :class:`~evalkit.split.games.Game`. A value game is turned into a cost
        game with the ``standalone_cost`` column (savings game) or else the
        ``benefit`` column (net-benefit game).
    fixed_cost : float, optional
        Use the default service model (:class:`~evalkit.split.games.ServiceModel`)
        with this fixed cost and the ``variable_cost``, ``standalone_cost``
        (and ``benefit``) columns.
    partner, benefit, standalone, variable : str
        Column names.
    shapley_samples, seed : int
        Sampling settings for the Shapley value above 20 partners.
    strict : bool
        Raise instead of listing a rule as unavailable.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"partner": ["Council", "NHS", "Police"],
    ...                   "budget": [50e6, 30e6, 20e6],
    ...                   "standalone_cost": [700e3, 500e3, 300e3]})
    >>> opts = split_options(p, 1.2e6, rules=["equal", "proportional:budget"])
    >>> opts.pounds().round(0)  # doctest: +NORMALIZE_WHITESPACE
             Equal shares  Proportional to budget
    partner
    Council      400000.0                600000.0
    NHS          400000.0                360000.0
    Police       400000.0                240000.0
    >>> print(opts.lines["Equal shares"][2])  # doctest: +NORMALIZE_WHITESPACE
    Police pays £400,000 (33.3%), £100,000 MORE than going alone (£300,000): it could
    reasonably refuse.
    """
    file = None
    if isinstance(partners, (str, Path)):
        file = str(partners)
        partners = read_partners(partners)
    df, names = _partners(partners, partner, file)
    n = len(names)
    notes: list[str] = []

    # ---- benefit / stand-alone columns (optional)
    ben = _numeric(df, benefit, "benefit", file, allow_blank=True) if benefit in df.columns \
        else None
    if ben is not None and np.all(np.isnan(ben)):
        ben = None
    alone_col = _numeric(df, standalone, "stand-alone cost", file, allow_blank=True) \
        if standalone in df.columns else None

    # ---- game
    cgame: Game | None = None
    if game is not None and fixed_cost is not None:
        raise InputError("give either a coalition table (game=...) or the default service "
                         "model (fixed_cost=...), not both.")
    if fixed_cost is not None:
        model = ServiceModel(names, fixed_cost,
                             _numeric(df, variable, "variable cost (service model)", file),
                             _numeric(df, standalone, "stand-alone cost (service model)", file),
                             ben if ben is not None and not np.any(np.isnan(ben)) else None)
        cgame = model.cost_game()
        if cost is None:
            cost = model.pilot_cost
        if model.pilot_cost > cgame.grand * (1 + 1e-9) + 1e-9:
            notes.append(f"In the service model the cheapest way to meet every partner's need "
                         f"costs {format_gbp(cgame.grand)}, less than the pilot's "
                         f"{format_gbp(model.pilot_cost)}: for some partners the pilot's "
                         "variable cost exceeds their own alternative.")
    elif game is not None:
        cgame = _resolve_game(game, names, alone_col, ben, standalone, benefit, notes)
    if cost is None and cgame is None:
        raise InputError("cost: give the cost to share (e.g. cost=1200000), or a game whose "
                         "whole-group cost is the cost to share.")
    years, costs = _costs(cgame.grand if cost is None and cgame is not None else cost)

    # ---- rules
    specs = _rule_list(rules, df, names, cgame, ben, standalone, benefit)
    if not specs:
        raise InputError("rules: no rules to compare.")
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise InputError("rules: a rule is listed twice.")

    gscale = None
    if cgame is not None:
        gscale = cgame.grand
        if gscale <= 0 and any(s.name in GAME_RULES for s in specs):
            raise InputError("game: the whole group's cost must be above zero to share it.")
        if len(costs) == 1 and abs(costs[0] - gscale) > 1e-6 * max(1.0, gscale):
            notes.append(f"The game's whole-group cost ({format_gbp(gscale)}) differs from the "
                         f"cost to share ({format_gbp(costs[0])}); game-based rules' shares were "
                         "applied to the cost to share and properties are assessed at the "
                         "game's scale.")
    payments = {y: pd.DataFrame(index=pd.Index(names, name="partner")) for y in years}
    done: list[RuleSpec] = []
    unavailable: dict[str, str] = {}
    game_alloc: dict[str, np.ndarray] = {}
    for spec in specs:
        try:
            pay, galloc, extra = _compute(spec, df, names, costs, cgame, ben, file,
                                          shapley_samples, seed)
        except (MissingCoalitionsError, EvalkitError) as err:
            if strict or (spec.explicit and spec.name not in GAME_RULES
                          and not isinstance(err, MissingCoalitionsError)):
                raise
            unavailable[spec.key] = str(err)
            continue
        for j, y in enumerate(years):
            payments[y][spec.label] = pay[j]
        if galloc is not None:
            game_alloc[spec.label] = galloc
        notes.extend(extra)
        done.append(spec)
    if not done:
        raise InputError("rules: none of the rules could be computed:\n"
                         + "\n".join(f"  - {k}: {v}" for k, v in unavailable.items()))

    # ---- properties (assessed in the first year)
    sa = None
    if cgame is not None:
        sa = cgame.standalone
        if not np.all(np.isfinite(sa)) and alone_col is not None:
            sa = np.where(np.isfinite(sa), sa, alone_col)
    elif alone_col is not None:
        sa = alone_col
    if sa is not None and np.all(np.isnan(sa)):
        sa = None
    lc, lc_complete = (None, True)
    if cgame is not None and cgame.n <= MAX_DENSE_PLAYERS:
        try:
            lc, lc_complete = least_core_epsilon(cgame)
        except EvalkitError as err:  # pragma: no cover - numerical
            notes.append(f"Least core not computed: {err}")
    props = []
    lines = {}
    c0 = costs[0]
    y0 = years[0]
    for spec in done:
        x = payments[y0][spec.label].to_numpy()
        k = (gscale / c0) if (cgame is not None and c0) else 1.0
        xg = x * k
        gap = float(x.sum() - c0)
        tol = 1e-6 * max(1.0, c0)
        breaches = individual_rationality(xg, names, standalone=sa, tol=tol * k)
        for b in breaches:
            b["excess"] /= k
        breaches += individual_rationality(x, names, benefit=ben, tol=tol)
        ir_ok = None if sa is None and ben is None else not breaches
        row: dict[str, Any] = {
            "rule": spec.label, "rule_key": spec.key,
            "budget_balanced": abs(gap) <= tol, "budget_gap": gap,
            "individually_rational": ir_ok,
            "ir_breaches": "; ".join(f"{b['partner']} pays {format_gbp(b['excess'])} more "
                                     f"than its {b['against']}" for b in breaches),
            "ir_short": _ir_short(breaches),
            "in_core": None, "most_violated_group": "", "violation": np.nan,
            "groups_checked": 0, "groups_total": 2 ** n - 2 if n <= 62 else np.nan,
            "core_note": "" if cgame is not None else "not assessed (no game)",
        }
        if cgame is not None and cgame.n > MAX_DENSE_PLAYERS:
            row["core_note"] = f"not assessed ({n} partners; at most {MAX_DENSE_PLAYERS})"
        elif cgame is not None:
            chk = core_check(cgame, xg, tol=1e-6 * max(1.0, abs(gscale or 1.0)))
            row.update({"in_core": chk.in_core, "most_violated_group": chk.worst_coalition,
                        "violation": chk.worst_excess / k, "groups_checked": chk.checked,
                        "groups_total": chk.total})
        props.append(row)
        lines[spec.label] = partner_lines(names, x, standalone=None if sa is None else sa / k,
                                          benefit=ben, total=c0)
    properties = pd.DataFrame(props).set_index("rule")
    # least_core_epsilon works on the worth w = -c, where max_S (w(S) - y(S)) = max_S
    # (x(S) - c(S)): positive means the core is empty. Expressed in the first year's pounds.
    lc_pounds = None if lc is None else lc * (c0 / gscale if gscale else 1.0)
    inputs = df.drop(columns=["_row"]).reset_index(drop=True)
    return SplitOptions(
        partners=names, years=years, costs=costs, rules=done, payments=payments,
        properties=properties, lines=lines, unavailable=unavailable, game=cgame,
        least_core=lc_pounds, least_core_complete=lc_complete,
        standalone=None if sa is None else sa * (c0 / gscale if gscale else 1.0),
        benefit=ben, notes=_dedupe(notes), inputs=inputs)


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    return [i for i in items if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def _resolve_game(game: Any, names: list[str], alone: np.ndarray | None,
                  ben: np.ndarray | None, standalone: str, benefit: str,
                  notes: list[str]) -> Game:
    if isinstance(game, (str, Path)):
        from .games import read_coalition_table

        g = read_coalition_table(str(game), names)
    elif isinstance(game, pd.DataFrame):
        g = Game.from_table(game, names)
    elif isinstance(game, Game):
        g = _reorder(game, names)
    else:
        raise InputError("game: expected a coalition table (DataFrame or CSV/XLSX path) or a "
                         "Game.")
    if g.kind == "value":
        if alone is not None and np.all(np.isfinite(alone)):
            notes.append(f"The value game was read as savings against each partner's "
                         f"'{standalone}': cost(S) = sum of stand-alone costs - value(S).")
            g = g.with_basis(alone, "cost", name=f"{g.name} (savings against stand-alone cost)")
        elif ben is not None and np.all(np.isfinite(ben)):
            notes.append(f"The value game was read as net benefit against each partner's "
                         f"'{benefit}': cost(S) = sum of benefits - value(S).")
            g = g.with_basis(ben, "cost", name=f"{g.name} (net benefit)")
        else:
            raise InputError(f"game: a value (savings) game needs each partner's "
                             f"'{standalone}' (or '{benefit}') in the partners table to turn "
                             "savings into payments: payment = stand-alone cost - savings.")
    elif alone is not None and not np.all(np.isfinite(g.standalone)):
        g = g.with_singletons(alone)
        notes.append(f"Stand-alone costs missing from the coalition table were taken from "
                     f"the partners table's '{standalone}' column.")
    return g


def _reorder(game: Game, names: list[str]) -> Game:
    if tuple(game.players) == tuple(names):
        return game
    if set(game.players) != set(names):
        extra = sorted(set(game.players) - set(names))
        miss = sorted(set(names) - set(game.players))
        raise InputError("game: its players do not match the partners table"
                         + (f"; unknown partners: {', '.join(extra)}" if extra else "")
                         + (f"; partners not in the game: {', '.join(miss)}" if miss else "")
                         + ".")
    if game._func is not None:
        raise InputError("game: a function-defined game must list the players in the partners "
                         "table's order.")
    masks = game.known_masks()
    table = {game.coalition_name(int(m)): float(v) for m, v in zip(masks, game.values(masks))}
    return Game.from_dict(table, names, kind=game.kind, name=game.name)


def _rule_list(rules: Any, df: pd.DataFrame, names: list[str], cgame: Game | None,
               ben: np.ndarray | None, standalone: str, benefit: str) -> list[RuleSpec]:
    if rules is not None:
        if isinstance(rules, str):
            rules = [r for r in rules.split(",") if r.strip()]
        return [parse_rule(r) for r in rules]
    specs = [RuleSpec("equal", explicit=False)]
    for c in df.columns:
        if c in ("partner", "kind", "_row") or c in _NOT_DRIVERS or c == benefit:
            continue
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) \
                and df[c].notna().any():
            specs.append(RuleSpec("proportional", str(c), explicit=False))
    if ben is not None:
        specs.append(RuleSpec("beneficiary_pays", explicit=False))
    if cgame is not None:
        for g in ("shapley", "nucleolus", "scrb", "tau"):
            specs.append(RuleSpec(g, explicit=False))
    return specs


def _compute(spec: RuleSpec, df: pd.DataFrame, names: list[str], costs: np.ndarray,
             cgame: Game | None, ben: np.ndarray | None, file: str | None,
             samples: int, seed: int) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Payments (years x n), the game-scale allocation (or None), extra notes."""
    n = len(names)
    name = spec.name
    extra: list[str] = []
    if name == "equal":
        return R.equal(costs, n), None, extra
    if name == "proportional":
        d = _numeric(df, spec.column, f"the {spec.label.lower()} rule", file)  # type: ignore[arg-type]
        return R.proportional(costs, _nonzero(d, spec)), None, extra
    if name == "fixed":
        d = _numeric(df, spec.column, "fixed shares", file)  # type: ignore[arg-type]
        return R.fixed_shares(costs, d), None, extra
    if name == "base_variable":
        d = _numeric(df, spec.column, f"the {spec.label} rule", file)  # type: ignore[arg-type]
        frac = _as_fraction(spec.param or "")
        if frac is not None:
            return R.base_plus_variable(costs, _nonzero(d, spec), base_share=frac), None, extra
        base = _numeric(df, spec.param, "base pounds", file)  # type: ignore[arg-type]
        return R.base_plus_variable(costs, _nonzero(d, spec), base=base), None, extra
    if name == "capped":
        d = _numeric(df, spec.column, f"the {spec.label.lower()} rule", file)  # type: ignore[arg-type]
        caps = _numeric(df, spec.param, "caps", file, allow_blank=True)  # type: ignore[arg-type]
        return R.capped_proportional(costs, _nonzero(d, spec), caps), None, extra
    if name == "beneficiary_pays":
        col = spec.column or "benefit"
        if spec.column is None and ben is None and col not in df.columns:
            raise InputError("beneficiary_pays: the partners table has no 'benefit' column.")
        b = _numeric(df, col, "beneficiary pays", file)
        return R.beneficiary_pays(costs, _nonzero(b, spec)), None, extra
    if name == "airport":
        col = spec.column or "standalone_cost"
        if col in df.columns:
            lev = _numeric(df, col, "airport levels", file)
            return R.airport(costs, _nonzero(lev, spec)), None, extra
        if cgame is None:
            raise InputError(f"airport: needs a '{col}' column of levels or an airport game.")
        a = S.airport_rule(cgame)
        return _scale_to(a.amounts, cgame.grand, costs), a.amounts, a.notes
    if cgame is None:
        raise InputError(f"{spec.label} needs a game: give a coalition table (--game) or the "
                         "service model (fixed cost with variable and stand-alone costs).")
    if name == "shapley":
        a = S.shapley(cgame, n_permutations=samples, seed=seed)
    elif name == "nucleolus":
        a = S.nucleolus(cgame)
    elif name == "prenucleolus":
        a = S.prenucleolus(cgame)
    elif name == "least_core":
        a = S.least_core(cgame)
    elif name == "weak_least_core":
        a = S.least_core(cgame, variant="weak")
    elif name == "proportional_least_core":
        a = S.least_core(cgame, variant="proportional")
    elif name == "scrb":
        a = S.scrb(cgame, benefit=ben if ben is not None and np.all(np.isfinite(ben)) else None)
    elif name == "tau":
        a = S.tau(cgame)
    else:  # pragma: no cover - parse_rule guards
        raise InputError(f"unknown rule {name}")
    extra.extend(f"{spec.label}: {t}" for t in a.notes)
    return _scale_to(a.amounts, cgame.grand, costs), a.amounts, extra


def _scale_to(amounts: np.ndarray, grand: float, costs: np.ndarray) -> np.ndarray:
    if grand == 0:
        raise InputError("game: the whole group's cost is zero, so shares cannot be formed.")
    return costs[:, None] * (np.asarray(amounts)[None, :] / grand)


def _nonzero(d: np.ndarray, spec: RuleSpec) -> np.ndarray:
    if not np.any(d > 0):
        raise InputError(f"{spec.key}: every partner's '{spec.column or 'benefit'}' is zero, so "
                         "there is nothing to split in proportion to; choose another column.")
    return d
