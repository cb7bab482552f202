"""The planted early-warning risk structure: spirals.

A share ``spiral_share`` of in-scope people go through one **spiral**: a
spell of ``spiral_months`` (uniform between the shortest and longest) starting
in a uniform month of the panel (cut off at its end). During a spiral:

* the person's **episodes of need** a month are multiplied by
  ``spiral_episode_mult`` (so more contacts, assessments, referrals and
  stories retold to new organisations, and a rising recent contact count);
* each **referral is declined** with ``spiral_decline_mult`` times the usual
  chance (capped at 0.95), so more referrals bounce;
* the person's own expected rate of each **crisis outcome** in
  ``spiral_crisis_mult`` is multiplied: ``mu0[i, t] = lambda[i] * m[i, t] +
  c[area, t]`` with ``m = spiral_crisis_mult / z`` in spiral months and
  ``1 / z`` otherwise, where ``z = 1 + (mult - 1) * (share of in-scope
  person-months in a spiral)`` keeps the measure's average rate as set by
  its ``base_rate``: spirals concentrate crises in time rather than add
  them. The pilot's effect then applies to this ``mu0`` as usual.

Spirals are drawn from their own random stream, independently of every
covariate, of need and of the pilot, so they add no confounding and leave the
planted ATTs exact (they are computed from the same ``mu0``). They make
recent bounced referrals, stories retold and rising contact counts markers
of a crisis to come: the structure the early-identification model of
:mod:`evalkit.community` should find.

:class:`CrisisOracle` gives the **oracle risk**: the chance of at least one
crisis in a horizon given every latent quantity (frailties, area shocks,
spiral months, pilot), ``1 - prod_t (1 + mu_t / k)^-k`` for a Poisson count
with a mean-one Gamma(``k``) monthly multiplier. It knows things no model of
the records can (including spirals that begin inside the horizon), so it is an
upper bound on any model's discrimination.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from .config import SynthConfig

__all__ = ["Spirals", "make_spirals", "CrisisOracle"]


@dataclass
class Spirals:
    """Each person's spiral as months ``[start, end)`` (-1 for none)."""

    start: np.ndarray  # int32 month index, -1 = no spiral
    end: np.ndarray  # int32 month index (exclusive), -1 = no spiral

    @property
    def any(self) -> bool:
        return bool((self.start >= 0).any())

    def active(self, rows: np.ndarray, n_months: int) -> np.ndarray:
        """Boolean (rows x months): in a spiral that month."""
        t = np.arange(n_months)
        s, e = self.start[rows], self.end[rows]
        return (t[None, :] >= s[:, None]) & (t[None, :] < e[:, None])

    def rate_factor(self, rows: np.ndarray, n_months: int, mult: float) -> np.ndarray:
        """Multiplier (rows x months) of a crisis measure's person-level rate.

        ``mult`` in spiral months and 1 otherwise, divided by their mean over
        the rows' person-months, so the measure's average rate is unchanged:
        spirals concentrate crises rather than add them.
        """
        act = self.active(rows, n_months)
        norm = 1.0 + (mult - 1.0) * act.mean() if act.size else 1.0
        return np.where(act, mult, 1.0) / norm


def make_spirals(cfg: SynthConfig, rng: np.random.Generator, in_scope: np.ndarray
                 ) -> Spirals:
    """Draw who spirals and when (in-scope people only)."""
    n, T = len(in_scope), cfg.n_months
    lo, hi = cfg.spiral_months
    has = in_scope & (rng.random(n) < cfg.spiral_share)
    start = np.where(has, rng.integers(0, T, n), -1).astype(np.int32)
    length = rng.integers(lo, hi + 1, n)
    end = np.where(has, np.minimum(start + length, T), -1).astype(np.int32)
    return Spirals(start=start, end=end)


class CrisisOracle:
    """The planted chance of a crisis, given every latent quantity.

    Built by :func:`evalkit.synthetic.make_place`; use
    :meth:`evalkit.synthetic.Truth.crisis_risk`.
    """

    def __init__(self, cfg: SynthConfig, rows: np.ndarray, person_ids: np.ndarray,
                 area: np.ndarray, start_month: np.ndarray, spirals: Spirals,
                 lam: dict[str, np.ndarray], cal: dict[str, np.ndarray],
                 months: pd.DatetimeIndex) -> None:
        self.cfg = cfg
        self.rows = rows
        self.person_ids = person_ids
        self.area = area
        self.start_month = start_month
        self.spirals = spirals
        self.lam = lam
        self.cal = cal
        self.months = months

    def probability(self, measures: str | list[str], cutoff: str | pd.Timestamp,
                    horizon_months: int) -> pd.Series:
        """Chance of at least one unit of ``measures`` in the horizon, per in-scope person."""
        from .outcomes import ramp

        ms = [measures] if isinstance(measures, str) else list(measures)
        specs = {o.name: o for o in self.cfg.outcomes}
        for m in ms:
            if m not in specs:
                raise InputError(f"Unknown measure {m!r}; the synthetic place has: "
                                 f"{', '.join(specs)}.")
            if specs[m].kind != "count":
                raise InputError(f"{m!r} is not a count outcome; the oracle covers counts.")
        ts = pd.Timestamp(cutoff)
        if ts not in self.months:
            raise InputError(f"cutoff {cutoff!r} is not a month of the panel "
                             f"({self.months[0]:%Y-%m} to {self.months[-1]:%Y-%m}).")
        t0 = self.months.get_loc(ts)
        T = self.cfg.n_months
        if horizon_months < 1 or t0 + horizon_months > T:
            raise InputError(f"horizon_months={horizon_months} from {ts:%Y-%m} runs past the "
                             f"panel's last month ({self.months[-1]:%Y-%m}).")
        t = np.arange(t0, t0 + horizon_months)
        e = t[None, :] - self.start_month[:, None]
        treated = self.start_month >= 0
        log_p0 = np.zeros(len(self.rows))
        for m in ms:
            spec = specs[m]
            mult = self.cfg.spiral_crisis_mult.get(m, 1.0)
            factor = self.spirals.rate_factor(self.rows, T, mult)[:, t]
            mu0 = self.lam[m][:, None] * factor + self.cal[m][self.area][:, t]
            r = np.where(treated[:, None], ramp(e, self.cfg.ramp_months), 0.0)
            mu = mu0 * (1.0 + spec.relative_effect * r)
            k = spec.monthly_shape
            log_p0 += (-k * np.log1p(mu / k)).sum(axis=1)
        return pd.Series(-np.expm1(log_p0), index=pd.Index(self.person_ids, name="person_id"),
                         name="oracle_risk")
