"""Areas and residents of the synthetic place.

Everything is drawn with numpy in whole arrays (no per-person Python loop).
The arrays here are the generator's internal form; :mod:`evalkit.synthetic.place`
turns them into the ``areas`` and ``people`` tables of :mod:`evalkit.schema`.

Generating model (defaults in :class:`~evalkit.synthetic.config.SynthConfig`):

- ``n_areas`` neighbourhoods whose IMD deciles are spread evenly from 1 (most
  deprived) to 10, assigned to names at random; area sizes are Dirichlet.
- Each resident: area (by size), deprivation decile = area decile + normal
  noise (rounded, clipped to 1-10), age band and sex from fixed shares, and
  ``prior_service_use`` = months with any service contact in the
  ``prior_use_months`` before the panel, Binomial with a logit that rises with
  deprivation and age-band need plus a person-level normal shift.
- A general **need index** ``g = w_dep * (10 - decile) / 9 + w_prior *
  prior_use / prior_use_months + w_male * male + w_age[age_band]``, linear in the
  observed covariates. ``in_scope`` is Bernoulli with logit ``c0 + slope * g``,
  ``c0`` solved so the expected in-scope share is ``in_scope_share``.
- A person frailty ``G ~ Gamma(shape, 1/shape)`` (mean 1), independent of every
  observed covariate, shared by outcomes and service journeys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..schema import AGE_BANDS, SEXES
from .config import SynthConfig

__all__ = ["Areas", "People", "make_areas", "make_people", "need_index", "expit"]


def expit(x: np.ndarray | float) -> np.ndarray:
    """Logistic function, numerically stable."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))


@dataclass
class Areas:
    """Neighbourhoods: names, deprivation, size share and pilot go-live month."""

    names: list[str]
    decile: np.ndarray  # int, 1 = most deprived
    share: np.ndarray  # float, sums to 1
    start_month: np.ndarray  # int month index of go-live, -1 = never
    wave: np.ndarray  # int wave number (1, 2, ...), 0 = never

    @property
    def n(self) -> int:
        return len(self.names)


@dataclass
class People:
    """Residents as parallel numpy arrays (index = row of the people table)."""

    area: np.ndarray  # int16 index into Areas.names
    age: np.ndarray  # int8 index into AGE_BANDS
    sex: np.ndarray  # int8 index into SEXES
    decile: np.ndarray  # int8 1..10
    prior_use: np.ndarray  # int16 0..prior_use_months
    need: np.ndarray  # float64 general need index
    in_scope: np.ndarray  # bool
    scope_prob: np.ndarray  # float64 true P(in scope | covariates)
    frailty: np.ndarray  # float64 common gamma frailty (mean 1)

    @property
    def n(self) -> int:
        return len(self.area)


def make_areas(cfg: SynthConfig, rng: np.random.Generator) -> Areas:
    """Draw the neighbourhoods and decide which go live in which wave.

    The most deprived areas go live first (ties in decile broken at random):
    the first ``areas_per_wave[0]`` in wave 1, and so on; the rest never join.
    """
    n = cfg.n_areas
    names = cfg.areas()
    spread = 1 + np.rint(9 * np.arange(n) / max(n - 1, 1)).astype(int)
    decile = spread[rng.permutation(n)]
    share = rng.dirichlet(np.full(n, cfg.area_size_concentration))
    order = np.lexsort((rng.random(n), decile))  # most deprived first
    start = np.full(n, -1, dtype=int)
    wave = np.zeros(n, dtype=int)
    pos = 0
    for w, (month, k) in enumerate(zip(cfg.pilot_waves, cfg.areas_per_wave), start=1):
        idx = order[pos : pos + k]
        start[idx] = month
        wave[idx] = w
        pos += k
    return Areas(names=names, decile=decile, share=share, start_month=start, wave=wave)


def need_index(
    cfg: SynthConfig,
    decile: np.ndarray,
    prior_use: np.ndarray,
    age: np.ndarray,
    sex: np.ndarray,
    *,
    w_dep: float,
    w_prior: float,
    w_male: float,
    age_weights: dict[str, float],
) -> np.ndarray:
    """A need index linear in the observed covariates.

    ``w_dep * (10 - decile) / 9 + w_prior * prior_use / prior_use_months
    + w_male * (sex == 'male') + age_weights[age_band]``.
    """
    age_w = np.array([age_weights.get(b, 0.0) for b in AGE_BANDS])
    male = SEXES.index("male")
    return (
        w_dep * (10.0 - decile) / 9.0
        + w_prior * prior_use / float(cfg.prior_use_months)
        + w_male * (sex == male)
        + age_w[age]
    )


def general_need(cfg: SynthConfig, decile, prior_use, age, sex) -> np.ndarray:
    """The general need index (scope, pilot selection, journeys)."""
    w = cfg.scope_need_weights
    return need_index(
        cfg, decile, prior_use, age, sex,
        w_dep=w.get("deprivation", 0.0), w_prior=w.get("prior_use", 0.0),
        w_male=w.get("male", 0.0), age_weights={b: w.get(b, 0.0) for b in AGE_BANDS},
    )


def _solve_intercept(g: np.ndarray, slope: float, target: float) -> float:
    """Intercept c0 with mean(expit(c0 + slope * g)) == target (bisection)."""
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if expit(mid + slope * g).mean() < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _choice(rng: np.random.Generator, probs: np.ndarray, size: int) -> np.ndarray:
    """Categorical draws by inverse CDF (fast, vectorised)."""
    cdf = np.cumsum(probs / probs.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(size), side="right")


def make_people(cfg: SynthConfig, rng: np.random.Generator, areas: Areas) -> People:
    """Draw ``cfg.n_people`` residents (see the module docstring for the model)."""
    n = cfg.n_people
    area = _choice(rng, areas.share, n).astype(np.int16)
    dep = np.clip(np.rint(areas.decile[area] + rng.normal(0.0, cfg.deprivation_sd, n)),
                  1, 10).astype(np.int8)
    age_p = np.array([cfg.age_band_probs.get(b, 0.0) for b in AGE_BANDS])
    age = _choice(rng, age_p, n).astype(np.int8)
    sex_p = np.array([cfg.sex_probs.get(s, 0.0) for s in SEXES])
    sex = _choice(rng, sex_p, n).astype(np.int8)
    w = cfg.scope_need_weights
    age_w = np.array([w.get(b, 0.0) for b in AGE_BANDS])
    logit = (cfg.prior_use_intercept + cfg.prior_use_deprivation * (10.0 - dep) / 9.0
             + age_w[age] + rng.normal(0.0, cfg.prior_use_person_sd, n))
    prior = rng.binomial(cfg.prior_use_months, expit(logit)).astype(np.int16)
    g = general_need(cfg, dep, prior, age, sex)
    c0 = _solve_intercept(g, cfg.in_scope_slope, cfg.in_scope_share)
    p_scope = expit(c0 + cfg.in_scope_slope * g)
    in_scope = rng.random(n) < p_scope
    frailty = rng.gamma(cfg.common_frailty_shape, 1.0 / cfg.common_frailty_shape, n)
    return People(area=area, age=age, sex=sex, decile=dep, prior_use=prior, need=g,
                  in_scope=in_scope, scope_prob=p_scope, frailty=frailty)
