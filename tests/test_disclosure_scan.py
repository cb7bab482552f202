"""The leak scan and ``evalkit check-disclosure``."""

from __future__ import annotations

import base64
import datetime as dt
import json
from types import SimpleNamespace

import pandas as pd
import pytest
import typer
from openpyxl import Workbook
from typer.testing import CliRunner

from evalkit.commands import disclosure as cmd
from evalkit.disclosure import (
    DisclosurePolicy,
    protect_table,
    scan_build,
    write_xlsx,
)
from evalkit.errors import InputError

PEOPLE = pd.DataFrame({
    "person_id": ["P0000123", "P0000124", "P0000125"],
    "date_of_birth": pd.to_datetime(["1990-05-17", "1984-11-02", "2001-01-30"]),
    "postcode": ["AN1 2YT", "AN3 9QZ", None],
})
EVENTS = pd.DataFrame({"person_id": ["P0000123", "P0000126"]})
IDS = sorted(set(PEOPLE.person_id) | set(EVENTS.person_id))
DOBS = PEOPLE.date_of_birth.tolist()

CLEAN_PAGE = """<!DOCTYPE html><html><head><title>Anytown pilot</title>
<script>var config = {"version": "1.0", "built": "2025-03-14"};</script></head>
<body><h1>Anytown integrated pilot, 2024</h1>
<p>Between 2023-04-01 and 2024-03-31 the pilot saw 1,990 people; 19900518 events were
not recorded. Person P00001234 and XP0000123 are not real ids. In May 1990 and on
17 May the team met. Office: AN1 1AA (allowed).</p>
{table}
<img src="chart.png" alt="Bar chart of referrals by area, 2024">
</body></html>"""


def make_build(tmp_path, page_extra: str = "", csv_extra: dict | None = None):
    build = tmp_path / "_build" / "html"
    build.mkdir(parents=True)
    t = protect_table(pd.DataFrame({"yes": [3, 15, 12], "no": [20, 25, 30]},
                                   index=pd.Index(["N", "S", "E"], name="area")), name="t1")
    (build / "index.html").write_text(CLEAN_PAGE.replace("{table}", t.to_html() + page_extra))
    csv_table = protect_table(pd.Series({"North": 40, "South": 55}, name="people"))
    csv_path = build / "_downloads" / "people.csv"
    csv_table.to_csv(csv_path)
    if csv_extra:
        df = pd.read_csv(csv_path)
        for k, v in csv_extra.items():
            df[k] = v
        df.to_csv(csv_path, index=False)
    return build


def scan(build, **kw):
    kw.setdefault("identifiers", IDS)
    kw.setdefault("dates_of_birth", DOBS)
    kw.setdefault("postcodes", PEOPLE.postcode.dropna().tolist())
    kw.setdefault("allowed_postcodes", ["AN1 1AA"])
    kw.setdefault("policy", DisclosurePolicy.nhs())
    return scan_build(build, **kw)


def test_clean_build_passes_without_false_positives(tmp_path):
    r = scan(make_build(tmp_path))
    assert r.ok, r.lines(show_values=True)
    assert {"index.html", "_downloads/people.csv",
            "_downloads/people.csv.disclosure.json"} <= set(r.files_scanned)


def test_planted_identifier_and_dob_in_page_and_csv_are_caught(tmp_path):
    build = make_build(
        tmp_path,
        page_extra="<p>Case study: P0000123, born 17 May 1990.</p>",
        csv_extra={"note": ["client P0000124", "dob 02/11/1984", ""]},
    )
    r = scan(build)
    assert not r.ok
    found = {(f.file, f.kind, f.value) for f in r.findings}
    assert ("index.html", "person identifier", "P0000123") in found
    assert ("index.html", "date of birth", "17 May 1990") in found
    assert ("_downloads/people.csv", "person identifier", "P0000124") in found
    assert ("_downloads/people.csv", "date of birth", "02/11/1984") in found
    page_id = next(f for f in r.findings if f.file == "index.html" and f.kind == "person identifier")
    assert page_id.location.startswith("line ")
    csv_dob = next(f for f in r.findings if f.file.endswith(".csv") and f.kind == "date of birth")
    assert csv_dob.location == "row 3, column 'note'"
    # the log masks what it found
    assert "P0000123" not in page_id.describe() and "P0000123" in page_id.describe(True)


@pytest.mark.parametrize("text", [
    "1990-05-17", "1990-05-17T00:00:00", "1990-05-17 00:00:00", "17/05/1990", "17/5/1990",
    "17-05-1990", "17.05.1990", "17/05/90", "05/17/1990", "17 May 1990", "17th May 1990",
    "17th of May, 1990", "17 MAY 1990", "17-May-1990", "May 17, 1990",
    "642902400", "642902400000",
])
def test_dates_of_birth_in_any_spelling(tmp_path, text):
    (tmp_path / "page.md").write_text(f"Recorded {text}.")
    r = scan_build(tmp_path, dates_of_birth=["1990-05-17"])
    assert [f.kind for f in r.findings] == ["date of birth"], text


@pytest.mark.parametrize("text", [
    "1990", "in 1990", "17 May", "May 1990", "1990-05-18", "18/05/1990", "1990-05",
    "19900518", "19900517", "17/05/1991", "P1990-05-170", "642902401", "version 1.990.5.17",
    "M7.1.90", "1.5.90", "17.5.1990.2", "17-5-90",
])
def test_ordinary_years_and_numbers_not_flagged(tmp_path, text):
    (tmp_path / "page.md").write_text(f"Recorded {text}.")
    r = scan_build(tmp_path, dates_of_birth=["1990-05-17"], identifiers=["P0000123"])
    assert r.ok, (text, r.lines(True))


@pytest.mark.parametrize("text,hit", [
    ("P0000123", True), ("p0000123", True), ("(P0000123)", True), ("id=P0000123&x", True),
    ("people/P0000123.html", True), ("P0000123.", True),
    ("P00001234", False), ("XP0000123", False), ("P0000123A", False), ("P000012", False),
])
def test_identifier_whole_token(tmp_path, text, hit):
    (tmp_path / "a.txt").write_text(text)
    r = scan_build(tmp_path, identifiers=["P0000123"])
    assert (not r.ok) is hit, text


def test_identifiers_with_punctuation_and_short_ids(tmp_path):
    (tmp_path / "a.txt").write_text("ref AB-00/17 and 42 and 943 476 5919 but 9434765919x")
    r = scan_build(tmp_path, identifiers=["AB-00/17", "42", "9434765919"])
    assert [f.value for f in r.findings] == ["AB-00/17"]
    assert any("too short" in n for n in r.notes)  # "42" cannot be searched safely


def test_postcodes(tmp_path):
    (tmp_path / "a.html").write_text("<p>lives at an12yt; office AN1 1AA; other SW1A 1AA; "
                                     "code A1 2BC x</p>")
    r = scan_build(tmp_path, postcodes=["AN1 2YT"], allowed_postcodes=["AN1 1AA"])
    values = sorted(f.value for f in r.findings if f.kind == "postcode")
    assert values == ["SW1A 1AA", "an12yt"]
    r2 = scan_build(tmp_path, postcodes=["AN1 2YT"], allowed_postcodes=["AN1 1AA", "SW1A 1AA"])
    assert [f.value for f in r2.findings] == ["an12yt"]


def test_small_counts_in_marked_tables(tmp_path):
    (tmp_path / "t.html").write_text(
        '<table class="evalkit-table evalkit-counts" data-evalkit-table="protected">'
        '<tr><th data-evalkit-kind="label">area</th><th data-evalkit-kind="count">n</th>'
        '<th data-evalkit-kind="derived">pct</th></tr>'
        '<tr><th data-evalkit-kind="label">N</th><td data-evalkit-kind="count">5</td>'
        '<td data-evalkit-kind="derived">3.5</td></tr>'
        '<tr><th>S</th><td data-evalkit-kind="count">13</td><td data-evalkit-kind="derived">2</td></tr>'
        '<tr><th>E</th><td data-evalkit-kind="count">*</td><td data-evalkit-kind="derived">*</td></tr>'
        "</table>"
        '<table class="evalkit-counts"><tr><td>4</td><td>1,250</td></tr></table>'
        "<table><tr><td>3</td></tr></table>")
    r = scan_build(tmp_path)
    kinds = [(f.kind, f.location) for f in r.findings]
    assert [k for k, _ in kinds] == ["small count", "unrounded count", "small count"]
    assert "table 1, row 2, column 2 'n'" in kinds[0][1]
    assert "table 2, row 1, column 1" in kinds[2][1]


def test_opted_out_table_listed_not_failed(tmp_path):
    from evalkit.disclosure import protect

    pt = protect(pd.DataFrame({"region": ["England"], "n": [3]}), counts=["n"],
                 opt_out="national figure published by ONS", name="national")
    (tmp_path / "p.html").write_text(pt.to_html())
    r = scan_build(tmp_path)
    assert r.ok
    assert any("without disclosure control: national figure" in n for n in r.notes)


def test_csv_sidecar_counts_checked(tmp_path):
    pt = protect_table(pd.Series({"a": 40, "b": 55}, name="n"))
    path = pt.to_csv(tmp_path / "d.csv")
    text = path.read_text().replace("40", "6")
    path.write_text(text)
    r = scan_build(tmp_path)
    assert [(f.kind, f.location) for f in r.findings] == [("small count", "row 2, column 'n'")]
    (tmp_path / "plain.csv").write_text("a,b\n1,2\n")
    assert any("plain.csv" in n and "sidecar" in n for n in scan_build(tmp_path).notes)


def test_xlsx_counts_dates_and_ids(tmp_path):
    pt = protect_table(pd.Series({"a": 40, "b": 55}, name="n"))
    path = write_xlsx(tmp_path / "t.xlsx", {"People": pt})
    from openpyxl import load_workbook

    wb = load_workbook(path)
    wb["People"]["B2"] = 3
    wb["People"]["D5"] = dt.datetime(1990, 5, 17)
    wb["People"]["E6"] = "see P0000123"
    wb.save(path)
    r = scan_build(tmp_path, identifiers=["P0000123"], dates_of_birth=["1990-05-17"])
    got = sorted((f.kind, f.location) for f in r.findings)
    assert got == [("date of birth", "sheet 'People', cell D5"),
                   ("person identifier", "sheet 'People', cell E6"),
                   ("small count", "sheet 'People', cell B2")]


def test_unmarked_xlsx_still_scanned_for_identifiers(tmp_path):
    wb = Workbook()
    wb.active["A1"] = "P0000125"
    wb.save(tmp_path / "raw.xlsx")
    r = scan_build(tmp_path, identifiers=IDS)
    assert [f.kind for f in r.findings] == ["person identifier"]


def test_embedded_data_alt_text_json_and_notebooks(tmp_path):
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><text>P0000124</text></svg>'
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    (tmp_path / "a.html").write_text(
        f'<img alt="Chart of P0000123" src="x.png"><img src="{uri}">'
        '<script type="application/json">{"dob": 642902400000}</script>'
        "<!-- P0000125 -->")
    (tmp_path / "data.json").write_text(json.dumps({"rows": [{"born": "1984-11-02"}]}))
    nb = {"cells": [{"cell_type": "code", "source": ["x = 1\n"], "outputs": [
        {"output_type": "execute_result", "data": {
            "text/html": ["<table><tr><td>P0000126</td></tr></table>"],
            "text/plain": ["ok"]}}]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "book.ipynb").write_text(json.dumps(nb))
    r = scan_build(tmp_path, identifiers=IDS, dates_of_birth=DOBS)
    got = {(f.file, f.kind, f.value) for f in r.findings}
    assert ("a.html", "person identifier", "P0000123") in got        # alt text
    assert ("a.html", "person identifier", "P0000124") in got        # inside a data URI
    assert ("a.html", "date of birth", "642902400000") in got        # epoch ms in JSON
    assert ("a.html", "person identifier", "P0000125") in got        # HTML comment
    assert ("data.json", "date of birth", "1984-11-02") in got
    assert ("book.ipynb", "person identifier", "P0000126") in got
    loc = next(f.location for f in r.findings if f.file == "book.ipynb")
    assert loc.startswith("cell 1 output 1 (text/html)")


def test_png_text_chunks_and_binaries_listed(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    fig.savefig(tmp_path / "fig.png", metadata={"Title": "Referrals of P0000123"})
    plt.close(fig)
    (tmp_path / "font.woff2").write_bytes(b"\x00\x01binary")
    r = scan_build(tmp_path, identifiers=IDS)
    assert [(f.file, f.kind) for f in r.findings] == [("fig.png", "person identifier")]
    assert ("font.woff2", "binary file (not scanned)") in r.not_scanned


def test_secret_key_is_found(tmp_path):
    key = "ab" * 32
    (tmp_path / "a.js").write_text(f'var k = "{key}";')
    r = scan_build(tmp_path, secrets=[key])
    assert [f.kind for f in r.findings] == ["secret"]
    assert key not in r.findings[0].describe()


def test_allowed_dates(tmp_path):
    (tmp_path / "a.md").write_text("The pilot began on 2024-04-01.")
    assert not scan_build(tmp_path, dates_of_birth=["2024-04-01"]).ok
    assert scan_build(tmp_path, dates_of_birth=["2024-04-01"], allowed_dates=["2024-04-01"]).ok


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        scan_build(tmp_path / "missing")
    with pytest.raises(InputError, match="cannot read"):
        scan_build(tmp_path, dates_of_birth=["not a date"])


def test_report_summary_and_frame(tmp_path):
    (tmp_path / "a.txt").write_text("P0000123")
    r = scan_build(tmp_path, identifiers=IDS)
    assert r.to_frame().loc[0, "value"] == "P0*****3"
    assert "FAIL" in str(r.summary())
    assert r.plot().get_xlabel() == "Findings (number)"


# ---------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------
def _app() -> typer.Typer:
    app = typer.Typer()
    cmd.register(app)

    @app.callback()
    def _root() -> None:
        """test root"""

    return app


def _fake_place(disclosure=None):
    return SimpleNamespace(people=PEOPLE, events=EVENTS, outcomes=None,
                           settings=SimpleNamespace(disclosure=disclosure or {"rule": "nhs"}))


def test_cli_fails_with_each_finding(tmp_path, monkeypatch):
    build = make_build(tmp_path, page_extra="<p>P0000123 born 17/05/1990</p>",
                       csv_extra={"x": ["P0000124", "1984-11-02", ""]})
    seen = {}
    monkeypatch.setattr(cmd, "_load_place", lambda p: seen.setdefault("p", p) and _fake_place())
    monkeypatch.delenv("EVALKIT_PSEUDONYM_KEY", raising=False)
    res = CliRunner().invoke(_app(), ["check-disclosure", str(build), "--place", "place.yml",
                                      "--allow-postcode", "AN1 1AA"])
    assert res.exit_code == 1, res.output
    out = res.output
    assert "FAIL: 4 finding(s)" in out
    assert "index.html: line" in out and "person identifier" in out
    assert "_downloads/people.csv: row 2, column 'x': person identifier" in out
    assert "_downloads/people.csv: row 3, column 'x': date of birth" in out
    assert "P0000123" not in out            # masked
    assert str(seen["p"]) == "place.yml"


def test_cli_passes_clean_build_and_show_values(tmp_path, monkeypatch):
    build = make_build(tmp_path)
    monkeypatch.setattr(cmd, "_load_place", lambda p: _fake_place())
    res = CliRunner().invoke(_app(), ["check-disclosure", str(build), "--place", "p.yml",
                                      "--allow-postcode", "AN1 1AA"])
    assert res.exit_code == 0, res.output
    assert "PASS" in res.output
    (build / "leak.txt").write_text("P0000125")
    csv_out = tmp_path / "findings.csv"
    res = CliRunner().invoke(_app(), ["check-disclosure", str(build), "--place", "p.yml",
                                      "--allow-postcode", "AN1 1AA", "--show-values",
                                      "--report-csv", str(csv_out)])
    assert res.exit_code == 1 and "P0000125" in res.output
    assert pd.read_csv(csv_out).loc[0, "value"] == "P0000125"


def test_cli_uses_place_policy_key_and_reports_bad_input(tmp_path, monkeypatch):
    build = make_build(tmp_path)
    (build / "t.html").write_text('<table class="evalkit-counts"><tr><td>9</td></tr></table>')
    monkeypatch.setattr(cmd, "_load_place", lambda p: _fake_place({"rule": "ons"}))
    res = CliRunner().invoke(_app(), ["check-disclosure", str(build), "--place", "p.yml",
                                      "--allow-postcode", "AN1 1AA"])
    assert res.exit_code == 1 and "a published count of 9" in res.output   # ONS: under 10
    monkeypatch.setattr(cmd, "_load_place", lambda p: _fake_place())
    res = CliRunner().invoke(_app(), ["check-disclosure", str(build), "--place", "p.yml",
                                      "--allow-postcode", "AN1 1AA"])
    assert res.exit_code == 1 and "not rounded to the nearest 5" in res.output  # HES: 9 shown
    (build / "t.html").unlink()
    monkeypatch.setenv("EVALKIT_PSEUDONYM_KEY", "cd" * 32)
    (build / "k.txt").write_text("cd" * 32)
    res = CliRunner().invoke(_app(), ["check-disclosure", str(build), "--place", "p.yml",
                                      "--allow-postcode", "AN1 1AA"])
    assert res.exit_code == 1 and "secret" in res.output and "cd" * 32 not in res.output
    res = CliRunner().invoke(_app(), ["check-disclosure", str(tmp_path / "nope"),
                                      "--place", "p.yml"])
    assert res.exit_code == 2 and "not a folder" in res.output


def test_cli_with_lead_style_settings_model(tmp_path, monkeypatch):
    """place.settings.disclosure as a pydantic model with only some fields set."""
    from pydantic import BaseModel

    class DisclosureSettings(BaseModel):
        enabled: bool = True
        rule: str = "nhs"
        threshold: int | None = None
        rounding: int | None = None
        symbol: str = "*"
        zeros: str = "show"
        dominance_n: int = 1
        dominance_k: float = 0.8

    build = make_build(tmp_path)
    settings = DisclosureSettings(rule="custom", threshold=5)
    monkeypatch.setattr(cmd, "_load_place", lambda p: _fake_place(settings))
    (build / "t.html").write_text('<table class="evalkit-counts"><tr><td>5</td></tr></table>')
    res = CliRunner().invoke(_app(), ["check-disclosure", str(build), "--place", "p.yml",
                                      "--allow-postcode", "AN1 1AA"])
    assert res.exit_code == 0, res.output          # 5 is publishable under threshold 5


@pytest.mark.slow
def test_real_jupyter_book_build_has_no_false_positives_and_catches_a_leak(tmp_path):
    """Build a small Jupyter Book (theme scripts, search index, fonts) and scan it."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    jb = Path(sys.executable).with_name("jupyter-book")
    if not jb.exists():
        pytest.skip("jupyter-book not installed")
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text("title: Anytown\nexecute:\n  execute_notebooks: 'off'\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n- file: results\n")
    (book / "intro.md").write_text("# Anytown pilot\n\nThe pilot ran from 1 April 2024.\n")
    pt = protect_table(pd.DataFrame({"yes": [3, 15, 12], "no": [20, 25, 30]}), name="t")
    (book / "results.md").write_text("# Results\n\n```{raw} html\n" + pt.to_html() + "\n```\n")
    subprocess.run([str(jb), "build", str(book)], check=True, capture_output=True)
    html_dir = book / "_build" / "html"
    ids = [f"P{i:07d}" for i in range(5000)]
    dobs = pd.date_range("1930-01-01", periods=5000, freq="6D")
    r = scan_build(html_dir, identifiers=ids, dates_of_birth=dobs, policy=DisclosurePolicy.nhs())
    assert r.ok, r.lines(True)[:10]
    (book / "results.md").write_text("# Results\n\nCase P0000042 was born on "
                                     f"{dobs[7]:%d %B %Y}.\n")
    shutil.rmtree(book / "_build")
    subprocess.run([str(jb), "build", str(book)], check=True, capture_output=True)
    r = scan_build(html_dir, identifiers=ids, dates_of_birth=dobs)
    kinds = {(f.file, f.kind) for f in r.findings}
    assert ("results.html", "person identifier") in kinds
    assert ("results.html", "date of birth") in kinds
