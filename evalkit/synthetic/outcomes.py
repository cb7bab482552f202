"""The monthly person panel of outcomes, with planted ramping effects.

For each measure ``m`` (an :class:`~evalkit.synthetic.config.OutcomeSpec`),
each in-scope person ``i`` and month ``t`` (``t = 0 .. n_months - 1``):

``mu0[i, t] = lambda[i] + c[area(i), t]``

- ``lambda[i] = base_rate * (need_floor + s[i]) / (need_floor + mean s) * G[i] * H[i]``:
  ``s`` is the measure's need index (linear in deprivation decile, prior service
  use, sex and age band), ``G`` the person's common frailty and ``H`` a
  measure-specific gamma frailty, both mean one and independent of every
  observed covariate and of treatment.
- ``c[a, t] = base_rate * (seasonal_amplitude * (1 + cos(2 pi (month - peak)/12))/2
  + trend * t / (n_months - 1)) * exp(sd * z[a, t] - sd^2 / 2)``: an additive
  calendar term, the same for everyone in an area-month.

Because calendar effects add to, not multiply, the person level, **parallel
trends hold in levels**: ``E[Y0(t) - Y0(t')]`` does not depend on who you
are. Selection into the pilot is on the level (need), so naive comparisons
are biased while difference-in-differences and regression adjustment on the
generating covariates are not.

With the pilot (person started in month ``g``, event time ``e = t - g >= 0``):
``mu1 = mu0 * (1 + relative_effect * ramp(e))``, ``ramp(e) = min(1, (e + 1) / ramp_months)``.

Draws (``count`` measures): ``Y0 ~ Poisson(mu0 * V)``, ``V ~ Gamma(monthly_shape)``
with mean one (so counts are overdispersed twice over: between people through
the frailties, within a person through ``V``). ``Y1`` is coupled to ``Y0``
(common random numbers): binomial thinning of ``Y0`` with probability
``mu1 / mu0`` for a reduction, plus an independent ``Poisson((mu1 - mu0) V)``
for an increase, so ``Y1 - Y0`` is the person's own realised effect.
``nights`` measures: in accommodation that month with probability
``pi = min(1, mu / nbar)`` (``nbar = 1 + (days - 1) * nights_share``), then
``1 + Binomial(days - 1, nights_share)`` nights; ``Y1`` and ``Y0`` share the
uniform and the nights draw. The observed panel holds ``Y1`` for treated
person-months on or after the start and ``Y0`` otherwise.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import OutcomeSpec, SynthConfig
from .people import Areas, People, need_index
from .pilot import Pilot
from .risk import Spirals

__all__ = ["OutcomePanel", "make_outcomes", "ramp"]


def ramp(event_time: np.ndarray, ramp_months: int) -> np.ndarray:
    """Share of the full effect in month ``event_time`` after start (0 before).

    Examples
    --------
    >>> ramp(np.array([-1, 0, 5, 11, 30]), 12).round(3).tolist()
    [0.0, 0.083, 0.5, 1.0, 1.0]
    """
    e = np.asarray(event_time, dtype=float)
    return np.where(e >= 0, np.minimum(1.0, (e + 1.0) / ramp_months), 0.0)


@dataclass
class OutcomePanel:
    """The generated panel (in-scope people only) and its planted truths."""

    person: np.ndarray  # row -> person index (in-scope people)
    measures: list[str]
    values: np.ndarray  # (n_measures, n_rows, n_months) int32 observed values
    lam: np.ndarray  # (n_measures, n_rows) person-level expected rate
    calendar: np.ndarray  # (n_measures, n_areas, n_months) calendar term
    effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_event_time: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_cohort_period: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_area_period: pd.DataFrame = field(default_factory=pd.DataFrame)


def _month_info(cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Calendar month (1-12) and days in month for each panel month."""
    moy = np.empty(cfg.n_months, dtype=int)
    days = np.empty(cfg.n_months, dtype=int)
    y, m = cfg.start.year, cfg.start.month
    for t in range(cfg.n_months):
        moy[t] = m
        days[t] = calendar.monthrange(y, m)[1]
        m += 1
        if m == 13:
            y, m = y + 1, 1
    return moy, days


def expected_values(spec: OutcomeSpec, mu: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Expected observed value given the latent mean ``mu`` (nights are capped)."""
    if spec.kind == "count":
        return mu
    nbar = 1.0 + (days - 1) * spec.nights_share
    return np.minimum(1.0, mu / nbar) * nbar


def make_outcomes(cfg: SynthConfig, rng: np.random.Generator, areas: Areas,
                  people: People, pilot: Pilot, spirals: Spirals | None = None
                  ) -> OutcomePanel:
    """Generate the panel and the planted-effect truths for every measure.

    With ``spirals``, a crisis measure's person-level rate is multiplied by
    ``cfg.spiral_crisis_mult[measure]`` in the person's spiral months (see
    :mod:`evalkit.synthetic.risk`).
    """
    rows = np.flatnonzero(people.in_scope)
    n, T, A = len(rows), cfg.n_months, areas.n
    moy, days = _month_info(cfg)
    t_idx = np.arange(T)
    area = people.area[rows].astype(np.int64)
    start = pilot.start_month[rows]
    treated_rows = np.flatnonzero(start >= 0)
    g_tr = start[treated_rows]
    e_tr = t_idx[None, :] - g_tr[:, None]  # event time (n_tr, T)
    post = e_tr >= 0
    r_tr = ramp(e_tr, cfg.ramp_months)
    M = len(cfg.outcomes)
    values = np.empty((M, n, T), dtype=np.int32)
    lam_all = np.empty((M, n))
    cal_all = np.empty((M, A, T))
    eff_rows, evt_frames, gt_frames, area_frames = [], [], [], []
    frail = people.frailty[rows]
    # cohort-period and area-period keys for the treated post cells
    e_post = e_tr[post]
    gt_key = (g_tr[:, None] * T + t_idx[None, :])[post]
    ar_key = (area[treated_rows][:, None] * T + t_idx[None, :])[post]
    n_e = np.bincount(e_post, minlength=T)
    n_gt = np.bincount(gt_key, minlength=T * T)
    n_ar = np.bincount(ar_key, minlength=A * T)
    for k, spec in enumerate(cfg.outcomes):
        s = need_index(cfg, people.decile[rows], people.prior_use[rows], people.age[rows],
                       people.sex[rows], w_dep=spec.need_weight_deprivation,
                       w_prior=spec.need_weight_prior_use, w_male=spec.need_weight_male,
                       age_weights=spec.age_weights)
        centre = cfg.need_floor + (s.mean() if n else 0.0)
        h = rng.gamma(spec.frailty_shape, 1.0 / spec.frailty_shape, n)
        lam = spec.base_rate * (cfg.need_floor + s) / centre * frail * h
        angle = 2 * np.pi * (moy - spec.seasonal_peak_month) / 12
        season = spec.seasonal_amplitude * (1 + np.cos(angle)) / 2
        trend = spec.trend * t_idx / max(T - 1, 1)
        sd = cfg.area_shock_sd
        shock = np.exp(sd * rng.standard_normal((A, T)) - sd * sd / 2)
        cal = spec.base_rate * (season + trend)[None, :] * shock
        smult = cfg.spiral_crisis_mult.get(spec.name, 1.0)
        if spirals is not None and spirals.any and smult != 1.0:
            person_rate = lam[:, None] * spirals.rate_factor(rows, T, smult)
            mu0 = person_rate + cal[area]  # (n, T)
            del person_rate
        else:
            mu0 = lam[:, None] + cal[area]  # (n, T)
        if spec.kind == "count":
            v = rng.gamma(spec.monthly_shape, 1.0 / spec.monthly_shape, (n, T))
            y0 = rng.poisson(mu0 * v)
        else:
            nbar = 1.0 + (days - 1) * spec.nights_share
            u_in = rng.random((n, T))
            # nights are drawn only for the cells that can be in accommodation with
            # or without the pilot (u below the larger of the two chances)
            bound = mu0 * max(1.0, 1.0 + spec.relative_effect)
            cand = u_in < np.minimum(1.0, bound / nbar[None, :])
            nights = np.zeros((n, T), dtype=np.int64)
            t_of = np.broadcast_to(np.arange(T), (n, T))[cand]
            nights[cand] = 1 + rng.binomial(days[t_of] - 1, spec.nights_share)
            y0 = np.where(u_in < np.minimum(1.0, mu0 / nbar[None, :]), nights, 0)
        y = y0.astype(np.int32)
        # the pilot, on treated rows only
        mu0_tr = mu0[treated_rows]
        mult = 1.0 + spec.relative_effect * r_tr
        mu1_tr = mu0_tr * mult
        y0_tr = y0[treated_rows]
        if spec.kind == "count":
            if spec.relative_effect < 0:
                y1_tr = rng.binomial(y0_tr, np.minimum(mult, 1.0))
            elif spec.relative_effect > 0:
                y1_tr = y0_tr + rng.poisson((mu1_tr - mu0_tr) * v[treated_rows])
            else:
                y1_tr = y0_tr
        else:
            y1_tr = np.where(u_in[treated_rows] < np.minimum(1.0, mu1_tr / nbar[None, :]),
                             nights[treated_rows], 0)
        y[treated_rows] = np.where(post, y1_tr, y0_tr)
        values[k] = y
        lam_all[k] = lam
        cal_all[k] = cal
        e0 = expected_values(spec, mu0_tr, days[None, :])
        e1 = expected_values(spec, mu1_tr, days[None, :])
        d_exp = (e1 - e0)[post]
        d_smp = (y1_tr - y0_tr)[post].astype(float)
        npm = int(post.sum())
        eff_rows.append({
            "measure": spec.name,
            "relative_effect": spec.relative_effect,
            "placebo": spec.relative_effect == 0,
            "att": float(d_exp.mean()) if npm else np.nan,
            "att_sample": float(d_smp.mean()) if npm else np.nan,
            "mean_y0": float(e0[post].mean()) if npm else np.nan,
            "att_relative": float(d_exp.sum() / e0[post].sum()) if npm else np.nan,
            "n_treated": len(treated_rows),
            "n_treated_person_months": npm,
            "label": spec.label,
        })
        s_e = np.bincount(e_post, weights=d_exp, minlength=T)
        keep = n_e > 0
        evt_frames.append(pd.DataFrame({
            "measure": spec.name, "event_time": np.flatnonzero(keep),
            "att": s_e[keep] / n_e[keep], "n_people": n_e[keep],
            "ramp": ramp(np.flatnonzero(keep), cfg.ramp_months)}))
        s_gt = np.bincount(gt_key, weights=d_exp, minlength=T * T)
        keep = np.flatnonzero(n_gt > 0)
        gt_frames.append(pd.DataFrame({
            "measure": spec.name, "cohort": keep // T, "period": keep % T,
            "event_time": keep % T - keep // T,
            "att": s_gt[keep] / n_gt[keep], "n_people": n_gt[keep]}))
        s_ar = np.bincount(ar_key, weights=d_exp, minlength=A * T)
        keep = np.flatnonzero(n_ar > 0)
        area_frames.append(pd.DataFrame({
            "measure": spec.name, "area": keep // T, "period": keep % T,
            "effect": s_ar[keep], "n_treated": n_ar[keep]}))
        del mu0, y0, y, mu0_tr, mu1_tr, y0_tr, y1_tr
    return OutcomePanel(
        person=rows, measures=[o.name for o in cfg.outcomes], values=values,
        lam=lam_all, calendar=cal_all,
        effects=pd.DataFrame(eff_rows),
        by_event_time=pd.concat(evt_frames, ignore_index=True),
        by_cohort_period=pd.concat(gt_frames, ignore_index=True),
        by_area_period=pd.concat(area_frames, ignore_index=True),
    )
