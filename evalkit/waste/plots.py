"""Charts a commissioner can read: hand-off heatmap, stories told, cost by partner, waits.

All use the Okabe-Ito palette from :mod:`evalkit.plotting`, carry a title and
labelled axes with units, and format pounds as pounds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..plotting import GREY, OKABE_ITO, gbp_formatter, get_axes, thousands_formatter
from .measures import MEASURE_LABELS, MEASURES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from .report import WasteReport

__all__ = ["plot_handoffs", "plot_front_doors", "plot_cost_by_partner", "plot_waits",
           "plot_pilot_comparison"]


def plot_handoffs(report: WasteReport, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Heatmap of hand-offs: rows are the organisation handing on, columns the one receiving."""
    from matplotlib.colors import LinearSegmentedColormap

    mat = report.to_frame("handoff_matrix")
    n = max(len(mat), 1)
    ax = get_axes(ax, figsize=(max(6.0, 0.7 * n + 3), max(4.5, 0.6 * n + 2)))
    cmap = LinearSegmentedColormap.from_list("evalkit_blue", ["#FFFFFF", OKABE_ITO[0]])
    vals = mat.to_numpy(dtype=float)
    im = ax.imshow(vals if vals.size else np.zeros((1, 1)), cmap=cmap, aspect="auto")
    ax.set_xticks(range(len(mat.columns)), list(mat.columns), rotation=45, ha="right")
    ax.set_yticks(range(len(mat.index)), list(mat.index))
    vmax = vals.max() if vals.size else 0
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            if vals[i, j] > 0:
                ax.text(j, i, f"{vals[i, j]:,.0f}", ha="center", va="center", fontsize=8,
                        color="white" if vals[i, j] > 0.6 * vmax else "black")
    cb = ax.figure.colorbar(im, ax=ax, format=thousands_formatter())
    cb.set_label("Hand-offs (count)")
    ax.set_xlabel("Passed to (organisation)")
    ax.set_ylabel("Passed from (organisation)")
    ax.set_title(kwargs.get("title", "Hand-offs between organisations"))
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_front_doors(report: WasteReport, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Bar chart: people by the number of organisations they told their story to."""
    ax = get_axes(ax)
    fd = report.to_frame("front_doors")
    groups = [g for g in ("pilot", "non-pilot") if g in set(fd["group"])]
    if not groups:
        groups = ["all"]
    width = 0.8 / len(groups)
    ks = sorted(set(fd["front_doors"])) or [1]
    for i, g in enumerate(groups):
        sub = fd[fd["group"] == g].set_index("front_doors")["share"].reindex(ks, fill_value=0)
        x = np.arange(len(ks)) + (i - (len(groups) - 1) / 2) * width
        ax.bar(x, 100 * sub.to_numpy(), width=width, color=OKABE_ITO[i],
               label={"all": "Everyone assessed"}.get(g, g.capitalize()))
    ax.set_xticks(range(len(ks)), [str(k) for k in ks])
    ax.set_xlabel(f"Organisations assessing the person within "
                  f"{report.settings.front_door_days} days (front doors)")
    ax.set_ylabel("People assessed (%)")
    ax.set_title(kwargs.get("title", "How many times people told their story"))
    if len(groups) > 1:
        ax.legend(frameon=False)
    return ax


def plot_cost_by_partner(report: WasteReport, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Horizontal stacked bars: avoidable cost of failure demand by partner and category."""
    ax = get_axes(ax)
    cbp = report.to_frame("cost_by_partner")
    year = report.meta.get("price_year")
    if (not report.meta.get("priced", True) or cbp.empty
            or cbp["avoidable_cost_gbp"].isna().all()):
        ax.text(0.5, 0.5, "Not priced (no unit costs given)", ha="center", va="center",
                transform=ax.transAxes, color=GREY)
    else:
        wide = cbp.pivot_table(index="partner", columns="measure", values="avoidable_cost_gbp",
                               aggfunc="sum", fill_value=0.0)
        wide = wide.loc[wide.sum(axis=1).sort_values().index]
        left = np.zeros(len(wide))
        for i, m in enumerate([m for m in MEASURES if m in wide.columns]):
            v = wide[m].to_numpy()
            ax.barh(range(len(wide)), v, left=left, color=OKABE_ITO[i % len(OKABE_ITO)],
                    label=MEASURE_LABELS[m])
            left += v
        ax.set_yticks(range(len(wide)), list(wide.index))
        ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.xaxis.set_major_formatter(gbp_formatter())
    ax.set_xlabel(f"Avoidable cost (£{', ' + str(year) + ' prices' if year else ''})")
    ax.set_ylabel("Partner bearing the cost")
    ax.set_title(kwargs.get("title", "Cost of failure demand by partner"))
    return ax


def plot_waits(report: WasteReport, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Bar chart of referrals by wait band, with never-followed referrals in grey."""
    ax = get_axes(ax)
    wd = report.to_frame("waits_distribution")
    colours = [OKABE_ITO[0]] * (len(wd) - 1) + [GREY]
    ax.bar(range(len(wd)), wd["referrals"], color=colours)
    ax.set_xticks(range(len(wd)), list(wd["band"]), rotation=45, ha="right")
    ax.yaxis.set_major_formatter(thousands_formatter())
    ax.set_xlabel("Days from referral to next intervention")
    ax.set_ylabel("Referrals (number)")
    ax.set_title(kwargs.get("title", "Waits from referral to intervention"))
    return ax


def plot_pilot_comparison(report: WasteReport, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Rates per 1,000 person-years, pilot vs non-pilot, before and after the pilot start."""
    ax = get_axes(ax, figsize=(8.0, 4.0))
    pc = report.to_frame("pilot_comparison")
    measures = kwargs.get("measures", ["story_retold", "reassessment", "bounced_referral",
                                       "handoff"])
    pc = pc[pc["measure"].isin(measures)]
    series = [(g, p) for g in ("pilot", "non-pilot", "all") for p in ("before", "after", "all")
              if ((pc["group"] == g) & (pc["period"] == p)).any()]
    if any(p != "all" for _, p in series):
        series = [(g, p) for g, p in series if p != "all"]
    width = 0.8 / max(len(series), 1)
    for i, (g, p) in enumerate(series):
        sub = pc[(pc["group"] == g) & (pc["period"] == p)].set_index("measure")
        v = sub["rate_per_1000_person_years"].reindex(measures).to_numpy(dtype=float)
        x = np.arange(len(measures)) + (i - (len(series) - 1) / 2) * width
        ax.bar(x, v, width=width, color=OKABE_ITO[i % len(OKABE_ITO)],
               label=f"{g}, {p}" if p != "all" else g)
    ax.set_xticks(range(len(measures)),
                  [MEASURE_LABELS.get(m, m).split(" (")[0] for m in measures], rotation=20,
                  ha="right")
    ax.yaxis.set_major_formatter(thousands_formatter())
    ax.set_ylabel("Rate per 1,000 person-years")
    ax.set_xlabel("Failure-demand measure")
    ax.set_title(kwargs.get("title", "Failure demand: pilot and comparison, before and after"))
    ax.legend(frameon=False, fontsize=8)
    return ax
