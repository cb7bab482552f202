"""What a report knows: results computed once, published tables, provenance.

:func:`evalkit.report.prepare.prepare_context` runs every analysis once and
stores the results in a :class:`ReportContext`. The book's chapters load the
context (:func:`evalkit.report.runtime.load`) and only display it, so no
chapter recomputes another's analysis and every published number comes from
one place.

Two kinds of content are kept apart:

* ``ReportContext.tables``: :class:`PublishedTable` objects that have passed
  disclosure control; the only tables chapters show and the only CSVs written
  for download.
* ``Section.results``: the raw result objects (for evaluators re-running a
  chapter in a notebook). They may hold person-level data and never leave the
  book's private ``_evalkit`` folder, which is not part of the published HTML.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError

__all__ = ["PublishedTable", "Section", "ReportContext", "CONTEXT_FILE"]

#: Where the context is written inside a book folder.
CONTEXT_FILE = Path("_evalkit") / "context.pkl"


@dataclass
class PublishedTable:
    """A table that has passed disclosure control, ready to show and download.

    Attributes
    ----------
    name : str
        Short key (also the CSV file name).
    title : str
        Caption shown above the table.
    protected : evalkit.disclosure.ProtectedTable
        The protected table and its record (the record stays private).
    chapter : str
        Chapter key it belongs to.
    formats : dict
        Column -> format string for display (e.g. ``"{:,.1f}"``).
    notes : list of str
        Anything a reader must know (shown under the table).
    csv : str
        Path of the CSV download, relative to the book root.
    """

    name: str
    title: str
    protected: Any
    chapter: str
    formats: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    csv: str = ""

    @property
    def frame(self) -> pd.DataFrame:
        """The published table (suppressed cells hold the policy's symbol)."""
        return self.protected.table

    @property
    def values(self) -> pd.DataFrame:
        """Published values as numbers, NaN where suppressed (for charts)."""
        return self.protected.values


@dataclass
class Section:
    """One chapter's analysis: ran, or skipped with the reason in plain English."""

    key: str
    title: str
    status: str = "ok"  # "ok" or "skipped"
    reason: str = ""
    results: dict[str, Any] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class ReportContext:
    """Everything a place's book shows, computed once."""

    place_name: str
    title: str
    settings: dict[str, Any]
    created: str
    versions: dict[str, str]
    seed: int
    provenance: pd.DataFrame
    accounting: pd.DataFrame
    disclosure: dict[str, Any]
    sections: dict[str, Section] = field(default_factory=dict)
    tables: dict[str, PublishedTable] = field(default_factory=dict)
    downloads: dict[str, str] = field(default_factory=dict)
    demo: bool = False

    # ------------------------------------------------------------------
    def section(self, key: str) -> Section:
        try:
            return self.sections[key]
        except KeyError:
            raise InputError(f"The report has no section {key!r}; it has "
                             f"{', '.join(self.sections)}.") from None

    def table(self, name: str) -> PublishedTable:
        try:
            return self.tables[name]
        except KeyError:
            raise InputError(f"The report has no published table {name!r}; it has "
                             f"{', '.join(self.tables) or 'none'}.") from None

    def headline(self) -> dict[str, Any]:
        """All sections' headline numbers, keyed ``section.name`` (already protected)."""
        out: dict[str, Any] = {}
        for key, sec in self.sections.items():
            for k, v in sec.headline.items():
                out[f"{key}.{k}"] = v
        return out

    def save(self, book_dir: str | Path) -> Path:
        path = Path(book_dir) / CONTEXT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @staticmethod
    def read(path: str | Path) -> ReportContext:
        with open(path, "rb") as fh:
            ctx = pickle.load(fh)
        if not isinstance(ctx, ReportContext):
            raise InputError(f"{path} does not hold an evalkit report context.")
        return ctx
