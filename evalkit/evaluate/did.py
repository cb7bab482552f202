"""Difference-in-differences: the 2x2 design and two-way fixed effects.

:class:`DiD`
    The classic comparison of a treated and a comparison group before and
    after one common start date, by the regression
    ``y = a + b*treated + c*post + d*treated*post [+ X g + (X*post) h] + e``
    estimated with ``statsmodels`` and standard errors clustered by unit (or
    by ``cluster=``, e.g. area). ``d`` is the DiD estimate. Without
    covariates it equals the difference of the four cell means exactly.
    Covariates enter in levels **and** interacted with ``post``, so that
    groups with different covariate mixes may follow different trends
    (parallel trends conditional on ``X``); they are centred at the treated
    group's mean so that ``d`` is the effect at the treated group's average
    covariates.

:class:`TWFE`
    The two-way fixed effects regression ``y_it = a_i + l_t + b*D_it [+ X_it g]``
    with ``D_it = 1{t >= first treated period of i}``. Unit and period
    effects are absorbed by the within transformation
    (:mod:`evalkit.evaluate.fixed_effects`), so millions of rows fit without
    dummy columns; standard errors are clustered by unit (default) or area.
    With staggered starts and effects that change over time ``b`` is a
    weighted average of 2x2 comparisons, some using already-treated units
    as controls with possibly negative weights (Goodman-Bacon 2021; see
    :mod:`evalkit.evaluate.bacon`). Use :class:`~evalkit.evaluate.staggered.StaggeredDiD`
    for a heterogeneity-robust estimate.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({
...     "area": ["a", "a", "b", "b", "c", "c", "d", "d"],
...     "period": [1, 2] * 4,
...     "start": [2, 2, 2, 2, 0, 0, 0, 0],
...     "value": [10.0, 14.0, 12.0, 15.0, 9.0, 10.0, 11.0, 13.0]})
>>> r = DiD(unit="area", first_treat="start").fit(df)
>>> round(r.estimate, 3)   # (14.5 - 11) - (11.5 - 10)
2.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._did_data import NEVER, Panel, format_period, prepare_panel
from .fixed_effects import feols
from .result import EffectResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["DiD", "DiDResult", "TWFE", "TWFEResult"]


def _cluster_codes(panel: Panel) -> np.ndarray:
    """Cluster code for every row (unit by default)."""
    if panel.cluster is None:
        return panel.unit_idx
    return panel.cluster[panel.unit_idx]


class DiD:
    """Two-group, two-period (2x2) difference-in-differences.

    Parameters
    ----------
    unit, time, outcome, first_treat : str
        Column names. All treated units must share one first treated period
        (the start); units with 0/empty ``first_treat`` form the comparison
        group. Periods before the start are "pre", from it on "post"; several
        periods on each side are pooled.
    covariates : list of str, optional
        Numeric covariates (see module docstring for how they enter).
    cluster : str, optional
        Column to cluster standard errors by (constant within unit, e.g.
        ``area``). Default: by unit.
    measure, starts :
        As in :func:`~evalkit.evaluate._did_data.prepare_panel`: pick one
        measure from a tidy panel; take start dates from another table.
    alpha : float
        1 - confidence level. Inference uses a t distribution with
        clusters - 1 degrees of freedom.
    """

    def __init__(self, *, unit: str = "person_id", time: str = "period", outcome: str = "value",
                 first_treat: str = "pilot_start", covariates: Sequence[str] | str | None = None,
                 cluster: str | None = None, measure: str | None = None,
                 starts: pd.DataFrame | pd.Series | None = None, alpha: float = 0.05) -> None:
        if not 0 < alpha < 1:
            raise InputError(f"alpha must be between 0 and 1; got {alpha!r}.")
        self.unit, self.time, self.outcome, self.first_treat = unit, time, outcome, first_treat
        self.covariates = [covariates] if isinstance(covariates, str) else list(covariates or [])
        self.cluster, self.measure, self.starts, self.alpha = cluster, measure, starts, alpha

    def fit(self, data: pd.DataFrame) -> DiDResult:
        """Estimate the 2x2 DiD by OLS with cluster-robust standard errors."""
        import statsmodels.api as sm

        panel = prepare_panel(
            data, unit=self.unit, time=self.time, outcome=self.outcome,
            first_treat=self.first_treat, covariates=self.covariates, cluster=self.cluster,
            measure=self.measure, starts=self.starts, always_treated="keep", design="2x2 DiD")
        G = panel.gidx
        starts = np.unique(G[G < NEVER])
        if starts.size == 0:
            raise InputError("No unit is treated (every first_treat is 0 or empty): a DiD needs "
                             "a treated group.")
        if not np.any(G == NEVER):
            raise InputError("Every unit is treated: a DiD needs comparison units with 0 or empty "
                             f"{self.first_treat!r}.")
        if starts.size > 1:
            labs = ", ".join(format_period(panel.periods[s]) for s in starts[:8])
            raise InputError(
                f"Treated units start in {starts.size} different periods ({labs}); the 2x2 DiD "
                "needs one common start. Use StaggeredDiD (Callaway & Sant'Anna) for staggered "
                "roll-outs, or restrict the data to one start cohort and the comparison units."
            )
        s = int(starts[0])
        if s == 0:
            raise InputError(
                f"Treated units start in the first period ({format_period(panel.periods[0])}), so "
                "there is no "
                "pre-treatment period. Add earlier periods to the data.")
        treated_unit = G < NEVER
        treat = treated_unit[panel.unit_idx].astype(float)
        post = (panel.time_idx >= s).astype(float)
        cols = {"const": np.ones_like(post), "treated": treat, "post": post,
                "treated:post": treat * post}
        if panel.x is not None:
            xc = panel.x - panel.x[treat == 1].mean(axis=0)
            for j, c in enumerate(panel.covariates):
                cols[c] = xc[:, j]
                cols[f"{c}:post"] = xc[:, j] * post
        X = pd.DataFrame(cols)
        groups = _cluster_codes(panel)
        n_clusters = int(np.unique(groups).size)
        if n_clusters < 2:
            raise InputError("Cluster-robust standard errors need at least two clusters.")
        model = sm.OLS(panel.y, X)
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
        if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
            raise InputError("The DiD regression is collinear (a covariate is constant, or "
                             "duplicates another). Drop it and fit again.")
        est = float(fit.params["treated:post"])
        se = float(fit.bse["treated:post"])
        # cell means
        cell = pd.DataFrame({"group": np.where(treat == 1, "treated", "comparison"),
                             "period": np.where(post == 1, "post", "pre"), "y": panel.y})
        means = cell.pivot_table(index="group", columns="period", values="y", aggfunc="mean",
                                 observed=True).reindex(index=["treated", "comparison"],
                                                        columns=["pre", "post"])
        means["change"] = means["post"] - means["pre"]
        coef = pd.DataFrame({"term": fit.params.index, "estimate": fit.params.values,
                             "se": fit.bse.values, "ci_lower": fit.conf_int(self.alpha)[0].values,
                             "ci_upper": fit.conf_int(self.alpha)[1].values,
                             "pvalue": fit.pvalues.values})
        path = pd.DataFrame({"t": panel.time_idx, "treated": treat, "y": panel.y}).groupby(
            ["t", "treated"])["y"].mean().unstack()
        path.index = panel.periods[path.index.to_numpy()]
        path = path.rename(columns={0.0: "comparison", 1.0: "treated"})
        n_tr = int(treated_unit.sum())
        covs = f" with covariates ({', '.join(panel.covariates)})" if panel.covariates else ""
        res = DiDResult.from_estimate(
            est, se, alpha=self.alpha, df=n_clusters - 1, n_treated=n_tr,
            n_control=int(panel.n_units - n_tr), estimand="ATT", design="did",
            method=f"2x2 difference-in-differences{covs}, OLS, SEs clustered by "
                   f"{panel.cluster_name} ({n_clusters} clusters)",
            outcome=panel.outcome,
            diagnostics={"start": format_period(panel.periods[s]), "clusters": n_clusters,
                         "rows": int(panel.y.size)},
            tables={"coefficients": coef, "means": means.rename_axis(None, axis=1),
                    "means_by_period": path, "excluded": panel.excluded},
            extra={"statsmodels": fit, "notes": panel.notes, "start": panel.periods[s]},
        )
        return res


class DiDResult(EffectResult):
    """Result of :class:`DiD`; ``plot()`` draws the two groups' mean paths."""

    def summary(self, tables: Sequence[str] | None = None):  # type: ignore[override]
        return super().summary(tables if tables is not None else ["means", "coefficients"])

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Mean outcome by period, treated vs comparison, with the counterfactual.

        The dashed line is the treated group's pre-period mean shifted by the
        comparison group's change: the parallel-trends counterfactual.
        """
        from ..plotting import GREY, OKABE_ITO, get_axes

        ax = get_axes(ax)
        path = self.tables["means_by_period"]
        x = path.index
        ax.plot(x, path["treated"], "o-", color=OKABE_ITO[0], label="treated")
        ax.plot(x, path["comparison"], "s-", color=OKABE_ITO[1], label="comparison")
        m = self.tables["means"]
        start = self.extra["start"]
        postmask = np.asarray(x >= start)
        cf = m.loc["treated", "pre"] + m.loc["comparison", "change"]
        ax.hlines(cf, x[postmask][0], x[postmask][-1], colors=OKABE_ITO[0], linestyles="--",
                  label="treated counterfactual (post mean)")
        ax.axvline(start, color=GREY, ls=":", lw=1)
        ax.set_xlabel("Period")
        ax.set_ylabel(kwargs.get("ylabel", f"Mean {self.outcome or 'outcome'}"))
        ax.set_title(kwargs.get("title", f"Difference-in-differences: {self.estimate:.3g} "
                                         f"(95% CI {self.ci_lower:.3g} to {self.ci_upper:.3g})"))
        ax.legend(frameon=False, fontsize=8)
        return ax


class TWFE:
    """Two-way fixed effects DiD: unit and period effects absorbed.

    Parameters
    ----------
    unit, time, outcome, first_treat : str
        Column names; the treatment dummy is ``1{period >= first treated
        period}`` (0/empty = never treated). Unbalanced panels are fine.
    covariates : list of str, optional
        Time-varying controls added linearly.
    cluster : str, optional
        Cluster standard errors by this column (default: by unit).
    ssc : {"nested", "none", "full"}
        Small-sample correction (see :mod:`evalkit.evaluate.fixed_effects`).
    measure, starts, alpha :
        As for :class:`DiD`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> n, T = 200, 8
    >>> unit = np.repeat(np.arange(n), T); t = np.tile(np.arange(1, T + 1), n)
    >>> first = np.repeat(np.where(np.arange(n) < 100, 5, 0), T)
    >>> y = 0.2 * unit % 3 + 0.5 * t + 2.0 * ((first > 0) & (t >= first)) + rng.normal(size=n*T)
    >>> df = pd.DataFrame({"id": unit, "period": t, "first": first, "value": y})
    >>> r = TWFE(unit="id", first_treat="first").fit(df)
    >>> abs(r.estimate - 2.0) < 3 * r.se
    True
    """

    def __init__(self, *, unit: str = "person_id", time: str = "period", outcome: str = "value",
                 first_treat: str = "pilot_start", covariates: Sequence[str] | str | None = None,
                 cluster: str | None = None, ssc: str = "nested", measure: str | None = None,
                 starts: pd.DataFrame | pd.Series | None = None, alpha: float = 0.05) -> None:
        if ssc not in ("nested", "none", "full"):
            raise InputError(f"ssc must be 'nested', 'none' or 'full'; got {ssc!r}.")
        if not 0 < alpha < 1:
            raise InputError(f"alpha must be between 0 and 1; got {alpha!r}.")
        self.unit, self.time, self.outcome, self.first_treat = unit, time, outcome, first_treat
        self.covariates = [covariates] if isinstance(covariates, str) else list(covariates or [])
        self.cluster, self.ssc, self.measure, self.starts = cluster, ssc, measure, starts
        self.alpha = alpha

    def fit(self, data: pd.DataFrame) -> TWFEResult:
        """Estimate the TWFE coefficient on the treatment dummy."""
        panel = prepare_panel(
            data, unit=self.unit, time=self.time, outcome=self.outcome,
            first_treat=self.first_treat, covariates=self.covariates, cluster=self.cluster,
            measure=self.measure, starts=self.starts, always_treated="keep",
            design="Two-way fixed effects")
        return _twfe_from_panel(panel, ssc=self.ssc, alpha=self.alpha)


def _twfe_from_panel(panel: Panel, *, ssc: str = "nested", alpha: float = 0.05) -> TWFEResult:
    G = panel.gidx
    if not np.any(G < NEVER):
        raise InputError("No unit is treated within the panel: there is no effect to estimate.")
    D = (panel.time_idx >= G[panel.unit_idx]).astype(np.float64)
    X = D[:, None] if panel.x is None else np.column_stack([D, panel.x])
    names = ["treated"] + list(panel.covariates)
    fit = feols(panel.y, X, [panel.unit_idx, panel.time_idx], names=names,
                cluster=_cluster_codes(panel), ssc=ssc)
    coef = fit.to_frame(alpha)
    warnings = []
    if not fit.converged:
        warnings.append("The within transformation did not fully converge; estimates may be "
                        "inexact (a very unbalanced panel).")
    starts = np.unique(G[G < NEVER])
    if starts.size > 1:
        warnings.append(
            f"Treated units start in {starts.size} different periods: the TWFE estimate is a "
            "weighted average of 2x2 comparisons, some using already-treated units as controls "
            "(Goodman-Bacon 2021), and is biased if effects change over time. Compare with "
            "StaggeredDiD and see BaconDecomposition.")
    n_tr = int(np.sum(G < NEVER))
    return TWFEResult.from_estimate(
        float(fit.coef[0]), float(fit.se[0]), alpha=alpha, df=fit.df_t,
        n_treated=n_tr, n_control=int(panel.n_units - n_tr), estimand="ATT (TWFE)",
        design="twfe",
        method=f"Two-way fixed effects (unit and period effects absorbed), SEs clustered by "
               f"{panel.cluster_name} ({fit.n_clusters} clusters)",
        outcome=panel.outcome,
        diagnostics={"rows": fit.nobs, "clusters": fit.n_clusters, "ssc": fit.ssc,
                     "demeaning_sweeps": fit.sweeps},
        tables={"coefficients": coef, "excluded": panel.excluded},
        warnings=warnings, extra={"fit": fit, "notes": panel.notes})


class TWFEResult(EffectResult):
    """Result of :class:`TWFE` (the shared :class:`EffectResult` plot and tables)."""

    def summary(self, tables: Sequence[str] | None = None):  # type: ignore[override]
        return super().summary(tables if tables is not None else ["coefficients"])
