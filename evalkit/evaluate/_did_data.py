"""Panel preparation shared by the difference-in-differences designs.

Turns a long DataFrame (unit, period, outcome, first-treatment period) into
integer-coded arrays: units ``0..n-1``, periods ``0..T-1`` in time order, and
each unit's first treated period as a period index (:data:`NEVER` for units
never treated inside the panel window). Every row or unit set aside is
counted, with its reason, in :attr:`Panel.excluded`; anything recoded (a start
after the last period) is described in :attr:`Panel.notes`.

Periods may be integers (years, ``2003``...) or dates (monthly ``Timestamp``
s, ``pandas.Period`` or ISO strings such as ``"2024-04"``). Results are
reported back in the user's own period values.

First-treatment values
    * integer periods: the first treated period itself; ``0`` or missing
      means never treated. A value after the last period means "not treated
      within the window" (recoded to never treated and noted); a value that
      is not one of the observed periods is an error.
    * date periods: the pilot start date; missing (``NaT``) means never
      treated. The first treated period is the period **containing** the start
      date (the last period starting on or before it), so a person who started
      on 15 April is treated from the April period on: partly exposed periods
      count as treated, never as pre-treatment. A start on or after the end of
      the last period (last period start plus the usual gap between periods)
      is recoded to never treated within the window and noted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["NEVER", "Panel", "prepare_panel", "format_period"]

#: Period index used for units never treated within the panel window.
NEVER: int = 10**9


@dataclass
class Panel:
    """A long panel coded as integer arrays (see module docstring)."""

    unit_labels: np.ndarray          # (n,) original unit identifiers
    periods: pd.Index                # (T,) the user's period values, sorted
    unit_idx: np.ndarray             # (N,) unit code of each row
    time_idx: np.ndarray             # (N,) period code of each row
    y: np.ndarray                    # (N,) outcome
    gidx: np.ndarray                 # (n,) first treated period index, NEVER if never
    x: np.ndarray | None             # (N, k) covariates per row, or None
    covariates: list[str]
    cluster: np.ndarray | None       # (n,) cluster code per unit, None = unit
    cluster_name: str | None
    excluded: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    period_kind: str = "integer"     # "integer", "float" or "datetime"
    period_unit: str = "periods"     # "months", "years", ... for labels
    outcome: str = ""
    unit_name: str = ""

    @property
    def n_units(self) -> int:
        return int(self.unit_labels.shape[0])

    @property
    def n_periods(self) -> int:
        return int(len(self.periods))

    @property
    def balanced(self) -> bool:
        return self.y.shape[0] == self.n_units * self.n_periods

    def wide(self, values: np.ndarray | None = None) -> np.ndarray:
        """Values as an ``(n_units, n_periods)`` matrix (balanced panels only)."""
        v = self.y if values is None else values
        out = np.full((self.n_units, self.n_periods) + v.shape[1:], np.nan)
        out[self.unit_idx, self.time_idx] = v
        return out

    def subset_units(self, keep: np.ndarray) -> Panel:
        """A copy keeping only the units where ``keep`` (length n) is True."""
        row_keep = keep[self.unit_idx]
        new_code = np.cumsum(keep) - 1
        cl = None
        if self.cluster is not None:
            cl = pd.factorize(self.cluster[keep], sort=True)[0].astype(np.int64)
        return Panel(
            unit_labels=self.unit_labels[keep], periods=self.periods,
            unit_idx=new_code[self.unit_idx[row_keep]], time_idx=self.time_idx[row_keep],
            y=self.y[row_keep], gidx=self.gidx[keep],
            x=self.x[row_keep] if self.x is not None else None, covariates=self.covariates,
            cluster=cl, cluster_name=self.cluster_name, excluded=self.excluded.copy(),
            notes=list(self.notes), period_kind=self.period_kind,
            period_unit=self.period_unit, outcome=self.outcome, unit_name=self.unit_name)

    def period_label(self, idx: int | np.ndarray) -> Any:
        """The user's period value(s) for period index(es)."""
        return self.periods[np.asarray(idx)]

    def group_label(self, g: int) -> Any:
        return self.periods[g]


def format_period(v: Any) -> str:
    """A period value as a short label: ``2024-04`` for month starts, else as given.

    Examples
    --------
    >>> format_period(pd.Timestamp("2024-04-01")), format_period(2006)
    ('2024-04', '2006')
    """
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        ts = pd.Timestamp(v)
        if ts == ts.normalize():
            return ts.strftime("%Y-%m") if ts.day == 1 else ts.strftime("%Y-%m-%d")
        return str(ts)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _excluded_frame(rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["reason", "units", "rows"]).astype(
        {"units": "int64", "rows": "int64"})


def _check_columns(data: pd.DataFrame, needed: dict[str, str]) -> None:
    missing = {arg: col for arg, col in needed.items() if col not in data.columns}
    if missing:
        parts = ", ".join(f"{arg}={col!r}" for arg, col in missing.items())
        cols = ", ".join(map(str, list(data.columns)[:20]))
        raise InputError(
            f"The data has no column for {parts}. Columns found: {cols}. "
            "Pass the right column names as keyword arguments (e.g. unit='area', "
            "time='period', outcome='value', first_treat='pilot_start')."
        )


def _first_rows(mask: np.ndarray, index: pd.Index, k: int = 5) -> str:
    where = np.flatnonzero(mask)[:k]
    return ", ".join(str(index[i]) for i in where)


def _as_periods(values: pd.Series, name: str) -> tuple[np.ndarray, str]:
    """Convert a period column to sortable values; return (values, kind)."""
    s = values
    if isinstance(s.dtype, pd.PeriodDtype):
        return s.dt.start_time.to_numpy(dtype="datetime64[ns]"), "datetime"
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        return s.to_numpy(dtype="datetime64[ns]"), "datetime"
    if pd.api.types.is_bool_dtype(s.dtype):
        raise InputError(f"Column {name!r} (time) is boolean; it must hold periods "
                         "(integers such as 2024, or dates such as 2024-04-01).")
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.to_numpy(dtype="int64"), "integer"
    if pd.api.types.is_float_dtype(s.dtype):
        v = s.to_numpy(dtype="float64")
        if np.all(np.isfinite(v)) and np.all(v == np.round(v)):
            return v.astype("int64"), "integer"
        return v, "float"
    # strings / objects: try dates
    try:
        conv = pd.to_datetime(s, errors="raise")
    except (ValueError, TypeError) as exc:
        ex = s.iloc[0] if len(s) else None
        raise InputError(
            f"Column {name!r} (time) holds {s.dtype} values such as {ex!r} that are "
            "neither numbers nor dates. Give periods as integers (e.g. 2024) or dates "
            "(e.g. 2024-04-01)."
        ) from exc
    return conv.to_numpy(dtype="datetime64[ns]"), "datetime"


def _period_unit(periods: np.ndarray, kind: str) -> tuple[str, float | None]:
    """A label for one period step and the typical step (for end-of-window)."""
    if len(periods) < 2:
        return "periods", None
    diffs = np.diff(periods)
    if kind == "datetime":
        days = diffs.astype("timedelta64[s]").astype("float64") / 86400.0
        med = float(np.median(days))
        if 27 <= med <= 32:
            label = "months"
        elif 89 <= med <= 93:
            label = "quarters"
        elif 364 <= med <= 367:
            label = "years"
        elif 6.5 <= med <= 7.5:
            label = "weeks"
        elif 0.9 <= med <= 1.1:
            label = "days"
        else:
            label = "periods"
        return label, med
    med = float(np.median(diffs.astype("float64")))
    return "periods", med


def _map_first_treat(
    ft_unit: pd.Series, periods: np.ndarray, kind: str, name: str, step: float | None
) -> tuple[np.ndarray, int]:
    """Map each unit's first-treatment value to a period index.

    Returns (gidx, n_after_window) with NEVER for never treated (including
    starts after the window) and -1 for units treated before the first period.
    """
    n = len(ft_unit)
    g = np.full(n, NEVER, dtype=np.int64)
    T = len(periods)
    if kind == "datetime":
        s = ft_unit
        if not (pd.api.types.is_datetime64_any_dtype(s.dtype)
                or isinstance(s.dtype, pd.PeriodDtype)):
            # allow strings; numeric 0 = never
            if pd.api.types.is_numeric_dtype(s.dtype):
                bad = s.notna() & (s != 0)
                if bad.any():
                    raise InputError(
                        f"Column {name!r} (first_treat) holds numbers such as "
                        f"{s[bad].iloc[0]!r} but the periods are dates: give the pilot "
                        "start as a date (e.g. 2024-04-01), or leave it empty for "
                        "units never treated."
                    )
                return g, 0
            try:
                s = pd.to_datetime(s, errors="raise")
            except (ValueError, TypeError) as exc:
                raise InputError(
                    f"Column {name!r} (first_treat) could not be read as dates "
                    f"(e.g. {s.dropna().iloc[0]!r}); give pilot starts as dates or leave "
                    "empty for never treated."
                ) from exc
        if isinstance(s.dtype, pd.PeriodDtype):
            s = s.dt.start_time
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        v = s.to_numpy(dtype="datetime64[ns]")
        has = ~np.isnat(v)
        idx = np.searchsorted(periods, v[has], side="right") - 1
        gg = idx.astype(np.int64)
        # start after the window end?
        end = periods[-1]
        if step is not None:
            end = end + np.timedelta64(int(round(step * 86400)), "s")
        after = v[has] >= end if step is not None else np.zeros(has.sum(), bool)
        gg[after] = NEVER
        g[has] = gg
        return g, int(after.sum())
    # numeric periods
    s = ft_unit
    if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        raise InputError(
            f"Column {name!r} (first_treat) holds {s.dtype} values such as "
            f"{s.dropna().iloc[0] if s.notna().any() else None!r}; with numeric periods "
            "it must hold the first treated period (e.g. 2006), with 0 or empty for "
            "never treated."
        )
    v = s.to_numpy(dtype="float64")
    has = np.isfinite(v) & (v != 0)
    vals = v[has]
    pf = periods.astype("float64")
    after = vals > pf[-1]
    before = vals < pf[0]
    pos = np.searchsorted(pf, vals)
    pos_c = np.clip(pos, 0, T - 1)
    exact = pf[pos_c] == vals
    bad = ~(exact | after | before)
    if bad.any():
        ex = vals[bad][:5]
        raise InputError(
            f"Column {name!r} (first_treat) has values that are not periods in the data "
            f"(e.g. {', '.join(f'{x:g}' for x in ex)}). Give the first treated period as "
            "one of the observed periods, 0 or empty for never treated."
        )
    gg = pos_c.astype(np.int64)
    gg[after] = NEVER
    gg[before] = -1
    g[has] = gg
    return g, int(after.sum())


def prepare_panel(
    data: pd.DataFrame,
    *,
    unit: str,
    time: str,
    outcome: str,
    first_treat: str,
    covariates: Sequence[str] | str | None = None,
    cluster: str | None = None,
    measure: str | None = None,
    measure_col: str = "measure",
    starts: pd.DataFrame | pd.Series | None = None,
    require_balanced: bool = False,
    drop_incomplete: bool = False,
    always_treated: str = "keep",
    design: str = "This design",
) -> Panel:
    """Validate and code a long panel (see the module docstring).

    Parameters
    ----------
    data : DataFrame
        Long panel: one row per unit and period.
    unit, time, outcome, first_treat : str
        Column names.
    covariates : list of str, optional
        Numeric covariate columns (kept per row).
    cluster : str, optional
        Column to cluster standard errors by; must be constant within unit.
    measure : str, optional
        When ``data`` is the tidy outcome panel with several measures in
        ``measure_col``, the measure to analyse.
    starts : DataFrame or Series, optional
        Unit start dates/periods if ``first_treat`` is not in ``data``: a
        DataFrame with columns ``unit`` and ``first_treat`` (e.g. the
        ``people`` or ``areas`` table) or a Series indexed by unit.
    require_balanced : bool
        Whether the design needs every unit observed in every period.
    drop_incomplete : bool
        With ``require_balanced``, drop units not observed in every period
        (counted in ``excluded``) instead of raising.
    always_treated : {"keep", "drop", "error"}
        What to do with units treated in or before the first period.
    design : str
        Name used in error messages.
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"{design} needs a pandas DataFrame; got {type(data).__name__}.")
    if isinstance(covariates, str):
        covariates = [covariates]
    covs = list(covariates or [])
    df = data
    if starts is not None:
        df = _merge_starts(df, starts, unit, first_treat)
    needed = {"unit": unit, "time": time, "outcome": outcome, "first_treat": first_treat}
    for c in covs:
        needed[f"covariate {c!r}"] = c
    if cluster is not None:
        needed["cluster"] = cluster
    _check_columns(df, needed)
    excluded_rows: list[tuple[str, int, int]] = []
    notes: list[str] = []

    # --- pick the measure from a tidy panel
    if measure is not None:
        if measure_col not in df.columns:
            raise InputError(f"measure={measure!r} was given but the data has no "
                             f"{measure_col!r} column.")
        keep = (df[measure_col] == measure).to_numpy()
        if not keep.any():
            found = ", ".join(map(str, pd.unique(df[measure_col])[:10]))
            raise InputError(f"No rows have {measure_col}={measure!r}; measures found: {found}.")
        df = df.loc[keep]
    elif measure_col in df.columns and measure_col not in (unit, time, outcome):
        ms = pd.unique(df[measure_col])
        if len(ms) > 1:
            raise InputError(
                f"The data holds {len(ms)} measures in column {measure_col!r} "
                f"({', '.join(map(str, ms[:8]))}); pass measure=<one of them> to choose "
                "the outcome to analyse."
            )
    if len(df) == 0:
        raise InputError(f"{design}: the data has no rows.")

    # --- outcome and covariates must be numeric and complete
    for col, role in [(outcome, "outcome")] + [(c, "covariate") for c in covs]:
        s = df[col]
        if pd.api.types.is_bool_dtype(s.dtype):
            continue
        if not pd.api.types.is_numeric_dtype(s.dtype):
            conv = pd.to_numeric(s, errors="coerce")
            badm = conv.isna() & s.notna()
            ex = s[badm].iloc[0] if badm.any() else s.iloc[0]
            raise InputError(
                f"Column {col!r} ({role}) must be numeric but holds {s.dtype} values such "
                f"as {ex!r} ({int(badm.sum())} non-numeric rows). Convert it to numbers "
                "(e.g. counts per period) before fitting."
            )
    for col, role in ([(unit, "unit"), (time, "time"), (outcome, "outcome")]
                      + [(c, "covariate") for c in covs]
                      + ([(cluster, "cluster")] if cluster else [])):
        miss = df[col].isna().to_numpy()
        if miss.any():
            raise InputError(
                f"Column {col!r} ({role}) has {int(miss.sum())} missing values (rows "
                f"{_first_rows(miss, df.index)}...). {design} does not impute: remove "
                "those rows or fill them in, then fit again."
            )

    # --- codes
    uidx, ulabels = pd.factorize(df[unit], sort=True)
    uidx = uidx.astype(np.int64)
    tvals, kind = _as_periods(df[time], time)
    periods_sorted, tidx = np.unique(tvals, return_inverse=True)
    tidx = tidx.astype(np.int64)
    n, T = len(ulabels), len(periods_sorted)
    if T < 2:
        raise InputError(f"{design} needs at least two periods; column {time!r} has {T}.")
    # duplicates
    key = uidx * T + tidx
    counts = np.bincount(key, minlength=n * T) if n * T < 5e8 else None
    if counts is not None:
        dup = counts > 1
        if dup.any():
            k0 = int(np.flatnonzero(dup)[0])
            raise InputError(
                f"{int(dup.sum())} unit-period pairs appear more than once (e.g. "
                f"{unit}={ulabels[k0 // T]!r}, {time}={periods_sorted[k0 % T]!r}). Give "
                "one row per unit and period (sum or average duplicates first, or pass "
                "measure= to pick one outcome)."
            )
    else:  # pragma: no cover - enormous panels
        if pd.Series(key).duplicated().any():
            raise InputError("Some unit-period pairs appear more than once; give one row "
                             "per unit and period.")

    # --- first treatment: constant within unit
    ft = df[first_treat]
    first_row = np.full(n, -1, dtype=np.int64)
    order = np.arange(len(df), dtype=np.int64)
    first_row[uidx[::-1]] = order[::-1]
    ft_unit = ft.iloc[first_row].reset_index(drop=True)
    ft_arr = ft.to_numpy()
    ft_u_arr = ft_unit.to_numpy()[uidx]
    same = (ft_arr == ft_u_arr) | (pd.isna(ft_arr) & pd.isna(ft_u_arr))
    if not np.all(same):
        bad_units = np.unique(uidx[~same])
        raise InputError(
            f"Column {first_treat!r} (first_treat) must be the same in every row of a unit, "
            f"but it varies within {len(bad_units)} units (e.g. {unit}="
            f"{ulabels[bad_units[0]]!r}). Give each unit one start period."
        )
    period_unit, step = _period_unit(periods_sorted, kind)
    gidx, n_after = _map_first_treat(ft_unit, periods_sorted, kind, first_treat, step)
    if n_after:
        notes.append(
            f"{n_after} units start after the last period and are treated as not yet "
            "treated throughout (never treated within the window)."
        )

    # --- cluster codes (constant within unit)
    cl = None
    if cluster is not None and cluster != unit:
        ccodes, _ = pd.factorize(df[cluster], sort=True)
        ccodes = ccodes.astype(np.int64)
        cl = np.full(n, -1, dtype=np.int64)
        cl[uidx] = ccodes
        if not np.array_equal(cl[uidx], ccodes):
            raise InputError(
                f"Column {cluster!r} (cluster) must be constant within each unit; units "
                "nested in clusters (e.g. people in areas) are required."
            )

    y = df[outcome].to_numpy(dtype="float64")
    x = df[covs].to_numpy(dtype="float64") if covs else None
    if not np.all(np.isfinite(y)):
        bad = ~np.isfinite(y)
        raise InputError(f"Column {outcome!r} (outcome) has {int(bad.sum())} infinite values "
                         f"(rows {_first_rows(bad, df.index)}).")

    # --- always treated units
    keep_unit = np.ones(n, dtype=bool)
    always = gidx <= 0
    if always.any():
        n_always = int(always.sum())
        if always_treated == "error":
            first = periods_sorted[0]
            raise InputError(
                f"{n_always} units are treated in the first period ({first!r}) or earlier "
                f"(e.g. {unit}={ulabels[np.flatnonzero(always)[0]]!r}), so they have no "
                f"pre-treatment period and {design} cannot use them. Pass "
                "drop_always_treated=True to drop them (they are counted in the result's "
                "'excluded' table), or add earlier periods to the data."
            )
        if always_treated == "drop":
            keep_unit &= ~always
            excluded_rows.append(("treated in the first period or earlier (no pre-period)",
                                  n_always, int(np.isin(uidx, np.flatnonzero(always)).sum())))
        else:
            gidx = np.where(always, 0, gidx)

    # --- balance
    obs_per_unit = np.bincount(uidx, minlength=n)
    incomplete = obs_per_unit < T
    if require_balanced and (incomplete & keep_unit).any():
        n_inc = int((incomplete & keep_unit).sum())
        if not drop_incomplete:
            ex = ulabels[np.flatnonzero(incomplete & keep_unit)[0]]
            raise InputError(
                f"{design} needs a balanced panel, but {n_inc} of {n} units are not observed "
                f"in all {T} periods (e.g. {unit}={ex!r}). Fill in the missing periods "
                "(e.g. zero counts where a person had no contact), or pass "
                "drop_incomplete=True to drop those units (they are counted in the "
                "result's 'excluded' table)."
            )
        drop = incomplete & keep_unit
        excluded_rows.append(("not observed in every period (unbalanced)", n_inc,
                              int(obs_per_unit[drop].sum())))
        keep_unit &= ~incomplete

    if not keep_unit.all():
        row_keep = keep_unit[uidx]
        new_code = np.cumsum(keep_unit) - 1
        uidx = new_code[uidx[row_keep]]
        tidx = tidx[row_keep]
        y = y[row_keep]
        x = x[row_keep] if x is not None else None
        ulabels = ulabels[keep_unit]
        gidx = gidx[keep_unit]
        if cl is not None:
            cl = pd.factorize(cl[keep_unit], sort=True)[0].astype(np.int64)
        if len(ulabels) == 0:
            raise InputError(f"{design}: no units are left after the exclusions "
                             f"({'; '.join(r[0] for r in excluded_rows)}).")
        # periods may now be unobserved
    periods_index = pd.Index(periods_sorted)
    if kind == "datetime":
        periods_index = pd.DatetimeIndex(periods_sorted)
    return Panel(
        unit_labels=np.asarray(ulabels), periods=periods_index, unit_idx=uidx,
        time_idx=tidx, y=y, gidx=gidx, x=x, covariates=covs, cluster=cl,
        cluster_name=cluster if cl is not None else unit,
        excluded=_excluded_frame(excluded_rows), notes=notes, period_kind=kind,
        period_unit=period_unit, outcome=measure or outcome, unit_name=unit,
    )


def _merge_starts(df: pd.DataFrame, starts: pd.DataFrame | pd.Series, unit: str,
                  first_treat: str) -> pd.DataFrame:
    if isinstance(starts, pd.Series):
        st = starts.rename(first_treat).rename_axis(unit).reset_index()
    elif isinstance(starts, pd.DataFrame):
        if unit not in starts.columns or first_treat not in starts.columns:
            raise InputError(
                f"starts= must have columns {unit!r} and {first_treat!r} (e.g. the people or "
                f"areas table); it has {', '.join(map(str, starts.columns[:12]))}."
            )
        st = starts[[unit, first_treat]]
    else:
        raise InputError("starts= must be a DataFrame (unit and start columns) or a Series "
                         f"indexed by unit; got {type(starts).__name__}.")
    if st[unit].duplicated().any():
        raise InputError(f"starts= has more than one row for some {unit!r} values; give one "
                         "start per unit.")
    if first_treat in df.columns:
        raise InputError(f"The data already has a {first_treat!r} column; drop it or do not "
                         "pass starts=.")
    absent = ~df[unit].isin(st[unit]).to_numpy()
    if absent.any():
        ex = df[unit].to_numpy()[absent][0]
        raise InputError(
            f"{int(pd.unique(df[unit].to_numpy()[absent]).size)} units in the data are not in "
            f"starts= (e.g. {unit}={ex!r}). Give every unit a row in starts=, with an empty "
            f"{first_treat!r} for units never treated."
        )
    return df.merge(st, on=unit, how="left", validate="many_to_one")
