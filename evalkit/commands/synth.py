"""``evalkit synth``: write a synthetic place folder with planted, known effects."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InputError


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""

    @app.command("synth")
    def synth(
        out_dir: Path = typer.Argument(..., help="Folder to create for the place."),
        people: int = typer.Option(20_000, "--people", "-n", help="Residents to generate."),
        seed: int = typer.Option(20240401, "--seed", "-s",
                                 help="Random seed: the same seed gives the same tables."),
        format: str = typer.Option("csv", "--format", "-f",
                                   help="File format of the tables: csv or parquet."),
        months: int = typer.Option(48, "--months", help="Months of data."),
        overwrite: bool = typer.Option(False, "--overwrite",
                                       help="Replace a place already in OUT_DIR."),
        validate: bool = typer.Option(True, "--validate/--no-validate",
                                      help="Validate the tables before writing (slower "
                                      "for very large places)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Generate the synthetic place "Anytown" and write it as a place folder.

        The folder holds place.yml, one CSV or Parquet file per table, and truth/
        with every planted effect (truth.json and detail tables). Open it with
        'evalkit validate OUT_DIR/place.yml' or evalkit.place.load_place.
        """
        from ..synthetic import make_place

        fmt = format.lower()
        if fmt not in ("csv", "parquet"):
            typer.echo(f"--format must be csv or parquet, not {format!r}.", err=True)
            raise typer.Exit(2)
        if (out_dir / "place.yml").exists() and not overwrite:
            typer.echo(f"{out_dir} already holds a place (place.yml). Choose another folder "
                       "or add --overwrite.", err=True)
            raise typer.Exit(1)
        try:
            sp = make_place(n_people=people, seed=seed, n_months=months, validate=validate,
                            progress=not quiet)
            path = sp.write(out_dir, format=fmt, overwrite=overwrite)
        except InputError as err:
            typer.echo(str(err), err=True)
            raise typer.Exit(1) from None
        typer.echo(f"Wrote synthetic place {sp.config.name!r} (seed {seed}) to {path}")
        for name, df in sp.place.tables.items():
            typer.echo(f"  {name + ':':<15}{len(df):>12,} rows")
        typer.echo("Planted effects (change per treated person per month):")
        for r in sp.truth.effects.itertuples():
            tag = " (placebo)" if r.placebo else ""
            typer.echo(f"  {r.measure + ':':<24}{r.att:+.4f}  ({r.relative_effect:+.0%} at "
                       f"full ramp){tag}")
        typer.echo(f"Truth: {out_dir / 'truth' / 'truth.json'}")
        typer.echo(f"Next: evalkit validate {path}")
