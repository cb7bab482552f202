"""Run every analysis once and publish its tables: the report context.

Each chapter has a *step* (``step_<key>``) that takes the place and the
context built so far, runs its analysis, and publishes the tables and
headline numbers the chapter shows. A step that cannot run because the place
lacks the data (no event log, too few people...) raises
:class:`~evalkit.errors.InputError`; the chapter then says so in plain English.
Any other exception is a bug and fails the build.
"""

from __future__ import annotations

import datetime as _dt
import platform
import sys
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path

import pandas as pd

from .. import __version__
from ..errors import InputError
from ..place import Place
from .context import ReportContext, Section
from .publish import Publisher

__all__ = ["prepare_context", "STEPS", "package_versions"]

_PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "matplotlib", "pandera", "pydantic",
             "openpyxl", "duckdb", "pyarrow", "jupyter-book", "scikit-learn")


def package_versions() -> dict[str, str]:
    """evalkit, Python and dependency versions (for provenance)."""
    out = {"evalkit": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


Step = Callable[[Place, ReportContext, Publisher], Section]


def step_data(place: Place, ctx: ReportContext, pub: Publisher) -> Section:
    """Methods and data: sources, row accounting, provenance, settings."""
    sec = Section("data", "Methods and data")
    acc = place.accounting.to_frame()
    acc = acc[["table", "file", "status", "reason", "rows"]].rename(columns={
        "table": "Table", "file": "File", "status": "Rows", "reason": "Reason",
        "rows": "Number of rows"})
    pub.table("row_accounting", acc, title="Every input row: read, used or excluded, and why",
              chapter="data", other=["Number of rows"],
              notes=["Counts of records (rows) in the input files, not of people."])
    prov = place.provenance()
    if len(prov):
        prov = prov.rename(columns={"table": "Table", "path": "File", "sha256": "SHA-256",
                                    "bytes": "Size (bytes)"})
        pub.table("provenance_files", prov, title="Input files and their SHA-256 fingerprints",
                  chapter="data", other=["Size (bytes)"])
    vers = pd.DataFrame(sorted(ctx.versions.items()), columns=["Package", "Version"])
    pub.table("provenance_versions", vers, title="Software versions", chapter="data")
    sec.headline["tables_loaded"] = len(place.tables)
    return sec


#: The steps, in the order they run (later steps may use earlier sections).
STEPS: dict[str, Step] = {
    "data": step_data,
}


def prepare_context(
    place: Place,
    book_dir: str | Path,
    *,
    demo: bool = False,
    progress: bool = True,
    steps: Mapping[str, Step] | None = None,
) -> ReportContext:
    """Run every analysis once, publish its tables into ``book_dir``, and save the context.

    Parameters
    ----------
    place : Place
    book_dir : path
        The book folder being built (tables are written to ``_static/downloads``).
    demo : bool
        The place is the built-in synthetic demo (the report says so).
    progress : bool
        Print each step and its time to stderr.

    Returns
    -------
    ReportContext
    """
    book_dir = Path(book_dir)
    s = place.settings
    ctx = ReportContext(
        place_name=s.name,
        title=s.report.title or f"{s.name}: {s.pilot.name}",
        settings=s.model_dump(mode="json"),
        created=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        versions=package_versions(),
        seed=s.seed,
        provenance=place.provenance(),
        accounting=place.accounting.to_frame(),
        disclosure=s.disclosure.model_dump(),
        demo=demo,
    )
    pub = Publisher(ctx, book_dir, s.disclosure)
    for key, step in (steps or STEPS).items():
        t0 = time.perf_counter()
        try:
            sec = step(place, ctx, pub)
        except InputError as err:
            sec = Section(key, key, status="skipped", reason=str(err))
        ctx.sections[key] = sec
        if progress:
            status = "done" if sec.ok else "skipped"
            print(f"  {key:<18} {status:<8} {time.perf_counter() - t0:6.1f} s",
                  file=sys.stderr, flush=True)
    ctx.save(book_dir)
    return ctx

