"""``evalkit sustain``: funding scenarios after the grant, and the finance lead's workbook.

Wire with ``from evalkit.commands import sustain; sustain.register(app)``.

Two ways in::

    evalkit sustain PLACE.yml --xlsx options.xlsx [--effects effects.csv]
    evalkit sustain --from-xlsx edited.xlsx [--xlsx out.xlsx]

The first builds the scenario from ``place.yml`` (programme, money, split and
sustain settings, the partners table, the benefit map and unit costs) and the
effect estimates (``--effects`` CSV/XLSX with ``measure, estimate, se``, or the
``sustain: effects:`` settings). The second re-runs the assumptions edited in
a workbook's Inputs sheet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register", "read_effects"]


def read_effects(path: Path):
    """Read an effects table (CSV/XLSX/Parquet with ``measure, estimate, se``).

    Errors name the file, the row (header = row 1) and the column.
    """
    import pandas as pd

    from ..errors import InputError, Problem, ValidationError

    if not path.exists():
        raise InputError(f"--effects: {path} not found.")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        df = pd.read_excel(path)
    elif suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        df = pd.read_csv(path)
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "outcome" in df.columns and "measure" not in df.columns:
        df = df.rename(columns={"outcome": "measure"})
    missing = [c for c in ("measure", "estimate") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; an effects table needs "
                         "measure, estimate and se (the change per treated person per period, "
                         "and its standard error).")
    if "se" not in df.columns:
        df["se"] = 0.0
    problems = []
    out = []
    for i, r in enumerate(df.to_dict("records")):
        row = i + 2
        m = r.get("measure")
        if m is None or (isinstance(m, float) and m != m) or not str(m).strip():
            problems.append(Problem("effects", str(path), row, "measure", None,
                                    "measure must not be empty"))
            continue
        vals = {}
        for col in ("estimate", "se"):
            v = pd.to_numeric(pd.Series([r.get(col)]), errors="coerce").iloc[0]
            if col == "se" and pd.isna(v) and (r.get(col) is None or r.get(col) != r.get(col)):
                v = 0.0
            if pd.isna(v):
                problems.append(Problem("effects", str(path), row, col, r.get(col),
                                        f"{col} must be a number"))
            elif col == "se" and v < 0:
                problems.append(Problem("effects", str(path), row, col, v,
                                        "a standard error cannot be negative"))
            vals[col] = float(v) if not pd.isna(v) else None
        out.append({"measure": str(m).strip(), **vals})
    if problems:
        raise ValidationError(problems)
    return pd.DataFrame(out, columns=["measure", "estimate", "se"])


def register(app: typer.Typer) -> None:
    """Add the ``sustain`` command to ``app``."""

    @app.command("sustain")
    def sustain_command(
        place: Annotated[Path | None, typer.Argument(
            help="place.yml (its programme, money, split and sustain settings, partners "
            "table, benefit map and unit costs).")] = None,
        from_xlsx: Annotated[Path | None, typer.Option(
            "--from-xlsx", help="Re-run the assumptions edited in this workbook's Inputs "
            "sheet (a workbook written by --xlsx).")] = None,
        xlsx: Annotated[Path | None, typer.Option(
            "--xlsx", help="Write the finance lead's workbook here.")] = None,
        effects: Annotated[Path | None, typer.Option(
            "--effects", help="Effect estimates (CSV/XLSX: measure, estimate, se); default: "
            "'sustain: effects:' in place.yml.")] = None,
        draws: Annotated[int | None, typer.Option(
            "--draws", min=1, help="Monte Carlo draws (default: sustain.draws).")] = None,
        seed: Annotated[int | None, typer.Option(
            "--seed", help="Random seed (default: the place's seed).")] = None,
        charts: Annotated[Path | None, typer.Option(
            "--charts", help="Save the four charts (PNG) in this folder.")] = None,
        progress: Annotated[bool, typer.Option(
            "--progress/--no-progress", help="Show a progress bar on long runs.")] = True,
    ) -> None:
        """Funding scenarios after the grant: who pays what, and how sure each partner can be."""
        from ..errors import EvalkitError
        from ..sustain import read_workbook, scenario_from_place

        try:
            if (place is None) == (from_xlsx is None):
                raise EvalkitError("give either PLACE.yml or --from-xlsx WORKBOOK (not both).")
            if from_xlsx is not None:
                if effects is not None:
                    raise EvalkitError("--effects is for PLACE.yml; a workbook carries its own "
                                       "effects (edit its Inputs sheet).")
                scenario = read_workbook(from_xlsx)
            else:
                from ..place import load_place

                eff = read_effects(effects) if effects is not None else None
                scenario = scenario_from_place(load_place(place), eff)
            changes = {}
            if draws is not None:
                changes["draws"] = draws
            if seed is not None:
                changes["seed"] = seed
            if changes:
                scenario = scenario.replace(**changes)
            result = scenario.run(progress=None if progress else False)
            typer.echo(str(result.summary()))
            if xlsx is not None:
                out = result.to_excel(xlsx)
                typer.echo(f"\nWorkbook written: {out}")
            if charts is not None:
                import matplotlib

                matplotlib.use("Agg")
                import matplotlib.pyplot as plt

                charts.mkdir(parents=True, exist_ok=True)
                for kind in ("cliff", "probability", "tornado", "cumulative"):
                    ax = result.plot(kind)
                    path = charts / f"sustain_{kind}.png"
                    ax.figure.savefig(path, dpi=150, bbox_inches="tight")
                    plt.close(ax.figure)
                    typer.echo(f"Chart written: {path}")
        except EvalkitError as err:
            typer.echo(f"Error: {err}", err=True)
            raise typer.Exit(code=2) from None
