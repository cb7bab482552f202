"""Interrupted time series for a pilot that covers a whole place.

Two designs on one place's series (monthly A&E attendances, rough-sleeping
counts...), each with an optional control series:

* :class:`InterruptedTimeSeries`: segmented regression (Wagner et al. 2002;
  Bernal, Cummins & Gasparrini 2017) with a level change and a slope change at
  the intervention, seasonality (month dummies or Fourier terms), optional
  covariates, Newey-West (HAC) standard errors, Durbin-Watson and Ljung-Box
  diagnostics, a log model whose effects are percentages, and comparative ITS
  (the same model on the difference between the pilot and a control series).
* :class:`StructuralTimeSeries`: a structural time-series (unobserved
  components) model from statsmodels, either with the intervention as
  regressors (a step and a ramp) or as a counterfactual forecast from a model
  fitted to the pre-period (Brodersen et al. 2015's CausalImpact idea, by
  maximum likelihood rather than Bayesian).

Both return an :class:`ITSResult` (an :class:`~evalkit.evaluate.result.EffectResult`)
whose headline is the mean effect over the post-period. See
``docs/evaluate-synth-its.md`` for the definitions and defaults.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from evalkit.evaluate.its import InterruptedTimeSeries
>>> rng = np.random.default_rng(0)
>>> months = pd.date_range("2019-01-01", periods=48, freq="MS")
>>> t = np.arange(48)
>>> y = 200 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) - 15 * (t >= 30) + rng.normal(0, 2, 48)
>>> df = pd.DataFrame({"period": months, "value": y})
>>> res = InterruptedTimeSeries(intervention_start="2021-07-01", slope_change=False).fit(df)
>>> bool(res.ci_lower < -15 < res.ci_upper)
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from ._place import _coerce_time_column, _coerce_time_value, _fmt_time, _t, check_columns
from .result import EffectResult, Summary

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["InterruptedTimeSeries", "StructuralTimeSeries", "ITSResult", "newey_west_lags"]


def newey_west_lags(n: int) -> int:
    """Newey & West (1994) rule of thumb for the HAC truncation lag.

    ``floor(4 * (n / 100) ** (2 / 9))``; e.g. 3 for 48 monthly points.

    Examples
    --------
    >>> newey_west_lags(48), newey_west_lags(120)
    (3, 4)
    """
    return int(math.floor(4 * (n / 100) ** (2 / 9)))


# --------------------------------------------------------------------- series

@dataclass
class _Series:
    times: list[Any]             # labels (int or Timestamp)
    idx: np.ndarray              # integer time index (months, quarters, years...)
    y: np.ndarray                # outcome on the model scale
    raw: np.ndarray              # outcome in outcome units (treated)
    post: np.ndarray             # bool
    season: np.ndarray | None    # season position 0..L-1
    L: int | None                # season length
    X_cov: np.ndarray | None
    cov_names: list[str]
    control_raw: np.ndarray | None
    freq: str


def _time_index(times: pd.Series) -> tuple[np.ndarray, np.ndarray | None, int | None, str]:
    """Integer index, season position, season length and a frequency label."""
    if pd.api.types.is_datetime64_any_dtype(times):
        ts = pd.DatetimeIndex(times)
        if (ts.day == 1).all():
            months = ts.year * 12 + ts.month - 1
            d = np.diff(np.asarray(months))
            if d.size and (d % 3 == 0).all() and (ts.month % 3 == ts.month[0] % 3).all() \
                    and (d >= 3).all():
                q = np.asarray(months) // 3
                return q - q[0], np.asarray((ts.month - 1) // 3), 4, "quarter"
            m = np.asarray(months)
            return m - m[0], np.asarray(ts.month - 1), 12, "month"
        days = np.asarray((ts - ts[0]).days)
        d = np.diff(days)
        if d.size and (d % 7 == 0).all():
            return days // 7, None, None, "week"
        return days, None, None, "day"
    arr = np.asarray(times, dtype=np.int64)
    return arr - arr[0], None, None, "period"


def _design(s: _Series, T0_idx: int, seasonality: str | None, fourier_order: int,
            slope_change: bool, season_length: int | None) -> tuple[np.ndarray, list[str]]:
    n = s.y.size
    tt = s.idx.astype(float)
    cols = [np.ones(n), tt - T0_idx]
    names = ["const", "trend"]
    step = s.post.astype(float)
    cols.append(step)
    names.append("level_change")
    if slope_change:
        cols.append((tt - T0_idx) * step)
        names.append("slope_change")
    L = season_length or s.L
    if seasonality is not None:
        pos = s.season if (s.season is not None and season_length is None) else \
            (s.idx % L)
        if seasonality == "dummies":
            for k in range(1, L):
                cols.append((pos == k).astype(float))
                names.append(f"season_{k + 1}")
        else:
            for k in range(1, fourier_order + 1):
                cols.append(np.sin(2 * np.pi * k * pos / L))
                cols.append(np.cos(2 * np.pi * k * pos / L))
                names += [f"sin_{k}", f"cos_{k}"]
            if 2 * fourier_order >= L:  # cos at the Nyquist frequency duplicates
                keep = [i for i, c in enumerate(cols) if not (np.allclose(c, 0))]
                cols = [cols[i] for i in keep]
                names = [names[i] for i in keep]
    if s.X_cov is not None:
        for j, nm in enumerate(s.cov_names):
            cols.append(s.X_cov[:, j])
            names.append(nm)
    return np.column_stack(cols), names


class _ITSBase:
    """Data handling shared by the two ITS designs."""

    def __init__(self, *, intervention_start: Any, time: str, outcome: str, unit: str,
                 treated: Any, control: Any, covariates: Sequence[str] | None, log: bool,
                 seasonality: str | None, season_length: int | None, fourier_order: int,
                 post_end: Any, alpha: float, min_pre_periods: int, report: str) -> None:
        if not 0 < alpha < 1:
            raise InputError(f"alpha={alpha!r} must be between 0 and 1, e.g. 0.05.")
        if seasonality not in (None, "auto", "dummies", "fourier"):
            raise InputError(f"seasonality={seasonality!r}: use 'auto', 'dummies', 'fourier' "
                             "or None.")
        if season_length is not None and int(season_length) < 2:
            raise InputError(f"season_length={season_length!r} must be at least 2 (e.g. 12 "
                             "for months of the year).")
        if int(fourier_order) < 1:
            raise InputError(f"fourier_order={fourier_order!r} must be at least 1.")
        if report not in ("auto", "units", "percent"):
            raise InputError(f"report={report!r}: use 'auto', 'units' or 'percent'.")
        if report == "percent" and not log:
            raise InputError("report='percent' needs log=True (effects are percentages only in "
                             "the log model).")
        if control is not None and treated is None:
            raise InputError("control= needs treated= too: name the pilot's series and the "
                             f"control series in column {unit!r}.")
        self.intervention_start = intervention_start
        self.time, self.outcome, self.unit = time, outcome, unit
        self.treated, self.control = treated, control
        self.covariates = [] if covariates is None else list(covariates)
        self.log = bool(log)
        self.seasonality = seasonality
        self.season_length = None if season_length is None else int(season_length)
        self.fourier_order = int(fourier_order)
        self.post_end = post_end
        self.alpha = float(alpha)
        self.min_pre_periods = int(min_pre_periods)
        self.report = report

    def _one(self, df: pd.DataFrame, who: Any) -> pd.DataFrame:
        if who is None:
            out = df
        else:
            if self.unit not in df.columns:
                raise InputError(f"The data have no column {self.unit!r} (unit) to find "
                                 f"{who!r} in; pass unit=<column name>.")
            out = df[df[self.unit] == who]
            if out.empty:
                have = ", ".join(map(repr, pd.unique(df[self.unit])[:10]))
                raise InputError(f"{who!r} is not in column {self.unit!r}; it has {have}.")
        dup = out[self.time].duplicated()
        if dup.any():
            first = _fmt_time(out.loc[dup, self.time].iloc[0])
            raise InputError(
                f"The series{'' if who is None else ' for ' + repr(who)} has "
                f"{int(dup.sum())} repeated period(s), e.g. {first}; "
                "it needs one row per period. Pass treated= (and unit=) to pick one series.")
        return out.sort_values(self.time)

    def _series(self, data: pd.DataFrame) -> tuple[_Series, int, Any]:
        check_columns(data, {"time": self.time, "outcome": self.outcome})
        absent = [c for c in self.covariates if c not in data.columns]
        if absent:
            raise InputError(f"covariates {', '.join(map(repr, absent))} are not columns of "
                             f"the data; its columns are {', '.join(map(str, data.columns))}.")
        df = data.copy()
        df[self.time] = _coerce_time_column(df, self.time)
        is_dt = pd.api.types.is_datetime64_any_dtype(df[self.time])
        tr = self._one(df, self.treated)
        start = _coerce_time_value(self.intervention_start, is_dt, "intervention_start")
        end = _coerce_time_value(self.post_end, is_dt, "post_end")
        if end is not None:
            tr = tr[tr[self.time] <= end]
        ctrl = None
        if self.control is not None:
            ctrl = self._one(df, self.control).set_index(self.time)[self.outcome]
            miss = sorted(set(tr[self.time]) - set(ctrl.index))
            if miss:
                raise InputError(f"The control series {self.control!r} has no row for "
                                 f"{len(miss)} period(s) of the treated series, e.g. "
                                 f"{_fmt_time(miss[0])}; both need the same periods.")
            ctrl = ctrl.reindex(tr[self.time]).to_numpy(dtype=float)
        y = pd.to_numeric(tr[self.outcome], errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(y) | (np.isnan(ctrl) if ctrl is not None else False)
        if bad.any():
            when = [_fmt_time(_t(v)) for v in tr[self.time].to_numpy()[bad]][:5]
            raise InputError(f"{int(bad.sum())} missing or non-numeric {self.outcome!r} "
                             f"value(s), e.g. in {', '.join(when)}. Fill or remove those periods "
                             "(the regression needs every period it uses).")
        X_cov = None
        if self.covariates:
            X_cov = tr[self.covariates].apply(pd.to_numeric, errors="coerce").to_numpy(float)
            if np.isnan(X_cov).any():
                raise InputError(f"Covariates {self.covariates} have missing values; fill them "
                                 "or drop the covariate.")
        if self.log:
            for arr, who in ((y, "treated"), (ctrl, "control")):
                if arr is not None and (arr <= 0).any():
                    raise InputError(
                        f"log=True needs a positive outcome, but the {who} series has "
                        f"{int((arr <= 0).sum())} value(s) <= 0. Use log=False, or model a "
                        "rate that is never zero.")
        idx, season, L, freq = _time_index(tr[self.time])
        times = tr[self.time].to_numpy()
        st_np = np.datetime64(start, "ns") if is_dt else start
        post = times >= st_np
        n_pre, n_post = int((~post).sum()), int(post.sum())
        if n_post < 1:
            raise InputError(f"intervention_start={_fmt_time(start)} is after the last period "
                             f"({_fmt_time(_t(times[-1]))}); nothing to evaluate.")
        if n_pre < self.min_pre_periods:
            raise InputError(
                f"Only {n_pre} period(s) before intervention_start={_fmt_time(start)}; at least "
                f"{self.min_pre_periods} are needed to estimate the pre-pilot trend"
                f"{' and seasonality' if L else ''}. Use a longer series.")
        if self.control is not None:
            ymod = np.log(y) - np.log(ctrl) if self.log else y - ctrl
        else:
            ymod = np.log(y) if self.log else y
        s = _Series(times=[_t(v) for v in times], idx=idx, y=ymod, raw=y, post=post,
                    season=season, L=L, X_cov=X_cov, cov_names=list(self.covariates),
                    control_raw=ctrl, freq=freq)
        T0_idx = int(idx[np.argmax(post)])
        return s, T0_idx, start

    def _seasonality(self, s: _Series) -> str | None:
        if self.seasonality == "auto":
            L = self.season_length or s.L
            if L is None or self.season_length is None and s.freq not in ("month", "quarter"):
                return None
            return "dummies" if int((~s.post).sum()) >= 2 * L else None
        if self.seasonality is not None and (self.season_length or s.L) is None:
            raise InputError(f"seasonality={self.seasonality!r} needs season_length= for a "
                             f"{s.freq} series (e.g. 12 for monthly data given as numbers).")
        return self.seasonality


# -------------------------------------------------------------------- segmented

class InterruptedTimeSeries(_ITSBase):
    """Segmented regression ITS with HAC standard errors.

    Model (on ``log(y)`` when ``log=True``; on treated minus control, or the
    log ratio, when ``control`` is given)::

        y_t = b0 + b1 (t - T0) + b2 D_t + b3 (t - T0) D_t + seasonality + covariates + e_t

    with ``D_t = 1`` from ``intervention_start``. ``b2`` is the level change at
    the start and ``b3`` the change in slope per period; the effect in post
    period ``t`` is ``b2 + b3 (t - T0)`` and the headline is its mean over the
    post-period. Standard errors are Newey-West (HAC, Bartlett kernel) with
    ``hac_lags`` lags, and intervals use the t distribution with the residual
    degrees of freedom.

    Parameters
    ----------
    intervention_start : int or date
        First period of the pilot.
    time, outcome : str, default "period", "value"
    unit : str, default "area"
        Column naming the series when the data hold several (needed with
        ``treated``/``control``).
    treated, control : optional
        Values of ``unit``: the pilot's series and a comparison series
        (comparative ITS on their difference, or log ratio).
    seasonality : {"auto", "dummies", "fourier", None}, default "auto"
        ``auto``: month (or quarter) dummies for monthly (quarterly) dates with
        at least two pre-period years, otherwise none.
    season_length : int, optional
        Periods per seasonal cycle for integer times (12 for months numbered
        1, 2, ...); inferred from monthly/quarterly dates.
    fourier_order : int, default 2
        Harmonics when ``seasonality="fourier"``.
    covariates : list of str, optional
        Extra regressors (their actual post-period values enter the
        counterfactual).
    log : bool, default False
        Model ``log(y)``; effects become percentages ``100 (exp(b) - 1)``.
    report : {"auto", "units", "percent"}, default "auto"
        Headline scale: percent for log models, outcome units otherwise.
    slope_change : bool, default True
        Include the slope-change term ``b3``.
    errors : {"newey-west", "ar1"}, default "newey-west"
        ``newey-west``: OLS with HAC standard errors. ``ar1``: feasible GLS
        with AR(1) errors (iterated Cochrane-Orcutt, statsmodels ``GLSAR``),
        which covers better in short autocorrelated series (see the method
        notes' simulation).
    hac_lags : int, optional
        Newey-West lags; default :func:`newey_west_lags` of the series length.
    ljung_box_lags : int, optional
        Lags for the Ljung-Box test; default the season length, or 10.
    post_end, alpha, min_pre_periods
        Last period used; significance level; fewest pre-periods allowed (8).
    """

    def __init__(self, *, intervention_start: Any, time: str = "period", outcome: str = "value",
                 unit: str = "area", treated: Any = None, control: Any = None,
                 seasonality: str | None = "auto", season_length: int | None = None,
                 fourier_order: int = 2, covariates: Sequence[str] | None = None,
                 log: bool = False, report: str = "auto", slope_change: bool = True,
                 errors: str = "newey-west", hac_lags: int | None = None,
                 ljung_box_lags: int | None = None,
                 post_end: Any = None, alpha: float = 0.05, min_pre_periods: int = 8) -> None:
        super().__init__(intervention_start=intervention_start, time=time, outcome=outcome,
                         unit=unit, treated=treated, control=control, covariates=covariates,
                         log=log, seasonality=seasonality, season_length=season_length,
                         fourier_order=fourier_order, post_end=post_end, alpha=alpha,
                         min_pre_periods=min_pre_periods, report=report)
        if errors not in ("newey-west", "ar1"):
            raise InputError(f"errors={errors!r}: use 'newey-west' (OLS with HAC standard "
                             "errors) or 'ar1' (feasible GLS with AR(1) errors).")
        self.errors = errors
        if hac_lags is not None and int(hac_lags) < 0:
            raise InputError(f"hac_lags={hac_lags!r} must be 0 (plain robust SEs) or more.")
        self.slope_change = bool(slope_change)
        self.hac_lags = hac_lags
        self.ljung_box_lags = ljung_box_lags

    def fit(self, data: pd.DataFrame) -> ITSResult:
        """Fit the segmented regression to a long table (one row per period).

        Returns
        -------
        ITSResult
        """
        import statsmodels.api as sm
        from statsmodels.stats.diagnostic import acorr_ljungbox
        from statsmodels.stats.stattools import durbin_watson

        s, T0_idx, start = self._series(data)
        seas = self._seasonality(s)
        X, names = _design(s, T0_idx, seas, self.fourier_order, self.slope_change,
                           self.season_length)
        n, k = X.shape
        if n - k < 3:
            raise InputError(f"{n} periods cannot support {k} coefficients (trend, changes"
                             f"{', seasonality' if seas else ''}"
                             f"{', covariates' if s.X_cov is not None else ''}); use a longer "
                             "series, seasonality='fourier' or fewer covariates.")
        if np.linalg.matrix_rank(X) < k:
            raise InputError("The regressors are collinear (e.g. a covariate that is constant "
                             "or duplicates the trend); remove it.")
        lags = newey_west_lags(n) if self.hac_lags is None else int(self.hac_lags)
        rho = None
        if self.errors == "ar1":
            glsar = sm.GLSAR(s.y, X, rho=1)
            ols = glsar.iterative_fit(maxiter=50)
            rho = float(np.asarray(glsar.rho).ravel()[0])
            resid = np.asarray(ols.wresid)[1:]
        else:
            ols = sm.OLS(s.y, X).fit(cov_type="HAC", cov_kwds={"maxlags": lags,
                                                               "use_correction": True},
                                     use_t=True)
            resid = np.asarray(ols.resid)
        beta, cov = np.asarray(ols.params), np.asarray(ols.cov_params())
        df_resid = float(ols.df_resid)
        q = stats.t.ppf(1 - self.alpha / 2, df_resid)
        i_lvl = names.index("level_change")
        i_slp = names.index("slope_change") if self.slope_change else None
        # effect on the model scale in each period: b2 D + b3 (t - T0) D
        C = np.zeros((n, k))
        C[:, i_lvl] = s.post
        if i_slp is not None:
            C[:, i_slp] = (s.idx - T0_idx) * s.post
        eff = C @ beta
        eff_se = np.sqrt(np.einsum("ij,jk,ik->i", C, cov, C))
        post = s.post
        cbar = C[post].mean(axis=0)
        mean_eff = float(cbar @ beta)
        mean_se = float(math.sqrt(cbar @ cov @ cbar))
        fitted = X @ beta
        cf = fitted - eff

        rows = [_row("level change", beta[i_lvl], math.sqrt(cov[i_lvl, i_lvl]), q, df_resid)]
        if i_slp is not None:
            rows.append(_row("slope change (per period)", beta[i_slp],
                             math.sqrt(cov[i_slp, i_slp]), q, df_resid))
        last = np.flatnonzero(post)[-1]
        rows.append(_row(f"effect at {_fmt_time(s.times[last])}", eff[last], eff_se[last], q,
                         df_resid))
        rows.append(_row("mean post-period effect", mean_eff, mean_se, q, df_resid))
        effects = pd.DataFrame(rows)
        scale_label = self._scale_label()
        effects["scale"] = scale_label

        # outcome units from the log model: effect_t = actual_t (1 - exp(-delta_t))
        units_est, units_se = mean_eff, mean_se
        path = pd.DataFrame({"period": s.times, "post": post, "actual": s.raw})
        if self.log:
            pct = effects.copy()
            for c in ("estimate", "ci_lower", "ci_upper"):
                pct[c] = 100 * np.expm1(effects[c])
            pct["se"] = 100 * np.exp(effects["estimate"]) * effects["se"]  # delta method
            pct["term"] = effects["term"] + " (%)"
            pct["scale"] = "percent"
            u_t = s.raw * (1 - np.exp(-eff))
            grad = (s.raw * np.exp(-eff))[:, None] * C
            g = grad[post].mean(axis=0)
            units_est = float(u_t[post].mean())
            units_se = float(math.sqrt(g @ cov @ g))
            urow = _row("mean post-period effect (outcome units)", units_est, units_se, q,
                        df_resid)
            urow["scale"] = "outcome units"
            effects = pd.concat([effects, pct, pd.DataFrame([urow])], ignore_index=True)
            path["counterfactual"] = s.raw * np.exp(-eff)
            path["effect"] = u_t
            path["effect_pct"] = 100 * np.expm1(eff)
            path["effect_pct_lower"] = 100 * np.expm1(eff - q * eff_se)
            path["effect_pct_upper"] = 100 * np.expm1(eff + q * eff_se)
            path["fitted"] = s.raw * np.exp(fitted - s.y)
            path.loc[~post, ["effect", "effect_pct", "effect_pct_lower",
                             "effect_pct_upper"]] = np.nan
        else:
            base = s.control_raw if s.control_raw is not None else 0.0
            path["fitted"] = fitted + base
            path["counterfactual"] = cf + base
            path["effect"] = np.where(post, eff, np.nan)
            path["effect_lower"] = np.where(post, eff - q * eff_se, np.nan)
            path["effect_upper"] = np.where(post, eff + q * eff_se, np.nan)
        if s.control_raw is not None:
            path["control"] = s.control_raw

        headline_pct = self.log and self.report in ("auto", "percent")
        if headline_pct:
            est = 100 * math.expm1(mean_eff)
            lo, hi = 100 * math.expm1(mean_eff - q * mean_se), 100 * math.expm1(
                mean_eff + q * mean_se)
            se = 100 * math.exp(mean_eff) * mean_se
            p = float(2 * stats.t.sf(abs(mean_eff / mean_se), df_resid))
            unit_label = "% change (log model)"
        else:
            est, se = units_est, units_se
            lo, hi = est - q * se, est + q * se
            p = float(2 * stats.t.sf(abs(est / se), df_resid)) if se > 0 else float("nan")
            unit_label = ""

        lb_lags = self.ljung_box_lags or (self.season_length or s.L or 10)
        lb_lags = max(1, min(lb_lags, n // 2 - 1))
        lb = acorr_ljungbox(resid, lags=[lb_lags])
        lb_stat, lb_p = float(lb["lb_stat"].iloc[0]), float(lb["lb_pvalue"].iloc[0])
        dw = float(durbin_watson(resid))
        r1 = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if resid.size > 3 else float("nan")
        warnings = []
        if lb_p < 0.05 and self.errors == "newey-west":
            warnings.append(
                f"Residual autocorrelation remains (Ljung-Box p = {lb_p:.3f} at {lb_lags} lags, "
                f"lag-1 autocorrelation {r1:.2f}): Newey-West SEs allow for it up to {lags} "
                "lags but under-cover in short series; compare errors='ar1' or the "
                "StructuralTimeSeries model.")
        elif lb_p < 0.05:
            warnings.append(
                f"The AR(1)-whitened residuals are still autocorrelated (Ljung-Box p = "
                f"{lb_p:.3f}): the AR(1) error model is not enough; compare the "
                "StructuralTimeSeries model.")
        if int(post.sum()) < 3 and self.slope_change:
            warnings.append("Fewer than 3 post-period points: the slope change is barely "
                            "identified; consider slope_change=False.")
        coef = pd.DataFrame({"term": names, "estimate": beta, "se": np.asarray(ols.bse),
                             "ci_lower": beta - q * np.asarray(ols.bse),
                             "ci_upper": beta + q * np.asarray(ols.bse),
                             "pvalue": np.asarray(ols.pvalues)})
        tables = {"effects": effects, "coefficients": coef, "path": path}
        if s.control_raw is not None:
            tables["control"] = self._control_check(data, s, T0_idx, seas, lags, q, df_resid)
        diagnostics = {"n_periods": n, "n_pre_periods": int((~post).sum()),
                       "n_post_periods": int(post.sum()), "errors": self.errors,
                       **({"hac_lags": lags} if rho is None else {"ar1_rho": rho}),
                       "durbin_watson": dw, "ljung_box_stat": lb_stat,
                       "ljung_box_pvalue": lb_p, "ljung_box_lags": lb_lags,
                       "residual_lag1_autocorrelation": r1,
                       "seasonality": seas or "none", "r_squared": float(ols.rsquared)}
        se_label = "Newey-West SEs" if rho is None else "AR(1) errors, feasible GLS"
        method = f"Interrupted time series (segmented regression, {se_label})"
        if s.control_raw is not None:
            method = "Comparative interrupted time series (segmented regression on " \
                     f"{'log ratio' if self.log else 'difference'} to control, {se_label})"
        elif self.log:
            method = f"Interrupted time series (segmented regression on log outcome, {se_label})"
        return ITSResult(
            estimate=float(est), se=float(se), ci_lower=float(lo), ci_upper=float(hi),
            pvalue=p, n_treated=1, n_control=0 if self.control is None else 1,
            estimand="mean post-period effect", method=method, design="its",
            outcome=self.outcome, unit=unit_label, alpha=self.alpha, diagnostics=diagnostics,
            tables=tables, warnings=warnings,
            extra={"model": ols, "intervention_start": start, "treated": self.treated,
                   "control": self.control, "log": self.log})

    def _scale_label(self) -> str:
        if self.control is not None:
            return "log ratio to control" if self.log else "difference from control"
        return "log outcome" if self.log else "outcome units"

    def _control_check(self, data: pd.DataFrame, s: _Series, T0_idx: int, seas: str | None,
                       lags: int, q: float, df_resid: float) -> pd.DataFrame:
        """The same model on the control series alone: it should show no change."""
        import statsmodels.api as sm

        ctrl = np.log(s.control_raw) if self.log else s.control_raw
        s2 = _Series(times=s.times, idx=s.idx, y=ctrl, raw=s.control_raw, post=s.post,
                     season=s.season, L=s.L, X_cov=s.X_cov, cov_names=s.cov_names,
                     control_raw=None, freq=s.freq)
        X, names = _design(s2, T0_idx, seas, self.fourier_order, self.slope_change,
                           self.season_length)
        if self.errors == "ar1":
            m = sm.GLSAR(ctrl, X, rho=1).iterative_fit(maxiter=50)
        else:
            m = sm.OLS(ctrl, X).fit(cov_type="HAC", cov_kwds={"maxlags": lags,
                                                              "use_correction": True},
                                    use_t=True)
        keep = [i for i, nm in enumerate(names) if nm in ("level_change", "slope_change")]
        return pd.DataFrame({"term": [f"control {names[i].replace('_', ' ')}" for i in keep],
                             "estimate": np.asarray(m.params)[keep],
                             "se": np.asarray(m.bse)[keep],
                             "ci_lower": np.asarray(m.conf_int(self.alpha))[keep, 0],
                             "ci_upper": np.asarray(m.conf_int(self.alpha))[keep, 1],
                             "pvalue": np.asarray(m.pvalues)[keep]})


def _row(term: str, est: float, se: float, q: float, df: float) -> dict[str, Any]:
    est, se = float(est), float(se)
    p = float(2 * stats.t.sf(abs(est / se), df)) if se > 0 else float("nan")
    return {"term": term, "estimate": est, "se": se, "ci_lower": est - q * se,
            "ci_upper": est + q * se, "pvalue": p}


# ------------------------------------------------------------------ structural

class StructuralTimeSeries(_ITSBase):
    """Structural time-series (unobserved components) ITS.

    Parameters
    ----------
    intervention_start, time, outcome, unit, treated, covariates, log, post_end, alpha
        As for :class:`InterruptedTimeSeries`. ``treated`` picks one series;
        ``control`` names a control series used as a regressor (as in
        CausalImpact), not differenced.
    approach : {"forecast", "regression"}, default "forecast"
        ``forecast``: fit the model to the pre-period only and forecast the
        post-period as the counterfactual; effect = actual - forecast, with
        intervals from the exact joint forecast-error covariance (model
        parameters treated as known). ``regression``: fit the whole series
        with the intervention as regressors (a step, and a ramp when
        ``slope_change``), so the level change is a regression coefficient
        with a maximum-likelihood standard error.
    level : str, default "local level"
        statsmodels ``UnobservedComponents`` trend specification ("local
        level", "local linear trend", "random walk with drift", ...).
    seasonality : {"auto", "dummies", None}
        ``auto``/``dummies``: a fixed (deterministic) seasonal component of
        length ``season_length`` (monthly/quarterly dates: 12/4), when there
        are at least two pre-period cycles.
    slope_change : bool, default False
        Regression approach only: add a ramp regressor.
    """

    def __init__(self, *, intervention_start: Any, time: str = "period", outcome: str = "value",
                 unit: str = "area", treated: Any = None, control: Any = None,
                 approach: str = "forecast", level: str = "local level",
                 seasonality: str | None = "auto", season_length: int | None = None,
                 covariates: Sequence[str] | None = None, log: bool = False,
                 report: str = "auto", slope_change: bool = False, post_end: Any = None,
                 alpha: float = 0.05, min_pre_periods: int = 8) -> None:
        if approach not in ("forecast", "regression"):
            raise InputError(f"approach={approach!r}: use 'forecast' or 'regression'.")
        if seasonality == "fourier":
            raise InputError("StructuralTimeSeries supports seasonality='dummies', 'auto' or "
                             "None (Fourier terms: use InterruptedTimeSeries).")
        super().__init__(intervention_start=intervention_start, time=time, outcome=outcome,
                         unit=unit, treated=treated, control=None, covariates=covariates,
                         log=log, seasonality=seasonality, season_length=season_length,
                         fourier_order=1, post_end=post_end, alpha=alpha,
                         min_pre_periods=min_pre_periods, report=report)
        self.control_series = control
        if control is not None and treated is None:
            raise InputError("control= needs treated= too.")
        self.approach = approach
        self.level = level
        self.slope_change = bool(slope_change)

    def fit(self, data: pd.DataFrame) -> ITSResult:
        """Fit the structural model; returns an :class:`ITSResult`."""
        import warnings as _w

        from statsmodels.tsa.statespace.structural import UnobservedComponents

        s, T0_idx, start = self._series(data)
        if self.control_series is not None:
            c = self._one(_with_time(data, self.time), self.control_series).set_index(
                self.time)[self.outcome].reindex(pd.Index(s.times)).to_numpy(float)
            if np.isnan(c).any():
                raise InputError(f"The control series {self.control_series!r} lacks some of the "
                                 "treated series' periods; both need the same periods.")
            if self.log and (c <= 0).any():
                raise InputError("log=True needs a positive control series.")
            cx = (np.log(c) if self.log else c)[:, None]
            s.X_cov = cx if s.X_cov is None else np.column_stack([s.X_cov, cx])
            s.cov_names = s.cov_names + [f"control: {self.control_series}"]
        if np.ptp(s.idx) + 1 != s.idx.size:
            raise InputError("StructuralTimeSeries needs a regular series with no missing "
                             "periods; fill the gaps (or use InterruptedTimeSeries).")
        seas = self._seasonality(s)
        L = (self.season_length or s.L) if seas else None
        post = s.post
        n = s.y.size
        q = stats.norm.ppf(1 - self.alpha / 2)
        kw: dict[str, Any] = {"level": self.level}
        if L:
            kw.update(seasonal=L, stochastic_seasonal=False)
        if self.approach == "regression":
            ex = [post.astype(float)]
            exn = ["level_change"]
            if self.slope_change:
                ex.append((s.idx - T0_idx) * post)
                exn.append("slope_change")
            if s.X_cov is not None:
                ex += list(s.X_cov.T)
                exn += s.cov_names
            exog = np.column_stack(ex)
            mod = UnobservedComponents(s.y, exog=exog, **kw)
            with _w.catch_warnings():
                _w.simplefilter("ignore")
                res = mod.fit(disp=False, maxiter=500)
            pnames = list(res.model.param_names)
            b = np.asarray(res.params)
            V = np.asarray(res.cov_params())
            ib = [pnames.index(f"beta.x{j + 1}") if f"beta.x{j + 1}" in pnames else
                  pnames.index(f"beta.{nm}") for j, nm in enumerate(exn)]
            C = np.zeros((n, b.size))
            C[:, ib[0]] = post
            if self.slope_change:
                C[:, ib[1]] = (s.idx - T0_idx) * post
            eff = C @ b
            eff_se = np.sqrt(np.einsum("ij,jk,ik->i", C, V, C))
            cbar = C[post].mean(axis=0)
            mean_eff, mean_se = float(cbar @ b), float(math.sqrt(cbar @ V @ cbar))
            rows = [_row_z("level change", b[ib[0]], math.sqrt(V[ib[0], ib[0]]), q)]
            if self.slope_change:
                rows.append(_row_z("slope change (per period)", b[ib[1]],
                                   math.sqrt(V[ib[1], ib[1]]), q))
            rows.append(_row_z("mean post-period effect", mean_eff, mean_se, q))
            cum, cum_se = float(eff[post].sum()), float(mean_se * post.sum())
            rows.append(_row_z("cumulative post-period effect", cum, cum_se, q))
            fitted = np.asarray(res.fittedvalues)
            cf = fitted - eff
            model = res
        else:
            pre = ~post
            exog = s.X_cov
            mod = UnobservedComponents(s.y[pre], exog=None if exog is None else exog[pre], **kw)
            with _w.catch_warnings():
                _w.simplefilter("ignore")
                res = mod.fit(disp=False, maxiter=500)
            h = int(post.sum())
            fc = res.get_forecast(h, exog=None if exog is None else exog[post])
            f_mean = np.asarray(fc.predicted_mean)
            Sigma = forecast_error_cov(res, h)
            eff_post = s.y[post] - f_mean
            eff = np.zeros(n)
            eff[post] = eff_post
            eff_se = np.zeros(n)
            eff_se[post] = np.sqrt(np.diag(Sigma))
            mean_eff = float(eff_post.mean())
            mean_se = float(math.sqrt(Sigma.sum()) / h)
            cum, cum_se = float(eff_post.sum()), float(math.sqrt(Sigma.sum()))
            rows = [_row_z("mean post-period effect", mean_eff, mean_se, q),
                    _row_z("cumulative post-period effect", cum, cum_se, q)]
            fitted = np.concatenate([np.asarray(res.fittedvalues), f_mean])
            cf = s.y - eff
            cf[pre] = np.asarray(res.fittedvalues)
            model = res
        effects = pd.DataFrame(rows)
        effects["scale"] = "log outcome" if self.log else "outcome units"
        path = pd.DataFrame({"period": s.times, "post": post, "actual": s.raw})
        if self.log:
            pct = effects[~effects["term"].str.startswith("cumulative")].copy()
            for col in ("estimate", "ci_lower", "ci_upper"):
                pct[col] = 100 * np.expm1(pct[col])
            pct["se"] = 100 * np.exp(effects.loc[pct.index, "estimate"]) * pct["se"]
            pct["term"] = pct["term"] + " (%)"
            pct["scale"] = "percent"
            effects = pd.concat([effects, pct], ignore_index=True)
            path["counterfactual"] = np.exp(cf)
            path["fitted"] = np.exp(fitted)
            path["effect"] = np.where(post, s.raw - np.exp(cf), np.nan)
            path["effect_pct"] = np.where(post, 100 * np.expm1(eff), np.nan)
            path["effect_pct_lower"] = np.where(post, 100 * np.expm1(eff - q * eff_se), np.nan)
            path["effect_pct_upper"] = np.where(post, 100 * np.expm1(eff + q * eff_se), np.nan)
        else:
            path["fitted"] = fitted
            path["counterfactual"] = cf
            path["effect"] = np.where(post, eff, np.nan)
            path["effect_lower"] = np.where(post, eff - q * eff_se, np.nan)
            path["effect_upper"] = np.where(post, eff + q * eff_se, np.nan)
        if self.log and self.report in ("auto", "percent"):
            est, se = 100 * math.expm1(mean_eff), 100 * math.exp(mean_eff) * mean_se
            lo, hi = 100 * math.expm1(mean_eff - q * mean_se), 100 * math.expm1(
                mean_eff + q * mean_se)
            unit_label = "% change (log model)"
        elif self.log:
            u = s.raw[post] - np.exp(cf[post])
            est = float(u.mean())
            g = np.exp(cf[post])  # d(actual - exp(cf))/d(eff) = exp(cf); Var via Sigma/V
            if self.approach == "forecast":
                se = float(math.sqrt(g @ Sigma @ g)) / post.sum()
            else:
                G = (g[:, None] * C[post]).mean(axis=0)
                se = float(math.sqrt(G @ V @ G))
            lo, hi = est - q * se, est + q * se
            unit_label = ""
        else:
            est, se = mean_eff, mean_se
            lo, hi = est - q * se, est + q * se
            unit_label = ""
        z = (mean_eff / mean_se) if mean_se > 0 else float("nan")
        p = float(2 * stats.norm.sf(abs(z)))
        resid = np.asarray(model.resid)[int(model.loglikelihood_burn):]
        from statsmodels.stats.diagnostic import acorr_ljungbox

        lb_lags = max(1, min(L or 10, resid.size // 2 - 1))
        lb = acorr_ljungbox(resid, lags=[lb_lags])
        diagnostics = {"n_periods": n, "n_pre_periods": int((~post).sum()),
                       "n_post_periods": int(post.sum()), "approach": self.approach,
                       "level": self.level, "seasonality": f"fixed, length {L}" if L else "none",
                       "ljung_box_pvalue": float(lb["lb_pvalue"].iloc[0]),
                       "ljung_box_lags": lb_lags, "aic": float(model.aic)}
        warnings = []
        if diagnostics["ljung_box_pvalue"] < 0.05:
            warnings.append("Residual autocorrelation remains (Ljung-Box p < 0.05): consider "
                            "level='local linear trend' or an autoregressive term.")
        if self.approach == "forecast":
            warnings.append("Forecast intervals treat the model's variance parameters as "
                            "known, so they are somewhat too narrow in short series.")
        tables = {"effects": effects, "path": path,
                  "parameters": pd.DataFrame({"parameter": model.model.param_names,
                                              "estimate": np.asarray(model.params),
                                              "se": np.asarray(model.bse)})}
        return ITSResult(
            estimate=float(est), se=float(se), ci_lower=float(lo), ci_upper=float(hi),
            pvalue=p, n_treated=1, n_control=0 if self.control_series is None else 1,
            estimand="mean post-period effect",
            method=("Structural time series (unobserved components), " + (
                "counterfactual forecast" if self.approach == "forecast"
                else "intervention regressors")),
            design="its", outcome=self.outcome, unit=unit_label, alpha=self.alpha,
            diagnostics=diagnostics, tables=tables, warnings=warnings,
            extra={"model": model, "intervention_start": start, "treated": self.treated,
                   "control": self.control_series, "log": self.log})


def _with_time(data: pd.DataFrame, time: str) -> pd.DataFrame:
    df = data.copy()
    df[time] = _coerce_time_column(df, time)
    return df


def _row_z(term: str, est: float, se: float, q: float) -> dict[str, Any]:
    est, se = float(est), float(se)
    p = float(2 * stats.norm.sf(abs(est / se))) if se > 0 else float("nan")
    return {"term": term, "estimate": est, "se": se, "ci_lower": est - q * se,
            "ci_upper": est + q * se, "pvalue": p}


def forecast_error_cov(res: Any, h: int) -> np.ndarray:
    """Joint covariance of the 1..h-step forecast errors of a fitted state-space model.

    With state error ``e_1 ~ N(0, P)`` (the one-step-ahead predicted state
    covariance after the last observation), ``e_{j+1} = T e_j + R eta_j`` and
    forecast error ``u_j = Z e_j + eps_j``: ``Cov(u_i, u_j) = Z T^(i-j) C_j Z'
    + H [i = j]`` for ``i >= j``, where ``C_{j+1} = T C_j T' + R Q R'``. The
    diagonal equals statsmodels' forecast variance; the off-diagonal terms are
    what the variance of a mean or cumulative effect needs. Time-invariant
    system matrices are assumed (true of ``UnobservedComponents``).
    """
    fr = res.filter_results
    Z = np.asarray(fr.design)[..., 0]
    Tm = np.asarray(fr.transition)[..., 0]
    R = np.asarray(fr.selection)[..., 0]
    Q = np.asarray(fr.state_cov)[..., 0]
    H = np.asarray(fr.obs_cov)[..., 0]
    P = np.asarray(fr.predicted_state_cov)[..., -1]
    RQR = R @ Q @ R.T
    Cs = [P]
    for _ in range(1, h):
        Cs.append(Tm @ Cs[-1] @ Tm.T + RQR)
    # cross terms: Cov(e_i, e_j) = T^(i-j) C_j for i >= j
    S = np.zeros((h, h))
    for j in range(h):
        M = Cs[j]
        for i in range(j, h):
            val = float((Z @ M @ Z.T)[0, 0])
            S[i, j] = S[j, i] = val
            M = Tm @ M
        S[j, j] += float(H[0, 0])
    return S


# ---------------------------------------------------------------------- result

class ITSResult(EffectResult):
    """Result of an interrupted time series design.

    Tables: ``effects`` (level change, slope change, effect at the end, mean
    post-period effect; percentages too for log models), ``path`` (actual,
    fitted, counterfactual and effect by period), ``coefficients`` (segmented
    regression) or ``parameters`` (structural model), and ``control`` (the
    control series' own changes, comparative ITS).
    """

    def summary(self, tables: Iterable[str] | None = None) -> Summary:
        if tables is None:
            tables = [t for t in ("effects", "control") if t in self.tables]
        return super().summary(tables)

    def plot(self, ax: Axes | None = None, kind: str = "fit", **kwargs: Any) -> Axes:
        """``kind="fit"``: actual, fitted and counterfactual with the start marked;
        ``kind="effect"``: the effect path with its interval."""
        from ..plotting import GREY, OKABE_ITO, get_axes

        if kind not in ("fit", "effect"):
            raise InputError(f"kind={kind!r}: use 'fit' or 'effect'.")
        ax = get_axes(ax)
        p = self.tables["path"]
        t0 = self.extra["intervention_start"]
        post = p["post"].to_numpy()
        if kind == "fit":
            ax.plot(p["period"], p["actual"], "o", ms=3, color=OKABE_ITO[0], label="Actual")
            ax.plot(p["period"], p["fitted"], color=OKABE_ITO[0], lw=1.5, label="Fitted")
            ax.plot(p.loc[post, "period"], p.loc[post, "counterfactual"], color=OKABE_ITO[1],
                    lw=2, ls="--", label="Counterfactual (no pilot)")
            if "control" in p.columns:
                ax.plot(p["period"], p["control"], color=GREY, lw=1,
                        label=f"Control: {self.extra['control']}")
            ax.set_ylabel(kwargs.get("ylabel", self.outcome or "Outcome"))
            ax.set_title(kwargs.get("title", f"{self.outcome}: actual and counterfactual"))
        else:
            pp = p[post]
            if "effect_lower" in pp.columns:
                ax.fill_between(pp["period"], pp["effect_lower"], pp["effect_upper"],
                                color=OKABE_ITO[0], alpha=0.2,
                                label=f"{100 * (1 - self.alpha):g}% interval")
                ax.plot(pp["period"], pp["effect"], color=OKABE_ITO[0], lw=2, label="Effect")
                ax.set_ylabel(f"Effect on {self.outcome}")
            else:
                ax.fill_between(pp["period"], pp["effect_pct_lower"], pp["effect_pct_upper"],
                                color=OKABE_ITO[0], alpha=0.2,
                                label=f"{100 * (1 - self.alpha):g}% interval")
                ax.plot(pp["period"], pp["effect_pct"], color=OKABE_ITO[0], lw=2,
                        label="Effect (%)")
                ax.set_ylabel(f"Effect on {self.outcome} (%)")
            ax.axhline(0, color="black", lw=0.8)
            ax.set_title(kwargs.get("title", "Estimated effect of the pilot by period"))
        ax.axvline(t0, color="black", ls="--", lw=1)
        ax.annotate("pilot starts", xy=(t0, 1), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=8)
        ax.set_xlabel(kwargs.get("xlabel", "Period"))
        ax.legend(frameon=False)
        return ax
