"""A synthetic place with planted, known effects ("Anytown").

The built-in demo and the test bed: people in neighbourhoods, a staggered and
confounded pilot roll-out, a monthly outcome panel with planted ramping
effects (and a placebo), a service-contact event log with failure demand the
pilot reduces, and money tables, all valid evalkit input, plus a
:class:`Truth` with every planted quantity.

Examples
--------
>>> from evalkit.synthetic import make_place
>>> place, truth = make_place(n_people=1000, seed=2, validate=False)
>>> bool(place.people["in_scope"].mean() < 0.5)
True
"""

from .config import DEFAULT_OUTCOMES, ORGANISATIONS, OutcomeSpec, SynthConfig, build_config
from .place import SyntheticPlace, make_place
from .truth import Truth

__all__ = [
    "make_place",
    "SyntheticPlace",
    "Truth",
    "SynthConfig",
    "OutcomeSpec",
    "DEFAULT_OUTCOMES",
    "ORGANISATIONS",
    "build_config",
]
