"""Staggered adoption: Callaway & Sant'Anna (2021) group-time effects.

When a pilot rolls out neighbourhood by neighbourhood, units start treatment
in different periods. The two-way fixed effects regression then compares
later-treated units with already-treated ones and can be badly biased when
effects change over time (see :mod:`evalkit.evaluate.bacon`). Callaway &
Sant'Anna instead estimate one clean 2x2 comparison per **group** ``g`` (units
first treated in period ``g``) and period ``t``:

``ATT(g, t) = E[Y_t - Y_b | G = g] - E[Y_t - Y_b | comparison]``

with base period ``b = g - 1 - anticipation`` for post-treatment periods and,
with ``base_period="varying"`` (the default, as R ``did``), ``b = t - 1`` for
pre-treatment periods (so pre-period estimates are period-on-period placebo
effects). The comparison group is either the never-treated units
(``control_group="never"``) or the units not yet treated by
``max(t, b) + anticipation`` and not in group ``g`` (``"not_yet"``).

Each ATT(g,t) is estimated by outcome regression (``"reg"``), normalised
inverse probability weighting (``"ipw"``, Abadie 2005) or the doubly robust
estimator (``"dr"``, Sant'Anna & Zhao 2020, the default) with covariates
taken at the earlier of the two periods (``min(t, b)``). Without covariates all
three reduce to the difference of mean changes and are computed from group
means in one pass.

Aggregations (Callaway & Sant'Anna 2021, section 3) weight the ATT(g,t) by
group size:

* ``simple``: all post-treatment cells, weighted by group size;
* ``group``: average over each group's post-treatment periods, then across
  groups by group size;
* ``dynamic``: by event time ``e = t - g`` (an event study), overall =
  average over ``e >= 0``;
* ``calendar``: by period, overall = average over periods.

Standard errors come from the influence functions (analytic, including the
estimation of the group-size weights), clustered by unit or by ``cluster=``.
A multiplier bootstrap (Rademacher weights on unit or cluster sums of the
influence functions) gives uniform (sup-t) confidence bands over all cells
of a table, and bootstrap standard errors if ``se="bootstrap"``.

Numbers match R ``did`` (``att_gt`` + ``aggte``) on its ``mpdta`` example to
machine precision (see ``tests/test_evaluate_did_staggered.py``).

Limits: balanced panels only (units missing a period are refused or dropped
with ``drop_incomplete=True``); repeated cross-sections are not supported
(R ``did``'s ``panel=FALSE``); no sampling weights.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> rows = []
>>> for i in range(300):
...     g = [0, 3, 5][i % 3]
...     for t in range(1, 7):
...         eff = 1.0 * (t - g + 1) if g and t >= g else 0.0
...         rows.append((i, t, g, 0.5 * t + eff + rng.normal(scale=0.1)))
>>> df = pd.DataFrame(rows, columns=["area", "period", "first", "value"])
>>> res = StaggeredDiD(unit="area", first_treat="first", n_boot=0).fit(df)
>>> res.to_frame("dynamic").set_index("event_time").loc[[0, 1, 2], "estimate"].round(1).tolist()
[1.0, 2.0, 3.0]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from ._did_data import NEVER, Panel, prepare_panel
from ._did_data import format_period as fmtp
from .result import EffectResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["StaggeredDiD", "StaggeredDiDResult"]

_CONTROL = {"never": "never", "nevertreated": "never", "never_treated": "never",
            "not_yet": "not_yet", "notyettreated": "not_yet", "not_yet_treated": "not_yet"}
_ESTIMATOR = {"dr": "dr", "ipw": "ipw", "reg": "reg", "or": "reg"}
_EST_NAME = {"dr": "doubly robust (Sant'Anna & Zhao 2020)",
             "ipw": "inverse probability weighting (normalised)",
             "reg": "outcome regression"}
_AGGS = ("simple", "group", "dynamic", "calendar")


# --------------------------------------------------------------------------- estimators
def _logit(X: np.ndarray, D: np.ndarray, maxiter: int = 100) -> tuple[np.ndarray, bool]:
    """Maximum-likelihood logit by Newton-Raphson with step halving."""
    k = X.shape[1]
    beta = np.zeros(k)
    p0 = float(np.clip(D.mean(), 1e-10, 1 - 1e-10))
    if np.allclose(X[:, 0], 1.0):
        beta[0] = np.log(p0 / (1 - p0))

    def loglik(b: np.ndarray) -> float:
        eta = X @ b
        return float(np.sum(D * eta - np.logaddexp(0.0, eta)))

    ll = loglik(beta)
    for _ in range(maxiter):
        eta = X @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        W = p * (1 - p)
        H = (X * W[:, None]).T @ X
        grad = X.T @ (D - p)
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            return beta, False
        t = 1.0
        while True:
            nb = beta + t * step
            nll = loglik(nb)
            if nll >= ll - 1e-12 or t < 1e-8:
                break
            t /= 2
        beta, ll_old, ll = nb, ll, nll
        if np.max(np.abs(t * step)) < 1e-10 or abs(ll - ll_old) < 1e-13 * (1 + abs(ll)):
            return beta, True
    return beta, False


@dataclass
class _BlockOut:
    att: np.ndarray          # (m,)
    inf: np.ndarray          # (n1, m) influence function on the subsample (unscaled)
    ok: np.ndarray           # (m,) bool
    message: str = ""


def _block_nocov(dY: np.ndarray, D: np.ndarray) -> _BlockOut:
    """Difference of mean changes (all estimators without covariates)."""
    n1 = D.shape[0]
    nt = int(D.sum())
    nc = n1 - nt
    mt = dY[D].mean(axis=0)
    mc = dY[~D].mean(axis=0)
    inf = np.empty_like(dY)
    inf[D] = (dY[D] - mt) * (n1 / nt)
    inf[~D] = -(dY[~D] - mc) * (n1 / nc)
    return _BlockOut(att=mt - mc, inf=inf, ok=np.ones(dY.shape[1], bool))


def _block_cov(dY: np.ndarray, D: np.ndarray, X: np.ndarray, est: str) -> _BlockOut:
    """DRDID panel estimators (Sant'Anna & Zhao 2020) for several outcomes at once.

    ``dY`` is (n1, m): one column per (g, t) cell sharing the same treated and
    comparison units and covariates. Returns ATTs and the influence functions
    as defined by R ``DRDID`` (``drdid_panel``, ``std_ipw_did_panel``,
    ``reg_did_panel``) with unit weights.
    """
    n1, m = dY.shape
    Df = D.astype(np.float64)
    Cf = 1.0 - Df
    nan = _BlockOut(att=np.full(m, np.nan), inf=np.zeros((n1, m)), ok=np.zeros(m, bool))
    XC = X[~D]
    XtX_c = XC.T @ XC
    if est in ("dr", "reg"):
        if np.linalg.cond(XtX_c) > 1e13:
            nan.message = "too few comparison units for the outcome regression"
            return nan
        XpX_inv = np.linalg.inv(XtX_c / n1)
        beta = np.linalg.solve(XtX_c, XC.T @ dY[~D])      # (k, m)
        out = X @ beta                                      # (n1, m)
    if est in ("dr", "ipw"):
        gam, conv = _logit(X, Df)
        ps = 1.0 / (1.0 + np.exp(-(X @ gam)))
        if not conv or ps.max() >= 0.999:
            nan.message = ("overlap fails (propensity scores near 1)" if conv else
                           "the propensity score model did not converge")
            return nan
        ps = np.minimum(ps, 1 - 1e-6)
        trim = np.where(D, ps < 1.01, ps < 0.995)
        Wps = ps * (1 - ps)
        XtWX = (X * Wps[:, None]).T @ X
        Hess = np.linalg.inv(XtWX) * n1
        A_ps = ((Df - ps)[:, None] * X) @ Hess              # (n1, k)
        wt = trim * Df
        wc = trim * ps * Cf / (1 - ps)
        mwt, mwc = wt.mean(), wc.mean()
    if est == "dr":
        resid = dY - out
        eta_t = (wt @ resid) / n1 / mwt
        eta_c = (wc @ resid) / n1 / mwc
        att = eta_t - eta_c
        a = X @ (XpX_inv @ (X.T @ wt / n1))
        c = X @ (XpX_inv @ (X.T @ wc / n1))
        rc = resid - eta_c
        M2 = X.T @ (wc[:, None] * rc) / n1                  # (k, m)
        inf_t = (wt[:, None] * (resid - eta_t) - (Cf * a)[:, None] * resid) / mwt
        inf_c = (wc[:, None] * rc + A_ps @ M2 - (Cf * c)[:, None] * resid) / mwc
        inf = inf_t - inf_c
    elif est == "ipw":
        eta_t = (wt @ dY) / n1 / mwt
        eta_c = (wc @ dY) / n1 / mwc
        att = eta_t - eta_c
        rc = dY - eta_c
        M2 = X.T @ (wc[:, None] * rc) / n1
        inf = wt[:, None] * (dY - eta_t) / mwt - (wc[:, None] * rc + A_ps @ M2) / mwc
    else:  # outcome regression
        mD = Df.mean()
        eta_t = (Df @ dY) / n1 / mD
        eta_c = (Df @ out) / n1 / mD
        att = eta_t - eta_c
        a = X @ (XpX_inv @ (X.T @ Df / n1))
        inf = (Df[:, None] * (dY - eta_t)) / mD - (
            Df[:, None] * (out - eta_c) + (Cf * a)[:, None] * (dY - out)) / mD
    return _BlockOut(att=att, inf=inf, ok=np.ones(m, bool))


# --------------------------------------------------------------------------- core
@dataclass
class _Cells:
    g: np.ndarray            # cohort (period index)
    t: np.ndarray            # period index
    b: np.ndarray            # base period index
    att: np.ndarray
    inf: np.ndarray          # (n, K) influence functions, scaled to the full sample
    n_treated: np.ndarray
    n_control: np.ndarray
    control_any: np.ndarray  # (n,) bool: unit used as a comparison somewhere
    messages: list[tuple[int, list[int], str]]   # (group, periods, problem)


def _compute_att_gt(Yw: np.ndarray, G: np.ndarray, Xw: np.ndarray | None, *,
                    control: str, est: str, base_period: str, anticipation: int,
                    progress: bool = False) -> _Cells:
    n, T = Yw.shape
    cohorts = np.unique(G[G < NEVER])
    delta = anticipation
    # cell list in R order: by group, then period
    cells: list[tuple[int, int, int, Any]] = []
    for g in cohorts:
        t_range = range(1, T) if base_period == "varying" else range(T)
        for t in t_range:
            if t >= g:
                b = g - 1 - delta
            else:
                b = t - 1 if base_period == "varying" else g - 1 - delta
            if control == "never":
                key = ("never",)
            else:
                key = ("not_yet", max(t, b) + delta)
            cells.append((int(g), int(t), int(b), key))
    K = len(cells)
    att = np.full(K, np.nan)
    inf = np.zeros((n, K))
    n_tr = np.zeros(K, dtype=np.int64)
    n_co = np.zeros(K, dtype=np.int64)
    control_any = np.zeros(n, dtype=bool)
    messages: list[tuple[int, list[int], str]] = []
    time_varying = False
    if Xw is not None:
        time_varying = not np.all(Xw == Xw[:, :1, :])
    # group cells into blocks sharing treated units, comparison units and covariates
    blocks: dict[tuple, list[int]] = {}
    for j, (g, t, b, key) in enumerate(cells):
        if t == b:  # universal base: the base period itself is normalised to 0
            att[j] = 0.0
            continue
        cov_t = min(t, b) if time_varying else 0
        blocks.setdefault((g, key, cov_t), []).append(j)
    items: Any = list(blocks.items())
    if progress and len(items) >= 20:   # a bar only where the loop is long
        from tqdm.auto import tqdm

        items = tqdm(items, desc="ATT(g,t)", unit="block", file=sys.stderr)
    for (g, key, cov_t), idx in items:
        treat = G == g
        if key[0] == "never":
            comp = G == NEVER
        else:
            comp = (G == NEVER) | ((G > key[1]) & (G != g))
        sub = treat | comp
        nt, nc = int(treat.sum()), int(comp.sum())
        ts = np.array([cells[j][1] for j in idx])
        bs = np.array([cells[j][2] for j in idx])
        if nt == 0 or nc == 0:
            messages.append((g, ts.tolist(), "no comparison units"))
            continue
        Ysub = Yw[sub]
        dY = Ysub[:, ts] - Ysub[:, bs]
        D = treat[sub]
        if Xw is None:
            out = _block_nocov(dY, D)
        else:
            Xs = Xw[sub, cov_t, :]
            X = np.column_stack([np.ones(Xs.shape[0]), Xs])
            out = _block_cov(dY, D, X, est)
            if out.message:
                messages.append((g, ts.tolist(), out.message))
        n1 = int(sub.sum())
        rows = np.flatnonzero(sub)
        for c, j in enumerate(idx):
            if not out.ok[c]:
                continue
            att[j] = out.att[c]
            inf[rows, j] = out.inf[:, c] * (n / n1)
        n_tr[idx] = nt
        n_co[idx] = nc
        control_any |= comp
    return _Cells(g=np.array([c[0] for c in cells], dtype=np.int64),
                  t=np.array([c[1] for c in cells], dtype=np.int64),
                  b=np.array([c[2] for c in cells], dtype=np.int64),
                  att=att, inf=inf, n_treated=n_tr, n_control=n_co,
                  control_any=control_any, messages=messages)


def _se(psi: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """Analytic standard errors from influence functions (n x K)."""
    n = psi.shape[0]
    S = psi if cluster is None else _cluster_sums(psi, cluster)
    return np.sqrt(np.einsum("ij,ij->j", S, S)) / n


def _wald_pinv(b: np.ndarray, V: np.ndarray, rtol: float = 1e-10) -> tuple[float, int]:
    """Wald statistic ``b' V^+ b`` and the rank of ``V`` (a generalised inverse).

    With many small cohorts the joint covariance of the pre-treatment cells is
    singular or nearly so, and a plain solve returns nonsense (even negative
    statistics). Eigenvalues below ``rtol`` times the largest are treated as
    zero, and the degrees of freedom are the remaining rank.
    """
    if len(b) == 0 or not np.all(np.isfinite(V)):
        return float("nan"), 0
    vals, vecs = np.linalg.eigh((V + V.T) / 2)
    keep = vals > rtol * max(float(vals.max()), 0.0)
    if not keep.any():
        return float("nan"), 0
    z = vecs[:, keep].T @ b
    return float(np.sum(z**2 / vals[keep])), int(keep.sum())


def _cluster_sums(psi: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    G = int(cluster.max()) + 1
    if psi.ndim == 1:
        return np.bincount(cluster, weights=psi, minlength=G)
    order = np.argsort(cluster, kind="stable")
    cs = cluster[order]
    starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
    return np.add.reduceat(psi[order], starts, axis=0)


@dataclass
class _Agg:
    """An aggregation: elements plus the overall effect (last column).

    The influence functions are ``psi @ W + tab[unit_cohort]``: a weighted sum
    of the ATT(g,t) influence functions plus the influence of the estimated
    group-size weights, which depends on a unit only through its group.
    """

    kind: str
    labels: np.ndarray        # element labels (group / event time / period index)
    att: np.ndarray           # (E,) element estimates
    overall_att: float
    W: np.ndarray             # (K, E + 1) weights on the ATT(g,t)
    tab: np.ndarray           # (C + 1, E + 1) weight-IF per group (last row: no group)

    def influence(self, psi: np.ndarray, unit_cohort: np.ndarray) -> np.ndarray:
        """(n, E + 1) influence functions of the elements and the overall effect."""
        return psi @ self.W + self.tab[unit_cohort]


def _cohort_index(G: np.ndarray, cohorts: np.ndarray) -> np.ndarray:
    """Index of each unit's group in ``cohorts``; -1 for units in none."""
    C = len(cohorts)
    pos = np.clip(np.searchsorted(cohorts, G), 0, C - 1)
    return np.where(cohorts[pos] == G, pos, -1)


def _wif_table(keep: np.ndarray, pg: np.ndarray, att: np.ndarray, cell_cohort: np.ndarray,
               n_cohorts: int) -> np.ndarray:
    """``wif(keepers) @ att[keepers]`` per group: influence of estimated group-size weights.

    For weights ``pg_j / S`` with ``pg_j = P(G = g_j)`` and ``S = sum(pg)``, the
    derivative gives, per unit ``i`` (R ``did``'s ``wif``):
    ``sum_j att_j (1{G_i = g_j} - pg_j) / S``
    ``- sum_j (1{G_i = g_j} - pg_j) * sum_j pg_j att_j / S^2``.
    It depends on the unit only through its group: entry ``c`` is the value for
    units of group ``c`` (``cell_cohort`` indexes groups ``0..n_cohorts-1``), the
    last entry the value for units in no kept group.
    """
    S = pg[keep].sum()
    Pa = float(pg[keep] @ att[keep])
    A = np.bincount(cell_cohort[keep], weights=att[keep], minlength=n_cohorts)
    N = np.bincount(cell_cohort[keep], minlength=n_cohorts).astype(np.float64)
    return np.r_[(A - Pa) / S - (N - S) * Pa / S**2, 0.0]


def _aggregate(kind: str, cells: _Cells, G: np.ndarray, *, min_e: float = -np.inf,
               max_e: float = np.inf, balance_e: int | None = None) -> _Agg:
    """Aggregate ATT(g,t) as R ``did::aggte`` (weights by group size, with their IF)."""
    att = cells.att
    g, t = cells.g, cells.t
    n = G.shape[0]
    K = att.shape[0]
    cohorts = np.unique(g)
    C = len(cohorts)
    unit_cohort = _cohort_index(G, cohorts)
    cell_cohort = np.searchsorted(cohorts, g)
    pg_c = np.bincount(unit_cohort[unit_cohort >= 0], minlength=C) / n
    pg = pg_c[cell_cohort]
    finite = np.isfinite(att)
    att0 = np.where(finite, att, 0.0)
    post = (g <= t) & (t <= g + max_e) & finite
    # elements: (label, kept cells, weights, with weight-IF)
    elems: list[tuple[Any, np.ndarray, np.ndarray, bool]] = []
    if kind == "simple":
        keep = np.flatnonzero(post)
        if keep.size == 0:
            raise InputError("No post-treatment ATT(g,t) could be estimated.")
        elems.append((None, keep, pg[keep] / pg[keep].sum(), True))
    elif kind == "group":
        for c in cohorts:
            keep = np.flatnonzero((g == c) & post)
            if keep.size:
                elems.append((c, keep, np.full(keep.size, 1.0 / keep.size), False))
    elif kind == "dynamic":
        e_all = t - g
        include = finite.copy()
        eseq = np.unique(e_all[finite])
        if balance_e is not None:
            # as R did: groups observed for balance_e periods after starting, and event
            # times no earlier than balance_e minus the span of periods with estimates
            include &= (t.max() - g) >= balance_e
            eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - (t.max() - t.min()))]
        eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
        for e in eseq:
            keep = np.flatnonzero((e_all == e) & include)
            if keep.size:
                elems.append((int(e), keep, pg[keep] / pg[keep].sum(), True))
        if not any(lab >= 0 for lab, *_ in elems):
            raise InputError("No post-treatment event times could be estimated.")
    elif kind == "calendar":
        for tt in np.unique(t[t >= g.min()]):
            keep = np.flatnonzero((t == tt) & (g <= t) & finite)
            if keep.size:
                elems.append((int(tt), keep, pg[keep] / pg[keep].sum(), True))
    else:
        raise InputError(f"aggregation must be one of {', '.join(_AGGS)}; got {kind!r}.")
    E = len(elems)
    W = np.zeros((K, E + 1))
    tab = np.zeros((C + 1, E + 1))
    for j, (_, keep, w, with_wif) in enumerate(elems):
        W[keep, j] = w
        if with_wif:
            tab[:, j] = _wif_table(keep, pg, att0, cell_cohort, C)
    a = att0 @ W[:, :E]
    labels = np.array([lab for lab, *_ in elems if lab is not None], dtype=np.int64)
    if kind == "simple":
        W[:, E], tab[:, E] = W[:, 0], tab[:, 0]
        return _Agg(kind, labels, np.array([]), float(a[0]), W[:, [E]], tab[:, [E]])
    if kind == "group":
        p = pg_c[np.searchsorted(cohorts, labels)]
        wo = p / p.sum()
        overall = float(wo @ a)
        # weight IF with the groups themselves as the cells (R: wif over glist)
        tab_g = _wif_table(np.arange(E), p, a, np.arange(E), E)
        to_elem = np.full(C + 1, E)          # units in no listed group -> last entry
        to_elem[np.searchsorted(cohorts, labels)] = np.arange(E)
        W[:, E] = W[:, :E] @ wo
        tab[:, E] = tab[:, :E] @ wo + tab_g[to_elem]
        return _Agg(kind, labels, a, overall, W, tab)
    wo = np.full(E, 1.0 / E)
    if kind == "dynamic":
        epos = labels >= 0
        wo = np.where(epos, 1.0 / epos.sum(), 0.0)
    W[:, E] = W[:, :E] @ wo
    tab[:, E] = tab[:, :E] @ wo
    return _Agg(kind, labels, a, float(wo @ a), W, tab)


def _multiplier_bootstrap(psi: np.ndarray, aggs: Sequence[_Agg], unit_cohort: np.ndarray,
                          cluster: np.ndarray | None, n_boot: int, seed: int | None,
                          chunk: int = 64) -> tuple[np.ndarray, list[np.ndarray]]:
    """Multiplier-bootstrap draws of ``sqrt(G) * mean_c(v_c * S_c)``.

    ``S_c`` are the cluster (or unit) sums of the influence functions and ``v_c``
    independent Rademacher multipliers (as R ``did``'s ``mboot``); the same draws
    serve the ATT(g,t) and every aggregation, so all are bootstrapped jointly.
    Aggregations are linear in the ATT(g,t) influence functions plus a term that
    depends only on a unit's group, so their draws are ``B_gt @ W + V_c @ tab``
    with ``V_c`` the per-group sums of the multipliers. Without clustering the
    ATT(g,t) product exploits that each cell's influence function is zero outside
    its treated and comparison groups. Products are in single precision: the
    draws feed quantiles, where 1e-6 relative error is immaterial.

    Returns (draws for the ATT(g,t) (B x K), [draws per aggregation (B x (E+1))]).
    """
    n, K = psi.shape
    rng = np.random.default_rng(seed)
    C1 = aggs[0].tab.shape[0]   # groups + 1
    onehot = np.zeros((n, C1), dtype=np.float32)
    onehot[np.arange(n), unit_cohort] = 1.0      # group -1 -> last column
    if cluster is None:
        Gc = n
        parts = []
        for c in range(-1, C1 - 1):
            rows = np.flatnonzero(unit_cohort == c)
            if rows.size == 0:
                continue
            block = psi[rows]
            cols = np.flatnonzero(np.any(block != 0, axis=0))
            parts.append((rows, cols, np.ascontiguousarray(block[:, cols], dtype=np.float32)))
        member = onehot
    else:
        Gc = int(cluster.max()) + 1
        S = _cluster_sums(psi, cluster).astype(np.float32)
        member = _cluster_sums(onehot, cluster)   # (Gc, C1) group counts per cluster
    scale = 1.0 / np.sqrt(Gc)
    bgt = np.zeros((n_boot, K))
    vc = np.zeros((n_boot, C1))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        v = (rng.integers(0, 2, size=(b, Gc), dtype=np.int8) * 2 - 1).astype(np.float32)
        sl = slice(start, start + b)
        if cluster is None:
            for rows, cols, block in parts:
                bgt[sl, cols] += v[:, rows] @ block
        else:
            bgt[sl] = v @ S
        vc[sl] = v @ member
    bgt *= scale
    vc *= scale
    return bgt, [bgt @ a.W + vc @ a.tab for a in aggs]


def _boot_summary(bres: np.ndarray, n: int, n_clusters: int, alpha: float
                  ) -> tuple[np.ndarray, float]:
    """Bootstrap SEs (IQR-based, as R ``did``) and the sup-t critical value."""
    q75, q25 = np.quantile(bres, [0.75, 0.25], axis=0, method="inverted_cdf")
    sig = (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    se = sig * np.sqrt(n_clusters) / n
    ok = sig > np.sqrt(np.finfo(float).eps) * 10
    if not ok.any():
        return se, float("nan")
    tmax = np.max(np.abs(bres[:, ok] / sig[ok]), axis=1)
    crit = float(np.quantile(tmax, 1 - alpha, method="inverted_cdf"))
    return se, crit


# --------------------------------------------------------------------------- API
class StaggeredDiD:
    """Callaway & Sant'Anna (2021) difference-in-differences for staggered roll-outs.

    Parameters
    ----------
    unit, time, outcome : str
        Column names (defaults match evalkit's tidy outcome panel).
    first_treat : str, default "pilot_start"
        Column with each unit's first treated period (integer periods) or
        pilot start date (date periods); 0, empty or NaT = never treated.
    covariates : list of str, optional
        Covariates for the propensity score and outcome regression, taken at
        the earlier of each cell's two periods.
    control_group : {"never", "not_yet"}
        Comparison units: never treated, or not yet treated (R ``did``'s
        ``"nevertreated"`` / ``"notyettreated"`` are accepted too).
    estimator : {"dr", "ipw", "reg"}
        Doubly robust (default), normalised IPW or outcome regression.
    base_period : {"varying", "universal"}
        Pre-treatment base period (see module docstring).
    anticipation : int
        Periods of anticipation before the start.
    aggregation : {"simple", "group", "dynamic", "calendar"}
        The headline aggregation; all four are always computed.
    cluster : str, optional
        Cluster the standard errors by this column (constant within unit,
        e.g. ``area`` for people). Default: by unit.
    se : {"analytic", "bootstrap"}
        Report influence-function (default) or multiplier-bootstrap SEs.
    n_boot : int
        Multiplier-bootstrap draws for uniform bands (0 = no bands).
    seed : int, optional
        Seed for the bootstrap.
    alpha : float
        1 - confidence level.
    measure : str, optional
        Outcome measure to pick from a tidy panel with a ``measure`` column.
    starts : DataFrame or Series, optional
        Unit start dates if ``first_treat`` is not in the data (e.g. the
        ``people`` table).
    drop_always_treated, drop_incomplete : bool
        Drop (and report) units treated in the first period / units not
        observed in every period, instead of raising ``InputError``.
    progress : bool
        Show a progress bar (stderr) over the ATT(g,t) blocks when there are
        20 or more (e.g. not-yet-treated comparisons with covariates).
    """

    def __init__(
        self,
        *,
        unit: str = "person_id",
        time: str = "period",
        outcome: str = "value",
        first_treat: str = "pilot_start",
        covariates: Sequence[str] | str | None = None,
        control_group: str = "never",
        estimator: str = "dr",
        base_period: str = "varying",
        anticipation: int = 0,
        aggregation: str = "simple",
        cluster: str | None = None,
        se: str = "analytic",
        n_boot: int = 999,
        seed: int | None = 0,
        alpha: float = 0.05,
        measure: str | None = None,
        starts: pd.DataFrame | pd.Series | None = None,
        drop_always_treated: bool = False,
        drop_incomplete: bool = False,
        progress: bool = True,
    ) -> None:
        if control_group not in _CONTROL:
            raise InputError(f"control_group must be 'never' or 'not_yet'; got {control_group!r}.")
        if estimator not in _ESTIMATOR:
            raise InputError(f"estimator must be 'dr', 'ipw' or 'reg'; got {estimator!r}.")
        if base_period not in ("varying", "universal"):
            raise InputError(
                f"base_period must be 'varying' or 'universal'; got {base_period!r}.")
        if aggregation not in _AGGS:
            raise InputError(f"aggregation must be one of {', '.join(_AGGS)}; got {aggregation!r}.")
        if se not in ("analytic", "bootstrap"):
            raise InputError(f"se must be 'analytic' or 'bootstrap'; got {se!r}.")
        if int(anticipation) != anticipation or anticipation < 0:
            raise InputError(f"anticipation must be a whole number of periods >= 0; got "
                             f"{anticipation!r}.")
        if se == "bootstrap" and n_boot < 100:
            raise InputError("se='bootstrap' needs n_boot of at least 100 (999 recommended).")
        if not 0 < alpha < 1:
            raise InputError(f"alpha must be between 0 and 1; got {alpha!r}.")
        self.unit, self.time, self.outcome, self.first_treat = unit, time, outcome, first_treat
        self.covariates = [covariates] if isinstance(covariates, str) else list(covariates or [])
        self.control_group = _CONTROL[control_group]
        self.estimator = _ESTIMATOR[estimator]
        self.base_period = base_period
        self.anticipation = int(anticipation)
        self.aggregation = aggregation
        self.cluster = cluster
        self.se = se
        self.n_boot = int(n_boot)
        self.seed = seed
        self.alpha = alpha
        self.measure = measure
        self.starts = starts
        self.drop_always_treated = drop_always_treated
        self.drop_incomplete = drop_incomplete
        self.progress = progress

    def fit(self, data: pd.DataFrame) -> StaggeredDiDResult:
        """Estimate all ATT(g,t) and the four aggregations."""
        panel = prepare_panel(
            data, unit=self.unit, time=self.time, outcome=self.outcome,
            first_treat=self.first_treat, covariates=self.covariates, cluster=self.cluster,
            measure=self.measure, starts=self.starts, require_balanced=True,
            drop_incomplete=self.drop_incomplete,
            always_treated="drop" if self.drop_always_treated else "error",
            design="Callaway & Sant'Anna DiD")
        return _fit_panel(self, panel)


def _fit_panel(spec: StaggeredDiD, panel: Panel) -> StaggeredDiDResult:
    G = panel.gidx.copy()
    T = panel.n_periods
    notes = list(panel.notes)
    warnings: list[str] = []
    excluded = panel.excluded.copy()
    delta = spec.anticipation
    if delta:
        too_early = (G < NEVER) & (G - 1 - delta < 0)
        if too_early.any():
            if not spec.drop_always_treated:
                raise InputError(
                    f"{int(too_early.sum())} units start within anticipation={delta} periods "
                    "of the first period, so they have no clean pre-treatment period. Reduce "
                    "anticipation, add earlier periods, or pass drop_always_treated=True to "
                    "drop them (they are counted in the result's 'excluded' table)."
                )
            n_rows = int(too_early[panel.unit_idx].sum())
            panel = panel.subset_units(~too_early)
            G = panel.gidx.copy()
            excluded = pd.concat([excluded, pd.DataFrame(
                [{"reason": f"no pre-treatment period given anticipation={delta}",
                  "units": int(too_early.sum()), "rows": n_rows}])], ignore_index=True)
    Yw = panel.wide()
    Xw = panel.wide(panel.x) if panel.x is not None else None
    has_never = bool(np.any(G == NEVER))
    if spec.control_group == "never" and not has_never:
        raise InputError(
            "control_group='never' needs never-treated units, but every unit is treated "
            "within the panel. Use control_group='not_yet' to compare with units not yet "
            "treated."
        )
    if not np.any(G < NEVER):
        raise InputError("No unit is treated within the panel: there is no effect to estimate.")
    if spec.control_group == "not_yet" and not has_never:
        # as R did: the last-treated group is the comparison until it is treated;
        # periods from then on have no comparison units and are dropped.
        gmax = int(G[G < NEVER].max())
        n_last = int(np.sum(G == gmax))
        G = np.where(G == gmax, NEVER, G)
        Yw = Yw[:, :gmax]
        if Xw is not None:
            Xw = Xw[:, :gmax]
        T = gmax
        notes.append(
            f"No never-treated units: the last group to start ({fmtp(panel.periods[gmax])}, "
            f"{n_last} units) serves as the comparison and periods from "
            f"{fmtp(panel.periods[gmax])} on are not used."
        )
        if not np.any(G < NEVER):
            raise InputError("With a single start period and no never-treated units, there "
                             "is no comparison group.")
    sizes = pd.Series(G[G < NEVER]).value_counts()
    small = sizes[sizes < len(spec.covariates) + 5]
    if len(small):
        warnings.append(
            "Small groups (fewer than covariates + 5 units) give unreliable estimates: "
            + ", ".join(f"{fmtp(panel.periods[int(g)])} ({int(c)} units)"
                        for g, c in small.items()))
    cells = _compute_att_gt(Yw, G, Xw, control=spec.control_group, est=spec.estimator,
                            base_period=spec.base_period, anticipation=delta,
                            progress=spec.progress)
    plab = panel.periods
    for g, ts, problem in cells.messages:
        span = (f"period {fmtp(plab[ts[0]])}" if len(ts) == 1 else
                f"{len(ts)} periods ({fmtp(plab[min(ts)])} to {fmtp(plab[max(ts)])})")
        warnings.append(f"ATT(g,t) not estimated for group {fmtp(plab[g])}, {span}: {problem}.")
    n_nan = int(np.sum(~np.isfinite(cells.att)))
    if n_nan:
        warnings.append(f"{n_nan} of {len(cells.att)} ATT(g,t) could not be estimated; the "
                        "aggregations use the others only, so they describe fewer groups "
                        "or periods than intended.")
    return StaggeredDiDResult._build(spec, panel, cells, G, T, notes, warnings, excluded)


# --------------------------------------------------------------------------- result
class StaggeredDiDResult(EffectResult):
    """Result of :class:`StaggeredDiD`: ATT(g,t), four aggregations, bands.

    Tables: ``att_gt`` (every group-time cell), ``simple``, ``group``,
    ``dynamic``, ``calendar`` (elements with pointwise CIs and uniform
    bands), ``overall`` (one row per aggregation), ``effects`` (the headline
    aggregation's elements; the event-study path for ``simple``), ``excluded``.
    """

    @classmethod
    def _build(cls, spec: StaggeredDiD, panel: Panel, cells: _Cells, G: np.ndarray, T: int,
               notes: list[str], warnings: list[str], excluded: pd.DataFrame
               ) -> StaggeredDiDResult:
        n = G.shape[0]
        cl = panel.cluster
        n_clusters = int(cl.max()) + 1 if cl is not None else n
        aggs = {k: _aggregate(k, cells, G) for k in _AGGS}
        unit_cohort = _cohort_index(G, np.unique(cells.g))
        infs = {k: a.influence(cells.inf, unit_cohort) for k, a in aggs.items()}
        se_gt = _se(cells.inf, cl)
        se_gt[~np.isfinite(cells.att)] = np.nan
        se_gt[se_gt <= np.sqrt(np.finfo(float).eps) * 10] = np.nan
        # one joint multiplier bootstrap over every quantity reported
        boot = None
        if spec.n_boot > 0:
            bgt, bagg = _multiplier_bootstrap(cells.inf, list(aggs.values()), unit_cohort, cl,
                                              spec.n_boot, spec.seed)
            boot = [bgt] + bagg
        z = stats.norm.ppf(1 - spec.alpha / 2)
        plab = panel.periods
        unit_lbl = panel.period_unit

        def table(est: np.ndarray, psi: np.ndarray, bres: np.ndarray | None,
                  extra: dict[str, Any]) -> tuple[pd.DataFrame, float]:
            se_a = _se(psi, cl) if psi.shape[1] else np.array([])
            se_b, crit = (None, float("nan"))
            if bres is not None and bres.shape[1]:
                se_b, crit = _boot_summary(bres, n, n_clusters, spec.alpha)
            se = se_b if (spec.se == "bootstrap" and se_b is not None) else se_a
            with np.errstate(divide="ignore", invalid="ignore"):
                p = 2 * stats.norm.sf(np.abs(est / se))
            df = pd.DataFrame(extra)
            df["estimate"] = est
            df["se"] = se
            df["ci_lower"] = est - z * se
            df["ci_upper"] = est + z * se
            df["band_lower"] = est - crit * se
            df["band_upper"] = est + crit * se
            df["pvalue"] = p
            return df, crit

        # ATT(g,t)
        gt_extra = {
            "term": [f"ATT({fmtp(plab[g])}, {fmtp(plab[t])})" for g, t in zip(cells.g, cells.t)],
            "group": plab[cells.g], "time": plab[cells.t],
            "event_time": cells.t - cells.g, "base_period": plab[cells.b],
            "post": cells.t >= cells.g,
        }
        att_gt, crit_gt = table(cells.att, cells.inf, boot[0] if boot else None, gt_extra)
        att_gt["se"] = np.where(np.isfinite(se_gt) | (spec.se == "bootstrap"),
                                att_gt["se"], np.nan)
        att_gt["n_treated"] = cells.n_treated
        att_gt["n_control"] = cells.n_control
        tables: dict[str, pd.DataFrame] = {"att_gt": att_gt}
        overall_rows = []
        crits = {"att_gt": crit_gt}
        for i, (kind, agg) in enumerate(aggs.items(), start=1):
            b = boot[i] if boot else None
            inf = infs[kind]
            E = inf.shape[1] - 1
            lab: dict[str, Any] = {}
            if kind == "dynamic":
                lab = {"term": [f"e={e}" for e in agg.labels], "event_time": agg.labels}
            elif kind == "group":
                lab = {"term": [f"group {fmtp(plab[g])}" for g in agg.labels],
                       "group": plab[agg.labels]}
            elif kind == "calendar":
                lab = {"term": [f"{fmtp(plab[t])}" for t in agg.labels], "time": plab[agg.labels]}
            if kind != "simple":
                el, crit = table(agg.att, inf[:, :E], b[:, :E] if b is not None else None, lab)
                tables[kind] = el
                crits[kind] = crit
            ov, _ = table(np.array([agg.overall_att]), inf[:, E:],
                          b[:, E:] if b is not None else None,
                          {"term": [f"ATT ({kind})"], "aggregation": [kind]})
            overall_rows.append(ov)
        overall = pd.concat(overall_rows, ignore_index=True).drop(
            columns=["band_lower", "band_upper"])
        tables["overall"] = overall
        tables["effects"] = tables["dynamic" if spec.aggregation == "simple"
                                   else spec.aggregation]
        tables["excluded"] = excluded
        head = overall.set_index("aggregation").loc[spec.aggregation]
        draws = None
        if boot is not None:
            idx = list(aggs).index(spec.aggregation) + 1
            draws = float(head["estimate"]) + boot[idx][:, -1] * np.sqrt(n_clusters) / n
        covs = f" with covariates ({', '.join(spec.covariates)})" if spec.covariates else ""
        method = (f"Callaway & Sant'Anna (2021) DiD, {_EST_NAME[spec.estimator]}{covs}, "
                  f"{'never-treated' if spec.control_group == 'never' else 'not-yet-treated'} "
                  f"comparison, {spec.aggregation} aggregation")
        n_treated = int(np.sum(G < NEVER))
        n_control = int(cells.control_any.sum()) if spec.control_group == "not_yet" else int(
            np.sum(G == NEVER))
        pre = att_gt[~att_gt["post"] & att_gt["estimate"].notna() & att_gt["se"].notna()]
        diag: dict[str, Any] = {
            "groups": int(len(np.unique(G[G < NEVER]))),
            "periods": int(T),
            "att_gt_cells": int(len(att_gt)),
            "clusters": int(n_clusters),
        }
        if len(pre):
            # joint Wald test that every pre-treatment ATT(g,t) is zero
            idxp = np.flatnonzero((~att_gt["post"] & att_gt["estimate"].notna()
                                   & att_gt["se"].notna()).to_numpy())
            psi = cells.inf[:, idxp]
            Sg = psi if cl is None else _cluster_sums(psi, cl)
            V = Sg.T @ Sg / n**2
            b = cells.att[idxp]
            W, rank = _wald_pinv(b, V)
            if rank > 0:
                diag["pre_trend_wald"] = W
                diag["pre_trend_df"] = rank
                diag["pre_trend_pvalue"] = float(stats.chi2.sf(W, rank))
                if rank < len(idxp):
                    diag["pre_trend_note"] = (
                        f"the covariance of the {len(idxp)} pre-treatment ATT(g,t) has rank "
                        f"{rank}; the test uses its generalised inverse with {rank} degrees "
                        "of freedom")
        res = cls.from_estimate(
            float(head["estimate"]), float(head["se"]), alpha=spec.alpha,
            n_treated=n_treated, n_control=n_control, estimand=f"ATT ({spec.aggregation})",
            method=method, design="staggered_did", outcome=panel.outcome,
            diagnostics=diag, tables=tables, warnings=warnings,
            extra={"notes": notes, "crit_values": crits, "period_unit": unit_lbl,
                   "control_group": spec.control_group, "estimator": spec.estimator,
                   "influence": cells.inf, "cells": cells, "G": G, "T": T,
                   "panel_periods": plab, "cluster": cl, "spec": spec},
        )
        res.draws = draws
        return res

    # ------------------------------------------------------------------ API
    def aggregate(self, kind: str = "dynamic", *, min_e: float = -np.inf, max_e: float = np.inf,
                  balance_e: int | None = None) -> pd.DataFrame:
        """Re-aggregate the ATT(g,t) with event-time limits (analytic SEs).

        Parameters
        ----------
        kind : {"simple", "group", "dynamic", "calendar"}
        min_e, max_e : float
            Event-time window (``dynamic``; ``max_e`` also limits the
            post-treatment periods used by ``simple`` and ``group``).
        balance_e : int, optional
            ``dynamic`` only: keep groups observed for at least ``balance_e``
            periods after starting, so the composition of the event-time
            estimates does not change with ``e`` (R ``did``'s ``balance_e``).

        Returns
        -------
        DataFrame with the elements and a last row ``overall``.
        """
        ex = self.extra
        agg = _aggregate(kind, ex["cells"], ex["G"], min_e=min_e, max_e=max_e,
                         balance_e=balance_e)
        cl = ex["cluster"]
        z = stats.norm.ppf(1 - self.alpha / 2)
        est = np.r_[agg.att, agg.overall_att]
        psi = agg.influence(ex["cells"].inf, _cohort_index(ex["G"], np.unique(ex["cells"].g)))
        se = _se(psi, cl)
        plab = ex["panel_periods"]
        if kind == "dynamic":
            terms = [f"e={e}" for e in agg.labels]
        elif kind == "group":
            terms = [f"group {fmtp(plab[g])}" for g in agg.labels]
        elif kind == "calendar":
            terms = [f"{fmtp(plab[t])}" for t in agg.labels]
        else:
            terms = []
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * stats.norm.sf(np.abs(est / se))
        return pd.DataFrame({"term": terms + ["overall"], "estimate": est, "se": se,
                             "ci_lower": est - z * se, "ci_upper": est + z * se, "pvalue": p})

    def summary(self, tables: Sequence[str] | None = None):  # type: ignore[override]
        if tables is None:
            tables = ["overall", "effects"]
        s = super().summary(tables)
        s.notes = list(self.extra.get("notes", [])) + s.notes
        return s

    def plot(self, ax: Axes | None = None, kind: str = "dynamic", **kwargs: Any) -> Axes:
        """Plot an aggregation or the ATT(g,t).

        Parameters
        ----------
        kind : {"dynamic", "att_gt", "group", "calendar"}
            ``dynamic`` (default): event-study path with pointwise 95% CIs
            (error bars) and the uniform band (shaded); ``att_gt``: every
            group-time estimate against calendar time, one colour per group,
            with a dotted line at each group's start.
        """
        from ..plotting import GREY, OKABE_ITO, get_axes, palette

        ax = get_axes(ax, figsize=kwargs.pop("figsize", (8, 4.5)))
        unit_lbl = self.extra.get("period_unit", "periods")
        level = f"{100 * (1 - self.alpha):g}%"
        if kind == "att_gt":
            df = self.tables["att_gt"]
            groups = list(pd.unique(df["group"]))
            cols = palette(len(groups))
            periods = list(self.extra["panel_periods"])
            pos = {p: i for i, p in enumerate(periods)}
            width = 0.6
            for k, (gval, c) in enumerate(zip(groups, cols)):
                d = df[df["group"] == gval]
                off = (k - (len(groups) - 1) / 2) * width / max(len(groups), 1)
                xs = np.array([pos[v] for v in d["time"]]) + off
                ax.errorbar(xs, d["estimate"], yerr=[d["estimate"] - d["ci_lower"],
                                                     d["ci_upper"] - d["estimate"]],
                            fmt="o", ms=4, color=c, capsize=2, label=f"group {fmtp(gval)}")
                ax.axvline(pos[gval] - 0.5 + off * 0, color=c, ls=":", lw=1)
            ax.set_xticks(range(len(periods)), [fmtp(p) for p in periods],
                          rotation=45 if len(periods) > 8 else 0)
            ax.axhline(0, color="black", lw=0.8)
            ax.set_xlabel("Period")
            ax.set_title(kwargs.get("title", f"Group-time effects ATT(g,t), {level} CIs"))
            ax.legend(frameon=False, fontsize=8, ncol=min(4, len(groups)), loc="upper left")
        elif kind in ("dynamic", "group", "calendar"):
            df = self.tables[kind]
            if kind == "dynamic":
                x = df["event_time"].to_numpy(dtype=float)
                ax.set_xlabel(f"{unit_lbl.capitalize()} since start (event time)")
                pre = x < 0
            else:
                x = np.arange(len(df), dtype=float)
                ax.set_xticks(x, [fmtp(v) for v in df[kind if kind == "group" else "time"]],
                              rotation=45 if len(df) > 8 else 0)
                ax.set_xlabel("Group (first treated period)" if kind == "group" else "Period")
                pre = np.zeros(len(df), bool)
            if np.isfinite(df["band_lower"]).all():
                ax.fill_between(x, df["band_lower"], df["band_upper"], color=OKABE_ITO[4],
                                alpha=0.25, step=None, label=f"{level} uniform band")
            for mask, colour, lab in ((pre, GREY, "pre-treatment"),
                                      (~pre, OKABE_ITO[0], "post-treatment")):
                if mask.any():
                    d = df[mask]
                    ax.errorbar(x[mask], d["estimate"],
                                yerr=[d["estimate"] - d["ci_lower"], d["ci_upper"] - d["estimate"]],
                                fmt="o", color=colour, capsize=3, label=f"{lab} ({level} CI)")
            ax.axhline(0, color="black", lw=0.8)
            if kind == "dynamic":
                ax.axvline(-0.5, color=GREY, ls="--", lw=0.8)
            ax.set_title(kwargs.get("title", {
                "dynamic": "Event study: effect by time since start (Callaway & Sant'Anna)",
                "group": "Average effect by group", "calendar": "Average effect by period"}[kind]))
            ax.legend(frameon=False, fontsize=8)
        else:
            raise InputError(f"kind must be 'dynamic', 'att_gt', 'group' or 'calendar'; "
                             f"got {kind!r}.")
        ax.set_ylabel(kwargs.get("ylabel", f"Effect on {self.outcome or 'outcome'}"))
        return ax
