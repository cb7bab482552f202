"""Event study: dynamic two-way fixed effects with leads and lags.

The regression

``y_it = a_i + l_t + sum_{e != ref} b_e * 1{E_it = e} [+ X_it g] + u_it``

where ``E_it = t - g_i`` is the event time (periods since unit ``i``'s first
treated period ``g_i``; never-treated units have no event-time dummies and
act as controls throughout). Unit and period effects are absorbed
(:mod:`evalkit.evaluate.fixed_effects`); standard errors are clustered by unit
or by ``cluster=``.

**Reference period.** ``b_e`` are relative to ``ref = -1``, the last period
before the start (``reference=``).

**Binned end-points.** With ``leads=L`` and ``lags=K`` the estimated window is
``[-L, K]`` and the end-points are binned (Schmidheiny & Siegloch 2023):
``b_{-L}`` is the effect at ``e <= -L`` and ``b_K`` at ``e >= K``. Binning
keeps every observation, assumes effects are constant beyond the window, and
identifies the model even without never-treated units. Without ``leads``/
``lags`` every observed event time gets its own coefficient (no binning); if
there are then no never-treated units the fully dynamic model is not
identified (event time is collinear with unit and period effects), so the
earliest lead is also set to zero and a warning says so (Borusyak, Jaravel &
Spiess 2024).

**Pre-trend test.** A joint Wald test that every lead coefficient (except the
reference) is zero, reported as ``F = W / q`` on ``(q, G - 1)`` degrees of
freedom (``pre_trend_pvalue``) and as chi-squared (``pre_trend_pvalue_chi2``).
A large p-value is not proof of parallel trends (Roth 2022): look at the plot.

**Bands.** Pointwise confidence intervals use ``t(G - 1)``; the uniform
(sup-t) band over all plotted coefficients uses the critical value of
``max_e |Z_e|`` for ``Z ~ N(0, corr(V))`` by simulation (Montiel Olea &
Plagborg-Moller 2019).

**Headline.** The average of the post-treatment coefficients ``b_0..b_K``
(equal weights), with its standard error from the covariance matrix.

Under staggered starts with effects that vary across groups, these TWFE
coefficients can be contaminated by effects from other event times (Sun &
Abraham 2021); :class:`~evalkit.evaluate.staggered.StaggeredDiD` with the
``dynamic`` aggregation is the robust alternative, and the report shows both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from ._did_data import NEVER, Panel, prepare_panel
from .fixed_effects import FEOLSFit, feols, wald_test
from .result import EffectResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["EventStudy", "EventStudyResult"]


class EventStudy:
    """Dynamic TWFE event study with binned end-points and a pre-trend test.

    Parameters
    ----------
    unit, time, outcome, first_treat : str
        Column names (0/empty ``first_treat`` = never treated).
    leads, lags : int, optional
        Window ``[-leads, lags]`` with binned end-points (see module
        docstring); ``None`` = every observed event time, unbinned.
    reference : int, default -1
        Event time normalised to zero.
    covariates : list of str, optional
        Time-varying controls.
    cluster : str, optional
        Cluster column (default: unit).
    ssc : {"nested", "none", "full"}
        Small-sample correction.
    n_sim : int
        Draws for the uniform band's critical value (0 = no band).
    seed : int
        Seed for those draws.
    measure, starts, alpha :
        As for :class:`~evalkit.evaluate.did.DiD`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> n, T = 300, 10
    >>> u = np.repeat(np.arange(n), T); t = np.tile(np.arange(T), n)
    >>> g = np.repeat(np.where(np.arange(n) % 3 == 0, 0, 5), T)
    >>> y = 1.0 * ((g > 0) & (t >= g)) + 0.1 * t + rng.normal(scale=0.5, size=n * T)
    >>> df = pd.DataFrame({"id": u, "period": t, "g": g, "value": y})
    >>> r = EventStudy(unit="id", first_treat="g", leads=4, lags=3).fit(df)
    >>> r.to_frame("effects")["term"].tolist()
    ['e<=-4', 'e=-3', 'e=-2', 'e=-1', 'e=0', 'e=1', 'e=2', 'e>=3']
    >>> round(r.estimate, 1)
    1.0
    """

    def __init__(self, *, unit: str = "person_id", time: str = "period", outcome: str = "value",
                 first_treat: str = "pilot_start", leads: int | None = None,
                 lags: int | None = None, reference: int = -1,
                 covariates: Sequence[str] | str | None = None, cluster: str | None = None,
                 ssc: str = "nested", n_sim: int = 10_000, seed: int | None = 0,
                 measure: str | None = None, starts: pd.DataFrame | pd.Series | None = None,
                 alpha: float = 0.05) -> None:
        for name, v in (("leads", leads), ("lags", lags)):
            if v is not None and (int(v) != v or v < 0):
                raise InputError(f"{name} must be a whole number >= 0 or None; got {v!r}.")
        if leads is not None and -leads > reference:
            raise InputError(f"reference={reference} lies outside the window [-{leads}, ...]: "
                             "increase leads or move the reference period.")
        if lags is not None and reference > lags:
            raise InputError(f"reference={reference} lies after lags={lags}.")
        if not 0 < alpha < 1:
            raise InputError(f"alpha must be between 0 and 1; got {alpha!r}.")
        self.unit, self.time, self.outcome, self.first_treat = unit, time, outcome, first_treat
        self.leads, self.lags, self.reference = leads, lags, int(reference)
        self.covariates = [covariates] if isinstance(covariates, str) else list(covariates or [])
        self.cluster, self.ssc, self.n_sim, self.seed = cluster, ssc, int(n_sim), seed
        self.measure, self.starts, self.alpha = measure, starts, alpha

    def fit(self, data: pd.DataFrame) -> EventStudyResult:
        """Estimate the event-study coefficients."""
        panel = prepare_panel(
            data, unit=self.unit, time=self.time, outcome=self.outcome,
            first_treat=self.first_treat, covariates=self.covariates, cluster=self.cluster,
            measure=self.measure, starts=self.starts, always_treated="keep",
            design="Event study")
        return _fit(self, panel)


def _fit(spec: EventStudy, panel: Panel) -> EventStudyResult:
    G = panel.gidx
    treated_row = (G < NEVER)[panel.unit_idx]
    if not treated_row.any():
        raise InputError("No unit is treated within the panel: there is no event to study.")
    e = np.where(treated_row, panel.time_idx - G[panel.unit_idx], 0)
    e_tr = e[treated_row]
    lo = int(e_tr.min()) if spec.leads is None else -int(spec.leads)
    hi = int(e_tr.max()) if spec.lags is None else int(spec.lags)
    ref = spec.reference
    if not lo <= ref <= hi:
        raise InputError(f"reference={ref} is outside the observed event times [{lo}, {hi}].")
    ec = np.clip(e, lo, hi)
    warnings: list[str] = []
    refs = {ref}
    has_never = bool(np.any(G == NEVER))
    binned_lo = spec.leads is not None and bool(np.any(e_tr < lo))
    binned_hi = spec.lags is not None and bool(np.any(e_tr > hi))
    if not has_never and not (binned_lo or binned_hi) and lo < ref:
        refs.add(lo)
        warnings.append(
            f"No never-treated units and no binned end-points: the fully dynamic model is not "
            f"identified, so event time {lo} is also normalised to zero (a second reference).")
    levels = [lv for lv in range(lo, hi + 1) if lv not in refs]
    cols = np.zeros((panel.y.size, len(levels)))
    codes = np.full(panel.y.size, -1, dtype=np.int64)
    codes[treated_row] = ec[treated_row] - lo
    for j, lv in enumerate(levels):
        cols[:, j] = codes == (lv - lo)
    keep = cols.sum(axis=0) > 0
    if not keep.all():
        miss = [levels[j] for j in np.flatnonzero(~keep)]
        warnings.append(f"No observations at event time(s) {miss}; they are left out.")
        levels = [lv for lv, k in zip(levels, keep) if k]
        cols = cols[:, keep]
    X = cols if panel.x is None else np.column_stack([cols, panel.x])
    names = [_term(lv, lo, hi, spec) for lv in levels] + list(panel.covariates)
    cl = panel.unit_idx if panel.cluster is None else panel.cluster[panel.unit_idx]
    try:
        fit = feols(panel.y, X, [panel.unit_idx, panel.time_idx], names=names, cluster=cl,
                    ssc=spec.ssc)
    except InputError as exc:
        if panel.x is not None:
            raise
        raise InputError(
            "The event-study coefficients are not identified: some event times are seen in "
            "only one start group, so they cannot be told apart from the unit and period "
            f"effects ({'no never-treated units, ' if not has_never else ''}event times "
            f"{lo} to {hi}). Pass leads= and lags= to bin the end-points (e.g. leads=4, "
            "lags=6)."
        ) from exc
    return EventStudyResult._build(spec, panel, fit, levels, lo, hi, refs, ec, treated_row,
                                   warnings)


def _term(lv: int, lo: int, hi: int, spec: EventStudy) -> str:
    if lv == lo and spec.leads is not None:
        return f"e<={lv}"
    if lv == hi and spec.lags is not None:
        return f"e>={lv}"
    return f"e={lv}"


class EventStudyResult(EffectResult):
    """Result of :class:`EventStudy`; ``tables["effects"]`` is the path."""

    @classmethod
    def _build(cls, spec: EventStudy, panel: Panel, fit: FEOLSFit, levels: list[int], lo: int,
               hi: int, refs: set[int], ec: np.ndarray, treated_row: np.ndarray,
               warnings: list[str]) -> EventStudyResult:
        m = len(levels)
        b = fit.coef[:m]
        V = fit.vcov[:m, :m]
        se = np.sqrt(np.diag(V))
        q = stats.t.ppf(1 - spec.alpha / 2, fit.df_t)
        crit = float("nan")
        if spec.n_sim > 0 and m > 0:
            sd = np.where(se > 0, se, 1.0)
            R = V / np.outer(sd, sd)
            rng = np.random.default_rng(spec.seed)
            Z = rng.multivariate_normal(np.zeros(m), R, size=spec.n_sim, method="eigh")
            crit = float(np.quantile(np.max(np.abs(Z), axis=1), 1 - spec.alpha))
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * stats.t.sf(np.abs(b / se), fit.df_t)
        counts = pd.Series(ec[treated_row]).value_counts()
        rows = []
        for lv in range(lo, hi + 1):
            if lv in levels:
                j = levels.index(lv)
                rows.append({"term": _term(lv, lo, hi, spec), "event_time": lv,
                             "estimate": b[j], "se": se[j], "ci_lower": b[j] - q * se[j],
                             "ci_upper": b[j] + q * se[j], "band_lower": b[j] - crit * se[j],
                             "band_upper": b[j] + crit * se[j], "pvalue": p[j],
                             "reference": False})
            elif lv in refs:
                rows.append({"term": _term(lv, lo, hi, spec), "event_time": lv, "estimate": 0.0,
                             "se": np.nan, "ci_lower": 0.0, "ci_upper": 0.0, "band_lower": 0.0,
                             "band_upper": 0.0, "pvalue": np.nan, "reference": True})
        eff = pd.DataFrame(rows)
        eff["binned"] = ((eff["event_time"] == lo) & (spec.leads is not None)) | (
            (eff["event_time"] == hi) & (spec.lags is not None))
        eff["n_obs"] = eff["event_time"].map(counts).fillna(0).astype(int)
        post = [j for j, lv in enumerate(levels) if lv >= 0]
        pre = [j for j, lv in enumerate(levels) if lv < 0]
        if not post:
            raise InputError("No post-treatment event times were estimated.")
        w = np.zeros(len(fit.coef))
        w[post] = 1.0 / len(post)
        est = float(w @ fit.coef)
        se_h = float(np.sqrt(w @ fit.vcov @ w))
        wt = wald_test(fit, pre)
        diag: dict[str, Any] = {"pre_trend_F": wt["F"], "pre_trend_df": wt["df"],
                                "pre_trend_pvalue": wt["pvalue"],
                                "pre_trend_pvalue_chi2": wt["pvalue_chi2"],
                                "uniform_band_crit": crit, "clusters": fit.n_clusters,
                                "rows": fit.nobs}
        n_tr = int(np.sum(panel.gidx < NEVER))
        unit_lbl = panel.period_unit
        return cls.from_estimate(
            est, se_h, alpha=spec.alpha, df=fit.df_t, n_treated=n_tr,
            n_control=int(np.sum(panel.gidx == NEVER)),
            estimand=f"Average effect, event times 0 to {levels[post[-1]]}",
            design="event_study",
            method=f"Event study (TWFE with leads and lags, reference e={spec.reference}), "
                   f"SEs clustered by {panel.cluster_name} ({fit.n_clusters} clusters)",
            outcome=panel.outcome, diagnostics=diag,
            tables={"effects": eff, "coefficients": fit.to_frame(spec.alpha),
                    "excluded": panel.excluded},
            warnings=warnings,
            extra={"fit": fit, "notes": panel.notes, "period_unit": unit_lbl})

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Coefficients with pointwise CIs (bars) and the uniform band (shaded)."""
        from ..plotting import GREY, OKABE_ITO, get_axes

        ax = get_axes(ax, figsize=kwargs.pop("figsize", (8, 4.5)))
        eff = self.tables["effects"]
        x = eff["event_time"].to_numpy(dtype=float)
        level = f"{100 * (1 - self.alpha):g}%"
        if np.isfinite(eff["band_lower"]).all():
            ax.fill_between(x, eff["band_lower"], eff["band_upper"], color=OKABE_ITO[4],
                            alpha=0.25, label=f"{level} uniform band")
        est = eff[~eff["reference"]]
        pre = est["event_time"] < 0
        for mask, colour, lab in ((pre, GREY, "leads"), (~pre, OKABE_ITO[0], "lags")):
            d = est[mask]
            if len(d):
                ax.errorbar(d["event_time"], d["estimate"],
                            yerr=[d["estimate"] - d["ci_lower"], d["ci_upper"] - d["estimate"]],
                            fmt="o", color=colour, capsize=3, label=f"{lab} ({level} CI)")
        r = eff[eff["reference"]]
        ax.plot(r["event_time"], r["estimate"], "o", mfc="white", color="black",
                label="reference (set to 0)")
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(-0.5, color=GREY, ls="--", lw=0.8)
        ax.set_xticks(x, eff["term"].str.replace("e=", "", regex=False)
                      .str.replace("e", "", regex=False),
                      rotation=45 if len(x) > 14 else 0)
        unit_lbl = self.extra.get("period_unit", "periods")
        ax.set_xlabel(f"{unit_lbl.capitalize()} since start (event time)")
        ax.set_ylabel(kwargs.get("ylabel", f"Effect on {self.outcome or 'outcome'}"))
        p = self.diagnostics.get("pre_trend_pvalue", float("nan"))
        ax.set_title(kwargs.get("title", "Event study" + (
            f" (pre-trend test p = {p:.3f})" if p == p else "")))
        ax.legend(frameon=False, fontsize=8)
        return ax
