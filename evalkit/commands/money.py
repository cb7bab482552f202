"""``evalkit unit-costs``: the sourced unit costs, uprated to one price year.

Wire with ``from evalkit.commands import money; money.register(app)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def _read_table(path: Path):
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return pd.read_excel(path)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def register(app: typer.Typer) -> None:
    """Add the ``unit-costs`` command to a Typer app."""

    @app.command("unit-costs")
    def unit_costs(
        price_year: Annotated[str, typer.Option(
            "--price-year", "-p",
            help="Financial year to uprate every cost to (GDP deflator), e.g. 2024-25.")
        ] = "2024-25",
        yours: Annotated[Path | None, typer.Option(
            "--yours", exists=True, dir_okay=False,
            help="Your unit-cost table (CSV/XLSX/Parquet, unit_costs schema); its rows "
                 "replace shipped rows with the same item.")] = None,
        out: Annotated[Path | None, typer.Option(
            "--out", "-o", dir_okay=False,
            help="Write the table here (.csv or .xlsx); otherwise print a short listing.")
        ] = None,
        search: Annotated[str | None, typer.Option(
            "--search", "-s", help="Only items whose name contains this text.")] = None,
        partly: Annotated[float | None, typer.Option(
            "--partly", min=0.0, max=1.0,
            help="Cashable share for costs classed 'partly' cashable (default 0.5).")
        ] = None,
    ) -> None:
        """List the sourced unit costs (GMCA Unit Cost Database v1.4 and others), uprated.

        Rows with no stated price year are listed without an uprated cost; composite
        rows are marked 'context only' (not unit costs).
        """
        from ..errors import EvalkitError
        from ..money import load_unit_costs, merge_unit_costs, uprate_unit_costs

        try:
            shares = None if partly is None else {"partly": partly}
            table = load_unit_costs(cashable_shares=shares)
            if yours is not None:
                table = merge_unit_costs(_read_table(yours), table)
            up = uprate_unit_costs(table, price_year, unstated="skip")
        except EvalkitError as e:
            typer.echo(f"Error: {e}", err=True)
            raise typer.Exit(code=2) from None
        if search:
            up = up[up["item"].str.contains(search, case=False, regex=False)]
        cols = ["item", "unit", "cost_gbp", "price_year", "cost_gbp_original",
                "price_year_original", "uprating_factor", "partner", "cashable_share",
                "value_type", "context_only", "price_year_stated", "price_year_note",
                "origin", "source"]
        up = up[[c for c in cols if c in up.columns]].rename(
            columns={"cost_gbp": f"cost_gbp_{price_year}"})
        if out is not None:
            if out.suffix.lower() == ".xlsx":
                from ..money import write_workbook

                write_workbook(out, [("Unit costs", up)])
            else:
                up.to_csv(out, index=False)
            typer.echo(f"Wrote {len(up)} unit costs in {price_year} prices to {out}")
            return
        for rec in up.to_dict("records"):
            val = rec[f"cost_gbp_{price_year}"]
            flag = " (context only)" if rec["context_only"] else ""
            shown = "price year not stated" if val != val else f"£{val:,.2f}"
            typer.echo(f"{rec['item']}{flag}: {shown} {rec['unit']} [{rec['partner']}]")
        typer.echo(f"{len(up)} unit costs, {price_year} prices. Sources: --out FILE.")
