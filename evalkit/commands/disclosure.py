"""``evalkit check-disclosure``: the leak scan of a built report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigError, EvalkitError, InputError, ValidationError


def _load_place(path: Path) -> Any:
    """Load a place (kept separate so tests can substitute a loader)."""
    from ..place import load_place

    return load_place(path)


def register(app: typer.Typer) -> None:
    """Add the ``check-disclosure`` command to ``app``."""

    @app.command("check-disclosure")
    def check_disclosure(
        build_dir: Annotated[Path, typer.Argument(
            help="The built report folder to scan (e.g. books/anytown/_build/html).")],
        place: Annotated[Path, typer.Option(
            "--place", help="The place's place.yml: identifiers, dates of birth and "
            "postcodes are taken from its input, the threshold from its disclosure settings.")],
        allow_postcode: Annotated[list[str] | None, typer.Option(
            "--allow-postcode", help="A postcode that may appear (e.g. the council's "
            "address). Repeat for several.")] = None,
        allow_date: Annotated[list[str] | None, typer.Option(
            "--allow-date", help="A date that may appear although someone was born on "
            "it (e.g. the pilot start, 2024-04-01). Repeat for several.")] = None,
        show_values: Annotated[bool, typer.Option(
            "--show-values", help="Print what was found in full (masked by default so "
            "the log does not repeat the leak).")] = False,
        report_csv: Annotated[Path | None, typer.Option(
            "--report-csv", help="Also write the findings to this CSV file.")] = None,
    ) -> None:
        """Scan every file of a built report for identifiers, dates of birth, postcodes and
        unsuppressed small counts.

        Exits with status 1 and lists each finding (file and location) if anything is
        found; 0 if the build is safe to publish.
        """
        from ..disclosure.scan import scan_place_build

        try:
            loaded = _load_place(place)
            report = scan_place_build(build_dir, loaded, allowed_postcodes=allow_postcode or [],
                                      allowed_dates=allow_date or [])
        except (ConfigError, ValidationError, InputError) as err:
            typer.echo(str(err), err=True)
            raise typer.Exit(2) from None
        except EvalkitError as err:  # pragma: no cover - any other deliberate error
            typer.echo(str(err), err=True)
            raise typer.Exit(2) from None
        typer.echo(f"Scanned {len(report.files_scanned)} file(s) in {build_dir}.")
        for f, why in report.not_scanned:
            typer.echo(f"  not scanned: {f} ({why})")
        for note in report.notes:
            typer.echo(f"  note: {note}")
        if report_csv is not None:
            report.to_frame(show_values=show_values).to_csv(report_csv, index=False)
        if report.ok:
            typer.echo("PASS: no identifiers, dates of birth, postcodes or small counts found.")
            return
        typer.echo(f"FAIL: {len(report.findings)} finding(s):", err=True)
        for line in report.lines(show_values=show_values):
            typer.echo(f"  {line}", err=True)
        typer.echo("Remove these from the report (rebuild through evalkit.disclosure.protect) "
                   "and run the check again.", err=True)
        raise typer.Exit(1)
