"""CLI commands, one module per capability, each exposing ``register(app)``.

:mod:`evalkit.cli` wires them into the ``evalkit`` Typer app.
"""
