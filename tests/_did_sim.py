"""Planted-effect staggered panels for the DiD tests (independent of evalkit.synthetic).

``staggered_panel`` builds a balanced panel of units starting a pilot in
different periods, with a known effect ``effect(e)`` at event time ``e >= 0``
(zero before the start and for never-treated units), unit effects, common
period shocks and noise. With ``covariate=True`` each unit has a baseline
covariate ``x`` that both raises its chance of early treatment and steepens
its outcome trend, so parallel trends hold only conditional on ``x``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd


def growing(e: np.ndarray) -> np.ndarray:
    """Effect that grows with time since start: 0.5, 1.0, 1.5, ..."""
    return 0.5 * (e + 1.0)


def staggered_panel(
    n_units: int = 600,
    n_periods: int = 12,
    cohorts: Sequence[int] = (4, 7, 10),
    never_share: float = 0.25,
    effect: Callable[[np.ndarray], np.ndarray] = growing,
    noise: float = 0.5,
    covariate: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """Long panel: id, period (1..T), first (0 = never), value, x, true_effect."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_units)
    k = len(cohorts)
    if covariate:
        # higher x -> more likely early cohort
        score = np.column_stack([-(j - k / 2) * 0.8 * x for j in range(k + 1)])
        p = np.exp(score) / np.exp(score).sum(axis=1, keepdims=True)
        choice = np.array([rng.choice(k + 1, p=pi) for pi in p])
    else:
        probs = np.r_[np.full(k, (1 - never_share) / k), never_share]
        choice = rng.choice(k + 1, size=n_units, p=probs)
    first = np.array(list(cohorts) + [0])[choice]
    t = np.arange(1, n_periods + 1)
    alpha = rng.normal(size=n_units)
    lam = 0.3 * t + rng.normal(scale=0.3, size=n_periods)
    y0 = alpha[:, None] + lam[None, :] + rng.normal(scale=noise, size=(n_units, n_periods))
    if covariate:
        y0 = y0 + 0.4 * x[:, None] * t[None, :]
    e = t[None, :] - first[:, None]
    treated = (first[:, None] > 0) & (e >= 0)
    tau = np.where(treated, effect(np.where(treated, e, 0).astype(float)), 0.0)
    y = y0 + tau
    return pd.DataFrame({
        "id": np.repeat(np.arange(n_units), n_periods),
        "period": np.tile(t, n_units),
        "first": np.repeat(first, n_periods),
        "value": y.ravel(),
        "x": np.repeat(x, n_periods),
        "true_effect": tau.ravel(),
    })
