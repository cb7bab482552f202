"""Turn a :class:`~evalkit.place.Place` into the inputs each evaluation design needs.

:func:`prepare_person_panel` builds the balanced person-month panel every
difference-in-differences design uses: one row per person in scope, per
period and per outcome measure, with each person's first treated period taken
from :meth:`Place.pilot_starts <evalkit.place.Place.pilot_starts>`.
:func:`person_cross_section` turns it into one row per person (pre- and
post-period outcome means around each person's start, baseline covariates) for
the matching and weighting designs, and :func:`area_panel` aggregates outcomes
to area-month rates per 1,000 people in scope for the place-level designs
(synthetic control, interrupted time series).

Every person, row or area set aside is counted with its reason in an
``excluded`` table (``stage, reason, measure, units, rows``); nothing is
dropped silently.

Starts and periods
    The first treated period of a person is the period **containing** their
    pilot start date, so a partly exposed period counts as treated, never as
    pre-treatment (as in :mod:`evalkit.evaluate.staggered`). People who start
    in the first period (or before it) have no pre-period and are excluded;
    people whose start is after the last period are "not treated within the
    window" and are comparison people throughout.

Examples
--------
>>> from evalkit.synthetic import make_place
>>> place, truth = make_place(n_people=1500, seed=2, validate=False)
>>> panel = prepare_person_panel(place, ["ae_attendances"])
>>> panel.n_people == panel.Y["ae_attendances"].shape[0], panel.n_periods
(True, 48)
>>> cs = person_cross_section(panel, "ae_attendances", seed=1)
>>> int(cs["treated"].sum()) == panel.n_treated
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = [
    "NEVER",
    "PersonPanel",
    "prepare_person_panel",
    "person_cross_section",
    "area_panel",
    "AreaPanel",
    "MIN_TREATED",
    "MIN_COMPARISON",
    "MIN_AREA_PEOPLE",
]

#: Period index of people never treated within the panel window.
NEVER: int = 10**9
#: Fewest treated people (with a pre-period) evaluate_place accepts.
MIN_TREATED: int = 20
#: Fewest comparison people evaluate_place accepts.
MIN_COMPARISON: int = 20
#: Areas with fewer people in scope than this are left out of the area panel.
MIN_AREA_PEOPLE: int = 20

_EXCLUDED_COLUMNS = ["stage", "reason", "measure", "units", "rows"]


def _excl(stage: str, reason: str, units: int, rows: int = 0, measure: str = "all"
          ) -> dict[str, Any]:
    return {"stage": stage, "reason": reason, "measure": measure, "units": int(units),
            "rows": int(rows)}


def excluded_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The ``excluded`` table (``stage, reason, measure, units, rows``)."""
    df = pd.DataFrame(list(rows), columns=_EXCLUDED_COLUMNS)
    return df.astype({"units": "int64", "rows": "int64"})


@dataclass
class PersonPanel:
    """A balanced person-period panel of several outcome measures.

    Attributes
    ----------
    person_ids : ndarray
        ``(n,)`` person identifiers, sorted.
    areas : ndarray
        ``(n,)`` each person's area (``None`` when people has no area).
    periods : DatetimeIndex
        ``(T,)`` the periods, in time order.
    G : ndarray
        ``(n,)`` index of each person's first treated period; :data:`NEVER`
        for people not treated within the panel.
    Y : dict of ndarray
        Measure -> ``(n, T)`` outcome values.
    covariates : DataFrame
        Baseline covariates of the ``n`` people (index ``person_id``).
    excluded : DataFrame
        Everything set aside, with reasons (``stage, reason, measure, units, rows``).
    notes : list of str
        Recodings and fills the analyst should know about.
    period_unit : str
        ``"month"`` or ``"year"`` (for labels).
    """

    person_ids: np.ndarray
    areas: np.ndarray
    periods: pd.DatetimeIndex
    G: np.ndarray
    Y: dict[str, np.ndarray]
    covariates: pd.DataFrame
    excluded: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    period_unit: str = "month"

    @property
    def n_people(self) -> int:
        return int(self.person_ids.shape[0])

    @property
    def n_periods(self) -> int:
        return int(len(self.periods))

    @property
    def treated(self) -> np.ndarray:
        """``(n,)`` True for people treated within the panel."""
        return self.G < NEVER

    @property
    def n_treated(self) -> int:
        return int(self.treated.sum())

    @property
    def n_never(self) -> int:
        return int((~self.treated).sum())

    @property
    def measures(self) -> list[str]:
        return list(self.Y)

    def start_dates(self) -> np.ndarray:
        """``(n,)`` first treated period as a date (NaT if never)."""
        out = np.full(self.n_people, np.datetime64("NaT"), dtype="datetime64[ns]")
        t = self.treated
        out[t] = self.periods.to_numpy()[self.G[t]]
        return out

    def long(self, measure: str) -> pd.DataFrame:
        """One measure as a long panel: ``person_id, area, period, value, pilot_start``.

        ``pilot_start`` is the first treated period (NaT if never), the form the
        difference-in-differences designs take.
        """
        if measure not in self.Y:
            raise InputError(f"The panel has no measure {measure!r}; it has: "
                             f"{', '.join(self.Y)}.")
        n, T = self.n_people, self.n_periods
        return pd.DataFrame({
            "person_id": np.repeat(self.person_ids, T),
            "area": np.repeat(self.areas, T),
            "period": np.tile(self.periods.to_numpy(), n),
            "value": self.Y[measure].ravel(),
            "pilot_start": np.repeat(self.start_dates(), T),
        })

    def treated_means(self, measure: str) -> dict[str, float]:
        """Treated people's observed means before and after their start.

        Returns ``pre_mean`` (over each treated person's months before their
        start), ``post_mean`` (over their months from the start on) and the
        person-month counts, the figures a percentage change and an E-value
        are computed from.
        """
        Y = self.Y[measure]
        t = self.treated
        G = self.G[t]
        Yt = Y[t]
        cols = np.arange(self.n_periods)[None, :]
        post = cols >= G[:, None]
        n_post = int(post.sum())
        n_pre = int((~post).sum())
        return {
            "pre_mean": float(Yt[~post].mean()) if n_pre else float("nan"),
            "post_mean": float(Yt[post].mean()) if n_post else float("nan"),
            "pre_person_periods": n_pre,
            "post_person_periods": n_post,
        }


def _as_month_starts(values: pd.Series) -> pd.Series:
    s = pd.to_datetime(values)
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_localize(None)
    return s.astype("datetime64[ns]")


def prepare_person_panel(place: Any, measures: Sequence[str] | None = None, *,
                         missing: str = "drop", covariates: Sequence[str] | None = None,
                         min_treated: int = MIN_TREATED) -> PersonPanel:
    """Build the balanced person-period panel of ``measures`` from a place.

    Parameters
    ----------
    place : Place
        A validated place with ``people`` and ``outcomes`` tables.
    measures : list of str, optional
        Outcome measures (default: every measure in the outcomes table).
    missing : {"drop", "zero"}
        A person without a row for some period and measure is left out
        (``"drop"``, counted in ``excluded``), or the missing value is taken
        as 0 (``"zero"``: right when the table only records periods with
        events).
    covariates : list of str, optional
        People columns to carry as baseline covariates (default:
        ``settings.evaluation.covariates``).
    min_treated : int
        Fewest treated people (with a pre-period) accepted.

    Raises
    ------
    InputError
        No outcomes table, unknown measures or covariates, fewer than two
        periods, no pre-period, or fewer than ``min_treated`` treated people.
    """
    if missing not in ("drop", "zero"):
        raise InputError(f"missing must be 'drop' or 'zero'; got {missing!r}.")
    name = getattr(place, "name", "the place")
    out = place.outcomes
    if out is None:
        raise InputError(
            f"Place {name!r} has no outcomes table, so there is nothing to evaluate. Add the "
            "person-level outcome panel (person_id, period, measure, value) under "
            "'data: outcomes:' in place.yml (template: data/templates/outcomes.csv).")
    if len(out) == 0:
        raise InputError(f"Place {name!r}: the outcomes table has no rows. Fill in the "
                         "person-level outcome panel (person_id, period, measure, value).")
    people = place.table("people")
    ev = place.settings.evaluation
    available = sorted(pd.unique(out["measure"]).tolist())
    if measures is None:
        measures = available
    measures = list(dict.fromkeys(measures))
    unknown = [m for m in measures if m not in available]
    if unknown:
        raise InputError(f"Outcome measure(s) {unknown} are not in the outcomes table; it has: "
                         f"{', '.join(available)}. Check evaluation.outcomes and "
                         "evaluation.placebo_outcomes in place.yml.")
    covs = list(ev.covariates if covariates is None else covariates)
    bad_cov = [c for c in covs if c not in people.columns]
    if bad_cov:
        raise InputError(f"Covariate(s) {bad_cov} (evaluation.covariates) are not columns of the "
                         f"people table; it has: {', '.join(map(str, people.columns))}.")
    excluded: list[dict[str, Any]] = []
    notes: list[str] = []

    rows = out.loc[out["measure"].isin(measures), ["person_id", "period", "measure", "value"]]
    period = _as_month_starts(rows["period"])
    keep = np.ones(len(rows), dtype=bool)
    if ev.study_start is not None:
        early = (period < pd.Timestamp(ev.study_start)).to_numpy()
        if early.any():
            excluded.append(_excl("study window", f"period before evaluation.study_start "
                                  f"({ev.study_start})", 0, int(early.sum())))
        keep &= ~early
    if ev.study_end is not None:
        late = (period > pd.Timestamp(ev.study_end)).to_numpy()
        if late.any():
            excluded.append(_excl("study window", f"period after evaluation.study_end "
                                  f"({ev.study_end})", 0, int(late.sum())))
        keep &= ~late

    # people out of scope
    in_scope = np.ones(len(people), dtype=bool)
    if "in_scope" in people.columns:
        in_scope = people["in_scope"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    oos_ids = people["person_id"].to_numpy()[~in_scope]
    if len(oos_ids):
        oos_rows = rows["person_id"].isin(oos_ids).to_numpy() & keep
        excluded.append(_excl("people", "not in scope of the services studied "
                              "(people.in_scope is no)", len(oos_ids), int(oos_rows.sum())))
        keep &= ~oos_rows
    rows = rows.loc[keep]
    period = period[keep]
    if len(rows) == 0:
        raise InputError(f"Place {name!r}: no outcome rows are left for {', '.join(measures)} "
                         "after the study window and scope exclusions (see excluded).")

    scope_ids = people["person_id"].to_numpy()[in_scope]
    pid, ids = pd.factorize(rows["person_id"], sort=True)
    n_no_rows = int(len(scope_ids) - pd.Index(ids).isin(scope_ids).sum())
    if n_no_rows:
        excluded.append(_excl("people", "no outcome rows for the measures analysed",
                              n_no_rows, 0))

    periods = pd.DatetimeIndex(np.sort(pd.unique(period.to_numpy())))
    T = len(periods)
    if T < 2:
        raise InputError(f"Place {name!r}: the outcomes have {T} period; evaluation needs "
                         "periods before and after the pilot started.")
    ids = np.asarray(ids, dtype=object)
    n = len(ids)
    tix = periods.get_indexer(period.to_numpy())
    mix = pd.Categorical(rows["measure"], categories=measures).codes.astype(np.int64)
    M = len(measures)
    key = (pid.astype(np.int64) * T + tix) * M + mix
    cnt = np.bincount(key, minlength=n * T * M)
    if (cnt > 1).any():
        k0 = int(np.flatnonzero(cnt > 1)[0])
        raise InputError(
            f"The outcomes table has {int((cnt > 1).sum())} person-period-measure rows more "
            f"than once (e.g. person_id={ids[k0 // (T * M)]!r}, period "
            f"{periods[(k0 // M) % T]:%Y-%m-%d}, measure {measures[k0 % M]!r}). Give one row "
            "per person, period and measure.")
    vals = rows["value"].to_numpy(dtype="float64")
    if not np.all(np.isfinite(vals)):
        raise InputError("The outcomes table has missing or infinite values in 'value'; "
                         "evalkit does not impute: fill them in or remove those rows.")
    full = np.full(n * T * M, np.nan)
    full[key] = vals
    full = full.reshape(n, T, M)
    holes = np.isnan(full)
    incomplete = holes.any(axis=(1, 2))
    if incomplete.any():
        if missing == "drop":
            n_inc = int(incomplete.sum())
            excluded.append(_excl(
                "people", "not observed in every period for every measure (pass missing='zero' "
                "if a missing row means no events)", n_inc,
                int((~holes[incomplete]).sum())))
        else:
            notes.append(f"{int(holes.sum()):,} missing person-period values "
                         f"({int(incomplete.sum()):,} people) were taken as 0 (missing='zero').")
            full = np.where(holes, 0.0, full)
            incomplete = np.zeros(n, dtype=bool)
    keep_p = ~incomplete

    # starts -> first treated period index
    starts = place.pilot_starts()
    st = starts.reindex(ids).to_numpy(dtype="datetime64[ns]")
    G = np.full(n, NEVER, dtype=np.int64)
    has = ~np.isnat(st)
    pv = periods.to_numpy()
    gi = np.searchsorted(pv, st[has], side="right") - 1
    step = np.median(np.diff(pv)) if T > 1 else np.timedelta64(0, "ns")
    after = st[has] >= pv[-1] + step
    gi = np.where(after, NEVER, gi)
    G[has] = gi
    n_after = int((after & keep_p[has]).sum())
    if n_after:
        notes.append(f"{n_after:,} people start after the last period of the outcomes and "
                     "are comparison people throughout (not treated within the window).")
    always = (G <= 0) & keep_p
    n_always = int(always.sum())
    if n_always:
        excluded.append(_excl("people", "started in the first period of the outcomes or "
                              "earlier (no pre-period)", n_always, int(n_always * T * M)))
        keep_p &= ~always

    ids, G, full = ids[keep_p], G[keep_p], full[keep_p]
    n_treated = int((G < NEVER).sum())
    if n_treated == 0 and n_always:
        raise InputError(
            f"Place {name!r}: no pre-period. All {n_always:,} treated people started in the "
            f"first period of the outcomes ({periods[0]:%Y-%m}) or earlier, so nothing shows "
            "what their outcomes were before the pilot. Add outcome periods from before the "
            "pilot started.")
    if n_treated < min_treated:
        raise InputError(
            f"Place {name!r}: fewer than {min_treated} treated people ({n_treated}) have "
            "outcomes before and after their pilot start; too few to estimate an effect. "
            "Check people.pilot_start (or areas.pilot_start), that treated people are in the "
            "outcomes table, and evaluation.study_start/study_end.")

    pe = people.set_index("person_id")
    cov = pe.reindex(ids)[covs].copy() if covs else pd.DataFrame(index=pd.Index(ids))
    cov.index.name = "person_id"
    if "area" in pe.columns:
        areas = pe["area"].reindex(ids).to_numpy(dtype=object)
    else:
        areas = np.full(len(ids), None, dtype=object)
    Y = {m: np.ascontiguousarray(full[:, :, j]) for j, m in enumerate(measures)}
    return PersonPanel(person_ids=ids, areas=areas, periods=periods, G=G, Y=Y, covariates=cov,
                       excluded=excluded_frame(excluded), notes=notes,
                       period_unit=str(ev.period))


def _allocate(counts: np.ndarray, total: int, minimum: int) -> np.ndarray:
    """Split ``total`` items over groups in proportion to ``counts`` (largest
    remainders), giving each group at least ``minimum`` when there are enough."""
    k = len(counts)
    share = counts / counts.sum()
    floor_min = minimum if total >= minimum * k else 0
    rest = total - floor_min * k
    raw = rest * share
    alloc = np.floor(raw).astype(np.int64)
    rem = int(rest - alloc.sum())
    if rem > 0:
        order = np.argsort(-(raw - alloc), kind="stable")
        alloc[order[:rem]] += 1
    return alloc + floor_min


def person_cross_section(panel: PersonPanel, measure: str, *, seed: int | None = 0,
                         min_per_start: int = 2) -> pd.DataFrame:
    """One row per person: outcome means before and after each person's start.

    Treated people's windows are their own: months before their first treated
    period (``pre_mean``) and from it to the end of the panel (``post_mean``).
    Comparison people (never treated within the panel) get a **pseudo-start**:
    they are shared out at random over the treated people's start periods in
    proportion to how many treated people start then (at least
    ``min_per_start`` each when there are enough), and their windows are
    measured around it. Comparing people with the same ``start_period`` thus
    compares the same calendar months, so a comparison within start periods
    (exact matching on ``start_period``, or weighting that balances its
    dummies) removes calendar effects, and ``change = post_mean - pre_mean``
    gives a person-level difference-in-differences. Each comparison person
    appears once, so rows are independent and the designs' standard errors
    apply.

    The effect these rows identify is the ATT **per treated person** (each
    person's mean effect over their months since start, averaged over
    people): Callaway & Sant'Anna's *group* aggregation, not the *simple*
    (person-month) one.

    Parameters
    ----------
    panel : PersonPanel
    measure : str
    seed : int, optional
        Seed for the pseudo-start shares (``numpy.random.default_rng``).
    min_per_start : int
        Fewest comparison people per start period, when there are enough.

    Returns
    -------
    DataFrame
        ``person_id, area, treated, start_period, start_index, pre_mean, post_mean,
        change, pre_periods, post_periods`` and the panel's covariates.
    """
    if measure not in panel.Y:
        raise InputError(f"The panel has no measure {measure!r}; it has: {', '.join(panel.Y)}.")
    Y = panel.Y[measure]
    n, T = Y.shape
    t = panel.treated
    ctrl = np.flatnonzero(~t)
    tr = np.flatnonzero(t)
    if len(ctrl) == 0:
        raise InputError("Every person in the panel is treated within it, so there is no "
                         "never-treated comparison group for a person-level comparison.")
    gs, cnt = np.unique(panel.G[tr], return_counts=True)
    alloc = _allocate(cnt.astype(float), len(ctrl), min_per_start)
    pseudo = np.repeat(gs, alloc)
    rng = np.random.default_rng(seed)
    rng.shuffle(pseudo)
    idx = np.r_[tr, ctrl]
    s = np.r_[panel.G[tr], pseudo].astype(np.int64)
    C = np.concatenate([np.zeros((n, 1)), np.cumsum(Y, axis=1)], axis=1)[idx]
    r = np.arange(len(idx))
    pre_sum = C[r, s]
    pre = pre_sum / s
    post = (C[:, T] - pre_sum) / (T - s)
    pv = panel.periods
    df = pd.DataFrame({
        "person_id": panel.person_ids[idx],
        "area": panel.areas[idx],
        "treated": np.r_[np.ones(len(tr), np.int64), np.zeros(len(ctrl), np.int64)],
        "start_period": pv[s].strftime("%Y-%m"),
        "start_index": s,
        "pre_mean": pre,
        "post_mean": post,
        "change": post - pre,
        "pre_periods": s,
        "post_periods": T - s,
    })
    if panel.covariates.shape[1]:
        cov = panel.covariates.reindex(df["person_id"].to_numpy()).reset_index(drop=True)
        for c in cov.columns:
            df[c] = cov[c].to_numpy()
    return df


@dataclass
class AreaPanel:
    """Area-period rates for the place-level designs (see :func:`area_panel`)."""

    data: pd.DataFrame
    excluded: pd.DataFrame
    source: str


def area_panel(place: Any, panel: PersonPanel, measures: Sequence[str] | None = None, *,
               min_people: int = MIN_AREA_PEOPLE) -> AreaPanel:
    """Area-period outcome rates per 1,000 people in scope, for place-level designs.

    Counts come from ``area_outcomes`` when the place has it (its ``value`` is
    a total over the area's people in scope, as the schema says), otherwise
    from summing the person panel over each area's people. The denominator is
    the number of people in scope in the area: those in the person panel (the
    people analysed) when summing the panel; the people table's in-scope
    residents when using ``area_outcomes``. Areas with fewer than
    ``min_people`` people in scope are left out (a rate from a handful of
    people is noise) and counted in the second return value.

    Returns
    -------
    AreaPanel
        ``data``: the long panel ``area, period, measure, value, people, count,
        pilot_start`` (``value`` = rate per 1,000 people in scope per period;
        ``pilot_start`` = the area's go-live from the areas table, or the
        first start among its people); ``excluded``; ``source`` (where the
        counts came from).
    """
    measures = list(measures or panel.measures)
    excluded: list[dict[str, Any]] = []
    people = place.table("people")
    if "area" not in people.columns or panel.areas is None or all(
            a is None for a in panel.areas):
        raise InputError("An area panel needs people.area (each person's neighbourhood).")
    areas_tab = place.areas
    src = place.area_outcomes
    use_table = src is not None and set(measures) <= set(pd.unique(src["measure"]))
    if use_table:
        in_scope = np.ones(len(people), dtype=bool)
        if "in_scope" in people.columns:
            in_scope = people["in_scope"].astype("boolean").fillna(True).to_numpy(dtype=bool)
        n_people = people.loc[in_scope].groupby("area").size()
        rows = src[src["measure"].isin(measures)].copy()
        rows["period"] = _as_month_starts(rows["period"])
        rows = rows[rows["period"].isin(panel.periods)]
        rows = rows.rename(columns={"value": "count"})
        source = "area_outcomes table"
    else:
        ser = pd.Series(panel.areas)
        n_people = ser.value_counts()
        parts = []
        codes, labels = pd.factorize(ser)
        for m in measures:
            tot = np.zeros((len(labels), panel.n_periods))
            np.add.at(tot, codes, panel.Y[m])
            parts.append(pd.DataFrame({
                "area": np.repeat(np.asarray(labels, dtype=object), panel.n_periods),
                "period": np.tile(panel.periods.to_numpy(), len(labels)),
                "measure": m, "count": tot.ravel()}))
        rows = pd.concat(parts, ignore_index=True)
        source = "person panel summed by area"
    rows["people"] = rows["area"].map(n_people).fillna(0).astype(np.int64)
    small = rows.groupby("area")["people"].first()
    small = small[small < min_people]
    if len(small):
        excluded.append(_excl("areas", f"fewer than {min_people} people in scope (a rate "
                              "from so few people is mostly noise)", len(small),
                              int(rows["area"].isin(small.index).sum())))
        rows = rows[~rows["area"].isin(small.index)]
    rows["value"] = rows["count"] / rows["people"] * 1000.0
    # go-live per area
    if areas_tab is not None and "pilot_start" in areas_tab.columns and \
            areas_tab["pilot_start"].notna().any():
        live = areas_tab.set_index("area")["pilot_start"]
    else:
        starts = pd.Series(panel.start_dates(), index=panel.areas)
        live = starts.groupby(level=0).min()
    rows["pilot_start"] = rows["area"].map(live).astype("datetime64[ns]")
    rows = rows[["area", "period", "measure", "value", "people", "count", "pilot_start"]]
    rows = rows.sort_values(["measure", "area", "period"]).reset_index(drop=True)
    return AreaPanel(rows, excluded_frame(excluded), source)
