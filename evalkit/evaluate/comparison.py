"""Outcome estimation on matched or weighted comparison groups.

This module holds what every person-level comparison-group design shares:

* :class:`ComparisonResult`, the :class:`~evalkit.evaluate.result.EffectResult`
  subclass they return (balance table, exclusions, weights, love plot);
* the outcome estimators run on the matched/weighted sample: a (weighted)
  difference in means, or regression adjustment (doubly robust when combined
  with propensity or entropy weights), for continuous outcomes and for counts
  (event rates per person-year, or Poisson / negative-binomial models with an
  exposure offset);
* standard errors by M-estimation: the weighting model's estimating equations
  (logit score, entropy-balancing moment conditions) are stacked with the
  outcome model's, so the sandwich variance accounts for the weights having
  been estimated (Lunceford and Davidian 2004; Stefanski and Boos 2002), or a
  bootstrap of the whole pipeline (``se="bootstrap"``);
* :class:`DifferenceInMeans`, the naive (or experimental) comparison;
* :class:`MatchedDiD`, matched difference-in-differences: people's change in
  outcome from before to after the pilot start compared with their matches'
  change (the design of the national Troubled Families evaluation).

The designs themselves live in :mod:`.matching` (nearest-neighbour and
coarsened exact matching) and :mod:`.weighting` (inverse probability weights,
entropy balancing).
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from .balance import Balance
from .propensity import (
    EXCLUDED_COLUMNS,
    PropensityScore,
    PropensityScoreResult,
    Sample,
    prepare_sample,
)
from .result import EffectResult, EffectResults

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "ComparisonResult",
    "DifferenceInMeans",
    "MatchedDiD",
    "sandwich_covariance",
    "outcome_model",
    "OutcomeModel",
    "WeightModel",
]

_OUTCOME_TYPES = ("continuous", "count")
_METHODS = ("difference", "regression")
_COUNT_MODELS = ("poisson", "negbin")


# ====================================================================== result
@dataclass(repr=False)
class ComparisonResult(EffectResult):
    """Result of a comparison-group design (matching, weighting, CEM...).

    On top of :class:`EffectResult` it carries:

    * ``tables["balance"]``: SMDs and variance ratios before/after
      (:attr:`balance` gives the :class:`~evalkit.evaluate.balance.Balance`);
    * ``tables["excluded"]``: one row per person left out, with the stage
      (missing data, common support, matching) and the reason;
      ``tables["exclusions"]`` counts them;
    * ``tables["sensitivity"]``: the E-value of the estimate and of its CI;
    * ``extra["weights"]``: each analysed person's weight (0 = not used);
    * design tables such as ``matches`` (matched pairs), ``support``,
      ``strata`` (CEM), ``rate_ratio`` (counts), ``did`` (matched DiD),
      ``placebo`` (placebo outcomes).

    ``plot()`` draws the love plot; ``plot(kind="overlap")`` the propensity
    score overlap, ``plot(kind="estimate")`` the point and CI and, for matched
    DiD, ``plot(kind="did")`` the group means by period.
    """

    @property
    def balance(self) -> Balance | None:
        """The :class:`Balance` report (``None`` when no covariates were given)."""
        return self.extra.get("balance")

    @property
    def excluded(self) -> pd.DataFrame:
        """People left out of the analysis, with stage and reason."""
        return self.tables.get("excluded", pd.DataFrame(columns=list(EXCLUDED_COLUMNS)))

    @property
    def weights(self) -> pd.DataFrame | None:
        """Analysed people with their treatment and adjustment weight."""
        return self.extra.get("weights")

    @property
    def propensity(self) -> PropensityScoreResult | None:
        """The fitted propensity score, when the design used one."""
        return self.extra.get("propensity")

    def plot(self, ax: Axes | None = None, kind: str = "love", **kwargs: Any) -> Axes:
        """Plot the result.

        Parameters
        ----------
        kind : {"love", "overlap", "estimate", "did"}
            ``love`` (default): |SMD| per covariate before and after adjustment;
            ``overlap``: propensity-score distributions by group; ``estimate``:
            the estimate with its CI; ``did``: treated vs weighted comparison
            means by period (matched DiD only).
        """
        if kind == "love":
            if self.balance is None:
                return EffectResult.plot(self, ax=ax, **kwargs)
            return self.balance.plot(ax=ax, **kwargs)
        if kind == "overlap":
            if self.propensity is None:
                raise InputError("This design did not fit a propensity score, so there is no "
                                 "overlap plot; use kind='love' or kind='estimate'.")
            return self.propensity.plot(ax=ax, **kwargs)
        if kind == "estimate":
            return EffectResult.plot(self, ax=ax, **kwargs)
        if kind == "did":
            if "periods" not in self.tables:
                raise InputError("kind='did' is only available for MatchedDiD results.")
            return _did_plot(self.tables["periods"], ax=ax, outcome=self.outcome, **kwargs)
        raise InputError(f"kind must be 'love', 'overlap', 'estimate' or 'did'; got {kind!r}.")

    def summary(self, tables: Sequence[str] | None = None):
        if tables is None:
            tables = [t for t in ("rate_ratio", "did", "balance", "exclusions", "sensitivity",
                                  "placebo") if t in self.tables]
        return super().summary(tables)


# =========================================================== M-estimation core
def _jacobian(fun: Callable[[np.ndarray], np.ndarray], theta: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of a vector function."""
    p = len(theta)
    f0 = fun(theta)
    J = np.empty((len(f0), p))
    for j in range(p):
        h = 1e-6 * max(1.0, abs(theta[j]))
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h
        tm[j] -= h
        J[:, j] = (fun(tp) - fun(tm)) / (2 * h)
    return J


def sandwich_covariance(psi: Callable[[np.ndarray], np.ndarray], theta: np.ndarray,
                        cluster: np.ndarray | None = None) -> np.ndarray:
    """Sandwich covariance of an M-estimator ``sum_i psi_i(theta) = 0``.

    ``V = A^-1 B A^-T / n`` with ``A = -mean dpsi/dtheta`` (central
    differences) and ``B = mean psi psi'`` (or summed within clusters, with the
    usual ``G / (G - 1)`` correction).

    Examples
    --------
    The mean of a sample: the sandwich gives the (n-denominator) variance / n.

    >>> y = np.array([1.0, 2.0, 3.0, 6.0])
    >>> V = sandwich_covariance(lambda th: (y - th[0])[:, None], np.array([y.mean()]))
    >>> round(float(V[0, 0]), 6) == round(float(y.var() / 4), 6)
    True
    """
    Psi = psi(theta)
    n = Psi.shape[0]
    A = _jacobian(lambda th: psi(th).sum(axis=0) / n, theta)
    if cluster is None:
        B = Psi.T @ Psi / n
    else:
        codes, _ = pd.factorize(cluster)
        G = codes.max() + 1
        S = np.zeros((G, Psi.shape[1]))
        np.add.at(S, codes, Psi)
        B = S.T @ S / n * (G / max(G - 1, 1))
    try:
        Ainv = np.linalg.inv(A)
    except np.linalg.LinAlgError:
        Ainv = np.linalg.pinv(A)
    return Ainv @ B @ Ainv.T / n


@dataclass
class WeightModel:
    """Estimated weights as an M-estimator (for the stacked sandwich).

    ``psi(theta)`` gives the n x p estimating functions of the weighting model
    and ``weights(theta)`` the n adjustment weights they imply.
    """

    theta: np.ndarray
    psi: Callable[[np.ndarray], np.ndarray]
    weights: Callable[[np.ndarray], np.ndarray]


@dataclass
class OutcomeModel:
    """An outcome estimator on weighted data, written as an M-estimator."""

    theta: np.ndarray
    psi: Callable[[np.ndarray, np.ndarray], np.ndarray]
    tau: Callable[[np.ndarray], float]
    means: Callable[[np.ndarray], tuple[float, float]]
    ratio: Callable[[np.ndarray], float] | None = None
    label: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def estimate(self) -> float:
        return float(self.tau(self.theta))


def _independent_columns(Z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Indices of columns of Z (intercept first) that are linearly independent
    in the rows with positive weight, found greedily in order."""
    rows = w > 0
    Zs = Z[rows] * np.sqrt(w[rows])[:, None]
    G = Zs.T @ Zs
    keep: list[int] = []
    for j in range(Z.shape[1]):
        gjj = G[j, j]
        if gjj <= 0:
            continue
        if keep:
            K = np.array(keep)
            sol = np.linalg.lstsq(G[np.ix_(K, K)], G[K, j], rcond=None)[0]
            resid = gjj - G[j, K] @ sol
        else:
            resid = gjj
        if resid > 1e-9 * gjj:
            keep.append(j)
    return np.array(keep, dtype=int)


def _wls(Z: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    rows = w > 0
    sw = np.sqrt(w[rows])
    return np.linalg.lstsq(Z[rows] * sw[:, None], y[rows] * sw, rcond=None)[0]


def _nb_loglik(y: np.ndarray, mu: np.ndarray, alpha: float, w: np.ndarray) -> float:
    from scipy.special import gammaln

    r = 1.0 / alpha
    ll = (gammaln(y + r) - gammaln(r) - gammaln(y + 1) + r * np.log(r / (r + mu))
          + y * np.log(np.where(mu > 0, mu / (r + mu), 1.0)))
    return float(np.sum(w * ll))


def _glm_count(Z: np.ndarray, y: np.ndarray, e: np.ndarray, w: np.ndarray, model: str
               ) -> tuple[np.ndarray, float]:
    """Weighted Poisson or NB2 regression with log(exposure) offset.

    Returns the coefficients and alpha (0 for Poisson). NB2's alpha is the
    weighted maximum-likelihood value (profile likelihood over log alpha).
    """
    import statsmodels.api as sm
    from scipy.optimize import minimize_scalar

    rows = w > 0
    Zr, yr, er, wr = Z[rows], y[rows], e[rows], w[rows]
    off = np.log(er)

    def fit(alpha: float) -> np.ndarray:
        fam = sm.families.Poisson() if alpha == 0 else sm.families.NegativeBinomial(alpha=alpha)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sm.GLM(yr, Zr, family=fam, offset=off, var_weights=wr).fit().params

    beta = fit(0.0)
    if model == "poisson":
        return beta, 0.0

    def negll(log_a: float) -> float:
        a = float(np.exp(log_a))
        b = fit(a)
        return -_nb_loglik(yr, er * np.exp(Zr @ b), a, wr)

    opt = minimize_scalar(negll, bounds=(np.log(1e-4), np.log(1e3)), method="bounded",
                          options={"xatol": 1e-4})
    alpha = float(np.exp(opt.x))
    return fit(alpha), alpha


def outcome_model(y: np.ndarray, d: np.ndarray, w: np.ndarray, *, estimand: str = "ATT",
                  method: str = "difference", Z: np.ndarray | None = None,
                  outcome_type: str = "continuous", exposure: np.ndarray | None = None,
                  count_model: str = "poisson", target: np.ndarray | None = None
                  ) -> OutcomeModel:
    """Set up (and solve) the outcome estimator on a weighted sample.

    Parameters
    ----------
    y, d, w : arrays
        Outcome, treatment (0/1) and adjustment weights (0 = not used).
    estimand : {"ATT", "ATE"}
    method : {"difference", "regression"}
        ``difference``: weighted means (rates for counts). ``regression``:
        outcome regression fitted on the weighted comparison group (and, for
        the ATE, the treated group) and averaged over the target population;
        with propensity or entropy weights this is the doubly robust weighted
        regression estimator (Wooldridge 2007; Kang and Schafer 2007).
    Z : array
        Regression design *with* an intercept column first.
    outcome_type : {"continuous", "count"}
    exposure : array, optional
        Person-years at risk for counts (default 1 each).
    count_model : {"poisson", "negbin"}
        Model for counts with ``method="regression"``.
    target : array of bool, optional
        Target population for the ATE average (default: people with w > 0).

    Examples
    --------
    >>> y = np.array([5.0, 7.0, 1.0, 3.0, 100.0]); d = np.array([1, 1, 0, 0, 0])
    >>> m = outcome_model(y, d, np.array([1, 1, 1, 1, 0.0]))
    >>> m.estimate
    4.0
    """
    t = np.asarray(d) == 1
    c = ~t
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    est = estimand.upper()
    s = (w > 0).astype(float) if target is None else np.asarray(target, dtype=float)
    if outcome_type == "count":
        e = np.ones_like(y) if exposure is None else np.asarray(exposure, dtype=float)
        if method == "difference":
            m1 = np.sum(t * w * y) / np.sum(t * w * e)
            m0 = np.sum(c * w * y) / np.sum(c * w * e)

            def psi(th, w):
                return np.column_stack([t * w * (y - th[0] * e), c * w * (y - th[1] * e)])

            return OutcomeModel(np.array([m1, m0]), psi, lambda th: th[0] - th[1],
                                lambda th: (th[0], th[1]), lambda th: th[0] / th[1],
                                "rate difference (weighted events per person-year)")
        if Z is None:
            raise InputError("method='regression' needs covariates for the outcome model.")
        cols0 = _independent_columns(Z, c * w)
        Z0 = Z[:, cols0]
        g0, alpha0 = _glm_count(Z0, y, e, c * w, count_model)
        q0 = len(g0)
        if est == "ATT":
            mu0 = e * np.exp(Z0 @ g0)
            m1 = np.sum(t * w * y) / np.sum(t * w * e)
            cf = np.sum(t * w * mu0) / np.sum(t * w * e)

            def psi(th, w):
                g, m1_, cf_ = th[:q0], th[q0], th[q0 + 1]
                mu = e * np.exp(Z0 @ g)
                sc = (c * w * (y - mu) / (1 + alpha0 * mu))[:, None] * Z0
                return np.column_stack([sc, t * w * (y - m1_ * e), t * w * (mu - cf_ * e)])

            th0 = np.r_[g0, m1, cf]
            return OutcomeModel(th0, psi, lambda th: th[q0] - th[q0 + 1],
                                lambda th: (th[q0], th[q0 + 1]), lambda th: th[q0] / th[q0 + 1],
                                f"{count_model} regression adjustment (rate difference)",
                                {"alpha": alpha0})
        cols1 = _independent_columns(Z, t * w)
        Z1 = Z[:, cols1]
        g1, alpha1 = _glm_count(Z1, y, e, t * w, count_model)
        q1 = len(g1)
        a1 = np.sum(s * e * np.exp(Z1 @ g1)) / np.sum(s * e)
        a0 = np.sum(s * e * np.exp(Z0 @ g0)) / np.sum(s * e)

        def psi(th, w):
            ga, gb = th[:q1], th[q1:q1 + q0]
            a1_, a0_ = th[q1 + q0], th[q1 + q0 + 1]
            mu1 = e * np.exp(Z1 @ ga)
            mu0 = e * np.exp(Z0 @ gb)
            s1 = (t * w * (y - mu1) / (1 + alpha1 * mu1))[:, None] * Z1
            s0 = (c * w * (y - mu0) / (1 + alpha0 * mu0))[:, None] * Z0
            return np.column_stack([s1, s0, s * (mu1 - a1_ * e), s * (mu0 - a0_ * e)])

        k = q1 + q0
        return OutcomeModel(np.r_[g1, g0, a1, a0], psi, lambda th: th[k] - th[k + 1],
                            lambda th: (th[k], th[k + 1]), lambda th: th[k] / th[k + 1],
                            f"{count_model} regression adjustment (rate difference)",
                            {"alpha": (alpha1, alpha0)})
    # ---- continuous
    if method == "difference":
        m1 = np.sum(t * w * y) / np.sum(t * w)
        m0 = np.sum(c * w * y) / np.sum(c * w)

        def psi(th, w):
            return np.column_stack([t * w * (y - th[0]), c * w * (y - th[1])])

        return OutcomeModel(np.array([m1, m0]), psi, lambda th: th[0] - th[1],
                            lambda th: (th[0], th[1]), None, "weighted difference in means")
    if Z is None:
        raise InputError("method='regression' needs covariates for the outcome model.")
    cols0 = _independent_columns(Z, c * w)
    Z0 = Z[:, cols0]
    g0 = _wls(Z0, y, c * w)
    q0 = len(g0)
    if est == "ATT":
        m1 = np.sum(t * w * y) / np.sum(t * w)
        cf = np.sum(t * w * (Z0 @ g0)) / np.sum(t * w)

        def psi(th, w):
            g = th[:q0]
            fit0 = Z0 @ g
            return np.column_stack([(c * w * (y - fit0))[:, None] * Z0, t * w * (y - th[q0]),
                                    t * w * (fit0 - th[q0 + 1])])

        return OutcomeModel(np.r_[g0, m1, cf], psi, lambda th: th[q0] - th[q0 + 1],
                            lambda th: (th[q0], th[q0 + 1]), None,
                            "regression adjustment on the weighted sample",
                            {"fit0": Z0 @ g0})
    cols1 = _independent_columns(Z, t * w)
    Z1 = Z[:, cols1]
    g1 = _wls(Z1, y, t * w)
    q1 = len(g1)
    a1 = np.sum(s * (Z1 @ g1)) / np.sum(s)
    a0 = np.sum(s * (Z0 @ g0)) / np.sum(s)
    k = q1 + q0

    def psi(th, w):
        f1 = Z1 @ th[:q1]
        f0 = Z0 @ th[q1:k]
        return np.column_stack([(t * w * (y - f1))[:, None] * Z1,
                                (c * w * (y - f0))[:, None] * Z0,
                                s * (f1 - th[k]), s * (f0 - th[k + 1])])

    return OutcomeModel(np.r_[g1, g0, a1, a0], psi, lambda th: th[k] - th[k + 1],
                        lambda th: (th[k], th[k + 1]), None,
                        "regression adjustment on the weighted sample")


def _grad(f: Callable[[np.ndarray], float], theta: np.ndarray) -> np.ndarray:
    return _jacobian(lambda th: np.atleast_1d(f(th)), theta)[0]


def stacked_inference(om: OutcomeModel, w: np.ndarray, wm: WeightModel | None = None,
                      cluster: np.ndarray | None = None) -> dict[str, float]:
    """Sandwich SE of the outcome model, stacked with the weight model if any."""
    if wm is None:
        theta = om.theta.copy()
        p_w = 0

        def psi(th):
            return om.psi(th, w)
    else:
        p_w = len(wm.theta)
        theta = np.r_[wm.theta, om.theta]

        def psi(th):
            return np.column_stack([wm.psi(th[:p_w]), om.psi(th[p_w:], wm.weights(th[:p_w]))])

    V = sandwich_covariance(psi, theta, cluster)
    g = np.r_[np.zeros(p_w), _grad(om.tau, om.theta)]
    out = {"estimate": om.estimate, "se": float(np.sqrt(max(g @ V @ g, 0.0)))}
    m1, m0 = om.means(om.theta)
    out["mean_treated"], out["mean_counterfactual"] = float(m1), float(m0)
    if om.ratio is not None:
        gr = np.r_[np.zeros(p_w), _grad(om.ratio, om.theta)]
        out["ratio"] = float(om.ratio(om.theta))
        out["ratio_se"] = float(np.sqrt(max(gr @ V @ gr, 0.0)))
    return out


# ============================================================= shared design
@dataclass
class Adjustment:
    """What a design's adjustment step produced (internal)."""

    w: np.ndarray
    excluded: pd.DataFrame
    method: str
    weight_model: WeightModel | None = None
    cluster: np.ndarray | None = None
    ps: PropensityScoreResult | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    target: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InputError(f"{name} must be one of {list(allowed)}; got {value!r}.")
    return value


class ComparisonDesign(ABC):
    """Base class of the person-level comparison-group designs.

    Subclasses implement :meth:`_adjust` (turn a checked sample into weights)
    and may override :meth:`_analytic` (their default standard error).
    The common keyword arguments are documented on each design.
    """

    design_key = "comparison"
    default_se = "sandwich"
    allowed_se: tuple[str, ...] = ("sandwich", "bootstrap")
    needs_covariates = True
    adjusts = True

    def __init__(self, *, treatment: str = "treated", covariates: Sequence[str] | None = None,
                 formula: str | None = None, outcome: str | Sequence[str] | None = None,
                 estimand: str = "ATT", method: str = "difference",
                 outcome_type: str = "continuous", exposure: str | None = None,
                 count_model: str = "poisson", se: str | None = None, n_boot: int = 499,
                 seed: int | None = 0, progress: bool = True, alpha: float = 0.05,
                 threshold: float = 0.1, trim: Any = None, missing: str = "error",
                 id: str | None = None, unit: str = "") -> None:
        self.treatment = treatment
        self.covariates = list(covariates) if covariates is not None and not isinstance(
            covariates, str) else ([covariates] if isinstance(covariates, str) else None)
        self.formula = formula
        self.outcome = outcome
        self.estimand = str(estimand).upper()
        self.method = _check_choice("method", method, _METHODS)
        self.outcome_type = _check_choice("outcome_type", outcome_type, _OUTCOME_TYPES)
        self.exposure = exposure
        self.count_model = _check_choice("count_model", count_model, _COUNT_MODELS)
        self.se = se or self.default_se
        _check_choice("se", self.se, self.allowed_se)
        if not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
            raise InputError(f"n_boot must be an integer of at least 2; got {n_boot!r}.")
        self.n_boot = int(n_boot)
        self.seed = seed
        self.progress = progress
        if not 0 < alpha < 1:
            raise InputError(f"alpha must be between 0 and 1 (0.05 for 95% intervals); "
                             f"got {alpha!r}.")
        self.alpha = alpha
        self.threshold = threshold
        self.trim = trim
        self.missing = missing
        self.id = id
        self.unit = unit
        if exposure is not None and outcome_type != "count":
            raise InputError("exposure= is for count outcomes: also pass outcome_type='count'.")
        self._check_options()

    # ---------------------------------------------------------- to override
    def _check_options(self) -> None:
        if self.estimand not in ("ATT", "ATE"):
            raise InputError(f"estimand must be 'ATT' or 'ATE'; got {self.estimand!r}.")

    @abstractmethod
    def _adjust(self, sample: Sample, *, light: bool = False) -> Adjustment:
        """Weights (or matches) that make the comparison group like the treated."""

    def _extra_columns(self) -> list[str]:
        return []

    # -------------------------------------------------------------- helpers
    def _propensity(self, sample: Sample) -> PropensityScoreResult:
        return PropensityScore(treatment=self.treatment, trim=self.trim).fit_sample(sample)

    def _support(self, sample: Sample, need_ps: bool
                 ) -> tuple[PropensityScoreResult | None, np.ndarray, list[pd.DataFrame]]:
        """Start of an adjustment: the propensity fit (only when ``need_ps``), who is kept
        (its common support and trimming, else everyone; a fresh array) and the
        exclusions so far."""
        if not need_ps:
            return None, np.ones(sample.n, dtype=bool), [sample.excluded]
        ps = self._propensity(sample)
        return ps, ps.keep.copy(), [ps.excluded]

    def _design_Z(self, sample: Sample) -> np.ndarray:
        X = sample.X.to_numpy(dtype=float)
        mu = X.mean(axis=0) if len(X) else 0
        sd = X.std(axis=0) if len(X) else 1
        sd = np.where(sd > 0, sd, 1.0)
        return np.column_stack([np.ones(len(X)), (X - mu) / sd])

    def _outcome(self, sample: Sample, adj: Adjustment, y: np.ndarray) -> OutcomeModel:
        e = (sample.data[self.exposure].to_numpy(dtype=float)
             if self.exposure is not None else None)
        Z = self._design_Z(sample) if self.method == "regression" else None
        return outcome_model(y, sample.d, adj.w, estimand=self.estimand, method=self.method,
                             Z=Z, outcome_type=self.outcome_type, exposure=e,
                             count_model=self.count_model, target=adj.target)

    def _point(self, sample: Sample, adj: Adjustment, y: np.ndarray) -> float:
        return self._outcome(sample, adj, y).estimate

    def _analytic(self, sample: Sample, adj: Adjustment, y: np.ndarray) -> dict[str, Any]:
        om = self._outcome(sample, adj, y)
        out = stacked_inference(om, adj.w, adj.weight_model, adj.cluster)
        out["label"] = om.label
        if "alpha" in om.info:
            out["nb_alpha"] = om.info["alpha"]
        return out

    def _method_label(self, adj: Adjustment, est_label: str) -> str:
        return f"{adj.method}; {est_label}"

    # --------------------------------------------------------------- design
    def balance(self, data: pd.DataFrame) -> Balance:
        """Build the comparison group and report balance, without any outcome.

        Following the "design before outcomes" principle (Rubin 2008), check
        balance, overlap and exclusions first; look at outcomes only once the
        design is acceptable. Returns a :class:`~evalkit.evaluate.balance.Balance`
        whose ``weights``, ``excluded`` and ``diagnostics`` attributes describe
        the matched/weighted sample.
        """
        sample = prepare_sample(data, treatment=self.treatment, covariates=self.covariates,
                                formula=self.formula, id=self.id, missing=self.missing,
                                require_covariates=self.needs_covariates)
        adj = self._adjust(sample)
        bal = Balance.compute(sample.X, sample.d, adj.w, estimand=self.estimand,
                              threshold=self.threshold)
        bal.weights = pd.DataFrame({"id": sample.ids, "treated": sample.d, "weight": adj.w},
                                   index=sample.data.index)
        bal.excluded = adj.excluded.reset_index(drop=True)
        bal.diagnostics = dict(adj.diagnostics)
        bal.tables = dict(adj.tables)
        bal.propensity = adj.ps
        return bal

    # ------------------------------------------------------------------ fit
    def fit(self, data: pd.DataFrame, outcome: str | Sequence[str] | None = None, *,
            placebo: Sequence[str] | str | None = None) -> ComparisonResult | EffectResults:
        """Adjust the comparison group and estimate the effect on ``outcome``.

        Parameters
        ----------
        data : DataFrame
            One row per person: treatment, covariates, outcome(s).
        outcome : str or list of str, optional
            Outcome column(s); overrides the constructor's ``outcome``. A list
            gives :class:`EffectResults`, one per outcome, with one adjustment.
        placebo : str or list of str, optional
            Placebo outcomes (ones the pilot cannot have affected, such as an
            outcome measured before it started); each is estimated with the same
            design and reported in ``tables["placebo"]``, with a warning when
            its interval excludes zero.
        """
        outcome = outcome if outcome is not None else self.outcome
        if outcome is None:
            raise InputError("No outcome given: pass outcome='<column>' to the design or to "
                             "fit().")
        outcomes = [outcome] if isinstance(outcome, str) else list(outcome)
        placebos = [placebo] if isinstance(placebo, str) else list(placebo or [])
        extra = list(dict.fromkeys(outcomes + placebos + ([self.exposure] if self.exposure
                                                           else []) + self._extra_columns()))
        sample = prepare_sample(data, treatment=self.treatment, covariates=self.covariates,
                                formula=self.formula, extra_columns=extra, id=self.id,
                                missing=self.missing,
                                require_covariates=self.needs_covariates)
        self._check_outcomes(sample, outcomes + placebos)
        adj = self._adjust(sample)
        results = [self._estimate(sample, adj, o) for o in outcomes]
        if placebos:
            ptab = pd.DataFrame([self._placebo_row(sample, adj, p) for p in placebos])
            ptab = ptab.set_index("placebo_outcome")
            for r in results:
                r.tables["placebo"] = ptab
                bad = ptab.index[ptab["pvalue"] < self.alpha].tolist()
                if bad:
                    r.warnings.append(
                        f"Placebo outcome(s) {bad} show a statistically significant 'effect' "
                        "although the pilot cannot have changed them: the comparison group "
                        "probably still differs from the pilot group (residual confounding). "
                        "Treat the main estimate with caution.")
        if isinstance(outcome, str):
            return results[0]
        return EffectResults(results)

    def _check_outcomes(self, sample: Sample, cols: Sequence[str]) -> None:
        if self.outcome_type == "count":
            for c in cols:
                v = sample.data[c].to_numpy(dtype=float)
                if (v < 0).any():
                    raise InputError(f"Count outcome {c!r} has negative values (e.g. "
                                     f"{v[v < 0][:3].tolist()}); counts must be >= 0.")
            if self.exposure is not None:
                e = sample.data[self.exposure].to_numpy(dtype=float)
                if (e <= 0).any():
                    raise InputError(f"Exposure column {self.exposure!r} must be positive "
                                     f"(person-years at risk); found {int((e <= 0).sum())} "
                                     "values <= 0. Remove people with no time at risk.")

    def _placebo_row(self, sample: Sample, adj: Adjustment, col: str) -> dict[str, Any]:
        y = sample.data[col].to_numpy(dtype=float)
        a = self._analytic(sample, adj, y) if self.se != "bootstrap" else None
        if a is None:
            r = self._bootstrap(sample, col, progress=False)
            est = self._point(sample, adj, y)
            se, lo, hi = r["se"], r["lo"], r["hi"]
            p = 2 * stats.norm.sf(abs(est / se)) if se > 0 else np.nan
        else:
            est, se = a["estimate"], a["se"]
            z = stats.norm.ppf(1 - self.alpha / 2)
            lo, hi = est - z * se, est + z * se
            p = 2 * stats.norm.sf(abs(est / se)) if se > 0 else np.nan
        return {"placebo_outcome": col, "estimate": est, "se": se, "ci_lower": lo,
                "ci_upper": hi, "pvalue": p,
                "passes": bool(p >= self.alpha) if p == p else False}

    def _bootstrap(self, sample: Sample, outcome: str, progress: bool | None = None
                   ) -> dict[str, Any]:
        from tqdm.auto import tqdm

        rng = np.random.default_rng(self.seed)
        t_pos = np.flatnonzero(sample.d == 1)
        c_pos = np.flatnonzero(sample.d == 0)
        draws = np.full(self.n_boot, np.nan)
        failures: list[str] = []
        show = self.progress if progress is None else progress
        for b in tqdm(range(self.n_boot), desc=f"Bootstrap ({type(self).__name__})",
                      disable=not show, file=sys.stderr, leave=False):
            rows = np.r_[rng.choice(t_pos, len(t_pos)), rng.choice(c_pos, len(c_pos))]
            sb = sample.take(rows)
            try:
                adj_b = self._adjust(sb, light=True)
                yb = sb.data[outcome].to_numpy(dtype=float)
                draws[b] = self._point(sb, adj_b, yb)
            except (InputError, np.linalg.LinAlgError, ValueError, ZeroDivisionError) as exc:
                failures.append(str(exc).split(".")[0])
        ok = np.isfinite(draws)
        d_ok = draws[ok]
        se = float(np.std(d_ok, ddof=1)) if ok.sum() > 1 else float("nan")
        lo, hi = (np.quantile(d_ok, [self.alpha / 2, 1 - self.alpha / 2]) if ok.sum() > 1
                  else (np.nan, np.nan))
        return {"draws": d_ok, "se": se, "lo": float(lo), "hi": float(hi),
                "failures": failures}

    def _estimate(self, sample: Sample, adj: Adjustment, outcome: str) -> ComparisonResult:
        y = sample.data[outcome].to_numpy(dtype=float)
        warnings_: list[str] = []
        diagnostics: dict[str, Any] = {}
        t = sample.d == 1
        w = adj.w
        counts = {"n_treated": int(((w > 0) & t).sum()), "n_control": int(((w > 0) & ~t).sum())}
        if self.se == "bootstrap":
            om = self._outcome(sample, adj, y)
            est = om.estimate
            boot = self._bootstrap(sample, outcome)
            if boot["failures"]:
                warnings_.append(
                    f"{len(boot['failures'])} of {self.n_boot} bootstrap replicates failed "
                    f"(e.g. {boot['failures'][0]}); the SE uses the "
                    f"{len(boot['draws'])} that ran.")
            res = ComparisonResult.from_draws(est, boot["draws"], alpha=self.alpha,
                                              ci="percentile", **counts)
            info = {"label": om.label}
            m1, m0 = om.means(om.theta)
            info["mean_treated"], info["mean_counterfactual"] = m1, m0
            if om.ratio is not None:
                info["ratio"] = om.ratio(om.theta)
            se_label = f"bootstrap of the whole pipeline ({self.n_boot} replicates)"
        else:
            info = self._analytic(sample, adj, y)
            res = ComparisonResult.from_estimate(info["estimate"], info["se"], alpha=self.alpha,
                                                 **counts)
            se_label = info.get("se_label", "sandwich (M-estimation)" if adj.weight_model
                                else "robust sandwich")
        res.estimand = self.estimand
        res.design = self.design_key
        res.outcome = outcome
        res.method = self._method_label(adj, info["label"])
        res.unit = self.unit or ("events per person-year" if self.outcome_type == "count"
                                 and self.exposure else "")
        # ------------------------------------------------- balance & tables
        bal = None
        if sample.X.shape[1]:
            bal = Balance.compute(sample.X, sample.d, w if self.adjusts else None,
                                  estimand=self.estimand, threshold=self.threshold)
            res.tables["balance"] = bal.table
            res.extra["balance"] = bal
            diagnostics["max_abs_smd_before"] = bal.max_abs_smd_before
            diagnostics["max_abs_smd_after"] = bal.max_abs_smd_after
            diagnostics["ess_treated"] = bal.ess["treated"]
            diagnostics["ess_comparison"] = bal.ess["comparison"]
            if bal.warning:
                warnings_.append(bal.warning)
        diagnostics["mean_treated"] = float(info["mean_treated"])
        diagnostics["mean_counterfactual"] = float(info["mean_counterfactual"])
        diagnostics.update(adj.diagnostics)
        excl = adj.excluded
        diagnostics["n_excluded"] = int(len(excl))
        res.tables["excluded"] = excl.reset_index(drop=True)
        res.tables["exclusions"] = exclusion_counts(excl)
        if len(excl):
            warnings_.append(
                f"{len(excl):,} people were left out of the analysis "
                f"({_exclusion_text(excl)}); see tables['excluded'].")
        res.tables.update(adj.tables)
        if "nb_alpha" in info:
            diagnostics["nb_alpha"] = info["nb_alpha"] if np.isscalar(info["nb_alpha"]) \
                else float(info["nb_alpha"][-1])
        if "ratio" in info:
            rr = info["ratio"]
            rr_se = info.get("ratio_se", np.nan)
            if self.se == "bootstrap":
                rr_lo = rr_hi = np.nan
            else:
                z = stats.norm.ppf(1 - self.alpha / 2)
                sl = rr_se / rr if rr > 0 else np.nan
                rr_lo, rr_hi = rr * np.exp(-z * sl), rr * np.exp(z * sl)
            res.tables["rate_ratio"] = pd.DataFrame(
                {"rate_treated": [info["mean_treated"]],
                 "rate_counterfactual": [info["mean_counterfactual"]], "rate_ratio": [rr],
                 "ci_lower": [rr_lo], "ci_upper": [rr_hi]})
            diagnostics["rate_ratio"] = float(rr)
        # ----------------------------------------------------- sensitivity
        from .sensitivity import e_value_for_result

        ev = e_value_for_result(res, sample.data[outcome].to_numpy(dtype=float), sample.d,
                                ratio=res.tables.get("rate_ratio"))
        if ev is not None:
            res.tables["sensitivity"] = ev.to_frame()
            diagnostics["e_value"] = ev.point
            diagnostics["e_value_ci"] = ev.ci
        diagnostics["se_method"] = se_label
        res.diagnostics = diagnostics
        res.warnings = warnings_ + list(adj.info.get("warnings", []))
        wt = pd.DataFrame({"id": sample.ids, "treated": sample.d, "weight": w},
                          index=sample.data.index)
        if adj.ps is not None:
            ps_all = np.full(sample.n, np.nan)
            ps_all[adj.ps.keep] = adj.ps.score
            wt["propensity"] = ps_all
        res.extra["weights"] = wt
        if adj.ps is not None:
            res.extra["propensity"] = adj.ps
            res.tables["support"] = adj.ps.support
        res.extra.update({k: v for k, v in adj.info.items()
                          if k != "warnings" and not k.startswith("_")})
        return res


def exclusion_counts(excl: pd.DataFrame) -> pd.DataFrame:
    """Count excluded people by stage, reason and group."""
    if len(excl) == 0:
        return pd.DataFrame(columns=["stage", "reason", "treated", "comparison"])
    tab = (excl.assign(n=1).pivot_table(index=["stage", "reason"], columns="group", values="n",
                                        aggfunc="sum", fill_value=0))
    for g in ("treated", "comparison"):
        if g not in tab.columns:
            tab[g] = 0
    tab = tab[["treated", "comparison"]].reset_index()
    tab.columns.name = None
    return tab


def _exclusion_text(excl: pd.DataFrame) -> str:
    parts = []
    for (stage, grp), n in excl.groupby(["stage", "group"]).size().items():
        parts.append(f"{n:,} {grp} at {stage}")
    return "; ".join(parts)


# ======================================================= difference in means
class DifferenceInMeans(ComparisonDesign):
    """The unadjusted comparison: mean outcome of the pilot group minus the rest.

    This is the right estimator for a randomised experiment, and the "naive"
    benchmark otherwise. For a continuous outcome the SE is Welch's
    (unequal variances) with Satterthwaite degrees of freedom; counts give the
    difference in event rates with a robust sandwich SE. Covariates, if given,
    are only used to report (unadjusted) balance.

    Examples
    --------
    >>> df = pd.DataFrame({"treated": [1, 1, 1, 0, 0, 0], "y": [3.0, 5, 7, 1, 2, 3]})
    >>> r = DifferenceInMeans(outcome="y").fit(df)
    >>> r.estimate
    3.0
    """

    design_key = "comparison"
    needs_covariates = False
    adjusts = False

    def _adjust(self, sample: Sample, *, light: bool = False) -> Adjustment:
        return Adjustment(w=np.ones(sample.n), excluded=sample.excluded.copy(),
                          method="Difference in means (no adjustment)")

    def _analytic(self, sample: Sample, adj: Adjustment, y: np.ndarray) -> dict[str, Any]:
        if self.outcome_type == "count" or self.method == "regression":
            return super()._analytic(sample, adj, y)
        t = sample.d == 1
        y1, y0 = y[t], y[~t]
        n1, n0 = len(y1), len(y0)
        v1 = y1.var(ddof=1) / n1 if n1 > 1 else 0.0
        v0 = y0.var(ddof=1) / n0 if n0 > 1 else 0.0
        se = float(np.sqrt(v1 + v0))
        df = ((v1 + v0) ** 2 / ((v1 ** 2 / (n1 - 1) if n1 > 1 else 0)
                                + (v0 ** 2 / (n0 - 1) if n0 > 1 else 0))
              if se > 0 and n1 > 1 and n0 > 1 else None)
        return {"estimate": float(y1.mean() - y0.mean()), "se": se, "df": df,
                "mean_treated": float(y1.mean()), "mean_counterfactual": float(y0.mean()),
                "label": "difference in means", "se_label": "Welch (unequal variances)"}

    def _estimate(self, sample: Sample, adj: Adjustment, outcome: str) -> ComparisonResult:
        res = super()._estimate(sample, adj, outcome)
        if self.se != "bootstrap" and self.outcome_type == "continuous" and \
                self.method == "difference":
            y = sample.data[outcome].to_numpy(dtype=float)
            info = self._analytic(sample, adj, y)
            if info["df"] is not None:
                q = stats.t.ppf(1 - self.alpha / 2, info["df"])
                res.ci_lower = res.estimate - q * res.se
                res.ci_upper = res.estimate + q * res.se
                res.pvalue = float(2 * stats.t.sf(abs(res.estimate / res.se), info["df"]))
                res.diagnostics["welch_df"] = float(info["df"])
        return res


# =========================================================== matched DiD
class MatchedDiD:
    """Matched (or weighted) difference-in-differences.

    Each person's outcome change from before to after the pilot start is
    compared with the change among their matched (or re-weighted) comparison
    people, over the same periods. Matching on pre-period outcomes and then
    differencing removes fixed differences between people that matching did not
    (Heckman, Ichimura and Todd 1997; the national Troubled Families evaluation,
    MHCLG 2019, used propensity-score matching with outcomes before and after).

    Parameters
    ----------
    design : ComparisonDesign
        A configured design, e.g. ``NearestNeighbourMatching(covariates=...)``.
        Its ``outcome`` is replaced by the change score.
    pre, post : list of str, optional
        Wide data: outcome columns for the pre-pilot and post-pilot periods
        (averaged within each window, so windows of different lengths compare
        per-period levels).
    measure : str, optional
        Long data: the ``measure`` to use from an outcomes panel passed to
        :meth:`fit` (columns ``person_id, period, measure, value``).
    start : date-like, optional
        Long data: periods before ``start`` are "pre", the rest "post" (or give
        ``pre``/``post`` as lists of periods instead).
    fill : float, optional
        Long data: value for person-periods missing from the panel (``0`` for
        event counts, where no row means no events). ``None`` (default) raises
        an error listing how many are missing.
    """

    design_key = "matched_did"

    def __init__(self, design: ComparisonDesign, *, pre: Sequence[Any] | None = None,
                 post: Sequence[Any] | None = None, measure: str | None = None,
                 start: Any = None, fill: float | None = None, person: str = "person_id",
                 period: str = "period", value: str = "value") -> None:
        if not isinstance(design, ComparisonDesign):
            raise InputError("design must be a comparison design such as "
                             "NearestNeighbourMatching(...) or EntropyBalancing(...).")
        self.design = design
        self.pre = list(pre) if pre is not None else None
        self.post = list(post) if post is not None else None
        self.measure = measure
        self.start = start
        self.fill = fill
        self.person, self.period, self.value = person, period, value

    def _wide_from_panel(self, data: pd.DataFrame, panel: pd.DataFrame
                         ) -> tuple[pd.DataFrame, list[str], list[str]]:
        for c in (self.person, self.period, self.value):
            if c not in panel.columns:
                raise InputError(f"The outcomes panel has no column {c!r} (columns: "
                                 f"{list(panel.columns)}).")
        if self.person not in data.columns:
            raise InputError(f"data has no {self.person!r} column to join the outcomes panel on.")
        p = panel
        if self.measure is not None:
            if "measure" not in p.columns:
                raise InputError("measure= was given but the outcomes panel has no 'measure' "
                                 "column.")
            p = p[p["measure"] == self.measure]
            if p.empty:
                raise InputError(f"No rows with measure == {self.measure!r} in the outcomes "
                                 f"panel (measures: {sorted(panel['measure'].unique())[:10]}).")
        elif "measure" in p.columns and p["measure"].nunique() > 1:
            raise InputError(f"The outcomes panel has several measures "
                             f"{sorted(p['measure'].unique())[:10]}; pass measure='...'.")
        wide = p.pivot_table(index=self.person, columns=self.period, values=self.value,
                             aggfunc="sum")
        periods = list(wide.columns)
        if self.pre is not None and self.post is not None:
            pre, post = self.pre, self.post
            unknown = [x for x in pre + post if x not in periods]
            if unknown:
                raise InputError(f"Periods {unknown[:5]} are not in the outcomes panel "
                                 f"(periods: {periods[:12]}).")
        elif self.start is not None:
            try:
                per = pd.to_datetime(pd.Series(periods))
                start = pd.Timestamp(self.start)
                pre = [x for x, v in zip(periods, per) if v < start]
                post = [x for x, v in zip(periods, per) if v >= start]
            except (ValueError, TypeError):
                pre = [x for x in periods if x < self.start]
                post = [x for x in periods if x >= self.start]
        else:
            raise InputError("Give start= (the pilot start date) or pre=/post= period lists.")
        if not pre or not post:
            raise InputError(f"Need at least one period before and one after the start; got "
                             f"{len(pre)} before and {len(post)} after.")
        wide = wide.reindex(data[self.person].to_numpy())
        cells = wide[pre + post]
        n_missing = int(cells.isna().to_numpy().sum())
        if n_missing:
            if self.fill is None:
                raise InputError(
                    f"{n_missing:,} person-periods are missing from the outcomes panel "
                    f"({int(cells.isna().any(axis=1).sum()):,} people). If no row means "
                    "nothing happened (event counts), pass fill=0; otherwise complete the panel.")
            cells = cells.fillna(self.fill)
        names = {x: f"__did_{i}" for i, x in enumerate(pre + post)}
        cols = cells.rename(columns=names)
        cols.index = data.index
        out = pd.concat([data, cols], axis=1)
        self._labels = {v: k for k, v in names.items()}
        self._filled = n_missing
        return out, [names[x] for x in pre], [names[x] for x in post]

    def fit(self, data: pd.DataFrame, outcomes: pd.DataFrame | None = None
            ) -> ComparisonResult:
        """Estimate the matched DiD.

        Parameters
        ----------
        data : DataFrame
            People (treatment, covariates and, for wide data, the ``pre``/
            ``post`` outcome columns).
        outcomes : DataFrame, optional
            Long outcomes panel (``person_id, period, measure, value``).
        """
        self._labels, self._filled = {}, 0
        if outcomes is not None:
            df, pre, post = self._wide_from_panel(data, outcomes)
            name = self.measure or "outcome"
        else:
            if not self.pre or not self.post:
                raise InputError("Give pre=[...] and post=[...] outcome columns (wide data), or "
                                 "an outcomes panel to fit(data, outcomes=...).")
            miss = [c for c in self.pre + self.post if c not in data.columns]
            if miss:
                raise InputError(f"Outcome column(s) {miss} are not in the data.")
            df, pre, post = data, self.pre, self.post
            name = f"{', '.join(map(str, self.post))} vs {', '.join(map(str, self.pre))}"
        for c in pre + post:
            if not pd.api.types.is_numeric_dtype(df[c]):
                raise InputError(f"Outcome column {self._labels.get(c, c)!r} must be numeric.")
        # a missing pre/post value must not be silently averaged over
        nmiss = df[pre + post].isna()
        if nmiss.to_numpy().any() and self.design.missing == "error":
            cols = [self._labels.get(c, c) for c in nmiss.columns[nmiss.any()]]
            raise InputError(
                f"Outcome column(s) {cols} have missing values for "
                f"{int(nmiss.any(axis=1).sum()):,} people. Complete them, or configure the "
                "design with missing='drop' to leave those people out (they are listed in "
                "the result's excluded table).")
        change = "change (post - pre)"
        df = df.assign(**{change: df[post].mean(axis=1, skipna=False)
                          - df[pre].mean(axis=1, skipna=False),
                          "__did_pre": df[pre].mean(axis=1),
                          "__did_post": df[post].mean(axis=1)})
        res = self.design.fit(df, outcome=change)
        assert isinstance(res, ComparisonResult)
        res.outcome = f"change in {name}"
        res.design = self.design_key
        res.method = f"Matched difference-in-differences: {res.method}"
        wt = res.weights
        rows = df.loc[wt.index]
        w = wt["weight"].to_numpy()
        t = wt["treated"].to_numpy() == 1

        def wmean(col: str, mask: np.ndarray) -> float:
            ww = w[mask]
            return float(np.sum(ww * rows[col].to_numpy(dtype=float)[mask]) / ww.sum())

        did = pd.DataFrame({
            "pre": [wmean("__did_pre", t), wmean("__did_pre", ~t)],
            "post": [wmean("__did_post", t), wmean("__did_post", ~t)],
        }, index=pd.Index(["pilot", "comparison (weighted)"], name="group"))
        did["change"] = did["post"] - did["pre"]
        did.loc["difference"] = did.loc["pilot"] - did.loc["comparison (weighted)"]
        res.tables["did"] = did
        per_rows = []
        for c in pre + post:
            m1, m0 = wmean(c, t), wmean(c, ~t)
            per_rows.append({"period": self._labels.get(c, c), "window": "pre" if c in pre
                             else "post", "pilot": m1, "comparison": m0,
                             "difference": m1 - m0})
        res.tables["periods"] = pd.DataFrame(per_rows)
        res.diagnostics["pre_period_difference"] = float(did.loc["difference", "pre"])
        if self._filled:
            res.diagnostics["person_periods_filled"] = self._filled
        return res


def _did_plot(periods: pd.DataFrame, ax: Axes | None = None, outcome: str = "",
              **kwargs: Any) -> Axes:
    from ..plotting import OKABE_ITO, get_axes

    ax = get_axes(ax)
    xs = np.arange(len(periods))
    ax.plot(xs, periods["pilot"], "o-", color=OKABE_ITO[0], label="Pilot group")
    ax.plot(xs, periods["comparison"], "s--", color=OKABE_ITO[1],
            label="Matched/weighted comparison")
    n_pre = int((periods["window"] == "pre").sum())
    if 0 < n_pre < len(periods):
        ax.axvline(n_pre - 0.5, color="black", lw=0.8, ls=":")
    ax.set_xticks(xs, [str(p) for p in periods["period"]], rotation=45, ha="right")
    ax.set_xlabel("Period")
    ax.set_ylabel(kwargs.get("ylabel", "Mean outcome per person"))
    ax.set_title(kwargs.get("title", f"Before and after the pilot start {outcome}".strip()))
    ax.legend(frameon=False)
    return ax
