"""A place: its settings (``place.yml``) and its validated tables.

``place.yml`` names the data files and every setting an analysis needs. It
is read into :class:`PlaceSettings` (a pydantic model: unknown or misspelt
keys are errors that name the key), the files are read and validated by
:mod:`evalkit.io`, and the result is a :class:`Place`.

Example
-------
>>> import pandas as pd
>>> from evalkit.place import Place
>>> place = Place.from_tables({
...     "people": pd.DataFrame({"person_id": ["P1", "P2"], "area": ["A", "B"]}),
...     "partners": pd.DataFrame({"partner": ["Council", "NHS"]}),
... }, name="Tiny")
>>> place.name, len(place.people)
('Tiny', 2)
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from .errors import ConfigError, InputError
from .io import RowAccounting, file_sha256, normalise_financial_year, validate_tables
from .schema import EVENT_TYPES, TABLES

__all__ = [
    "PlaceSettings",
    "DataFiles",
    "Place",
    "load_place",
    "load_settings",
    "SourceFile",
]


def _financial_year(v: str, example: str) -> str:
    """A financial year in evalkit's form (2024-25), for a settings validator."""
    fy = normalise_financial_year(v)
    if fy is None:
        raise ValueError(f"must be a financial year such as {example}")
    return fy


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataFiles(_Model):
    """Where each table's file is, relative to the folder holding place.yml.

    A workbook sheet is named as ``inputs.xlsx#people``; ``inputs.xlsx`` alone
    uses the sheet named like the table. ``people`` and ``partners`` are
    required; leave ``unit_costs`` out to use evalkit's shipped, sourced table.
    """

    people: str
    partners: str
    events: str | None = None
    outcomes: str | None = None
    area_outcomes: str | None = None
    areas: str | None = None
    unit_costs: str | None = None
    organisations: str | None = None
    benefit_map: str | None = None


class EventSettings(_Model):
    """How to read the event log."""

    event_type_map: dict[str, str] = Field(
        default_factory=dict,
        description="Local event-type codes -> evalkit's standard event types.",
    )

    @field_validator("event_type_map")
    @classmethod
    def _known_targets(cls, v: dict[str, str]) -> dict[str, str]:
        bad = {k: t for k, t in v.items() if t not in EVENT_TYPES}
        if bad:
            raise ValueError(
                "maps to unknown event types "
                + ", ".join(f"{k!r} -> {t!r}" for k, t in bad.items())
                + f"; map each local code to one of: {', '.join(EVENT_TYPES)}"
            )
        return v


class PilotSettings(_Model):
    """What the pilot is, in words a commissioner reads in the report."""

    name: str = "the pilot"
    description: str = ""
    unit: Literal["person", "area"] = Field(
        "area", description="Whether the pilot was rolled out to areas or enrolled people.")
    start_source: Literal["auto", "people", "areas"] = Field(
        "auto", description="Where pilot start dates come from: people.pilot_start, "
        "areas.pilot_start, or auto (people if filled in, else areas).")


class EvaluationSettings(_Model):
    """Which outcomes to evaluate and how."""

    outcomes: list[str] = Field(default_factory=list,
                                description="Outcome measures to evaluate (empty = all).")
    placebo_outcomes: list[str] = Field(
        default_factory=list, description="Measures the pilot should not change (a check).")
    covariates: list[str] = Field(default_factory=list,
                                  description="People columns used to adjust comparisons.")
    comparison: Literal["never_treated", "not_yet_treated"] = "not_yet_treated"
    period: Literal["month", "year"] = "month"
    alpha: float = Field(0.05, gt=0, lt=1)
    bootstrap: int = Field(499, ge=0)
    study_start: _dt.date | None = None
    study_end: _dt.date | None = None


class WasteSettings(_Model):
    """Failure-demand windows (see evalkit.waste for the definitions)."""

    window_days: int = Field(90, ge=0, description="Repeat-assessment window.")
    rereferral_days: int = Field(30, ge=0, description="Bounced-referral window.")
    front_door_days: int = Field(365, ge=1, description="Rolling window for front doors.")
    avoidable_share: dict[str, float] = Field(
        default_factory=dict, description="Failure-demand category -> avoidable share (0-1).")

    @field_validator("avoidable_share")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: s for k, s in v.items() if not 0 <= s <= 1}
        if bad:
            raise ValueError(f"shares must be between 0 and 1, got {bad}")
        return v


class MoneySettings(_Model):
    """Green Book appraisal settings (see evalkit.money)."""

    price_year: str = Field("2024-25", description="Financial year prices are expressed in.")
    discount_rate: float | None = Field(
        None, ge=0, lt=1,
        description="A flat rate for sensitivity; empty = the Green Book schedule.")
    optimism_bias_costs: float = Field(0.0, ge=0, description="Uplift on costs (e.g. 0.24).")
    optimism_bias_benefits: float = Field(0.0, ge=0, le=1,
                                          description="Haircut on benefits (0-1).")
    deadweight: float = Field(0.0, ge=0, le=1,
                              description="Share of the change that would have happened anyway.")
    attribution: float = Field(1.0, ge=0, le=1,
                               description="Share of the change due to this pilot.")
    drop_off: float = Field(0.0, ge=0, le=1,
                            description="Benefit decay per year after the intervention.")
    ramp_up: list[float] = Field(default_factory=list,
                                 description="Share of full benefit in years 1, 2... (then 1).")

    @field_validator("price_year")
    @classmethod
    def _fy(cls, v: str) -> str:
        return _financial_year(v, "2024-25")


class ProgrammeSettings(_Model):
    """The pilot's running costs and central grant, by financial year."""

    first_year: str = Field(..., description="First financial year modelled, e.g. 2025-26.")
    horizon_years: int = Field(10, ge=1, le=100)
    running_cost: float | list[float] = Field(
        ..., description="Running cost per year (one figure, or one per year) in pounds.")
    cost_inflation: float = Field(0.0, ge=-0.5, le=1.0)
    transition_costs: list[float] = Field(default_factory=list,
                                          description="One-off costs in years 0, 1...")
    grant: list[float] = Field(default_factory=list,
                               description="Central grant per year in pounds (then 0).")
    people_per_year: float | None = Field(
        None, ge=0, description="People the pilot serves a year (empty = from the data).")

    @field_validator("first_year")
    @classmethod
    def _fy(cls, v: str) -> str:
        return _financial_year(v, "2025-26")


class SplitSettings(_Model):
    """Cost-split rules to compare (see evalkit.split)."""

    rules: list[str] = Field(
        default_factory=lambda: ["equal", "proportional", "beneficiary_pays", "shapley",
                                 "nucleolus", "scrb"])
    driver: str | None = Field(None, description="Partners column for proportional splits.")
    caps: dict[str, float] = Field(default_factory=dict,
                                   description="Partner -> most it will pay a year.")
    fixed_shares: dict[str, float] = Field(default_factory=dict,
                                           description="Partner -> negotiated share (sum 1).")


class SustainEffect(_Model):
    """One effect estimate for the sustainability model (until the report supplies them)."""

    estimate: float = Field(..., description="Change per treated person per period.")
    se: float = Field(0.0, ge=0, description="Its standard error.")


class SustainSettings(_Model):
    """Monte Carlo settings for the sustainability model (see evalkit.sustain)."""

    draws: int = Field(2000, ge=1)
    effects: dict[str, SustainEffect] = Field(
        default_factory=dict,
        description="Measure -> {estimate, se}; used when no effects file is given.")
    benefits: Literal["cashable", "fiscal"] = Field(
        "cashable", description="Benefits counted against contributions: cashable savings, "
        "or all fiscal benefits.")
    benefit_years: int = Field(1, ge=1, description="Years each cohort keeps benefiting.")
    grant_as: Literal["amounts", "shares"] = Field(
        "amounts", description="programme.grant in pounds, or as shares of each year's cost.")
    shares_follow: Literal["each_draw", "expected"] = Field(
        "each_draw", description="Recompute benefit-based splits in each Monte Carlo draw, "
        "or fix them at the expected benefits.")
    sensitivity: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="Tornado low/high values: effect, unit_costs, running_cost, "
        "discount_rate, drop_off, cashable_share.")

    @field_validator("sensitivity")
    @classmethod
    def _sens_keys(cls, v: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        known = ("effect", "unit_costs", "running_cost", "discount_rate", "drop_off",
                 "cashable_share")
        bad = sorted(set(v) - set(known))
        if bad:
            raise ValueError(f"unknown input(s) {bad}; the inputs are {', '.join(known)}")
        return v


class DisclosureSettings(_Model):
    """Statistical disclosure control for everything published (always on).

    See :mod:`evalkit.disclosure` for the rules and their sources. It cannot be
    switched off for a place; a single table can opt out only with a stated
    reason that is printed under it.
    """

    rule: Literal["nhs", "ons", "custom"] = "nhs"
    threshold: int | None = Field(None, ge=1, description="Custom: suppress counts below this.")
    rounding: int | None = Field(None, ge=1, description="Custom: round counts to this base.")
    symbol: str = "*"
    zeros: Literal["show", "suppress"] = "show"
    dominance_n: int = Field(1, ge=1)
    dominance_k: float = Field(0.8, gt=0, le=1)
    allowed_postcodes: list[str] = Field(
        default_factory=list, description="Postcodes the leak scan may ignore (e.g. an "
        "office address printed in the report).")
    allowed_dates: list[_dt.date] = Field(
        default_factory=list, description="Dates the leak scan may ignore when a report "
        "date happens to equal someone's date of birth.")

    @model_validator(mode="after")
    def _custom(self) -> DisclosureSettings:
        if self.rule == "custom" and self.threshold is None:
            raise ValueError("rule 'custom' needs a threshold (suppress counts below it)")
        return self


class CommunitySettings(_Model):
    """Shared challenges and early identification (see evalkit.community)."""

    need_column: str = Field("need", description="Events column holding the need.")
    crisis: str | None = Field(
        None, description="Outcome measure that counts as a crisis for early identification "
        "(empty: homeless_applications if present, else the first evaluated outcome).")
    horizon_months: int = Field(6, ge=1, le=36, description="Predict a crisis this many months "
                                "ahead.")
    model: Literal["logit", "hgb"] = Field(
        "logit", description="logit: transparent logistic regression; hgb: gradient boosting "
        "(needs scikit-learn).")
    top_share: float = Field(0.05, gt=0, lt=1, description="Share of people flagged.")


class ReportSettings(_Model):
    title: str | None = None
    author: str = ""
    pdf: bool = False


class PlaceSettings(_Model):
    """Everything ``place.yml`` holds. Unknown keys are errors (catches typos)."""

    name: str
    description: str = ""
    seed: int = 20240401
    data: DataFiles
    events: EventSettings = Field(default_factory=EventSettings)
    pilot: PilotSettings = Field(default_factory=PilotSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    waste: WasteSettings = Field(default_factory=WasteSettings)
    money: MoneySettings = Field(default_factory=MoneySettings)
    programme: ProgrammeSettings | None = None
    split: SplitSettings = Field(default_factory=SplitSettings)
    sustain: SustainSettings = Field(default_factory=SustainSettings)
    disclosure: DisclosureSettings = Field(default_factory=DisclosureSettings)
    community: CommunitySettings = Field(default_factory=CommunitySettings)
    report: ReportSettings = Field(default_factory=ReportSettings)


class SourceFile(_Model):
    """Provenance of one input file."""

    table: str
    path: str
    sha256: str
    bytes: int


def _config_error(err: PydanticValidationError, file: str) -> ConfigError:
    lines = [f"{file}: {err.error_count()} problem(s) in the settings:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?); see data/templates/place.yml for the keys"
        got = e.get("input")
        shown = "" if e["type"] in ("missing", "extra_forbidden") or isinstance(got, dict) else (
            f" (found {got!r})")
        lines.append(f"  - {key}: {msg}{shown}")
    return ConfigError("\n".join(lines))


def load_settings(path: str | Path) -> PlaceSettings:
    """Read and validate ``place.yml`` (without loading data).

    Raises
    ------
    ConfigError
        Naming the file, each bad key and what is expected.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: settings file not found. Create one with "
                          f"'evalkit init FOLDER' and edit its place.yml.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: "
                          f"{getattr(exc, 'problem', exc)}. Check indentation and colons."
                          ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected key: value settings (a YAML mapping) at the top "
                          "level, e.g. 'name: Anytown'.")
    try:
        return PlaceSettings.model_validate(raw)
    except PydanticValidationError as err:
        raise _config_error(err, str(path)) from None


class Place:
    """A place's settings and validated tables.

    Attributes
    ----------
    settings : PlaceSettings
    tables : dict of DataFrame
        Validated tables by name (only those given).
    accounting : RowAccounting
        Rows read, used and excluded for every table.
    root : Path or None
        Folder of ``place.yml`` (``None`` for in-memory places).
    sources : list of SourceFile
        Input files with their SHA-256 (provenance).
    """

    def __init__(self, settings: PlaceSettings, tables: dict[str, pd.DataFrame],
                 accounting: RowAccounting, root: Path | None = None,
                 sources: list[SourceFile] | None = None) -> None:
        self.settings = settings
        self.tables = tables
        self.accounting = accounting
        self.root = root
        self.sources = sources or []

    # ------------------------------------------------------------- build
    @classmethod
    def from_tables(
        cls,
        tables: Mapping[str, pd.DataFrame],
        settings: PlaceSettings | Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> Place:
        """Validate in-memory tables into a Place.

        Parameters
        ----------
        tables : mapping of str to DataFrame
            At least ``people`` and ``partners``.
        settings : PlaceSettings or dict, optional
            Settings (the ``data`` section is filled in from ``tables``).
        name : str, optional
            The place's name (overrides ``settings.name``).
        """
        unknown = [t for t in tables if t not in TABLES]
        if unknown:
            raise InputError(f"Unknown table(s) {unknown}; evalkit's tables are: "
                             f"{', '.join(TABLES)}.")
        missing = [t for t in ("people", "partners") if tables.get(t) is None]
        if missing:
            raise InputError(f"A place needs the {' and '.join(missing)} table(s).")
        if isinstance(settings, PlaceSettings):
            raw = settings.model_dump()
        else:
            raw = dict(settings or {})
        raw["data"] = {t: f"<{t}>" for t, df in tables.items() if df is not None}
        raw["name"] = name or raw.get("name") or "Unnamed place"
        try:
            s = PlaceSettings.model_validate(raw)
        except PydanticValidationError as err:
            raise _config_error(err, "<settings>") from None
        typed, accounting = validate_tables(
            {k: v for k, v in tables.items() if v is not None},
            labels={t: f"<{t} table>" for t in tables},
            event_type_map=s.events.event_type_map,
        )
        return cls(s, typed, accounting)

    # ------------------------------------------------------------- access
    def table(self, name: str) -> pd.DataFrame:
        """Return table ``name`` or raise a clear error if the place lacks it."""
        if name not in TABLES:
            raise InputError(f"Unknown table {name!r}; evalkit's tables are: "
                             f"{', '.join(TABLES)}.")
        if name not in self.tables:
            raise InputError(
                f"Place {self.name!r} has no {name} table. Add its file under 'data: {name}:' "
                f"in place.yml (template: data/templates/{name}.csv).")
        return self.tables[name]

    def has(self, name: str) -> bool:
        return name in self.tables

    @property
    def name(self) -> str:
        return self.settings.name

    people = property(lambda self: self.tables.get("people"))
    events = property(lambda self: self.tables.get("events"))
    outcomes = property(lambda self: self.tables.get("outcomes"))
    area_outcomes = property(lambda self: self.tables.get("area_outcomes"))
    areas = property(lambda self: self.tables.get("areas"))
    unit_costs = property(lambda self: self.tables.get("unit_costs"))
    partners = property(lambda self: self.tables.get("partners"))
    organisations = property(lambda self: self.tables.get("organisations"))
    benefit_map = property(lambda self: self.tables.get("benefit_map"))

    def organisation_partner(self) -> dict[str, str]:
        """Organisation -> partner (an organisation without a row is its own partner)."""
        mapping: dict[str, str] = {}
        if self.events is not None:
            mapping.update({o: o for o in self.events["organisation"].dropna().unique()})
        if self.organisations is not None:
            mapping.update(dict(zip(self.organisations["organisation"],
                                    self.organisations["partner"])))
        return mapping

    def pilot_starts(self) -> pd.Series:
        """Each person's pilot start date (NaT if never), from people or areas.

        Follows ``settings.pilot.start_source``: ``auto`` uses
        ``people.pilot_start`` when any is filled in, else the person's area's
        ``areas.pilot_start``.
        """
        people = self.table("people")
        src = self.settings.pilot.start_source
        own = people["pilot_start"] if "pilot_start" in people.columns else None
        if src == "people" or (src == "auto" and own is not None and own.notna().any()):
            if own is None:
                raise InputError("pilot.start_source is 'people' but people has no "
                                 "pilot_start column.")
            out = own
        else:
            areas = self.areas
            if areas is None or "pilot_start" not in areas.columns:
                if src == "areas":
                    raise InputError("pilot.start_source is 'areas' but there is no areas "
                                     "table with a pilot_start column.")
                out = pd.Series(pd.NaT, index=people.index, dtype="datetime64[ns]")
            else:
                out = people["area"].map(areas.set_index("area")["pilot_start"])
        return pd.Series(out.to_numpy(), index=pd.Index(people["person_id"], name="person_id"),
                         name="pilot_start").astype("datetime64[ns]")

    def provenance(self) -> pd.DataFrame:
        """Input files with sizes and SHA-256 hashes.

        For a place built in memory (no files), each table's fingerprint is the
        SHA-256 of its row hashes (:func:`pandas.util.hash_pandas_object`), so
        the same tables always give the same fingerprint.
        """
        cols = ["table", "path", "sha256", "bytes"]
        if self.sources:
            return pd.DataFrame([s.model_dump() for s in self.sources], columns=cols)
        import hashlib

        rows = []
        for name, df in self.tables.items():
            data = pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()
            head = ",".join(map(str, df.columns)).encode()
            rows.append({"table": name, "path": "<in memory>",
                         "sha256": hashlib.sha256(head + data).hexdigest(),
                         "bytes": len(head) + len(data)})
        return pd.DataFrame(rows, columns=cols)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={len(v):,}" for k, v in self.tables.items())
        return f"<Place {self.name!r}: {parts}>"

    # ------------------------------------------------------------- write
    def write(self, folder: str | Path, *, format: Literal["csv", "parquet"] = "csv",
              settings_extra: Mapping[str, Any] | None = None) -> Path:
        """Write the place as a folder (tables + ``place.yml``) that :func:`load_place` reads.

        Returns the path of ``place.yml``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[str, str] = {}
        for name, df in self.tables.items():
            out = df.copy()
            fname = f"{name}.{format}"
            if format == "csv":
                for c in out.columns:
                    if pd.api.types.is_datetime64_any_dtype(out[c].dtype):
                        has_time = (out[c].dropna() != out[c].dropna().dt.normalize()).any()
                        out[c] = out[c].dt.strftime("%Y-%m-%d %H:%M:%S" if has_time
                                                    else "%Y-%m-%d")
                out.to_csv(folder / fname, index=False)
            else:
                out.to_parquet(folder / fname, index=False)
            files[name] = fname
        data = self.settings.model_dump(mode="json", exclude_none=True)
        data["data"] = files
        if settings_extra:
            data.update(settings_extra)
        path = folder / "place.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                        encoding="utf-8")
        return path


def load_place(path: str | Path) -> Place:
    """Read ``place.yml`` and every data file it names into a validated :class:`Place`.

    Relative paths in ``data:`` are resolved from the folder holding the YAML
    file.

    Raises
    ------
    ConfigError
        For a missing or invalid settings key.
    ValidationError
        Listing every problem in every data file (file, row, column, value).
    """
    path = Path(path)
    settings = load_settings(path)
    root = path.resolve().parent
    files: dict[str, Path] = {}
    labels: dict[str, str] = {}
    for table, rel in settings.data.model_dump().items():
        if rel is None:
            continue
        p = Path(rel)
        full = p if p.is_absolute() else root / p
        files[table] = full
        labels[table] = str(rel)
    tables, accounting = validate_tables(files, labels=labels,
                                         event_type_map=settings.events.event_type_map)
    sources = []
    for table, full in files.items():
        real = Path(str(full).split("#")[0]) if ".xls" in str(full) else full
        sources.append(SourceFile(table=table, path=labels[table], sha256=file_sha256(real),
                                  bytes=real.stat().st_size))
    return Place(settings, tables, accounting, root=root, sources=sources)
