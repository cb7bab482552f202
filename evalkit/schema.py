"""The input tables: one source of truth for every column, type and rule.

Everything else derives from the specs here: the pandera schemas used to
validate data (:func:`pandera_schema`), the data dictionary in
``data/templates/README.md`` (checked against these specs by a test), the
template files, and the synthetic place.

Each table is a :class:`TableSpec` holding :class:`ColumnSpec` objects. Columns
a user adds that are not listed are **kept** (they may be covariates), never
rejected.

Cross-table rules (events must reference known people, a benefit map must name
known unit-cost items and partners, and so on) are listed in
:data:`CROSS_TABLE_RULES` and enforced by :mod:`evalkit.io`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ColumnSpec",
    "TableSpec",
    "TABLES",
    "EVENT_TYPES",
    "AGE_BANDS",
    "SEXES",
    "PARTNER_KINDS",
    "VALUE_TYPES",
    "CROSS_TABLE_RULES",
    "table_spec",
]

DType = Literal["string", "date", "datetime", "integer", "number", "boolean", "category"]

#: Standard event types. A place whose systems use other codes maps them onto
#: these in ``place.yml`` (``events.event_type_map``).
EVENT_TYPES: tuple[str, ...] = (
    "contact",
    "assessment",
    "referral",
    "referral_accepted",
    "referral_declined",
    "intervention",
    "closure",
)

#: Age bands used in templates and the synthetic place. Other banding schemes
#: are allowed (``age_band`` is free text), but these are the defaults.
AGE_BANDS: tuple[str, ...] = (
    "0-17",
    "18-24",
    "25-34",
    "35-44",
    "45-54",
    "55-64",
    "65-74",
    "75+",
)

SEXES: tuple[str, ...] = ("female", "male", "other", "unknown")

PARTNER_KINDS: tuple[str, ...] = (
    "local_authority",
    "nhs",
    "police",
    "housing",
    "dwp",
    "probation",
    "voluntary",
    "other",
)

#: Green Book value types; never summed without saying so.
VALUE_TYPES: tuple[str, ...] = ("fiscal", "economic", "social")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an input table.

    Attributes
    ----------
    name : str
        Column header exactly as it must appear in the file.
    dtype : str
        ``string``, ``date`` (a calendar day: ISO ``2024-03-31`` or UK
        ``31/03/2024``), ``datetime`` (a date with optional time),
        ``integer``, ``number``, ``boolean`` (true/false, yes/no, 1/0) or
        ``category`` (one of ``allowed``).
    required : bool
        The column must be present in the file.
    nullable : bool
        Cells may be empty.
    allowed : tuple of str, optional
        Allowed values (case-insensitive on input, stored in the case shown).
    unique : bool
        No two rows may share a value (a key).
    min, max : float, optional
        Inclusive bounds for numbers.
    description : str
        Plain-English meaning, for the data dictionary.
    example : Any
        An example value, for the data dictionary and templates.
    sensitive : bool
        Identifies a person (identifier, date of birth, postcode, free text):
        never published; the disclosure leak scan looks for these values.
    """

    name: str
    dtype: DType
    required: bool = True
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    unique: bool = False
    min: float | None = None
    max: float | None = None
    description: str = ""
    example: Any = None
    sensitive: bool = False

    def expected(self) -> str:
        """A short phrase saying what a valid cell looks like."""
        if self.dtype == "date":
            text = "a date such as 2024-03-31 or 31/03/2024"
        elif self.dtype == "datetime":
            text = "a date or date-time such as 2024-03-31 or 2024-03-31 14:05"
        elif self.dtype == "integer":
            text = "a whole number"
        elif self.dtype == "number":
            text = "a number"
        elif self.dtype == "boolean":
            text = "true/false (or yes/no, 1/0)"
        elif self.allowed:
            text = "one of " + ", ".join(self.allowed)
        else:
            text = "text"
        if self.min is not None and self.max is not None:
            text += f" between {self.min:g} and {self.max:g}"
        elif self.min is not None:
            text += f" of at least {self.min:g}"
        elif self.max is not None:
            text += f" of at most {self.max:g}"
        if not self.nullable:
            text += " (must not be empty)"
        return text


@dataclass(frozen=True)
class TableSpec:
    """One input table: its columns, key and row-level rules."""

    name: str
    description: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...] = ()
    optional: bool = False
    rules: tuple[str, ...] = field(default_factory=tuple)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def sensitive_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.sensitive)


C = ColumnSpec

PEOPLE = TableSpec(
    name="people",
    description=(
        "One row per person known to any partner. Baseline characteristics are "
        "measured before the pilot; add any further covariate as an extra column."
    ),
    key=("person_id",),
    columns=(
        C("person_id", "string", unique=True, sensitive=True,
          description="Pseudonymous person identifier, the same in every table. "
          "Never a name, NHS number or National Insurance number in clear.",
          example="P0000123"),
        C("area", "string",
          description="Neighbourhood (or ward/LSOA) the person lived in at baseline; "
          "must match `area` in the areas table when that table is given.",
          example="Northfield"),
        C("pilot_start", "date", required=False, nullable=True,
          description="Date the person started with the pilot; empty if never. "
          "If empty for everyone, starts come from the areas table.",
          example="2024-04-01"),
        C("in_scope", "boolean", required=False, nullable=True,
          description="Whether the person is in scope of the services studied "
          "(empty means yes).", example="yes"),
        C("age_band", "string", required=False, nullable=True,
          description="Age band at baseline. Default bands: " + ", ".join(AGE_BANDS) + ".",
          example="25-34"),
        C("sex", "category", required=False, nullable=True, allowed=SEXES,
          description="Sex or gender as recorded.", example="female"),
        C("deprivation_decile", "integer", required=False, nullable=True, min=1, max=10,
          description="Index of Multiple Deprivation decile of home address "
          "(1 = most deprived 10%).", example=2),
        C("date_of_birth", "date", required=False, nullable=True, sensitive=True,
          description="Date of birth. Optional; used only to derive age and never published.",
          example="1990-05-17"),
        C("postcode", "string", required=False, nullable=True, sensitive=True,
          description="Full postcode. Optional; never published.", example="AN1 2YT"),
    ),
)

AREAS = TableSpec(
    name="areas",
    description="One row per neighbourhood (area), with when the pilot started there.",
    key=("area",),
    optional=True,
    columns=(
        C("area", "string", unique=True, description="Area name or code.", example="Northfield"),
        C("area_type", "string", required=False, nullable=True,
          description="Any grouping used for exact matching (e.g. urban/suburban).",
          example="urban"),
        C("deprivation_decile", "integer", required=False, nullable=True, min=1, max=10,
          description="IMD decile of the area (1 = most deprived).", example=1),
        C("population", "integer", required=False, nullable=True, min=0,
          description="Resident population (for rates).", example=24000),
        C("pilot_start", "date", required=False, nullable=True,
          description="Date the pilot went live in this area; empty if never.",
          example="2024-04-01"),
    ),
)

EVENTS = TableSpec(
    name="events",
    description=(
        "One row per service contact: the person-level event log that waste "
        "(failure demand) is measured from."
    ),
    key=("event_id",),
    rules=(
        "person_id must appear in the people table",
        "referred_to must be filled in when event_type is referral",
    ),
    columns=(
        C("event_id", "string", required=False, nullable=False, unique=True,
          description="Unique event identifier. Optional; when present it breaks "
          "ties between events on the same date.", example="E00000001"),
        C("person_id", "string", sensitive=True,
          description="The person (see people.person_id).", example="P0000123"),
        C("date", "datetime",
          description="When the contact happened (date, or date and time).",
          example="2024-05-02"),
        C("organisation", "string",
          description="Organisation that recorded the contact (e.g. 'Council housing', "
          "'NHS acute trust').", example="Council housing"),
        C("service", "string", required=False, nullable=True,
          description="Team or service within the organisation.",
          example="Housing options"),
        C("event_type", "category", allowed=EVENT_TYPES,
          description="What happened. Local codes can be mapped to these in place.yml.",
          example="assessment"),
        C("referred_to", "string", required=False, nullable=True,
          description="For referrals: the organisation referred to. Required on "
          "`referral` rows.", example="Adult social care"),
        C("need", "string", required=False, nullable=True,
          description="Presenting need or challenge (e.g. housing, mental health, debt).",
          example="housing"),
    ),
)

OUTCOMES = TableSpec(
    name="outcomes",
    description=(
        "Person-level outcome panel, tidy: one row per person, period and measure. "
        "Counts per period (A&E attendances per month), or any numeric measure."
    ),
    key=("person_id", "period", "measure"),
    rules=("person_id must appear in the people table",),
    columns=(
        C("person_id", "string", sensitive=True, description="The person.",
          example="P0000123"),
        C("period", "date",
          description="Start of the period (month or year): 2024-04, 2024-04-01 or 01/04/2024.",
          example="2024-04-01"),
        C("measure", "string",
          description="Outcome name, e.g. ae_attendances, arrests, homeless_applications.",
          example="ae_attendances"),
        C("value", "number", description="Value of the measure in that period.", example=1),
    ),
)

AREA_OUTCOMES = TableSpec(
    name="area_outcomes",
    description=(
        "Area-level outcome panel, tidy: one row per area, period and measure "
        "(for synthetic control and interrupted time series)."
    ),
    key=("area", "period", "measure"),
    optional=True,
    columns=(
        C("area", "string", description="Area name or code.", example="Northfield"),
        C("period", "date", description="Start of the period.", example="2024-04-01"),
        C("measure", "string", description="Outcome name.", example="ae_attendances"),
        C("value", "number", description="Value (count, rate...) in that period.",
          example=312),
    ),
)

UNIT_COSTS = TableSpec(
    name="unit_costs",
    description=(
        "Sourced unit costs. Leave out to use evalkit's shipped reference table "
        "(GMCA Unit Cost Database v1.4 and others); rows you add replace shipped "
        "rows with the same item."
    ),
    key=("item",),
    optional=True,
    columns=(
        C("item", "string", unique=True, description="Name of the cost item.",
          example="Children's social care initial assessment"),
        C("unit", "string", description="What one unit is.", example="per incident"),
        C("cost_gbp", "number", min=0.0, description="Cost of one unit in pounds "
          "(must be positive).", example=362),
        C("price_year", "string",
          description="Financial year the cost is priced in, e.g. 2009-10 (2009/10 accepted).",
          example="2009-10"),
        C("partner", "string",
          description="Partner (agency) bearing the cost.",
          example="Council children's services"),
        C("cashable_share", "number", min=0.0, max=1.0,
          description="Share of the cost that is cash released if the activity "
          "stops (0 to 1).", example=0.0),
        C("source", "string", description="Where the figure comes from (publication, "
          "table, code).", example="GMCA Unit Cost Database v1.4, code SC1.2"),
        C("value_type", "category", required=False, nullable=True, allowed=VALUE_TYPES,
          description="fiscal (public budgets), economic or social value; empty means fiscal.",
          example="fiscal"),
        C("event_type", "category", required=False, nullable=True, allowed=EVENT_TYPES,
          description="For pricing failure demand: the event type this cost prices.",
          example="assessment"),
        C("organisation", "string", required=False, nullable=True,
          description="For pricing failure demand: the organisation whose events "
          "this cost prices (empty = any organisation).",
          example="Children's social care"),
        C("service", "string", required=False, nullable=True,
          description="Optionally narrows the organisation to one service.",
          example="Front door"),
    ),
)

PARTNERS = TableSpec(
    name="partners",
    description=(
        "The partners who might share the cost. Add any numeric driver columns "
        "(budget, caseload, population...) to split costs in proportion to them."
    ),
    key=("partner",),
    columns=(
        C("partner", "string", unique=True, description="Partner name.",
          example="Council housing"),
        C("kind", "category", required=False, nullable=True, allowed=PARTNER_KINDS,
          description="Kind of organisation.", example="local_authority"),
        C("budget", "number", required=False, nullable=True, min=0.0,
          description="Annual budget in pounds (a split driver).", example=25000000),
        C("caseload", "number", required=False, nullable=True, min=0.0,
          description="People in scope on the caseload (a split driver).", example=1200),
        C("standalone_cost", "number", required=False, nullable=True, min=0.0,
          description="What the partner would pay a year to meet the need alone "
          "(for cost-sharing games).", example=400000),
        C("variable_cost", "number", required=False, nullable=True, min=0.0,
          description="Yearly cost of serving this partner's people within the shared "
          "service, on top of its fixed cost (for the default service model).",
          example=150000),
        C("benefit", "number", required=False, nullable=True, min=0.0,
          description="Annual benefit to the partner in pounds (usually filled in from "
          "the evaluation; for 'beneficiary pays').", example=310000),
        C("cap", "number", required=False, nullable=True, min=0.0,
          description="Most the partner will pay a year (for capped splits); empty = no cap.",
          example=500000),
    ),
)

ORGANISATIONS = TableSpec(
    name="organisations",
    description=(
        "Which partner each organisation in the event log belongs to. Optional: "
        "without it an organisation is its own partner."
    ),
    key=("organisation",),
    optional=True,
    rules=("partner must appear in the partners table",),
    columns=(
        C("organisation", "string", unique=True,
          description="Organisation as written in events.organisation.",
          example="Children's social care"),
        C("partner", "string", description="The partner that pays for it.",
          example="Council children's services"),
    ),
)

BENEFIT_MAP = TableSpec(
    name="benefit_map",
    description=(
        "How outcomes turn into money: each outcome measure is priced by a unit "
        "cost item and lands on a partner's budget."
    ),
    key=("measure", "item", "partner"),
    optional=True,
    rules=(
        "item must appear in the unit costs",
        "partner must appear in the partners table",
    ),
    columns=(
        C("measure", "string", description="Outcome measure (as in outcomes.measure).",
          example="ae_attendances"),
        C("item", "string", description="Unit-cost item that prices one unit of the measure.",
          example="A&E attendance (all types)"),
        C("partner", "string", description="Partner whose budget gains.",
          example="NHS acute trust"),
        C("units_per_outcome", "number", required=False, nullable=True, min=0.0,
          description="Cost units per unit of the measure (e.g. 1/7 to price nights "
          "with a weekly cost); empty means 1.", example=1),
        C("cashable_share", "number", required=False, nullable=True, min=0.0, max=1.0,
          description="Overrides the unit cost's cashable share for this benefit.",
          example=0.25),
        C("value_type", "category", required=False, nullable=True, allowed=VALUE_TYPES,
          description="Overrides the unit cost's value type.", example="fiscal"),
        C("direction", "category", required=False, nullable=True,
          allowed=("reduction", "increase"),
          description="reduction (the default): fewer events save money, so a fall in the "
          "measure is a benefit; increase: the measure is a gain (e.g. people into work).",
          example="reduction"),
        C("discount_schedule", "category", required=False, nullable=True,
          allowed=("standard", "health"),
          description="Green Book discount schedule: standard (3.5%) or health (1.5%, for "
          "values in QALYs or wellbeing); empty means standard.", example="standard"),
    ),
)

#: All input tables, by name, in the order a user fills them in.
TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        PEOPLE,
        AREAS,
        EVENTS,
        OUTCOMES,
        AREA_OUTCOMES,
        UNIT_COSTS,
        PARTNERS,
        ORGANISATIONS,
        BENEFIT_MAP,
    )
}

#: Rules that join tables: (table, column, referenced table, referenced column).
CROSS_TABLE_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("events", "person_id", "people", "person_id"),
    ("outcomes", "person_id", "people", "person_id"),
    ("people", "area", "areas", "area"),
    ("area_outcomes", "area", "areas", "area"),
    ("organisations", "partner", "partners", "partner"),
    ("benefit_map", "item", "unit_costs", "item"),
    ("benefit_map", "partner", "partners", "partner"),
)


def table_spec(name: str) -> TableSpec:
    """Return the spec of table ``name`` with a helpful error if unknown."""
    try:
        return TABLES[name]
    except KeyError:
        from .errors import InputError

        raise InputError(
            f"Unknown table {name!r}; evalkit's tables are: {', '.join(TABLES)}."
        ) from None
