"""``build_report``: a place's data in, a published, checked book out.

Steps (each timed, shown as progress):

1. copy the book template (``books/template``) into ``OUT/book`` and title it;
2. run every analysis once and publish its tables through disclosure control
   (:func:`~evalkit.report.prepare.prepare_context`);
3. build the book with Jupyter Book 1.x under ``-W`` (any failing cell or
   warning fails the build);
4. remove the Thebe loader URL and check that no page loads anything from the
   web;
5. copy the HTML to ``OUT/html`` (what you publish) and run the disclosure
   leak scan over it: any person identifier, date of birth, postcode or
   unsuppressed small count fails the build;
6. with ``pdf=True``, print a single-page build to ``OUT/<name>.pdf`` with
   headless Chromium.

``OUT/book`` is a working folder: its ``_evalkit`` subfolder holds the raw
results, which may contain person-level data. Publish ``OUT/html`` only.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..disclosure import scan_place_build
from ..place import Place
from .build import (
    ReportBuildError,
    book_template_dir,
    external_urls,
    print_pdf,
    run_jupyter_book,
    strip_external_urls,
)
from .context import CONTEXT_FILE, ReportContext
from .prepare import prepare_context

__all__ = ["build_report", "ReportBuild"]


@dataclass
class ReportBuild:
    """The result of :func:`build_report`."""

    out_dir: Path
    html_dir: Path
    context: ReportContext
    pdf: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def index(self) -> Path:
        return self.html_dir / "index.html"

    def __repr__(self) -> str:
        total = sum(self.seconds.values())
        return (f"<ReportBuild {self.context.place_name!r}: {self.index} "
                f"({total:.0f} s){' + PDF' if self.pdf else ''}>")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "report"


def _say(progress: bool, msg: str) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


def build_report(
    place: Place,
    out_dir: str | Path,
    *,
    pdf: bool = False,
    demo: bool = False,
    progress: bool = True,
) -> ReportBuild:
    """Build a place's report book into ``out_dir``.

    Parameters
    ----------
    place : Place
        A validated place (from :func:`evalkit.place.load_place` or the demo).
    out_dir : path
        Output folder; ``out_dir/html`` is the book to publish.
    pdf : bool
        Also print ``out_dir/<place>.pdf`` with headless Chromium.
    demo : bool
        The place is evalkit's synthetic demo (the report says so).
    progress : bool
        Show each step on stderr.

    Returns
    -------
    ReportBuild

    Raises
    ------
    ReportBuildError
        If a chapter fails, a page would load something from the web, or the
        leak scan finds personal data or an unsuppressed small count.
    """
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    book = out / "book"
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    _say(progress, f"[1/5] Preparing the book for {place.name!r} in {out}")
    if book.exists():
        shutil.rmtree(book)
    shutil.copytree(book_template_dir(), book,
                    ignore=shutil.ignore_patterns("_build", "__pycache__", "*.pyc"))
    cfg_path = book / "_config.yml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    cfg["title"] = place.settings.report.title or f"{place.name}: {place.settings.pilot.name}"
    cfg["author"] = place.settings.report.author or place.name
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True),
                        encoding="utf-8")
    seconds["template"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    _say(progress, "[2/5] Running the analyses once and publishing their tables")
    ctx = prepare_context(place, book, demo=demo, progress=progress)
    seconds["analyses"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    _say(progress, "[3/5] Building the book (Jupyter Book, every chapter executed)")
    env = {"EVALKIT_REPORT_CONTEXT": str(book / CONTEXT_FILE)}
    built = run_jupyter_book(book, progress=progress, env=env,
                             log_file=out / "jupyter-book.log")
    seconds["book"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    _say(progress, "[4/5] Checking the book works offline")
    strip_external_urls(built)
    remote = external_urls(built)
    if remote:
        listing = "\n".join(f"  {f}: {u}" for f, u in remote[:20])
        raise ReportBuildError("The built book would load content from the web, which the "
                               f"report must not do:\n{listing}")
    html_dir = out / "html"
    if html_dir.exists():
        shutil.rmtree(html_dir)
    shutil.copytree(built, html_dir, ignore=shutil.ignore_patterns(".buildinfo", "_sources"))
    seconds["offline_check"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    _say(progress, "[5/5] Disclosure leak scan of everything published")
    scan = scan_place_build(html_dir, place)
    (out / "disclosure-scan.txt").write_text(str(scan), encoding="utf-8")
    if not scan.ok:
        shutil.rmtree(html_dir)
        raise ReportBuildError(
            "The disclosure leak scan found personal data or unsuppressed small counts in the "
            f"built book, so it was not published (details masked):\n{scan}")
    seconds["leak_scan"] = round(time.perf_counter() - t0, 2)

    pdf_path = None
    if pdf:
        t0 = time.perf_counter()
        _say(progress, "[+] Printing the PDF with headless Chromium")
        single = run_jupyter_book(book, builder="singlehtml", progress=False, env=env,
                                  log_file=out / "jupyter-book-singlehtml.log")
        strip_external_urls(single)
        pdf_path = print_pdf(single / "index.html", out / f"{_slug(place.name)}.pdf")
        pdf_scan_note = ("PDF text is not scanned; it prints the same pages as the "
                         "scanned HTML.")
        seconds["pdf"] = round(time.perf_counter() - t0, 2)
        (out / "disclosure-scan.txt").write_text(str(scan) + "\n" + pdf_scan_note,
                                                 encoding="utf-8")

    (out / "build.json").write_text(json.dumps({
        "place": place.name, "created": ctx.created, "seconds": seconds,
        "html": str(html_dir / "index.html"), "pdf": str(pdf_path) if pdf_path else None,
        "versions": ctx.versions,
    }, indent=2), encoding="utf-8")
    total = sum(seconds.values())
    _say(progress, f"Done in {total:.0f} s. Open {html_dir / 'index.html'}"
         + (f" and {pdf_path}" if pdf_path else ""))
    return ReportBuild(out, html_dir, ctx, pdf_path, seconds)
