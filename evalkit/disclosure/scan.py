"""The leak scan: read every file a build publishes and list what must not be there.

:func:`scan_build` walks a built book (or any folder of published files) and
reports, with file and location:

* **person identifiers** from the place's input (``people``/``events``/
  ``outcomes`` ``person_id``), matched as whole tokens, case-insensitively
  (``P0000123`` is found in "P0000123." or "id=P0000123" but not in
  "P00001234" or "XP0000123");
* **dates of birth** from the input, in any common spelling: ISO
  (``1990-05-17``, with or without a time), UK (``17/05/1990``, ``17-5-1990``,
  ``17.05.1990``, ``17/05/90``), US (``05/17/1990``), written (``17 May 1990``,
  ``17th of May, 1990``, ``May 17, 1990``) and Unix timestamps in seconds or
  milliseconds (how pandas writes dates to JSON). A year or a number on its own
  is never flagged, nor are eight-digit numbers (``19900517``): in a large place
  almost any such number in a theme's scripts would match somebody's birthday.
  For the same reason, a real date the report must show (the pilot's start)
  can collide with a birthday: allow it with ``allowed_dates``;
* **postcodes** from the input (any spacing or case), and any other full UK
  postcode (a place can allow its own office address);
* **secrets** such as the pseudonymisation key, if given;
* **small counts**: a cell in a *count* column of a published table that
  shows 1 to ``threshold - 1`` (or 0 when zeros are suppressed), or a count
  not rounded to the policy's base.

How tables are marked as count tables
-------------------------------------
* **HTML**: any ``<td>``/``<th>`` with ``data-evalkit-kind="count"``; or, for
  tables rendered by other means, a ``<table>`` with class ``evalkit-counts``
  or ``data-evalkit-table="counts"`` whose cells carry no kinds (then every
  ``<td>`` is a count). :meth:`ProtectedTable.to_html` writes these marks.
* **CSV**: a sidecar ``<file>.csv.disclosure.json`` with
  ``{"columns": {"<column>": "count", ...}}`` (written by
  :meth:`ProtectedTable.to_csv`).
* **XLSX**: a (hidden) sheet ``_evalkit_disclosure`` with columns ``sheet``,
  ``column``, ``kind``, ``header_row`` and ``n_rows`` (written by
  :func:`write_xlsx`).

What is read
------------
HTML (text, attributes including image ``alt``/``title``, comments, scripts
and JSON in script tags, ``data:`` URIs decoded when textual), CSV/TSV, XLSX,
JSON, notebooks (``.ipynb``: sources and every output, HTML outputs parsed as
HTML), SVG, JavaScript, Markdown and every other text file, and PNG text
chunks. Other binary files (fonts, JPEG, PDF, archives) are listed as *not
scanned* in the report so that nothing is skipped silently.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "index.html").write_text("<p>Seen: P0000123 (born 17 May 1990)</p>")
>>> r = scan_build(d, identifiers=["P0000123"], dates_of_birth=["1990-05-17"])
>>> r.ok, [f.kind for f in r.findings]
(False, ['person identifier', 'date of birth'])
"""

from __future__ import annotations

import base64
import bisect
import csv
import datetime as _dt
import io
import json
import re
import struct
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import InputError
from .rules import DisclosurePolicy
from .tables import METADATA_SHEET

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["Finding", "ScanReport", "scan_build", "scan_place_build", "place_needles"]

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
    "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8,
    "august": 8, "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10,
    "nov": 11, "november": 11, "dec": 12, "december": 12,
}
# One pass finds every numeric date shape (the look-behind sits after the first digit
# so that the regex engine can skip quickly to digits); _numeric_date() then reads
# it as ISO (1990-05-17), day-first (17/05/1990, UK) or month-first (05/17/1990, US).
_RE_NUM_DATE = re.compile(
    r"\d(?<![\d.]\d)\d{0,3}([-/.])\d{1,2}\1\d{2,4}(?!\d)(?!\.\d)")
# Written months, matched on lower-cased text and anchored on the month name:
# "may 17, 1990" (month first) or "... may 1990" with the day found just before it.
# The first letter comes before the look-behind so the engine can skip ahead fast;
# odd combinations it lets through ("mug") are dropped by the _MONTHS lookup.
_MONTH_ALT = (r"[adfjmnos](?<![a-z][adfjmnos])(?:an(?:uary)?|eb(?:ruary)?|ar(?:ch)?|"
              r"pr(?:il)?|ay|une?|uly?|ug(?:ust)?|ept?(?:ember)?|ct(?:ober)?|ov(?:ember)?|"
              r"ec(?:ember)?)")
_RE_MONTH = re.compile(
    rf"({_MONTH_ALT})(?![a-z])(?:\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})"
    rf"|\.?,?[\s\-]+(\d{{4}}|\d{{2}}))(?!\d)")
_RE_DAY_BEFORE = re.compile(r"(?<![\da-z])(\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?[\s\-]+$")
_RE_EPOCH = re.compile(r"\d(?<![\d.]\d)\d{8,12}(?!\.?\d)")
_RE_TOKEN = re.compile(r"[A-Za-z0-9]+")
_RE_POSTCODE_ANY = re.compile(
    r"([A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z]?[0-9][A-Za-z0-9]?)[ \t]*([0-9][A-Za-z]{2})"
    r"(?![A-Za-z0-9])")
# Strict UK format for postcodes not in the input: upper case, one space, valid letters.
_RE_POSTCODE_UK = re.compile(
    r"([A-PR-UWYZ](?<![A-Za-z0-9][A-PR-UWYZ])"
    r"(?:[0-9][A-HJKPSTUW0-9]?|[A-HK-Y][0-9][ABEHMNPRVWXY0-9]?)"
    r") ([0-9][ABD-HJLNP-UW-Z]{2})(?![A-Za-z0-9])")
_TEXT_SUFFIXES = {".html", ".htm", ".xhtml", ".csv", ".tsv", ".json", ".ipynb", ".svg",
                  ".js", ".mjs", ".css", ".txt", ".md", ".rst", ".xml", ".tex", ".yml",
                  ".yaml", ".map", ".py", ".inv", ".buildinfo", ".ris", ".bib"}
_BINARY_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico", ".woff", ".woff2",
                    ".ttf", ".otf", ".eot", ".pdf", ".zip", ".gz", ".xz", ".bz2", ".pickle",
                    ".pkl", ".doctree", ".parquet", ".feather", ".mo"}


@dataclass(frozen=True)
class Finding:
    """One thing found that must not be published.

    ``value`` holds what was matched; it is masked in :meth:`describe` unless
    asked for, so that the scan's own output (e.g. a CI log) does not repeat
    the leak.
    """

    file: str
    location: str
    kind: str
    detail: str
    value: str = field(default="", repr=False)

    def describe(self, show_values: bool = False) -> str:
        shown = self.value if show_values else _mask(self.value, self.kind)
        return f"{self.file}: {self.location}: {self.kind}: {self.detail}" + (
            f" [{shown}]" if shown else "")


def _mask(value: str, kind: str) -> str:
    if not value:
        return ""
    if kind in ("date of birth",):
        return re.sub(r"[0-9]", "#", value)
    if kind == "secret":
        return "<hidden>"
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 3) + value[-1]


@dataclass
class ScanReport:
    """What :func:`scan_build` found.

    Attributes
    ----------
    build_dir : Path
    findings : list of Finding
    files_scanned : list of str
    not_scanned : list of (file, reason)
    notes : list of str
    """

    build_dir: Path
    findings: list[Finding]
    files_scanned: list[str]
    not_scanned: list[tuple[str, str]]
    notes: list[str]

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    def to_frame(self, show_values: bool = False) -> pd.DataFrame:
        """One row per finding (values masked unless ``show_values``)."""
        return pd.DataFrame(
            [{"file": f.file, "location": f.location, "kind": f.kind, "detail": f.detail,
              "value": f.value if show_values else _mask(f.value, f.kind)}
             for f in self.findings],
            columns=["file", "location", "kind", "detail", "value"])

    def lines(self, show_values: bool = False) -> list[str]:
        return [f.describe(show_values) for f in self.findings]

    def summary(self):  # -> Summary
        from ..evaluate.result import Summary

        by_kind = self.to_frame()["kind"].value_counts()
        header = [("Folder", str(self.build_dir)),
                  ("Files scanned", str(len(self.files_scanned))),
                  ("Not scanned", str(len(self.not_scanned))),
                  ("Findings", str(len(self.findings)))]
        header += [(k, str(v)) for k, v in by_kind.items()]
        tables = [("Findings", self.to_frame())] if self.findings else []
        if self.not_scanned:
            tables.append(("Files not scanned", pd.DataFrame(self.not_scanned,
                                                             columns=["file", "reason"])))
        verdict = "PASS: nothing found." if self.ok else "FAIL: remove these before publishing."
        return Summary("Disclosure leak scan", header, tables, [verdict, *self.notes])

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Bar chart of findings by kind."""
        from ..plotting import OKABE_ITO, get_axes

        ax = get_axes(ax)
        counts = self.to_frame()["kind"].value_counts()
        ax.barh([str(k) for k in counts.index], counts.to_numpy(), color=OKABE_ITO[5])
        ax.set_xlabel("Findings (number)")
        ax.set_ylabel("Kind")
        ax.set_title("Disclosure leak scan: " + ("pass" if self.ok else "fail"))
        return ax

    def __str__(self) -> str:
        head = (f"Disclosure leak scan of {self.build_dir}: {len(self.files_scanned)} files "
                f"scanned, {len(self.findings)} finding(s).")
        return "\n".join([head, *self.lines(), *self.notes])

    __repr__ = __str__


# ---------------------------------------------------------------------------
# what to look for
# ---------------------------------------------------------------------------
def _to_date(value: Any) -> _dt.date | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    s = str(value).strip()
    if not s:
        return None
    try:
        ts = pd.Timestamp(s) if re.match(r"^\d{4}-", s) else pd.to_datetime(s, dayfirst=True)
    except (ValueError, TypeError):
        raise InputError(f"dates_of_birth: cannot read {value!r} as a date.") from None
    return None if pd.isna(ts) else ts.date()


def _norm_postcode(s: str) -> str:
    return re.sub(r"\s+", "", str(s)).upper()


class _Needles:
    """Everything the scan looks for, indexed for fast lookup."""

    def __init__(self, identifiers: Iterable[Any], dates_of_birth: Iterable[Any],
                 postcodes: Iterable[Any], secrets: Iterable[str],
                 allowed_postcodes: Iterable[str], allowed_dates: Iterable[Any],
                 check_postcode_pattern: bool) -> None:
        self.ids_alnum: set[str] = set()
        other: set[str] = set()
        self.unsearchable = 0
        for raw in identifiers:
            if raw is None or (isinstance(raw, float) and raw != raw):
                continue
            s = str(raw).strip()
            if isinstance(raw, float) and raw.is_integer():
                s = str(int(raw))
            if not s:
                continue
            if not _searchable(s):
                self.unsearchable += 1
                continue
            if _RE_TOKEN.fullmatch(s):
                self.ids_alnum.add(s.lower())
            else:
                other.add(s)
        self.ids_shape = _shape_regex(self.ids_alnum)
        self.ids_other = None
        if other:
            alt = "|".join(re.escape(s) for s in sorted(other, key=len, reverse=True))
            self.ids_other = re.compile(rf"(?<![A-Za-z0-9])(?:{alt})(?![A-Za-z0-9])",
                                        re.IGNORECASE)
        allowed = {d for d in (_to_date(x) for x in allowed_dates) if d}
        self.dobs: set[tuple[int, int, int]] = set()
        self.dobs_yy: set[tuple[int, int, int]] = set()
        self.epochs: set[int] = set()
        for x in dates_of_birth:
            d = _to_date(x)
            if d is None or d in allowed:
                continue
            self.dobs.add((d.year, d.month, d.day))
            self.dobs_yy.add((d.year % 100, d.month, d.day))
            secs = int((_dt.datetime(d.year, d.month, d.day) - _dt.datetime(1970, 1, 1))
                       .total_seconds())
            self.epochs.update({secs, secs * 1000})
        self.postcodes = {_norm_postcode(p) for p in postcodes
                          if p is not None and not (isinstance(p, float) and p != p)
                          and str(p).strip()}
        self.allowed_postcodes = {_norm_postcode(p) for p in allowed_postcodes}
        self.secrets = [s for s in secrets if s and len(s) >= 8]
        self.check_postcode_pattern = check_postcode_pattern

    @property
    def n_identifiers(self) -> int:
        return len(self.ids_alnum) + (len(self.ids_other.pattern.split("|"))
                                      if self.ids_other else 0)


def _numeric_date(s: str, sep: str, dobs: set, yy: set) -> bool:
    """Whether a numeric date shape (ISO, UK or US order) is a date of birth."""
    parts = s.split(sep)
    if len(parts) != 3:
        return False
    a, b, c = parts
    if sep == "." and (len(b) != 2 or (len(a) != 2 and len(a) != 4)):
        return False                       # dots only with two-digit parts (not decimals)
    if len(a) == 4:                        # ISO: 1990-05-17
        return len(c) <= 2 and (int(a), int(b), int(c)) in dobs
    if len(a) > 2:
        return False
    if len(c) == 4:                        # 17/05/1990 (UK) or 05/17/1990 (US)
        return (int(c), int(b), int(a)) in dobs or (int(c), int(a), int(b)) in dobs
    if len(c) == 2 and sep == "/":         # 17/05/90
        return (int(c), int(b), int(a)) in yy
    return False


def _shape_regex(ids: set[str]) -> re.Pattern[str] | None:
    """A regex matching every token with the shape of some identifier (e.g. P + 7 digits).

    Scanning for a few shapes in C and looking matches up in a set is much
    faster than splitting large files into tokens in Python. ``None`` when the
    identifiers have too many shapes (then every token is looked up).
    """
    shapes = set()
    for s in ids:
        runs = re.findall(r"[a-z]+|[0-9]+", s)
        shapes.add("".join(f"[A-Za-z]{{{len(r)}}}" if r[0].isalpha() else f"[0-9]{{{len(r)}}}"
                           for r in runs))
        if len(shapes) > 12:
            return None
    if not shapes:
        return None
    return re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(sorted(shapes)) + r")(?![A-Za-z0-9])")


def _searchable(s: str) -> bool:
    """Whether an identifier is distinctive enough to search as free text."""
    alnum = re.sub(r"[^A-Za-z0-9]", "", s)
    if len(alnum) < 4:
        return False
    if alnum.isdigit():
        return len(alnum) >= 6
    if alnum.isalpha():
        return len(alnum) >= 8
    return True


# ---------------------------------------------------------------------------
# scanning text
# ---------------------------------------------------------------------------
class _Scanner:
    def __init__(self, root: Path, needles: _Needles, policy: DisclosurePolicy,
                 policy_given: bool) -> None:
        self.root = root
        self.n = needles
        self.policy = policy
        self.policy_given = policy_given
        self.findings: list[Finding] = []
        self.notes: list[str] = []
        self._seen: set[tuple[str, str, str, str]] = set()

    def add(self, file: str, location: str, kind: str, detail: str, value: str) -> None:
        key = (file, location, kind, value)
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(Finding(file, location, kind, detail, value))

    # -- free text ----------------------------------------------------------
    def text(self, text: str, file: str, where: Callable[[int], str]) -> None:
        if not text:
            return
        n = self.n
        if n.ids_alnum:
            for m in (n.ids_shape or _RE_TOKEN).finditer(text):
                tok = m.group(0)
                if tok.lower() in n.ids_alnum:
                    self.add(file, where(m.start()), "person identifier",
                             "a person_id from the place's input", tok)
        if n.ids_other is not None:
            for m in n.ids_other.finditer(text):
                self.add(file, where(m.start()), "person identifier",
                         "a person_id from the place's input", m.group(0))
        if n.dobs:
            self._dates(text, file, where)
        if n.postcodes or n.check_postcode_pattern:
            self._postcodes(text, file, where)
        for s in n.secrets:
            start = text.find(s)
            if start >= 0:
                self.add(file, where(start), "secret", "the pseudonymisation key", s)

    def _dob_hit(self, file: str, where: Callable[[int], str], pos: int, text: str) -> None:
        self.add(file, where(pos), "date of birth", "a date of birth from the place's input",
                 text)

    def _dates(self, text: str, file: str, where: Callable[[int], str]) -> None:
        dobs, yy = self.n.dobs, self.n.dobs_yy
        for m in _RE_NUM_DATE.finditer(text):
            if _numeric_date(m.group(0), m.group(1), dobs, yy):
                self._dob_hit(file, where, m.start(), m.group(0))
        low = text.lower()
        if len(low) == len(text):
            for m in _RE_MONTH.finditer(low):
                mon = _MONTHS.get(m.group(1))
                if mon is None:
                    continue
                if m.group(2) is not None:               # May 17, 1990
                    if (int(m.group(3)), mon, int(m.group(2))) in dobs:
                        self._dob_hit(file, where, m.start(), text[m.start():m.end()])
                    continue
                day = _RE_DAY_BEFORE.search(low, max(0, m.start() - 12), m.start())
                if day is None:
                    continue
                y = m.group(4)                            # 17 May 1990, 17th of May 90
                if (int(y), mon, int(day.group(1))) in (dobs if len(y) == 4 else yy):
                    self._dob_hit(file, where, day.start(), text[day.start():m.end()])
        if self.n.epochs:
            for m in _RE_EPOCH.finditer(text):
                start = m.start() - (1 if m.start() and text[m.start() - 1] == "-" else 0)
                if int(text[start:m.end()]) in self.n.epochs:
                    self._dob_hit(file, where, start, text[start:m.end()])

    def _postcodes(self, text: str, file: str, where: Callable[[int], str]) -> None:
        n = self.n
        if n.postcodes:
            for m in _RE_POSTCODE_ANY.finditer(text):
                pc = (m.group(1) + m.group(2)).upper()
                if pc in n.postcodes and pc not in n.allowed_postcodes:
                    self.add(file, where(m.start()), "postcode",
                             "a postcode from the place's input", m.group(0))
        if n.check_postcode_pattern:
            for m in _RE_POSTCODE_UK.finditer(text):
                pc = m.group(1) + m.group(2)
                if pc not in n.allowed_postcodes and pc not in n.postcodes:
                    self.add(file, where(m.start()), "postcode",
                             "a full UK postcode (allow it in disclosure.allowed_postcodes "
                             "if it is an office address)", m.group(0))

    # -- numbers in count cells ------------------------------------------------
    def count_cell(self, raw: Any, file: str, location: str, threshold: int | None = None,
                   rounding: int | None = None) -> None:
        pol = self.policy
        t = pol.threshold if (self.policy_given or threshold is None) else threshold
        r = pol.rounding if (self.policy_given or rounding is None) else rounding
        if isinstance(raw, bool) or raw is None:
            return
        if isinstance(raw, (int, float)):
            v = float(raw)
        else:
            s = str(raw).strip().replace(",", "").replace("\u00a0", "").replace(" ", "")
            if not re.fullmatch(r"-?\d+(\.\d+)?", s):
                return
            v = float(s)
        if v != v or not float(v).is_integer():
            return
        v_int = int(v)
        if 0 < abs(v_int) < t or (v_int == 0 and pol.zeros == "suppress"):
            self.add(file, location, "small count",
                     f"a published count of {v_int} (counts from "
                     f"{0 if pol.zeros == 'suppress' else 1} to {t - 1} must be suppressed)",
                     "")
        elif r > 1 and v_int % r != 0:
            self.add(file, location, "unrounded count",
                     f"a published count of {v_int} is not rounded to the nearest {r}", "")


def _line_locator(text: str, base_line: int = 1, prefix: str = "",
                  base_col: int = 0) -> Callable[[int], str]:
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(pos: int) -> str:
        i = bisect.bisect_right(starts, pos) - 1
        line = base_line + i
        col = (pos - starts[i]) + (base_col if i == 0 else 0) + 1
        return f"{prefix}line {line}, col {col}"

    return where


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------
class _HTMLScan(HTMLParser):
    def __init__(self, sc: _FileScanner, file: str, prefix: str = "") -> None:
        super().__init__(convert_charrefs=True)
        self.sc = sc
        self.file = file
        self.prefix = prefix
        self.tables: list[dict[str, Any]] = []
        self.table_count = 0
        self.cell: dict[str, Any] | None = None

    def _where(self, extra: str = "") -> Callable[[int], str]:
        line, col = self.getpos()
        return lambda pos: f"{self.prefix}line {line}, col {col + 1}{extra}"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line, col = self.getpos()
        a = {k: (v or "") for k, v in attrs}
        for name, value in a.items():
            if not value:
                continue
            loc = f"{self.prefix}line {line}, <{tag} {name}=...>"
            if value.startswith("data:"):
                self.sc.data_uri(value, self.file, loc)
                continue
            self.sc.text(urllib.parse.unquote(value) if name in ("href", "src") else value,
                         self.file, lambda _pos, loc=loc: loc)
        if tag == "table":
            self.table_count += 1
            classes = a.get("class", "").split()
            mark = a.get("data-evalkit-table", "")
            self.tables.append({
                "n": self.table_count, "id": a.get("id", ""),
                "all_counts": mark == "counts" or ("evalkit-counts" in classes and not mark),
                "opted_out": mark == "opted-out",
                "threshold": _int(a.get("data-evalkit-threshold")),
                "rounding": _int(a.get("data-evalkit-rounding")),
                "row": 0, "col": 0, "headers": [], "name": a.get("data-evalkit-name", ""),
                "reason": a.get("data-evalkit-opt-out", ""),
            })
            if mark == "opted-out":
                self.sc.notes.append(
                    f"{self.file}: table {self.table_count} ({a.get('data-evalkit-name', '')}) "
                    f"published without disclosure control: {a.get('data-evalkit-opt-out', '')}")
        elif tag == "tr" and self.tables:
            self.tables[-1]["row"] += 1
            self.tables[-1]["col"] = 0
        elif tag in ("td", "th") and self.tables:
            t = self.tables[-1]
            t["col"] += 1
            self.cell = {"tag": tag, "kind": a.get("data-evalkit-kind"), "text": [],
                         "line": line, "row": t["row"], "col": t["col"]}

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.tables:
            t = self.tables[-1]
            c = self.cell
            self.cell = None
            text = "".join(c["text"]).strip()
            if t["row"] == 1:
                t["headers"].append(text)
            is_count = c["kind"] == "count" or (c["kind"] is None and t["all_counts"]
                                                and c["tag"] == "td")
            if is_count and not t["opted_out"]:
                head = t["headers"][c["col"] - 1] if c["col"] - 1 < len(t["headers"]) else ""
                loc = (f"{self.prefix}line {c['line']}, table {t['n']}"
                       + (f" ({t['name'] or t['id']})" if (t["name"] or t["id"]) else "")
                       + f", row {c['row']}, column {c['col']}"
                       + (f" '{head}'" if head else ""))
                self.sc.count_cell(text, self.file, loc, t["threshold"], t["rounding"])
        elif tag == "table" and self.tables:
            self.tables.pop()

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell["text"].append(data)
        line, col = self.getpos()
        self.sc.text(data, self.file, _line_locator(data, line, self.prefix, col))
        if self.lasttag in ("script",) and data.lstrip().startswith(("{", "[")):
            try:
                obj = json.loads(data)
            except ValueError:
                return
            self.sc.json_obj(obj, self.file, f"{self.prefix}line {line}, JSON in <script>")

    def handle_comment(self, data: str) -> None:
        line, col = self.getpos()
        self.sc.text(data, self.file, _line_locator(data, line, self.prefix, col))


def _int(s: str | None) -> int | None:
    try:
        return int(s) if s else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# per file type
# ---------------------------------------------------------------------------
class _FileScanner(_Scanner):
    """Reads each kind of published file and feeds its text to the checks."""

    def html_text(self, text: str, file: str, prefix: str = "") -> None:
        p = _HTMLScan(self, file, prefix)
        p.feed(text)
        p.close()

    def data_uri(self, uri: str, file: str, location: str) -> None:
        head, _, payload = uri.partition(",")
        mime = head[5:].split(";")[0].lower()
        try:
            raw = base64.b64decode(payload) if ";base64" in head else \
                urllib.parse.unquote_to_bytes(payload)
        except ValueError:
            return
        where = f"{location} data URI ({mime or 'text/plain'}), "
        if mime == "image/png":
            self.png(raw, file, where)
            return
        if not (mime.startswith("text/") or mime.endswith(("+xml", "/json", "/javascript",
                                                             "/xml")) or mime == ""):
            return
        text = raw.decode("utf-8", errors="replace")
        if mime in ("text/html", "image/svg+xml"):
            self.html_text(text, file, where)
        else:
            self.text(text, file, _line_locator(text, 1, where))

    def png(self, raw: bytes, file: str, prefix: str = "") -> None:
        if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
            return
        pos = 8
        while pos + 8 <= len(raw):
            (length,) = struct.unpack(">I", raw[pos:pos + 4])
            ctype = raw[pos + 4:pos + 8]
            body = raw[pos + 8:pos + 8 + length]
            pos += 12 + length
            if ctype == b"tEXt":
                key, _, val = body.partition(b"\x00")
                text = val.decode("latin-1")
            elif ctype == b"zTXt":
                key, _, rest = body.partition(b"\x00")
                try:
                    text = zlib.decompress(rest[1:]).decode("latin-1")
                except zlib.error:
                    continue
            elif ctype == b"iTXt":
                key, _, rest = body.partition(b"\x00")
                comp = rest[:1] == b"\x01"
                rest = rest[2:]
                _lang, _, rest = rest.partition(b"\x00")
                _tkey, _, val = rest.partition(b"\x00")
                try:
                    text = (zlib.decompress(val) if comp else val).decode("utf-8", "replace")
                except zlib.error:
                    continue
            elif ctype == b"IEND":
                break
            else:
                continue
            loc = f"{prefix}PNG text '{key.decode('latin-1')}'"
            self.text(text, file, lambda _p, loc=loc: loc)

    def json_obj(self, obj: Any, file: str, prefix: str) -> None:
        stack = [(obj, "$")]
        while stack:
            o, path = stack.pop()
            if isinstance(o, dict):
                for k, v in o.items():
                    self.text(str(k), file, lambda _p, path=path: f"{prefix} {path} (key)")
                    stack.append((v, f"{path}.{k}"))
            elif isinstance(o, list):
                for i, v in enumerate(o):
                    stack.append((v, f"{path}[{i}]"))
            elif isinstance(o, str):
                if o.startswith("data:"):
                    self.data_uri(o, file, f"{prefix} {path}")
                else:
                    self.text(o, file, lambda _p, path=path: f"{prefix} {path}")
            elif isinstance(o, (int, float)) and not isinstance(o, bool):
                s = str(int(o)) if float(o).is_integer() else str(o)
                self.text(s, file, lambda _p, path=path: f"{prefix} {path}")

    def notebook(self, nb: Mapping[str, Any], file: str) -> None:
        for i, cell in enumerate(nb.get("cells", []), start=1):
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else str(src)
            self.text(src, file, _line_locator(src, 1, f"cell {i} source, "))
            for j, out in enumerate(cell.get("outputs", []) or [], start=1):
                if "text" in out:
                    t = out["text"]
                    t = "".join(t) if isinstance(t, list) else str(t)
                    self.text(t, file, _line_locator(t, 1, f"cell {i} output {j}, "))
                for mime, payload in (out.get("data") or {}).items():
                    where = f"cell {i} output {j} ({mime}), "
                    if mime == "image/png":
                        try:
                            self.png(base64.b64decode("".join(payload) if isinstance(
                                payload, list) else payload), file, where)
                        except ValueError:
                            pass
                        continue
                    if mime.startswith("image/") and mime != "image/svg+xml":
                        continue
                    if isinstance(payload, (dict, list)) and mime.endswith("json"):
                        self.json_obj(payload, file, where.rstrip(", "))
                        continue
                    t = "".join(payload) if isinstance(payload, list) else str(payload)
                    if mime in ("text/html", "image/svg+xml"):
                        self.html_text(t, file, where)
                    else:
                        self.text(t, file, _line_locator(t, 1, where))
            for key in ("attachments",):
                for name, att in (cell.get(key) or {}).items():
                    for mime, payload in att.items():
                        if mime == "image/png":
                            try:
                                self.png(base64.b64decode(payload), file,
                                         f"cell {i} attachment {name}, ")
                            except ValueError:
                                pass

    def csv_file(self, path: Path, file: str) -> None:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        delim = "\t" if path.suffix.lower() == ".tsv" else ","
        rows = list(csv.reader(io.StringIO(text), delimiter=delim))
        header = rows[0] if rows else []
        for r, row in enumerate(rows, start=1):
            for c, cell in enumerate(row):
                col = header[c] if c < len(header) else str(c + 1)
                loc = f"row {r}, column '{col}'"
                self.text(cell, file, lambda _p, loc=loc: loc)
        side = path.with_name(path.name + ".disclosure.json")
        if not side.exists():
            if rows:
                self.notes.append(f"{file}: no {side.name} sidecar, so its counts were not "
                                  "checked (identifiers and dates were).")
            return
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except ValueError:
            self.add(file, side.name, "unreadable metadata",
                     "the disclosure sidecar is not valid JSON", "")
            return
        if meta.get("opted_out"):
            self.notes.append(f"{file}: published without disclosure control: "
                              f"{meta['opted_out']}")
            return
        pol = meta.get("policy") or {}
        kinds = meta.get("columns") or {}
        for c, name in enumerate(header):
            if kinds.get(name) != "count":
                continue
            for r, row in enumerate(rows[1:], start=2):
                if c < len(row):
                    self.count_cell(row[c], file, f"row {r}, column '{name}'",
                                    pol.get("threshold"), pol.get("rounding"))

    def xlsx_file(self, path: Path, file: str) -> None:
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            marks: dict[str, list[dict[str, Any]]] = {}
            if METADATA_SHEET in wb.sheetnames:
                rows = list(wb[METADATA_SHEET].iter_rows(values_only=True))
                head = [str(h) for h in rows[0]] if rows else []
                for row in rows[1:]:
                    rec = dict(zip(head, row))
                    marks.setdefault(str(rec.get("sheet")), []).append(rec)
            for ws in wb.worksheets:
                if ws.title == METADATA_SHEET:
                    continue
                self.text(ws.title, file, lambda _p, t=ws.title: f"sheet name '{t}'")
                grid = list(ws.iter_rows(values_only=True))
                for r, row in enumerate(grid, start=1):
                    for c, v in enumerate(row, start=1):
                        if v is None:
                            continue
                        loc = f"sheet '{ws.title}', cell {_col_letter(c)}{r}"
                        if isinstance(v, (_dt.date, _dt.datetime)):
                            d = v.date() if isinstance(v, _dt.datetime) else v
                            if (d.year, d.month, d.day) in self.n.dobs:
                                self.add(file, loc, "date of birth",
                                         "a date of birth from the place's input",
                                         d.isoformat())
                            continue
                        s = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
                        self.text(s, file, lambda _p, loc=loc: loc)
                for rec in marks.get(ws.title, []):
                    if rec.get("opted_out"):
                        continue
                    if rec.get("kind") != "count":
                        continue
                    hr = int(rec.get("header_row") or 1)
                    nr = int(rec.get("n_rows") or (len(grid) - hr))
                    header = grid[hr - 1] if len(grid) >= hr else ()
                    try:
                        ci = [str(h) for h in header].index(str(rec.get("column")))
                    except ValueError:
                        self.add(file, f"sheet '{ws.title}'", "unreadable metadata",
                                 f"count column {rec.get('column')!r} not found in the header",
                                 "")
                        continue
                    for r in range(hr + 1, min(hr + nr, len(grid)) + 1):
                        row = grid[r - 1]
                        if ci < len(row):
                            self.count_cell(row[ci], file,
                                            f"sheet '{ws.title}', cell {_col_letter(ci + 1)}{r}",
                                            _int(str(rec.get("threshold") or "")),
                                            _int(str(rec.get("rounding") or "")))
        finally:
            wb.close()


def _col_letter(c: int) -> str:
    s = ""
    while c:
        c, rem = divmod(c - 1, 26)
        s = chr(65 + rem) + s
    return s


def _is_binary(raw: bytes) -> bool:
    return b"\x00" in raw[:8192]


def scan_build(
    build_dir: str | Path,
    *,
    identifiers: Iterable[Any] = (),
    dates_of_birth: Iterable[Any] = (),
    postcodes: Iterable[Any] = (),
    policy: DisclosurePolicy | Mapping[str, Any] | str | None = None,
    secrets: Iterable[str] = (),
    allowed_postcodes: Iterable[str] = (),
    allowed_dates: Iterable[Any] = (),
    check_postcode_pattern: bool = True,
    max_file_mb: float = 200.0,
) -> ScanReport:
    """Scan every file under ``build_dir`` for identifiers, dates of birth and small counts.

    Parameters
    ----------
    build_dir : path
        A built book (e.g. ``_build/html``) or any folder of published files.
    identifiers : iterable
        Person identifiers from the input. Identifiers too short to search
        safely (under 4 characters, digits-only under 6, letters-only under 8)
        are skipped and counted in the notes.
    dates_of_birth : iterable of dates or date strings
    postcodes : iterable of str
        Postcodes from the input (any spacing/case).
    policy : DisclosurePolicy, mapping or str, optional
        Threshold and rounding for count cells. When omitted, each table's own
        marks (``data-evalkit-threshold``...) or the NHS default are used.
    secrets : iterable of str
        Strings that must never appear (the pseudonymisation key).
    allowed_postcodes : iterable of str
        Postcodes that may appear (e.g. the council's own address).
    allowed_dates : iterable
        Dates that may appear even though someone was born on them (e.g. the
        pilot's start date).
    check_postcode_pattern : bool
        Also flag any well-formed UK postcode not in the input.
    max_file_mb : float
        Files larger than this are listed as not scanned.

    Returns
    -------
    ScanReport
        ``report.ok`` is ``False`` when anything was found.
    """
    root = Path(build_dir)
    if not root.is_dir():
        raise InputError(f"scan_build: {str(root)!r} is not a folder; give the built book's "
                         "folder (e.g. _build/html).")
    needles = _Needles(identifiers, dates_of_birth, postcodes, secrets, allowed_postcodes,
                       allowed_dates, check_postcode_pattern)
    pol = policy if isinstance(policy, DisclosurePolicy) else DisclosurePolicy.from_settings(policy)
    sc = _FileScanner(root, needles, pol, policy is not None)
    scanned: list[str] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.name.endswith(".disclosure.json"):
            scanned.append(rel)
            sc.text(path.read_text(encoding="utf-8", errors="replace"), rel,
                    _line_locator(path.read_text(encoding="utf-8", errors="replace")))
            continue
        size = path.stat().st_size
        if size > max_file_mb * 1e6:
            skipped.append((rel, f"larger than {max_file_mb:g} MB"))
            continue
        suffix = path.suffix.lower()
        try:
            if suffix in (".xlsx", ".xlsm"):
                sc.xlsx_file(path, rel)
            elif suffix == ".png":
                sc.png(path.read_bytes(), rel)
            elif suffix in _BINARY_SUFFIXES:
                skipped.append((rel, "binary file (not scanned)"))
                continue
            else:
                raw = path.read_bytes()
                if _is_binary(raw):
                    skipped.append((rel, "binary file (not scanned)"))
                    continue
                text = raw.decode("utf-8", errors="replace")
                if suffix in (".html", ".htm", ".xhtml", ".svg"):
                    sc.html_text(text, rel)
                elif suffix in (".csv", ".tsv"):
                    sc.csv_file(path, rel)
                elif suffix == ".ipynb":
                    try:
                        sc.notebook(json.loads(text), rel)
                    except ValueError:
                        sc.text(text, rel, _line_locator(text))
                else:
                    sc.text(text, rel, _line_locator(text))
                    if suffix == ".json":
                        try:
                            obj = json.loads(text)
                        except ValueError:
                            obj = None
                        if obj is not None:
                            sc.json_obj(obj, rel, "JSON")
        except Exception as err:  # a file we cannot read must not pass silently
            sc.add(rel, "whole file", "unreadable file",
                   f"could not be read ({type(err).__name__}: {err}); check it by hand", "")
        scanned.append(rel)
    notes = list(sc.notes)
    if needles.unsearchable:
        notes.append(f"{needles.unsearchable} identifier(s) are too short or too plain to "
                     "search as free text (under 4 characters, digits-only under 6, letters-"
                     "only under 8); use longer pseudonymous ids such as P0000123.")
    pdfs = [f for f, _ in skipped if f.lower().endswith(".pdf")]
    if pdfs:
        notes.append(f"{len(pdfs)} PDF file(s) were not scanned; they are built from the "
                     "scanned HTML/notebooks, but check them by hand before release.")
    return ScanReport(root, sc.findings, scanned, skipped, notes)


def place_needles(place: Any) -> dict[str, Any]:
    """The values to look for, taken from a :class:`~evalkit.place.Place`.

    Reads ``place.people`` (``person_id``, ``date_of_birth``, ``postcode``),
    ``place.events`` and ``place.outcomes`` (``person_id``) and the
    disclosure settings (policy, ``allowed_postcodes``, ``allowed_dates``).
    """
    ids: set[Any] = set()
    dobs: list[Any] = []
    pcs: list[Any] = []
    people = getattr(place, "people", None)
    if people is None:
        raise InputError("check-disclosure: the place has no people table to take "
                         "identifiers from.")
    for table_name in ("people", "events", "outcomes"):
        t = getattr(place, table_name, None)
        if t is not None and "person_id" in t.columns:
            ids.update(t["person_id"].dropna().astype(str).tolist())
    if "date_of_birth" in people.columns:
        dobs = people["date_of_birth"].dropna().tolist()
    if "postcode" in people.columns:
        pcs = people["postcode"].dropna().astype(str).tolist()
    settings = getattr(getattr(place, "settings", None), "disclosure", None)
    allowed_pc: list[str] = []
    allowed_dates: list[Any] = []
    if settings is not None:
        get = settings.get if isinstance(settings, Mapping) else \
            (lambda k, d=None: getattr(settings, k, d))
        allowed_pc = list(get("allowed_postcodes", None) or [])
        allowed_dates = list(get("allowed_dates", None) or [])
    return {"identifiers": sorted(ids), "dates_of_birth": dobs, "postcodes": pcs,
            "policy": DisclosurePolicy.from_settings(settings, allow_disabled=True),
            "allowed_postcodes": allowed_pc, "allowed_dates": allowed_dates}


def scan_place_build(build_dir: str | Path, place: Any, **kwargs: Any) -> ScanReport:
    """:func:`scan_build` with everything to look for taken from a place.

    The pseudonymisation key (``EVALKIT_PSEUDONYM_KEY``), if set, is searched
    for too.
    """
    import os

    from .pseudonymise import KEY_ENV

    needles = place_needles(place)
    secrets = [os.environ[KEY_ENV]] if os.environ.get(KEY_ENV) else []
    needles["allowed_postcodes"] = [*needles["allowed_postcodes"],
                                    *kwargs.pop("allowed_postcodes", [])]
    needles["allowed_dates"] = [*needles["allowed_dates"], *kwargs.pop("allowed_dates", [])]
    return scan_build(build_dir, secrets=[*secrets, *kwargs.pop("secrets", [])], **needles,
                      **kwargs)
