"""The service-contact event log: routine contacts, outcome contacts and journeys.

Three sources of events, all vectorised with numpy:

1. **Routine contacts** (``contact``): each resident has
   ``Poisson(rate * n_months)`` contacts on uniform days, at organisations drawn
   from ``routine_contact_shares`` (mostly GP practices). The rate is
   ``contact_rate_in_scope * exp(rate_need_slope * (g - mean g)) * G`` for people
   in scope and ``contact_rate_out_of_scope * G`` for the rest.
2. **Outcome contacts**: every unit of a count outcome that names an
   ``event_organisation`` (A&E attendances, arrests, homelessness applications,
   children's social care referrals, elective admissions) is one ``contact`` at
   that organisation on a uniform day of its month, so the event log and the
   outcome panel agree exactly.
3. **Journeys** (episodes of need): ``Poisson(rate * n_months)`` episodes per
   person starting on uniform days, each with a presenting need (by age
   group). An episode is a chain of up to ``max_hops`` organisations:

   - *entry*: ``contact`` and ``assessment`` at the entry organisation (drawn
     from need relevance x front-door weight), an optional re-``assessment``
     there, then an ``intervention`` after a log-normal wait;
   - *each onward hop* (with chance ``continue_probs[h]``): a ``referral``
     (``referred_to`` the next organisation, drawn by relevance, never the
     current one); the receiver declines with chance ``decline_prob``
     (``referral_declined``, recorded by the decliner); a decline is
     re-referred with chance ``rerefer_prob`` (to the decliner again with
     chance ``pingpong_prob``, else elsewhere), and a re-referral is declined
     with chance ``decline_prob_second``; an unresolved decline ends the episode
     with a ``closure`` at the referrer. Accepted: ``referral_accepted``, an
     ``assessment`` by the receiver (the story retold), an optional
     re-``assessment``, and an ``intervention`` after a log-normal wait;
   - a ``closure`` at the last organisation.

**The pilot** acts on episodes that start on or after the person's pilot
start, with strength ``ramp(e)`` (``e`` = whole months from the start to the
episode start): the receiver skips its own assessment (using the shared one)
with chance ``pilot_shared_assessment * ramp``; re-assessment, decline and
wait are cut by ``pilot_reassessment_reduction``, ``pilot_decline_reduction``
and ``pilot_wait_reduction`` times ``ramp``. Each treated episode is also
simulated without the pilot from the **same random numbers** (common random
numbers), which gives the counterfactual log from which the truth counts the
repeat assessments, declined and bounced referrals the pilot removed.

Events after the end of the panel are censored (dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..schema import AGE_BANDS, EVENT_TYPES
from .config import NEEDS, SynthConfig
from .outcomes import OutcomePanel, ramp
from .people import People
from .pilot import Pilot
from .risk import Spirals

__all__ = [
    "EventArrays",
    "SERVICES",
    "make_events",
    "failure_demand_counts",
    "panel_days",
]

#: (assessment/front-door service, intervention service) of each organisation.
SERVICES: dict[str, tuple[str, str]] = {
    "Council housing": ("Housing options", "Tenancy sustainment"),
    "Adult social care": ("Adult front door", "Care and support"),
    "Children's social care": ("Children's front door", "Early help"),
    "NHS acute trust": ("Acute assessment unit", "Outpatient clinics"),
    "NHS mental health trust": ("Single point of access", "Community mental health team"),
    "GP practices": ("General practice", "General practice"),
    "Police": ("Neighbourhood policing", "Vulnerability hub"),
    "DWP Jobcentre Plus": ("Work coach", "Universal Credit support"),
    "Probation service": ("Court and assessment", "Offender management"),
    "Anytown Homes housing association": ("Tenancy services", "Tenancy support"),
    "Anytown Community Support (charity)": ("Advice line", "Advice and advocacy"),
}

ET = {name: i for i, name in enumerate(EVENT_TYPES)}
CONTACT, ASSESS, REFER = ET["contact"], ET["assessment"], ET["referral"]
ACCEPT, DECLINE = ET["referral_accepted"], ET["referral_declined"]
INTERV, CLOSE = ET["intervention"], ET["closure"]

_STEP_BITS = 6  # steps per episode < 64


@dataclass
class EventArrays:
    """The event log as parallel arrays, sorted by (person, day, tie)."""

    person: np.ndarray  # int32 person index
    day: np.ndarray  # int32 days since the panel start
    org: np.ndarray  # int8 index into organisations
    service: np.ndarray  # int16 index into services
    etype: np.ndarray  # int8 index into EVENT_TYPES
    referred_to: np.ndarray  # int8 org index, -1 = none
    need: np.ndarray  # int8 index into NEEDS, -1 = none
    organisations: list[str]
    services: list[str]

    def __len__(self) -> int:
        return len(self.person)


@dataclass
class _Slots:
    """Accumulates event slots of one simulation run."""

    ep: list
    t: list
    org: list
    etype: list
    ref: list
    svc: list
    step: list

    @classmethod
    def empty(cls) -> _Slots:
        return cls([], [], [], [], [], [], [])

    def add(self, mask, t, org, etype, step, svc, ref=None) -> None:
        idx = np.flatnonzero(mask)
        self.ep.append(idx.astype(np.int64))
        self.t.append(np.asarray(t)[idx])
        self.org.append(np.asarray(org)[idx].astype(np.int8))
        self.etype.append(np.full(len(idx), etype, dtype=np.int8))
        self.ref.append(np.full(len(idx), -1, np.int8) if ref is None
                        else np.asarray(ref)[idx].astype(np.int8))
        self.svc.append(np.asarray(svc)[idx].astype(np.int16))
        self.step.append(np.full(len(idx), step, dtype=np.int64))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(getattr(self, k)) for k in
                ("ep", "t", "org", "etype", "ref", "svc", "step")}


def panel_days(cfg: SynthConfig) -> tuple[int, np.ndarray]:
    """Total days in the panel and the first day of each month (days since start)."""
    first = pd.date_range(pd.Timestamp(cfg.start), periods=cfg.n_months + 1, freq="MS")
    offs = ((first - first[0]).days).to_numpy()
    return int(offs[-1]), offs[:-1]


def _pick(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw: index j with probability weights[i, j] / sum."""
    cum = np.cumsum(weights, axis=1)
    target = u * cum[:, -1]
    idx = (cum <= target[:, None]).sum(axis=1)
    return np.minimum(idx, weights.shape[1] - 1)


def _lag(median: float, sigma: float, z: np.ndarray) -> np.ndarray:
    return median * np.exp(sigma * z.astype(np.float64))


def _simulate(cfg: SynthConfig, ep_need: np.ndarray, t0: np.ndarray,
              draws: list[dict[str, np.ndarray]], strength: np.ndarray,
              rel: np.ndarray, entry: np.ndarray, svc_front: np.ndarray,
              svc_int: np.ndarray, decline_mult: np.ndarray | None = None
              ) -> dict[str, np.ndarray]:
    """Simulate the journeys of the given episodes (one run of the pilot strength).

    ``decline_mult`` (per episode, default 1) multiplies the chances a referral
    and a re-referral are declined, capped at 0.95 (spirals).
    """
    n = len(t0)
    dm = np.ones(n) if decline_mult is None else decline_mult
    p_dec1 = np.minimum(cfg.decline_prob * dm, 0.95)
    p_dec2 = np.minimum(cfg.decline_prob_second * dm, 0.95)
    slots = _Slots.empty()
    s = strength
    cp = cfg
    # --- hop 0: entry organisation
    d = draws[0]
    org = _pick(entry[ep_need], d["u_org"]).astype(np.int64)
    true_ = np.ones(n, dtype=bool)
    slots.add(true_, t0, org, CONTACT, 0, svc_front[org])
    t_as = t0 + _lag(cp.assess_lag_median_days, cp.lag_sigma, d["z_assess"])
    slots.add(true_, t_as, org, ASSESS, 5, svc_front[org])
    wait = _lag(cp.wait_median_days * (1 - cp.pilot_wait_reduction * s), cp.wait_sigma,
                d["z_wait"])
    t_int = t_as + wait
    reas = d["u_reas"] < cp.reassessment_prob * (1 - cp.pilot_reassessment_reduction * s)
    slots.add(reas, t_as + d["u_frac"] * (t_int - t_as), org, ASSESS, 6, svc_front[org])
    slots.add(true_, t_int, org, INTERV, 7, svc_int[org])
    active = true_
    t = t_int
    step0 = 10
    for h, p_cont in enumerate(cp.continue_probs, start=1):
        d = draws[h]
        base = step0 * h
        cont = active & (d["u_cont"] < p_cont)
        stop = active & ~cont
        slots.add(stop, t + _lag(cp.closure_median_days, cp.lag_sigma, d["z_close"]),
                  org, CLOSE, base - 1, svc_int[org])
        w = rel[ep_need].copy()
        w[np.arange(n), org] = 0.0
        target = _pick(w, d["u_org"])
        w[np.arange(n), target] = 0.0
        alt = _pick(w, d["u_alt"])
        t_ref = t + _lag(cp.onward_median_days, cp.lag_sigma, d["z_onward"])
        slots.add(cont, t_ref, org, REFER, base + 0, svc_int[org], ref=target)
        t_dec1 = t_ref + _lag(cp.decision_median_days, cp.lag_sigma, d["z_dec1"])
        dec1 = cont & (d["u_dec1"] < p_dec1 * (1 - cp.pilot_decline_reduction * s))
        slots.add(dec1, t_dec1, target, DECLINE, base + 1, svc_front[target])
        rer = dec1 & (d["u_rer"] < cp.rerefer_prob)
        target2 = np.where(d["u_pp"] < cp.pingpong_prob, target, alt)
        t_ref2 = t_dec1 + _lag(cp.rerefer_median_days, cp.lag_sigma, d["z_rr"])
        slots.add(rer, t_ref2, org, REFER, base + 2, svc_int[org], ref=target2)
        t_dec2 = t_ref2 + _lag(cp.decision_median_days, cp.lag_sigma, d["z_dec2"])
        dec2 = rer & (d["u_dec2"] < p_dec2 * (1 - cp.pilot_decline_reduction * s))
        slots.add(dec2, t_dec2, target2, DECLINE, base + 3, svc_front[target2])
        failed = dec1 & (~rer | dec2)
        t_fail = np.where(rer, t_dec2, t_dec1)
        slots.add(failed, t_fail + _lag(cp.closure_median_days / 4, cp.lag_sigma,
                                        d["z_close"]), org, CLOSE, base + 8, svc_int[org])
        acc = cont & ~failed
        acc_org = np.where(dec1, target2, target)
        t_acc = np.where(dec1, t_dec2, t_dec1)
        slots.add(acc, t_acc, acc_org, ACCEPT, base + 4, svc_front[acc_org])
        assessed = acc & ~(d["u_skip"] < cp.pilot_shared_assessment * s)
        t_as = t_acc + _lag(cp.assess_lag_median_days, cp.lag_sigma, d["z_assess"])
        slots.add(assessed, t_as, acc_org, ASSESS, base + 5, svc_front[acc_org])
        wait = _lag(cp.wait_median_days * (1 - cp.pilot_wait_reduction * s), cp.wait_sigma,
                    d["z_wait"])
        t_from = np.where(assessed, t_as, t_acc)
        t_int = t_from + wait
        reas = assessed & (d["u_reas"] < cp.reassessment_prob
                           * (1 - cp.pilot_reassessment_reduction * s))
        slots.add(reas, t_as + d["u_frac"] * (t_int - t_as), acc_org, ASSESS, base + 6,
                  svc_front[acc_org])
        slots.add(acc, t_int, acc_org, INTERV, base + 7, svc_int[acc_org])
        t = np.where(acc, t_int, t)
        org = np.where(acc, acc_org, org)
        active = acc
    d = draws[-1]
    last = step0 * (len(cp.continue_probs) + 1)
    slots.add(active, t + _lag(cp.closure_median_days, cp.lag_sigma, d["z_close"]),
              org, CLOSE, last, svc_int[org])
    return slots.arrays()


_DRAW_NAMES_0 = ("u_org", "z_assess", "z_wait", "u_reas", "u_frac")
_DRAW_NAMES = ("u_cont", "z_close", "u_org", "u_alt", "z_onward", "z_dec1", "u_dec1",
               "u_rer", "u_pp", "z_rr", "z_dec2", "u_dec2", "u_skip", "z_assess",
               "z_wait", "u_reas", "u_frac")


def _draws(rng: np.random.Generator, n: int, hops: int) -> list[dict[str, np.ndarray]]:
    """All random numbers of every episode, hop by hop (float32 to save memory)."""
    out = []
    for h in range(hops + 1):
        names = _DRAW_NAMES_0 if h == 0 else (_DRAW_NAMES if h < hops else ("z_close",))
        d = {}
        for name in names:
            if name.startswith("z_"):
                d[name] = rng.standard_normal(n, dtype=np.float32)
            else:
                d[name] = rng.random(n, dtype=np.float32)
        out.append(d)
    return out


def _org_tables(cfg: SynthConfig):
    orgs = list(cfg.organisations)
    services: list[str] = []
    front = np.empty(len(orgs), dtype=np.int16)
    inter = np.empty(len(orgs), dtype=np.int16)
    for k, o in enumerate(orgs):
        for arr, name in zip((front, inter), SERVICES[o]):
            if name not in services:
                services.append(name)
            arr[k] = services.index(name)
    rel = np.array([[cfg.need_org_weights.get(nd, {}).get(o, 0.0) + cfg.org_base_weight
                     for o in orgs] for nd in NEEDS])
    rel = np.maximum(rel, 1e-9)
    entry = rel * np.array([cfg.entry_weights.get(o, 0.0) + 1e-9 for o in orgs])[None, :]
    return orgs, services, front, inter, rel, entry


def _service_index(services: list[str], name: str) -> int:
    if name not in services:
        services.append(name)
    return services.index(name)


def failure_demand_counts(person: np.ndarray, day: np.ndarray, etype: np.ndarray,
                          org: np.ndarray, referred_to: np.ndarray, *,
                          window_days: int = 90, rereferral_days: int = 30) -> dict:
    """Count failure demand in a log sorted by person, then time (ties in log order).

    Definitions are those of :mod:`evalkit.waste`: a *repeat assessment* is an
    assessment whose person's previous assessment (any organisation) was at
    most ``window_days`` days earlier: a *re-assessment* if at the same
    organisation, a *story retold* if not. A *bounced referral* is a
    ``referral_declined`` followed by the person's next ``referral`` within
    ``rereferral_days`` days; a *ping-pong* is a bounce whose re-referral goes
    back to the organisation that declined. A *wait* is the days from a
    ``referral`` to the person's next ``intervention``.

    Examples
    --------
    >>> p = np.array([0, 0, 0, 0, 0, 1]); d = np.array([0, 10, 20, 25, 200, 5])
    >>> e = np.array([ASSESS, ASSESS, DECLINE, REFER, ASSESS, ASSESS])
    >>> o = np.array([1, 2, 2, 1, 2, 3]); r = np.array([-1, -1, -1, 2, -1, -1])
    >>> c = failure_demand_counts(p, d, e, o, r)
    >>> c["repeat_assessments"], c["stories_retold"]
    (1, 1)
    >>> c["bounced_referrals"], c["pingpong_referrals"]
    (1, 1)
    """
    a = np.flatnonzero(etype == ASSESS)
    pa, da, oa = person[a], day[a], org[a]
    rep = (pa[1:] == pa[:-1]) & (da[1:] - da[:-1] <= window_days)
    reas = rep & (oa[1:] == oa[:-1])
    ref = np.flatnonzero(etype == REFER)
    dec = np.flatnonzero(etype == DECLINE)
    j = np.searchsorted(ref, dec, side="right")
    has = j < len(ref)
    nxt = ref[np.minimum(j, max(len(ref) - 1, 0))] if len(ref) else np.zeros(0, int)
    if len(ref):
        bounce = has & (person[nxt] == person[dec]) & (day[nxt] - day[dec] <= rereferral_days)
        ping = bounce & (referred_to[nxt] == org[dec])
    else:
        bounce = ping = np.zeros(len(dec), dtype=bool)
    itv = np.flatnonzero(etype == INTERV)
    k = np.searchsorted(itv, ref, side="right")
    ok = k < len(itv)
    if len(itv):
        nx = itv[np.minimum(k, len(itv) - 1)]
        ok &= person[nx] == person[ref]
        waits = (day[nx] - day[ref])[ok].astype(float)
    else:
        waits = np.zeros(0)
    return {
        "assessments": int(len(a)),
        "repeat_assessments": int(rep.sum()),
        "reassessments": int(reas.sum()),
        "stories_retold": int((rep & ~reas).sum()),
        "referrals": int(len(ref)),
        "referrals_declined": int(len(dec)),
        "bounced_referrals": int(bounce.sum()),
        "pingpong_referrals": int(ping.sum()),
        "interventions": int(len(itv)),
        "referrals_without_intervention": int((~ok).sum()),
        "mean_wait_days": float(waits.mean()) if len(waits) else float("nan"),
        "median_wait_days": float(np.median(waits)) if len(waits) else float("nan"),
    }


def _sort_key(person: np.ndarray, day: np.ndarray, tie: np.ndarray) -> np.ndarray:
    return (person.astype(np.int64) << 42) | (day.astype(np.int64) << 29) | tie


def make_events(cfg: SynthConfig, rng: np.random.Generator, people: People,
                pilot: Pilot, panel: OutcomePanel, spirals: Spirals | None = None,
                spiral_rng: np.random.Generator | None = None
                ) -> tuple[EventArrays, pd.DataFrame]:
    """Generate the event log and the failure-demand truth table.

    With ``spirals`` (and ``spiral_rng``, the spirals' own random stream), people
    in a spiral have ``cfg.spiral_episode_mult`` times the episodes in their
    spiral months and their referrals are declined ``cfg.spiral_decline_mult``
    times as often (see :mod:`evalkit.synthetic.risk`).

    Returns
    -------
    (EventArrays, DataFrame)
        The log sorted by person, day and within-day order, and the truth
        table of failure demand among treated people with and without the pilot.
    """
    orgs, services, svc_front, svc_int, rel, entry = _org_tables(cfg)
    n_days, month_first = panel_days(cfg)
    T = cfg.n_months
    n = people.n
    if n >= 1 << 21 or n_days >= 1 << 13:
        raise InputError(f"A synthetic place can have at most {(1 << 21) - 1:,} people and "
                         f"{(1 << 13) - 1:,} days; got {n:,} people and {n_days:,} days. "
                         "Lower n_people or n_months.")
    in_scope = people.in_scope
    dev = people.need - pilot.need_centre
    rate_mult = np.exp(cfg.rate_need_slope * dev) * people.frailty
    parts: list[dict[str, np.ndarray]] = []

    # 1. routine contacts ------------------------------------------------------
    rate = np.where(in_scope, cfg.contact_rate_in_scope * rate_mult,
                    cfg.contact_rate_out_of_scope * people.frailty)
    k = rng.poisson(rate * T)
    pr = np.repeat(np.arange(n, dtype=np.int32), k)
    m = len(pr)
    shares = np.array([cfg.routine_contact_shares.get(o, 0.0) for o in orgs])
    if shares.sum() <= 0:
        shares = np.ones(len(orgs))
    cdf = np.cumsum(shares / shares.sum())
    cdf[-1] = 1.0
    org_r = np.searchsorted(cdf, rng.random(m, dtype=np.float32), side="right").astype(np.int8)
    parts.append({
        "person": pr, "day": np.floor(rng.random(m) * n_days).astype(np.int32),
        "org": org_r, "service": svc_front[org_r], "etype": np.full(m, CONTACT, np.int8),
        "ref": np.full(m, -1, np.int8), "need": np.full(m, -1, np.int8),
        "tie": np.zeros(m, np.int64)})
    del pr, org_r

    # 2. outcome contacts --------------------------------------------------------
    days_in = np.diff(np.append(month_first, n_days))
    for spec_k, spec in enumerate(cfg.outcomes):
        if spec.kind != "count" or not spec.event_organisation:
            continue
        y = panel.values[spec_k]
        flat = np.repeat(np.arange(y.size, dtype=np.int64), y.ravel())
        i, t = flat // T, flat % T
        m = len(flat)
        o = orgs.index(spec.event_organisation)
        svc = _service_index(services, spec.event_service or SERVICES[orgs[o]][0])
        need = NEEDS.index(spec.event_need) if spec.event_need in NEEDS else -1
        parts.append({
            "person": panel.person[i].astype(np.int32),
            "day": (month_first[t] + np.floor(rng.random(m) * days_in[t])).astype(np.int32),
            "org": np.full(m, o, np.int8), "service": np.full(m, svc, np.int16),
            "etype": np.full(m, CONTACT, np.int8), "ref": np.full(m, -1, np.int8),
            "need": np.full(m, need, np.int8), "tie": np.zeros(m, np.int64)})
        del flat, i, t

    # 3. journeys --------------------------------------------------------------------
    ep_rate = np.where(in_scope, cfg.episode_rate_in_scope * rate_mult,
                       cfg.episode_rate_out_of_scope * people.frailty)
    k = rng.poisson(ep_rate * T)
    ep_person = np.repeat(np.arange(n, dtype=np.int32), k)
    n_ep = len(ep_person)
    t0 = rng.random(n_ep) * n_days
    use_spirals = (spirals is not None and spirals.any
                   and (cfg.spiral_episode_mult > 1 or cfg.spiral_decline_mult > 1))
    if use_spirals:
        if spiral_rng is None:
            raise InputError("make_events: spirals need their own random stream "
                             "(spiral_rng).")
        sp = np.flatnonzero(spirals.start >= 0)
        s_day = month_first[spirals.start[sp]]
        e_day = np.append(month_first, n_days)[spirals.end[sp]]
        extra = spiral_rng.poisson(ep_rate[sp] * (cfg.spiral_episode_mult - 1)
                                   * (spirals.end[sp] - spirals.start[sp]))
        x_person = np.repeat(sp.astype(np.int32), extra)
        x_t0 = (np.repeat(s_day, extra)
                + spiral_rng.random(len(x_person)) * np.repeat(e_day - s_day, extra))
        ep_person = np.concatenate([ep_person, x_person])
        t0 = np.concatenate([t0, x_t0])
        n_ep = len(ep_person)
    order = np.lexsort((t0, ep_person))  # chronological within person
    ep_person, t0 = ep_person[order], t0[order]
    if n_ep + 1 >= 1 << (29 - _STEP_BITS):
        raise InputError(f"Too many episodes of need ({n_ep:,}; at most "
                         f"{(1 << (29 - _STEP_BITS)) - 2:,}). Lower n_people, n_months or "
                         "the episode rates.")
    age = people.age[ep_person]
    group = np.where(age == AGE_BANDS.index("0-17"), 0,
                     np.where(age >= AGE_BANDS.index("65-74"), 2, 1))
    need_p = np.array([[cfg.need_probs[g].get(nd, 0.0) for nd in NEEDS]
                       for g in ("child", "adult", "older")])
    ep_need = _pick(need_p[group], rng.random(n_ep, dtype=np.float32)).astype(np.int64)
    draws = _draws(rng, n_ep, len(cfg.continue_probs) + 1)
    start = pilot.start_month[ep_person]
    ep_month = np.searchsorted(month_first, np.floor(t0), side="right") - 1
    strength = np.where(start >= 0, ramp(ep_month - start, cfg.ramp_months), 0.0)
    if use_spirals:
        ep_m = np.minimum(ep_month, T - 1)
        in_spiral = ((ep_m >= spirals.start[ep_person]) & (ep_m < spirals.end[ep_person]))
        dmult = np.where(in_spiral, cfg.spiral_decline_mult, 1.0)
    else:
        dmult = None
    fact = _simulate(cfg, ep_need, t0, draws, strength, rel, entry, svc_front, svc_int,
                     dmult)
    ep = fact["ep"]
    day = np.floor(fact["t"]).astype(np.int64)
    keep = day < n_days
    parts.append({
        "person": ep_person[ep[keep]], "day": day[keep].astype(np.int32),
        "org": fact["org"][keep], "service": fact["svc"][keep],
        "etype": fact["etype"][keep], "ref": fact["ref"][keep],
        "need": ep_need[ep[keep]].astype(np.int8),
        "tie": ((ep[keep] + 1) << _STEP_BITS) | fact["step"][keep]})

    # counterfactual for treated episodes (common random numbers) -------------------
    tr_ep = np.flatnonzero(strength > 0)
    sub_draws = [{k2: v[tr_ep] for k2, v in d.items()} for d in draws]
    cf = _simulate(cfg, ep_need[tr_ep], t0[tr_ep], sub_draws, np.zeros(len(tr_ep)), rel,
                   entry, svc_front, svc_int, None if dmult is None else dmult[tr_ep])
    del draws, sub_draws

    # assemble and sort ----------------------------------------------------------------
    cols = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
    del parts
    key = _sort_key(cols["person"], cols["day"], cols["tie"])
    idx = np.argsort(key, kind="stable")
    del key
    ev = EventArrays(person=cols["person"][idx], day=cols["day"][idx], org=cols["org"][idx],
                     service=cols["service"][idx], etype=cols["etype"][idx],
                     referred_to=cols["ref"][idx], need=cols["need"][idx],
                     organisations=orgs, services=services)
    del cols, idx

    truth = _failure_truth(cfg, people, pilot, ep_person, fact, cf, tr_ep, n_days,
                           month_first)
    return ev, truth


def _failure_truth(cfg, people, pilot, ep_person, fact, cf, tr_ep, n_days,
                   month_first) -> pd.DataFrame:
    """Failure demand among treated people with and without the pilot."""
    treated_person = pilot.start_month >= 0
    is_tr_ep = np.zeros(len(ep_person), dtype=bool)
    is_tr_ep[tr_ep] = True

    def log(ep, t, etype, org, ref, step, only):
        day = np.floor(t).astype(np.int64)
        sel = only & (day < n_days) & np.isin(etype, (ASSESS, REFER, DECLINE, INTERV))
        p = ep_person[ep[sel]]
        key = _sort_key(p, day[sel], ((ep[sel] + 1) << _STEP_BITS) | step[sel])
        return p, day[sel], etype[sel], org[sel], ref[sel], key

    f_ep = fact["ep"]
    in_tr = treated_person[ep_person[f_ep]]
    a = log(f_ep, fact["t"], fact["etype"], fact["org"], fact["ref"], fact["step"], in_tr)
    # counterfactual: factual events of untreated episodes + cf events of treated ones
    keep_f = in_tr & ~is_tr_ep[f_ep]
    b1 = log(f_ep, fact["t"], fact["etype"], fact["org"], fact["ref"], fact["step"], keep_f)
    cf_ep = tr_ep[cf["ep"]]
    b2 = log(cf_ep, cf["t"], cf["etype"], cf["org"], cf["ref"], cf["step"],
             np.ones(len(cf_ep), dtype=bool))
    b = tuple(np.concatenate([x, y]) for x, y in zip(b1, b2))

    start_day = np.where(treated_person, month_first[np.maximum(pilot.start_month, 0)], 0)

    def counts(arrs, post_only: bool):
        p, day, et, org, ref, key = arrs
        o = np.argsort(key, kind="stable")
        p, day, et, org, ref = p[o], day[o], et[o], org[o], ref[o]
        if post_only:
            s = day >= start_day[p]
            p, day, et, org, ref = p[s], day[s], et[s], org[s], ref[s]
        return failure_demand_counts(p, day, et, org, ref, window_days=cfg.repeat_window_days,
                                     rereferral_days=cfg.rereferral_days)

    rows = []
    n_tr = int(treated_person.sum())
    years_post = float((n_days - start_day[treated_person]).sum() / 365.25)
    for scope, post in (("whole log", False), ("on or after pilot start", True)):
        f, c = counts(a, post), counts(b, post)
        for q in f:
            rows.append({"quantity": q, "scope": scope, "with_pilot": f[q],
                         "without_pilot": c[q]})
    out = pd.DataFrame(rows)
    out["removed"] = out["without_pilot"] - out["with_pilot"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["relative_change"] = np.where(out["without_pilot"] != 0,
                                          -out["removed"] / out["without_pilot"], np.nan)
    out.attrs["n_treated"] = n_tr
    out.attrs["treated_person_years_post"] = years_post
    return out
