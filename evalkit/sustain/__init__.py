"""Sustainability after the grant: multi-year funding scenarios with uncertainty.

Combines :mod:`evalkit.benefits` (benefits by partner and year, with Monte
Carlo draws) and :mod:`evalkit.split` (cost-split rules, games and core
checks) into the model a finance lead needs when the central grant ends:
the funding gap by year, each partner's contribution under each split rule,
its net position, NPV and payback, the probability its benefits cover its
contribution, break-even effects, stability, a tornado and the minimum viable
coalitions. See ``docs/sustain.md``.

Quick start
-----------
>>> from evalkit.sustain import Scenario
>>> sc = Scenario(partners=["Council", "NHS"], running_cost=100_000, horizon=2,
...               benefits=[[40_000, 60_000], [70_000, 80_000]], rules=["equal"])
>>> sc.run(progress=False).to_frame("funding")["gap"].tolist()
[100000.0, 100000.0]
"""

from .excel import read_workbook, write_workbook
from .model import (
    DEFAULT_RULES,
    RULE_TEXT,
    BenefitModel,
    Scenario,
    Sensitivity,
    run,
    scenario_from_place,
)
from .result import FRAMES, SustainResult

__all__ = [
    "Scenario",
    "BenefitModel",
    "Sensitivity",
    "SustainResult",
    "run",
    "scenario_from_place",
    "read_workbook",
    "write_workbook",
    "DEFAULT_RULES",
    "RULE_TEXT",
    "FRAMES",
]
