"""The staggered, confounded roll-out of the pilot.

Areas go live in waves, most deprived first (:func:`~evalkit.synthetic.people.make_areas`).
Within a live area, an in-scope resident enrols with probability

``p = expit(logit(enrol_share) + enrol_slope * (g - mean g in scope))``

and, if enrolled, starts ``d`` whole months after go-live, where
``d = min(floor(Exponential(m)), enrol_max_delay)`` and
``m = enrol_delay_months * exp(-enrol_delay_slope * (g - mean g in scope))``:
people in greater need enrol more often and sooner. Selection therefore
depends only on observed covariates (area and the need index ``g``, which is
linear in deprivation, prior service use, sex and age band), never on the
unobserved frailty: regression adjustment on those covariates, or
difference-in-differences, removes the confounding; a naive comparison does not.

A person whose start would fall after the last month of the panel is treated
as not (yet) enrolled: ``pilot_start`` is empty, as it would be in real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SynthConfig
from .people import Areas, People, expit

__all__ = ["Pilot", "assign_pilot"]


@dataclass
class Pilot:
    """Who starts the pilot when (month index from the panel start)."""

    start_month: np.ndarray  # int per person, -1 = not treated within the panel
    enrol_prob: np.ndarray  # float per person: P(enrol | covariates, live area, in scope)
    propensity: np.ndarray  # float per person: P(treated within the panel | covariates)
    need_centre: float  # mean need index among in-scope residents

    @property
    def treated(self) -> np.ndarray:
        return self.start_month >= 0


def assign_pilot(cfg: SynthConfig, rng: np.random.Generator, areas: Areas,
                 people: People) -> Pilot:
    """Draw enrolment and start months (see the module docstring)."""
    n = people.n
    centre = float(people.need[people.in_scope].mean()) if people.in_scope.any() else 0.0
    dev = people.need - centre
    base = np.log(cfg.enrol_share / (1.0 - cfg.enrol_share))
    p_enrol = expit(base + cfg.enrol_slope * dev)
    mean_delay = cfg.enrol_delay_months * np.exp(-cfg.enrol_delay_slope * dev)
    area_start = areas.start_month[people.area]
    live = (area_start >= 0) & people.in_scope
    u_enrol = rng.random(n)
    expo = rng.exponential(1.0, n)
    delay = np.minimum(np.floor(expo * mean_delay), cfg.enrol_max_delay).astype(int)
    start = np.where(live & (u_enrol < p_enrol), area_start + delay, -1)
    start[start >= cfg.n_months] = -1
    # exact P(start within the panel | covariates): P(delay <= K), K = months left
    months_left = cfg.n_months - 1 - area_start
    with np.errstate(divide="ignore", over="ignore"):
        p_by = np.where(
            months_left >= cfg.enrol_max_delay, 1.0,
            1.0 - np.exp(-(np.maximum(months_left, 0) + 1) / np.maximum(mean_delay, 1e-12)))
    propensity = np.where(live, p_enrol * p_by, 0.0)
    return Pilot(start_month=start, enrol_prob=np.where(live, p_enrol, 0.0),
                 propensity=propensity, need_centre=centre)
