"""Helpers the book's chapters call: load the context, show tables, figures and text.

Chapters are MyST notebooks; each starts with::

    from evalkit.report import runtime as rt
    ctx = rt.load()

and then only *displays* published content: ``rt.show_table("waste_totals")``,
``rt.show_figure(fig, "handoffs", alt=...)``, ``rt.say("...")``. Tables are
rendered to HTML with thousands separators and pounds formatted, count
tables marked (``data-evalkit-kind="counts"``) so the leak scan can check
them, and a link to the table's CSV download under each.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import numpy as np
from .context import CONTEXT_FILE, PublishedTable, ReportContext

__all__ = ["load", "say", "show_table", "show_figure", "format_value", "table_html",
           "callout", "skipped"]

_CONTEXT: ReportContext | None = None


def _find_context() -> Path:
    env = os.environ.get("EVALKIT_REPORT_CONTEXT")
    if env:
        return Path(env)
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / CONTEXT_FILE
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        "No evalkit report context found: build the book with 'evalkit report', or set "
        "EVALKIT_REPORT_CONTEXT to the context.pkl file.")


def load() -> ReportContext:
    """The report context for the book being built (cached per kernel)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = ReportContext.read(_find_context())
    return _CONTEXT


def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)


def say(markdown: str) -> None:
    """Show Markdown text (numbers in it must come from the context)."""
    from IPython.display import Markdown

    _display(Markdown(markdown))


def callout(markdown: str, *, warning: bool = False) -> None:
    """A highlighted box of Markdown text."""
    import markdown_it

    body = markdown_it.MarkdownIt().render(markdown)
    cls = "evalkit-warning" if warning else "evalkit-callout"
    from IPython.display import HTML

    _display(HTML(f'<div class="{cls}">{body}</div>'))


def skipped(ctx: ReportContext, key: str) -> bool:
    """If section ``key`` did not run, say why (plainly) and return True."""
    sec = ctx.sections.get(key)
    if sec is None or not sec.ok:
        reason = sec.reason if sec is not None else "this analysis was not run."
        callout(f"**Not available for this place.** {reason}", warning=True)
        return True
    return False


def format_value(value: Any, fmt: str = "num") -> str:
    """Format a number for running text: thousands separators, pounds, percentages.

    Strings (e.g. a suppression symbol) are shown as they are.

    Examples
    --------
    >>> format_value(1234567.4, "gbp"), format_value(0.1234, "pct"), format_value(12345, "count")
    ('£1,234,567', '12.3%', '12,345')
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "not available"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    x = float(value)
    if fmt == "gbp":
        sign = "-" if x < 0 else ""
        if abs(x) >= 1e6:
            return f"{sign}£{abs(x) / 1e6:,.1f} million"
        return f"{sign}£{abs(x):,.0f}"
    if fmt == "pct":
        return f"{100 * x:,.0f}%" if abs(x) >= 0.1 else f"{100 * x:,.1f}%"
    if fmt == "count":
        return f"{x:,.0f}"
    if fmt == "ratio":
        return f"{x:,.2f}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:,.2f}"
    return f"{x:.3f}"


def table_html(table: PublishedTable, *, max_rows: int | None = None) -> str:
    """HTML for a published table (marked for the leak scan) with its download link."""
    body = table.protected.to_html(caption=table.title, table_id=f"table-{table.name}",
                                   formats=table.formats)
    notes = " ".join(html.escape(n) for n in table.notes)
    link = (f' <a href="{html.escape(table.csv)}" download>Download this table (CSV)</a>'
            if table.csv else "")
    del max_rows
    return f'<div class="evalkit-table-wrap">{body}<p class="evalkit-caption">{notes}{link}</p></div>'


def show_table(name: str) -> None:
    """Show published table ``name`` (already through disclosure control)."""
    from IPython.display import HTML

    _display(HTML(table_html(load().table(name))))


def show_figure(fig: Any, name: str, *, alt: str, caption: str = "") -> None:
    """Save ``fig`` as ``_static/figures/NAME.png`` and show it with alt text and caption.

    Figures must be drawn from published (protected) tables, so their labels
    pass disclosure control too.
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML

    if not alt.strip():
        raise ValueError(f"Figure {name!r} needs alt text describing what it shows.")
    folder = Path("_static") / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    _display(HTML(
        f'<figure class="evalkit-figure"><img src="{path.as_posix()}" '
        f'alt="{html.escape(alt, quote=True)}">{cap}</figure>'))
