"""``evalkit challenges`` and ``evalkit risk``: shared challenges and early help.

Wire with ``from evalkit.commands import community; community.register(app)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def _write_tables(out: Path, prefix: str, tables: dict) -> list[Path]:
    """Write tables to ``out``: one workbook (.xlsx) or one CSV each in a folder."""
    if out.suffix.lower() == ".xlsx":
        from ..money import write_workbook

        write_workbook(out, [(name[:31], df) for name, df in tables.items()])
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        p = out / f"{prefix}_{name}.csv"
        df.to_csv(p, index=False)
        paths.append(p)
    return paths


def _save_plots(result, folder: Path, prefix: str, kinds: list[str]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in kinds:
        ax = result.plot(kind)
        p = folder / f"{prefix}_{kind}.png"
        ax.figure.savefig(p, dpi=150, bbox_inches="tight")
        plt.close(ax.figure)
        paths.append(p)
    return paths


def _publish(result, prefix: str, out: Path | None, plots: Path | None,
             kinds: list[str]) -> None:
    """Print the summary, then write the aggregate tables and the charts when asked."""
    typer.echo(result.summary().as_text())
    if out is not None:
        for path in _write_tables(out, prefix, result.published_tables()):
            typer.echo(f"Wrote {path}")
        typer.echo("These are aggregate tables with n_people per row: apply disclosure "
                   "control before publishing.")
    if plots is not None:
        for path in _save_plots(result, plots, prefix, kinds):
            typer.echo(f"Wrote {path}")


def register(app: typer.Typer) -> None:
    """Add the ``challenges`` and ``risk`` commands to a Typer app."""

    @app.command("challenges")
    def challenges(
        place: Annotated[Path, typer.Argument(
            exists=True, dir_okay=False, help="The place's settings file (place.yml).")],
        out: Annotated[Path | None, typer.Option(
            "--out", "-o", help="Write the aggregate tables: a .xlsx workbook, or a folder "
            "of CSV files.")] = None,
        plots: Annotated[Path | None, typer.Option(
            "--plots", help="Folder to save the charts in (PNG).")] = None,
        need_col: Annotated[str, typer.Option(
            "--need-column", help="Events column holding the presenting need.")] = "need",
        start: Annotated[str | None, typer.Option(
            "--start", help="Only events on or after this date (e.g. 2023-04-01).")] = None,
        end: Annotated[str | None, typer.Option(
            "--end", help="Only events before this date.")] = None,
        min_share: Annotated[float, typer.Option(
            "--min-share", min=0.0, max=0.99,
            help="A need touches a partner when it is at least this share of the "
            "partner's demand.")] = 0.01,
    ) -> None:
        """Rank needs by how far they cut across partners: cost, failure demand, people
        and how concentrated demand is."""
        from ..community import shared_challenges
        from ..errors import EvalkitError
        from ..place import load_place

        try:
            p = load_place(place)
            res = shared_challenges(p, need_col=need_col, start=start, end=end,
                                    min_share=min_share)
        except EvalkitError as e:
            typer.echo(f"Error: {e}", err=True)
            raise typer.Exit(code=2) from None
        _publish(res, "challenges", out, plots, ["heatmap", "concentration", "breadth"])

    @app.command("risk")
    def risk(
        place: Annotated[Path, typer.Argument(
            exists=True, dir_okay=False, help="The place's settings file (place.yml).")],
        crisis: Annotated[list[str], typer.Option(
            "--crisis", "-c", help="Outcome measure that makes a crisis (repeat for "
            "several, e.g. -c ae_attendances -c homeless_applications).")],
        horizon: Annotated[int, typer.Option(
            "--horizon", min=1, help="Months ahead the model looks.")] = 6,
        model: Annotated[str, typer.Option(
            "--model", help="logit (statsmodels logistic regression, the default) or hgb "
            "(scikit-learn gradient boosting, calibrated).")] = "logit",
        test_cutoff: Annotated[str | None, typer.Option(
            "--test-cutoff", help="First day of the test month (default: the latest the "
            "outcomes cover).")] = None,
        top_share: Annotated[float, typer.Option(
            "--top-share", min=0.001, max=0.5, help="Share of people flagged.")] = 0.05,
        out: Annotated[Path | None, typer.Option(
            "--out", "-o", help="Write the aggregate validation tables: a .xlsx "
            "workbook, or a folder of CSV files.")] = None,
        plots: Annotated[Path | None, typer.Option(
            "--plots", help="Folder to save the charts in (PNG).")] = None,
        predictions: Annotated[Path | None, typer.Option(
            "--person-level-predictions", dir_okay=False,
            help="Write person-level test predictions (CSV). NOT FOR PUBLICATION: for the "
            "analyst only.")] = None,
    ) -> None:
        """Fit and validate a crisis-risk model on a later period, with fairness checks.

        For offering help earlier, never for denying a service. Only aggregate tables
        are written unless --person-level-predictions is given.
        """
        from ..community import NOT_FOR_PUBLICATION, fit_risk_model
        from ..errors import EvalkitError
        from ..place import load_place

        try:
            p = load_place(place)
            res = fit_risk_model(p, crisis=crisis, horizon_months=horizon,
                                 model=model,  # type: ignore[arg-type]
                                 test_cutoff=test_cutoff, top_share=top_share)
        except EvalkitError as e:
            typer.echo(f"Error: {e}", err=True)
            raise typer.Exit(code=2) from None
        _publish(res, "risk", out, plots,
                 ["reliability", "roc", "capture", "fairness", "coefficients"])
        if predictions is not None:
            predictions.parent.mkdir(parents=True, exist_ok=True)
            with predictions.open("w", encoding="utf-8", newline="") as fh:
                fh.write(f"# {NOT_FOR_PUBLICATION}\n")
                res.person_predictions().to_csv(fh)
            typer.echo(f"WARNING: wrote person-level predictions to {predictions}. "
                       f"{NOT_FOR_PUBLICATION}", err=True)
