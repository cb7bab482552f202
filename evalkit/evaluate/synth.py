"""Synthetic control for a pilot that covers a whole place.

Abadie, Diamond & Hainmueller (2010) synthetic control: the treated place's
untreated path is estimated by a weighted average of comparison places
("donors") with weights ``W`` that are non-negative and sum to one, chosen so
that the synthetic place matches the treated one on a set of predictors
(covariate means over chosen periods, special predictors, lagged outcomes).
How much each predictor matters is the diagonal matrix ``V``, chosen by nested
optimisation to minimise the pre-period outcome MSPE (as in the R package
``Synth``), or given.

Inference is by placebos in space (each donor treated in turn: post/pre RMSPE
ratios and the permutation p-value), optionally dropping placebos with poor
pre-period fit; placebos in time; and leave-one-out of the top donors. See
``docs/evaluate-synth-its.md`` for the definitions, defaults and sources.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from evalkit.evaluate.synth import SyntheticControl
>>> rng = np.random.default_rng(1)
>>> years = np.arange(2000, 2016)
>>> f = np.cumsum(rng.normal(0, 1, years.size))
>>> rows = [(f"D{i}", y, 10 + i + (1 + 0.1 * i) * f[k] + rng.normal(0, 0.1))
...         for i in range(8) for k, y in enumerate(years)]
>>> rows += [("Pilot", y, 13.5 + 1.35 * f[k] - 3 * (y >= 2012)) for k, y in enumerate(years)]
>>> panel = pd.DataFrame(rows, columns=["area", "period", "value"])
>>> res = SyntheticControl(treated="Pilot", treatment_start=2012, progress=False).fit(panel)
>>> round(res.estimate, 1), round(res.pvalue, 3)  # ranked first of 9: p = 1/9
(-3.0, 0.111)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import InputError
from ._place import (
    Panel,
    PlaceDesign,
    PlaceResult,
    UnitFit,
    _fmt_time,
    _t,
    resolve_periods,
    wide_panel,
)

__all__ = [
    "SyntheticControl",
    "SyntheticControlResult",
    "PlaceResult",
    "Predictor",
    "solve_simplex_weights",
    "wide_panel",
]

#: Nelder-Mead stopping rule for V: simplex within XATOL and loss within FATOL (relative).
XATOL, FATOL = 1e-3, 1e-6

_OPS = {
    "mean": np.mean,
    "median": np.median,
    "sum": np.sum,
    "min": np.min,
    "max": np.max,
}


@dataclass(frozen=True)
class Predictor:
    """One row of the predictor matrix: a variable summarised over some periods.

    Parameters
    ----------
    variable : str
        Column of the panel (a covariate or the outcome itself).
    periods : period, list/range of periods, slice, or None
        Which periods to summarise. ``slice(a, b)`` means every panel period
        from ``a`` to ``b`` inclusive; a list or ``range`` names the periods
        exactly (e.g. ``range(1961, 1970, 2)``). ``None`` uses the design's
        ``predictor_window``.
    op : {"mean", "median", "sum", "min", "max"}
        How to summarise the values (R Synth: ``predictors.op``).
    name : str, optional
        Label in the balance table; by default ``variable`` plus the periods.

    Examples
    --------
    >>> Predictor("popdens", [1969]).op
    'mean'
    """

    variable: str
    periods: Any = None
    op: str = "mean"
    name: str | None = None


def solve_simplex_weights(H: np.ndarray, c: np.ndarray, w0: np.ndarray | None = None,
                          tol: float = 1e-11, max_iter: int | None = None) -> np.ndarray:
    """Minimise ``0.5 w'Hw - c'w`` over the simplex (``w >= 0``, ``sum(w) = 1``).

    A primal active-set method (Lawson & Hanson's NNLS strategy with the
    sum-to-one constraint carried in the equality-constrained subproblems): it
    adds the donor whose Lagrange multiplier is most negative, solves the KKT
    system on the free set, and steps back to the boundary when a weight would
    turn negative. The answer is exact up to rounding (KKT conditions hold to
    ``tol`` relative to the scale of ``H`` and ``c``), which matters because
    synthetic control weights are usually sparse and the published weights are
    checked to two or three decimals. ``w0`` (feasible) warm-starts it.

    Examples
    --------
    >>> import numpy as np
    >>> X0 = np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 0.0]])  # 2 predictors x 3 donors
    >>> x1 = np.array([1.5, 0.5])
    >>> w = solve_simplex_weights(X0.T @ X0, X0.T @ x1)
    >>> np.round(w, 6).tolist()
    [0.0, 0.5, 0.5]
    """
    H = np.asarray(H, dtype=float)
    c = np.asarray(c, dtype=float)
    J = c.size
    if J == 1:
        return np.ones(1)
    scale = max(float(np.abs(H).max(initial=0.0)), float(np.abs(c).max(initial=0.0)), 1e-300)
    dtol = tol * scale
    if w0 is None:
        w = np.zeros(J)
        w[int(np.argmin(0.5 * np.diag(H) - c))] = 1.0
    else:
        w = np.clip(np.asarray(w0, dtype=float), 0.0, None)
        s = w.sum()
        w = w / s if s > 0 else np.full(J, 1.0 / J)
    free = w > 0
    max_iter = max_iter or (10 * J + 100)
    just_added = -1
    for _ in range(max_iter):
        # solve the equality-constrained subproblem on the free set, stepping back as needed
        for _inner in range(J + 1):
            F = np.flatnonzero(free)
            z = _kkt_solve(H[F][:, F], c[F])
            if z.min() > 0:
                w[:] = 0.0
                w[F] = z
                break
            if just_added >= 0 and z[np.searchsorted(F, just_added)] <= 0 and _inner == 0:
                # the entering donor cannot improve (rounding): stop at the current point
                free[just_added] = False
                just_added = -2
                break
            neg = z <= 0
            wF = w[F]
            denom = wF[neg] - z[neg]
            with np.errstate(divide="ignore", invalid="ignore"):
                steps = np.where(denom > 0, wF[neg] / denom, 0.0)
            alpha = float(np.clip(steps.min(), 0.0, 1.0))
            wF = wF + alpha * (z - wF)
            wF[neg & (wF <= 1e-15)] = 0.0
            idx_min = np.flatnonzero(neg)[int(np.argmin(steps))]
            wF[idx_min] = 0.0
            wF = np.clip(wF, 0.0, None)
            w[:] = 0.0
            w[F] = wF
            free = w > 0
            if not free.any():  # pragma: no cover - degenerate
                w[F[0]] = 1.0
                free = w > 0
        if just_added == -2:
            break
        g = H @ w - c
        F = np.flatnonzero(free)
        mu = float(g[F].mean())
        lam = g - mu
        lam[F] = np.inf
        j = int(np.argmin(lam))
        if lam[j] >= -dtol:
            break
        free[j] = True
        just_added = j
    s = w.sum()
    return w / s if s > 0 else w


def _kkt_solve(HF: np.ndarray, cF: np.ndarray) -> np.ndarray:
    """argmin 0.5 z'HFz - cF'z subject to sum(z) = 1 (no sign constraint)."""
    n = cF.size
    if n == 1:
        return np.ones(1)
    K = np.empty((n + 1, n + 1))
    K[:n, :n] = HF
    K[:n, n] = 1.0
    K[n, :n] = 1.0
    K[n, n] = 0.0
    rhs = np.empty(n + 1)
    rhs[:n] = cF
    rhs[n] = 1.0
    try:
        sol = np.linalg.solve(K, rhs)
        if np.all(np.isfinite(sol)) and abs(sol[:n].sum() - 1) < 1e-8:
            return sol[:n]
    except np.linalg.LinAlgError:
        pass
    sol = np.linalg.lstsq(K, rhs, rcond=None)[0]
    return sol[:n]


# ------------------------------------------------------------------ V optimisation

#: Relative ridge that makes W*(V) unique (see _w_for_v).
TIE_RIDGE = 1e-8


def _w_for_v(X0s: np.ndarray, X1s: np.ndarray, v: np.ndarray, w0: np.ndarray | None
             ) -> np.ndarray:
    """W*(V), made unique by a negligible ridge.

    When the treated unit's predictors can be matched exactly by many donor
    mixes (more donors than predictors, treated inside their hull), the W
    problem has a whole face of solutions and W*(V) would depend on where the
    solver started, so the outer V objective would not be a function of V.
    Adding ``TIE_RIDGE * mean(diag H) * |W|^2`` selects the minimum-norm
    (most spread) solution of that face and changes unique solutions only by
    about ``TIE_RIDGE``.
    """
    Xv = X0s * v[:, None]
    H = Xv.T @ X0s
    H[np.diag_indices_from(H)] += TIE_RIDGE * max(float(np.mean(np.diag(H))), 1e-300)
    return solve_simplex_weights(H, Xv.T @ X1s, w0)


def regression_v(X0s: np.ndarray, X1s: np.ndarray, Z0: np.ndarray, Z1: np.ndarray
                 ) -> np.ndarray:
    """R Synth's regression-based starting V.

    Regress every fit-period outcome on the scaled predictors (with an
    intercept) across treated and donors, and set ``v_k`` proportional to the
    sum of squared coefficients of predictor ``k`` (the diagonal of
    ``B B'``). The pseudo-inverse handles more predictors than units.
    """
    Xall = np.column_stack([np.ones(X0s.shape[1] + 1), np.column_stack([X1s, X0s]).T])
    Zall = np.column_stack([Z1, Z0])
    B = np.linalg.pinv(Xall) @ Zall.T
    d = np.sum(B[1:] ** 2, axis=1)
    if not np.all(np.isfinite(d)) or d.sum() <= 0:
        return np.full(X0s.shape[0], 1.0 / X0s.shape[0])
    return d / d.sum()


def optimise_v(X0s: np.ndarray, X1s: np.ndarray, Z0: np.ndarray, Z1: np.ndarray,
               starts: Sequence[str] = ("equal", "regression"),
               maxfev: int | None = None) -> tuple[np.ndarray, np.ndarray, float, pd.DataFrame]:
    """Nested optimisation of V (outer Nelder-Mead, inner exact QP for W).

    The outer objective is the fit-period outcome MSPE of the W that is optimal
    for V, with V parametrised as ``|p| / sum|p|`` (as R Synth does).
    Deterministic starting points:

    * ``"equal"``: every predictor weighted equally (R Synth's first start);
    * ``"regression"``: :func:`regression_v` (R Synth's second start);
    * ``"screen"``: the best of the ``k`` points that put half the weight on
      one predictor and spread the rest equally (finds fits that lean on one
      predictor, which the other two starts can miss).

    Each start is polished by Nelder-Mead (scipy, deterministic simplex; stops
    when the simplex is within ``XATOL`` and the loss, relative to the
    start's, within ``FATOL``) and the lowest loss wins (ties go to the
    earlier start). Returns ``(v, w, loss, table)`` where the table lists each
    start's loss.
    """
    k = X0s.shape[0]
    T = Z0.shape[0]
    state = {"w": None}

    def loss_of(v: np.ndarray) -> tuple[float, np.ndarray]:
        w = _w_for_v(X0s, X1s, v, state["w"])
        state["w"] = w
        r = Z1 - Z0 @ w
        return float(r @ r) / T, w

    if k == 1:
        v = np.ones(1)
        loss, w = loss_of(v)
        return v, w, loss, pd.DataFrame([{"start": "single predictor", "loss": loss}])

    start_points: list[tuple[str, np.ndarray]] = []
    for s in starts:
        if s == "equal":
            start_points.append(("equal", np.full(k, 1.0 / k)))
        elif s == "regression":
            start_points.append(("regression", regression_v(X0s, X1s, Z0, Z1)))
        elif s == "screen":
            best, best_v = math.inf, None
            for j in range(k):
                v = np.full(k, 0.5 / (k - 1))
                v[j] = 0.5
                loss, _ = loss_of(v)
                if loss < best - 1e-15 * max(1.0, abs(best) if best < math.inf else 1.0):
                    best, best_v = loss, v
            start_points.append(("screen", best_v))
        else:
            raise InputError(f"v_starts: unknown start {s!r}; use 'equal', 'regression' and/or "
                             "'screen'.")
    maxfev = maxfev or max(1000, 250 * k)
    rows = []
    best = (math.inf, None, None, "")
    for name, v0 in start_points:
        state["w"] = None
        loss0, _ = loss_of(v0)
        scale = loss0 if loss0 > 0 else 1.0

        def obj(p: np.ndarray, scale: float = scale) -> float:
            a = np.abs(p)
            s = a.sum()
            if not np.isfinite(s) or s <= 0:
                return 1e10
            return loss_of(a / s)[0] / scale

        res = optimize.minimize(obj, v0, method="Nelder-Mead",
                                options={"maxfev": maxfev, "xatol": XATOL, "fatol": FATOL,
                                         "adaptive": k > 4})
        a = np.abs(res.x)
        v = a / a.sum() if a.sum() > 0 else v0
        state["w"] = None
        loss, w = loss_of(v)
        if loss0 <= loss:  # Nelder-Mead never accepted a better point
            v, loss = v0, loss0
            state["w"] = None
            loss, w = loss_of(v)
        rows.append({"start": name, "start_loss": loss0, "loss": loss,
                     "evaluations": int(res.nfev)})
        if loss < best[0] - 1e-12 * max(abs(best[0]) if best[0] < math.inf else 1.0, 1.0):
            best = (loss, v, w, name)
    table = pd.DataFrame(rows)
    table["chosen"] = table["start"] == best[3]
    return best[1], best[2], best[0], table


# ------------------------------------------------------------------------ design

@dataclass
class _SCState:
    panel: Panel
    P: np.ndarray                 # units x k predictor values (raw)
    names: list[str]
    donors: list[Any]
    fit_mask: np.ndarray          # over panel times
    v_fixed: np.ndarray | None
    v_rule: str
    normalize: bool
    warnings: list[str]
    excluded: list[tuple[Any, str]]
    dropped: list[str]
    missing: pd.DataFrame


class SyntheticControl(PlaceDesign):
    """Abadie-Diamond-Hainmueller synthetic control with placebo inference.

    Parameters
    ----------
    treated : hashable
        The pilot place (a value of the ``unit`` column).
    treatment_start : int or date
        First period affected by the pilot. Earlier periods are the pre-period.
    unit, time, outcome : str, default "area", "period", "value"
        Column names of the long panel. Times may be whole numbers (years) or
        dates (monthly Timestamps or strings such as "2021-04-01").
    donors : list, optional
        Comparison places; default every other unit in the data.
    predictors : list of str or Predictor, optional
        Strings are variables averaged (``predictors_op``) over
        ``predictor_window``; :class:`Predictor` objects (or tuples
        ``(variable, periods, op)``) are R Synth's "special predictors".
    predictor_window : periods, optional
        Default periods for string predictors (R ``time.predictors.prior``);
        default every pre-period.
    predictors_op : str, default "mean"
    special_predictors : list of Predictor or tuple, optional
        Added after ``predictors`` (R ``special.predictors``).
    lagged_outcomes : list of periods or "all", optional
        Outcome values in these periods as predictors (``"all"``: every
        fit-period). If no predictors of any kind are given, every fit-period
        outcome is used and W simply minimises the pre-period MSPE (V equal,
        no rescaling).
    fit_window : periods, optional
        Periods whose outcome MSPE V minimises (R ``time.optimize.ssr``);
        default every pre-period. Must lie before ``treatment_start``.
    v : "optimize", "equal", "regression", array, dict or fitted result
        How to choose V: nested optimisation (default when there are
        predictors), equal weights, R Synth's regression-based V, or given
        (an array in predictor order, a dict ``{predictor name: weight}``, or
        the result of another fit whose V is reused by position, as in Abadie,
        Diamond & Hainmueller 2015's cross-validation).
    v_starts : tuple of str, default ("equal", "regression")
        Starting points of the V optimisation (see :func:`optimise_v`): R
        Synth's two by default; add ``"screen"`` for a wider search (it can
        find a lower fit-period MSPE with different weights, e.g. for the
        Basque data; see the method notes).
    v_maxfev : int, optional
        Nelder-Mead evaluations per start (default ``max(1000, 250 k)``).
    normalize : bool, optional
        Divide each predictor by its standard deviation across the treated
        unit and donors before fitting (R Synth). Default True, except for the
        outcome-path-only default.
    missing_predictors : {"error", "available"}, default "error"
        What to do when a predictor has missing values in its window for some
        unit: raise, or summarise the available values (as R Synth does, with
        the gaps listed in the ``predictor_missing`` table). A unit with no
        value at all is an error for the treated unit; such donors are
        excluded (``excluded`` table) when ``missing_donors="drop"``.
    placebo_v : {"optimize", "fixed"}, default "optimize"
        Re-optimise V for every placebo (as in ADH 2010) or reuse the treated
        unit's V (faster). A given V is always reused.
    post_end, placebos, placebo_max_pre_mspe_ratio, placebo_times, leave_one_out,
    alpha, missing_donors, min_pre_periods, progress, n_jobs
        Common to the place designs: last post period to evaluate; run
        placebos in space; drop placebos whose pre-MSPE exceeds this multiple
        of the treated unit's (ADH 2010 use 20, 5 and 2); fake start dates for
        placebos in time; how many top donors to leave out one at a time;
        significance level; ``"drop"`` or ``"error"`` for donors with missing
        outcomes; fewest pre-periods allowed; progress bars; processes for
        the placebo fits (``n_jobs=2`` roughly halves the time on 2 free cores).

    Examples
    --------
    >>> import pandas as pd
    >>> sc = SyntheticControl(treated="Basque", treatment_start=1970, unit="region",
    ...                       time="year", outcome="gdpcap",
    ...                       predictors=["invest"], predictor_window=slice(1964, 1969),
    ...                       special_predictors=[("gdpcap", slice(1960, 1969), "mean")])
    >>> sc.v
    'optimize'
    """

    design_key = "synthetic_control"
    method_name = "Synthetic control (Abadie, Diamond & Hainmueller 2010)"

    def __init__(self, *, treated: Any, treatment_start: Any, unit: str = "area",
                 time: str = "period", outcome: str = "value",
                 donors: Sequence[Any] | None = None,
                 predictors: Sequence[str | Predictor | tuple] | None = None,
                 predictor_window: Any = None, predictors_op: str = "mean",
                 special_predictors: Sequence[Predictor | tuple] | None = None,
                 lagged_outcomes: Sequence[Any] | str | None = None,
                 fit_window: Any = None, v: Any = "optimize",
                 v_starts: Sequence[str] = ("equal", "regression"),
                 v_maxfev: int | None = None, normalize: bool | None = None,
                 missing_predictors: str = "error", placebo_v: str = "optimize",
                 post_end: Any = None, placebos: bool = True,
                 placebo_max_pre_mspe_ratio: float | None = None,
                 placebo_times: Sequence[Any] | None = None, leave_one_out: int = 0,
                 alpha: float = 0.05, missing_donors: str = "drop", min_pre_periods: int = 3,
                 progress: bool = True, n_jobs: int = 1) -> None:
        super().__init__(treated=treated, treatment_start=treatment_start, unit=unit, time=time,
                         outcome=outcome, donors=donors, post_end=post_end, placebos=placebos,
                         placebo_max_pre_mspe_ratio=placebo_max_pre_mspe_ratio,
                         placebo_times=placebo_times, leave_one_out=leave_one_out, alpha=alpha,
                         missing_donors=missing_donors, min_pre_periods=min_pre_periods,
                         progress=progress, n_jobs=n_jobs)
        if predictors_op not in _OPS:
            raise InputError(f"predictors_op={predictors_op!r}: use one of {', '.join(_OPS)}.")
        if missing_predictors not in ("error", "available"):
            raise InputError(f"missing_predictors={missing_predictors!r}: use 'error' or "
                             "'available' (summarise the values that exist, as R Synth does).")
        if placebo_v not in ("optimize", "fixed"):
            raise InputError(f"placebo_v={placebo_v!r}: use 'optimize' or 'fixed'.")
        if isinstance(v, str) and v not in ("optimize", "equal", "regression"):
            raise InputError(f"v={v!r}: use 'optimize', 'equal', 'regression', an array of "
                             "weights, a dict {predictor: weight} or a fitted result.")
        self.predictors = [] if predictors is None else list(predictors)
        self.predictor_window = predictor_window
        self.predictors_op = predictors_op
        self.special_predictors = [] if special_predictors is None else list(special_predictors)
        self.lagged_outcomes = lagged_outcomes
        self.fit_window = fit_window
        self.v = v
        self.v_starts = tuple(v_starts)
        self.v_maxfev = v_maxfev
        self.normalize = normalize
        self.missing_predictors = missing_predictors
        self.placebo_v = placebo_v

    # ------------------------------------------------------------- predictors
    def _specs(self, panel: Panel) -> tuple[list[Predictor], bool]:
        specs: list[Predictor] = []
        for p in self.predictors:
            if isinstance(p, str):
                specs.append(Predictor(p, self.predictor_window, self.predictors_op))
            else:
                specs.append(_as_predictor(p))
        specs += [_as_predictor(p) for p in self.special_predictors]
        lo = self.lagged_outcomes
        outcome_only = not specs and lo is None
        if outcome_only or (isinstance(lo, str) and lo == "all"):
            fit = self._fit_mask(panel)
            specs += [Predictor(panel.outcome, [_t(t)], "mean") for t in panel.times[fit]]
        elif lo is not None:
            if isinstance(lo, str):
                raise InputError(f"lagged_outcomes={lo!r}: give a list of periods or 'all'.")
            per = resolve_periods(lo, panel.times, panel.is_dt, "lagged_outcomes")
            specs += [Predictor(panel.outcome, [_t(t)], "mean") for t in per]
        return specs, outcome_only

    def _fit_mask(self, panel: Panel) -> np.ndarray:
        if self.fit_window is None:
            return panel.pre.copy()
        per = resolve_periods(self.fit_window, panel.times, panel.is_dt, "fit_window")
        mask = np.isin(panel.times, per)
        if (mask & ~panel.pre).any():
            bad = [_fmt_time(_t(t)) for t in panel.times[mask & ~panel.pre]]
            raise InputError(f"fit_window includes period(s) {', '.join(bad[:5])} on or after "
                             f"treatment_start={_fmt_time(panel.treatment_start)}; the fit must "
                             "use pre-pilot periods only.")
        return mask

    def _prepare(self, panel: Panel) -> _SCState:
        df = panel.data
        specs, outcome_only = self._specs(panel)
        fit_mask = self._fit_mask(panel)
        if fit_mask.sum() < 1:
            raise InputError("fit_window selects no pre-period; give at least one period.")
        truncated = panel.real_start is not None
        warnings: list[str] = []
        dropped: list[str] = []
        units = panel.units
        sub = df[df[panel.unit].isin(units)]
        cols = [s.variable for s in specs]
        absent = sorted({c for c in cols if c not in df.columns})
        if absent:
            raise InputError(f"Predictor variable(s) {', '.join(map(repr, absent))} are not "
                             f"columns of the data. Columns: {', '.join(map(str, df.columns))}.")
        rows: list[np.ndarray] = []
        names: list[str] = []
        kept_pos: list[int] = []
        miss_rows: list[dict[str, Any]] = []
        all_times = np.sort(pd.unique(df[panel.time].to_numpy()))
        post_touch: list[str] = []
        for pos, s in enumerate(specs):
            per_spec = s.periods if s.periods is not None else (
                self.predictor_window if self.predictor_window is not None else
                [_t(t) for t in panel.times[panel.pre]])
            per = resolve_periods(per_spec, all_times, panel.is_dt, f"predictor {s.variable!r}")
            name = s.name or _predictor_name(s, per)
            if truncated:
                ts = np.datetime64(panel.treatment_start, "ns") if panel.is_dt else \
                    panel.treatment_start
                per = per[per < ts]
                if per.size == 0:
                    dropped.append(name)
                    continue
            elif (per >= (np.datetime64(panel.treatment_start, "ns") if panel.is_dt
                          else panel.treatment_start)).any():
                post_touch.append(name)
            piv = (sub[sub[panel.time].isin(per)]
                   .pivot(index=panel.unit, columns=panel.time, values=s.variable)
                   .reindex(index=units, columns=per))
            M = piv.to_numpy(dtype=float)
            op = _OPS.get(s.op)
            if op is None:
                raise InputError(f"Predictor {name!r}: op={s.op!r}; use one of {', '.join(_OPS)}.")
            vals = np.full(len(units), np.nan)
            for i in range(len(units)):
                ok = ~np.isnan(M[i])
                if ok.all():
                    vals[i] = op(M[i])
                    continue
                if ok.any():
                    miss_rows.append({"unit": units[i], "predictor": name,
                                      "n_missing": int((~ok).sum()), "n_periods": int(ok.size),
                                      "missing_periods": ", ".join(
                                          _fmt_time(_t(t)) for t in per[~ok])})
                    if self.missing_predictors == "available":
                        vals[i] = op(M[i][ok])
                    else:
                        raise InputError(
                            f"Predictor {name!r} has no {s.variable!r} value for "
                            f"{units[i]!r} in {', '.join(_fmt_time(_t(t)) for t in per[~ok])}. "
                            "Fill the values, change the predictor's periods, or pass "
                            "missing_predictors='available' to average the values that exist "
                            "(as R Synth does).")
            rows.append(vals)
            names.append(name)
            kept_pos.append(pos)
        if post_touch:
            warnings.append(
                f"Predictor window(s) reach the post-period ({', '.join(post_touch[:4])}"
                f"{' ...' if len(post_touch) > 4 else ''}): if the pilot affected them the "
                "synthetic comparison absorbs part of the effect.")
        if not rows:
            raise InputError("No predictors are left (each predictor's periods fall on or after "
                             "the start date). Give predictors measured before the pilot.")
        P = np.column_stack(rows)
        # whole-row missing: treated -> error; donors -> excluded
        excluded: list[tuple[Any, str]] = []
        donors = list(panel.donors)
        if np.isnan(P[0]).any():
            bad = [n for n, m in zip(names, np.isnan(P[0])) if m]
            raise InputError(f"The treated unit {panel.treated!r} has no value at all for "
                             f"predictor(s) {', '.join(map(repr, bad))} in their periods. Fill "
                             "them or choose periods where they are measured.")
        keep = [True]
        for i, d in enumerate(donors, start=1):
            if np.isnan(P[i]).any():
                bad = [n for n, m in zip(names, np.isnan(P[i])) if m]
                reason = f"no value for predictor(s) {', '.join(bad[:4])}"
                if self.missing_donors == "error":
                    raise InputError(f"Donor {d!r} has {reason}. Fill the values, or pass "
                                     "missing_donors='drop' to exclude such donors.")
                excluded.append((d, reason))
                keep.append(False)
            else:
                keep.append(True)
        if excluded:
            keep_idx = np.flatnonzero(keep)
            P = P[keep_idx]
            panel.Y = panel.Y[keep_idx]
            panel.units = [panel.units[i] for i in keep_idx]
            donors = panel.units[1:]
            panel.donors = donors
            if len(donors) < 2:
                raise InputError("Fewer than 2 donors have every predictor; add donors or "
                                 "drop predictors with gaps.")
        normalize = (not outcome_only) if self.normalize is None else bool(self.normalize)
        v_fixed, v_rule = self._resolve_v(names, outcome_only, kept_pos, len(specs))
        miss = pd.DataFrame(miss_rows, columns=["unit", "predictor", "n_missing", "n_periods",
                                                "missing_periods"])
        if len(miss) and self.missing_predictors == "available":
            warnings.append(f"{len(miss)} predictor value(s) averaged over the available periods "
                            "only; see the 'predictor_missing' table.")
        return _SCState(panel=panel, P=P, names=names, donors=donors, fit_mask=fit_mask,
                        v_fixed=v_fixed, v_rule=v_rule, normalize=normalize, warnings=warnings,
                        excluded=excluded, dropped=dropped, missing=miss)

    def _resolve_v(self, names: list[str], outcome_only: bool, kept_pos: list[int],
                   n_specs: int) -> tuple[np.ndarray | None, str]:
        v = self.v
        k = len(names)
        if isinstance(v, PlaceResult):
            st = v.extra.get("state")
            vv = v.tables.get("v_weights")
            if vv is None or st is None:
                raise InputError("v=<result>: that result has no V weights (it is not a "
                                 "synthetic control fit with predictors).")
            arr = vv["v"].to_numpy(dtype=float)
            if arr.size != n_specs:
                raise InputError(f"v=<result>: it has {arr.size} predictor weights but this "
                                 f"design has {n_specs}; the predictors must correspond by "
                                 "position.")
            return _norm_v(arr[kept_pos]), "given (from another fit)"
        if isinstance(v, Mapping):
            unknown = sorted(set(v) - set(names)) if len(kept_pos) == n_specs else []
            if unknown or set(names) - set(v):
                raise InputError(f"v dict must name every predictor exactly: unknown "
                                 f"{unknown[:5]}, missing {sorted(set(names) - set(v))[:5]}.")
            return _norm_v(np.array([v[n] for n in names], dtype=float)), "given"
        if not isinstance(v, str):
            arr = np.asarray(v, dtype=float).ravel()
            if arr.size != n_specs:
                raise InputError(f"v has {arr.size} weights but there are {n_specs} predictors "
                                 f"({', '.join(names[:6])}{' ...' if k > 6 else ''}).")
            if not np.all(np.isfinite(arr)) or (arr < 0).any() or arr.sum() <= 0:
                raise InputError("v must be non-negative numbers that are not all zero.")
            return _norm_v(arr[kept_pos]), "given"
        if v == "equal" or (outcome_only and v == "optimize"):
            return np.full(k, 1.0 / k), "equal"
        return None, v

    # ------------------------------------------------------------------ fit
    def _fit_unit(self, state: _SCState, treated: Any, donors: list[Any], role: str
                  ) -> UnitFit:
        panel = state.panel
        ti = panel.index(treated)
        di = [panel.index(d) for d in donors]
        X1 = state.P[ti]
        X0 = state.P[di].T
        if state.normalize:
            allx = np.column_stack([X0, X1])
            sd = allx.std(axis=1, ddof=1)
            sd[~(sd > 0)] = 1.0
        else:
            sd = np.ones(X1.size)
        X0s, X1s = X0 / sd[:, None], X1 / sd
        Z0 = panel.Y[di][:, state.fit_mask].T
        Z1 = panel.Y[ti][state.fit_mask]
        table = None
        if state.v_fixed is not None:
            v = state.v_fixed
            w = _w_for_v(X0s, X1s, v, None)
        elif role in ("placebo",) and self.placebo_v == "fixed":
            v = state.extras_v if hasattr(state, "extras_v") else None
            if v is None:  # pragma: no cover - main always runs first
                v = np.full(X1.size, 1.0 / X1.size)
            w = _w_for_v(X0s, X1s, v, None)
        elif state.v_rule == "regression":
            v = regression_v(X0s, X1s, Z0, Z1)
            w = _w_for_v(X0s, X1s, v, None)
        else:
            v, w, _, table = optimise_v(X0s, X1s, Z0, Z1, self.v_starts, self.v_maxfev)
        if role == "main":
            state.extras_v = v  # type: ignore[attr-defined]
        synthetic = panel.Y[di].T @ w
        r = Z1 - Z0 @ w
        loss_v = float(r @ r) / max(Z1.size, 1)
        dx = X1s - X0s @ w
        loss_w = float(dx @ (v * dx))
        return UnitFit(weights=w, synthetic=synthetic,
                       extras={"v": v, "sd": sd, "X1": X1, "X0": X0, "loss_v": loss_v,
                               "loss_w": loss_w, "starts": table})

    def _design_tables(self, state: _SCState, fit: UnitFit, panel: Panel
                       ) -> dict[str, pd.DataFrame]:
        e = fit.extras
        X0, X1 = e["X0"], e["X1"]
        out = {
            "v_weights": pd.DataFrame({"predictor": state.names, "v": e["v"]}),
            "balance": pd.DataFrame({"treated": X1, "synthetic": X0 @ fit.weights,
                                     "donor_mean": X0.mean(axis=1), "v": e["v"]},
                                    index=pd.Index(state.names, name="predictor")),
        }
        if e["starts"] is not None:
            out["v_search"] = e["starts"]
        if len(state.missing):
            out["predictor_missing"] = state.missing
        return out

    def _design_diagnostics(self, state: _SCState, fit: UnitFit) -> dict[str, Any]:
        return {"v_method": state.v_rule,
                "fit_mspe": fit.extras["loss_v"],
                "predictor_loss": fit.extras["loss_w"],
                "n_predictors": len(state.names)}

    result_class = None  # set below


class SyntheticControlResult(PlaceResult):
    """Result of :class:`SyntheticControl`; see :class:`PlaceResult`."""

    @property
    def weights(self) -> pd.Series:
        """Donor weights as a Series indexed by donor (sorted, largest first)."""
        w = self.tables["weights"]
        return pd.Series(w["weight"].to_numpy(), index=w["donor"], name="weight")

    @property
    def v_weights(self) -> pd.Series:
        """Predictor importance (diagonal of V) as a Series indexed by predictor."""
        v = self.tables["v_weights"]
        return pd.Series(v["v"].to_numpy(), index=v["predictor"], name="v")


SyntheticControl.result_class = SyntheticControlResult


def _norm_v(arr: np.ndarray) -> np.ndarray:
    a = np.abs(np.asarray(arr, dtype=float))
    return a / a.sum()


def _as_predictor(p: Any) -> Predictor:
    if isinstance(p, Predictor):
        return p
    if isinstance(p, tuple) and 1 <= len(p) <= 4:
        return Predictor(*p)
    raise InputError(f"Predictor {p!r}: give a column name, a Predictor(variable, periods, op) "
                     "or a tuple (variable, periods, op).")


def _predictor_name(s: Predictor, per: np.ndarray) -> str:
    labels = [_fmt_time(_t(t)) for t in per]
    if len(labels) == 1:
        span = labels[0]
    elif len(labels) > 2 and _is_contiguous(per):
        span = f"{labels[0]}-{labels[-1]}"
    else:
        span = ", ".join(labels) if len(labels) <= 4 else f"{labels[0]}...{labels[-1]}"
    op = "" if s.op == "mean" or len(labels) == 1 else f"{s.op} "
    return f"{s.variable} ({op}{span})"


def _is_contiguous(per: np.ndarray) -> bool:
    if np.issubdtype(per.dtype, np.integer):
        return bool(np.all(np.diff(per) == 1))
    return False
