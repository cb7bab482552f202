"""Cost-split options: fair ways for partners to share the cost of a pilot.

Plain DataFrames and numbers in (no ``Place``); see ``docs/split.md``.

Quick start
-----------
>>> import pandas as pd
>>> from evalkit.split import split_options
>>> partners = pd.DataFrame({"partner": ["Council", "NHS", "Police"],
...                          "caseload": [600, 300, 100]})
>>> split_options(partners, 900_000, rules=["equal", "proportional:caseload"]).pounds()
... # doctest: +NORMALIZE_WHITESPACE
         Equal shares  Proportional to caseload
partner
Council      300000.0                  540000.0
NHS          300000.0                  270000.0
Police       300000.0                   90000.0

Modules
-------
games
    :class:`Game` (cost and value games, explicit or partial coalition tables,
    function-defined games), :class:`ServiceModel` (the default service model).
rules
    Simple rules, vectorised over draws (equal, proportional, fixed shares,
    base plus variable, capped proportional, beneficiary pays, airport).
solutions
    Shapley (exact and sampled), nucleolus, prenucleolus, least core, SCRB, tau.
properties
    Budget balance, individual rationality, core check, Kohlberg's criterion,
    plain-English lines.
options
    :func:`split_options` and :class:`SplitOptions`.
"""

from .games import Game, MissingCoalitionsError, ServiceModel, read_coalition_table
from .options import RuleSpec, SplitOptions, parse_rule, read_partners, split_options
from .properties import (
    CoreCheck,
    core_check,
    individual_rationality,
    kohlberg_check,
    partner_lines,
)
from .rules import (
    airport,
    allocate,
    base_plus_variable,
    beneficiary_pays,
    capped_proportional,
    equal,
    fixed_shares,
    proportional,
)
from .solutions import (
    Allocation,
    airport_rule,
    least_core,
    nucleolus,
    prenucleolus,
    scrb,
    shapley,
    shapley_sample,
    shapley_table,
    tau,
)

__all__ = [
    "Game",
    "ServiceModel",
    "MissingCoalitionsError",
    "read_coalition_table",
    "read_partners",
    "split_options",
    "SplitOptions",
    "RuleSpec",
    "parse_rule",
    "Allocation",
    "shapley",
    "shapley_table",
    "shapley_sample",
    "nucleolus",
    "prenucleolus",
    "least_core",
    "scrb",
    "tau",
    "airport_rule",
    "equal",
    "proportional",
    "beneficiary_pays",
    "fixed_shares",
    "base_plus_variable",
    "capped_proportional",
    "airport",
    "allocate",
    "CoreCheck",
    "core_check",
    "individual_rationality",
    "kohlberg_check",
    "partner_lines",
]
