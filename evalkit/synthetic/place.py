"""Build a synthetic place: validated tables plus the planted truth.

:func:`make_place` runs the generators (people, pilot, outcomes, events,
money), assembles the tables exactly as :mod:`evalkit.io` types validated
data, and returns a :class:`SyntheticPlace` holding the :class:`~evalkit.place.Place`
and its :class:`~evalkit.synthetic.truth.Truth`. ``SyntheticPlace.write``
saves a place folder (``place.yml``, the tables as CSV or Parquet, and a
``truth/`` folder) that :func:`evalkit.place.load_place` and
``evalkit validate`` read.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from ..errors import InputError
from ..io import RowAccount, RowAccounting, validate_table
from ..place import Place, PlaceSettings
from ..schema import AGE_BANDS, EVENT_TYPES, SEXES, TABLES
from .config import NEEDS, SynthConfig, build_config
from .events import make_events, panel_days
from .money import (
    benefit_map_table,
    organisations_table,
    partners_table,
    programme_table,
    unit_costs_table,
)
from .outcomes import make_outcomes
from .people import make_areas, make_people
from .pilot import assign_pilot
from .risk import CrisisOracle, make_spirals
from .truth import Truth

__all__ = ["make_place", "SyntheticPlace"]

#: Random streams (one child of the seed each; "risk" was added last, so adding
#: it left every other stream's draws unchanged).
_STREAMS = ("areas", "people", "pilot", "outcomes", "events", "risk")


# ----------------------------------------------------------------------------- helpers
def _fixed_ids(prefix: str, n: int, width: int) -> np.ndarray:
    """``prefix`` + zero-padded numbers 1..n as fixed-width bytes (numpy ``S`` array).

    Digits are written four at a time from a 10,000-entry table into a packed
    record array (no Python loop over rows).

    Examples
    --------
    >>> _fixed_ids("P", 3, 7).tolist()
    [b'P0000001', b'P0000002', b'P0000003']
    """
    groups = ([width % 4] if width % 4 else []) + [4] * (width // 4)
    pre = prefix.encode()
    fields = ([("p", f"S{len(pre)}")] if pre else []) + [
        (f"g{i}", f"S{g}") for i, g in enumerate(groups)]
    rec = np.empty(n, dtype=np.dtype(fields))
    if pre:
        rec["p"] = pre
    x = np.arange(1, n + 1, dtype=np.int64)
    for i in reversed(range(len(groups))):
        g = groups[i]
        table = np.array([f"{k:0{g}d}".encode() for k in range(10 ** g)], dtype=f"S{g}")
        rec[f"g{i}"] = table[x % 10 ** g]
        x //= 10 ** g
    return rec.view(f"S{len(pre) + width}")


def _arrow_strings(fixed: np.ndarray) -> pa.Array:
    """Fixed-width bytes (numpy ``S`` array, no trailing NULs) -> Arrow strings."""
    size = fixed.dtype.itemsize
    n = len(fixed)
    small = size * n < 2**31 - 1
    offsets = np.arange(0, size * n + 1, size, dtype=np.int32 if small else np.int64)
    data = np.ascontiguousarray(fixed).view(np.uint8)
    return pa.Array.from_buffers(pa.string() if small else pa.large_string(), n,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    """``prefix`` + zero-padded numbers 1..n as an Arrow string array.

    Examples
    --------
    >>> _ids("E", 2, 8).to_pylist()
    ['E00000001', 'E00000002']
    """
    return _arrow_strings(_fixed_ids(prefix, n, width))


def _str(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    """An Arrow string array as a pandas ``str`` Series (missing = NaN)."""
    return pd.Series(arr, dtype="str")


def _decode(codes: np.ndarray, labels: list[str] | tuple[str, ...]) -> pd.Series:
    """Integer codes -> ``str`` Series of labels (negative code = missing)."""
    codes = np.asarray(codes)
    idx = pa.array(codes.astype(np.int32), mask=codes < 0)
    return _str(pa.array(list(labels), type=pa.string()).take(idx))


def _tiled(labels: list[str], reps: int) -> pd.Series:
    """``labels`` repeated ``reps`` times, as a ``str`` Series, built directly.

    Examples
    --------
    >>> _tiled(["a", "bc"], 2).tolist()
    ['a', 'bc', 'a', 'bc']
    """
    enc = [x.encode() for x in labels]
    lens = np.array([len(x) for x in enc], dtype=np.int64)
    total = int(lens.sum())
    data = np.tile(np.frombuffer(b"".join(enc), dtype=np.uint8), reps)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    small = total * reps < 2**31 - 1
    dt = np.int32 if small else np.int64
    offsets = np.empty(reps * len(enc) + 1, dtype=dt)
    offsets[:-1] = (np.arange(reps, dtype=dt)[:, None] * total + starts[None, :]).ravel()
    offsets[-1] = total * reps
    arr = pa.Array.from_buffers(pa.string() if small else pa.large_string(),
                                reps * len(enc),
                                [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    return _str(arr)


def _month_starts(cfg: SynthConfig) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(cfg.start), periods=cfg.n_months, freq="MS").astype(
        "datetime64[ns]")


def _order(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Schema columns first (in schema order), then extras: as validation returns."""
    spec = [c for c in TABLES[table].names if c in df.columns]
    return df[spec + [c for c in df.columns if c not in spec]]


def _fy_of(d: pd.Timestamp) -> str:
    y = d.year if d.month >= 4 else d.year - 1
    return f"{y}-{(y + 1) % 100:02d}"


# ----------------------------------------------------------------------------- result
@dataclass
class SyntheticPlace:
    """A synthetic place and its planted truth.

    Unpacks as ``place, truth = make_place(...)``.

    Attributes
    ----------
    place : Place
        The tables (validated unless ``validate=False``) and settings.
    truth : Truth
        Every planted quantity.
    config : SynthConfig
        Every parameter used.
    programme : DataFrame
        Running cost and grant by pilot year (also in ``place.settings.programme``).
    timings : dict
        Seconds spent in each generation step.
    """

    place: Place
    truth: Truth
    config: SynthConfig
    programme: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        yield self.place
        yield self.truth

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return self.place.tables

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v):,}" for k, v in self.place.tables.items())
        return f"<SyntheticPlace {self.config.name!r} seed={self.config.seed}: {sizes}>"

    def write(self, folder: str | Path, *, format: Literal["csv", "parquet"] = "csv",
              overwrite: bool = False, truth: bool = True) -> Path:
        """Write a place folder and return the path of its ``place.yml``.

        The folder holds ``place.yml``, one file per table (``people.csv``...),
        and, with ``truth=True``, ``truth/`` (``truth.json`` and detail tables).

        Raises
        ------
        InputError
            If ``format`` is unknown, or the folder already holds a place and
            ``overwrite`` is false.
        """
        if format not in ("csv", "parquet"):
            raise InputError(f"format must be 'csv' or 'parquet', got {format!r}.")
        folder = Path(folder)
        if (folder / "place.yml").exists() and not overwrite:
            raise InputError(f"{folder} already holds a place (place.yml); choose another "
                             "folder or pass overwrite=True (--overwrite).")
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{folder} is a file, not a folder.")
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, df in self.place.tables.items():
            fname = f"{name}.{format}"
            _write_table(df, folder / fname, format)
            files[name] = fname
        data = self.place.settings.model_dump(mode="json", exclude_none=True)
        data["data"] = files
        head = (f"# Synthetic place '{self.config.name}' made by evalkit synth "
                f"(seed {self.config.seed}, {self.config.n_people:,} people).\n"
                "# Every number is simulated; the planted truth is in truth/truth.json.\n")
        path = folder / "place.yml"
        path.write_text(head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                        encoding="utf-8")
        if truth:
            tdir = folder / "truth"
            if tdir.exists() and overwrite:
                shutil.rmtree(tdir)
            self.truth.write(tdir)
            self.programme.to_csv(tdir / "programme.csv", index=False)
        return path


def _write_table(df: pd.DataFrame, path: Path, format: str) -> None:
    """Write one table with pyarrow (fast for millions of rows)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    df = df.copy(deep=False)
    df.attrs = {}  # validation's row numbers are not file metadata
    table = pa.Table.from_pandas(df, preserve_index=False)
    if format == "parquet":
        pq.write_table(table, path)
        return
    cols = []
    for name in table.column_names:
        col = table[name]
        if pa.types.is_timestamp(col.type):
            s = df[name]
            has_time = bool((s.dropna() != s.dropna().dt.normalize()).any())
            col = col.cast(pa.timestamp("s")) if has_time else col.cast(pa.date32())
        cols.append(col)
    pacsv.write_csv(pa.table(cols, names=table.column_names), path,
                    pacsv.WriteOptions(quoting_style="needed"))


# ----------------------------------------------------------------------------- main
def make_place(
    n_people: int | None = None,
    seed: int | None = None,
    *,
    config: SynthConfig | None = None,
    validate: bool = True,
    progress: bool = False,
    **overrides: Any,
) -> SyntheticPlace:
    """Generate a synthetic place with planted, known effects.

    Parameters
    ----------
    n_people : int, optional
        Residents (default 20,000; 300,000 gives about 14 million events).
    seed : int, optional
        Seed of every random draw (default 20240401). Same seed, same tables.
    config : SynthConfig, optional
        A full configuration; ``n_people``, ``seed`` and ``overrides`` are applied
        on top of it.
    validate : bool
        Run evalkit's validation on the tables (as for user data). ``False`` is
        faster for large places; the tables are built already typed as
        validation would type them.
    progress : bool
        Show a progress bar (stderr).
    **overrides
        Any :class:`SynthConfig` parameter, e.g. ``ramp_months=6``.

    Returns
    -------
    SyntheticPlace
        ``.place`` (a :class:`~evalkit.place.Place`), ``.truth``, ``.config``;
        unpacks as ``place, truth``.

    Raises
    ------
    InputError
        For an unknown or out-of-range parameter.

    Examples
    --------
    >>> from evalkit.synthetic import make_place
    >>> place, truth = make_place(n_people=1000, seed=1, validate=False)
    >>> sorted(place.tables)[:4]
    ['area_outcomes', 'areas', 'benefit_map', 'events']
    >>> truth.att("ae_attendances") < 0
    True
    """
    over = dict(overrides)
    if n_people is not None:
        over["n_people"] = n_people
    if seed is not None:
        over["seed"] = seed
    cfg = build_config(config, **over)
    from tqdm.auto import tqdm

    bar = tqdm(total=7, desc="synthetic place", disable=not progress, leave=False)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def tick(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now
        bar.set_postfix_str(name)
        bar.update(1)

    streams = dict(zip(_STREAMS, np.random.SeedSequence(cfg.seed).spawn(len(_STREAMS))))
    rng = {k: np.random.default_rng(v) for k, v in streams.items()}
    areas = make_areas(cfg, rng["areas"])
    people = make_people(cfg, rng["people"], areas)
    pilot = assign_pilot(cfg, rng["pilot"], areas, people)
    spirals = make_spirals(cfg, rng["risk"], people.in_scope)
    tick("people")
    panel = make_outcomes(cfg, rng["outcomes"], areas, people, pilot, spirals)
    tick("outcomes")
    ev, fd_truth = make_events(cfg, rng["events"], people, pilot, panel, spirals,
                               rng["risk"])
    tick("events")

    months = _month_starts(cfg)
    n_days, _ = panel_days(cfg)
    person_fixed = _fixed_ids("P", people.n, 7)
    pid = _str(_arrow_strings(person_fixed))
    start_dates = pd.Series(np.where(pilot.start_month >= 0,
                                     months.values[np.maximum(pilot.start_month, 0)],
                                     np.datetime64("NaT")), dtype="datetime64[ns]")
    tables: dict[str, pd.DataFrame] = {}
    tables["people"] = pd.DataFrame({
        "person_id": pid,
        "area": _decode(people.area, areas.names),
        "pilot_start": start_dates,
        "in_scope": pd.array(people.in_scope, dtype="boolean"),
        "age_band": _decode(people.age, AGE_BANDS),
        "sex": _decode(people.sex, SEXES),
        "deprivation_decile": pd.array(people.decile.astype(np.int64), dtype="Int64"),
        "prior_service_use": pd.array(people.prior_use.astype(np.int64), dtype="Int64"),
    })
    area_start = pd.Series(np.where(areas.start_month >= 0,
                                    months.values[np.maximum(areas.start_month, 0)],
                                    np.datetime64("NaT")), dtype="datetime64[ns]")
    pop = np.bincount(people.area, minlength=areas.n)
    tables["areas"] = pd.DataFrame({
        "area": pd.Series(areas.names, dtype="str"),
        "area_type": pd.Series(np.where(areas.decile <= 5, "urban", "suburban"), dtype="str"),
        "deprivation_decile": pd.array(areas.decile.astype(np.int64), dtype="Int64"),
        "population": pd.array(pop.astype(np.int64), dtype="Int64"),
        "pilot_start": area_start,
        "pilot_wave": pd.array(areas.wave.astype(np.int64), dtype="Int64"),
    })
    tick("people tables")

    # events
    n_ev = len(ev)
    day0 = np.datetime64(cfg.start, "D")
    tables["events"] = pd.DataFrame({
        "event_id": _str(_ids("E", n_ev, max(8, len(str(n_ev))))),
        "person_id": _str(_arrow_strings(person_fixed[ev.person])),
        "date": pd.Series((day0 + ev.day.astype("timedelta64[D]")).astype("datetime64[ns]")),
        "organisation": _decode(ev.org, ev.organisations),
        "service": _decode(ev.service, ev.services),
        "event_type": _decode(ev.etype, EVENT_TYPES),
        "referred_to": _decode(ev.referred_to, ev.organisations),
        "need": _decode(ev.need, NEEDS),
    })
    tick("event table")

    # outcomes (tidy, sorted by person, period, measure) and area aggregates
    M, n_rows, T = panel.values.shape
    vals = panel.values.transpose(1, 2, 0).ravel()
    row = np.repeat(np.arange(n_rows, dtype=np.int64), T * M)
    tables["outcomes"] = pd.DataFrame({
        "person_id": _str(_arrow_strings(person_fixed[panel.person[row]])),
        "period": pd.Series(np.tile(np.repeat(months.values, M), n_rows)),
        "measure": _tiled(panel.measures, n_rows * T),
        "value": vals.astype(np.float64),
    })
    del row, vals
    area_of_row = people.area[panel.person].astype(np.int64)
    key = (area_of_row[:, None] * T + np.arange(T)[None, :]).ravel()
    agg = np.stack([np.bincount(key, weights=panel.values[k].ravel(),
                                minlength=areas.n * T) for k in range(M)], axis=-1)
    a_idx = np.repeat(np.arange(areas.n), T * M)
    tables["area_outcomes"] = pd.DataFrame({
        "area": _decode(a_idx, areas.names),
        "period": pd.Series(np.tile(np.repeat(months.values, M), areas.n)),
        "measure": _tiled(panel.measures, areas.n * T),
        "value": agg.ravel().astype(np.float64),
    })
    tick("outcome tables")

    # money
    enrolled = pilot.start_month >= 0
    tables["partners"] = partners_table(cfg, person=ev.person, day=ev.day, org=ev.org,
                                        in_scope=people.in_scope, enrolled=enrolled,
                                        n_days=n_days)
    tables["organisations"] = organisations_table(cfg)
    tables["unit_costs"] = unit_costs_table(cfg)
    tables["benefit_map"] = benefit_map_table(cfg)
    programme = programme_table(cfg, start_dates)
    for name in ("areas", "partners", "organisations", "unit_costs", "benefit_map"):
        tables[name] = _typed_small(tables[name], name)
    tables = {name: _order(tables[name], name) for name in TABLES if name in tables}

    settings = _settings(cfg, programme, panel.effects, months, int(enrolled.sum()))
    if validate:
        place = Place.from_tables(tables, settings)
    else:
        raw = dict(settings)
        raw["data"] = {t: f"<{t}>" for t in tables}
        s = PlaceSettings.model_validate(raw)
        acc = RowAccounting([RowAccount(table=t, file=f"<{t} table>", read=len(df))
                             for t, df in tables.items()])
        place = Place(s, tables, acc)
    tick("validation" if validate else "assembly")

    truth = _truth(cfg, areas, people, pilot, panel, fd_truth, months, pid, start_dates,
                   spirals)
    bar.close()
    return SyntheticPlace(place=place, truth=truth, config=cfg, programme=programme,
                          timings=timings)


def _typed_small(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Type a small table exactly as validation does, by validating it (milliseconds)."""
    typed, _ = validate_table(df, table)
    return typed


def _settings(cfg: SynthConfig, programme: pd.DataFrame, effects: pd.DataFrame,
              months: pd.DatetimeIndex, n_enrolled: int) -> dict[str, Any]:
    placebo = effects.loc[effects["placebo"], "measure"].tolist()
    real = effects.loc[~effects["placebo"], "measure"].tolist()
    return {
        "name": cfg.name,
        "description": (
            f"A synthetic place ({cfg.n_people:,} residents, {cfg.n_areas} neighbourhoods, "
            f"{cfg.n_months} months from {cfg.start:%B %Y}) generated by evalkit with seed "
            f"{cfg.seed}. Integrated neighbourhood teams went live in waves, most "
            "deprived neighbourhoods first, and enrolled residents in scope, those in "
            "greatest need first. Every number is simulated with planted effects."),
        "seed": cfg.seed,
        "pilot": {
            "name": "Integrated neighbourhood teams",
            "description": ("A named key worker, one shared assessment and a flexible "
                            "budget for residents known to several services."),
            "unit": "person", "start_source": "people"},
        "evaluation": {
            "outcomes": real, "placebo_outcomes": placebo,
            "covariates": ["age_band", "sex", "deprivation_decile", "prior_service_use"],
            "comparison": "not_yet_treated", "period": "month",
            "study_start": months[0].date(), "study_end": months[-1].date()},
        "waste": {"window_days": cfg.repeat_window_days,
                  "rereferral_days": cfg.rereferral_days},
        "money": {"price_year": cfg.price_year},
        "programme": {
            "first_year": programme["financial_year"].iloc[0],
            "horizon_years": cfg.horizon_years,
            "running_cost": [float(x) for x in programme["running_cost_gbp"]],
            "grant": [float(x) for x in programme["grant_gbp"]],
            "people_per_year": float(n_enrolled)},
        "split": {"driver": "caseload"},
    }


def _truth(cfg, areas, people, pilot, panel, fd, months, pid, start_dates,
           spirals) -> Truth:
    mv = months.values
    gt = panel.by_cohort_period.copy()
    gt["cohort"] = mv[gt["cohort"].to_numpy()]
    gt["period"] = mv[gt["period"].to_numpy()]
    ap = panel.by_area_period.copy()
    ap["area"] = np.asarray(areas.names, dtype=object)[ap["area"].to_numpy()]
    ap["period"] = mv[ap["period"].to_numpy()]
    latent = pd.DataFrame({
        "person_id": pid, "in_scope": people.in_scope, "scope_prob": people.scope_prob,
        "need_index": people.need, "frailty": people.frailty,
        "enrol_prob": pilot.enrol_prob, "propensity": pilot.propensity,
        "treated": pilot.start_month >= 0, "pilot_start": start_dates,
        "spiral_start": _month_dates(spirals.start, months),
        "spiral_end": _month_dates(spirals.end, months, exclusive_end=True)})
    planted = {
        "relative_effects": {o.name: o.relative_effect for o in cfg.outcomes},
        "ramp_months": cfg.ramp_months,
        "ramp": "min(1, (e + 1) / ramp_months) for e = months since start >= 0",
        "pilot_shared_assessment": cfg.pilot_shared_assessment,
        "pilot_reassessment_reduction": cfg.pilot_reassessment_reduction,
        "pilot_decline_reduction": cfg.pilot_decline_reduction,
        "pilot_wait_reduction": cfg.pilot_wait_reduction,
        "repeat_window_days": cfg.repeat_window_days,
        "rereferral_days": cfg.rereferral_days,
        "area_go_live": {n: (str(months[s].date()) if s >= 0 else None)
                         for n, s in zip(areas.names, areas.start_month.tolist())},
        "treated_person_years_post": fd.attrs.get("treated_person_years_post"),
        "risk": {
            "structure": ("spirals: spells of escalating need (more episodes, more declined "
                          "referrals) that multiply crisis outcomes; see "
                          "evalkit.synthetic.risk"),
            "spiral_share": cfg.spiral_share,
            "spiral_months": list(cfg.spiral_months),
            "spiral_episode_mult": cfg.spiral_episode_mult,
            "spiral_decline_mult": cfg.spiral_decline_mult,
            "spiral_crisis_mult": dict(cfg.spiral_crisis_mult),
            "people_with_spiral": int((spirals.start >= 0).sum()),
        },
    }
    rows = panel.person
    names = [o.name for o in cfg.outcomes]
    oracle = CrisisOracle(
        cfg, rows=rows, person_ids=np.asarray(pid)[rows], area=people.area[rows].astype(
            np.int64), start_month=pilot.start_month[rows].astype(np.int64), spirals=spirals,
        lam={m: panel.lam[k] for k, m in enumerate(names)},
        cal={m: panel.calendar[k] for k, m in enumerate(names)}, months=months)
    return Truth(seed=cfg.seed, config=cfg, effects=panel.effects,
                 by_event_time=panel.by_event_time, by_cohort_period=gt,
                 by_area_period=ap, failure_demand=fd, people=latent, planted=planted,
                 oracle=oracle)


def _month_dates(month: np.ndarray, months: pd.DatetimeIndex, *,
                 exclusive_end: bool = False) -> pd.Series:
    """Month indices -> first-of-month dates (NaT for -1); an exclusive end may be
    the month after the panel."""
    ext = months.append(pd.DatetimeIndex([months[-1] + pd.offsets.MonthBegin(1)])) if (
        exclusive_end) else months
    vals = np.where(month >= 0, ext.values[np.maximum(month, 0)], np.datetime64("NaT"))
    return pd.Series(vals, dtype="datetime64[ns]")
