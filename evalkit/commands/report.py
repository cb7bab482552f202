"""``evalkit report``: build a place's published report."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError, EvalkitError, ValidationError


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``."""

    @app.command("report")
    def report(
        place_yml: Path | None = typer.Argument(
            None, help="The place's place.yml (omit with --demo)."),
        out: Path | None = typer.Option(
            None, "--out", help="Output folder (default: ./report-<place> or ./report-demo)."),
        demo: bool = typer.Option(
            False, "--demo", help="Build the report for evalkit's built-in synthetic place."),
        people: int = typer.Option(
            20_000, "--people", help="With --demo: how many people the synthetic place has."),
        pdf: bool = typer.Option(
            False, "--pdf", help="Also print a PDF with headless Chromium (if installed)."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    ) -> None:
        """Build the place's report: a Jupyter Book (HTML), CSV downloads and a finance workbook.

        Every published number passes disclosure control, and the leak scan runs last:
        the command fails (exit 1) if a chapter fails or anything identifying is found.
        """
        from ..place import load_place
        from ..report import build_report

        if demo == (place_yml is not None):
            typer.echo("Give either a place.yml or --demo (not both).", err=True)
            raise typer.Exit(2)
        try:
            if demo:
                from ..synthetic import make_place

                place = make_place(n_people=people).place
                out_dir = out or Path("report-demo")
            else:
                place = load_place(place_yml)
                out_dir = out or Path(f"report-{place.name.lower().replace(' ', '-')}")
            result = build_report(place, out_dir, pdf=pdf, demo=demo, progress=not quiet)
        except (ConfigError, ValidationError) as err:
            typer.echo(str(err), err=True)
            typer.echo("\nRun 'evalkit validate' for the full list of problems.", err=True)
            raise typer.Exit(1) from None
        except EvalkitError as err:
            typer.echo(str(err), err=True)
            raise typer.Exit(1) from None
        typer.echo(f"Report: {result.index}")
        if result.pdf:
            typer.echo(f"PDF: {result.pdf}")
