"""A small event log with a planted, exactly known crisis-risk structure.

This is the test bed for the risk model (and the benchmark's volume): it is
deliberately simple so that the truth is known exactly. The full synthetic
place (:mod:`evalkit.synthetic`) is the realistic demo.

Generating model
----------------
* **People**: age band, sex, deprivation decile (1 = most deprived), one of
  12 areas; ``in_scope_share`` are in scope.
* **Spirals**: a share ``spiral_share`` of people go through one spell of
  ``spiral_months`` (uniform in the range) starting in a uniform month. In a
  spiral their contact and episode rates are multiplied by ``spiral_rate_mult``
  and referrals are declined with chance ``spiral_decline_prob`` instead of
  ``decline_prob``.
* **Routine contacts**: Poisson(``contact_rate`` x multiplier) a month at
  organisations drawn from :data:`ROUTINE_SHARES`.
* **Episodes**: Poisson(``episode_rate`` x multiplier) a month, each with a
  need. Entry organisation: ``contact`` and ``assessment``; with chance
  ``referral_prob`` a ``referral`` to another organisation, which declines it
  with the chance above (``referral_declined`` at the receiver) and is then
  re-referred to a third organisation within 1-25 days with chance
  ``rerefer_prob`` (a bounced referral); an accepted referral gives
  ``referral_accepted``, an ``assessment`` at the receiver (a story retold),
  an ``intervention`` after a log-normal wait and a ``closure``.
* **Crises** (the planted risk): each person-month ``m`` has hazard
  ``h = expit(intercept + sum_k coef_k * x_k(m))`` where ``x_k(m)`` are the
  person's history features at the start of month ``m``, computed with the
  same definitions as :class:`~evalkit.community.features.FeatureBuilder`
  (on ``log1p`` scale: bounced referrals and stories retold in the previous
  365 days, events in the previous 90 days) plus ``deprived`` (1 when the
  deprivation decile is 1 or 2). A crisis (``crisis_measure``) is a Bernoulli
  draw with that hazard.

The truth object keeps the hazards, so the **oracle** risk at a cut-off (the
chance of at least one crisis in the next ``h`` months if the hazard stayed
at its cut-off value) is known for every person.

Example
-------
>>> tables, truth = simulate_risk_data(300, n_months=18, seed=1)
>>> sorted(tables)
['events', 'organisations', 'outcomes', 'partners', 'people']
>>> truth.hazard.shape
(300, 18)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..schema import AGE_BANDS, SEXES
from ..synthetic.config import NEEDS as SYNTH_NEEDS
from ..synthetic.config import ORGANISATIONS as SYNTH_ORGANISATIONS

__all__ = [
    "simulate_risk_data",
    "RiskTruth",
    "ORGANISATIONS",
    "NEEDS",
    "DEFAULT_CRISIS_COEFS",
]

#: The synthetic place's nine statutory organisations plus one charity.
ORGANISATIONS: tuple[str, ...] = SYNTH_ORGANISATIONS[:9] + ("Community charity",)

#: Partner paying for each organisation.
PARTNER_OF: dict[str, str] = {
    "Council housing": "Council",
    "Adult social care": "Council",
    "Children's social care": "Council",
    "NHS acute trust": "NHS",
    "NHS mental health trust": "NHS",
    "GP practices": "NHS",
    "Police": "Police",
    "DWP Jobcentre Plus": "DWP",
    "Probation service": "Probation",
    "Community charity": "Voluntary sector",
}

ROUTINE_SHARES: tuple[float, ...] = (0.05, 0.03, 0.02, 0.08, 0.05, 0.6, 0.06, 0.06, 0.02, 0.03)

NEEDS: tuple[str, ...] = SYNTH_NEEDS
NEED_PROBS: tuple[float, ...] = (0.22, 0.2, 0.18, 0.1, 0.1, 0.12, 0.08)
#: Relevance of each organisation to each need (rows: needs).
NEED_ORG = np.array([
    [6, 2, 1, 1, 1, 1, 1, 2, 1, 3],
    [1, 2, 1, 2, 6, 3, 2, 1, 1, 2],
    [2, 1, 1, 0, 1, 1, 0, 6, 1, 4],
    [1, 0, 1, 1, 1, 1, 6, 1, 5, 1],
    [2, 1, 6, 1, 1, 2, 2, 1, 0, 2],
    [0, 4, 0, 5, 1, 6, 0, 1, 0, 1],
    [1, 1, 1, 3, 4, 2, 3, 1, 2, 3],
], dtype=float)

#: Planted crisis coefficients (log-odds per unit of each history feature).
DEFAULT_CRISIS_COEFS: dict[str, float] = {
    "bounced_referrals_365d": 0.9,
    "stories_retold_365d": 0.6,
    "events_90d": 0.35,
    "deprived": 0.3,
}


@dataclass
class RiskTruth:
    """What :func:`simulate_risk_data` planted.

    Attributes
    ----------
    intercept : float
        Log-odds of a crisis in a month with every feature at zero.
    coefs : dict
        Feature -> log-odds coefficient. History features enter as
        ``log1p(count)``; ``deprived`` is 0/1.
    hazard : ndarray (people x months)
        Planted monthly crisis probability.
    months : DatetimeIndex
        Start of each month of the panel.
    person_ids : Index
    spiral_start, spiral_end : ndarray
        Month index of each person's spiral ([start, end)); -1 when none.
    seed : int
    """

    intercept: float
    coefs: dict[str, float]
    hazard: np.ndarray
    months: pd.DatetimeIndex
    person_ids: pd.Index
    spiral_start: np.ndarray
    spiral_end: np.ndarray
    seed: int
    settings: dict = field(default_factory=dict)

    def oracle_risk(self, cutoff: str | pd.Timestamp, horizon_months: int) -> pd.Series:
        """Chance of at least one crisis in ``horizon_months`` from ``cutoff``,
        holding the planted hazard at its value for the cut-off month."""
        m = self.months.get_loc(pd.Timestamp(cutoff))
        h = self.hazard[:, m]
        return pd.Series(1 - (1 - h) ** horizon_months, index=self.person_ids,
                         name="oracle_risk")


def _ints(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    return rng.poisson(lam).astype(np.int64)


def simulate_risk_data(
    n_people: int = 2000,
    *,
    n_months: int = 36,
    start: str = "2021-01-01",
    seed: int = 0,
    in_scope_share: float = 0.9,
    contact_rate: float = 0.45,
    episode_rate: float = 0.1,
    spiral_share: float = 0.25,
    spiral_months: tuple[int, int] = (6, 18),
    spiral_rate_mult: float = 3.0,
    referral_prob: float = 0.6,
    decline_prob: float = 0.12,
    spiral_decline_prob: float = 0.55,
    rerefer_prob: float = 0.85,
    crisis_measure: str = "crisis",
    crisis_intercept: float = -5.2,
    crisis_coefs: Mapping[str, float] | None = None,
    dense_outcomes: bool = True,
) -> tuple[dict[str, pd.DataFrame], RiskTruth]:
    """Simulate people, an event log and a crisis outcome with planted risk.

    Returns
    -------
    tables : dict of DataFrame
        ``people``, ``events``, ``outcomes``, ``partners``, ``organisations``
        in evalkit's schema (ready for :meth:`evalkit.place.Place.from_tables`).
    truth : RiskTruth
        The planted hazards and coefficients.

    Notes
    -----
    ``dense_outcomes=False`` writes only the months with a crisis (smaller
    for benchmarks); pass the panel's end to the risk model then.
    """
    from .features import FeatureBuilder
    from .history import EventHistory

    coefs = dict(DEFAULT_CRISIS_COEFS if crisis_coefs is None else crisis_coefs)
    unknown = set(coefs) - set(DEFAULT_CRISIS_COEFS)
    if unknown:
        from ..errors import InputError

        raise InputError(f"crisis_coefs: unknown feature(s) {sorted(unknown)}; planted "
                         f"features are {sorted(DEFAULT_CRISIS_COEFS)}.")
    rng = np.random.default_rng(seed)
    n, M = int(n_people), int(n_months)
    months = pd.date_range(start, periods=M, freq="MS")
    month_day = (months.values.astype("datetime64[D]").astype(np.int64))
    month_len = np.diff(np.append(month_day, (months[-1] + pd.offsets.MonthBegin(1))
                                  .to_datetime64().astype("datetime64[D]").astype(np.int64)))
    ids = pd.Index([f"P{i:07d}" for i in range(n)], name="person_id")

    # ---- people
    age_p = np.array([0.1, 0.12, 0.18, 0.16, 0.15, 0.13, 0.09, 0.07])
    age = rng.choice(len(AGE_BANDS), size=n, p=age_p)
    sex = rng.choice(3, size=n, p=[0.5, 0.48, 0.02])
    dep = rng.integers(1, 11, size=n)
    area = rng.integers(0, 12, size=n)
    people = pd.DataFrame({
        "person_id": ids.to_numpy(),
        "area": np.array([f"Area {a + 1:02d}" for a in range(12)], dtype=object)[area],
        "in_scope": rng.random(n) < in_scope_share,
        "age_band": np.array(AGE_BANDS, dtype=object)[age],
        "sex": np.array(SEXES[:3], dtype=object)[sex],
        "deprivation_decile": dep,
    })

    # ---- spirals and monthly rates (more deprived people have more contact)
    spiral = rng.random(n) < spiral_share
    s0 = np.where(spiral, rng.integers(0, M, size=n), -1)
    s1 = np.where(spiral, s0 + rng.integers(spiral_months[0], spiral_months[1] + 1, size=n),
                  -1)
    mgrid = np.arange(M)
    in_sp = (mgrid[None, :] >= s0[:, None]) & (mgrid[None, :] < s1[:, None])
    frailty = rng.gamma(2.0, 0.5, size=n) * np.exp(0.06 * (5.5 - dep))
    mult = frailty[:, None] * np.where(in_sp, spiral_rate_mult, 1.0)

    parts = []
    # routine contacts
    k = _ints(rng, contact_rate * mult).ravel()
    cell = np.repeat(np.arange(n * M), k)
    cp, cm = cell // M, cell % M
    cday = month_day[cm] + (rng.random(len(cell)) * month_len[cm]).astype(np.int64)
    corg = rng.choice(len(ORGANISATIONS), size=len(cell), p=np.array(ROUTINE_SHARES) / sum(
        ROUTINE_SHARES))
    parts.append((cp, cday, corg, np.zeros(len(cell), np.int64), np.full(len(cell), -1),
                  np.full(len(cell), -1)))

    # episodes
    k = _ints(rng, episode_rate * mult).ravel()
    cell = np.repeat(np.arange(n * M), k)
    ne = len(cell)
    ep_p, ep_m = cell // M, cell % M
    d0 = month_day[ep_m] + (rng.random(ne) * month_len[ep_m]).astype(np.int64)
    need = rng.choice(len(NEEDS), size=ne, p=NEED_PROBS)
    rel = NEED_ORG[need]
    a = _pick(rng, rel)
    b = _pick(rng, _without(rel, a))
    c = _pick(rng, _without(_without(rel, a), b))
    spiral_ep = in_sp[ep_p, ep_m]
    refer = rng.random(ne) < referral_prob
    dprob = np.where(spiral_ep, spiral_decline_prob, decline_prob)
    declined = refer & (rng.random(ne) < dprob)
    rerefer = declined & (rng.random(ne) < rerefer_prob)
    accepted_first = refer & ~declined
    t_ref = d0 + rng.integers(1, 11, ne)
    t_dec = t_ref + rng.integers(1, 11, ne)
    t_rr = t_dec + rng.integers(1, 26, ne)
    recv = np.where(rerefer, c, b)
    t_acc_ref = np.where(rerefer, t_rr, t_ref)
    got = accepted_first | rerefer
    t_acc = t_acc_ref + rng.integers(1, 8, ne)
    t_ass2 = t_acc + rng.integers(0, 15, ne)
    t_int = t_ass2 + np.round(rng.lognormal(np.log(20), 0.8, ne)).astype(np.int64)
    t_int0 = d0 + np.round(rng.lognormal(np.log(10), 0.6, ne)).astype(np.int64)
    t_clo = np.where(got, t_int, t_int0) + rng.integers(20, 90, ne)
    ET = {"contact": 0, "assessment": 1, "referral": 2, "referral_accepted": 3,
          "referral_declined": 4, "intervention": 5, "closure": 6}

    def add(mask, day, org, et, ref_to):
        i = np.flatnonzero(mask)
        parts.append((ep_p[i], day[i], org[i], np.full(len(i), ET[et]),
                      ref_to[i] if ref_to is not None else np.full(len(i), -1), need[i]))

    allm = np.ones(ne, dtype=bool)
    add(allm, d0, a, "contact", None)
    add(allm, d0, a, "assessment", None)
    add(~got, t_int0, a, "intervention", None)
    add(refer, t_ref, a, "referral", b)
    add(declined, t_dec, b, "referral_declined", None)
    add(rerefer, t_rr, a, "referral", c)
    add(got, t_acc, recv, "referral_accepted", None)
    add(got, t_ass2, recv, "assessment", None)
    add(got, t_int, recv, "intervention", None)
    add(allm, t_clo, np.where(got, recv, a), "closure", None)

    P = np.concatenate([x[0] for x in parts])
    D = np.concatenate([x[1] for x in parts])
    O = np.concatenate([x[2] for x in parts])
    T = np.concatenate([x[3] for x in parts])
    R = np.concatenate([x[4] for x in parts])
    Nd = np.concatenate([x[5] for x in parts])
    end_day = month_day[-1] + month_len[-1]
    keep = D < end_day
    P, D, O, T, R, Nd = P[keep], D[keep], O[keep], T[keep], R[keep], Nd[keep]
    orgs = np.array(ORGANISATIONS, dtype=object)
    types = np.array(list(ET), dtype=object)
    needs = np.array(NEEDS + (None,), dtype=object)
    events = pd.DataFrame({
        "person_id": pd.Categorical.from_codes(P, categories=ids.to_numpy()),
        "date": D.astype("datetime64[D]").astype("datetime64[ns]"),
        "organisation": pd.Categorical.from_codes(O, categories=orgs),
        "event_type": pd.Categorical.from_codes(T, categories=types),
        "referred_to": pd.Categorical.from_codes(R, categories=orgs),
        "need": pd.Categorical.from_codes(np.where(Nd < 0, len(NEEDS), Nd),
                                          categories=needs[:-1].tolist() + ["(none)"]),
    })
    events["need"] = events["need"].cat.remove_categories(["(none)"])
    events = events.sort_values(["person_id", "date"], kind="stable").reset_index(drop=True)

    # ---- crisis hazards from the history at each month start (same definitions)
    hist = EventHistory(events, people)
    fb = FeatureBuilder(hist, people, windows=(90, 365))
    deprived = (dep <= 2).astype(float)
    hazard = np.empty((n, M))
    for j, mstart in enumerate(months):
        f = fb.features(mstart, demographics=False)
        eta = np.full(n, crisis_intercept)
        for name, beta in coefs.items():
            x = deprived if name == "deprived" else np.log1p(f[name].to_numpy(float))
            eta += beta * x
        hazard[:, j] = 1 / (1 + np.exp(-eta))
    crisis = rng.random((n, M)) < hazard
    if dense_outcomes:
        outcomes = pd.DataFrame({
            "person_id": np.repeat(ids.to_numpy(), M),
            "period": np.tile(months.values, n),
            "measure": crisis_measure,
            "value": crisis.ravel().astype(float),
        })
    else:
        pi, mi = np.nonzero(crisis)
        outcomes = pd.DataFrame({"person_id": ids.to_numpy()[pi], "period": months.values[mi],
                                 "measure": crisis_measure, "value": 1.0})
    partners = pd.DataFrame({"partner": sorted(set(PARTNER_OF.values()))})
    organisations = pd.DataFrame({"organisation": list(PARTNER_OF),
                                  "partner": list(PARTNER_OF.values())})
    truth = RiskTruth(intercept=crisis_intercept, coefs=coefs, hazard=hazard, months=months,
                      person_ids=ids, spiral_start=s0, spiral_end=s1, seed=seed,
                      settings=dict(n_people=n, n_months=M, start=start,
                                    spiral_share=spiral_share, crisis_measure=crisis_measure))
    tables = {"people": people, "events": events, "outcomes": outcomes,
              "partners": partners, "organisations": organisations}
    return tables, truth


def _without(w: np.ndarray, j: np.ndarray) -> np.ndarray:
    w = w.copy()
    w[np.arange(len(j)), j] = 0.0
    return w


def _pick(rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
    """One column per row, with chance proportional to the row's weights."""
    cw = np.cumsum(w, axis=1)
    u = rng.random(len(w)) * cw[:, -1]
    return (cw < u[:, None]).sum(axis=1)
