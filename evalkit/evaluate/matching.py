"""Matching designs: nearest-neighbour matching and coarsened exact matching.

:class:`NearestNeighbourMatching` pairs each pilot participant with the ``k``
most similar comparison people, on the logit of the propensity score
(default), the score itself, or the Mahalanobis distance between covariates;
with or without replacement; within a caliper (default 0.2 standard deviations
of the logit score, Austin 2011); and optionally only among people with the
same values of chosen variables (``exact=["area_type", "age_band"]``). Without
replacement it is greedy, best-first by default ("largest" score first, as in
R's MatchIt). The 1-D search uses sorted scores with a union-find "next free
neighbour" structure, so matching 20,000 participants among a million
comparison people takes well under a second.

:class:`CoarsenedExactMatching` (Iacus, King and Porro 2012) coarsens each
covariate into bins, keeps only strata with both pilot and comparison people,
and weights comparison people to the pilot group's distribution over strata.

Standard errors for nearest-neighbour matching follow Abadie and Imbens
(2006): the conditional variance of each comparison person's outcome is
estimated from their nearest neighbours in the same group, which accounts for
people used as a match more than once. With ``method="regression"`` the
matching estimator is bias-corrected (Abadie and Imbens 2011) by a regression
fitted on the matched comparison people. The propensity score is treated as
known in this formula (Abadie and Imbens 2016 give a correction); use
``se="bootstrap"`` to re-estimate the whole pipeline instead.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(2)
>>> n = 1200
>>> x = rng.normal(size=n)
>>> d = (rng.random(n) < 1 / (1 + np.exp(1.5 - x))).astype(int)
>>> df = pd.DataFrame({"x": x, "treated": d, "y": 3 * d + 2 * x + rng.normal(size=n)})
>>> r = NearestNeighbourMatching(covariates=["x"], outcome="y").fit(df)
>>> bool(r.ci_lower < 3 < r.ci_upper), r.diagnostics["max_abs_smd_after"] < 0.1
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .comparison import Adjustment, ComparisonDesign, ComparisonResult
from .propensity import Sample, excluded_frame

__all__ = ["NearestNeighbourMatching", "CoarsenedExactMatching", "nearest_neighbour_match",
           "match_1d", "coarsen"]

_DISTANCES = ("logit", "propensity", "mahalanobis")
_ORDERS = ("largest", "smallest", "random", "data")


# ------------------------------------------------------------------ 1-D core
def _find(parent: list[int], x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        parent[x], x = root, parent[x]
    return root


def match_1d(t: np.ndarray, c: np.ndarray, k: int = 1, replace: bool = False,
             caliper: float = np.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nearest-neighbour matching on a scalar score.

    Parameters
    ----------
    t : array
        Scores of the treated, **in the order they are to be matched** (this
        matters only without replacement: greedy, first come first served).
    c : array
        Scores of the comparison people.
    k : int
        Matches per treated person (in rounds, without replacement).
    replace : bool
        Whether a comparison person can be matched more than once.
    caliper : float
        Largest allowed absolute score difference.

    Returns
    -------
    (ti, ci, rnd, dist) : arrays
        Index into ``t``, index into ``c``, round (0-based), distance.

    Examples
    --------
    >>> ti, ci, _, _ = match_1d(np.array([0.5, 0.45]), np.array([0.1, 0.46, 0.9]))
    >>> ti.tolist(), ci.tolist()
    ([0, 1], [1, 0])
    >>> match_1d(np.array([0.5, 0.45]), np.array([0.1, 0.46, 0.9]), replace=True)[1].tolist()
    [1, 1]
    """
    t = np.asarray(t, dtype=float)
    c = np.asarray(c, dtype=float)
    nc = len(c)
    corder = np.argsort(c, kind="stable")
    cs = c[corder]
    pos = np.searchsorted(cs, t)
    if replace:
        kk = min(k, nc)
        offs = np.arange(-kk, kk)
        cand = pos[:, None] + offs[None, :]
        valid = (cand >= 0) & (cand < nc)
        cc = np.clip(cand, 0, nc - 1)
        dist = np.where(valid, np.abs(cs[cc] - t[:, None]), np.inf)
        sel = np.argsort(dist, axis=1, kind="stable")[:, :kk]
        rows = np.arange(len(t))[:, None]
        dsel = dist[rows, sel]
        csel = cc[rows, sel]
        ok = dsel <= caliper
        ti = np.broadcast_to(rows, sel.shape)[ok]
        rnd = np.broadcast_to(np.arange(kk)[None, :], sel.shape)[ok]
        return ti.astype(np.int64), corder[csel[ok]], rnd.astype(np.int64), dsel[ok]
    right = list(range(nc + 1))  # right[j]: next free index >= j (nc = none)
    left = list(range(nc + 1))   # left[q]: q-1 is the next free index <= q-1 (0 = none)
    csl = cs.tolist()
    tl = t.tolist()
    pl = pos.tolist()
    out_t: list[int] = []
    out_c: list[int] = []
    out_r: list[int] = []
    out_d: list[float] = []
    active = list(range(len(t)))
    for rnd in range(k):
        still = []
        for i in active:
            p = pl[i]
            ti_ = tl[i]
            rj = _find(right, p)
            lq = _find(left, p)
            best = -1
            bd = np.inf
            if rj < nc:
                best, bd = rj, csl[rj] - ti_
            if lq > 0:
                dl = ti_ - csl[lq - 1]
                if dl <= bd:
                    best, bd = lq - 1, dl
            if best < 0 or bd > caliper:
                continue
            right[best] = best + 1
            left[best + 1] = best
            out_t.append(i)
            out_c.append(best)
            out_r.append(rnd)
            out_d.append(bd)
            still.append(i)
        active = still
        if not active:
            break
    ci = corder[np.asarray(out_c, dtype=np.int64)] if out_c else np.zeros(0, np.int64)
    return (np.asarray(out_t, dtype=np.int64), ci, np.asarray(out_r, dtype=np.int64),
            np.asarray(out_d, dtype=float))


def _match_maha(Yt: np.ndarray, Yc: np.ndarray, k: int, replace: bool, caliper: float,
                st: np.ndarray | None, sc: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mahalanobis nearest neighbours (coordinates already whitened), with an
    optional caliper on a separate score ``st``/``sc``."""
    from scipy.spatial import cKDTree

    nc = len(Yc)
    tree = cKDTree(Yc)
    use_cal = st is not None and np.isfinite(caliper)

    def query(rows: np.ndarray, kq: int) -> tuple[np.ndarray, np.ndarray]:
        dist, idx = tree.query(Yt[rows], k=kq)
        dist = np.asarray(dist).reshape(len(rows), -1)
        idx = np.asarray(idx).reshape(len(rows), -1)
        return dist, idx

    out_t: list[int] = []
    out_c: list[int] = []
    out_r: list[int] = []
    out_d: list[float] = []
    kq0 = min(nc, max(8 * k, 16))
    dist, idx = query(np.arange(len(Yt)), kq0)
    cand: list[tuple[np.ndarray, np.ndarray]] = [(dist[i], idx[i]) for i in range(len(Yt))]

    def valid_mask(i: int, ids: np.ndarray) -> np.ndarray:
        if not use_cal:
            return np.ones(len(ids), dtype=bool)
        return np.abs(sc[ids] - st[i]) <= caliper

    if replace:
        for i in range(len(Yt)):
            kq = kq0
            dd, ii = cand[i]
            while True:
                ok = valid_mask(i, ii)
                if ok.sum() >= k or kq >= nc:
                    break
                kq = min(nc, kq * 4)
                dd, ii = query(np.array([i]), kq)
                dd, ii = dd[0], ii[0]
            sel = np.flatnonzero(ok)[:k]
            for r, s in enumerate(sel):
                out_t.append(i)
                out_c.append(int(ii[s]))
                out_r.append(r)
                out_d.append(float(dd[s]))
    else:
        used = np.zeros(nc, dtype=bool)
        ptr = [0] * len(Yt)
        kqs = [kq0] * len(Yt)
        active = list(range(len(Yt)))
        for rnd in range(k):
            still = []
            for i in active:
                dd, ii = cand[i]
                found = -1
                while True:
                    j = ptr[i]
                    while j < len(ii):
                        cj = ii[j]
                        if not used[cj] and (not use_cal or abs(sc[cj] - st[i]) <= caliper):
                            found = j
                            break
                        j += 1
                    ptr[i] = j
                    if found >= 0 or kqs[i] >= nc:
                        break
                    kqs[i] = min(nc, kqs[i] * 4)
                    d2, i2 = query(np.array([i]), kqs[i])
                    cand[i] = (d2[0], i2[0])
                    dd, ii = cand[i]
                if found < 0:
                    continue
                cj = int(ii[found])
                used[cj] = True
                ptr[i] = found + 1
                out_t.append(i)
                out_c.append(cj)
                out_r.append(rnd)
                out_d.append(float(dd[found]))
                still.append(i)
            active = still
            if not active:
                break
    return (np.asarray(out_t, dtype=np.int64), np.asarray(out_c, dtype=np.int64),
            np.asarray(out_r, dtype=np.int64), np.asarray(out_d, dtype=float))


def _whiten(X: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Coordinates in which Euclidean distance is the Mahalanobis distance with
    the pooled within-group covariance matrix."""
    t = d == 1
    parts = []
    for m in (t, ~t):
        if m.sum() > 1:
            parts.append(X[m] - X[m].mean(axis=0))
    R = np.vstack(parts)
    S = R.T @ R / max(len(R) - len(parts), 1)
    evals, evecs = np.linalg.eigh(S)
    keep = evals > 1e-10 * max(evals.max(), 1e-300)
    return (X - X.mean(axis=0)) @ (evecs[:, keep] / np.sqrt(evals[keep]))


# ================================================================= NN design
class NearestNeighbourMatching(ComparisonDesign):
    """Nearest-neighbour matching of pilot participants to comparison people (ATT).

    Parameters
    ----------
    treatment : str, default "treated"
    covariates : list of str, optional
        Propensity-model covariates (and Mahalanobis coordinates).
    formula : str, optional
        Instead of ``covariates``, a patsy formula for the propensity model.
    outcome : str or list of str, optional
    k : int, default 1
        Comparison people per participant (1:k matching).
    replace : bool, default False
        Match with replacement (a comparison person can serve several
        participants; their weight is the number of times used, divided by k).
    distance : {"logit", "propensity", "mahalanobis"}, default "logit"
        Matching on the logit of the propensity score, the score itself, or the
        Mahalanobis distance of the covariates (pooled within-group covariance).
    caliper : float or None, default 0.2
        Largest allowed distance, in pooled standard deviations of the matching
        score (for ``mahalanobis``, of the logit propensity score, applied as a
        restriction within which the Mahalanobis-nearest is chosen; Rubin and
        Thomas 2000). ``None`` for no caliper.
    exact : list of str, optional
        Match only among people with identical values of these columns (area
        type, age band...).
    order : {"largest", "smallest", "random", "data"}, default "largest"
        Greedy order without replacement: highest score first (MatchIt's
        default), lowest first, random (``seed``), or data order.
    method : {"difference", "regression"}, default "difference"
        Matching estimator, or bias-corrected (regression-adjusted) matching.
    se : {"abadie-imbens", "sandwich", "bootstrap"}, default "abadie-imbens"
        Abadie-Imbens (2006) variance; a sandwich on the matched sample with
        the matching weights fixed, clustered by matched set when matching
        without replacement; or a bootstrap of the whole pipeline. Count
        outcomes use the sandwich.
    ai_neighbours : int, default 2
        Neighbours used to estimate each person's conditional outcome variance
        in the Abadie-Imbens formula (Stata's ``nn(2)``).
    estimand : "ATT"
        Matching estimates the effect on the pilot participants. For the ATE
        use a weighting design or :class:`CoarsenedExactMatching`.

    Other parameters (``outcome_type``, ``exposure``, ``count_model``,
    ``trim``, ``n_boot``, ``seed``, ``progress``, ``alpha``, ``threshold``,
    ``missing``, ``id``, ``unit``) are as for
    :class:`~evalkit.evaluate.weighting.InverseProbabilityWeighting`.
    """

    design_key = "matching"
    default_se = "abadie-imbens"
    allowed_se = ("abadie-imbens", "sandwich", "bootstrap")

    def __init__(self, *, k: int = 1, replace: bool = False, distance: str = "logit",
                 caliper: float | None = 0.2, exact: Sequence[str] | str | None = None,
                 order: str = "largest", ai_neighbours: int = 2, ps_adjust: bool = True,
                 **kwargs: Any) -> None:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise InputError(f"k (comparison people per participant) must be a positive "
                             f"integer; got {k!r}.")
        if distance not in _DISTANCES:
            raise InputError(f"distance must be one of {list(_DISTANCES)}; got {distance!r}.")
        if caliper is not None and not (isinstance(caliper, (int, float)) and caliper > 0):
            raise InputError(f"caliper must be a positive number of standard deviations (0.2 "
                             f"is the usual choice) or None; got {caliper!r}.")
        if order not in _ORDERS:
            raise InputError(f"order must be one of {list(_ORDERS)}; got {order!r}.")
        if not isinstance(ai_neighbours, (int, np.integer)) or ai_neighbours < 1:
            raise InputError(f"ai_neighbours must be a positive integer; got {ai_neighbours!r}.")
        self.k = int(k)
        self.replace = bool(replace)
        self.distance = distance
        self.caliper = caliper
        self.exact = [exact] if isinstance(exact, str) else list(exact or [])
        self.order = order
        self.ai_neighbours = int(ai_neighbours)
        self.ps_adjust = bool(ps_adjust)
        super().__init__(**kwargs)

    def _check_options(self) -> None:
        if self.estimand != "ATT":
            raise InputError(
                f"NearestNeighbourMatching estimates the ATT (effect on pilot participants); "
                f"got estimand={self.estimand!r}. For the ATE use "
                "InverseProbabilityWeighting(estimand='ATE'), EntropyBalancing(estimand='ATE') "
                "or CoarsenedExactMatching(estimand='ATE').")

    # ------------------------------------------------------------- matching
    def _adjust(self, sample: Sample, *, light: bool = False) -> Adjustment:
        n = sample.n
        d = sample.d
        ps, keep, excluded = self._support(
            sample,
            self.distance != "mahalanobis" or self.caliper is not None or self.trim is not None)
        # exact-matching variables
        codes = np.zeros(n, dtype=np.int64)
        labels: list[str] = [""]
        if self.exact:
            miss_cols = [c for c in self.exact if c not in sample.data.columns]
            if miss_cols:
                raise InputError(f"Exact-matching column(s) {miss_cols} are not in the data.")
            ex = sample.data[self.exact]
            miss = ex.isna().any(axis=1).to_numpy()
            if miss.any():
                if self.missing == "error":
                    bad = [c for c in self.exact if ex[c].isna().any()]
                    raise InputError(
                        f"Exact-matching column(s) {bad} have missing values "
                        f"({int(miss.sum())} people). Fill them in or pass missing='drop'.")
                excluded.append(excluded_frame(sample.ids[miss & keep], d[miss & keep],
                                               "missing data",
                                               "missing value in an exact-matching column"))
                keep &= ~miss
            key = ex.astype(str).agg(" | ".join, axis=1) if len(self.exact) > 1 else \
                ex.iloc[:, 0].astype(str)
            codes_, uniq = pd.factorize(key)
            codes = codes_.astype(np.int64)
            labels = [", ".join(f"{c}={v}" for c, v in zip(self.exact, str(u).split(" | ")))
                      for u in uniq]
        # matching coordinates
        if self.distance == "mahalanobis":
            Y = _whiten(sample.X.to_numpy(dtype=float)[keep], d[keep])
            coords = np.zeros((n, Y.shape[1]))
            coords[keep] = Y
            score = None
            cal_score = ps.all_logit if ps is not None and self.caliper is not None else None
        else:
            score = ps.all_logit if self.distance == "logit" else ps.all_score
            cal_score = score
            coords = None
        width = np.inf
        if self.caliper is not None and cal_score is not None:
            kt, kc = keep & (d == 1), keep & (d == 0)
            sd = np.sqrt((np.var(cal_score[kt], ddof=1) + np.var(cal_score[kc], ddof=1)) / 2) \
                if kt.sum() > 1 and kc.sum() > 1 else np.std(cal_score[keep])
            width = float(self.caliper * sd)
        # processing order of the treated
        tpos = np.flatnonzero(keep & (d == 1))
        if self.order in ("largest", "smallest"):
            base = ps.all_score if ps is not None else None
            if base is not None:
                o = np.argsort(-base[tpos] if self.order == "largest" else base[tpos],
                               kind="stable")
                tpos = tpos[o]
        elif self.order == "random":
            tpos = tpos[np.random.default_rng(self.seed).permutation(len(tpos))]
        cpos_all = np.flatnonzero(keep & (d == 0))
        pt, pc, pr, pdist = [], [], [], []
        reason = {}
        for g in np.unique(codes[tpos]):
            tg = tpos[codes[tpos] == g]
            cg = cpos_all[codes[cpos_all] == g]
            if len(cg) == 0:
                for i in tg:
                    reason[int(i)] = (f"no comparison person with the same {labels[g]} "
                                      "(exact matching)")
                continue
            if coords is None:
                ti, ci, ri, di = match_1d(score[tg], score[cg], self.k, self.replace, width)
            else:
                ti, ci, ri, di = _match_maha(
                    coords[tg], coords[cg], self.k, self.replace, width,
                    cal_score[tg] if cal_score is not None else None,
                    cal_score[cg] if cal_score is not None else None)
            pt.append(tg[ti])
            pc.append(cg[ci])
            pr.append(ri)
            pdist.append(di)
        pt_a = np.concatenate(pt) if pt else np.zeros(0, np.int64)
        pc_a = np.concatenate(pc) if pc else np.zeros(0, np.int64)
        pr_a = np.concatenate(pr) if pr else np.zeros(0, np.int64)
        pd_a = np.concatenate(pdist) if pdist else np.zeros(0)
        M = np.bincount(pt_a, minlength=n).astype(float)
        unmatched = tpos[M[tpos] == 0]
        cal_txt = (f"{self.caliper:g} SD of the {'logit ' if self.distance != 'propensity' else ''}"
                   f"propensity score = {width:.4g}" if np.isfinite(width) else "")
        for i in unmatched:
            if int(i) not in reason:
                reason[int(i)] = ((f"no {'unused ' if not self.replace else ''}comparison person "
                                   f"within the caliper ({cal_txt})") if cal_txt
                                  else "no comparison person available")
        if len(unmatched) == len(tpos):
            why = (f"within the caliper ({cal_txt})" if cal_txt else "")
            raise InputError(
                f"No pilot participant could be matched {why}".rstrip() + ". The groups may "
                "not overlap: look at PropensityScore(...).fit(data).plot(), widen the caliper "
                "(caliper=0.5 or None), match with replacement (replace=True), or drop "
                "exact-matching variables.")
        if len(unmatched):
            excluded.append(excluded_frame(sample.ids[unmatched], d[unmatched], "matching",
                                           [reason[int(i)] for i in unmatched]))
        inv = 1.0 / M[pt_a]
        w = np.bincount(pc_a, weights=inv, minlength=n)
        w[pt_a] = 1.0
        cluster = None
        if not self.replace:
            cluster = np.arange(n)
            cluster[pc_a] = pt_a
        n_used = int((w[d == 0] > 0).sum())
        diag: dict[str, Any] = {
            "n_matched_treated": int((M[tpos] > 0).sum()),
            "n_unmatched_treated": int(len(unmatched)),
            "n_comparison_used": n_used,
            "max_times_used": int(np.bincount(pc_a).max()) if len(pc_a) else 0,
            "mean_match_distance": float(pd_a.mean()) if len(pd_a) else float("nan"),
        }
        if np.isfinite(width):
            diag["caliper_width"] = width
        tables = {}
        if not light:
            tables["matches"] = pd.DataFrame({
                "treated_id": sample.ids[pt_a], "comparison_id": sample.ids[pc_a],
                "match_number": pr_a + 1, "distance": pd_a})
        dist_label = {"logit": "logit propensity score", "propensity": "propensity score",
                      "mahalanobis": "Mahalanobis distance"}[self.distance]
        label = (f"Nearest-neighbour matching 1:{self.k} on the {dist_label}, "
                 f"{'with' if self.replace else 'without'} replacement"
                 + (f", caliper {self.caliper:g} SD" if self.caliper is not None else "")
                 + (f", exact on {self.exact}" if self.exact else ""))
        excl = pd.concat(excluded, ignore_index=True) if len(excluded) > 1 else excluded[0]
        return Adjustment(
            w=w, excluded=excl, method=label, cluster=cluster, ps=ps, diagnostics=diag,
            tables=tables,
            info={"_match": {"t": pt_a, "c": pc_a, "M": M, "codes": codes, "keep": keep,
                             "score": score, "coords": coords}})

    # ------------------------------------------------------------ variance
    def _sigma2(self, sample: Sample, adj: Adjustment, y: np.ndarray, need: np.ndarray
                ) -> np.ndarray:
        """Abadie-Imbens conditional variance of comparison people ``need``:
        ``J/(J+1) * (y_j - mean of the J nearest other comparison people)^2``."""
        m = adj.info["_match"]
        codes, keep, score, coords = m["codes"], m["keep"], m["score"], m["coords"]
        d = sample.d
        J = self.ai_neighbours
        out = np.zeros(len(need))
        cpos = np.flatnonzero(keep & (d == 0))
        fallback = float(np.var(y[cpos], ddof=1)) if len(cpos) > 1 else 0.0
        for g in np.unique(codes[need]):
            sel = np.flatnonzero(codes[need] == g)
            pool = cpos[codes[cpos] == g]
            if len(pool) < 2:
                out[sel] = fallback
                continue
            Jg = min(J, len(pool) - 1)
            targets = need[sel]
            if coords is None:
                order = np.argsort(score[pool], kind="stable")
                ps_sorted = score[pool][order]
                ys = y[pool][order]
                # the target itself is in the pool: locate its slot in sorted order
                inv = np.empty(len(pool), dtype=np.int64)
                inv[order] = np.arange(len(pool))
                q = inv[np.searchsorted(pool, targets)]
                offs = np.r_[np.arange(-Jg, 0), np.arange(1, Jg + 1)]
                cand = q[:, None] + offs[None, :]
                valid = (cand >= 0) & (cand < len(pool))
                cc = np.clip(cand, 0, len(pool) - 1)
                dist = np.where(valid, np.abs(ps_sorted[cc] - ps_sorted[q][:, None]), np.inf)
                pick = np.argsort(dist, axis=1, kind="stable")[:, :Jg]
                nb = cc[np.arange(len(q))[:, None], pick]
                ybar = ys[nb].mean(axis=1)
            else:
                from scipy.spatial import cKDTree

                tree = cKDTree(coords[pool])
                _, idx = tree.query(coords[targets], k=Jg + 1)
                idx = np.asarray(idx).reshape(len(targets), -1)
                ybar = np.empty(len(targets))
                for r, j in enumerate(targets):
                    nbrs = [pool[a] for a in idx[r] if pool[a] != j][:Jg]
                    ybar[r] = y[nbrs].mean()
            out[sel] = Jg / (Jg + 1) * (y[targets] - ybar) ** 2
        return out

    def _analytic(self, sample: Sample, adj: Adjustment, y: np.ndarray) -> dict[str, Any]:
        if self.se != "abadie-imbens" or self.outcome_type == "count":
            out = super()._analytic(sample, adj, y)
            out["se_label"] = ("robust sandwich, matching weights fixed"
                               + (", clustered on matched sets" if not self.replace else ""))
            return out
        om = self._outcome(sample, adj, y)
        m = adj.info["_match"]
        tp, cp, M = m["t"], m["c"], m["M"]
        n = sample.n
        inv = 1.0 / M[tp]
        yhat0 = np.bincount(tp, weights=y[cp] * inv, minlength=n)
        if "fit0" in om.info:
            f0 = om.info["fit0"]
            yhat0 = yhat0 + f0 - np.bincount(tp, weights=f0[cp] * inv, minlength=n)
        mt = np.flatnonzero((M > 0) & (sample.d == 1))
        tau_i = y[mt] - yhat0[mt]
        tau = float(tau_i.mean())
        n1 = len(mt)
        term1 = float(np.sum((tau_i - tau) ** 2))
        lam = np.bincount(cp, weights=inv, minlength=n)
        s2 = np.bincount(cp, weights=inv ** 2, minlength=n)
        corr = lam ** 2 - s2
        need = np.flatnonzero(corr > 1e-12)
        term2 = float(np.sum(corr[need] * self._sigma2(sample, adj, y, need))) if len(need) \
            else 0.0
        V = (term1 + term2) / n1 ** 2
        se_label = "Abadie-Imbens (2006)"
        adj_term = 0.0
        if self.ps_adjust and self.distance != "mahalanobis" and adj.ps is not None:
            ytil = y - om.info["fit0"] if "fit0" in om.info else y
            adj_term = self._ps_adjustment(sample, adj, ytil, tau)
            V = max(V + adj_term, V * 0.05)
            se_label = ("Abadie-Imbens (2006), adjusted for the estimated propensity score "
                        "(Abadie-Imbens 2016)")
        m1, m0 = om.means(om.theta)
        return {"estimate": tau, "se": float(np.sqrt(V)), "mean_treated": m1,
                "mean_counterfactual": m0,
                "label": ("bias-corrected matching estimator (Abadie-Imbens 2011)"
                          if self.method == "regression" else "matching estimator"),
                "se_label": se_label, "ps_adjustment": adj_term}

    def _ps_adjustment(self, sample: Sample, adj: Adjustment, y: np.ndarray, tau: float
                       ) -> float:
        """Abadie-Imbens (2016) correction of the ATT variance for matching on an
        *estimated* propensity score: ``(-c' I^-1 c + g' I^-1 g) / N`` with

        * ``I = mean p(1-p) Z Z'`` the logit information (Z the PS design);
        * ``c = (1/N1) sum_i f_i [cov(Z, Y | p_i, D=1) + p_i/(1-p_i) cov(Z, Y | p_i, D=0)]``,
          the conditional covariances estimated from the ``L`` nearest people
          on the score in each group (``L = ai_neighbours``, at least 2);
        * ``g = (1/N1) sum_i f_i Z_i (Yhat_i(1) - Yhat_i(0) - tau)``, the
          derivative of the ATT with respect to the PS coefficients, with the
          missing potential outcomes imputed by matching on the score.

        ``f = p(1-p)`` is the logistic density. ``y`` is the outcome (minus the
        bias-correction regression when used).
        """
        ps = adj.ps
        m = adj.info["_match"]
        d = sample.d
        Z = ps.design(sample.X)
        p = ps.all_score
        s = m["score"]
        f = p * (1 - p)
        N = len(d)
        n1 = float(d.sum())
        L = max(2, self.ai_neighbours)
        I = (Z * f[:, None]).T @ Z / N

        def neighbours(group: int, k: int) -> np.ndarray:
            pool = np.flatnonzero(d == group)
            order = np.argsort(s[pool], kind="stable")
            srt = s[pool][order]
            kk = min(k, len(pool))
            q = np.searchsorted(srt, s)
            offs = np.arange(-kk, kk)
            cand = q[:, None] + offs[None, :]
            valid = (cand >= 0) & (cand < len(pool))
            cc = np.clip(cand, 0, len(pool) - 1)
            dist = np.where(valid, np.abs(srt[cc] - s[:, None]), np.inf)
            pick = np.argsort(dist, axis=1, kind="stable")[:, :kk]
            return pool[order[cc[np.arange(N)[:, None], pick]]]

        c = np.zeros(Z.shape[1])
        for group, factor in ((1, np.ones(N)), (0, p / (1 - p))):
            nb = neighbours(group, L)
            if nb.shape[1] < 2:
                continue
            for a in range(0, N, 65_536):               # chunks bound the N x L x q temporary
                nbc = nb[a:a + 65_536]
                Zn = Z[nbc]
                yn = y[nbc]
                cov = np.einsum("nlq,nl->nq", Zn - Zn.mean(axis=1, keepdims=True),
                                yn - yn.mean(axis=1, keepdims=True)) / (nb.shape[1] - 1)
                c += (f[a:a + 65_536] * factor[a:a + 65_536]) @ cov
        c /= n1
        # imputed potential outcomes: own outcome, or the mean of M nearest on the score
        M = self.k
        y1 = np.where(d == 1, y, y[neighbours(1, M)].mean(axis=1))
        y0 = np.where(d == 0, y, y[neighbours(0, M)].mean(axis=1))
        g = (Z * (f * (y1 - y0 - tau))[:, None]).sum(axis=0) / n1
        try:
            Iinv = np.linalg.inv(I)
        except np.linalg.LinAlgError:
            Iinv = np.linalg.pinv(I)
        return float((-c @ Iinv @ c + g @ Iinv @ g) / N)


# ======================================================================= CEM
def coarsen(x: pd.Series, rule: Any) -> np.ndarray:
    """Bin codes of one covariate for coarsened exact matching.

    ``rule`` is a number of equal-width bins, a list of cut points, a numpy
    histogram rule (``"sturges"``, ``"scott"``, ``"fd"``, ``"auto"``), or
    ``None`` for exact values. Non-numeric columns are always exact.

    >>> coarsen(pd.Series([1, 2, 3, 10]), [0, 5, 20]).tolist()
    [0, 0, 0, 1]
    """
    if rule is None or not (pd.api.types.is_numeric_dtype(x) and not
                            pd.api.types.is_bool_dtype(x)):
        return pd.factorize(x.astype(str))[0]
    v = x.to_numpy(dtype=float)
    if isinstance(rule, str):
        try:
            edges = np.histogram_bin_edges(v, bins=rule)
        except ValueError as exc:
            raise InputError(f"Unknown coarsening rule {rule!r} for {x.name!r}: use a number "
                             "of bins, a list of cut points, 'sturges', 'scott', 'fd' or "
                             "None.") from exc
    elif isinstance(rule, (int, np.integer)):
        if rule < 1:
            raise InputError(f"Number of bins for {x.name!r} must be >= 1; got {rule}.")
        edges = np.histogram_bin_edges(v, bins=int(rule))
    else:
        edges = np.sort(np.asarray(rule, dtype=float))
        if edges.ndim != 1 or len(edges) < 1:
            raise InputError(f"Cut points for {x.name!r} must be a list of numbers.")
        return np.unique(np.searchsorted(edges, v, side="right"),
                         return_inverse=True)[1].reshape(-1)
    codes = np.searchsorted(edges[1:-1], v, side="right")
    return np.unique(codes, return_inverse=True)[1].reshape(-1)


class CoarsenedExactMatching(ComparisonDesign):
    """Coarsened exact matching (Iacus, King and Porro 2012).

    Each covariate is coarsened into bins (``cutpoints``; by default Sturges'
    rule for numeric columns, as in R's ``cem``; categories stay exact).
    People are grouped into strata by their combination of bins; strata
    without both pilot and comparison people are dropped (pilot participants
    there are excluded with a reason). Within the remaining strata comparison
    people are weighted ``(m_C / m_T) * (m_T,s / m_C,s)`` so the comparison
    group has the pilot group's distribution over strata (ATT); for the ATE
    both groups are weighted to the strata's total counts.

    Parameters
    ----------
    covariates : list of str
        Columns to coarsen and match on (a formula is not used here).
    cutpoints : dict, optional
        ``{column: rule}`` with a rule as in :func:`coarsen`.
    default_rule : default "sturges"
        Rule for numeric columns not in ``cutpoints``.
    estimand : {"ATT", "ATE"}, default "ATT"

    Standard errors: a sandwich on the weighted sample with the CEM weights
    fixed (the weighted regression CEM's authors recommend), or the bootstrap.
    Other parameters are as for
    :class:`~evalkit.evaluate.weighting.InverseProbabilityWeighting`.

    Examples
    --------
    >>> df = pd.DataFrame({"treated": [1, 1, 0, 0, 0, 0], "band": list("aabbab"),
    ...                    "y": [5.0, 7, 1, 2, 4, 3]})
    >>> r = CoarsenedExactMatching(covariates=["band"], outcome="y").fit(df)
    >>> r.estimate   # stratum a: 6 - 4
    2.0
    """

    design_key = "matching"

    def __init__(self, *, cutpoints: dict[str, Any] | None = None,
                 default_rule: Any = "sturges", **kwargs: Any) -> None:
        self.cutpoints = dict(cutpoints or {})
        self.default_rule = default_rule
        super().__init__(**kwargs)
        if self.formula is not None:
            raise InputError("CoarsenedExactMatching coarsens the raw covariates: pass "
                             "covariates=[...] rather than a formula.")
        unknown = [c for c in self.cutpoints if self.covariates is None or
                   c not in self.covariates]
        if unknown:
            raise InputError(f"cutpoints given for {unknown}, which are not among the "
                             f"covariates {self.covariates}.")

    def _adjust(self, sample: Sample, *, light: bool = False) -> Adjustment:
        n = sample.n
        d = sample.d
        ps, keep, excluded = self._support(sample, self.trim is not None)
        bins = np.column_stack([
            coarsen(sample.data[c], self.cutpoints.get(c, self.default_rule))
            for c in sample.covariates])
        strata = pd.MultiIndex.from_arrays(bins.T).factorize()[0] if bins.shape[1] > 1 \
            else bins[:, 0]
        strata = np.where(keep, strata, -1)
        S = int(strata.max()) + 1
        valid = strata >= 0
        nt = np.bincount(strata[valid & (d == 1)], minlength=S).astype(float)
        nc = np.bincount(strata[valid & (d == 0)], minlength=S).astype(float)
        matched_s = (nt > 0) & (nc > 0)
        in_m = valid & matched_s[np.where(valid, strata, 0)]
        mt, mc = float(nt[matched_s].sum()), float(nc[matched_s].sum())
        if mt == 0:
            raise InputError(
                "Coarsened exact matching found no stratum containing both pilot and "
                "comparison people. Coarsen more (fewer bins via cutpoints=) or match on "
                "fewer covariates.")
        w = np.zeros(n)
        st = np.where(in_m, strata, 0)
        if self.estimand == "ATT":
            w[in_m & (d == 1)] = 1.0
            cm = in_m & (d == 0)
            w[cm] = (mc / mt) * nt[st[cm]] / nc[st[cm]]
        else:
            tot = nt + nc
            M = mt + mc
            tm = in_m & (d == 1)
            cm = in_m & (d == 0)
            w[tm] = (mt / M) * tot[st[tm]] / nt[st[tm]]
            w[cm] = (mc / M) * tot[st[cm]] / nc[st[cm]]
        lost_t = valid & (d == 1) & ~in_m
        if lost_t.any():
            excluded.append(excluded_frame(
                sample.ids[lost_t], d[lost_t], "matching",
                "no comparison person in the same coarsened stratum (CEM)"))
        if self.estimand == "ATE":
            lost_c = valid & (d == 0) & ~in_m
            if lost_c.any():
                excluded.append(excluded_frame(
                    sample.ids[lost_c], d[lost_c], "matching",
                    "no pilot participant in the same coarsened stratum (CEM)"))
        diag = {"n_strata": int(len(np.unique(strata[valid]))),
                "n_matched_strata": int(matched_s.sum()),
                "n_matched_treated": int((in_m & (d == 1)).sum()),
                "n_comparison_used": int((in_m & (d == 0)).sum())}
        tables = {}
        if not light:
            rows = []
            for c in sample.covariates:
                rule = self.cutpoints.get(c, self.default_rule)
                col = sample.data[c]
                numeric = pd.api.types.is_numeric_dtype(col) and not \
                    pd.api.types.is_bool_dtype(col)
                rows.append({"covariate": c,
                             "coarsening": (str(rule) if numeric and rule is not None
                                            else "exact"),
                             "n_bins": int(len(np.unique(coarsen(col, rule))))})
            tables["coarsening"] = pd.DataFrame(rows)
        excl = pd.concat(excluded, ignore_index=True) if len(excluded) > 1 else excluded[0]
        return Adjustment(w=w, excluded=excl, method="Coarsened exact matching "
                          f"({diag['n_matched_strata']} matched strata)", ps=ps,
                          diagnostics=diag, tables=tables,
                          target=in_m if self.estimand == "ATE" else None,
                          info={"_strata": np.where(in_m, strata, -1)})

    def _analytic(self, sample: Sample, adj: Adjustment, y: np.ndarray) -> dict[str, Any]:
        """Post-stratification variance for the weighted difference in means.

        The estimate is ``sum_i a_i y_i`` with ``a_i = w_i / sum(w)`` in the
        pilot group and ``-w_i / sum(w)`` in the comparison group; conditional
        on the strata counts its variance is ``sum_i a_i^2 v_cell(i)``, with
        ``v`` the within-(stratum x group) variance (the group's pooled
        within-cell variance for cells of one person). Other estimators use the
        sandwich with the CEM weights fixed.
        """
        if self.outcome_type != "continuous" or self.method != "difference":
            return super()._analytic(sample, adj, y)
        om = self._outcome(sample, adj, y)
        strata = adj.info["_strata"]
        d = sample.d
        w = adj.w
        t = d == 1
        a = np.where(t, w / w[t].sum(), -w / w[~t].sum())
        use = strata >= 0
        cell = pd.Series(strata[use] * 2 + d[use])
        yy = pd.Series(y[use])
        g = yy.groupby(cell.to_numpy())
        n_c = g.transform("size").to_numpy()
        dev = (yy - g.transform("mean")).to_numpy()
        v = np.zeros(use.sum())
        multi = n_c > 1
        cs = g.transform(lambda s: s.var(ddof=1) if len(s) > 1 else np.nan).to_numpy()
        v[multi] = cs[multi]
        du = d[use]
        yu = y[use]
        for grp in (0, 1):
            mask = du == grp
            k = mask & multi
            if k.any():
                pooled = float(np.sum(dev[k] ** 2) / np.sum((n_c[k] - 1) / n_c[k]))
            else:
                pooled = float(np.var(yu[mask], ddof=1)) if mask.sum() > 1 else 0.0
            v[mask & ~multi] = pooled
        se = float(np.sqrt(np.sum(a[use] ** 2 * v)))
        m1, m0 = om.means(om.theta)
        return {"estimate": om.estimate, "se": se, "mean_treated": m1,
                "mean_counterfactual": m0, "label": om.label,
                "se_label": "post-stratification (within-stratum variances)"}


def nearest_neighbour_match(data: pd.DataFrame, *, outcome: str | Sequence[str],
                            **kwargs: Any) -> ComparisonResult:
    """Convenience: ``NearestNeighbourMatching(**kwargs).fit(data, outcome)``."""
    return NearestNeighbourMatching(**kwargs).fit(data, outcome)  # type: ignore[return-value]
