"""Shared plotting conventions: a colour-blind-safe palette and axis formats.

Every ``plot()`` in evalkit uses these so that charts look alike in notebooks
and in the published book: a title, labelled axes with units, the Okabe-Ito
palette (safe for the common forms of colour blindness), pounds and thousands
formatted for a commissioner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "OKABE_ITO",
    "GREY",
    "palette",
    "get_axes",
    "gbp_formatter",
    "thousands_formatter",
    "format_gbp",
    "format_count",
]

#: Okabe & Ito (2008) colour-universal-design palette, black last.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
GREY = "#8C8C8C"


def palette(n: int) -> list[str]:
    """Return ``n`` colours from the Okabe-Ito palette (cycled if ``n`` > 8)."""
    return [OKABE_ITO[i % len(OKABE_ITO)] for i in range(n)]


def get_axes(ax: Axes | None = None, figsize: Sequence[float] = (7.0, 4.0)) -> Axes:
    """Return ``ax`` or a new Axes on a new figure (non-interactive safe)."""
    import matplotlib

    if ax is not None:
        return ax
    if not _has_display():
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, new_ax = plt.subplots(figsize=tuple(figsize))
    new_ax.spines[["top", "right"]].set_visible(False)
    return new_ax


def _has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY")) or os.name == "nt"


def format_gbp(value: float, decimals: int = 0) -> str:
    """Format pounds for a reader: ``£1,234`` / ``-£1.2m`` style is avoided for clarity.

    Examples
    --------
    >>> format_gbp(1234567.8)
    '£1,234,568'
    >>> format_gbp(-250)
    '-£250'
    """
    if value != value:  # NaN
        return ""
    sign = "-" if value < 0 else ""
    return f"{sign}£{abs(value):,.{decimals}f}"


def format_count(value: float) -> str:
    """Format a count with thousands separators (``12,345``)."""
    if value != value:
        return ""
    return f"{value:,.0f}"


def gbp_formatter():
    """A matplotlib tick formatter showing pounds with thousands separators."""
    from matplotlib.ticker import FuncFormatter

    def _fmt(x: float, _pos: int) -> str:
        if abs(x) >= 1e6:
            return f"{'-' if x < 0 else ''}£{abs(x) / 1e6:,.1f}m"
        if abs(x) >= 1e4:
            return f"{'-' if x < 0 else ''}£{abs(x) / 1e3:,.0f}k"
        return format_gbp(x)

    return FuncFormatter(_fmt)


def thousands_formatter():
    """A matplotlib tick formatter with thousands separators."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, _pos: f"{x:,.0f}" if abs(x) >= 100 else f"{x:g}")
