"""Protect a table for publication: one call per published table.

:func:`protect` takes a table whose every numeric column is declared as

* ``counts``: counts of people (or of events about people). Counts of 1 to
  ``threshold - 1`` are suppressed, then, in tables with totals, secondary
  suppression hides enough further cells that none can be recovered by
  subtraction; the rest are rounded (totals rounded independently, from the
  unrounded sums, as HES does).
* ``derived``: percentages, rates, means or medians, with the column holding
  the number of people behind each (:class:`Derived`). Suppressed when based
  on fewer than ``threshold`` people, or when the count they come from is
  suppressed; proportions are recalculated from the *published* (rounded)
  counts so they reveal nothing the counts do not.
* ``money``: money figures about people (:class:`Money`), with the number of
  people and the largest two contributions, for the dominance rule.
* ``other``: numbers that are not about people (a year, a unit cost, a price
  index). Published as given: declaring them is the explicit, visible choice.

Anything else numeric is refused, so a forgotten column cannot slip through.
Columns that identify people (``person_id``, ``date_of_birth``, ``postcode``,
names, NHS numbers, free text...) are refused too, unless ``drop_sensitive``
asks for them to be dropped.

The result, a :class:`ProtectedTable`, renders itself as marked-up HTML, CSV
(with a ``.disclosure.json`` sidecar) or an Excel sheet (with a hidden
``_evalkit_disclosure`` sheet), the marks that the leak scan
(:mod:`evalkit.disclosure.scan`) uses to tell counts from other numbers.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"yes": [3, 40, 25], "no": [30, 52, 11]},
...                  index=pd.Index(["North", "South", "East"], name="area"))
>>> pt = protect_table(t)
>>> pt.table  # doctest: +NORMALIZE_WHITESPACE
      yes  no Total
area
North   *   *    35
South  40  50    90
East    *   *    35
Total  70  95   160

The 3 is small; hiding it alone would let anyone recover it from the totals, so
the cheapest rectangle of cells (North/East x yes/no) is hidden with it.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .rules import DisclosurePolicy
from .suppression import Constraint, secondary_suppression

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "Derived",
    "Money",
    "ProtectedTable",
    "protect",
    "protect_table",
    "protect_labels",
    "summarise_money",
    "write_csv",
    "write_xlsx",
    "sidecar_path",
    "SENSITIVE_COLUMNS",
    "METADATA_SHEET",
]

#: Hidden worksheet that marks which columns of which sheets hold counts.
METADATA_SHEET = "_evalkit_disclosure"

#: Column names (normalised to lower_snake_case) that identify a person or hold free text.
SENSITIVE_COLUMNS: frozenset[str] = frozenset({
    "person_id", "client_id", "patient_id", "customer_id", "case_id", "pseudonym",
    "name", "first_name", "forename", "given_name", "surname", "last_name",
    "family_name", "full_name", "nhs_number", "nhs_no", "nhsno", "chi_number",
    "ni_number", "nino", "national_insurance_number", "uprn", "address",
    "address_line_1", "address_line_2", "street", "email", "email_address", "phone",
    "telephone", "mobile", "phone_number", "dob", "birth_date", "date_of_birth",
    "postcode", "post_code", "free_text", "notes", "note", "comments", "comment",
    "case_notes",
})

STATUS_REASONS = {
    "small count": "count from 1 to {t1} (primary suppression)",
    "zero": "zero treated as a small count (zeros: suppress)",
    "secondary": "hidden so that a suppressed figure cannot be worked out from totals",
    "few people": "based on fewer than {t} people",
    "unknown people": "the number of people behind it is missing, so it cannot be checked",
    "dominance": "dominated by one or two people's contributions ({rule})",
    "reveals suppressed count": "would reveal a suppressed count",
    "not available": "no value (missing in the input)",
}


@dataclass(frozen=True)
class Derived:
    """A figure derived from counts of people (percentage, rate, mean, median).

    Parameters
    ----------
    n : str, optional
        Column with the number of people behind the figure (for means,
        medians, model estimates). For a proportion this defaults to ``den``.
    num, den : str, optional
        For a proportion or rate: the count columns it is ``scale * num / den``
        of. The published value is recalculated from the published (rounded)
        counts; it is suppressed whenever ``num`` or ``den`` is.
    scale : float, optional
        100 for a percentage, 1000 for a rate per 1,000, 1 for a fraction.
        Inferred from the data when omitted.

    Examples
    --------
    >>> Derived(num="yes", den="n").people_column
    'n'
    """

    n: str | None = None
    num: str | None = None
    den: str | None = None
    scale: float | None = None

    def __post_init__(self) -> None:
        if (self.num is None) != (self.den is None):
            raise InputError("Derived: give both num= and den= (a proportion), or neither.")
        if self.n is None and self.den is None:
            raise InputError("Derived: give n= (the column with the number of people behind "
                             "the figure) or num=/den= for a proportion.")

    @property
    def people_column(self) -> str:
        return self.n if self.n is not None else self.den  # type: ignore[return-value]


@dataclass(frozen=True)
class Money:
    """A money figure about people (cost of services used, benefits received).

    Parameters
    ----------
    n : str
        Column with the number of people whose money makes up the figure.
    largest, second : str, optional
        Columns with the largest and second-largest single person's
        contribution (in absolute value), for the dominance rule. Never
        published. :func:`summarise_money` builds all three columns.
    statistic : {"total", "mean", "median"}
        Totals are additive (they take part in secondary suppression with a
        ``total_row``/``sums``); means are checked for dominance too (mean
        times n is the total); medians only for the number of people.
    dominance : bool
        Set ``False`` to skip the dominance rule when no contributions are
        available; this is recorded against every cell of the column.
    """

    n: str
    largest: str | None = None
    second: str | None = None
    statistic: str = "total"
    dominance: bool = True

    def __post_init__(self) -> None:
        if self.statistic not in ("total", "mean", "median"):
            raise InputError(f"Money.statistic: got {self.statistic!r}; expected 'total', "
                             "'mean' or 'median'.")
        if self.dominance and self.statistic != "median" and self.largest is None:
            raise InputError(
                "Money: the dominance rule needs largest= (and second=) columns with the "
                "biggest single contributions; build them with summarise_money(), or pass "
                "dominance=False to skip the rule (it will be recorded)."
            )


def summarise_money(
    df: pd.DataFrame,
    by: str | Sequence[str],
    value: str,
    *,
    person: str = "person_id",
) -> pd.DataFrame:
    """Money totals by group with what the dominance rule needs.

    Amounts are first summed per person within each group, then the group's
    ``total``, ``n`` (people), ``largest`` and ``second`` (largest and
    second-largest per-person amounts, in absolute value) are returned.

    Examples
    --------
    >>> d = pd.DataFrame({"person_id": ["a", "a", "b", "c"], "area": ["N"] * 4,
    ...                   "cost": [500.0, 400.0, 50.0, 50.0]})
    >>> summarise_money(d, "area", "cost")  # doctest: +NORMALIZE_WHITESPACE
          total  n  largest  second
    area
    N     1000.0  3    900.0    50.0
    """
    by_cols = [by] if isinstance(by, str) else list(by)
    missing = [c for c in (*by_cols, value, person) if c not in df.columns]
    if missing:
        raise InputError(f"summarise_money: column(s) {missing} not found; the table has "
                         f"{list(df.columns)}.")
    per_person = df.groupby([*by_cols, person], observed=True, dropna=False)[value].sum()
    rows = {}
    for key, s in per_person.groupby(level=list(range(len(by_cols))), observed=True):
        a = np.sort(np.abs(s.to_numpy(dtype=float)))[::-1]
        rows[key] = {"total": float(s.sum()), "n": int(len(s)),
                     "largest": float(a[0]) if a.size else 0.0,
                     "second": float(a[1]) if a.size > 1 else 0.0}
    keys = [k[0] if isinstance(k, tuple) and len(by_cols) == 1 else k for k in rows]
    index = (pd.MultiIndex.from_tuples(keys, names=by_cols) if len(by_cols) > 1
             else pd.Index(keys, name=by_cols[0]))
    out = pd.DataFrame(list(rows.values()), index=index)
    return out[["total", "n", "largest", "second"]]


def _norm(name: Any) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _policy(policy: Any) -> DisclosurePolicy:
    if isinstance(policy, DisclosurePolicy):
        return policy
    return DisclosurePolicy.from_settings(policy)


# ---------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------
class ProtectedTable:
    """A table ready to publish, with the record of what was hidden and why.

    Attributes
    ----------
    table : DataFrame
        What to publish: counts rounded, suppressed cells shown as the
        policy's symbol, missing values blank; hidden input columns dropped.
    values : DataFrame
        The same figures as numbers, NaN where suppressed (for charts).
    status : DataFrame
        Per cell: ``""`` (published) or the reason it was suppressed.
    kinds : dict
        Column -> ``"label"``, ``"count"``, ``"derived"``, ``"money"`` or ``"other"``.
    record : DataFrame
        One row per suppressed cell: row, column, kind, status, reason. **For the
        analyst and the audit trail only, never for publication**: telling readers
        which cells are small and which were hidden to protect them narrows what
        an intruder can work out.
    audit : DataFrame
        For each suppressed cell of a table with totals, the intruder's bounds
        computed from the *unrounded* figures. Also analyst-only.
    opted_out : str or None
        The stated reason when disclosure control was switched off.
    """

    def __init__(self, *, table: pd.DataFrame, values: pd.DataFrame, status: pd.DataFrame,
                 kinds: dict[str, str], record: pd.DataFrame, audit: pd.DataFrame,
                 policy: DisclosurePolicy, name: str | None, opted_out: str | None,
                 notes: list[str], show_index: bool) -> None:
        self.table = table
        self.values = values
        self.status = status
        self.kinds = kinds
        self.record = record
        self.audit = audit
        self.policy = policy
        self.name = name
        self.opted_out = opted_out
        self.notes = notes
        self.show_index = show_index

    # ------------------------------------------------------------ basics
    @property
    def n_suppressed(self) -> int:
        return int((self.status != "").to_numpy().sum())

    def to_frame(self) -> pd.DataFrame:
        """The publishable table (same as :attr:`table`)."""
        return self.table.copy()

    def footnote(self) -> str:
        """The note to print under the table."""
        if self.opted_out:
            return f"Disclosure control not applied: {self.opted_out}"
        return self.policy.footnote()

    def labels(self, column: str, fmt: str | None = None) -> list[str]:
        """Text for chart annotations of one column, suppressed cells as the symbol.

        Examples
        --------
        >>> pt = protect(pd.DataFrame({"n": [3, 42]}), counts=["n"])
        >>> pt.labels("n")
        ['*', '40']
        """
        if column not in self.table.columns:
            raise InputError(f"labels: column {column!r} is not in the published table "
                             f"({list(self.table.columns)}).")
        kind = self.kinds.get(column, "other")
        return [_fmt(v, kind, fmt, self.policy.symbol, plain=True)
                for v in self.table[column].tolist()]

    # ------------------------------------------------------------ rendering
    def _frame_for_output(self) -> pd.DataFrame:
        t = self.table
        if self.show_index:
            t = t.reset_index()
        return t

    def _kind_of(self, col: Any) -> str:
        return self.kinds.get(col, "label")

    def to_html(self, *, caption: str | None = None, table_id: str | None = None,
                formats: Mapping[str, str] | None = None, footnote: bool = True) -> str:
        """Marked-up HTML for the book.

        The ``<table>`` carries ``class="evalkit-table"`` (plus
        ``evalkit-counts`` when it has count columns) and
        ``data-evalkit-table="protected"`` (``"opted-out"`` when disclosure
        control was switched off), the policy's threshold and symbol; every
        header and data cell carries ``data-evalkit-kind`` (``count``,
        ``derived``, ``money``, ``other``, ``label``). The leak scan checks the
        ``count`` cells.
        """
        formats = dict(formats or {})
        out = self._frame_for_output()
        has_counts = any(k == "count" for k in self.kinds.values())
        classes = "evalkit-table" + (" evalkit-counts" if has_counts else "")
        attrs = {
            "class": classes,
            "data-evalkit-table": "opted-out" if self.opted_out else "protected",
            "data-evalkit-threshold": str(self.policy.threshold),
            "data-evalkit-rounding": str(self.policy.rounding),
            "data-evalkit-symbol": self.policy.symbol,
        }
        if table_id:
            attrs["id"] = table_id
        if self.name:
            attrs["data-evalkit-name"] = self.name
        if self.opted_out:
            attrs["data-evalkit-opt-out"] = self.opted_out
        a = " ".join(f'{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
        parts = [f"<table {a}>"]
        if caption:
            parts.append(f"<caption>{html.escape(caption)}</caption>")
        parts.append("<thead><tr>")
        for col in out.columns:
            kind = self._kind_of(col)
            parts.append(f'<th scope="col" data-evalkit-kind="{kind}">'
                         f"{html.escape(str(col))}</th>")
        parts.append("</tr></thead><tbody>")
        label_cols = [c for c in out.columns if self._kind_of(c) == "label"]
        first_label = label_cols[0] if label_cols else None
        for _, row in out.iterrows():
            parts.append("<tr>")
            for col in out.columns:
                kind = self._kind_of(col)
                text = html.escape(_fmt(row[col], kind, formats.get(col), self.policy.symbol))
                if col == first_label:
                    parts.append(f'<th scope="row" data-evalkit-kind="label">{text}</th>')
                else:
                    parts.append(f'<td data-evalkit-kind="{kind}">{text}</td>')
            parts.append("</tr>")
        parts.append("</tbody></table>")
        if footnote:
            parts.append(f'<p class="evalkit-footnote">{html.escape(self.footnote())}</p>')
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html(caption=self.name)

    def _metadata(self) -> dict[str, Any]:
        out = self._frame_for_output()
        return {
            "evalkit": "disclosure",
            "version": 1,
            "name": self.name,
            "opted_out": self.opted_out,
            "policy": self.policy.to_dict(),
            "columns": {str(c): self._kind_of(c) for c in out.columns},
        }

    def to_csv(self, path: str | Path) -> Path:
        """Write the published table as CSV plus a ``<file>.disclosure.json`` sidecar.

        The sidecar names each column's kind, so the leak scan can check the
        count columns.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        out = self._frame_for_output()
        text = out.map(lambda v: _fmt(v, "raw", None, self.policy.symbol))
        text.to_csv(path, index=False)
        sidecar_path(path).write_text(json.dumps(self._metadata(), indent=2), encoding="utf-8")
        return path

    def to_excel(self, path: str | Path, sheet_name: str = "Table") -> Path:
        """Write the published table to its own workbook (see :func:`write_xlsx`)."""
        return write_xlsx(path, {sheet_name: self})

    # ------------------------------------------------------------ summaries
    def summary(self):  # -> Summary
        """Analyst's summary: what was suppressed and why (not for publication)."""
        from ..evaluate.result import Summary

        counts = self.record["status"].value_counts() if len(self.record) else pd.Series(dtype=int)
        header = [("Policy", self.policy.name), ("Threshold", str(self.policy.threshold)),
                  ("Rounding", str(self.policy.rounding)),
                  ("Cells suppressed", str(self.n_suppressed))]
        header += [(str(k), str(v)) for k, v in counts.items()]
        notes = list(self.notes)
        if self.opted_out:
            notes.insert(0, f"DISCLOSURE CONTROL SWITCHED OFF: {self.opted_out}")
        notes.append("The record and intruder bounds are for the analyst only; publish "
                     "the table and its footnote, never the record.")
        tables = [("Published table", self.table)]
        if len(self.record):
            tables.append(("Suppressed cells (analyst only)", self.record))
        return Summary(f"Disclosure control: {self.name or 'table'}", header, tables, notes)

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Map of the table: which cells are published, suppressed and why."""
        from matplotlib.colors import ListedColormap

        from ..plotting import GREY, OKABE_ITO, get_axes

        ax = get_axes(ax, figsize=kwargs.pop("figsize", (7.0, 0.4 * len(self.status) + 1.5)))
        order = ["", "small count", "zero", "secondary", "few people", "unknown people",
                 "dominance",
                 "reveals suppressed count", "not available"]
        colours = ["#FFFFFF", OKABE_ITO[5], OKABE_ITO[5], OKABE_ITO[1], OKABE_ITO[3],
                   OKABE_ITO[3], OKABE_ITO[2], OKABE_ITO[4], GREY]
        codes = self.status.apply(lambda s: s.map(order.index)).to_numpy(dtype=float)
        ax.imshow(codes, cmap=ListedColormap(colours), vmin=-0.5, vmax=len(order) - 0.5,
                  aspect="auto")
        ax.set_xticks(range(self.status.shape[1]), [str(c) for c in self.status.columns],
                      rotation=45, ha="right")
        ax.set_yticks(range(self.status.shape[0]), [str(i) for i in self.status.index])
        for i in range(codes.shape[0]):
            for j in range(codes.shape[1]):
                v = self.table.iloc[i][self.status.columns[j]]
                ax.text(j, i, _fmt(v, self.kinds.get(self.status.columns[j], "other"), None,
                                   self.policy.symbol), ha="center", va="center", fontsize=8)
        used = sorted({int(c) for c in codes.ravel() if c == c})
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(facecolor=colours[u], edgecolor="black",
                                 label=order[u] or "published") for u in used],
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        ax.set_title(f"Disclosure control: {self.name or 'table'}")
        ax.set_xlabel("Column")
        ax.set_ylabel("Row")
        return ax

    def __repr__(self) -> str:
        head = (f"ProtectedTable({self.name or 'table'!s}: {self.table.shape[0]} rows, "
                f"{self.n_suppressed} cells suppressed, policy {self.policy.name} "
                f"threshold {self.policy.threshold})")
        if self.opted_out:
            head += f" [DISCLOSURE CONTROL OFF: {self.opted_out}]"
        return head + "\n" + self.table.to_string()


def sidecar_path(csv_path: str | Path) -> Path:
    """Where the disclosure metadata of a CSV download lives (``<file>.disclosure.json``)."""
    p = Path(csv_path)
    return p.with_name(p.name + ".disclosure.json")


def _fmt(value: Any, kind: str, fmt: str | None, symbol: str, plain: bool = False) -> str:
    """Format one published value."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if value is pd.NA or value is pd.NaT:
        return ""
    if fmt:
        return fmt.format(value)
    if kind == "raw":
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return str(int(value)) if value.is_integer() else str(round(value, 4))
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if kind == "count":
        return f"{int(value):,}" if not plain else f"{int(value):,}"
    if kind == "money":
        return f"£{float(value):,.0f}"
    if kind == "derived":
        return f"{float(value):,.1f}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):,.2f}" if not float(value).is_integer() else f"{int(value):,}"
    return str(value)


# ---------------------------------------------------------------------------
# protect
# ---------------------------------------------------------------------------
def _as_list(x: Any) -> list:
    if x is None:
        return []
    if isinstance(x, (str, bytes)) or not isinstance(x, Sequence):
        return [x]
    return list(x)


def _row_labels(df: pd.DataFrame, label_cols: list) -> list[str]:
    if label_cols:
        return [" / ".join(str(v) for v in row) for row in df[label_cols].itertuples(index=False)]
    return [" / ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in df.index]


def protect(
    df: pd.DataFrame,
    *,
    counts: Sequence[str] = (),
    derived: Mapping[str, Derived | str | tuple[str, str]] | None = None,
    money: Mapping[str, Money] | None = None,
    other: Sequence[str] = (),
    total_row: Hashable | Mapping[str, Any] | None = None,
    sums: Mapping[str, Sequence[str]] | None = None,
    policy: DisclosurePolicy | Mapping[str, Any] | str | None = None,
    drop_sensitive: bool = False,
    opt_out: str | None = None,
    name: str | None = None,
    time_limit: float = 30.0,
) -> ProtectedTable:
    """Apply disclosure control to one table bound for publication.

    Parameters
    ----------
    df : DataFrame
        Unrounded figures, one row per published row. Non-numeric columns are
        row labels. The index is published as a label when it is named.
    counts : list of str
        Columns of counts of people.
    derived : mapping column -> Derived, str or (num, den)
        Derived figures; a string is shorthand for ``Derived(n=that column)``,
        a pair for ``Derived(num=..., den=...)``. Columns they refer to that
        are not in ``counts`` are used as hidden counts and never published.
    money : mapping column -> Money
        Money figures about people.
    other : list of str
        Numeric columns that are not about people, published as given.
    total_row : label or mapping, optional
        The row that is the total of all other rows: an index label, or
        ``{label_column: value}``. Makes count and money totals columns of a
        one-way table (secondary suppression applies).
    sums : mapping total column -> part columns, optional
        Columns that are the sum of other columns in every row (e.g.
        ``{"All": ["Yes", "No"]}``); all count columns or all money totals.
    policy : DisclosurePolicy, mapping or str, optional
        Default: the NHS (HES) policy. Pass ``place.settings.disclosure``.
    drop_sensitive : bool
        Drop identifier/free-text columns instead of refusing the table.
    opt_out : str, optional
        Switch disclosure control off for this table, stating why (e.g.
        ``"national figures already published by ONS"``). The reason is shown
        under the table and in the HTML mark-up; identifier columns are still
        refused.
    name : str, optional
        Name used in the record, the HTML mark-up and the sidecar metadata.
    time_limit : float
        Seconds for the secondary-suppression solver.

    Returns
    -------
    ProtectedTable

    Raises
    ------
    InputError
        For an undeclared numeric column, an identifier column, a negative or
        fractional count, totals that do not add up, or an unknown column.

    Examples
    --------
    >>> d = pd.DataFrame({"area": ["North", "South"], "people": [3, 42],
    ...                   "mean_age": [41.2, 38.9]})
    >>> protect(d, counts=["people"], derived={"mean_age": "people"}).table
        area people mean_age
    0  North      *        *
    1  South     40     38.9
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"protect: df must be a pandas DataFrame, got {type(df).__name__}.")
    pol = _policy(policy)
    df = df.copy()
    notes: list[str] = []

    # -- identifiers ---------------------------------------------------------
    sensitive = [c for c in df.columns if _norm(c) in SENSITIVE_COLUMNS]
    index_sensitive = [n for n in df.index.names if n is not None and _norm(n) in SENSITIVE_COLUMNS]
    if index_sensitive:
        raise InputError(f"protect: the index {index_sensitive} identifies people and can "
                         "never be published; aggregate the table first.")
    if sensitive:
        if not drop_sensitive:
            raise InputError(
                f"protect: column(s) {sensitive} identify people or hold free text and can "
                "never be published. Remove them, or pass drop_sensitive=True to drop them."
            )
        df = df.drop(columns=sensitive)
        notes.append(f"Dropped identifier/free-text column(s): {', '.join(map(str, sensitive))}.")

    # -- declarations ----------------------------------------------------------
    counts = list(counts)
    other = list(other)
    dspec: dict[str, Derived] = {}
    for col, spec in (derived or {}).items():
        if isinstance(spec, Derived):
            dspec[col] = spec
        elif isinstance(spec, str):
            dspec[col] = Derived(n=spec)
        elif isinstance(spec, tuple) and len(spec) == 2:
            dspec[col] = Derived(num=spec[0], den=spec[1])
        else:
            raise InputError(f"protect: derived[{col!r}] must be Derived(...), a column name "
                             f"or a (num, den) pair; got {spec!r}.")
    mspec: dict[str, Money] = {}
    for col, m in (money or {}).items():
        if not isinstance(m, Money):
            raise InputError(f"protect: money[{col!r}] must be Money(n=..., largest=..., "
                             f"second=...); got {m!r}.")
        mspec[col] = m

    declared: dict[str, str] = {}
    for kind, cols in (("count", counts), ("derived", dspec), ("money", mspec),
                       ("other", other)):
        for c in cols:
            if c in declared:
                raise InputError(f"protect: column {c!r} is declared as both {declared[c]} "
                                 f"and {kind}.")
            declared[c] = kind
    hidden: list[str] = []
    for spec in dspec.values():
        for ref in (spec.n, spec.num, spec.den):
            if ref is not None and ref not in declared and ref not in hidden:
                hidden.append(ref)
    for m in mspec.values():
        for ref in (m.n, m.largest, m.second):
            if ref is not None and declared.get(ref) not in ("count",) and ref not in hidden:
                if ref in declared:
                    raise InputError(f"protect: {ref!r} is used by a Money column and must "
                                     "be a count (n) or an undeclared input (largest/second).")
                hidden.append(ref)
    for c, spec in dspec.items():
        for ref in (spec.n, spec.num, spec.den):
            if ref is not None and declared.get(ref, "count") != "count":
                raise InputError(f"protect: derived[{c!r}] refers to {ref!r}, declared as "
                                 f"{declared[ref]}; it must be a count of people.")
    for m in mspec.values():
        for ref in (m.largest, m.second):
            if ref is not None and ref in counts:
                raise InputError(f"protect: {ref!r} holds a single person's contribution "
                                 "and can never be published; do not list it in counts.")
    referenced = list(declared) + hidden
    missing = [c for c in referenced if c not in df.columns]
    if missing:
        raise InputError(f"protect: column(s) {missing} not found; the table has "
                         f"{list(df.columns)}.")
    undeclared = [c for c in df.columns if c not in declared and c not in hidden
                  and pd.api.types.is_numeric_dtype(df[c])
                  and not pd.api.types.is_bool_dtype(df[c])]
    if undeclared:
        raise InputError(
            f"protect: numeric column(s) {undeclared} are not declared. Say what each "
            "holds: counts=[...] (counts of people), derived={...} (percentages, rates, "
            "means with the column of people behind them), money={...}, or other=[...] "
            "for numbers that are not about people."
        )
    label_cols = [c for c in df.columns if c not in declared and c not in hidden]
    derived_refs = {r for d in dspec.values() for r in (d.n, d.num, d.den) if r}
    for c in (*counts, *[h for h in hidden if h in derived_refs], *[m.n for m in mspec.values()]):
        _check_counts(df, c)

    show_index = any(n is not None for n in df.index.names)
    kinds = {c: ("label" if c in label_cols else declared[c]) for c in df.columns
             if c not in hidden}

    published_cols = [c for c in df.columns if c not in hidden]
    status = pd.DataFrame("", index=df.index, columns=published_cols)
    status.columns = published_cols
    record_rows: list[dict[str, Any]] = []
    audit_rows: list[dict[str, Any]] = []
    row_names = _row_labels(df, label_cols) if not show_index else _row_labels(df, [])

    # -- total row -------------------------------------------------------------
    total_pos: int | None = None
    if total_row is not None:
        if isinstance(total_row, Mapping):
            mask = np.ones(len(df), dtype=bool)
            for k, v in total_row.items():
                if k not in df.columns:
                    raise InputError(f"protect: total_row refers to column {k!r}, not found.")
                mask &= (df[k] == v).to_numpy()
        else:
            mask = np.asarray(df.index == total_row)
        if mask.sum() != 1:
            raise InputError(f"protect: total_row {total_row!r} matches {int(mask.sum())} rows; "
                             "it must match exactly one.")
        total_pos = int(np.flatnonzero(mask)[0])
    sums = {k: list(v) for k, v in (sums or {}).items()}
    for tot, parts in sums.items():
        kinds_here = {declared.get(c) for c in (tot, *parts)}
        if kinds_here == {"count"}:
            continue
        if kinds_here == {"money"} and all(mspec[c].statistic == "total" for c in (tot, *parts)):
            continue
        raise InputError(f"protect: sums[{tot!r}] must relate count columns only, or money "
                         f"totals only; got kinds {sorted(map(str, kinds_here))}.")

    if opt_out is not None:
        if not isinstance(opt_out, str) or len(opt_out.strip()) < 10:
            raise InputError("protect: opt_out must state the reason disclosure control is "
                             "not needed (at least a short sentence), e.g. 'national totals "
                             "already published by ONS'.")
        table = df[published_cols].astype(object)
        table = table.where(df[published_cols].notna(), "")
        values = df[published_cols].copy()
        notes.append(f"Disclosure control switched off: {opt_out}")
        return ProtectedTable(table=table, values=values, status=status, kinds=kinds,
                              record=_record_frame([]), audit=_audit_frame([]), policy=pol,
                              name=name, opted_out=opt_out.strip(), notes=notes,
                              show_index=show_index)

    num = {c: _floats(df[c]) for c in df.columns
           if c in declared and declared[c] != "other" or c in hidden}
    nrows = len(df)

    def flag(i: int, col: str, st: str) -> None:
        if status.iat[i, status.columns.get_loc(col)] == "":
            status.iat[i, status.columns.get_loc(col)] = st

    # -- primary: counts --------------------------------------------------------
    count_primary = {c: np.zeros(nrows, dtype=bool) for c in counts}
    for c in counts:
        for i, v in enumerate(num[c]):
            if v != v:
                flag(i, c, "not available")
            elif pol.is_small(v):
                count_primary[c][i] = True
                flag(i, c, "zero" if v == 0 else "small count")

    # -- primary: money -----------------------------------------------------------
    money_primary = {c: np.zeros(nrows, dtype=bool) for c in mspec}
    for c, m in mspec.items():
        for i in range(nrows):
            v, n = num[c][i], num[m.n][i]
            if v != v:
                flag(i, c, "not available")
                continue
            if n != n:
                money_primary[c][i] = True
                flag(i, c, "unknown people")
                continue
            if pol.too_few(n):
                money_primary[c][i] = True
                flag(i, c, "few people")
                continue
            if m.dominance and m.statistic != "median":
                total = v * n if m.statistic == "mean" else v
                lg = num[m.largest][i] if m.largest else 0.0  # type: ignore[index]
                sd = num[m.second][i] if m.second else 0.0
                if pol.dominated(total, lg, sd):
                    money_primary[c][i] = True
                    flag(i, c, "dominance")
        if not m.dominance and m.statistic != "median":
            notes.append(f"Dominance rule not applied to {c!r} (no contributions supplied).")

    # -- secondary suppression --------------------------------------------------------
    add_cols = {c for c in mspec if mspec[c].statistic == "total"}
    for kind, cols, prim in (("count", counts, count_primary),
                             ("money", [c for c in mspec if c in add_cols], money_primary)):
        if not cols:
            continue
        col_sums = {t: p for t, p in sums.items() if declared.get(t) == kind}
        if total_pos is None and not col_sums:
            continue
        res, cells = _lattice_suppress(df, num, cols, prim, total_pos, col_sums, pol, kind,
                                       time_limit)
        for j, (i, c) in enumerate(cells):
            if res.secondary[j]:
                flag(i, c, "secondary")
            if res.suppressed[j]:
                audit_rows.append({"row": row_names[i], "column": c,
                                   "status": status.iat[i, status.columns.get_loc(c)],
                                   "intruder_lower": res.lower[j],
                                   "intruder_upper": res.upper[j]})
        if res.method.startswith("fallback"):
            notes.append(f"Secondary suppression of {kind} columns fell back to hiding every "
                         "candidate cell (solver did not finish).")

    # -- derived figures --------------------------------------------------------------
    count_suppressed = {c: (status[c] != "").to_numpy() for c in counts}
    pub_counts = {}
    for c in set(counts) | {r for d in dspec.values() for r in (d.num, d.den) if r}:
        pub_counts[c] = np.array([pol.round_count(v) if v == v else np.nan for v in num[c]])
    derived_values: dict[str, np.ndarray] = {}
    for c, d in dspec.items():
        vals = num[c].copy()
        ppl = num[d.people_column]
        scale = d.scale
        if d.num is not None:
            scale = _infer_scale(c, vals, num[d.num], num[d.den], scale)
        for i in range(nrows):
            if vals[i] != vals[i]:
                flag(i, c, "not available")
                continue
            if ppl[i] != ppl[i]:
                flag(i, c, "unknown people")
                continue
            if pol.too_few(ppl[i]) or (d.num is not None and (pol.too_few(num[d.den][i])
                                                               or pol.is_small(num[d.num][i]))):
                flag(i, c, "few people")
                continue
            linked = [r for r in (d.num, d.den, d.n) if r in count_suppressed]
            if d.num is not None and any(count_suppressed[r][i] for r in linked
                                         if r in (d.num, d.den)):
                flag(i, c, "reveals suppressed count")
                continue
            if d.num is not None:
                den_pub = pub_counts[d.den][i]
                vals[i] = scale * pub_counts[d.num][i] / den_pub if den_pub else np.nan
                if vals[i] != vals[i]:
                    flag(i, c, "not available")
        derived_values[c] = vals

    # -- assemble ---------------------------------------------------------------------
    table = pd.DataFrame(index=df.index)
    values = pd.DataFrame(index=df.index)
    for c in published_cols:
        kind = kinds[c]
        st = status[c].to_numpy()
        if kind == "label":
            table[c] = df[c]
            values[c] = df[c]
            continue
        if kind == "count":
            v = pub_counts[c].astype(float)
        elif kind == "derived":
            v = derived_values[c]
        else:
            v = num[c] if kind == "money" else df[c].to_numpy()
        if kind == "other":
            table[c] = df[c]
            values[c] = df[c]
            continue
        shown = np.where(st == "", v, np.nan).astype(float)
        values[c] = shown
        col = []
        for i in range(nrows):
            if st[i] == "not available":
                col.append("")
            elif st[i]:
                col.append(pol.symbol)
            elif kind == "count":
                col.append(int(v[i]))
            else:
                col.append(float(v[i]))
        table[c] = pd.Series(col, index=df.index, dtype=object)

    rule = " or ".join(f"top {n} > {k:.0%}" for n, k in pol.dominance)
    for i in range(nrows):
        for c in published_cols:
            st = status.iat[i, status.columns.get_loc(c)]
            if st and st != "not available":
                reason = STATUS_REASONS[st].format(t=pol.threshold, t1=pol.threshold - 1,
                                                   rule=rule)
                record_rows.append({"row": row_names[i], "column": c, "kind": kinds[c],
                                    "status": st, "reason": reason})
    return ProtectedTable(table=table, values=values, status=status, kinds=kinds,
                          record=_record_frame(record_rows), audit=_audit_frame(audit_rows),
                          policy=pol, name=name, opted_out=None, notes=notes,
                          show_index=show_index)


def _record_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["row", "column", "kind", "status", "reason"])


def _audit_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["row", "column", "status", "intruder_lower",
                                       "intruder_upper"])


def _floats(s: pd.Series) -> np.ndarray:
    """A numeric column as floats, missing values (NaN, None, pd.NA) as NaN."""
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        raise InputError(f"protect: column {s.name!r} must hold numbers; got dtype {s.dtype}.")
    return s.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _check_counts(df: pd.DataFrame, c: str) -> None:
    v = _floats(df[c])
    bad = ~np.isnan(v) & ((v < 0) | (np.abs(v - np.round(v)) > 1e-9))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"protect: count column {c!r} holds {v[i]!r} in row {i + 1}; counts "
                         "must be whole numbers of at least 0 (pass the unrounded counts).")


def _infer_scale(col: str, vals: np.ndarray, num: np.ndarray, den: np.ndarray,
                 scale: float | None) -> float:
    ok = ~np.isnan(vals) & ~np.isnan(num) & ~np.isnan(den) & (den > 0) & (num > 0)
    if scale is not None:
        ratio = vals[ok] / (num[ok] / den[ok]) if ok.any() else np.array([scale])
        if ok.any() and not np.allclose(ratio, scale, rtol=1e-3):
            raise InputError(f"protect: derived column {col!r} is not {scale:g} x num / den "
                             "in every row; check num=, den= and scale=.")
        return float(scale)
    if not ok.any():
        return 100.0 if np.nanmax(np.abs(vals), initial=0) > 1 else 1.0
    ratio = vals[ok] / (num[ok] / den[ok])
    for cand in (1.0, 100.0, 1000.0, 10000.0, 100000.0):
        if np.allclose(ratio, cand, rtol=1e-3):
            return cand
    raise InputError(f"protect: derived column {col!r} is not a fixed multiple (1, 100, "
                     "1,000...) of num / den; give Derived(..., scale=...) or check the columns.")


def _lattice_suppress(df, num, cols, prim, total_pos, col_sums, pol, kind, time_limit):
    nrows = len(df)
    cells = [(i, c) for c in cols for i in range(nrows)]
    pos = {cell: j for j, cell in enumerate(cells)}
    values = np.array([num[c][i] for i, c in cells], dtype=float)
    if np.isnan(values).any():
        i, c = cells[int(np.flatnonzero(np.isnan(values))[0])]
        raise InputError(f"protect: {kind} column {c!r} has a missing value in row {i + 1} of "
                         "a table with totals; totals need every part.")
    constraints: list[Constraint] = []
    if total_pos is not None:
        for c in cols:
            constraints.append((pos[(total_pos, c)],
                                tuple(pos[(i, c)] for i in range(nrows) if i != total_pos)))
    for tot, parts in col_sums.items():
        for i in range(nrows):
            constraints.append((pos[(i, tot)], tuple(pos[(i, p)] for p in parts)))
    for tot, parts in constraints:
        s = values[list(parts)].sum()
        if abs(values[tot] - s) > 1e-6 * max(1.0, abs(values[tot])):
            i, c = cells[tot]
            raise InputError(f"protect: the total in row {i + 1}, column {c!r} is "
                             f"{values[tot]:g} but its parts add up to {s:g}; pass unrounded "
                             "figures whose totals add up.")
    primary = np.array([prim[c][i] for i, c in cells])
    if kind == "count":
        lower = np.full(len(cells), 0.0 if pol.zeros == "suppress" else 1.0)
        width = np.where(primary, float(pol.count_protection), 0.0)
    else:
        lower = np.full(len(cells), 0.0 if (values >= 0).all() else -np.inf)
        width = np.where(primary, np.maximum(pol.money_protection * np.abs(values), 1.0), 0.0)
    if not pol.secondary:
        from .suppression import SuppressionResult, attacker_intervals

        lo, hi = attacker_intervals(values, primary, constraints, lower)
        return SuppressionResult(primary, np.zeros_like(primary), lo, hi, {}, "off"), cells
    res = secondary_suppression(values, primary, constraints, lower, width,
                                time_limit=time_limit)
    return res, cells


def protect_table(
    table: pd.DataFrame | pd.Series,
    *,
    margins: bool = True,
    total_label: str = "Total",
    policy: DisclosurePolicy | Mapping[str, Any] | str | None = None,
    name: str | None = None,
    time_limit: float = 30.0,
) -> ProtectedTable:
    """Protect a one- or two-way table of counts, with its totals.

    Parameters
    ----------
    table : DataFrame or Series
        Unrounded counts: a Series (one-way) or a DataFrame with row
        categories in the index and column categories as columns. If it
        already has a ``total_label`` row/column they are checked; otherwise
        they are added (when ``margins``).
    margins : bool
        Publish row and column totals (and the grand total).
    total_label : str
        Label of the total row and column.
    policy, name, time_limit
        As for :func:`protect`.

    Returns
    -------
    ProtectedTable
        Counts suppressed (primary and secondary) and rounded; totals are
        rounded independently from the unrounded sums.
    """
    if isinstance(table, pd.Series):
        frame = table.to_frame(name=table.name if table.name is not None else "count")
        one_way = True
    elif isinstance(table, pd.DataFrame):
        frame = table.copy()
        one_way = False
    else:
        raise InputError(f"protect_table: expected a DataFrame or Series of counts, got "
                         f"{type(table).__name__}.")
    if frame.index.name is None:
        frame.index.name = "" if not one_way else "category"
    has_row = total_label in frame.index
    has_col = total_label in frame.columns
    inner_cols = [c for c in frame.columns if c != total_label]
    for c in frame.columns:
        _check_counts(frame, c)
    if margins:
        if not has_col and not one_way and len(inner_cols) > 1:
            frame[total_label] = frame[inner_cols].sum(axis=1)
            has_col = True
        if not has_row:
            inner = frame.loc[[i for i in frame.index if i != total_label]]
            frame.loc[total_label] = inner.sum(axis=0)
            has_row = True
    frame = frame.astype(float)
    counts = list(frame.columns)
    sums = {total_label: inner_cols} if has_col else None
    return protect(frame, counts=counts, total_row=total_label if has_row else None,
                   sums=sums, policy=policy, name=name, time_limit=time_limit)


def protect_labels(
    values: Sequence[float] | pd.Series | np.ndarray,
    *,
    kind: str = "count",
    n: Sequence[float] | None = None,
    policy: DisclosurePolicy | Mapping[str, Any] | str | None = None,
    fmt: str | None = None,
) -> list[str]:
    """Text for chart labels and annotations of stand-alone figures.

    Counts get primary suppression and rounding; derived figures and money
    need ``n`` (people behind each) and are suppressed below the threshold.
    Values that belong to a table with totals must come from that table's
    :meth:`ProtectedTable.labels` instead, so secondary suppression holds.

    Examples
    --------
    >>> protect_labels([2, 19, 0])
    ['*', '20', '0']
    >>> protect_labels([45.2, 61.0], kind="derived", n=[4, 30], fmt="{:.0f}%")
    ['*', '61%']
    """
    pol = _policy(policy)
    vals = list(np.asarray(values, dtype=float))
    if kind == "count":
        return [_fmt(pol.publish_count(v), "count", None if fmt is None else fmt, pol.symbol)
                if not isinstance(pol.publish_count(v), str) else str(pol.publish_count(v))
                for v in vals]
    if kind not in ("derived", "money"):
        raise InputError(f"protect_labels: kind must be 'count', 'derived' or 'money'; "
                         f"got {kind!r}.")
    if n is None or len(n) != len(vals):
        raise InputError(f"protect_labels: kind={kind!r} needs n= (number of people behind "
                         "each value), one per value.")
    out = []
    for v, k in zip(vals, n):
        if v != v:
            out.append("")
        elif pol.too_few(float(k)):
            out.append(pol.symbol)
        else:
            out.append(_fmt(v, kind, fmt, pol.symbol))
    return out


def write_csv(path: str | Path, table: ProtectedTable) -> Path:
    """Write a published CSV download and its disclosure sidecar."""
    if not isinstance(table, ProtectedTable):
        raise InputError("write_csv: only a ProtectedTable (from protect/protect_table) can be "
                         "written as a published download.")
    return table.to_csv(path)


def write_xlsx(path: str | Path, tables: Mapping[str, ProtectedTable] | ProtectedTable) -> Path:
    """Write published tables to a workbook, one sheet each, with disclosure marks.

    A hidden sheet ``_evalkit_disclosure`` lists, for every sheet, each
    column's kind, its header row and number of data rows, so the leak scan can
    check count columns. The footnote is written two rows under each table.
    """
    from openpyxl import Workbook

    if isinstance(tables, ProtectedTable):
        tables = {"Table": tables}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    wb.remove(wb.active)
    meta = wb.create_sheet(METADATA_SHEET)
    meta.append(["sheet", "column", "kind", "header_row", "n_rows", "threshold", "rounding",
                 "symbol", "opted_out"])
    for sheet, pt in tables.items():
        if not isinstance(pt, ProtectedTable):
            raise InputError(f"write_xlsx: sheet {sheet!r} is not a ProtectedTable.")
        if sheet == METADATA_SHEET or len(sheet) > 31:
            raise InputError(f"write_xlsx: bad sheet name {sheet!r} (at most 31 characters).")
        ws = wb.create_sheet(sheet)
        out = pt._frame_for_output()
        ws.append([str(c) for c in out.columns])
        for row in out.itertuples(index=False):
            ws.append([_xl(v) for v in row])
        ws.append([])
        ws.append([pt.footnote()])
        for c in out.columns:
            meta.append([sheet, str(c), pt._kind_of(c), 1, len(out), pt.policy.threshold,
                         pt.policy.rounding, pt.policy.symbol, pt.opted_out or ""])
    meta.sheet_state = "hidden"
    wb.move_sheet(METADATA_SHEET, offset=len(wb.sheetnames))
    wb.active = 0
    wb.save(path)
    return path


def _xl(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return None if v != v else float(v)
    if isinstance(v, float) and v != v:
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v
