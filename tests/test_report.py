"""The published report: the demo book and a templates place build, offline and leak-free.

The demo book is built once per test session (it is the expensive part); the
tests then read the built HTML and CSV downloads, never re-running the
analyses, and compare them with the result objects the build kept.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalkit.place import load_place
from evalkit.report import build_report, external_urls
from evalkit.report.build import ReportBuildError
from evalkit.templates import template_dir


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    from evalkit.synthetic import make_place

    out = tmp_path_factory.mktemp("demo-report")
    place = make_place().place
    return build_report(place, out, demo=True, progress=False)


@pytest.fixture(scope="session")
def templates_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tplace")
    shutil.copytree(template_dir(), folder, dirs_exist_ok=True)
    place = load_place(folder / "place.yml")
    return build_report(place, folder / "out", progress=False)


def _html(build, page: str) -> str:
    return (build.html_dir / page).read_text(encoding="utf-8")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


CHAPTERS = ("index", "pillar-to-post", "did-it-work", "who-benefits", "sharing-the-cost",
            "sustaining-it", "shared-challenges", "early-help", "methods-and-data", "glossary")


def test_demo_book_builds_every_chapter(demo_build):
    for page in CHAPTERS:
        assert (demo_build.html_dir / f"{page}.html").exists(), page
        assert "Not available for this place" not in _html(demo_build, f"{page}.html"), page
    assert all(s.ok for s in demo_build.context.sections.values())
    assert "built-in demonstration place" in _text(_html(demo_build, "index.html"))


def _csv(build, name: str) -> pd.DataFrame:
    return pd.read_csv(build.html_dir / "_static" / "downloads" / f"{name}.csv")


def test_headline_effects_match_the_result_objects(demo_build):
    """The published effects table and the summary page carry the estimator's numbers."""
    ctx = demo_build.context
    ev = ctx.section("evaluate").results["evaluation"]
    csv = _csv(demo_build, "effects")
    head = ev.to_frame("headline")
    assert len(csv) == len(head)
    for (_, pub_row), (_, res) in zip(csv.iterrows(), head.iterrows()):
        # published to 4 decimal places: equal to within half the last digit
        assert float(pub_row["Change per person per month"]) == pytest.approx(
            res["estimate"], abs=5e-5)
        assert float(pub_row["Lower (95%)"]) == pytest.approx(res["ci_lower"], abs=5e-5)
        # counts of people are published rounded to the nearest 5 (NHS rule)
        assert int(pub_row["People in the pilot"]) == 5 * round(res["n_treated"] / 5)
    summary = _text(_html(demo_build, "index.html"))
    ae = head.set_index("outcome").loc["ae_attendances"]
    assert f"about {abs(ae['percent_change']):.0f}% fewer" in summary
    assert f"level {ev.sms.level} of 5" in summary


def test_headline_money_matches_the_result_objects(demo_build):
    ctx = demo_build.context
    waste = ctx.section("waste").results["report"]
    totals = waste.to_frame("totals").set_index("label")
    csv = _csv(demo_build, "waste_totals").set_index("Measure")
    for label in ("Stories retold (new organisation)", "Bounced referrals (declined, re-referred)"):
        assert int(csv.loc[label, "Number"]) == 5 * round(totals.loc[label, "count"] / 5)
    summary = _text(_html(demo_build, "index.html"))
    stories = 5 * round(totals.loc["Stories retold (new organisation)", "count"] / 5)
    assert f"{stories:,} times" in summary
    cost = float(waste.total_avoidable_cost)
    assert f"£{cost / 1e6:,.1f} million" in summary
    apr = ctx.section("benefits").results["appraisal"]
    assert f"£{apr.pv_benefits('fiscal') / 1e6:,.1f} million" in summary
    bcr = apr.bcr("fiscal")
    assert f"benefit-cost ratio {bcr:,.2f}" in summary
    res = ctx.section("sustain").results["result"]
    funding = _csv(demo_build, "funding_cliff")
    np_gap = res.to_frame("funding")["gap"].to_numpy()
    published_gap = funding["Funding gap"].astype(str).str.replace("[£,]", "", regex=True)
    assert np.allclose(published_gap.astype(float), np_gap, atol=0.5)


def test_book_loads_nothing_from_the_web(demo_build):
    assert external_urls(demo_build.html_dir) == []
    for page in demo_build.html_dir.glob("*.html"):
        assert "unpkg.com" not in page.read_text(encoding="utf-8")


def test_row_accounting_matches_the_place(demo_build):
    ctx = demo_build.context
    csv = pd.read_csv(demo_build.html_dir / "_static" / "downloads" / "row_accounting.csv")
    read = csv.set_index("Table")["Rows read"]
    expected = ctx.accounting[ctx.accounting["status"] == "read"].set_index("table")["rows"]
    assert read.to_dict() == expected.to_dict()
    page = _text(_html(demo_build, "methods-and-data.html"))
    assert f"{int(expected['events']):,}" in page


def test_provenance_is_recorded(demo_build):
    page = _text(_html(demo_build, "methods-and-data.html"))
    assert "SHA-256" in page and "random seed" in page
    assert demo_build.context.versions["evalkit"] in page
    for sha in demo_build.context.provenance["sha256"]:
        assert sha in page


def test_every_download_has_a_disclosure_sidecar(demo_build):
    downloads = demo_build.html_dir / "_static" / "downloads"
    csvs = sorted(downloads.glob("*.csv"))
    assert csvs
    for f in csvs:
        assert Path(str(f) + ".disclosure.json").exists(), f.name


def test_leak_scan_ran_and_passed(demo_build):
    scan = (demo_build.out_dir / "disclosure-scan.txt").read_text()
    assert "0 finding(s)" in scan


def test_templates_place_builds_a_book(templates_build):
    assert templates_build.index.exists()
    page = _text(templates_build.index.read_text(encoding="utf-8"))
    assert "Exampletown" in page


def test_pdf_without_chromium_says_how_to_install(monkeypatch, templates_build, tmp_path):
    import evalkit.report.build as b

    monkeypatch.setattr(b, "find_chromium", lambda: None)
    with pytest.raises(ReportBuildError, match="apt install chromium"):
        b.print_pdf(templates_build.index, tmp_path / "x.pdf")


def test_a_planted_leak_fails_the_build(tmp_path, monkeypatch):
    """A chapter that prints a person identifier makes the leak scan fail the build."""
    import evalkit.report.main as m

    folder = tmp_path / "place"
    shutil.copytree(template_dir(), folder)
    place = load_place(folder / "place.yml")
    template = tmp_path / "template"
    shutil.copytree(m.book_template_dir(), template)
    glossary = template / "glossary.md"
    glossary.write_text(glossary.read_text() + "\nThe person P0000004 told us a lot.\n")
    monkeypatch.setattr(m, "book_template_dir", lambda: template)
    with pytest.raises(ReportBuildError, match="leak scan"):
        build_report(place, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "html").exists()


def test_same_inputs_and_seed_give_identical_published_tables(tmp_path):
    """Reproducibility: every published table (and so every CSV download) is identical
    when the same place is analysed twice."""
    from evalkit.report.prepare import prepare_context
    from evalkit.synthetic import make_place

    place = make_place(n_people=6_000, seed=5).place
    a = prepare_context(place, tmp_path / "a", progress=False)
    b = prepare_context(place, tmp_path / "b", progress=False)
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name].frame, b.tables[name].frame, obj=name)
        assert (tmp_path / "a" / a.tables[name].csv).read_bytes() == \
            (tmp_path / "b" / b.tables[name].csv).read_bytes(), name
