"""``evalkit validate`` and ``evalkit init``."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError, InputError, ValidationError


def register(app: typer.Typer) -> None:
    """Add the ``validate`` and ``init`` commands to ``app``."""

    @app.command("validate")
    def validate(
        place_yml: Path = typer.Argument(..., help="The place's place.yml."),
        problems_csv: Path | None = typer.Option(
            None, "--problems-csv", help="Also write every problem to this CSV file."),
    ) -> None:
        """Check a place's settings and data: prints the row accounting and every problem.

        Exits with status 1 if anything is wrong, 0 if the place is ready to use.
        """
        from ..place import load_place

        try:
            place = load_place(place_yml)
        except ConfigError as err:
            typer.echo(str(err), err=True)
            raise typer.Exit(1) from None
        except ValidationError as err:
            typer.echo(str(err), err=True)
            if problems_csv is not None:
                err.to_frame().to_csv(problems_csv, index=False)
                typer.echo(f"Every problem written to {problems_csv}", err=True)
            typer.echo("\nFix these and run 'evalkit validate' again.", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"Place {place.name!r}: settings and data are valid.")
        typer.echo(place.accounting.summary())

    @app.command("init")
    def init(
        folder: Path = typer.Argument(..., help="New place folder to create."),
        force: bool = typer.Option(False, "--force", help="Overwrite files already there."),
    ) -> None:
        """Create a new place folder from the templates (CSV, Excel, place.yml, dictionary)."""
        from ..templates import copy_templates

        try:
            files = copy_templates(folder, overwrite=force)
        except InputError as err:
            typer.echo(str(err), err=True)
            raise typer.Exit(1) from None
        typer.echo(f"Created {folder} with {len(files)} files:")
        for f in files:
            typer.echo(f"  {f.name}")
        typer.echo(f"Next: replace the example rows with your data (see {folder}/README.md), "
                   f"then run: evalkit validate {folder}/place.yml")
