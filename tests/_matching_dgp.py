"""A small confounded data-generating process with planted effects.

Used by the evaluate-matching tests and the coverage simulation. People with
more prior service contact (``prior``), who are younger (``age_std``), female
or urban are more likely to join the pilot *and* have worse outcomes, so the
naive comparison overstates the effect.

* ``y``: continuous outcome, effect ``TAU`` (constant, so ATT = ATE = TAU);
* ``placebo``: same confounding, no effect;
* ``events`` over ``years`` at risk: counts with rate ratio ``RATE_RATIO``
  (negative-binomial, gamma frailty with variance 0.5);
* ``y_pre``, ``y_post``: outcomes before/after the pilot start with an
  unobserved person effect ``u`` that also drives selection, so cross-section
  matching on the observed covariates is biased but matched DiD is not
  (effect ``TAU`` on the post-period only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TAU = 1.5
RATE_RATIO = float(np.exp(-0.3))
COVARIATES = ["prior", "age_std", "female", "area_type"]
NUMERIC = ["prior", "age_std", "female"]


def people(n: int = 2000, seed: int = 0, unobserved: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    prior = rng.normal(size=n)
    age = rng.normal(size=n)
    female = rng.binomial(1, 0.4, n)
    area = rng.choice(["urban", "suburban", "rural"], size=n, p=[0.5, 0.3, 0.2])
    urban = (area == "urban").astype(float)
    u = rng.normal(size=n)
    lp = -1.2 + 0.8 * prior - 0.5 * age + 0.6 * female + 0.3 * urban + unobserved * u
    d = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    base = 1 + 2 * prior + 1.5 * age + female + 0.5 * urban
    y = base + TAU * d + rng.normal(0, 2, n)
    placebo = base + rng.normal(0, 2, n)
    years = rng.uniform(0.5, 2.0, n)
    mu = years * np.exp(-0.5 + 0.4 * prior + 0.3 * age + np.log(RATE_RATIO) * d)
    events = rng.poisson(mu * rng.gamma(2.0, 0.5, n))
    y_pre = base + 2 * u + rng.normal(0, 1, n)
    y_post = base + 2 * u + 0.5 + TAU * d + rng.normal(0, 1, n)
    return pd.DataFrame({
        "person_id": [f"P{i:05d}" for i in range(n)], "treated": d, "prior": prior,
        "age_std": age, "female": female, "area_type": area, "y": y, "placebo": placebo,
        "events": events, "years": years, "y_pre": y_pre, "y_post": y_post,
    })
