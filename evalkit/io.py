"""Read, validate and account for every row of the input tables.

The rules for every table live in :mod:`evalkit.schema`; this module applies
them to files (CSV, XLSX, Parquet) or in-memory DataFrames and

* raises **one** :class:`~evalkit.errors.ValidationError` listing every problem
  found (file, spreadsheet row, column, bad value, what is expected), and
* otherwise returns typed tables plus a :class:`RowAccounting` that says, for
  every table, how many rows were read, used and excluded, and why.

Validation has two stages. First each cell is *parsed* from what the user
typed (dates in ISO ``2024-03-31`` or UK ``31/03/2024`` form, booleans as
yes/no, numbers with thousands separators or a leading ``£``); a cell that
cannot be parsed is a problem. Then the typed table is checked against a
`pandera <https://pandera.readthedocs.io>`_ schema built from the spec
(empty cells, allowed values, ranges, unique keys), and cross-table rules
(events refer to known people...) are applied.

Rows are never dropped silently. The only rows excluded rather than reported
as errors are completely blank rows (spreadsheets often carry them), each
counted with the reason ``blank row``. Later analyses may exclude more rows
(e.g. events outside the study window); they record them in the same
accounting with :meth:`RowAccounting.exclude`.

Example
-------
>>> import pandas as pd
>>> from evalkit.io import validate_table
>>> people = pd.DataFrame({"person_id": ["P1", "P2"], "area": ["North", "South"],
...                        "pilot_start": ["01/04/2024", ""]})
>>> table, account = validate_table(people, "people")
>>> str(table["pilot_start"].iloc[0].date()), account.used
('2024-04-01', 2)
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io as _io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError, Problem, ValidationError
from .schema import CROSS_TABLE_RULES, ColumnSpec, TableSpec, table_spec

__all__ = [
    "RowAccount",
    "RowAccounting",
    "read_raw",
    "validate_table",
    "read_table",
    "validate_tables",
    "pandera_schema",
    "file_sha256",
    "MAX_PROBLEMS_PER_KIND",
]

#: At most this many problems of one kind (table, column, message) are listed
#: individually; the rest are summarised in one line with their count.
MAX_PROBLEMS_PER_KIND = 50

_DELIMITERS = (",", ";", "\t", "|")
#: Common codes accepted for category columns (case-insensitive).
_ALIASES: dict[str, dict[str, str]] = {
    "sex": {"f": "female", "m": "male", "x": "other", "u": "unknown", "woman": "female",
            "man": "male", "not known": "unknown"},
    "event_type": {"referral declined": "referral_declined",
                   "referral accepted": "referral_accepted", "declined": "referral_declined"},
}
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}
_FY_RE = re.compile(r"^\s*(\d{4})\s*[-/]\s*(\d{2}|\d{4})\s*$")


# --------------------------------------------------------------------------
# Row accounting
# --------------------------------------------------------------------------
@dataclass
class RowAccount:
    """Rows read, used and excluded (with reasons) for one table."""

    table: str
    file: str | None
    read: int
    exclusions: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def excluded(self) -> int:
        return int(sum(self.exclusions.values()))

    @property
    def used(self) -> int:
        return self.read - self.excluded

    def exclude(self, reason: str, rows: Iterable[int] | int) -> None:
        """Record rows excluded for ``reason``.

        ``rows`` is either a count or the spreadsheet row numbers (kept as
        examples, up to 10).
        """
        if isinstance(rows, (int, np.integer)):
            n, ex = int(rows), []
        else:
            rows = [int(r) for r in rows]
            n, ex = len(rows), rows[:10]
        if n == 0:
            return
        if n > self.used:
            raise InputError(
                f"Cannot exclude {n:,} rows of {self.table} for {reason!r}: only "
                f"{self.used:,} rows are still in use."
            )
        self.exclusions[reason] = self.exclusions.get(reason, 0) + n
        self.examples.setdefault(reason, [])
        self.examples[reason] = (self.examples[reason] + ex)[:10]

    def to_frame(self) -> pd.DataFrame:
        rows = [
            {"table": self.table, "file": self.file, "status": "read", "reason": "",
             "rows": self.read, "example_rows": ""},
            {"table": self.table, "file": self.file, "status": "used", "reason": "",
             "rows": self.used, "example_rows": ""},
        ]
        for reason, n in self.exclusions.items():
            rows.append({"table": self.table, "file": self.file, "status": "excluded",
                         "reason": reason, "rows": n,
                         "example_rows": ", ".join(map(str, self.examples.get(reason, [])))})
        return pd.DataFrame(rows)


class RowAccounting:
    """Row accounting for every table of a place.

    ``accounting["events"]`` gives one table's :class:`RowAccount`;
    ``to_frame()`` a tidy table (table, file, status, reason, rows);
    ``summary()`` a one-line-per-table text.
    """

    def __init__(self, accounts: Iterable[RowAccount] = ()) -> None:
        self._accounts: dict[str, RowAccount] = {a.table: a for a in accounts}

    def __getitem__(self, table: str) -> RowAccount:
        try:
            return self._accounts[table]
        except KeyError:
            raise InputError(
                f"No row accounting for table {table!r}; tables loaded: "
                f"{', '.join(self._accounts) or 'none'}."
            ) from None

    def __contains__(self, table: object) -> bool:
        return table in self._accounts

    def __iter__(self):
        return iter(self._accounts.values())

    def add(self, account: RowAccount) -> None:
        self._accounts[account.table] = account

    def exclude(self, table: str, reason: str, rows: Iterable[int] | int) -> None:
        """Record that an analysis excluded ``rows`` of ``table`` for ``reason``."""
        self[table].exclude(reason, rows)

    def to_frame(self) -> pd.DataFrame:
        frames = [a.to_frame() for a in self._accounts.values()]
        if not frames:
            return pd.DataFrame(columns=["table", "file", "status", "reason", "rows",
                                         "example_rows"])
        return pd.concat(frames, ignore_index=True)

    def totals(self) -> pd.DataFrame:
        """One row per table: read, used, excluded."""
        return pd.DataFrame(
            [{"table": a.table, "file": a.file, "read": a.read, "used": a.used,
              "excluded": a.excluded} for a in self._accounts.values()],
            columns=["table", "file", "read", "used", "excluded"],
        )

    def summary(self) -> str:
        lines = ["Row accounting (every input row is used or excluded with a reason):"]
        for a in self._accounts.values():
            lines.append(f"  {a.table:<14} {a.read:>12,} read {a.used:>12,} used "
                         f"{a.excluded:>10,} excluded" + (f"   [{a.file}]" if a.file else ""))
            for reason, n in a.exclusions.items():
                ex = a.examples.get(reason)
                lines.append(f"      - {n:,} {reason}" + (
                    f" (e.g. rows {', '.join(map(str, ex[:5]))})" if ex else ""))
            for note in a.notes:
                lines.append(f"      note: {note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------
# Problem collection with per-kind caps
# --------------------------------------------------------------------------
class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._counts: dict[tuple, int] = {}

    def add(self, table: str, file: str | None, row: int | None, column: str | None,
            value: Any, message: str) -> None:
        key = (table, column, message)
        n = self._counts.get(key, 0) + 1
        self._counts[key] = n
        if n <= MAX_PROBLEMS_PER_KIND:
            self.items.append(Problem(table, file, row, column, value, message))

    def add_rows(self, table: str, file: str | None, rows: np.ndarray, column: str | None,
                 values: Iterable[Any], message: str) -> None:
        values = list(values)
        for r, v in zip(rows[:MAX_PROBLEMS_PER_KIND], values[:MAX_PROBLEMS_PER_KIND]):
            self.add(table, file, int(r), column, v, message)
        extra = len(rows) - MAX_PROBLEMS_PER_KIND
        if extra > 0:
            key = (table, column, message)
            self._counts[key] = self._counts.get(key, 0) + extra

    def finish(self) -> list[Problem]:
        order = {t: i for i, t in enumerate(dict.fromkeys(p.table for p in self.items))}
        out = sorted(self.items, key=lambda p: (order[p.table], p.row or 0))
        for (table, column, message), n in self._counts.items():
            if n > MAX_PROBLEMS_PER_KIND:
                file = next((p.file for p in self.items
                             if p.table == table and p.column == column), None)
                out.append(Problem(table, file, None, column, None,
                                   f"... and {n - MAX_PROBLEMS_PER_KIND:,} more rows with "
                                   f"the same problem ({message})"))
        return out

    def __bool__(self) -> bool:
        return bool(self.items)


# --------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------
def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (for provenance in reports)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _split_sheet(path: str | Path) -> tuple[Path, str | None]:
    text = str(path)
    if "#" in text:
        base, sheet = text.rsplit("#", 1)
        if base.lower().endswith((".xlsx", ".xlsm", ".xls")):
            return Path(base), sheet
    return Path(text), None


def read_raw(path: str | Path, table: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Read a CSV, XLSX or Parquet file without interpreting values.

    CSV and XLSX cells come back as text (so that errors can quote what the
    user typed); Parquet keeps its types. Encoding (UTF-8 with or without a
    byte-order mark, else Windows-1252 as Excel writes it) and delimiter
    (comma, semicolon, tab or pipe) are detected; what was detected is
    returned as notes.

    Parameters
    ----------
    path : str or Path
        The file. For a workbook, ``book.xlsx#sheet`` picks a sheet; otherwise
        the sheet named like ``table`` is used, or the only sheet.
    table : str, optional
        The logical table name (used to pick a sheet and in messages).

    Returns
    -------
    (DataFrame, list of str)
        The raw table and notes about how it was read.

    Raises
    ------
    ValidationError
        If the file does not exist, is empty, or cannot be decoded.
    """
    file_path, sheet = _split_sheet(path)
    label = str(path)
    tname = table or "input"

    def fail(message: str, row: int | None = None) -> ValidationError:
        return ValidationError([Problem(tname, label, row, None, None, message)])

    if not file_path.exists():
        hint = ""
        if file_path.parent.exists():
            near = difflib.get_close_matches(file_path.name,
                                             [p.name for p in file_path.parent.iterdir()], 1)
            if near:
                hint = f" Did you mean {near[0]!r}?"
        raise fail(f"file not found (looked for {file_path.resolve()}).{hint} Check the path "
                   "in place.yml; relative paths are read from the folder holding place.yml.")
    if file_path.is_dir():
        raise fail("this is a folder, not a file. Name the CSV/XLSX/Parquet file itself.")
    suffix = file_path.suffix.lower()
    if file_path.stat().st_size == 0:
        raise fail("the file is empty (0 bytes). It needs at least a header row naming the "
                   "columns; copy the template from data/templates/.")
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(file_path), []
        except Exception as exc:  # pyarrow raises many types
            raise fail(f"could not read as Parquet ({exc}).") from None
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return _read_excel(file_path, sheet, tname, label)
    if suffix not in (".csv", ".txt", ".tsv", ""):
        raise fail(f"unsupported file type {suffix!r}: use .csv, .xlsx or .parquet.")
    return _read_csv(file_path, tname, label)


def _read_excel(path: Path, sheet: str | None, table: str, label: str
                ) -> tuple[pd.DataFrame, list[str]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise ValidationError([Problem(table, label, None, None, None,
                                       f"could not open as an Excel workbook ({exc}).")]
                              ) from None
    names = wb.sheetnames
    wb.close()
    if sheet is None:
        if table in names:
            sheet = table
        elif len(names) == 1:
            sheet = names[0]
        else:
            raise ValidationError([Problem(table, label, None, None, None,
                                           f"the workbook has several sheets ({', '.join(names)})"
                                           f" and none is named {table!r}. Rename the sheet or "
                                           f"write the path as '{path.name}#SheetName'.")])
    elif sheet not in names:
        raise ValidationError([Problem(table, label, None, None, None,
                                       f"sheet {sheet!r} not found; the workbook has: "
                                       f"{', '.join(names)}.")])
    df = pd.read_excel(path, sheet_name=sheet, dtype=object, engine="openpyxl")
    df = df.map(_excel_cell_to_text) if len(df) else df.astype(str)
    df.columns = [str(c) for c in df.columns]
    return df, [f"read sheet {sheet!r}"]


def _excel_cell_to_text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, pd.Timestamp) or hasattr(v, "isoformat"):
        ts = pd.Timestamp(v)
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.isoformat(sep=" ")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _read_csv(path: Path, table: str, label: str) -> tuple[pd.DataFrame, list[str]]:
    raw = path.read_bytes()
    notes: list[str] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
        notes.append("file starts with a UTF-8 byte-order mark (as Excel writes); ignored it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        try:
            text = raw.decode("cp1252")
            notes.append("file is not UTF-8; read it as Windows-1252 (Excel's 'CSV' export). "
                         "Save as 'CSV UTF-8' to avoid this")
        except UnicodeDecodeError:
            line = raw[: exc.start].count(b"\n") + 1
            raise ValidationError([Problem(
                table, label, line, None, None,
                f"the file is not text in UTF-8 or Windows-1252 (undecodable byte "
                f"0x{raw[exc.start]:02x} at line {line}). Save it from Excel as 'CSV UTF-8'.")]
            ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise ValidationError([Problem(table, label, None, None, None,
                                       "the file has no content (only blank lines). It needs "
                                       "a header row naming the columns.")])
    header = text.splitlines()[0]
    delim = _detect_delimiter(header, table)
    names = next(csv.reader([header], delimiter=delim))
    seen: dict[str, int] = {}
    dups = []
    for i, n in enumerate(names, start=1):
        key = n.strip().lower()
        if key and key in seen:
            dups.append(Problem(table, label, 1, n.strip(), None,
                                f"the header names this column twice (columns {seen[key]} and "
                                f"{i}); each column must appear once"))
        seen.setdefault(key, i)
    if dups:
        raise ValidationError(dups)
    if delim != ",":
        notes.append(f"columns are separated by {_DELIM_NAMES[delim]}, not commas")
    try:
        df = pd.read_csv(_io.StringIO(text), sep=delim, dtype=str, keep_default_na=False,
                         na_values=[], skipinitialspace=False, quoting=csv.QUOTE_MINIMAL,
                         engine="c")
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        row = int(m.group(1)) if m else None
        raise ValidationError([Problem(
            table, label, row, None, None,
            f"the row has a different number of cells from the header ({exc}). Check for a "
            "stray separator or an unclosed quote on that line.")]) from None
    return df, notes


_DELIM_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes"}


def _detect_delimiter(header: str, table: str) -> str:
    """Pick the delimiter that splits the header into the most known column names."""
    spec_names: set[str] = set()
    try:
        spec_names = {c.lower() for c in table_spec(table).names}
    except InputError:
        pass
    best, best_score = ",", (-1, -1)
    for d in _DELIMITERS:
        parts = [p.strip().strip('"').lower() for p in header.split(d)]
        score = (sum(p in spec_names for p in parts), len(parts))
        if score > best_score:
            best, best_score = d, score
    return best


# --------------------------------------------------------------------------
# Parsing cells
# --------------------------------------------------------------------------
def _blank(s: pd.Series) -> pd.Series:
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        return s.isna() | (s.astype(str).str.strip() == "")
    return s.isna()


def _parse_dates(s: pd.Series, allow_time: bool) -> tuple[pd.Series, pd.Series]:
    """Parse ISO or UK dates (and times). Returns (values, bad_mask).

    Distinct strings are parsed once (an event log of millions of rows holds
    a few thousand distinct dates), trying each accepted format in turn.
    """
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        out = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
        return out.astype("datetime64[ns]"), pd.Series(False, index=s.index)
    blank = _blank(s).to_numpy()
    codes, uniques = pd.factorize(s.astype(str).str.strip().to_numpy())
    text = pd.Series(uniques, dtype=object)
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    todo = text.str.len() > 0
    formats = ["%Y-%m-%d", "%d/%m/%Y", "%Y-%m", "%Y/%m/%d", "%d-%m-%Y", "%d.%m.%Y"]
    if allow_time:
        formats = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S",
                   "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"] + formats
    else:
        # A date column may carry midnight times from Excel: accept and keep the day.
        formats = formats + ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
    for fmt in formats:
        if not todo.any():
            break
        got = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        ok = got.notna()
        if ok.any():
            parsed.loc[ok[ok].index] = got[ok]
            todo.loc[ok[ok].index] = False
    if not allow_time:
        parsed = parsed.dt.normalize()
    values = parsed.to_numpy()[codes]
    bad = todo.to_numpy()[codes] & ~blank
    values[blank] = np.datetime64("NaT")
    return (pd.Series(values, index=s.index, dtype="datetime64[ns]"),
            pd.Series(bad, index=s.index))


def _parse_numbers(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(float), pd.Series(False, index=s.index)
    text = s.astype(str).str.strip()
    blank = _blank(s)
    cleaned = text.str.replace(r"^£", "", regex=True).str.replace(",", "", regex=False)
    cleaned = cleaned.str.replace(r"^\((.*)\)$", r"-\1", regex=True)  # (123) accounting negative
    num = pd.to_numeric(cleaned.where(~blank, None), errors="coerce")
    bad = num.isna() & ~blank
    return num.astype(float), bad


def _parse_integers(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    num, bad = _parse_numbers(s)
    frac = num.notna() & (num != np.round(num))
    bad = bad | frac
    out = num.where(~bad).round().astype("Int64")
    return out, bad


def _parse_booleans(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("boolean"), pd.Series(False, index=s.index)
    text = s.astype(str).str.strip().str.lower()
    blank = _blank(s)
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[text.isin(_TRUE)] = True
    out[text.isin(_FALSE)] = False
    bad = out.isna() & ~blank
    return out, bad


def _infer_extra(s: pd.Series) -> pd.Series:
    """Type an extra (non-schema) column: numeric if every filled cell is a number."""
    if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
        return s
    num, bad = _parse_numbers(s)
    if bad.any():
        return _parse_text(s)
    if num.notna().any() and (num.dropna() == np.round(num.dropna())).all():
        return num.round().astype("Int64")
    return num


def _parse_text(s: pd.Series) -> pd.Series:
    blank = _blank(s)
    text = s.astype(str).str.strip()
    return text.where(~blank, None).astype("str")


def normalise_financial_year(value: str) -> str | None:
    """``2009/10``, ``2009-10``, ``2009/2010`` -> ``2009-10``; else ``None``.

    Examples
    --------
    >>> normalise_financial_year("2009/10"), normalise_financial_year("2019-2020")
    ('2009-10', '2019-20')
    >>> normalise_financial_year("not stated") is None
    True
    """
    m = _FY_RE.match(str(value))
    if not m:
        return None
    start, end = int(m.group(1)), m.group(2)
    end2 = int(end) % 100
    if end2 != (start + 1) % 100:
        return None
    return f"{start}-{end2:02d}"


# --------------------------------------------------------------------------
# pandera schema
# --------------------------------------------------------------------------
def pandera_schema(spec: TableSpec, present: Iterable[str] | None = None):
    """Build the pandera schema that checks a typed table against ``spec``.

    Only columns in ``present`` (default: all) are included; unknown extra
    columns are allowed (``strict=False``).
    """
    import pandera.pandas as pa

    present = set(present) if present is not None else set(spec.names)
    cols = {}
    for c in spec.columns:
        if c.name not in present:
            continue
        checks = []
        if c.allowed:
            checks.append(pa.Check.isin(list(c.allowed), ignore_na=True,
                                        error=f"must be {c.expected()}"))
        if c.min is not None:
            checks.append(pa.Check.ge(c.min, ignore_na=True, error=f"must be at least {c.min:g}"))
        if c.max is not None:
            checks.append(pa.Check.le(c.max, ignore_na=True, error=f"must be at most {c.max:g}"))
        cols[c.name] = pa.Column(None, checks=checks, nullable=c.nullable, unique=c.unique,
                                 required=False, coerce=False)
    return pa.DataFrameSchema(cols, strict=False, name=spec.name)


# --------------------------------------------------------------------------
# Validating one table
# --------------------------------------------------------------------------
def validate_table(
    data: pd.DataFrame,
    table: str,
    *,
    file: str | None = None,
    notes: Iterable[str] = (),
    event_type_map: Mapping[str, str] | None = None,
    _problems: _Problems | None = None,
    _rownums: dict[str, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, RowAccount]:
    """Validate and type one table against its spec.

    Parameters
    ----------
    data : DataFrame
        Raw (text) or already-typed table, in file order. Row ``i`` of the
        frame is spreadsheet row ``i + 2``.
    table : str
        Table name in :data:`evalkit.schema.TABLES`.
    file : str, optional
        File name shown in messages.
    notes : iterable of str
        Notes from reading (encoding, delimiter), kept in the row account.
    event_type_map : mapping, optional
        Local event-type codes -> standard codes (events table only).

    Returns
    -------
    (DataFrame, RowAccount)
        The typed table (spec columns first, then extra columns, blank rows
        removed, index reset) and its row account.

    Raises
    ------
    ValidationError
        Listing every problem.
    """
    spec = table_spec(table)
    own = _problems is None
    problems = _problems if _problems is not None else _Problems()
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"The {table} table must be a pandas DataFrame, got "
                         f"{type(data).__name__}.")
    df = data.copy()
    df.columns = [str(c) for c in df.columns]
    rownum = np.arange(len(df)) + 2
    account = RowAccount(table=table, file=file, read=len(df), notes=list(notes))

    # --- headers: strip, case-insensitive match, duplicates, missing ---
    df, header_ok = _normalise_headers(df, spec, file, problems, account)
    if not header_ok:
        if own:
            raise ValidationError(problems.finish())
        return df, account

    # --- blank rows ---
    if len(df.columns):
        blank_rows = np.logical_and.reduce([_blank(df[c]).to_numpy() for c in df.columns])
    else:
        blank_rows = np.zeros(len(df), dtype=bool)
    if blank_rows.any():
        account.exclude("blank row", rownum[blank_rows])
        df = df.loc[~blank_rows]
        rownum = rownum[~blank_rows]
    df = df.reset_index(drop=True)

    if len(df) == 0 and not spec.optional:
        problems.add(table, file, None, None, None,
                     "the table has a header but no data rows. Fill in at least one row.")

    # --- parse each spec column ---
    bad_cells: dict[str, np.ndarray] = {}
    for c in spec.columns:
        if c.name not in df.columns:
            continue
        col = df[c.name]
        if c.name == "event_type" and event_type_map:
            mapped = col.astype(str).str.strip()
            col = mapped.map(lambda v: event_type_map.get(v, v))
        parsed, bad = _parse_column(col, c)
        bad = bad.to_numpy()
        if bad.any():
            problems.add_rows(table, file, rownum[bad], c.name, df.loc[bad, c.name],
                              f"could not read the value; expected {c.expected()}")
            bad_cells[c.name] = bad
        df[c.name] = parsed

    # --- table-specific normalisation and rules ---
    _table_rules(df, spec, file, rownum, problems)

    # --- pandera checks: empties, allowed values, ranges, uniqueness ---
    present = [c for c in spec.names if c in df.columns]
    _run_pandera(df, spec, present, file, rownum, problems, skip=bad_cells)

    # extra columns (possible covariates): numbers become numbers, the rest stays text
    extras = [c for c in df.columns if c not in present]
    for c in extras:
        df[c] = _infer_extra(df[c])

    # column order: spec first, then extras as given
    ordered = present + extras
    df = df[ordered]
    if own and problems:
        raise ValidationError(problems.finish())
    if _rownums is not None:  # spreadsheet row numbers, for cross-table messages
        _rownums[table] = rownum
    return df, account


def _normalise_headers(df: pd.DataFrame, spec: TableSpec, file: str | None,
                       problems: _Problems, account: RowAccount) -> tuple[pd.DataFrame, bool]:
    cleaned = [c.replace("\ufeff", "").strip() for c in df.columns]
    lower_spec = {n.lower(): n for n in spec.names}
    renamed = []
    for c in cleaned:
        key = c.lower().replace(" ", "_")
        renamed.append(lower_spec.get(key, c))
    ok = True
    seen: dict[str, int] = {}
    for i, c in enumerate(renamed):
        if c in seen:
            problems.add(spec.name, file, 1, c, None,
                         f"the header names column '{c}' twice (columns {seen[c] + 1} and "
                         f"{i + 1}); each column must appear once")
            ok = False
        seen.setdefault(c, i)
    unnamed = [i + 1 for i, c in enumerate(renamed) if c == "" or c.startswith("Unnamed:")]
    df = df.set_axis(renamed, axis=1)
    # Columns with no header and no data (trailing commas) are ignored with a note.
    for i in unnamed:
        col = df.columns[i - 1]
        if _blank(df.iloc[:, i - 1]).all():
            account.notes.append(f"ignored empty column {i} with no header")
        else:
            problems.add(spec.name, file, 1, None, None,
                         f"column {i} has data but no header; give it a name")
            ok = False
        del col
    df = df[[c for j, c in enumerate(df.columns) if (j + 1) not in unnamed]]
    missing = [n for n in spec.required_names if n not in df.columns]
    for n in missing:
        near = difflib.get_close_matches(n, list(df.columns), 1, cutoff=0.6)
        hint = f" Is '{near[0]}' meant to be '{n}'?" if near else ""
        problems.add(spec.name, file, 1, n, None,
                     f"required column '{n}' is missing from the header row; the header has: "
                     f"{', '.join(map(str, df.columns)) or 'nothing'}.{hint}")
        ok = False
    if len(df.columns) == 1 and len(spec.required_names) > 1 and missing:
        only = str(df.columns[0])
        for d in _DELIMITERS:
            if d != "," and d in only:
                problems.add(spec.name, file, 1, None, None,
                             f"the whole header is one column; the file may use "
                             f"{_DELIM_NAMES[d]} as separators in an unexpected way")
    return df, ok


def _parse_column(col: pd.Series, c: ColumnSpec) -> tuple[pd.Series, pd.Series]:
    if c.dtype in ("date", "datetime"):
        return _parse_dates(col, allow_time=c.dtype == "datetime")
    if c.dtype == "number":
        return _parse_numbers(col)
    if c.dtype == "integer":
        return _parse_integers(col)
    if c.dtype == "boolean":
        return _parse_booleans(col)
    text = _parse_text(col)
    if c.dtype == "category" and c.allowed:
        lower = {a.lower(): a for a in c.allowed}
        lower.update({k: v for k, v in _ALIASES.get(c.name, {}).items() if v in c.allowed})
        low = text.str.lower()
        canon = low.map(lower)
        # keep unknown values as typed so the allowed-values check reports them
        text = canon.where(canon.notna(), text)
    return text, pd.Series(False, index=col.index)


def _table_rules(df: pd.DataFrame, spec: TableSpec, file: str | None, rownum: np.ndarray,
                 problems: _Problems) -> None:
    name = spec.name
    if name == "events" and "event_type" in df.columns:
        is_ref = (df["event_type"] == "referral").to_numpy()
        if "referred_to" in df.columns:
            missing = is_ref & _blank(df["referred_to"]).to_numpy()
            if missing.any():
                problems.add_rows(name, file, rownum[missing], "referred_to",
                                  [None] * int(missing.sum()),
                                  "a referral must say which organisation it was made to; "
                                  "fill in referred_to")
        elif is_ref.any():
            problems.add(name, file, 1, "referred_to", None,
                         "the log has referral rows but no 'referred_to' column; add it and "
                         "name the organisation each referral was made to")
    if name == "unit_costs":
        if "price_year" in df.columns:
            fy = df["price_year"].map(lambda v: normalise_financial_year(v) if v else None)
            bad = (fy.isna() & ~_blank(df["price_year"])).to_numpy()
            if bad.any():
                problems.add_rows(name, file, rownum[bad], "price_year", df.loc[bad, "price_year"],
                                  "price year must be a financial year such as 2014-15 or "
                                  "2014/15")
            df["price_year"] = fy.where(~bad, df["price_year"])
        if "cost_gbp" in df.columns:
            zero = (df["cost_gbp"] <= 0).fillna(False).to_numpy()
            if zero.any():
                problems.add_rows(name, file, rownum[zero], "cost_gbp", df.loc[zero, "cost_gbp"],
                                  "a unit cost must be a positive amount of pounds")
        if "value_type" in df.columns:
            df["value_type"] = df["value_type"].where(df["value_type"].notna(), "fiscal")


def _run_pandera(df: pd.DataFrame, spec: TableSpec, present: list[str], file: str | None,
                 rownum: np.ndarray, problems: _Problems, skip: dict[str, np.ndarray]
                 ) -> None:
    import pandera.pandas as pa

    schema = pandera_schema(spec, present)
    # Cells that failed to parse are already reported; hide them from pandera.
    check = df[present]
    try:
        schema.validate(check, lazy=True)
        return
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
    for (column, check_name), grp in fc.groupby(["column", "check"], sort=False, dropna=False):
        idx = grp["index"]
        if idx.isna().all():
            continue
        positions = idx.dropna().astype(int).to_numpy()
        if column in skip:  # cells that failed to parse are already reported
            positions = positions[~skip[column][positions]]
        if len(positions) == 0:
            continue
        cspec = spec.column(column) if column in spec.names else None
        check_name = str(check_name)
        if check_name == "not_nullable":
            msg = "this cell is empty but must be filled in" + (
                f" with {cspec.expected().replace(' (must not be empty)', '')}" if cspec else "")
            values = [None] * len(positions)
        elif check_name == "field_uniqueness":
            vals = df[column]
            first = {}
            for pos in np.flatnonzero(vals.duplicated(keep=False).to_numpy()):
                first.setdefault(vals.iloc[pos], pos)
            msg = f"'{column}' must be unique (a key), but this value appears more than once"
            dup_rows = [p for p in positions if first.get(df[column].iloc[p]) != p]
            values = [f"{v} (first seen in row {rownum[first[v]]})"
                      for v in (df[column].iloc[p] for p in dup_rows)]
            positions = np.asarray(dup_rows, dtype=int)
            if len(positions) == 0:
                continue
        else:
            msg = (cspec.expected() if cspec else check_name)
            msg = f"value not allowed; expected {msg}"
            values = df[column].iloc[positions].tolist()
        problems.add_rows(spec.name, file, rownum[positions], column, values, msg)


# --------------------------------------------------------------------------
# Files and sets of tables
# --------------------------------------------------------------------------
def read_table(
    path: str | Path,
    table: str,
    *,
    label: str | None = None,
    event_type_map: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, RowAccount]:
    """Read and validate one file as ``table``.

    Parameters
    ----------
    path : str or Path
        CSV, XLSX (``book.xlsx#sheet`` to pick a sheet) or Parquet file.
    table : str
        Table name (``people``, ``events``...).
    label : str, optional
        How to name the file in messages (default: the path as given).

    Returns
    -------
    (DataFrame, RowAccount)

    Raises
    ------
    ValidationError
        Listing every problem, each with file, row, column and value.
    """
    label = label or str(path)
    raw, notes = read_raw(path, table)
    return validate_table(raw, table, file=label, notes=notes, event_type_map=event_type_map)


def validate_tables(
    tables: Mapping[str, pd.DataFrame | str | Path],
    *,
    labels: Mapping[str, str] | None = None,
    event_type_map: Mapping[str, str] | None = None,
) -> tuple[dict[str, pd.DataFrame], RowAccounting]:
    """Validate a set of tables together, including cross-table rules.

    Parameters
    ----------
    tables : mapping
        Table name -> DataFrame or file path. ``people`` and ``partners`` are
        required by a place; other tables are optional.
    labels : mapping, optional
        Table name -> how to name its source in messages.

    Returns
    -------
    (dict of DataFrame, RowAccounting)

    Raises
    ------
    ValidationError
        One error listing every problem in every table.
    """
    labels = dict(labels or {})
    problems = _Problems()
    typed: dict[str, pd.DataFrame] = {}
    rownums: dict[str, np.ndarray] = {}
    accounting = RowAccounting()
    for name, source in tables.items():
        if source is None:
            continue
        table_spec(name)
        try:
            if isinstance(source, pd.DataFrame):
                raw, notes, label = source, [], labels.get(name)
            else:
                label = labels.get(name, str(source))
                raw, notes = read_raw(source, name)
            df, account = validate_table(raw, name, file=label, notes=notes,
                                         event_type_map=event_type_map, _problems=problems,
                                         _rownums=rownums)
        except ValidationError as err:
            for p in err.problems:
                problems.add(p.table, p.file, p.row, p.column, p.value, p.message)
            continue
        typed[name] = df
        accounting.add(account)
    _cross_table(typed, labels, problems, rownums)
    if problems:
        raise ValidationError(problems.finish())
    return typed, accounting


def _cross_table(typed: dict[str, pd.DataFrame], labels: Mapping[str, str],
                 problems: _Problems, rownums: Mapping[str, np.ndarray]) -> None:
    for table, column, ref_table, ref_column in CROSS_TABLE_RULES:
        if table not in typed or ref_table not in typed:
            continue
        df, ref = typed[table], typed[ref_table]
        if column not in df.columns or ref_column not in ref.columns:
            continue
        known = pd.Index(ref[ref_column].dropna().unique())
        vals = df[column]
        unknown = (vals.notna() & ~vals.isin(known)).to_numpy()
        if unknown.any():
            rownum = rownums.get(table, np.arange(len(df)) + 2)
            problems.add_rows(
                table, labels.get(table), np.asarray(rownum)[unknown], column,
                vals[unknown].tolist(),
                f"not found in the {ref_table} table ({ref_column}); every {column} here must "
                f"appear there")
