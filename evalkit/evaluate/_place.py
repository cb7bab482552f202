"""Shared machinery of the place-level designs (synthetic control and its variants).

Data preparation for a long area panel, the placebo-in-space, placebo-in-time
and leave-one-out runs, permutation inference and the result class with its
plots. A design (:class:`~evalkit.evaluate.synth.SyntheticControl`,
:class:`~evalkit.evaluate.augsynth.AugmentedSyntheticControl`) only has to say
how to build a synthetic unit for one treated unit from a set of donors; this
module does everything else, identically for every design.

Not public: users import from :mod:`evalkit.evaluate.synth` and
:mod:`evalkit.evaluate.augsynth`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .result import EffectResult, Summary

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["PlaceResult", "wide_panel"]


# --------------------------------------------------------------------------- time

def _is_datetime(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series)


def _coerce_time_column(data: pd.DataFrame, time: str) -> pd.Series:
    """Return the time column as integers or Timestamps, or raise InputError."""
    s = data[time]
    if _is_datetime(s):
        return s.astype("datetime64[ns]")
    if pd.api.types.is_numeric_dtype(s):
        if s.isna().any():
            raise InputError(
                f"Column {time!r} (time) has {int(s.isna().sum())} missing value(s); every row "
                "needs a period. Remove or fill those rows.")
        vals = s.to_numpy(dtype=float)
        if not np.all(np.isfinite(vals)) or not np.allclose(vals, np.round(vals)):
            bad = s[~np.isclose(vals, np.round(vals))].iloc[0]
            raise InputError(
                f"Column {time!r} (time) must hold whole numbers (years, period numbers) or "
                f"dates; found non-integer values such as {bad!r}.")
        return pd.Series(np.round(vals).astype(np.int64), index=s.index, name=time)
    try:
        out = pd.to_datetime(s.astype(str), format="mixed")
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"Column {time!r} (time) must hold whole numbers (years) or dates such as "
            f"'2024-04-01'; could not read it as either ({exc}).") from None
    return out.astype("datetime64[ns]")


def _coerce_time_value(value: Any, is_dt: bool, name: str) -> Any:
    if value is None:
        return None
    if is_dt:
        try:
            return pd.Timestamp(value)
        except (ValueError, TypeError):
            raise InputError(
                f"{name}={value!r} is not a date; the panel's periods are dates, so give a date "
                "such as '2021-04-01'.") from None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise InputError(
        f"{name}={value!r} is not a whole number; the panel's periods are numbers (e.g. years), "
        "so give one such as 2015.")


def _fmt_time(t: Any) -> str:
    if isinstance(t, pd.Timestamp):
        return t.strftime("%Y-%m") if t.day == 1 else t.strftime("%Y-%m-%d")
    return str(t)


def resolve_periods(spec: Any, times: np.ndarray, is_dt: bool, name: str) -> np.ndarray:
    """Turn a period spec into the sorted array of panel times it covers.

    ``spec`` is a single period, a list/range/array of periods (each must be in
    the panel), or a ``slice(start, stop)`` meaning every panel period from
    ``start`` to ``stop`` inclusive.
    """
    if isinstance(spec, slice):
        if spec.step is not None:
            raise InputError(f"{name}: a slice of periods cannot have a step; list the periods "
                             "instead, e.g. range(1961, 1970, 2).")
        lo = _coerce_time_value(spec.start, is_dt, name)
        hi = _coerce_time_value(spec.stop, is_dt, name)
        mask = np.ones(len(times), dtype=bool)
        if lo is not None:
            mask &= times >= (np.datetime64(lo) if is_dt else lo)
        if hi is not None:
            mask &= times <= (np.datetime64(hi) if is_dt else hi)
        out = times[mask]
        if out.size == 0:
            raise InputError(f"{name}: no panel periods fall between {spec.start!r} and "
                             f"{spec.stop!r}; the panel runs from {_fmt_time(_t(times[0]))} to "
                             f"{_fmt_time(_t(times[-1]))}.")
        return out
    if isinstance(spec, (str, pd.Timestamp, int, np.integer, float)):
        spec = [spec]
    vals = [_coerce_time_value(v, is_dt, name) for v in spec]
    if not vals:
        raise InputError(f"{name} is empty; give at least one period.")
    arr = np.array([np.datetime64(v, "ns") for v in vals]) if is_dt else np.array(vals)
    present = np.isin(arr, times)
    missing = [v for v, ok in zip(vals, present) if not ok]
    if missing:
        raise InputError(f"{name}: period(s) {', '.join(_fmt_time(m) for m in missing[:5])} "
                         f"are not in the panel, which runs from {_fmt_time(_t(times[0]))} to "
                         f"{_fmt_time(_t(times[-1]))}.")
    return np.unique(arr)


def _t(x: Any) -> Any:
    """numpy scalar time -> Python int or Timestamp."""
    if isinstance(x, np.datetime64):
        return pd.Timestamp(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


# -------------------------------------------------------------------------- panel

@dataclass
class Panel:
    """A balanced-outcome view of a long panel, built by :func:`prepare_panel`."""

    data: pd.DataFrame          # the user's rows, time coerced, one row per unit-time
    unit: str
    time: str
    outcome: str
    units: list[Any]            # all units kept (treated first, then donors)
    times: np.ndarray           # sorted panel times
    Y: np.ndarray               # units x times outcome matrix (NaN allowed only outside use)
    is_dt: bool
    treatment_start: Any
    pre: np.ndarray             # bool mask over times
    post: np.ndarray            # bool mask over times
    treated: Any
    donors: list[Any]
    excluded: list[tuple[Any, str]] = field(default_factory=list)
    real_start: Any = None      # set on a placebo-in-time panel: the real start

    @property
    def T0(self) -> int:
        return int(self.pre.sum())

    def index(self, unit: Any) -> int:
        return self.units.index(unit)

    def time_labels(self) -> list[Any]:
        return [_t(t) for t in self.times]

    def truncated(self, fake_start: Any) -> Panel:
        """The panel cut at the real treatment start, with a fake start date."""
        keep = self.pre
        times = self.times[keep]
        ft = np.datetime64(fake_start, "ns") if self.is_dt else fake_start
        return Panel(data=self.data, unit=self.unit, time=self.time, outcome=self.outcome,
                     units=list(self.units), times=times, Y=self.Y[:, keep], is_dt=self.is_dt,
                     treatment_start=fake_start, pre=times < ft, post=times >= ft,
                     treated=self.treated, donors=list(self.donors),
                     excluded=list(self.excluded), real_start=self.treatment_start)


def check_columns(data: Any, cols: Mapping[str, str], table: str = "data") -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"`{table}` must be a pandas DataFrame in long form (one row per unit "
                         f"and period); got {type(data).__name__}.")
    missing = [f"{arg}={col!r}" for arg, col in cols.items() if col not in data.columns]
    if missing:
        raise InputError(
            f"`{table}` has no column for {', '.join(missing)}. Its columns are: "
            f"{', '.join(map(str, data.columns[:30]))}. Pass the right column name(s).")
    return data


def prepare_panel(data: pd.DataFrame, *, unit: str, time: str, outcome: str, treated: Any,
                  treatment_start: Any, donors: Sequence[Any] | None, post_end: Any,
                  missing_donors: str, min_pre_periods: int) -> Panel:
    """Validate a long panel and build the outcome matrix.

    Donors with a missing outcome in any used period are excluded (reason
    recorded) when ``missing_donors="drop"`` and rejected otherwise; a treated
    unit with a missing outcome is always an error.
    """
    check_columns(data, {"unit": unit, "time": time, "outcome": outcome})
    if missing_donors not in ("drop", "error"):
        raise InputError(f"missing_donors={missing_donors!r}: use 'drop' (exclude donors with "
                         "missing outcomes, reported in the 'excluded' table) or 'error'.")
    df = data.copy()
    df[time] = _coerce_time_column(df, time)
    if not pd.api.types.is_numeric_dtype(df[outcome]):
        conv = pd.to_numeric(df[outcome], errors="coerce")
        bad = df.loc[conv.isna() & df[outcome].notna(), outcome]
        if len(bad):
            raise InputError(f"Column {outcome!r} (outcome) must be numeric; found "
                             f"{bad.iloc[0]!r} (and {len(bad) - 1} more).")
        df[outcome] = conv
    dup = df.duplicated([unit, time], keep=False)
    if dup.any():
        ex = df.loc[dup, [unit, time]].iloc[0]
        raise InputError(
            f"The panel has {int(dup.sum())} rows sharing a ({unit}, {time}) pair, e.g. "
            f"{ex[unit]!r} in {_fmt_time(ex[time])}; it needs one row per unit and period. "
            "If the data hold several measures, filter to one (or use wide_panel()).")
    is_dt = _is_datetime(df[time])
    all_units = list(pd.unique(df[unit]))
    if treated not in all_units:
        near = ", ".join(map(repr, all_units[:10]))
        raise InputError(f"treated={treated!r} is not in column {unit!r}. Units in the data "
                         f"include: {near}{' ...' if len(all_units) > 10 else ''}.")
    if donors is None:
        donor_list = [u for u in all_units if u != treated]
    else:
        donor_list = list(dict.fromkeys(donors))
        absent = [d for d in donor_list if d not in all_units]
        if absent:
            raise InputError(f"donors: {', '.join(map(repr, absent[:10]))} not found in column "
                             f"{unit!r}. Check the spelling or leave donors=None to use every "
                             "other unit.")
        if treated in donor_list:
            raise InputError(f"donors includes the treated unit {treated!r}; remove it.")
    ts = _coerce_time_value(treatment_start, is_dt, "treatment_start")
    pe = _coerce_time_value(post_end, is_dt, "post_end")
    times = np.sort(pd.unique(df[time].to_numpy()))
    ts_np = np.datetime64(ts, "ns") if is_dt else ts
    pre = times < ts_np
    post = times >= ts_np
    if pe is not None:
        pe_np = np.datetime64(pe, "ns") if is_dt else pe
        post &= times <= pe_np
    keep_t = pre | post
    times = times[keep_t]
    pre, post = pre[keep_t], post[keep_t]
    if post.sum() == 0:
        raise InputError(f"treatment_start={_fmt_time(ts)}: the panel has no periods on or after "
                         f"it (last period {_fmt_time(_t(times[-1]))}), so there is nothing to "
                         "evaluate.")
    if pre.sum() < min_pre_periods:
        raise InputError(
            f"Only {int(pre.sum())} period(s) before treatment_start={_fmt_time(ts)}; at least "
            f"{min_pre_periods} are needed to build and check a synthetic comparison. Use a "
            "longer run of data before the pilot (or lower min_pre_periods, knowing the fit "
            "will be fragile).")
    units = [treated] + donor_list
    wide = (df[df[unit].isin(units)].pivot(index=unit, columns=time, values=outcome)
            .reindex(index=units, columns=times))
    Y = wide.to_numpy(dtype=float)
    if np.isnan(Y[0]).any():
        miss = [_fmt_time(_t(t)) for t in times[np.isnan(Y[0])]]
        raise InputError(f"The treated unit {treated!r} has no {outcome!r} value in period(s) "
                         f"{', '.join(miss[:8])}{' ...' if len(miss) > 8 else ''}. Fill them "
                         "(or set post_end / treatment_start to avoid them).")
    excluded: list[tuple[Any, str]] = []
    keep_units = [treated]
    for i, d in enumerate(donor_list, start=1):
        miss = np.isnan(Y[i])
        if miss.any():
            labels = [_fmt_time(_t(t)) for t in times[miss]]
            reason = (f"missing {outcome} in {len(labels)} period(s): "
                      f"{', '.join(labels[:5])}{' ...' if len(labels) > 5 else ''}")
            if missing_donors == "error":
                raise InputError(f"Donor {d!r} is {reason}. Fill the values, drop the donor, or "
                                 "pass missing_donors='drop' to exclude such donors.")
            excluded.append((d, reason))
        else:
            keep_units.append(d)
    Y = Y[[units.index(u) for u in keep_units]]
    donors_kept = keep_units[1:]
    if len(donors_kept) < 2:
        raise InputError(f"Only {len(donors_kept)} usable donor(s) remain"
                         f"{' after excluding ' + str(len(excluded)) if excluded else ''}; a "
                         "synthetic comparison needs at least 2. Add comparison areas or fill "
                         "their missing outcomes.")
    return Panel(data=df, unit=unit, time=time, outcome=outcome, units=keep_units, times=times,
                 Y=Y, is_dt=is_dt, treatment_start=ts, pre=pre, post=post, treated=treated,
                 donors=donors_kept, excluded=excluded)


def wide_panel(data: pd.DataFrame, *, measures: Iterable[str] | None = None,
               unit: str = "area", time: str = "period", measure: str = "measure",
               value: str = "value") -> pd.DataFrame:
    """Pivot evalkit's tidy area-outcomes table to one column per measure.

    The ``area_outcomes`` table has one row per area, period and measure; the
    place designs want one row per area and period with the outcome and each
    covariate as columns. Missing combinations become NaN (never dropped).

    Examples
    --------
    >>> import pandas as pd
    >>> tidy = pd.DataFrame({"area": ["A", "A", "B", "B"], "period": [2020] * 4,
    ...                      "measure": ["ae", "pop", "ae", "pop"], "value": [5., 100, 7, 90]})
    >>> wide_panel(tidy)
      area  period   ae    pop
    0    A    2020  5.0  100.0
    1    B    2020  7.0   90.0
    """
    check_columns(data, {"unit": unit, "time": time, "measure": measure, "value": value})
    df = data
    if measures is not None:
        measures = list(measures)
        absent = sorted(set(measures) - set(df[measure].unique()))
        if absent:
            have = ", ".join(map(repr, df[measure].unique()[:15]))
            raise InputError(f"measures: {', '.join(map(repr, absent))} not found in column "
                             f"{measure!r}; it has {have}.")
        df = df[df[measure].isin(measures)]
    dup = df.duplicated([unit, time, measure])
    if dup.any():
        raise InputError(f"{int(dup.sum())} duplicated ({unit}, {time}, {measure}) rows; each "
                         "area, period and measure must appear once.")
    out = df.pivot(index=[unit, time], columns=measure, values=value).reset_index()
    out.columns.name = None
    return out


# ------------------------------------------------------------------------ fitting

@dataclass
class UnitFit:
    """One synthetic unit: donor weights, the synthetic path and design extras."""

    weights: np.ndarray          # over the donors given, same order
    synthetic: np.ndarray        # over panel times
    extras: dict[str, Any] = field(default_factory=dict)


def gap_stats(actual: np.ndarray, synthetic: np.ndarray, pre: np.ndarray, post: np.ndarray
              ) -> dict[str, float]:
    gap = actual - synthetic
    pre_mspe = float(np.mean(gap[pre] ** 2))
    post_mspe = float(np.mean(gap[post] ** 2))
    pre_rmspe, post_rmspe = math.sqrt(pre_mspe), math.sqrt(post_mspe)
    ratio = post_rmspe / pre_rmspe if pre_rmspe > 0 else math.inf
    return {"pre_mspe": pre_mspe, "pre_rmspe": pre_rmspe, "post_rmspe": post_rmspe,
            "ratio": ratio, "att": float(np.mean(gap[post]))}


def _progress(iterable: Iterable[Any], enabled: bool, desc: str, total: int) -> Iterable[Any]:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False)


def _placebo_job(args: tuple[Any, Any, Any, list[Any]]) -> UnitFit:
    design, state, d, donors = args
    return design._fit_unit(state, d, [o for o in donors if o != d], "placebo")


class PlaceDesign(ABC):
    """Base of the place-level designs: everything but building one synthetic unit."""

    design_key = "synthetic_control"
    method_name = "Synthetic control"
    result_class: type[PlaceResult]

    def __init__(self, *, treated: Any, treatment_start: Any, unit: str = "area",
                 time: str = "period", outcome: str = "value",
                 donors: Sequence[Any] | None = None, post_end: Any = None,
                 placebos: bool = True, placebo_max_pre_mspe_ratio: float | None = None,
                 placebo_times: Sequence[Any] | None = None, leave_one_out: int = 0,
                 alpha: float = 0.05, missing_donors: str = "drop", min_pre_periods: int = 3,
                 progress: bool = True, n_jobs: int = 1) -> None:
        if not 0 < alpha < 1:
            raise InputError(f"alpha={alpha!r} must be between 0 and 1, e.g. 0.05.")
        if placebo_max_pre_mspe_ratio is not None and not placebo_max_pre_mspe_ratio > 0:
            raise InputError(f"placebo_max_pre_mspe_ratio={placebo_max_pre_mspe_ratio!r} must be "
                             "positive (e.g. 5 drops placebos whose pre-period MSPE is more than "
                             "5 times the treated unit's), or None to keep every placebo.")
        if isinstance(leave_one_out, bool):
            leave_one_out = 5 if leave_one_out else 0
        if int(leave_one_out) < 0:
            raise InputError(f"leave_one_out={leave_one_out!r} must be a number of top donors "
                             "(0 for none).")
        if min_pre_periods < 2:
            raise InputError(f"min_pre_periods={min_pre_periods!r} must be at least 2.")
        self.treated = treated
        self.treatment_start = treatment_start
        self.unit, self.time, self.outcome = unit, time, outcome
        self.donors = None if donors is None else list(donors)
        self.post_end = post_end
        self.placebos = bool(placebos)
        self.placebo_max_pre_mspe_ratio = placebo_max_pre_mspe_ratio
        self.placebo_times = None if placebo_times is None else list(placebo_times)
        self.leave_one_out = int(leave_one_out)
        self.alpha = float(alpha)
        self.missing_donors = missing_donors
        self.min_pre_periods = int(min_pre_periods)
        self.progress = bool(progress)
        if int(n_jobs) < 1:
            raise InputError(f"n_jobs={n_jobs!r} must be at least 1 (processes for placebos).")
        self.n_jobs = int(n_jobs)

    # -- to be provided by a design
    @abstractmethod
    def _prepare(self, panel: Panel) -> Any:
        """Design-specific state computed once from the panel."""

    @abstractmethod
    def _fit_unit(self, state: Any, treated: Any, donors: list[Any], role: str) -> UnitFit:
        """Fit one unit (the treated unit or a placebo) against its donors."""

    def _design_tables(self, state: Any, fit: UnitFit, panel: Panel
                       ) -> dict[str, pd.DataFrame]:
        return {}

    def _design_diagnostics(self, state: Any, fit: UnitFit) -> dict[str, Any]:
        return {}

    def _method_label(self, state: Any) -> str:
        return self.method_name

    def _placebo_fits(self, state: Any, donors: list[Any]) -> list[tuple[Any, UnitFit]]:
        """Fit every placebo (each donor treated, the other donors as its pool)."""
        if self.n_jobs > 1 and len(donors) > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=self.n_jobs) as ex:
                fits = list(_progress(ex.map(_placebo_job, [(self, state, d, donors)
                                                            for d in donors], chunksize=1),
                                      self.progress, "placebos in space", len(donors)))
            return list(zip(donors, fits))
        out = []
        for d in _progress(donors, self.progress, "placebos in space", len(donors)):
            others = [o for o in donors if o != d]
            out.append((d, self._fit_unit(state, d, others, "placebo")))
        return out

    # -- shared driver
    def _panel(self, data: pd.DataFrame) -> Panel:
        return prepare_panel(data, unit=self.unit, time=self.time, outcome=self.outcome,
                             treated=self.treated, treatment_start=self.treatment_start,
                             donors=self.donors, post_end=self.post_end,
                             missing_donors=self.missing_donors,
                             min_pre_periods=self.min_pre_periods)

    def fit(self, data: pd.DataFrame) -> PlaceResult:
        """Fit the design to a long panel and run the requested inference.

        Parameters
        ----------
        data : DataFrame
            One row per unit and period, with the unit, time and outcome
            columns named in the constructor (plus any predictor columns).

        Returns
        -------
        PlaceResult
            The headline (mean post-period gap), permutation p-value, detail
            tables and plots.
        """
        panel = self._panel(data)
        state = self._prepare(panel)
        donors = list(state.donors)
        main = self._fit_unit(state, panel.treated, donors, "main")
        ti = panel.index(panel.treated)
        y1 = panel.Y[ti]
        stats_main = gap_stats(y1, main.synthetic, panel.pre, panel.post)
        warnings: list[str] = list(getattr(state, "warnings", []))
        tables: dict[str, pd.DataFrame] = {}
        times = panel.time_labels()

        gaps = pd.DataFrame({"period": times, "actual": y1, "synthetic": main.synthetic,
                             "gap": y1 - main.synthetic, "post": panel.post})
        tables["gaps"] = gaps
        weights = pd.DataFrame({"donor": donors, "weight": main.weights})
        weights = weights.sort_values("weight", ascending=False, kind="stable").reset_index(
            drop=True)
        tables["weights"] = weights
        tables.update(self._design_tables(state, main, panel))
        excluded = list(panel.excluded) + list(getattr(state, "excluded", []))
        tables["excluded"] = pd.DataFrame(excluded, columns=["unit", "reason"])
        if excluded:
            warnings.append(f"{len(excluded)} donor(s) excluded; see the 'excluded' table.")

        # hull check: the treated unit above/below every donor in most pre-periods
        Ypre = panel.Y[:, panel.pre]
        above = (Ypre[0] > Ypre[1:].max(axis=0)).mean()
        below = (Ypre[0] < Ypre[1:].min(axis=0)).mean()
        if max(above, below) > 0.5:
            side = "above" if above >= below else "below"
            warnings.append(
                f"The treated unit's outcome is {side} every donor's in "
                f"{100 * max(above, below):.0f}% of pre-periods: it lies outside the donors' "
                "range, so no weighted average of donors can match it. Consider "
                "AugmentedSyntheticControl (ridge augmentation or de-meaning).")
        sd_pre = float(np.std(Ypre[0], ddof=1)) if Ypre.shape[1] > 1 else float("nan")
        if sd_pre > 0 and stats_main["pre_rmspe"] > 0.5 * sd_pre:
            warnings.append(
                f"Pre-period fit is poor: RMSPE {stats_main['pre_rmspe']:.4g} is more than half "
                f"the treated unit's own pre-period standard deviation ({sd_pre:.4g}).")

        # ------------------------------------------------ placebo in space
        placebo_rows = [dict(unit=panel.treated, is_treated=True, **stats_main)]
        placebo_gap_rows: list[pd.DataFrame] = []
        if self.placebos:
            for d, f in self._placebo_fits(state, donors):
                yd = panel.Y[panel.index(d)]
                placebo_rows.append(dict(unit=d, is_treated=False,
                                         **gap_stats(yd, f.synthetic, panel.pre, panel.post)))
                placebo_gap_rows.append(pd.DataFrame({"unit": d, "period": times,
                                                      "gap": yd - f.synthetic}))
        plac = pd.DataFrame(placebo_rows)
        plac["pre_mspe_multiple"] = plac["pre_mspe"] / stats_main["pre_mspe"] if \
            stats_main["pre_mspe"] > 0 else np.inf
        k = self.placebo_max_pre_mspe_ratio
        plac["kept"] = True if k is None else (plac["pre_mspe_multiple"] <= k) | plac["is_treated"]
        plac["rank"] = plac["ratio"].rank(ascending=False, method="max").astype(int)
        inference = _permutation_inference(plac, gaps, placebo_gap_rows, panel, self.alpha)
        if self.placebos:
            tables["placebos"] = plac[["unit", "is_treated", "pre_rmspe", "post_rmspe", "ratio",
                                       "att", "pre_mspe_multiple", "kept", "rank"]]
            tables["placebo_gaps"] = (pd.concat(placebo_gap_rows, ignore_index=True)
                                      .merge(plac[["unit", "kept"]], on="unit"))
            n_kept = int(plac["kept"].sum()) - 1
            if n_kept + 1 < 1 / self.alpha:
                warnings.append(
                    f"Only {n_kept} placebo(s) kept: the smallest attainable permutation p-value "
                    f"is 1/{n_kept + 1} = {1 / (n_kept + 1):.3f}, above alpha={self.alpha}, so "
                    "the confidence interval is unbounded.")
        else:
            warnings.append("No placebos run (placebos=False): no p-value or interval.")
        tables["effects"] = inference["effects"]

        # ------------------------------------------------ placebo in time
        if self.placebo_times:
            rows, gap_rows = [], []
            for ft in self.placebo_times:
                ftc = _coerce_time_value(ft, panel.is_dt, "placebo_times")
                ft_np = np.datetime64(ftc, "ns") if panel.is_dt else ftc
                tp = panel.truncated(ftc)
                ts_np = np.datetime64(panel.treatment_start, "ns") if panel.is_dt else \
                    panel.treatment_start
                if not ft_np < ts_np:
                    raise InputError(f"placebo_times: {_fmt_time(ftc)} is not before the real "
                                     f"treatment start {_fmt_time(panel.treatment_start)}.")
                if tp.T0 < self.min_pre_periods or tp.post.sum() < 1:
                    raise InputError(
                        f"placebo_times: {_fmt_time(ftc)} leaves {tp.T0} period(s) before it and "
                        f"{int(tp.post.sum())} after it (before the real start); need at least "
                        f"{self.min_pre_periods} before and 1 after.")
                st = self._prepare(tp)
                f = self._fit_unit(st, tp.treated, list(st.donors), "placebo_time")
                s = gap_stats(tp.Y[0], f.synthetic, tp.pre, tp.post)
                rows.append(dict(placebo_start=_t(ft_np), n_pre=tp.T0,
                                 n_post=int(tp.post.sum()), **s,
                                 dropped_predictors=", ".join(getattr(st, "dropped", []))))
                gap_rows.append(pd.DataFrame({"placebo_start": _t(ft_np),
                                              "period": tp.time_labels(),
                                              "actual": tp.Y[0], "synthetic": f.synthetic,
                                              "gap": tp.Y[0] - f.synthetic}))
            tables["placebo_in_time"] = pd.DataFrame(rows)
            tables["placebo_in_time_paths"] = pd.concat(gap_rows, ignore_index=True)

        # ------------------------------------------------ leave one out
        if self.leave_one_out:
            top = weights[weights["weight"] > 1e-3].head(self.leave_one_out)["donor"].tolist()
            rows, paths = [], []
            for d in _progress(top, self.progress, "leave-one-out", len(top)):
                others = [o for o in donors if o != d]
                f = self._fit_unit(state, panel.treated, others, "loo")
                s = gap_stats(y1, f.synthetic, panel.pre, panel.post)
                wmap = dict(zip(others, f.weights))
                top_w = sorted(wmap.items(), key=lambda kv: -kv[1])[:3]
                rows.append(dict(dropped=d, weight_dropped=float(
                    weights.set_index("donor").loc[d, "weight"]), **s,
                    att_change=s["att"] - stats_main["att"],
                    top_weights=", ".join(f"{u} {w:.3f}" for u, w in top_w if w > 1e-3)))
                paths.append(pd.DataFrame({"dropped": d, "period": times,
                                           "synthetic": f.synthetic,
                                           "gap": y1 - f.synthetic}))
            if rows:
                tables["leave_one_out"] = pd.DataFrame(rows)
                tables["leave_one_out_paths"] = pd.concat(paths, ignore_index=True)

        diagnostics: dict[str, Any] = {
            "pre_rmspe": stats_main["pre_rmspe"],
            "post_rmspe": stats_main["post_rmspe"],
            "rmspe_ratio": stats_main["ratio"],
            "n_pre_periods": panel.T0,
            "n_post_periods": int(panel.post.sum()),
            "n_donors_weighted": int((main.weights > 1e-3).sum()),
        }
        if self.placebos:
            diagnostics["treated_rank"] = int(plac.loc[0, "rank"]) if k is None else int(
                plac.loc[plac["kept"], "ratio"].rank(ascending=False, method="max").iloc[0])
            diagnostics["n_placebos"] = int(len(plac) - 1)
            diagnostics["n_placebos_kept"] = int(plac["kept"].sum() - 1)
        diagnostics.update(self._design_diagnostics(state, main))

        level = f"{100 * (1 - self.alpha):g}%"
        result = self.result_class(
            estimate=stats_main["att"], se=inference["se"], ci_lower=inference["ci"][0],
            ci_upper=inference["ci"][1], pvalue=inference["pvalue"],
            n_treated=1, n_control=len(donors), estimand="ATT (post mean)",
            method=self._method_label(state), design=self.design_key, outcome=panel.outcome,
            alpha=self.alpha, diagnostics=diagnostics, tables=tables, warnings=warnings,
            extra={"treated": panel.treated, "treatment_start": panel.treatment_start,
                   "unit_column": panel.unit, "time_column": panel.time,
                   "fit": main, "state": state,
                   "notes": [f"p-value: share of units (treated + {len(plac) - 1} placebos"
                             f"{' kept' if k is not None else ''}) whose post/pre RMSPE ratio is "
                             "at least the treated unit's.",
                             f"SE: standard deviation of the placebo ATTs (Arkhangelsky et al. "
                             f"2021, placebo variance); {level} CI: the effects c not rejected by "
                             "the placebo test when c is subtracted from every post-period gap "
                             "(Firpo & Possebom 2018)."]})
        return result


def _permutation_inference(plac: pd.DataFrame, gaps: pd.DataFrame,
                           placebo_gap_rows: list[pd.DataFrame], panel: Panel, alpha: float
                           ) -> dict[str, Any]:
    """p-value, placebo SE, test-inversion CI and per-period effects."""
    post = panel.post
    g = gaps["gap"].to_numpy()
    gpost = g[post]
    kept = plac[plac["kept"] & ~plac["is_treated"]]
    n_pl = len(kept)
    pre_rmspe = float(plac.loc[plac["is_treated"], "pre_rmspe"].iloc[0])
    eff = pd.DataFrame({"term": [_fmt_time(t) for t in gaps.loc[post, "period"]],
                        "estimate": gpost, "se": np.nan, "ci_lower": np.nan,
                        "ci_upper": np.nan, "pvalue": np.nan})
    if n_pl == 0:
        return {"se": float("nan"), "ci": (float("nan"), float("nan")),
                "pvalue": float("nan"), "effects": eff}
    r_tr = float(plac.loc[plac["is_treated"], "ratio"].iloc[0])
    ratios = kept["ratio"].to_numpy()
    pvalue = (1 + int(np.sum(ratios >= r_tr - 1e-12 * abs(r_tr)))) / (n_pl + 1)
    se = float(np.std(kept["att"].to_numpy(), ddof=1)) if n_pl > 1 else float("nan")
    # number of placebos that must have a statistic >= the treated's for p > alpha
    m_min = math.floor(alpha * (n_pl + 1) - 1) + 1
    if m_min <= 0:
        ci = (-math.inf, math.inf)
    else:
        thr = np.sort(ratios)[::-1][m_min - 1]
        # accept c iff sqrt(mean((gpost - c)^2)) / pre_rmspe <= thr
        # mean((g-c)^2) = var + (mean - c)^2
        half_sq = (thr * pre_rmspe) ** 2 - float(np.mean((gpost - gpost.mean()) ** 2))
        if not np.isfinite(thr):
            ci = (-math.inf, math.inf)
        elif half_sq < 0:
            ci = (float("nan"), float("nan"))
        else:
            h = math.sqrt(half_sq)
            ci = (float(gpost.mean() - h), float(gpost.mean() + h))
    # per-period: |gap_t| / pre-RMSPE compared with the placebos'
    if placebo_gap_rows:
        kept_units = set(kept["unit"])
        pg = pd.concat([r for r in placebo_gap_rows if r["unit"].iloc[0] in kept_units])
        pre_map = kept.set_index("unit")["pre_rmspe"]
        W = pg.pivot(index="unit", columns="period", values="gap")
        W = W.loc[:, [c for c in W.columns if c in set(gaps.loc[post, "period"])]]
        S = np.abs(W.to_numpy()) / pre_map.reindex(W.index).to_numpy()[:, None]
        s_tr = np.abs(gpost) / pre_rmspe if pre_rmspe > 0 else np.full(gpost.shape, np.inf)
        pv = (1 + np.sum(S >= s_tr[None, :] - 1e-12, axis=0)) / (n_pl + 1)
        eff["pvalue"] = pv
        if m_min <= 0:
            eff["ci_lower"], eff["ci_upper"] = -np.inf, np.inf
        else:
            thr_t = np.sort(S, axis=0)[::-1][m_min - 1]
            half = thr_t * pre_rmspe
            eff["ci_lower"], eff["ci_upper"] = gpost - half, gpost + half
    return {"se": se, "ci": ci, "pvalue": float(pvalue), "effects": eff}


# ------------------------------------------------------------------------- result

class PlaceResult(EffectResult):
    """Result of a place-level design (synthetic control and variants).

    Detail tables (``to_frame(name)``): ``weights`` (donor weights), ``gaps``
    (actual, synthetic and gap by period), ``effects`` (post-period gaps with
    per-period permutation p-values and intervals), ``placebos`` (placebo-in-
    space RMSPEs, ratios and ranks), ``placebo_gaps``, ``excluded``, plus
    ``balance`` and ``v_weights`` (synthetic control), ``placebo_in_time`` and
    ``leave_one_out`` when requested.

    ``plot(kind=...)`` draws ``"paths"`` (actual vs synthetic, the default),
    ``"gaps"`` (the gap with placebo gaps in grey), ``"ratios"``,
    ``"weights"``, ``"leave_one_out"`` or ``"placebo_in_time"``.
    """

    def summary(self, tables: Iterable[str] | None = None) -> Summary:
        if tables is None:
            tables = ["weights", "balance", "placebos"]
        tabs = []
        for name in tables:
            if name not in self.tables:
                continue
            df = self.tables[name]
            if name == "weights":
                df = df[df["weight"].abs() > 1e-3]
                name = "Donor weights (above 0.001)"
            elif name == "placebos":
                df = df.sort_values("ratio", ascending=False).head(12)
                name = "Placebos in space (top 12 by post/pre RMSPE ratio)"
            elif name == "balance":
                name = "Predictor balance"
            tabs.append((name, df))
        notes = list(self.extra.get("notes", [])) + [f"Warning: {w}" for w in self.warnings]
        return Summary(self.method or "Synthetic control", self._header(), tabs, notes)

    # ---------------------------------------------------------------- plots
    def plot(self, ax: Axes | None = None, kind: str = "paths", **kwargs: Any) -> Axes:
        """Plot the result.

        Parameters
        ----------
        ax : Axes, optional
        kind : {"paths", "gaps", "ratios", "weights", "leave_one_out", "placebo_in_time"}
            ``paths``: actual and synthetic outcome with the intervention marked;
            ``gaps``: the treated gap with placebo gaps in grey.
        """
        kinds = {"paths": self._plot_paths, "gaps": self._plot_gaps,
                 "ratios": self._plot_ratios, "weights": self._plot_weights,
                 "leave_one_out": self._plot_loo, "placebo_in_time": self._plot_in_time}
        if kind not in kinds:
            raise InputError(f"kind={kind!r}: choose one of {', '.join(kinds)}.")
        return kinds[kind](ax, **kwargs)

    def _mark(self, ax: Axes, when: Any = None) -> None:
        t0 = self.extra["treatment_start"] if when is None else when
        ax.axvline(t0, color="black", ls="--", lw=1)
        ax.annotate("pilot starts", xy=(t0, 1), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=8)

    def _plot_paths(self, ax: Axes | None, **kw: Any) -> Axes:
        from ..plotting import OKABE_ITO, get_axes

        ax = get_axes(ax)
        g = self.tables["gaps"]
        ax.plot(g["period"], g["actual"], color=OKABE_ITO[0], lw=2,
                label=f"{self.extra['treated']} (actual)")
        ax.plot(g["period"], g["synthetic"], color=OKABE_ITO[1], lw=2, ls="--",
                label=kw.get("synthetic_label", "Synthetic comparison"))
        self._mark(ax)
        ax.set_xlabel(kw.get("xlabel", "Period"))
        ax.set_ylabel(kw.get("ylabel", self.outcome or "Outcome"))
        ax.set_title(kw.get("title", f"{self.extra['treated']}: actual vs synthetic "
                                     f"{self.outcome}"))
        ax.legend(frameon=False)
        return ax

    def _plot_gaps(self, ax: Axes | None, **kw: Any) -> Axes:
        from ..plotting import GREY, OKABE_ITO, get_axes

        ax = get_axes(ax)
        if "placebo_gaps" in self.tables:
            pg = self.tables["placebo_gaps"]
            show_all = kw.get("show_dropped", False)
            first = True
            for _u, grp in pg.groupby("unit", sort=False):
                if not grp["kept"].iloc[0] and not show_all:
                    continue
                ax.plot(grp["period"], grp["gap"], color=GREY, lw=0.8, alpha=0.6,
                        label="Placebos (each donor treated in turn)" if first else None)
                first = False
        g = self.tables["gaps"]
        ax.plot(g["period"], g["gap"], color=OKABE_ITO[0], lw=2.2,
                label=f"{self.extra['treated']}")
        ax.axhline(0, color="black", lw=0.8)
        self._mark(ax)
        ax.set_xlabel(kw.get("xlabel", "Period"))
        ax.set_ylabel(kw.get("ylabel", f"Gap in {self.outcome} (actual - synthetic)"))
        ax.set_title(kw.get("title", "Gap between actual and synthetic, with placebo gaps"))
        ax.legend(frameon=False)
        return ax

    def _plot_ratios(self, ax: Axes | None, **kw: Any) -> Axes:
        from ..plotting import GREY, OKABE_ITO, get_axes

        if "placebos" not in self.tables:
            raise InputError("No placebos were run (placebos=False), so there are no ratios "
                             "to plot.")
        p = self.tables["placebos"].sort_values("ratio")
        ax = get_axes(ax, figsize=(7, 0.3 * len(p) + 1))
        colours = [OKABE_ITO[5] if t else (GREY if k else "#D9D9D9")
                   for t, k in zip(p["is_treated"], p["kept"])]
        ax.barh([str(u) for u in p["unit"]], p["ratio"], color=colours)
        ax.set_xlabel("Post-period RMSPE / pre-period RMSPE")
        ax.set_title(kw.get("title", f"Post/pre RMSPE ratios (p = {self.pvalue:.3f})"))
        return ax

    def _plot_weights(self, ax: Axes | None, **kw: Any) -> Axes:
        from ..plotting import OKABE_ITO, get_axes

        w = self.tables["weights"]
        w = w[w["weight"].abs() > 1e-3].iloc[::-1]
        ax = get_axes(ax, figsize=(7, 0.35 * len(w) + 1))
        ax.barh([str(u) for u in w["donor"]], w["weight"], color=OKABE_ITO[0])
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("Weight in the synthetic comparison")
        ax.set_title(kw.get("title", "Donor weights"))
        return ax

    def _plot_loo(self, ax: Axes | None, **kw: Any) -> Axes:
        from ..plotting import GREY, OKABE_ITO, get_axes

        if "leave_one_out_paths" not in self.tables:
            raise InputError("No leave-one-out runs: fit with leave_one_out=5 (say) first.")
        ax = get_axes(ax)
        g = self.tables["gaps"]
        first = True
        for _d, grp in self.tables["leave_one_out_paths"].groupby("dropped", sort=False):
            ax.plot(grp["period"], grp["synthetic"], color=GREY, lw=1,
                    label="Leaving out one top donor" if first else None)
            first = False
        ax.plot(g["period"], g["actual"], color=OKABE_ITO[0], lw=2, label="Actual")
        ax.plot(g["period"], g["synthetic"], color=OKABE_ITO[1], lw=2, ls="--",
                label="Synthetic (all donors)")
        self._mark(ax)
        ax.set_xlabel("Period")
        ax.set_ylabel(self.outcome or "Outcome")
        ax.set_title(kw.get("title", "Leave-one-out synthetic comparisons"))
        ax.legend(frameon=False)
        return ax

    def _plot_in_time(self, ax: Axes | None, **kw: Any) -> Axes:
        from ..plotting import OKABE_ITO, get_axes

        if "placebo_in_time_paths" not in self.tables:
            raise InputError("No placebo-in-time runs: fit with placebo_times=[...] first.")
        ax = get_axes(ax)
        paths = self.tables["placebo_in_time_paths"]
        for i, (ft, grp) in enumerate(paths.groupby("placebo_start", sort=False)):
            if i == 0:
                ax.plot(grp["period"], grp["actual"], color=OKABE_ITO[0], lw=2, label="Actual")
            ax.plot(grp["period"], grp["synthetic"], color=OKABE_ITO[(i + 1) % 8], ls="--",
                    label=f"Synthetic, fake start {_fmt_time(ft)}")
            ax.axvline(ft, color=OKABE_ITO[(i + 1) % 8], ls=":", lw=1)
        ax.set_xlabel("Period")
        ax.set_ylabel(self.outcome or "Outcome")
        ax.set_title(kw.get("title", "Placebo in time (data before the real start only)"))
        ax.legend(frameon=False)
        return ax
