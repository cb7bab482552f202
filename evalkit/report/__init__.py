"""Published reports: a Jupyter Book per place.

:func:`build_report` runs every analysis once, publishes its tables through
disclosure control, builds the book under ``-W``, checks it works offline and
runs the leak scan. See :mod:`evalkit.report.main`.
"""

from .build import ReportBuildError, book_template_dir, external_urls, run_jupyter_book
from .context import PublishedTable, ReportContext, Section
from .main import ReportBuild, build_report

__all__ = ["ReportBuildError", "book_template_dir", "external_urls", "run_jupyter_book",
           "ReportContext", "PublishedTable", "Section", "ReportBuild", "build_report"]
