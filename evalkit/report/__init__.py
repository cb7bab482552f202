"""Published reports: a Jupyter Book per place (see :mod:`evalkit.report.build`)."""

from .build import ReportBuildError, book_template_dir, external_urls, run_jupyter_book

__all__ = ["ReportBuildError", "book_template_dir", "external_urls", "run_jupyter_book"]
