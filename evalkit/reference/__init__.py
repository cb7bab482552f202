"""Reference data shipped with evalkit, with their sources.

Files (see ``SOURCES.md`` in this folder for the full provenance):

``unit_costs_gmca_ucd.csv``
    About 100 published UK public-service unit costs, mostly from the
    GMCA / New Economy Unit Cost Database v1.4 (March 2015), each with its
    price year, the agency bearing it and its source.
``gdp_deflators.csv``
    HM Treasury GDP deflators at market prices (March 2026 Quarterly
    National Accounts), financial years 2000-01 to 2024-25, base 2024-25 = 100.
``discount_schedule.csv``
    HM Treasury Green Book declining long-term discount rates (standard and
    health schedules).
``optimism_bias_grades.csv``
    Optimism-bias corrections by confidence grade in the style of the GMCA /
    HM Treasury (2014) local-partnership CBA method (see ``SOURCES.md`` for
    the status of these figures).

The loaders live in :mod:`evalkit.money`; they are re-exported here so that
``from evalkit.reference import load_unit_costs`` works too.

Examples
--------
>>> from evalkit.reference import load_deflators, reference_path
>>> round(float(load_deflators()["2009-10"]), 4)
67.7042
>>> reference_path("gdp_deflators.csv").name
'gdp_deflators.csv'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "reference_path",
    "load_unit_costs",
    "load_raw_unit_costs",
    "load_deflators",
    "load_discount_schedule",
    "load_optimism_bias_grades",
    "FILES",
]

#: The data files shipped in this folder.
FILES: tuple[str, ...] = (
    "unit_costs_gmca_ucd.csv",
    "gdp_deflators.csv",
    "discount_schedule.csv",
    "optimism_bias_grades.csv",
    "SOURCES.md",
)


def reference_path(name: str) -> Path:
    """Path of a shipped reference file (one of :data:`FILES`)."""
    if name not in FILES:
        from ..errors import InputError

        raise InputError(
            f"evalkit ships no reference file {name!r}; the files are: {', '.join(FILES)}."
        )
    return Path(__file__).with_name(name)


def load_unit_costs(**kwargs: Any):
    """The shipped unit costs in evalkit's ``unit_costs`` schema.

    See :func:`evalkit.money.load_unit_costs`.
    """
    from ..money import load_unit_costs as _load

    return _load(**kwargs)


def load_raw_unit_costs():
    """The shipped unit-cost CSV exactly as published (its own columns).

    See :func:`evalkit.money.load_raw_unit_costs`.
    """
    from ..money import load_raw_unit_costs as _load

    return _load()


def load_deflators():
    """HM Treasury GDP deflators by financial year. See :func:`evalkit.money.load_deflators`."""
    from ..money import load_deflators as _load

    return _load()


def load_discount_schedule():
    """The Green Book discount schedule. See :func:`evalkit.money.load_discount_schedule`."""
    from ..money import load_discount_schedule as _load

    return _load()


def load_optimism_bias_grades():
    """Optimism bias by confidence grade. See :func:`evalkit.money.load_optimism_bias_grades`."""
    from ..money import load_optimism_bias_grades as _load

    return _load()
