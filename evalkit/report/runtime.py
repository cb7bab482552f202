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
           "callout", "skipped", "publishable", "bar_chart", "heatmap", "long_heatmap",
           "calibration_chart", "relabel_measures"]

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


def publishable(ctx: ReportContext, key: str) -> bool:
    """Whether a section's headline numbers are all publishable (none suppressed).

    Charts drawn from a section's raw results are shown only then, so a chart
    can never reveal what a table hides.
    """
    sec = ctx.sections.get(key)
    return bool(sec is not None and sec.ok
                and not any(isinstance(v, str) and v == ctx.disclosure.get("symbol", "*")
                            for v in sec.headline.values()))


def format_value(value: Any, fmt: str = "num") -> str:
    """Format a number for running text: thousands separators, pounds, percentages.

    Strings (e.g. a suppression symbol) are shown as they are.

    Examples
    --------
    >>> format_value(1234567.4, "gbp"), format_value(0.1234, "pct"), format_value(12345, "count")
    ('£1.2 million', '12%', '12,345')
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


def table_html(table: PublishedTable) -> str:
    """HTML for a published table (marked for the leak scan) with its download link."""
    prot = table.protected
    about_people = any(k in ("count", "derived", "money") for k in prot.kinds.values())
    body = prot.to_html(caption=table.title, table_id=f"table-{table.name}",
                        formats=table.formats, footnote=about_people)
    notes = " ".join(html.escape(n) for n in table.notes)
    link = (f' <a href="{html.escape(table.csv)}" download>Download this table (CSV)</a>'
            if table.csv else "")
    return (f'<div class="evalkit-table-wrap">{body}'
            f'<p class="evalkit-caption">{notes}{link}</p></div>')


def show_table(name: str) -> None:
    """Show published table ``name`` (already through disclosure control)."""
    from IPython.display import HTML

    _display(HTML(table_html(load().table(name))))


def bar_chart(name: str, *, index: str, ylabel: str, title: str, money: bool = False,
              columns: list[str] | None = None) -> Any:
    """Grouped bar chart drawn from a *published* table (suppressed cells are left out).

    Returns the matplotlib Axes.
    """
    from ..plotting import gbp_formatter, get_axes, palette

    table = load().table(name)
    vals = table.values.set_index(table.frame[index].to_numpy())
    cols = columns or [c for c in vals.columns if c != index]
    data = vals[cols].astype(float)
    ax = get_axes(figsize=(8.0, 4.2))
    width = 0.8 / max(len(cols), 1)
    xs = np.arange(len(data))
    for i, (c, colour) in enumerate(zip(cols, palette(len(cols)))):
        ax.bar(xs + i * width - 0.4 + width / 2, data[c].to_numpy(), width, label=str(c),
               color=colour)
    ax.set_xticks(xs, [str(x) for x in data.index], rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if money:
        ax.yaxis.set_major_formatter(gbp_formatter())
    ax.legend(fontsize=8, frameon=False, ncols=2)
    return ax


def heatmap(name: str, *, title: str, xlabel: str, ylabel: str) -> Any:
    """Heatmap of a *published* two-way count table (totals and suppressed cells left out)."""
    from ..plotting import get_axes

    table = load().table(name)
    vals = table.values.copy()
    label_col = vals.columns[0] if not np.issubdtype(vals.dtypes.iloc[0], np.number) else None
    if label_col is not None:
        vals = vals.set_index(label_col)
    vals = vals.drop(index=[i for i in vals.index if str(i) == "Total"], errors="ignore")
    vals = vals.drop(columns=[c for c in vals.columns if str(c) == "Total"], errors="ignore")
    data = vals.astype(float)
    n = max(data.shape)
    ax = get_axes(figsize=(1.2 + 0.55 * n, 1.0 + 0.5 * n))
    im = ax.imshow(np.ma.masked_invalid(data.to_numpy()), cmap="Blues", aspect="auto")
    ax.set_xticks(range(data.shape[1]), [str(c) for c in data.columns], rotation=45,
                  ha="right", fontsize=8)
    ax.set_yticks(range(data.shape[0]), [str(i) for i in data.index], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, label="Hand-offs (number, rounded)")
    return ax


def long_heatmap(name: str, *, rows: str, cols: str, value: str, title: str,
                 colorbar: str) -> Any:
    """Heatmap of a *published* long table (suppressed cells left blank)."""
    from ..plotting import gbp_formatter, get_axes

    table = load().table(name)
    vals = table.values.copy()
    vals[rows] = table.frame[rows].to_numpy()
    vals[cols] = table.frame[cols].to_numpy()
    wide = vals.pivot_table(index=rows, columns=cols, values=value, aggfunc="sum")
    ax = get_axes(figsize=(1.5 + 0.8 * wide.shape[1], 1.2 + 0.45 * wide.shape[0]))
    im = ax.imshow(np.ma.masked_invalid(wide.to_numpy(dtype=float)), cmap="Blues",
                   aspect="auto")
    ax.set_xticks(range(wide.shape[1]), [str(c) for c in wide.columns], rotation=30,
                  ha="right", fontsize=8)
    ax.set_yticks(range(wide.shape[0]), [str(i) for i in wide.index], fontsize=8)
    ax.set_xlabel(cols)
    ax.set_ylabel(rows)
    ax.set_title(title)
    cb = ax.figure.colorbar(im, ax=ax, label=colorbar)
    cb.ax.yaxis.set_major_formatter(gbp_formatter())
    return ax


def calibration_chart(name: str) -> Any:
    """Reliability diagram from a *published* reliability table."""
    from ..plotting import OKABE_ITO, get_axes

    v = load().table(name).values
    ax = get_axes(figsize=(5.0, 4.5))
    top = float(np.nanmax(v[["Predicted risk", "Observed rate"]].to_numpy())) * 1.1
    ax.plot([0, top], [0, top], color="grey", lw=1, ls="--", label="Perfect calibration")
    ax.plot(v["Predicted risk"], v["Observed rate"], "o-", color=OKABE_ITO[0],
            label="The model")
    ax.set_xlabel("Predicted risk of crisis")
    ax.set_ylabel("Observed crisis rate")
    ax.set_title("Predicted risk against what happened")
    ax.xaxis.set_major_formatter(_pct_formatter())
    ax.yaxis.set_major_formatter(_pct_formatter())
    ax.legend(frameon=False)
    return ax


def _pct_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, _p: f"{100 * x:.0f}%")


def relabel_measures(ax: Any) -> Any:
    """Replace outcome codes (``ae_attendances``) by readers' names in ticks and title."""
    from .prepare import MEASURE_LABELS, measure_label

    def fix(text: str) -> str:
        for code in sorted(MEASURE_LABELS, key=len, reverse=True):
            if code in text:
                text = text.replace(code, measure_label(code))
        return text

    ax.set_yticks(ax.get_yticks(), [fix(t.get_text()) for t in ax.get_yticklabels()])
    ax.set_title(fix(ax.get_title()))
    return ax


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
