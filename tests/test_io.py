"""Validated loading: every broken input gives an error naming file, row and column."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from evalkit.errors import ConfigError, InputError, ValidationError
from evalkit.io import read_table, validate_table, validate_tables
from evalkit.place import load_place
from evalkit.templates import template_dir

PEOPLE_HEADER = "person_id,area,pilot_start,deprivation_decile,sex\n"


@pytest.fixture()
def place_dir(tmp_path: Path) -> Path:
    """A copy of the shipped templates: a valid place to break one file at a time."""
    dest = tmp_path / "place"
    shutil.copytree(template_dir(), dest)
    return dest


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def problems_of(exc: pytest.ExceptionInfo) -> pd.DataFrame:
    return exc.value.to_frame()


def assert_problem(err: ValidationError, *, file: str, row: int | None, column: str | None,
                   contains: str = "") -> None:
    """The error lists a problem with this file, row and column, and says so in its text."""
    hits = [p for p in err.problems
            if (p.file or "").endswith(file) and p.row == row and p.column == column
            and contains.lower() in p.message.lower()]
    assert hits, f"no problem for {file} row {row} column {column!r} in:\n{err}"
    text = str(err)
    assert file in text
    if row is not None:
        assert f"row {row}" in text
    if column is not None:
        assert f"column '{column}'" in text


# ---------------------------------------------------------------------------
# Broken inputs: at least 15 distinct cases, each naming file, row and column
# ---------------------------------------------------------------------------
def test_missing_required_column(tmp_path):
    f = write(tmp_path / "people.csv", "person_id,neighbourhood\nP1,North\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    assert_problem(exc.value, file="people.csv", row=1, column="area", contains="missing")


def test_misspelt_column_gets_a_suggestion(tmp_path):
    f = write(tmp_path / "people.csv", "person_id,areas\nP1,North\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    assert "Is 'areas' meant to be 'area'?" in str(exc.value)


def test_wrong_type_in_number_column(tmp_path):
    f = write(tmp_path / "people.csv", PEOPLE_HEADER + "P1,North,,2,female\nP2,South,,two,male\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    assert_problem(exc.value, file="people.csv", row=3, column="deprivation_decile",
                   contains="whole number")
    assert exc.value.problems[0].value == "two"


def test_number_out_of_range(tmp_path):
    f = write(tmp_path / "people.csv", PEOPLE_HEADER + "P1,North,,11,female\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    assert_problem(exc.value, file="people.csv", row=2, column="deprivation_decile",
                   contains="between 1 and 10")


def test_bad_date(tmp_path):
    f = write(tmp_path / "people.csv", PEOPLE_HEADER + "P1,North,31/02/2024,1,female\n"
              "P2,North,2024-13-01,1,male\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    assert_problem(exc.value, file="people.csv", row=2, column="pilot_start", contains="date")
    assert_problem(exc.value, file="people.csv", row=3, column="pilot_start", contains="date")


def test_uk_and_iso_dates_both_read(tmp_path):
    f = write(tmp_path / "people.csv", PEOPLE_HEADER + "P1,North,01/04/2024,1,female\n"
              "P2,North,2024-04-01,1,male\nP3,South,,5,F\n")
    df, account = read_table(f, "people")
    assert df["pilot_start"].iloc[0] == df["pilot_start"].iloc[1] == pd.Timestamp("2024-04-01")
    assert pd.isna(df["pilot_start"].iloc[2])
    assert df["sex"].tolist() == ["female", "male", "female"]
    assert account.used == 3


def test_negative_unit_cost(tmp_path):
    f = write(tmp_path / "unit_costs.csv",
              "item,unit,cost_gbp,price_year,partner,cashable_share,source\n"
              "Arrest,per arrest,593,2006/07,Police,0,UCD CR7.0\n"
              "Bad,per case,-20,2010-11,Council,0,made up\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "unit_costs")
    assert_problem(exc.value, file="unit_costs.csv", row=3, column="cost_gbp", contains="positive")


def test_unit_cost_without_valid_price_year(tmp_path):
    f = write(tmp_path / "unit_costs.csv",
              "item,unit,cost_gbp,price_year,partner,cashable_share,source\n"
              "Arrest,per arrest,593,not stated,Police,0,UCD CR7.0\n"
              "Visit,per visit,50,,NHS,0,somewhere\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "unit_costs")
    assert_problem(exc.value, file="unit_costs.csv", row=2, column="price_year",
                   contains="financial year")
    assert_problem(exc.value, file="unit_costs.csv", row=3, column="price_year", contains="empty")


def test_cashable_share_outside_0_1(tmp_path):
    f = write(tmp_path / "unit_costs.csv",
              "item,unit,cost_gbp,price_year,partner,cashable_share,source\n"
              "Arrest,per arrest,593,2006-07,Police,1.5,UCD CR7.0\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "unit_costs")
    assert_problem(exc.value, file="unit_costs.csv", row=2, column="cashable_share",
                   contains="between 0 and 1")


def test_unknown_person_in_events(place_dir):
    events = place_dir / "events.csv"
    events.write_text(events.read_text() + "E0000099,P9999999,2024-06-01,Police,Response,"
                      "contact,,\n")
    with pytest.raises(ValidationError) as exc:
        load_place(place_dir / "place.yml")
    assert_problem(exc.value, file="events.csv", row=17, column="person_id",
                   contains="not found in the people table")


def test_duplicate_id(tmp_path):
    f = write(tmp_path / "people.csv", PEOPLE_HEADER + "P1,North,,1,female\nP2,North,,1,male\n"
              "P1,South,,5,male\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    assert_problem(exc.value, file="people.csv", row=4, column="person_id", contains="unique")
    assert "first seen in row 2" in str(exc.value)


def test_empty_file(tmp_path):
    f = write(tmp_path / "people.csv", "")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    assert "people.csv" in str(exc.value) and "empty" in str(exc.value)


def test_header_only_file_for_required_table(tmp_path):
    f = write(tmp_path / "people.csv", PEOPLE_HEADER)
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    assert "no data rows" in str(exc.value)


def test_semicolon_delimiter_is_detected_and_noted(tmp_path):
    f = write(tmp_path / "people.csv", "person_id;area;deprivation_decile\nP1;North;2\n")
    df, account = read_table(f, "people")
    assert df["area"].tolist() == ["North"]
    assert any("semicolons" in n for n in account.notes)


def test_wrong_delimiter_row_error_names_row(tmp_path):
    # A comma file with one line that has an extra separator: a ragged row.
    f = write(tmp_path / "people.csv", "person_id,area\nP1,North\nP2,South,extra,more\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    assert "people.csv" in str(exc.value) and "line 3" in str(exc.value)


def test_excel_csv_with_bom_is_read(tmp_path):
    f = tmp_path / "people.csv"
    f.write_bytes(b"\xef\xbb\xbf" + (PEOPLE_HEADER + "P1,North,,1,female\n").encode())
    df, account = read_table(f, "people")
    assert list(df.columns[:2]) == ["person_id", "area"]
    assert any("byte-order mark" in n for n in account.notes)


def test_cp1252_csv_is_read_with_a_note(tmp_path):
    f = write(tmp_path / "partners.csv", "partner,budget\nCaf\u00e9 Trust,\u00a31,200\n".replace(
        "\u00a31,200", '"\u00a31,200"'), encoding="cp1252")
    df, account = read_table(f, "partners")
    assert df["partner"].iloc[0] == "Caf\u00e9 Trust"
    assert df["budget"].iloc[0] == 1200.0
    assert any("Windows-1252" in n for n in account.notes)


def test_bad_value_after_cp1252_read_still_names_row_and_column(tmp_path):
    f = write(tmp_path / "partners.csv", "partner,budget\nCaf\u00e9 Trust,lots\n",
              encoding="cp1252")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "partners")
    assert_problem(exc.value, file="partners.csv", row=2, column="budget", contains="number")


def test_file_that_does_not_exist(place_dir):
    yml = place_dir / "place.yml"
    yml.write_text(yml.read_text().replace("people: people.csv", "people: peple.csv"))
    with pytest.raises(ValidationError) as exc:
        load_place(yml)
    text = str(exc.value)
    assert "peple.csv" in text and "not found" in text and "Did you mean 'people.csv'" in text


def test_referral_without_referred_to(tmp_path):
    f = write(tmp_path / "events.csv", "person_id,date,organisation,event_type,referred_to\n"
              "P1,2024-01-02,Police,referral,\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "events")
    assert_problem(exc.value, file="events.csv", row=2, column="referred_to",
                   contains="referral")


def test_unknown_event_type(tmp_path):
    f = write(tmp_path / "events.csv", "person_id,date,organisation,event_type\n"
              "P1,2024-01-02,Police,arrest\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "events")
    assert_problem(exc.value, file="events.csv", row=2, column="event_type",
                   contains="one of contact")


def test_empty_required_cell(tmp_path):
    f = write(tmp_path / "events.csv", "person_id,date,organisation,event_type\n"
              "P1,2024-01-02,,contact\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "events")
    assert_problem(exc.value, file="events.csv", row=2, column="organisation", contains="empty")


def test_duplicate_header_column(tmp_path):
    f = write(tmp_path / "people.csv", "person_id,area,area\nP1,North,South\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    assert_problem(exc.value, file="people.csv", row=1, column="area", contains="twice")


def test_excel_sheet_problems_name_the_sheet_and_row(place_dir):
    from openpyxl import load_workbook

    book = place_dir / "inputs.xlsx"
    wb = load_workbook(book)
    wb["people"]["G3"] = "lots"  # deprivation_decile of the second person
    wb.save(book)
    yml = place_dir / "place.yml"
    yml.write_text(yml.read_text().replace("people: people.csv", "people: inputs.xlsx#people"))
    with pytest.raises(ValidationError) as exc:
        load_place(yml)
    assert_problem(exc.value, file="inputs.xlsx#people", row=3, column="deprivation_decile")


def test_all_problems_reported_at_once(tmp_path):
    f = write(tmp_path / "people.csv", PEOPLE_HEADER + "P1,North,bad,1,female\n"
              "P1,,2024-01-01,99,alien\n")
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    cols = {(p.row, p.column) for p in exc.value.problems}
    assert {(2, "pilot_start"), (3, "person_id"), (3, "area"), (3, "deprivation_decile"),
            (3, "sex")} <= cols


def test_many_identical_problems_are_summarised(tmp_path):
    rows = "".join(f"P{i},North,,x,female\n" for i in range(500))
    f = write(tmp_path / "people.csv", PEOPLE_HEADER + rows)
    with pytest.raises(ValidationError) as exc:
        read_table(f, "people")
    assert "and 450 more rows with the same problem" in str(exc.value)


# ---------------------------------------------------------------------------
# Row accounting
# ---------------------------------------------------------------------------
def test_blank_rows_are_excluded_and_counted(tmp_path):
    f = write(tmp_path / "people.csv", PEOPLE_HEADER + "P1,North,,1,female\n,,,,\n"
              "P2,South,,2,male\n,,,,\n")
    df, account = read_table(f, "people")
    assert len(df) == 2
    assert (account.read, account.used, account.excluded) == (4, 2, 2)
    assert account.exclusions == {"blank row": 2}
    assert account.examples["blank row"] == [3, 5]


def test_extra_columns_are_kept_and_typed(tmp_path):
    f = write(tmp_path / "people.csv", "person_id,area,prior_contacts,team\nP1,North,3,A\n"
              "P2,South,,B\n")
    df, _ = read_table(f, "people")
    assert df["prior_contacts"].dtype.name == "Int64"
    assert df["team"].tolist() == ["A", "B"]


def test_analysis_exclusions_keep_the_accounting_whole():
    people = pd.DataFrame({"person_id": ["P1", "P2", "P3"], "area": ["A", "A", "B"]})
    partners = pd.DataFrame({"partner": ["X"]})
    _, accounting = validate_tables({"people": people, "partners": partners})
    accounting.exclude("people", "out of scope", [3])
    a = accounting["people"]
    assert a.read == a.used + a.excluded == 3
    with pytest.raises(InputError):
        accounting.exclude("people", "too many", 5)


# ---------------------------------------------------------------------------
# place.yml
# ---------------------------------------------------------------------------
def test_templates_validate(place_dir):
    place = load_place(place_dir / "place.yml")
    assert place.name == "Exampletown"
    assert set(place.tables) >= {"people", "events", "partners", "unit_costs"}
    totals = place.accounting.totals()
    assert (totals["read"] == totals["used"] + totals["excluded"]).all()
    assert len(place.provenance()) == len(place.tables)
    assert place.provenance()["sha256"].str.len().eq(64).all()


def test_templates_workbook_gives_the_same_tables(place_dir):
    yml = place_dir / "place.yml"
    text = yml.read_text()
    for t in ("people", "partners", "areas", "events", "outcomes", "area_outcomes",
              "unit_costs", "organisations", "benefit_map"):
        text = text.replace(f"  {t}: {t}.csv", f"  {t}: inputs.xlsx#{t}")
    (place_dir / "xlsx.yml").write_text(text)
    a = load_place(yml)
    b = load_place(place_dir / "xlsx.yml")
    for t in a.tables:
        pd.testing.assert_frame_equal(a.tables[t], b.tables[t], check_dtype=False)


def test_yaml_unknown_key_names_the_key(place_dir):
    yml = place_dir / "place.yml"
    yml.write_text(yml.read_text().replace("  window_days: 90", "  windw_days: 90"))
    with pytest.raises(ConfigError) as exc:
        load_place(yml)
    assert "waste.windw_days" in str(exc.value) and "unknown key" in str(exc.value)


def test_yaml_bad_value_names_key_and_value(place_dir):
    yml = place_dir / "place.yml"
    yml.write_text(yml.read_text().replace("  price_year: 2024-25", "  price_year: last year"))
    with pytest.raises(ConfigError) as exc:
        load_place(yml)
    assert "money.price_year" in str(exc.value) and "financial year" in str(exc.value)


def test_yaml_missing_required_key(place_dir):
    yml = place_dir / "place.yml"
    yml.write_text(yml.read_text().replace("name: Exampletown\n", ""))
    with pytest.raises(ConfigError) as exc:
        load_place(yml)
    assert "name: required key is missing" in str(exc.value)


def test_yaml_syntax_error_gives_line(place_dir):
    yml = place_dir / "place.yml"
    yml.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError) as exc:
        load_place(yml)
    assert "line" in str(exc.value) and "place.yml" in str(exc.value)


def test_relative_paths_resolve_from_yaml_folder(place_dir, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    place = load_place(place_dir / "place.yml")
    assert place.root == place_dir.resolve()


def test_event_type_map(tmp_path):
    people = pd.DataFrame({"person_id": ["P1"], "area": ["A"]})
    events = pd.DataFrame({"person_id": ["P1", "P1"], "date": ["2024-01-01", "2024-01-02"],
                           "organisation": ["Police", "Police"], "event_type": ["ASMT", "contact"]})
    from evalkit.place import Place

    place = Place.from_tables({"people": people, "events": events,
                               "partners": pd.DataFrame({"partner": ["Police"]})},
                              {"events": {"event_type_map": {"ASMT": "assessment"}}})
    assert place.events["event_type"].tolist() == ["assessment", "contact"]
    with pytest.raises(ConfigError) as exc:
        Place.from_tables({"people": people, "partners": pd.DataFrame({"partner": ["P"]})},
                          {"events": {"event_type_map": {"ASMT": "assesment"}}})
    assert "events.event_type_map" in str(exc.value)


def test_pilot_starts_from_areas(place_dir):
    place = load_place(place_dir / "place.yml")
    starts = place.pilot_starts()
    assert starts["P0000001"] == pd.Timestamp("2024-04-01")
    assert pd.isna(starts["P0000004"])


def test_in_memory_dataframe_problems_name_the_table():
    people = pd.DataFrame({"person_id": ["P1", "P2"], "area": ["A", None]})
    with pytest.raises(ValidationError) as exc:
        validate_table(people, "people")
    assert "<people table>, row 3, column 'area'" in str(exc.value)
