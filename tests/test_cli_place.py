"""`evalkit init` and `evalkit validate` from the command line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.templates import data_dictionary, example_tables, template_dir

runner = CliRunner()


def test_init_then_validate_succeeds(tmp_path):
    folder = tmp_path / "p"
    res = runner.invoke(app, ["init", str(folder)])
    assert res.exit_code == 0, res.output
    assert (folder / "place.yml").exists() and (folder / "inputs.xlsx").exists()
    res = runner.invoke(app, ["validate", str(folder / "place.yml")])
    assert res.exit_code == 0, res.output
    assert "settings and data are valid" in res.output
    assert "events" in res.output and "15 read" in res.output


def test_init_refuses_to_overwrite(tmp_path):
    folder = tmp_path / "p"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    res = runner.invoke(app, ["init", str(folder)])
    assert res.exit_code == 1 and "--force" in res.output
    assert runner.invoke(app, ["init", str(folder), "--force"]).exit_code == 0


def test_validate_reports_problems_and_exits_nonzero(tmp_path):
    folder = tmp_path / "p"
    runner.invoke(app, ["init", str(folder)])
    people = folder / "people.csv"
    people.write_text(people.read_text().replace("P0000002,Northfield", "P0000002,"))
    out_csv = tmp_path / "problems.csv"
    res = runner.invoke(app, ["validate", str(folder / "place.yml"), "--problems-csv",
                              str(out_csv)])
    assert res.exit_code == 1
    assert "people.csv, row 3, column 'area'" in res.output
    assert out_csv.exists() and "area" in out_csv.read_text()


def test_validate_bad_yaml_exits_nonzero(tmp_path):
    yml = tmp_path / "place.yml"
    yml.write_text("name: X\ndata:\n  people: people.csv\n")
    res = runner.invoke(app, ["validate", str(yml)])
    assert res.exit_code == 1
    assert "data.partners: required key is missing" in res.output


def test_every_command_has_help():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    names = [c.name for c in app.registered_commands]
    assert {"validate", "init"} <= set(names)
    for name in names:
        r = runner.invoke(app, [name, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output, name


def test_committed_templates_match_the_schema():
    """data/templates is generated from evalkit.schema; regenerate if this fails:
    python -m evalkit.templates data/templates"""
    folder = template_dir()
    assert (folder / "README.md").read_text(encoding="utf-8") == data_dictionary()
    for name, df in example_tables().items():
        expected = df.to_csv(index=False, lineterminator="\n")
        assert (folder / f"{name}.csv").read_text(encoding="utf-8") == expected, name


def test_data_dictionary_documents_every_column():
    from evalkit.schema import TABLES

    text = data_dictionary()
    for spec in TABLES.values():
        assert f"## `{spec.name}`" in text
        for c in spec.columns:
            assert f"| `{c.name}` |" in text


def test_template_dir_is_the_repository_copy_in_a_source_tree():
    assert Path(template_dir(), "place.yml").exists()
