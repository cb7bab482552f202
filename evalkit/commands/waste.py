"""``evalkit waste PLACE.yml``: failure demand for a place, printed and exported."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]


def _load(path: Path) -> Any:
    """Load a place (kept separate so tests can swap in a fake loader)."""
    from ..place import load_place

    return load_place(path)


def register(app: typer.Typer) -> None:
    """Add the ``waste`` command to the ``evalkit`` Typer app."""

    @app.command("waste")
    def waste(
        place: Annotated[Path, typer.Argument(help="The place's place.yml.")],
        csv: Annotated[Path | None, typer.Option(
            "--csv", help="Write every waste table as CSV into this folder.")] = None,
        xlsx: Annotated[Path | None, typer.Option(
            "--xlsx", help="Write every waste table to this Excel workbook.")] = None,
        allow_unpriced: Annotated[bool, typer.Option(
            "--allow-unpriced",
            help="Leave failure demand without a unit cost unpriced instead of stopping.",
        )] = False,
    ) -> None:
        """Measure and price failure demand: hand-offs, repeat assessments, bounced
        referrals, waits and front doors, by organisation and partner."""
        from ..errors import EvalkitError
        from ..waste import waste_from_place

        try:
            p = _load(place)
            from ..money import uprate

            kw: dict = {"unpriced": "allow"} if allow_unpriced else {}
            # Costs of different price years are uprated (GDP deflator) to the place's
            # price year, so they can be added.
            money = getattr(getattr(p, "settings", None), "money", None)
            if money is not None:
                kw.update(uprate=uprate, price_year=money.price_year)
            report = waste_from_place(p, **kw)
        except EvalkitError as err:
            typer.echo(f"Error: {err}", err=True)
            raise typer.Exit(code=1) from None
        typer.echo(report.summary().as_text(width=100))
        if csv is not None:
            paths = report.to_csv(csv)
            typer.echo(f"Wrote {len(paths)} CSV files to {csv}")
        if xlsx is not None:
            out = report.to_excel(xlsx)
            typer.echo(f"Wrote {out}")
