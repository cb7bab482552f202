"""``evalkit split``: compare cost-split options from a partners table.

Wired into the ``evalkit`` app by :func:`register`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from ..errors import EvalkitError, InputError

__all__ = ["register", "parse_cost"]

_SUFFIX = {"k": 1e3, "m": 1e6, "bn": 1e9}


def parse_cost(text: str) -> float | dict[str, float]:
    """Read ``--cost``: ``1200000``, ``£1.2m``, ``800k``, or years ``1.2m,1.25m`` or
    ``2025-26=1.2m,2026-27=1.25m``.

    Examples
    --------
    >>> parse_cost("£1.2m")
    1200000.0
    >>> parse_cost("2025-26=1.2m, 2026-27=1_250_000")
    {'2025-26': 1200000.0, '2026-27': 1250000.0}
    """
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise InputError("--cost: give the cost to share in pounds, e.g. --cost 1200000.")
    labelled = all("=" in p for p in parts)
    if any("=" in p for p in parts) and not labelled:
        raise InputError("--cost: label every year (2025-26=1200000,2026-27=1250000) or none.")
    out: dict[str, float] = {}
    for i, p in enumerate(parts):
        label, _, num = p.rpartition("=") if labelled else (f"Year {i + 1}", "", p)
        out[label.strip()] = _money(num, p)
    if len(out) == 1 and not labelled:
        return next(iter(out.values()))
    return out


def _money(num: str, whole: str) -> float:
    t = num.strip().lower().replace("£", "").replace("_", "").replace(" ", "")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)(k|m|bn)?", t)
    if not m:
        raise InputError(f"--cost: cannot read '{whole}' as pounds; write e.g. 1200000, 1.2m "
                         "or 800k (separate years with commas, not thousands).")
    return float(m.group(1)) * _SUFFIX.get(m.group(2) or "", 1.0)


def register(app: typer.Typer) -> None:
    """Add the ``split`` command to ``app``."""

    @app.command("split")
    def split_command(
        partners: Annotated[Path, typer.Argument(
            help="Partners table (CSV or XLSX): a 'partner' column plus numeric driver "
            "columns (budget, caseload, population, benefit, standalone_cost, cap...).")],
        cost: Annotated[str | None, typer.Option(
            "--cost", help="Cost to share in pounds (1200000, 1.2m, 800k). Several years: "
            "1.2m,1.25m or 2025-26=1.2m,2026-27=1.25m. Default: the game's total.")] = None,
        game: Annotated[Path | None, typer.Option(
            "--game", help="Coalition table (CSV/XLSX): 'coalition' (partners joined by "
            "'+' or ';') and 'cost' (or 'value'). Partial tables are fine for SCRB.")] = None,
        rules: Annotated[str | None, typer.Option(
            "--rules", help="Comma-separated rules, e.g. "
            "'equal,proportional:budget,capped:budget:cap,shapley,nucleolus,scrb'. "
            "Default: equal, proportional to each driver, beneficiary pays, and the game "
            "rules when a game is given.")] = None,
        fixed_cost: Annotated[float | None, typer.Option(
            "--fixed-cost", help="Use the default service model: this fixed cost a year plus "
            "the 'variable_cost' column; 'standalone_cost' is each partner's alternative.")] = None,
        xlsx: Annotated[Path | None, typer.Option(
            "--xlsx", help="Write an Excel workbook here.")] = None,
        chart: Annotated[Path | None, typer.Option(
            "--chart", help="Save a bar chart (PNG) here.")] = None,
        lines: Annotated[bool, typer.Option(
            "--lines/--no-lines", help="Print the plain-English line per partner.")] = False,
        partner_column: Annotated[str, typer.Option(
            "--partner-column", help="Name of the partner column.")] = "partner",
        seed: Annotated[int, typer.Option(
            "--seed", help="Seed for sampled Shapley values (more than 20 partners).")] = 0,
    ) -> None:
        """Compare fair ways for partners to share the cost of a pilot."""
        from ..split import split_options

        try:
            c = parse_cost(cost) if cost is not None else None
            opts = split_options(str(partners), c, rules=rules,
                                 game=str(game) if game is not None else None,
                                 fixed_cost=fixed_cost, partner=partner_column, seed=seed)
            typer.echo(str(opts.summary()))
            if lines:
                for lab, ls in opts.lines.items():
                    typer.echo(f"\n{lab}")
                    for t in ls:
                        typer.echo(f"  - {t}")
            if xlsx is not None:
                out = opts.to_excel(xlsx)
                typer.echo(f"\nWorkbook written: {out}")
            if chart is not None:
                ax = opts.plot()
                ax.figure.savefig(chart, dpi=150, bbox_inches="tight")
                typer.echo(f"Chart written: {chart}")
        except EvalkitError as err:
            typer.echo(f"Error: {err}", err=True)
            raise typer.Exit(code=2) from None
