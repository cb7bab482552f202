"""The ``evalkit`` command line.

Each capability adds its commands here; every command has ``--help``.
"""

from __future__ import annotations

import typer

from . import __version__

app = typer.Typer(
    name="evalkit",
    help=(
        "evalkit: measure failure demand, evaluate an integrated pilot, value its "
        "benefits by partner, compare cost-split options and publish a report."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"evalkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True,
        help="Show the evalkit version and exit.",
    ),
) -> None:
    """evalkit command line."""


def _register_commands() -> None:
    from .commands import (
        community,
        disclosure,
        money,
        place,
        report,
        split,
        sustain,
        synth,
        waste,
    )

    for module in (place, report, synth, waste, community, money, split, sustain, disclosure):
        module.register(app)


_register_commands()


def main() -> None:
    """Entry point for the ``evalkit`` script."""
    app()
