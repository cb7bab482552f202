"""The result type shared by every evaluation design.

An :class:`EffectResult` holds one headline estimate (an ATT, ATE or a
place-level effect) with its standard error, confidence interval and p-value,
the sample sizes, the method, diagnostics, named detail tables (balance, event
study path, donor weights...), optional bootstrap draws, and warnings.

Designs subclass it to add their own plots (CausalPy-style: one class per
design), but the attributes and ``summary()`` / ``to_frame()`` / ``plot()``
behave the same everywhere, so reports and the finance modules can consume any
of them. :class:`EffectResults` collects several (e.g. one per outcome).

Example
-------
>>> from evalkit.evaluate.result import EffectResult
>>> r = EffectResult.from_estimate(
...     estimate=-0.12, se=0.03, method="Difference in means", estimand="ATT",
...     outcome="ae_attendances", n_treated=500, n_control=4000)
>>> round(r.ci_lower, 3), round(r.ci_upper, 3)
(-0.179, -0.061)
>>> r.to_frame().loc[0, ["outcome", "estimand"]].tolist()
['ae_attendances', 'ATT']
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "EffectResult",
    "EffectResults",
    "Summary",
    "normal_inference",
    "HEADLINE_COLUMNS",
]

#: Columns of ``EffectResult.to_frame()``, in order.
HEADLINE_COLUMNS: tuple[str, ...] = (
    "outcome",
    "design",
    "method",
    "estimand",
    "estimate",
    "se",
    "ci_lower",
    "ci_upper",
    "pvalue",
    "alpha",
    "n_treated",
    "n_control",
    "unit",
)


def normal_inference(
    estimate: float | np.ndarray, se: float | np.ndarray, alpha: float = 0.05
) -> tuple[Any, Any, Any]:
    """Normal-approximation two-sided CI and p-value.

    Returns
    -------
    (lower, upper, pvalue)
    """
    est = np.asarray(estimate, dtype=float)
    s = np.asarray(se, dtype=float)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(est / s))
    lower, upper = est - z * s, est + z * s
    if lower.ndim == 0:
        return float(lower), float(upper), float(p)
    return lower, upper, p


class Summary:
    """A printable summary (text in a terminal, HTML in a notebook)."""

    def __init__(self, title: str, header: Sequence[tuple[str, str]],
                 tables: Sequence[tuple[str, pd.DataFrame]] = (),
                 notes: Sequence[str] = ()) -> None:
        self.title = title
        self.header = list(header)
        self.tables = list(tables)
        self.notes = list(notes)

    def as_text(self, width: int = 78) -> str:
        line = "=" * width
        out = [self.title.center(width), line]
        # two-column key/value block
        pairs = self.header
        half = (len(pairs) + 1) // 2
        left, right = pairs[:half], pairs[half:]
        colw = width // 2 - 1
        for i in range(half):
            lk, lv = left[i]
            ltxt = f"{lk + ':':<20}{lv:>{colw - 20}}"
            if i < len(right):
                rk, rv = right[i]
                rtxt = f"{rk + ':':<20}{rv:>{colw - 20}}"
            else:
                rtxt = ""
            out.append(f"{ltxt}  {rtxt}".rstrip())
        for name, df in self.tables:
            out.append(line)
            if name:
                out.append(name)
                out.append("-" * width)
            with pd.option_context("display.width", width, "display.max_columns", 20,
                                   "display.float_format", _fmt_float):
                out.append(df.to_string())
        out.append(line)
        for n in self.notes:
            out.append(_wrap(n, width))
        return "\n".join(out)

    def __str__(self) -> str:
        return self.as_text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:right'>{html.escape(v)}</td></tr>"
            for k, v in self.header
        )
        parts = [f"<h4>{html.escape(self.title)}</h4>", f"<table>{rows}</table>"]
        for name, df in self.tables:
            if name:
                parts.append(f"<h5>{html.escape(name)}</h5>")
            parts.append(df.to_html(float_format=_fmt_float, border=0))
        for n in self.notes:
            parts.append(f"<p><em>{html.escape(n)}</em></p>")
        return "\n".join(parts)


def _fmt_float(x: float) -> str:
    if x != x:
        return ""
    ax = abs(x)
    if ax == 0:
        return "0"
    if ax >= 1e5:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:,.2f}"
    if ax >= 1e-3:
        return f"{x:.4f}"
    return f"{x:.3g}"


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


@dataclass(repr=False)
class EffectResult:
    """One estimated effect, with its uncertainty, diagnostics and details.

    Attributes
    ----------
    estimate, se : float
        Point estimate and standard error, in outcome units (see ``unit``).
    ci_lower, ci_upper : float
        Confidence interval at level ``1 - alpha``.
    pvalue : float
        Two-sided p-value for "no effect".
    n_treated, n_control : int
        Units (people or areas) contributing on each side.
    estimand : str
        ``ATT``, ``ATE``, or a design-specific label (e.g. ``ATT (simple)``).
    method : str
        Human-readable description of the estimator and its options.
    design : str
        Short design key: ``comparison``, ``matching``, ``weighting``,
        ``did``, ``twfe``, ``event_study``, ``staggered_did``,
        ``synthetic_control``, ``its``.
    outcome : str
        Outcome measure.
    unit : str
        Units of the estimate, e.g. "A&E attendances per person per month".
    diagnostics : dict
        Scalar diagnostics (``max_abs_smd``, ``ess_control``, ``pre_trend_pvalue``,
        ``pre_rmspe``...), shown in ``summary()``.
    tables : dict of DataFrame
        Named detail tables (``balance``, ``effects`` for elementwise estimates
        such as event-time paths, ``weights``...). ``effects`` tables use the
        columns ``term, estimate, se, ci_lower, ci_upper, pvalue``.
    draws : ndarray, optional
        Bootstrap (or posterior) draws of ``estimate`` when computed; the
        finance modules propagate them.
    warnings : list of str
        Things the analyst must read (poor balance, weak pre-fit...).
    extra : dict
        Anything else a design keeps (fitted models, matched pairs).
    """

    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    pvalue: float
    n_treated: int
    n_control: int
    estimand: str = "ATT"
    method: str = ""
    design: str = ""
    outcome: str = ""
    unit: str = ""
    alpha: float = 0.05
    diagnostics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    draws: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_estimate(
        cls,
        estimate: float,
        se: float,
        *,
        alpha: float = 0.05,
        df: float | None = None,
        **kwargs: Any,
    ) -> EffectResult:
        """Build a result from an estimate and SE using normal (or t) inference.

        Parameters
        ----------
        estimate, se : float
        alpha : float, default 0.05
        df : float, optional
            Degrees of freedom for a t reference distribution (e.g. clusters - 1);
            the normal distribution when ``None``.
        **kwargs
            Any other attribute of :class:`EffectResult`.
        """
        estimate, se = float(estimate), float(se)
        if df is None:
            lo, hi, p = normal_inference(estimate, se, alpha)
        else:
            q = stats.t.ppf(1 - alpha / 2, df)
            lo, hi = estimate - q * se, estimate + q * se
            p = float(2 * stats.t.sf(abs(estimate / se), df)) if se > 0 else float("nan")
        return cls(estimate=estimate, se=se, ci_lower=lo, ci_upper=hi, pvalue=p,
                   alpha=alpha, **kwargs)

    @classmethod
    def from_draws(
        cls, estimate: float, draws: np.ndarray, *, alpha: float = 0.05,
        ci: str = "percentile", **kwargs: Any
    ) -> EffectResult:
        """Build a result whose SE and CI come from bootstrap draws.

        ``ci="percentile"`` uses the draws' quantiles; ``ci="normal"`` uses
        ``estimate +/- z * sd(draws)``. The p-value is the normal-approximation
        one from the bootstrap SE.
        """
        d = np.asarray(draws, dtype=float)
        d = d[np.isfinite(d)]
        se = float(np.std(d, ddof=1)) if d.size > 1 else float("nan")
        lo, hi, p = normal_inference(estimate, se, alpha)
        if ci == "percentile" and d.size > 1:
            lo, hi = (float(v) for v in np.quantile(d, [alpha / 2, 1 - alpha / 2]))
        return cls(estimate=float(estimate), se=se, ci_lower=lo, ci_upper=hi,
                   pvalue=p, alpha=alpha, draws=d, **kwargs)

    # ----------------------------------------------------------------- views
    @property
    def ci(self) -> tuple[float, float]:
        """The confidence interval as ``(lower, upper)``."""
        return (self.ci_lower, self.ci_upper)

    @property
    def significant(self) -> bool:
        """Whether the CI excludes zero."""
        return bool(self.ci_lower > 0 or self.ci_upper < 0)

    @property
    def effects(self) -> pd.DataFrame | None:
        """Elementwise estimates (event-time path, group effects...), if any."""
        return self.tables.get("effects")

    def to_frame(self, table: str | None = None) -> pd.DataFrame:
        """Tidy output.

        Parameters
        ----------
        table : str, optional
            ``None`` (default) gives the one-row headline table with
            :data:`HEADLINE_COLUMNS`; a name gives that detail table
            (e.g. ``"balance"``, ``"effects"``).
        """
        if table is not None:
            if table not in self.tables:
                from ..errors import InputError

                raise InputError(
                    f"This result has no table {table!r}; it has: "
                    f"{', '.join(self.tables) or 'none'}."
                )
            return self.tables[table].copy()
        row = {c: getattr(self, c) for c in HEADLINE_COLUMNS}
        return pd.DataFrame([row], columns=list(HEADLINE_COLUMNS))

    def _header(self) -> list[tuple[str, str]]:
        level = f"{100 * (1 - self.alpha):g}%"
        items = [
            ("Outcome", self.outcome or "-"),
            ("Design", self.design or "-"),
            ("Estimand", self.estimand),
            ("Estimate", _fmt_float(self.estimate)),
            ("Std. error", _fmt_float(self.se)),
            (f"{level} CI", f"[{_fmt_float(self.ci_lower)}, {_fmt_float(self.ci_upper)}]"),
            ("p-value", _fmt_p(self.pvalue)),
            ("N treated", f"{self.n_treated:,}"),
            ("N comparison", f"{self.n_control:,}"),
        ]
        if self.unit:
            items.append(("Units", self.unit))
        if self.draws is not None:
            items.append(("Bootstrap draws", f"{len(self.draws):,}"))
        for k, v in self.diagnostics.items():
            if isinstance(v, (int, float, np.integer, np.floating, str, bool)):
                items.append((k, _fmt_float(float(v)) if isinstance(
                    v, (float, np.floating)) else str(v)))
        return items

    def summary(self, tables: Iterable[str] | None = None) -> Summary:
        """A statsmodels-style summary: headline, diagnostics, detail tables.

        Parameters
        ----------
        tables : iterable of str, optional
            Detail tables to include; by default ``effects`` and ``balance``
            when present.
        """
        if tables is None:
            tables = [t for t in ("effects", "balance") if t in self.tables]
        tabs = [(name, self.tables[name]) for name in tables if name in self.tables]
        notes = [f"Warning: {w}" for w in self.warnings]
        title = self.method or "Effect estimate"
        return Summary(title, self._header(), tabs, notes)

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Plot the estimate: the ``effects`` path if present, else a point and CI.

        Designs override this with their own chart (love plot, event study,
        synthetic vs actual...). Returns the matplotlib Axes.
        """
        from ..plotting import OKABE_ITO, get_axes

        ax = get_axes(ax)
        eff = self.effects
        if eff is not None and {"estimate", "ci_lower", "ci_upper"} <= set(eff.columns):
            x = eff["term"] if "term" in eff.columns else eff.index
            xs = np.arange(len(eff)) if x.dtype == object else np.asarray(x, dtype=float)
            ax.axhline(0, color="black", lw=0.8)
            ax.errorbar(xs, eff["estimate"],
                        yerr=[eff["estimate"] - eff["ci_lower"], eff["ci_upper"] - eff["estimate"]],
                        fmt="o", color=OKABE_ITO[0], capsize=3)
            if x.dtype == object:
                ax.set_xticks(xs, list(x), rotation=45, ha="right")
            ax.set_xlabel(kwargs.get("xlabel", "Term"))
        else:
            ax.axvline(0, color="black", lw=0.8)
            ax.errorbar([self.estimate], [0], xerr=[[self.estimate - self.ci_lower],
                                                     [self.ci_upper - self.estimate]],
                        fmt="o", color=OKABE_ITO[0], capsize=4)
            ax.set_yticks([0], [self.outcome or "effect"])
            ax.set_xlabel(f"Effect ({self.unit})" if self.unit else "Effect")
        ax.set_ylabel(kwargs.get("ylabel", f"Effect ({self.unit})" if self.unit and eff is not None
                                 else ax.get_ylabel()))
        ax.set_title(kwargs.get("title", f"{self.estimand}: {self.outcome}".strip(": ")))
        return ax

    # ----------------------------------------------------------------- repr
    def __repr__(self) -> str:
        level = f"{100 * (1 - self.alpha):g}%"
        return (
            f"<{type(self).__name__} {self.estimand} of {self.outcome or 'outcome'} "
            f"by {self.method or self.design}: {_fmt_float(self.estimate)} "
            f"(SE {_fmt_float(self.se)}, {level} CI {_fmt_float(self.ci_lower)} to "
            f"{_fmt_float(self.ci_upper)}; n={self.n_treated:,} treated, "
            f"{self.n_control:,} comparison)>"
        )

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def _fmt_p(p: float) -> str:
    if p != p:
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


class EffectResults(Sequence[EffectResult]):
    """A collection of results (e.g. one per outcome or per method).

    ``to_frame()`` stacks their headline rows; ``summary()`` lists them;
    ``plot()`` draws a forest plot.
    """

    def __init__(self, results: Iterable[EffectResult]) -> None:
        self._results = list(results)

    def __len__(self) -> int:
        return len(self._results)

    def __getitem__(self, i):  # type: ignore[override]
        return self._results[i]

    def __iter__(self) -> Iterator[EffectResult]:
        return iter(self._results)

    def by(self, **criteria: Any) -> EffectResults:
        """Filter by attributes, e.g. ``results.by(outcome="arrests")``."""
        return EffectResults(r for r in self._results
                             if all(getattr(r, k) == v for k, v in criteria.items()))

    def to_frame(self) -> pd.DataFrame:
        if not self._results:
            return pd.DataFrame(columns=list(HEADLINE_COLUMNS))
        return pd.concat([r.to_frame() for r in self._results], ignore_index=True)

    def summary(self) -> Summary:
        df = self.to_frame()[["outcome", "method", "estimand", "estimate", "se",
                              "ci_lower", "ci_upper", "pvalue"]]
        notes = [f"{r.outcome}: {w}" for r in self._results for w in r.warnings]
        return Summary("Effect estimates", [("Results", f"{len(self)}")], [("", df)], notes)

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        from ..plotting import OKABE_ITO, get_axes

        ax = get_axes(ax, figsize=(7, 0.5 + 0.45 * max(len(self), 1)))
        df = self.to_frame()
        labels = [f"{o} ({m})" if m else o for o, m in zip(df["outcome"], df["method"])]
        ys = np.arange(len(df))[::-1]
        ax.axvline(0, color="black", lw=0.8)
        ax.errorbar(df["estimate"], ys,
                    xerr=[df["estimate"] - df["ci_lower"], df["ci_upper"] - df["estimate"]],
                    fmt="o", color=OKABE_ITO[0], capsize=3)
        ax.set_yticks(ys, labels)
        ax.set_xlabel(kwargs.get("xlabel", "Effect (outcome units)"))
        ax.set_title(kwargs.get("title", "Estimated effects with confidence intervals"))
        return ax

    def __repr__(self) -> str:
        return f"<EffectResults: {len(self)} results>\n" + str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def as_results(obj: EffectResult | Iterable[EffectResult] | Mapping[str, EffectResult]
               ) -> EffectResults:
    """Coerce a result, a list or a dict of results into :class:`EffectResults`."""
    if isinstance(obj, EffectResult):
        return EffectResults([obj])
    if isinstance(obj, Mapping):
        return EffectResults(obj.values())
    return EffectResults(obj)
