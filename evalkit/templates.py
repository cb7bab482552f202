"""Input templates users copy: CSVs, an Excel workbook, ``place.yml`` and a data dictionary.

The templates in ``data/templates/`` are generated from :mod:`evalkit.schema`
by :func:`write_templates` (``python -m evalkit.templates data/templates``), so
the data dictionary can never disagree with the validator; a test checks the
committed files are up to date. ``evalkit init DIR`` copies them into a new
place folder.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

from .errors import InputError
from .schema import TABLES, TableSpec

__all__ = ["template_dir", "example_tables", "write_templates", "data_dictionary",
           "PLACE_YML", "copy_templates"]

_EXAMPLE_SOURCE = "GMCA/New Economy Unit Cost Database v1.4 (Mar 2015), code "


def example_tables() -> dict[str, pd.DataFrame]:
    """A tiny, consistent example place: the rows shipped in the templates."""
    people = pd.DataFrame({
        "person_id": [f"P000000{i}" for i in range(1, 7)],
        "area": ["Northfield", "Northfield", "Northfield", "Southgate", "Southgate", "Southgate"],
        "pilot_start": ["", "", "", "", "", ""],
        "in_scope": ["yes", "yes", "no", "yes", "yes", "yes"],
        "age_band": ["25-34", "45-54", "75+", "18-24", "35-44", "55-64"],
        "sex": ["female", "male", "female", "male", "female", "unknown"],
        "deprivation_decile": [1, 2, 1, 5, 6, 4],
        "prior_contacts": [7, 3, 0, 5, 2, 1],
    })
    areas = pd.DataFrame({
        "area": ["Northfield", "Southgate"],
        "area_type": ["urban", "suburban"],
        "deprivation_decile": [1, 5],
        "population": [24000, 21000],
        "pilot_start": ["2024-04-01", ""],
    })
    ev = [
        # P1: passed from pillar to post before the pilot
        ("E0000001", "P0000001", "2024-01-08", "Council housing", "Housing options", "contact", "", "housing"),
        ("E0000002", "P0000001", "2024-01-15", "Council housing", "Housing options", "assessment", "", "housing"),
        ("E0000003", "P0000001", "2024-01-15", "Council housing", "Housing options", "referral", "Adult social care", "housing"),
        ("E0000004", "P0000001", "2024-01-29", "Adult social care", "Front door", "referral_declined", "", "housing"),
        ("E0000005", "P0000001", "2024-02-12", "NHS mental health trust", "Community team", "assessment", "", "mental health"),
        ("E0000006", "P0000001", "2024-02-12", "NHS mental health trust", "Community team", "referral", "Adult social care", "mental health"),
        ("E0000007", "P0000001", "2024-03-04", "Adult social care", "Front door", "assessment", "", "mental health"),
        ("E0000008", "P0000001", "2024-03-25", "Adult social care", "Front door", "intervention", "", "mental health"),
        # P2: one assessment, then help
        ("E0000009", "P0000002", "2024-05-02", "Jobcentre Plus", "Work coach", "assessment", "", "debt"),
        ("E0000010", "P0000002", "2024-05-20", "Jobcentre Plus", "Work coach", "intervention", "", "debt"),
        ("E0000011", "P0000002", "2024-08-30", "Jobcentre Plus", "Work coach", "closure", "", "debt"),
        # P4: police contact, then a referral that is accepted
        ("E0000012", "P0000004", "2024-02-03 22:15", "Police", "Response", "contact", "", "mental health"),
        ("E0000013", "P0000004", "2024-02-04 09:30", "Police", "Response", "referral", "NHS mental health trust", "mental health"),
        ("E0000014", "P0000004", "2024-02-10", "NHS mental health trust", "Community team", "referral_accepted", "", "mental health"),
        ("E0000015", "P0000004", "2024-02-20", "NHS mental health trust", "Community team", "assessment", "", "mental health"),
    ]
    events = pd.DataFrame(ev, columns=["event_id", "person_id", "date", "organisation",
                                       "service", "event_type", "referred_to", "need"])
    months = ["2024-01-01", "2024-02-01", "2024-03-01"]
    outcomes = pd.DataFrame(
        [(p, m, "ae_attendances", v) for p, vals in
         (("P0000001", (2, 1, 0)), ("P0000004", (0, 1, 0))) for m, v in zip(months, vals)]
        + [("P0000001", m, "arrests", v) for m, v in zip(months, (1, 0, 0))],
        columns=["person_id", "period", "measure", "value"])
    area_outcomes = pd.DataFrame(
        [(a, m, "ae_attendances", v) for a, vals in
         (("Northfield", (412, 398, 405)), ("Southgate", (288, 301, 279)))
         for m, v in zip(months, vals)],
        columns=["area", "period", "measure", "value"])
    uc = [
        ("Administering a homelessness application decision", "per application", 375, "2010-11",
         "Council", 0.0, _EXAMPLE_SOURCE + "HO1.0.5", "fiscal", "assessment", "Council housing", ""),
        ("Children's social care initial assessment", "per incident", 362, "2009-10",
         "Council", 0.0, _EXAMPLE_SOURCE + "SS6.3", "fiscal", "assessment",
         "Children's social care", ""),
        ("Community mental health contact", "per attendance", 156, "2011-12", "NHS", 0.0,
         _EXAMPLE_SOURCE + "HE16.0", "fiscal", "assessment", "NHS mental health trust", ""),
        ("Processing a new JSA claim", "per claim", 71, "2012-13", "DWP", 0.0,
         _EXAMPLE_SOURCE + "E&E1.6", "fiscal", "assessment", "Jobcentre Plus", ""),
        ("Adult social care assessment (3 hours of a social worker)", "per assessment", 171,
         "2013-14", "Council", 0.0, "Derived: 3 hours x adult social worker hour £57, "
         + _EXAMPLE_SOURCE + "SS18.0", "fiscal", "assessment", "Adult social care", ""),
        ("Handling a referral (1 hour of a practitioner)", "per referral", 57, "2013-14",
         "Council", 0.0, "Derived: 1 hour x adult social worker hour £57, "
         + _EXAMPLE_SOURCE + "SS18.0 (an assumption for any organisation)", "fiscal",
         "referral", "", ""),
        ("A&E attendance (all types)", "per incident", 109, "2011-12", "NHS", 0.5,
         _EXAMPLE_SOURCE + "HE4.0", "fiscal", "", "", ""),
        ("Police arrest (detained)", "per incident", 593, "2006-07", "Police", 0.0,
         _EXAMPLE_SOURCE + "CR7.0", "fiscal", "", "", ""),
    ]
    unit_costs = pd.DataFrame(uc, columns=["item", "unit", "cost_gbp", "price_year", "partner",
                                           "cashable_share", "source", "value_type",
                                           "event_type", "organisation", "service"])
    partners = pd.DataFrame({
        "partner": ["Council", "NHS", "Police", "DWP"],
        "kind": ["local_authority", "nhs", "police", "dwp"],
        "budget": [310_000_000, 520_000_000, 95_000_000, 40_000_000],
        "caseload": [1800, 2600, 900, 1200],
        "standalone_cost": [420_000, 380_000, 150_000, 90_000],
        "variable_cost": [150_000, 120_000, 40_000, 30_000],
        "benefit": ["", "", "", ""],
        "cap": ["", "", "", 100_000],
    })
    organisations = pd.DataFrame({
        "organisation": ["Council housing", "Adult social care", "Children's social care",
                         "NHS mental health trust", "NHS acute trust", "Police",
                         "Jobcentre Plus"],
        "partner": ["Council", "Council", "Council", "NHS", "NHS", "Police", "DWP"],
    })
    benefit_map = pd.DataFrame({
        "measure": ["ae_attendances", "arrests"],
        "item": ["A&E attendance (all types)", "Police arrest (detained)"],
        "partner": ["NHS", "Police"],
        "units_per_outcome": [1, 1],
        "cashable_share": ["", ""],
        "value_type": ["fiscal", "fiscal"],
        "direction": ["reduction", "reduction"],
        "discount_schedule": ["standard", "standard"],
    })
    return {
        "people": people, "areas": areas, "events": events, "outcomes": outcomes,
        "area_outcomes": area_outcomes, "unit_costs": unit_costs, "partners": partners,
        "organisations": organisations, "benefit_map": benefit_map,
    }


PLACE_YML = """\
# place.yml: one file that tells evalkit about your place.
# Relative paths are read from the folder holding this file.
# Every key below is optional except name, data.people and data.partners.
# Check it with:  evalkit validate place.yml

name: Exampletown
description: >
  Integrated neighbourhood teams: one key worker and a flexible budget for
  people known to several services.
seed: 20240401            # same seed, same results

data:                     # one file per table: .csv, .xlsx (file.xlsx#sheet) or .parquet
  people: people.csv
  partners: partners.csv
  areas: areas.csv
  events: events.csv
  outcomes: outcomes.csv
  area_outcomes: area_outcomes.csv
  unit_costs: unit_costs.csv      # leave out to use evalkit's shipped, sourced unit costs
  organisations: organisations.csv
  benefit_map: benefit_map.csv
  # To use the Excel workbook instead, point each table at its sheet, e.g.
  # people: inputs.xlsx#people

events:
  event_type_map: {}      # your local codes -> evalkit's, e.g. {"REF": referral}

pilot:
  name: Integrated neighbourhood teams
  description: A named key worker and a flexible budget in each pilot neighbourhood.
  unit: area              # area: rolled out by neighbourhood; person: people enrolled
  start_source: auto      # auto, people (people.pilot_start) or areas (areas.pilot_start)

evaluation:
  outcomes: [ae_attendances, arrests]
  placebo_outcomes: []
  covariates: [age_band, sex, deprivation_decile, prior_contacts]
  comparison: not_yet_treated   # or never_treated
  period: month
  alpha: 0.05
  bootstrap: 499

waste:
  window_days: 90         # an assessment within 90 days of the last one is a repeat
  rereferral_days: 30     # a declined referral followed by a new one within 30 days bounced
  front_door_days: 365    # organisations that assessed a person in a rolling year
  avoidable_share: {}     # e.g. {reassessment: 0.5}; see the waste method notes

money:
  price_year: 2024-25     # all pounds in 2024-25 prices (GDP deflator)
  discount_rate: null     # null = HM Treasury Green Book schedule (3.5% to year 30...)
  optimism_bias_costs: 0.0
  optimism_bias_benefits: 0.0
  deadweight: 0.0
  attribution: 1.0
  drop_off: 0.0
  ramp_up: []

programme:
  first_year: 2025-26
  horizon_years: 10
  running_cost: 1200000   # pounds a year (or a list, one per year)
  cost_inflation: 0.02
  transition_costs: []
  grant: [1200000, 1200000, 600000]   # central grant by year, then nothing
  people_per_year: 400

split:
  rules: [equal, proportional, beneficiary_pays, shapley, nucleolus, scrb]
  driver: caseload
  caps: {}
  fixed_shares: {}

sustain:
  draws: 2000             # Monte Carlo draws of the effect estimates
  benefits: cashable      # count cashable savings against contributions (or: fiscal)
  benefit_years: 1        # years each year's cohort keeps benefiting
  grant_as: amounts       # programme.grant in pounds (or: shares of each year's cost)
  shares_follow: each_draw  # benefit-based splits recomputed per draw (or: expected)
  effects: {}             # used only without an evaluation, e.g. {ae_attendances: {estimate: -0.05, se: 0.015}}
  sensitivity: {}         # tornado low/high, e.g. {discount_rate: [0.015, 0.05]}

disclosure:               # always on; see the methods page of the report
  rule: nhs               # nhs: suppress 1-7, round to 5; ons: suppress under 10, round to 5
  symbol: "*"
  zeros: show

community:                # shared challenges and early identification
  need_column: need
  crisis: null            # outcome that counts as a crisis (null: homeless_applications or the first)
  horizon_months: 6
  model: logit            # logit (transparent) or hgb (gradient boosting, needs scikit-learn)
  top_share: 0.05         # share of people a practitioner would be prompted about

report:
  title: null             # defaults to the place name
  author: ""
  pdf: false
"""


def _rule_lines(spec: TableSpec) -> list[str]:
    lines = []
    if spec.key:
        lines.append(f"- Key: `{', '.join(spec.key)}` (no two rows may share it"
                     + (" when present)." if spec.name == "events" else ")."))
    for r in spec.rules:
        lines.append(f"- Rule: {r}.")
    return lines


def data_dictionary() -> str:
    """The data dictionary (``data/templates/README.md``), generated from the schema."""
    out = [
        "# Input templates and data dictionary",
        "",
        "These files are the contract between your data and evalkit. Copy them into a new "
        "place folder with `evalkit init FOLDER`, replace the example rows with your own, "
        "and check them with `evalkit validate FOLDER/place.yml`. The check lists every "
        "problem at once, each with the file, the row number as you see it in Excel (the "
        "header is row 1), the column, the value and what is expected.",
        "",
        "## The files",
        "",
        "| file | what it holds | needed? |",
        "|---|---|---|",
    ]
    for name, spec in TABLES.items():
        need = "optional" if spec.optional else "yes"
        if name in ("events", "outcomes"):
            need = "for failure demand" if name == "events" else "for person-level evaluation"
        if name == "area_outcomes":
            need = "for place-level evaluation"
        out.append(f"| `{name}.csv` | {spec.description} | {need} |")
    out += [
        "| `inputs.xlsx` | The same tables as sheets of one workbook, for those who work in "
        "Excel. Point `place.yml` at a sheet with `inputs.xlsx#people`. | either |",
        "| `place.yml` | Settings: which files, windows, prices, grant and cost-split options. "
        "Every key is explained in its comments. | yes |",
        "",
        "## General rules",
        "",
        "- **Dates**: `2024-03-31` (ISO) or `31/03/2024` (UK day/month/year). Event dates may "
        "carry a time (`2024-03-31 14:05`). Periods in outcome tables are the first day of "
        "the month or year (`2024-03` is also accepted).",
        "- **Text files**: UTF-8 is best ('CSV UTF-8' in Excel's Save As). Files saved as "
        "plain 'CSV' (Windows-1252) and files separated by semicolons or tabs are read too, "
        "with a note.",
        "- **Yes/no columns** accept yes/no, true/false, y/n, 1/0.",
        "- **Money** is in pounds; `£` signs and thousands separators are accepted.",
        "- **Extra columns** are kept (they may be used as covariates); misspelt required "
        "columns are reported with a suggestion.",
        "- **Blank rows** are skipped and counted; nothing else is dropped silently: evalkit "
        "reports how many rows of each table were read, used and excluded, and why.",
        "- **Sensitive columns** (marked below) identify people: they are used for linking "
        "only and never appear in anything evalkit publishes.",
        "",
    ]
    for name, spec in TABLES.items():
        out += [f"## `{name}`", "", spec.description, ""]
        out += _rule_lines(spec)
        if spec.key or spec.rules:
            out.append("")
        out += ["| column | meaning | type and allowed values | required | example |",
                "|---|---|---|---|---|"]
        for c in spec.columns:
            req = "required" if c.required else "optional"
            if c.required and c.nullable:
                req = "required column, may be empty"
            elif not c.required and not c.nullable:
                req = "optional column; if present, never empty"
            desc = c.description + (" **Sensitive.**" if c.sensitive else "")
            out.append(f"| `{c.name}` | {desc} | {c.expected()} | {req} | `{c.example}` |")
        out.append("")
    return "\n".join(out)


def write_templates(folder: str | Path) -> Path:
    """Write every template file into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = example_tables()
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")
    _write_workbook(tables, folder / "inputs.xlsx")
    (folder / "place.yml").write_text(PLACE_YML, encoding="utf-8")
    (folder / "README.md").write_text(data_dictionary(), encoding="utf-8")
    return folder


def _write_workbook(tables: dict[str, pd.DataFrame], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    for name, df in tables.items():
        ws = wb.create_sheet(name)
        ws.append(list(df.columns))
        for row in df.itertuples(index=False):
            ws.append([None if (isinstance(v, str) and v == "") else v for v in row])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for i, col in enumerate(df.columns, start=1):
            width = max([len(str(col))] + [len(str(v)) for v in df[col]]) + 2
            ws.column_dimensions[get_column_letter(i)].width = min(width, 60)
    # Fixed timestamps so that regenerating the workbook is byte-stable enough to diff.
    import datetime as dt

    stamp = dt.datetime(2024, 1, 1)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.save(path)


def template_dir() -> Path:
    """Folder holding the shipped templates (inside the wheel, or the source tree)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_bundled" / "templates", here.parent / "data" / "templates"):
        if (candidate / "place.yml").exists():
            return candidate
    raise InputError("evalkit's templates are missing from this installation; reinstall "
                     "evalkit (pip install evalkit).")


def copy_templates(folder: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Copy the templates into ``folder`` for a new place. Returns the files written.

    Refuses to overwrite existing files unless ``overwrite=True``.
    """
    folder = Path(folder)
    src = template_dir()
    files = sorted(p for p in src.iterdir() if p.is_file())
    clashes = [folder / p.name for p in files if (folder / p.name).exists()]
    if clashes and not overwrite:
        raise InputError(
            f"{folder} already holds {', '.join(p.name for p in clashes)}; choose an empty "
            "folder or pass --force to overwrite.")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for p in files:
        shutil.copy2(p, folder / p.name)
        out.append(folder / p.name)
    return out


if __name__ == "__main__":  # pragma: no cover - developer tool
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "data/templates")
    write_templates(target)
    print(f"templates written to {target}")
