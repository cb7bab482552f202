"""Early identification: who is heading for a crisis, validated honestly.

What it is for
--------------
Offering help **earlier** to people whose service-contact history looks like
the histories that came before a crisis (an A&E attendance, a homelessness
application, an arrest, care entry). It is never a reason to deny or ration a
service, and a score is a prompt for a practitioner's conversation, not a
decision.

Method
------
1. **Features** at each cut-off from events strictly before it
   (:mod:`evalkit.community.features`).
2. **Label**: 1 when the person had at least one unit of the crisis
   measure(s) in the ``horizon_months`` starting at the cut-off.
3. **Temporal validation**: the model is trained on people-at-earlier-cut-offs
   (by default three, ``horizon_months`` apart, the latest ending exactly
   where the test period starts, so no training label overlaps the test
   period) and tested once on a later cut-off. People appear at several
   training cut-offs, so standard errors are clustered by person.
4. **Models**: a logistic regression (statsmodels, the transparent default;
   count features enter as ``log1p`` and are standardised, so each odds
   ratio is per standard deviation) or scikit-learn's
   ``HistGradientBoostingClassifier`` (an option), whose scores are
   calibrated by isotonic regression on a held-out fold (the latest training
   cut-off, or a quarter of people when there is only one).
5. **Validation** on the test cut-off (:mod:`evalkit.community.metrics`):
   AUC with a DeLong interval, Brier score, calibration, reliability curve,
   and what flagging the top 5% would have meant; the same **by age band,
   sex and area deprivation** with a plain statement of the gaps.

Person-level predictions are for the analyst only and are marked **not for
publication**; :meth:`RiskModelResult.published_tables` gives only
aggregates, each with the number of people behind it for disclosure control.

Example
-------
>>> from evalkit.community.simulate import simulate_risk_data
>>> tables, truth = simulate_risk_data(1500, n_months=30, seed=3)
>>> res = fit_risk_model(tables, crisis="crisis", horizon_months=6)
>>> 0.6 < res.performance["auc"] < 1.0
True
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evaluate.result import Summary
from ._data import deprivation_band, get_tables, in_scope_mask
from .features import FeatureBuilder, OutcomeHistory, feature_label, month_number
from .history import EventHistory
from .metrics import (
    auc_delong,
    brier,
    calibration_stats,
    capture_table,
    flag_top,
    reliability_table,
    roc_table,
    wilson_interval,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["fit_risk_model", "RiskModelResult", "NOT_FOR_PUBLICATION", "FAIRNESS_GROUPS"]

#: The marker on every person-level table.
NOT_FOR_PUBLICATION = (
    "PERSON-LEVEL: NOT FOR PUBLICATION. For the analyst and the practitioners "
    "offering early help only; publish aggregates (published_tables()) after "
    "disclosure control."
)

#: Groupings the fairness checks use (``deprivation`` = IMD quintile).
FAIRNESS_GROUPS: tuple[str, ...] = ("age_band", "sex", "deprivation")

_CATEGORICAL = ("age_band", "sex")
_Z95 = 1.959963984540054


def _ts(m: int) -> pd.Timestamp:
    return pd.Timestamp(year=m // 12, month=m % 12 + 1, day=1)


# ---------------------------------------------------------------- design
class _Design:
    """Features -> model matrix (log1p + standardise; dummies; collinearity screen)."""

    def __init__(self, feature_names: list[str], demographics: Sequence[str],
                 min_level: int = 20) -> None:
        self.feature_names = list(feature_names)
        self.demographics = [d for d in demographics]
        self.min_level = min_level

    def fit(self, df: pd.DataFrame, y: np.ndarray | None = None) -> _Design:
        self.binary = [c for c in self.feature_names
                       if set(np.unique(df[c].to_numpy())) <= {0.0, 1.0}]
        self.logged = [c for c in self.feature_names if c not in self.binary]
        self.levels: dict[str, list[str]] = {}
        self.reference: dict[str, str] = {}
        for col in self.demographics:
            if col in _CATEGORICAL and col in df.columns:
                v = df[col].astype(object).where(df[col].notna(), "unknown").astype(str)
                counts = v.value_counts()
                ref = str(counts.index[0])
                self.reference[col] = ref
                self.levels[col] = [str(lv) for lv in counts.index[1:]
                                    if counts[lv] >= self.min_level]
        self.dep = "deprivation_decile" in self.demographics and (
            "deprivation_decile" in df.columns)
        if self.dep:
            d = pd.to_numeric(df["deprivation_decile"], errors="coerce")
            self.dep_fill = float(d.median()) if d.notna().any() else 5.5
            self.dep_missing = bool(d.isna().any())
        raw, names = self._raw(df)
        self.mean = raw.mean(axis=0)
        self.sd = raw.std(axis=0)
        keep = self.sd > 1e-12
        self.dropped = {n: "no variation in the training data" for n, k in zip(names, keep)
                        if not k}
        if y is not None:
            # a 0/1 column one of whose values never (or always) goes with a crisis
            # separates the data: its maximum-likelihood coefficient is infinite
            yb = np.asarray(y).astype(bool)
            for j in np.flatnonzero(keep):
                col = raw[:, j]
                if not np.isin(col, (0.0, 1.0)).all():
                    continue
                for v in (0.0, 1.0):
                    yy = yb[col == v]
                    if len(yy) and (yy.all() or not yy.any()):
                        keep[j] = False
                        self.dropped[names[j]] = (
                            f"separates the data (everyone with value {v:g} "
                            f"{'had' if yy.all() else 'had no'} crisis)")
                        break
        # collinearity screen in column order (Gram matrix of the kept columns)
        idx = list(np.flatnonzero(keep))
        sub = raw[:, idx]
        mu, sd = self.mean[idx], self.sd[idx]
        g = ((sub.T @ sub) / len(sub) - np.outer(mu, mu)) / np.outer(sd, sd)
        del sub
        chosen: list[int] = []
        for j in range(len(idx)):
            if chosen:
                gk = g[np.ix_(chosen, chosen)]
                b = np.linalg.lstsq(gk, g[chosen, j], rcond=None)[0]
                resid = g[j, j] - g[j, chosen] @ b
            else:
                resid = g[j, j]
            if resid > 1e-6:
                chosen.append(j)
            else:
                self.dropped[names[idx[j]]] = "a combination of other features (collinear)"
        self.cols = [idx[j] for j in chosen]
        self.names = [names[i] for i in self.cols]
        return self

    def _raw(self, df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        parts, names = [], []
        x = np.array(df[self.feature_names].to_numpy(dtype=np.float64), copy=True)
        logged = np.isin(self.feature_names, self.logged)
        x[:, logged] = np.log1p(np.maximum(x[:, logged], 0))
        parts.append(x)
        names += self.feature_names
        for col, levels in self.levels.items():
            v = df[col].astype(object).where(df[col].notna(), "unknown").astype(str).to_numpy()
            for lv in levels:
                parts.append((v == lv).astype(np.float64)[:, None])
                names.append(f"{col}={lv}")
        if self.dep:
            d = pd.to_numeric(df["deprivation_decile"], errors="coerce").to_numpy(dtype=float)
            parts.append(np.where(np.isnan(d), self.dep_fill, d)[:, None])
            names.append("deprivation_decile")
            if self.dep_missing:
                parts.append(np.isnan(d).astype(np.float64)[:, None])
                names.append("deprivation_decile=missing")
        return np.hstack(parts), names

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        raw, _ = self._raw(df)
        return (raw[:, self.cols] - self.mean[self.cols]) / self.sd[self.cols]


def _hgb_matrix(df: pd.DataFrame, feature_names: list[str], demographics: Sequence[str],
                levels: dict[str, list[str]] | None = None
                ) -> tuple[np.ndarray, list[str], list[bool], dict[str, list[str]]]:
    x = [df[feature_names].to_numpy(dtype=np.float64)]
    names = list(feature_names)
    cat = [False] * len(names)
    levels = {} if levels is None else levels
    fit = not levels
    for col in demographics:
        if col not in df.columns:
            continue
        if col == "deprivation_decile":
            x.append(pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)[:, None])
            names.append(col)
            cat.append(False)
        elif col in _CATEGORICAL:
            v = df[col].astype(object).where(df[col].notna(), "unknown").astype(str)
            if fit:
                levels[col] = sorted(v.unique())
            code = pd.Categorical(v, categories=levels[col]).codes.astype(float)
            code[code < 0] = np.nan
            x.append(code[:, None])
            names.append(col)
            cat.append(True)
    return np.hstack(x), names, cat, levels


# ---------------------------------------------------------------- models
@dataclass
class _Fitted:
    kind: str
    design: Any
    model: Any
    calibrator: Any = None
    calibration: str = "none"
    hgb_levels: dict = field(default_factory=dict)
    hgb_names: list = field(default_factory=list)
    demographics: tuple = ()

    def raw_scores(self, df: pd.DataFrame) -> np.ndarray:
        if self.kind == "logit":
            x = self.design.transform(df)
            eta = self.model["intercept"] + x @ self.model["beta"]
            return 1 / (1 + np.exp(-eta))
        x, _, _, _ = _hgb_matrix(df, self.design, self.demographics, self.hgb_levels)
        return self.model.predict_proba(x)[:, 1]

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        p = self.raw_scores(df)
        if self.calibrator is None:
            return p
        if self.calibration == "isotonic":
            return np.clip(self.calibrator.predict(p), 0.0, 1.0)
        a, b = self.calibrator
        lp = np.log(np.clip(p, 1e-9, 1 - 1e-9) / (1 - np.clip(p, 1e-9, 1 - 1e-9)))
        return 1 / (1 + np.exp(-(a + b * lp)))


def _logit_class():
    """statsmodels' Logit with a faster (same-result) Hessian product."""
    import statsmodels.api as sm

    class _Logit(sm.Logit):
        def hessian(self, params: np.ndarray) -> np.ndarray:
            x = self.exog
            lp = self.cdf(x @ params)
            return -(x.T @ (x * (lp * (1 - lp))[:, None]))

    return _Logit


def _newton_start(xc: np.ndarray, y: np.ndarray, max_rows: int = 100_000,
                  seed: int = 0) -> np.ndarray | None:
    """Starting values from Newton-Raphson on a random subsample (at most
    ``max_rows`` rows), so the full statsmodels fit needs only a few iterations."""
    n = len(y)
    if n <= max_rows:
        return None
    take = np.random.default_rng(seed).choice(n, max_rows, replace=False)
    xs, ys = xc[take], y[take]
    beta = np.zeros(xc.shape[1])
    for _ in range(30):
        p = 1 / (1 + np.exp(-(xs @ beta)))
        grad = xs.T @ (ys - p)
        hess = xs.T @ (xs * (p * (1 - p))[:, None])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return None
        beta += step
        if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 25:
            return None
        if np.max(np.abs(step)) < 1e-6:
            break
    return beta


def _fit_logit(x: np.ndarray, y: np.ndarray, groups: np.ndarray
               ) -> tuple[dict[str, Any], pd.DataFrame | None, list[str]]:
    """Maximum-likelihood logit with person-clustered SEs; ridge fallback.

    Columns are screened for collinearity beforehand, so statsmodels' rank
    check (a QR of the whole matrix) is skipped.
    """
    notes: list[str] = []
    xc = np.column_stack([np.ones(len(x)), x])
    start = _newton_start(xc, y)
    res = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = _logit_class()(y, xc, check_rank=False).fit(
                start_params=start, method="newton", maxiter=35, tol=1e-6, disp=0,
                cov_type="cluster",
                cov_kwds={"groups": groups})
        except (np.linalg.LinAlgError, ValueError, OverflowError):
            res = None
    sep = any("separation" in str(w.message).lower() for w in caught)
    ok = (res is not None and not sep and np.all(np.isfinite(res.params))
          and np.all(np.isfinite(res.bse)) and np.max(np.abs(res.params)) < 25)
    if ok and not res.mle_retvals.get("converged", False):
        # Newton's step test can stall at rounding level on near-collinear columns
        # although the (mean) score is zero: accept a zero score as convergence.
        score = np.asarray(res.mle_retvals.get("score", [np.inf]), dtype=float)
        ok = bool(np.max(np.abs(score)) < 1e-8)
    if ok:
        return ({"intercept": float(res.params[0]), "beta": np.asarray(res.params[1:])},
                pd.DataFrame({"coef": res.params[1:], "se": res.bse[1:]}), notes)
    notes.append("The maximum-likelihood logistic fit did not converge (a feature "
                 "separates crises perfectly or nearly so); coefficients come from a "
                 "ridge-penalised fit (penalty 1 on the standardised coefficients) and "
                 "have no standard errors.")
    beta = _ridge_logit(xc, y, lam=1.0)
    return ({"intercept": float(beta[0]), "beta": beta[1:].copy()},
            pd.DataFrame({"coef": beta[1:], "se": np.nan}), notes)


def _ridge_logit(xc: np.ndarray, y: np.ndarray, lam: float = 1.0) -> np.ndarray:
    """Newton-Raphson for the L2-penalised logit (intercept unpenalised)."""
    k = xc.shape[1]
    pen = np.full(k, lam)
    pen[0] = 0.0
    beta = np.zeros(k)
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(xc @ beta, -35, 35)))
        grad = xc.T @ (y - p) - pen * beta
        hess = xc.T @ (xc * (p * (1 - p))[:, None]) + np.diag(pen)
        step = np.linalg.solve(hess + 1e-10 * np.eye(k), grad)
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def _sklearn(what: str):
    """Import scikit-learn (the optional ``ml`` extra) or say how to get it."""
    try:
        import sklearn  # noqa: F401
    except ImportError:  # pragma: no cover - sklearn is installed in development
        raise InputError(f"{what} needs scikit-learn: pip install 'evalkit[ml]'.") from None


def _thread_limit(n_threads: int | None):
    """Limit BLAS/OpenMP threads (threadpoolctl, installed with scikit-learn)."""
    import contextlib

    if n_threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(n_threads))


# ---------------------------------------------------------------- result
class RiskModelResult:
    """A validated crisis-risk model: performance, calibration, capture, fairness.

    Attributes
    ----------
    settings : dict
        Crisis measure(s), horizon, cut-offs, model, calibration, windows.
    performance : dict
        Test-set AUC (with DeLong 95% interval), Brier, no-skill and scaled
        Brier, calibration-in-the-large, slope, observed/expected, and the
        training AUC (to show over-fitting).
    coefficients : DataFrame
        Logistic model: ``feature, label, coef, se, odds_ratio, ci_lower,
        ci_upper, pvalue`` (per standard deviation of ``log1p(count)``).
        Gradient boosting: permutation importance (fall in test AUC).
    reliability, roc, capture, fairness : DataFrame
        Aggregate validation tables (each with ``n_people``).
    gaps : list of str
        The plain statement of fairness gaps.
    notes : list of str
    excluded : DataFrame
        Event rows not used (by reason) and features dropped (with why).
    """

    def __init__(self, *, settings: dict, performance: dict, coefficients: pd.DataFrame,
                 reliability: pd.DataFrame, roc: pd.DataFrame, capture: pd.DataFrame,
                 fairness: pd.DataFrame, gaps: list[str], notes: list[str],
                 excluded: pd.DataFrame, predictions: pd.DataFrame, fitted: _Fitted,
                 builder: FeatureBuilder, population: np.ndarray) -> None:
        self.settings = settings
        self.performance = performance
        self.coefficients = coefficients
        self.reliability = reliability
        self.roc = roc
        self.capture = capture
        self.fairness = fairness
        self.gaps = gaps
        self.notes = notes
        self.excluded = excluded
        self._predictions = predictions
        self._fitted = fitted
        self._builder = builder
        self._population = population

    # ------------------------------------------------------------ person level
    def person_predictions(self) -> pd.DataFrame:
        """Test-cut-off predictions per person. **Not for publication.**

        Columns ``risk, flagged, crisis`` and the fairness groups; index
        ``person_id``. ``attrs["disclosure"]`` carries the warning.
        """
        out = self._predictions.copy()
        out.attrs["disclosure"] = NOT_FOR_PUBLICATION
        return out

    def score(self, cutoff: Any, *, top_share: float | None = None) -> pd.DataFrame:
        """Score everyone in the population at a new cut-off (e.g. today).

        Uses events strictly before ``cutoff`` and the fitted model. Returns
        ``risk``, ``rank`` (1 = highest) and ``flagged`` (top ``top_share``).
        **Not for publication** (``attrs["disclosure"]``).
        """
        s = self.settings["top_share"] if top_share is None else top_share
        f = self._builder.features(cutoff, self._population)
        p = self._fitted.predict(f)
        out = pd.DataFrame({"risk": p}, index=f.index)
        out["rank"] = pd.Series(p, index=f.index).rank(ascending=False, method="first"
                                                       ).astype(int)
        out["flagged"] = flag_top(p, s)
        out.attrs["disclosure"] = NOT_FOR_PUBLICATION
        out.attrs["cutoff"] = pd.Timestamp(cutoff)
        return out

    # ------------------------------------------------------------ aggregates
    @property
    def table_names(self) -> tuple[str, ...]:
        return ("performance", "coefficients", "reliability", "roc", "capture", "fairness")

    def to_frame(self, name: str = "performance") -> pd.DataFrame:
        """One aggregate table by name (see :attr:`table_names`).

        Person-level predictions are not available here on purpose: use
        :meth:`person_predictions` (not for publication).
        """
        if name == "performance":
            row = {"crisis": " + ".join(self.settings["crisis"]),
                   "horizon_months": self.settings["horizon_months"],
                   "model": self.settings["model_label"],
                   "test_cutoff": self.settings["test_cutoff"].date().isoformat(),
                   "n_people": self.performance["n_test"], **{
                       k: v for k, v in self.performance.items() if k != "n_test"}}
            return pd.DataFrame([row])
        if name in ("predictions", "person_predictions"):
            raise InputError("Person-level predictions are not published: use "
                             "result.person_predictions() (for the analyst only).")
        if name not in self.table_names:
            raise InputError(f"Unknown table {name!r}; tables are: "
                             f"{', '.join(self.table_names)}.")
        return getattr(self, name).copy()

    def published_tables(self) -> dict[str, pd.DataFrame]:
        """Aggregate tables only, each with ``n_people`` behind every row.

        Pass these through disclosure control before publishing (small cells in
        ``fairness`` and ``reliability`` may need suppression).
        """
        return {name: self.to_frame(name) for name in self.table_names}

    def headline(self) -> str:
        """What the model would have meant in practice, in one paragraph."""
        c = self.capture
        row = c.loc[np.isclose(c["top_share"], self.settings["top_share"])].iloc[0]
        h = self.settings["horizon_months"]
        s = self.settings["top_share"]
        p = self.performance
        return (
            f"Of the {s:.0%} of people the model flagged at "
            f"{self.settings['test_cutoff']:%d %B %Y} ({int(row['n_flagged']):,} people), "
            f"{int(row['crises_flagged']):,} ({row['ppv']:.0%}) went on to a crisis "
            f"({' or '.join(self.settings['crisis'])}) within {h} months, against "
            f"{row['base_rate']:.1%} of everyone: {row['lift']:.1f} times the base rate. "
            f"The flagged group held {row['sensitivity']:.0%} of the people who went on to "
            f"crisis; {int(row['crises_outside_flagged']):,} "
            f"({row['share_of_crises_outside']:.0%}) came from outside it. "
            f"AUC {p['auc']:.2f} (95% CI {p['auc_ci_lower']:.2f} to {p['auc_ci_upper']:.2f}), "
            f"Brier score {p['brier']:.3f} against {p['brier_no_skill']:.3f} for no skill."
        )

    def summary(self) -> Summary:
        s, p = self.settings, self.performance
        header = [
            ("Crisis", " + ".join(s["crisis"])),
            ("Horizon", f"{s['horizon_months']} months"),
            ("Model", s["model_label"]),
            ("Calibration", s["calibration"]),
            ("Training cut-offs", ", ".join(f"{c:%Y-%m}" for c in s["train_cutoffs"])),
            ("Test cut-off", f"{s['test_cutoff']:%Y-%m}"),
            ("Training rows", f"{s['n_train_rows']:,}"),
            ("Test people", f"{p['n_test']:,}"),
            ("AUC (95% CI)", f"{p['auc']:.3f} ({p['auc_ci_lower']:.3f}-{p['auc_ci_upper']:.3f})"),
            ("Training AUC", f"{p['auc_train']:.3f}"),
            ("Brier (no skill)", f"{p['brier']:.4f} ({p['brier_no_skill']:.4f})"),
            ("Observed/expected", f"{p['oe_ratio']:.2f}"),
            ("Calibration slope", f"{p['calibration_slope']:.2f}"),
            ("Crisis rate (test)", f"{p['prevalence']:.1%}"),
        ]
        cap = self.capture[["top_share", "n_flagged", "crises_flagged", "ppv", "sensitivity",
                            "crises_outside_flagged", "lift"]]
        top = self.coefficients.head(10)
        keep = [c for c in ("label", "odds_ratio", "ci_lower", "ci_upper", "pvalue",
                            "auc_drop") if c in top.columns]
        fair = self.fairness[["group_by", "group", "n_people", "crises", "auc", "oe_ratio",
                              "flag_rate", "sensitivity"]]
        notes = [self.headline(), *self.gaps, *self.notes,
                 "Person-level scores are not for publication; use published_tables()."]
        return Summary(f"Early identification: risk of {' + '.join(s['crisis'])}", header,
                       [("What flagging the top share would have meant", cap),
                        ("Strongest features", top[keep].set_index("label")
                         if "label" in keep else top),
                        ("Fairness", fair)], notes)

    def __repr__(self) -> str:
        p = self.performance
        return (f"<RiskModelResult {self.settings['model_label']}: "
                f"{' + '.join(self.settings['crisis'])} within "
                f"{self.settings['horizon_months']} months, test "
                f"{self.settings['test_cutoff']:%Y-%m}, n={p['n_test']:,}, "
                f"AUC={p['auc']:.3f}, Brier={p['brier']:.4f}>")

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_() + (
            f"<p><small>{html.escape(repr(self))}</small></p>")

    # ------------------------------------------------------------ plots
    def plot(self, kind: Literal["reliability", "roc", "fairness", "capture",
                                 "coefficients"] = "reliability",
             ax: Axes | None = None, *, by: str | None = None,
             metric: str = "sensitivity") -> Axes:
        """Chart one validation view.

        Parameters
        ----------
        kind : {"reliability", "roc", "fairness", "capture", "coefficients"}
            ``reliability``: observed against predicted risk by band, with
            95% intervals and the diagonal; ``roc``: the ROC curve;
            ``fairness``: ``metric`` by group (bars, grouped by variable);
            ``capture``: share of crises captured against share flagged;
            ``coefficients``: odds ratios (logit) or importance (boosting).
        by : str, optional
            For ``fairness``: one grouping (``age_band``, ``sex``,
            ``deprivation``); all by default.
        metric : str
            For ``fairness``: ``sensitivity`` (share of crises flagged),
            ``auc``, ``oe_ratio``, ``flag_rate``, ``ppv`` or ``brier``.
        """
        from ..plotting import GREY, OKABE_ITO, get_axes, palette

        crisis = " + ".join(self.settings["crisis"])
        if kind == "reliability":
            ax = get_axes(ax, figsize=(5.5, 5.0))
            r = self.reliability
            hi = float(max(r["ci_upper"].max(), r["mean_predicted"].max(), 0.01)) * 1.05
            ax.plot([0, hi], [0, hi], color=GREY, ls="--", lw=1, label="Perfect calibration")
            ax.errorbar(r["mean_predicted"], r["observed_rate"],
                        yerr=[r["observed_rate"] - r["ci_lower"],
                              r["ci_upper"] - r["observed_rate"]],
                        fmt="o-", color=OKABE_ITO[0], capsize=3,
                        label="Observed (95% interval)")
            ax.set_xlim(0, hi)
            ax.set_ylim(0, hi)
            ax.set_xlabel("Predicted risk (mean in band)")
            ax.set_ylabel("Observed share who went on to crisis")
            ax.set_title(f"Reliability: predicted vs observed risk of {crisis}")
            ax.legend(frameon=False)
        elif kind == "roc":
            ax = get_axes(ax, figsize=(5.5, 5.0))
            ax.plot([0, 1], [0, 1], color=GREY, ls="--", lw=1, label="No skill (AUC 0.5)")
            ax.plot(self.roc["false_positive_rate"], self.roc["true_positive_rate"],
                    color=OKABE_ITO[0], lw=2,
                    label=f"Model (AUC {self.performance['auc']:.2f})")
            ax.set_xlabel("False-positive rate (share of non-crisis people flagged)")
            ax.set_ylabel("True-positive rate (share of crises flagged)")
            ax.set_title(f"ROC curve: {crisis} within {self.settings['horizon_months']} "
                         "months")
            ax.legend(frameon=False, loc="lower right")
        elif kind == "capture":
            ax = get_axes(ax)
            x = np.linspace(0, 1, 101)
            fpr = self.roc["false_positive_rate"].to_numpy()
            tpr = self.roc["true_positive_rate"].to_numpy()
            prev = self.performance["prevalence"]
            flagged = prev * tpr + (1 - prev) * fpr
            ax.plot(flagged * 100, tpr * 100, color=OKABE_ITO[0], lw=2, label="Model")
            ax.plot(x * 100, x * 100, color=GREY, ls="--", lw=1, label="Random flagging")
            c = self.capture
            ax.scatter(c["top_share"] * 100, c["sensitivity"] * 100, color=OKABE_ITO[5],
                       zorder=3, label="Top 1%, 5%, 10%")
            ax.set_xlabel("People flagged (%)")
            ax.set_ylabel("People who went on to crisis who were flagged (%)")
            ax.set_title("What flagging the highest-risk people would have caught")
            ax.legend(frameon=False)
        elif kind == "fairness":
            ok = {"sensitivity", "auc", "oe_ratio", "flag_rate", "ppv", "brier"}
            if metric not in ok:
                raise InputError(f"metric must be one of {sorted(ok)}, got {metric!r}.")
            f = self.fairness if by is None else self.fairness[self.fairness["group_by"] == by]
            if f.empty:
                raise InputError(f"by={by!r}: no such grouping; groupings are "
                                 f"{sorted(self.fairness['group_by'].unique())}.")
            ax = get_axes(ax, figsize=(7.5, max(3.0, 0.32 * len(f) + 1)))
            cols = palette(f["group_by"].nunique())
            cmap = dict(zip(f["group_by"].unique(), cols))
            ypos = np.arange(len(f))[::-1]
            vals = f[metric].where(f["assessed"]).fillna(0)
            ax.barh(ypos, vals, color=[cmap[g] for g in f["group_by"]])
            if metric == "auc":
                err = np.vstack([f["auc"] - f["auc_ci_lower"], f["auc_ci_upper"] - f["auc"]])
                ax.errorbar(f["auc"], ypos, xerr=np.nan_to_num(err), fmt="none", color="black",
                            capsize=2)
            overall = {"sensitivity": self.capture.loc[np.isclose(
                self.capture["top_share"], self.settings["top_share"]), "sensitivity"].iloc[0],
                "auc": self.performance["auc"], "oe_ratio": self.performance["oe_ratio"],
                "flag_rate": self.settings["top_share"],
                "ppv": self.capture.loc[np.isclose(self.capture["top_share"],
                                                   self.settings["top_share"]), "ppv"].iloc[0],
                "brier": self.performance["brier"]}[metric]
            ax.axvline(overall, color=GREY, ls="--", lw=1, label="Everyone")
            ax.set_yticks(ypos)
            ax.set_yticklabels([f"{g}: {v}" + ("" if a else " (too few to assess)")
                                for g, v, a in zip(f["group_by"], f["group"], f["assessed"])])
            words = {"sensitivity": "Share of people who went on to crisis who were flagged",
                     "auc": "AUC (95% interval)", "oe_ratio": "Observed / expected crises",
                     "flag_rate": "Share of the group flagged",
                     "ppv": "Share of flagged who went on to crisis", "brier": "Brier score"}
            ax.set_xlabel(words[metric])
            ax.set_title(f"Fairness check: {words[metric].lower()} by group")
            ax.legend(frameon=False)
        elif kind == "coefficients":
            c = self.coefficients.head(15).iloc[::-1]
            ax = get_axes(ax, figsize=(7.5, max(3.0, 0.35 * len(c) + 1)))
            if "odds_ratio" in c.columns:
                ax.errorbar(c["odds_ratio"], np.arange(len(c)),
                            xerr=np.nan_to_num(np.vstack([c["odds_ratio"] - c["ci_lower"],
                                                          c["ci_upper"] - c["odds_ratio"]])),
                            fmt="o", color=OKABE_ITO[0], capsize=2)
                ax.axvline(1, color=GREY, ls="--", lw=1)
                ax.set_xscale("log")
                from matplotlib.ticker import FuncFormatter

                fmt = FuncFormatter(lambda v, _p: f"{v:g}")
                ax.xaxis.set_major_formatter(fmt)
                ax.xaxis.set_minor_formatter(fmt)
                ax.set_xlabel("Odds ratio per standard deviation (95% CI, log scale)")
            else:
                ax.barh(np.arange(len(c)), c["auc_drop"], color=OKABE_ITO[0])
                ax.set_xlabel("Fall in test AUC when the feature is shuffled")
            ax.set_yticks(np.arange(len(c)))
            ax.set_yticklabels(c["label"])
            ax.set_title("What the model leans on")
        else:
            raise InputError("kind must be 'reliability', 'roc', 'fairness', 'capture' or "
                             f"'coefficients', got {kind!r}.")
        return ax


# ---------------------------------------------------------------- fairness
def _fairness(pred: pd.DataFrame, groups: Sequence[str], min_size: int,
              min_crises: int) -> pd.DataFrame:
    rows = []
    for g in groups:
        if g not in pred.columns:
            continue
        for level, d in pred.groupby(g, sort=True, observed=True):
            y = d["crisis"].to_numpy(bool)
            p = d["risk"].to_numpy(float)
            fl = d["flagged"].to_numpy(bool)
            k = int(y.sum())
            enough = len(d) >= min_size and k >= min_crises and (len(d) - k) >= min_crises
            auc, se = auc_delong(y, p) if enough else (np.nan, np.nan)
            rows.append({
                "group_by": g, "group": str(level), "n_people": len(d), "crises": k,
                "prevalence": k / len(d), "mean_predicted": float(p.mean()),
                "oe_ratio": k / p.sum() if p.sum() > 0 else np.nan,
                "auc": auc, "auc_ci_lower": auc - _Z95 * se, "auc_ci_upper": auc + _Z95 * se,
                "brier": brier(y, p), "flagged": int(fl.sum()), "flag_rate": fl.mean(),
                "sensitivity": (fl & y).sum() / k if k else np.nan,
                "sensitivity_ci_lower": float(wilson_interval((fl & y).sum(), k)[0]) if k
                else np.nan,
                "sensitivity_ci_upper": float(wilson_interval((fl & y).sum(), k)[1]) if k
                else np.nan,
                "ppv": (fl & y).sum() / fl.sum() if fl.sum() else np.nan,
                "false_positive_rate": (fl & ~y).sum() / (~y).sum() if (~y).sum() else np.nan,
                "assessed": enough,
            })
    return pd.DataFrame(rows)


_GROUP_WORDS = {"age_band": "age band", "sex": "sex", "deprivation": "area deprivation"}


def _gap_statements(fair: pd.DataFrame, overall_sens: float, min_size: int,
                    min_crises: int, *, auc_gap: float = 0.05, sens_gap: float = 0.10,
                    oe_band: tuple[float, float] = (0.8, 1.25)) -> list[str]:
    out = []
    for g, d in fair.groupby("group_by", sort=False):
        word = _GROUP_WORDS.get(g, g)
        ok = d[d["assessed"]]
        few = d[~d["assessed"]]
        lines = []
        if len(ok) < 2:
            out.append(f"By {word}: too few people or crises in most groups to compare "
                       f"(need {min_size} people and {min_crises} with and without a crisis "
                       "per group).")
            continue
        lo, hi = ok.loc[ok["auc"].idxmin()], ok.loc[ok["auc"].idxmax()]
        overlap = lo["auc_ci_upper"] >= hi["auc_ci_lower"]
        gap = hi["auc"] - lo["auc"]
        lines.append(
            f"discrimination (AUC) ranged from {lo['auc']:.2f} ({lo['group']}) to "
            f"{hi['auc']:.2f} ({hi['group']}), a gap of {gap:.2f}"
            + (" (the 95% intervals overlap)" if overlap else
               " (the 95% intervals do not overlap)")
            + ("; this is a material gap" if gap > auc_gap and not overlap else ""))
        slo, shi = ok.loc[ok["sensitivity"].idxmin()], ok.loc[ok["sensitivity"].idxmax()]
        sgap = shi["sensitivity"] - slo["sensitivity"]
        s_overlap = slo["sensitivity_ci_upper"] >= shi["sensitivity_ci_lower"]
        lines.append(
            f"of the people who went on to crisis, {shi['sensitivity']:.0%} in {shi['group']} "
            f"were flagged against {slo['sensitivity']:.0%} in {slo['group']} "
            f"(overall {overall_sens:.0%}), a gap of {sgap * 100:.0f} percentage points"
            + (" (the 95% intervals overlap)" if s_overlap else
               " (the 95% intervals do not overlap)")
            + (f": people in {slo['group']} who are heading for crisis are less likely to "
               "be offered help early" if sgap > sens_gap and not s_overlap else ""))
        mis = ok[(ok["oe_ratio"] < oe_band[0]) | (ok["oe_ratio"] > oe_band[1])]
        if len(mis):
            parts = [f"{r['group']} (observed/expected {r['oe_ratio']:.2f}, risk "
                     f"{'under' if r['oe_ratio'] > 1 else 'over'}-stated)"
                     for _, r in mis.iterrows()]
            lines.append("calibration is off for " + "; ".join(parts))
        else:
            lines.append(f"calibration held in every group (observed/expected within "
                         f"{oe_band[0]:.2f}-{oe_band[1]:.2f})")
        text = f"By {word}: " + "; ".join(lines) + "."
        if len(few):
            text += (" Not assessed (too few people or crises): "
                     + ", ".join(map(str, few["group"])) + ".")
        out.append(text)
    return out


# ---------------------------------------------------------------- main
def fit_risk_model(
    data: Any,
    crisis: str | Sequence[str],
    *,
    horizon_months: int = 6,
    test_cutoff: Any = None,
    train_cutoffs: Sequence[Any] | None = None,
    n_train_cutoffs: int = 3,
    outcomes_end: Any = None,
    model: Literal["logit", "hgb"] = "logit",
    calibration: Literal["auto", "none", "isotonic", "sigmoid"] = "auto",
    windows: Sequence[int] = (90, 365),
    by: Literal["organisation", "partner"] = "organisation",
    features: Sequence[str] | None = None,
    demographics: Sequence[str] = ("age_band", "sex", "deprivation_decile"),
    prior_crisis: bool = True,
    population: Literal["in_scope", "all"] = "in_scope",
    top_share: float = 0.05,
    top_shares: Sequence[float] = (0.01, 0.05, 0.10),
    fairness_by: Sequence[str] = FAIRNESS_GROUPS,
    n_bins: int = 10,
    min_group_size: int = 50,
    min_group_crises: int = 10,
    window_days: int = 90,
    rereferral_days: int = 30,
    seed: int = 20240401,
    history: EventHistory | None = None,
    n_threads: int | None = 1,
) -> RiskModelResult:
    """Fit and temporally validate a model of crisis in the next ``horizon_months``.

    Parameters
    ----------
    data : Place or dict of DataFrame
        Needs ``people``, ``events`` and ``outcomes`` (``organisations``
        optional).
    crisis : str or sequence of str
        Outcome measure(s) that make a crisis (any positive value in the
        horizon), e.g. ``"ae_attendances"`` or ``["homeless_applications",
        "arrests"]``.
    horizon_months : int, default 6
        How far ahead the model looks.
    test_cutoff : date, optional
        First day of a month. Default: the latest cut-off whose horizon the
        outcome panel covers.
    train_cutoffs : sequence of dates, optional
        Default: ``n_train_cutoffs`` cut-offs ``horizon_months`` apart, the
        latest ``horizon_months`` before the test cut-off (dropping any
        without a full look-back of event history before it). Each training
        cut-off's horizon must end by the test cut-off.
    outcomes_end : date, optional
        Last month the outcome panel covers (default: its last period for the
        crisis measure; give it when the panel lists only non-zero months).
    model : {"logit", "hgb"}
        statsmodels logistic regression (default) or scikit-learn
        ``HistGradientBoostingClassifier``.
    calibration : {"auto", "none", "isotonic", "sigmoid"}
        ``auto``: none for the logit, isotonic for boosting. Otherwise a
        calibrator is fitted on a held-out fold (the latest training cut-off,
        or a quarter of people when there is one cut-off).
    windows, by, window_days, rereferral_days
        Feature settings (see :mod:`evalkit.community.features`).
    features : sequence of str, optional
        Use only these history features (names or shell-style patterns such
        as ``"org_365d:*"``); all by default. Fewer features is data
        minimisation and makes the model easier to explain.
    demographics : sequence of str
        People columns used as predictors (``age_band``, ``sex``,
        ``deprivation_decile``); ``()`` leaves them out (they are still used
        for the fairness checks).
    prior_crisis : bool, default True
        Add the crisis count in the longest window before the cut-off.
    population : {"in_scope", "all"}
        Whom to score.
    top_share : float, default 0.05
        Share of people flagged in the headline; ``top_shares`` lists those
        in the capture table.
    fairness_by : sequence of str
        Groupings for the fairness checks.
    n_bins : int
        Bands of the reliability curve.
    min_group_size, min_group_crises : int
        A group's AUC and gaps are assessed only with at least this many
        people, and this many with and without a crisis.
    seed : int
        For the boosting model and the held-out fold.
    history : EventHistory, optional
        A prepared event log to reuse (skips the sort).
    n_threads : int or None, default 1
        BLAS/OpenMP threads for the model fits. One thread is the default
        because oversubscribed threads on a busy 2-core machine slow the
        fits several-fold (measured: a 900,000-row Hessian took 2.5 s with
        the default threads and 0.4 s with one); ``None`` keeps the
        libraries' defaults.

    Returns
    -------
    RiskModelResult
    """
    with _thread_limit(n_threads):
        return _fit_risk_model(**{k: v for k, v in locals().items() if k != "n_threads"})


def _fit_risk_model(
    data: Any, crisis: str | Sequence[str], *, horizon_months: int, test_cutoff: Any,
    train_cutoffs: Sequence[Any] | None, n_train_cutoffs: int, outcomes_end: Any,
    model: str, calibration: str, windows: Sequence[int], by: Literal["organisation",
                                                                       "partner"],
    features: Sequence[str] | None, demographics: Sequence[str], prior_crisis: bool,
    population: str, top_share: float, top_shares: Sequence[float],
    fairness_by: Sequence[str], n_bins: int, min_group_size: int, min_group_crises: int,
    window_days: int, rereferral_days: int, seed: int, history: EventHistory | None,
) -> RiskModelResult:
    """The work of :func:`fit_risk_model` (inside its thread limit)."""
    tables, mapping, _ = get_tables(data, ("people", "events", "outcomes"), ("organisations",))
    people, events, outcomes = tables["people"], tables["events"], tables["outcomes"]
    crisis_list = [crisis] if isinstance(crisis, str) else list(crisis)
    if model not in ("logit", "hgb"):
        raise InputError(f"model must be 'logit' (logistic regression) or 'hgb' (gradient "
                         f"boosting), got {model!r}.")
    if calibration not in ("auto", "none", "isotonic", "sigmoid"):
        raise InputError("calibration must be 'auto', 'none', 'isotonic' or 'sigmoid', got "
                         f"{calibration!r}.")
    cal = ("none" if model == "logit" else "isotonic") if calibration == "auto" else calibration
    if not isinstance(horizon_months, (int, np.integer)) or horizon_months < 1:
        raise InputError(f"horizon_months must be a whole number of months >= 1, got "
                         f"{horizon_months!r}.")
    if not 0 < top_share < 1:
        raise InputError(f"top_share must be between 0 and 1 (e.g. 0.05), got {top_share!r}.")
    shares = sorted({float(s) for s in top_shares} | {float(top_share)})
    if any(not 0 < s < 1 for s in shares):
        raise InputError(f"top_shares must be between 0 and 1, got {list(top_shares)}.")
    if population not in ("in_scope", "all"):
        raise InputError(f"population must be 'in_scope' or 'all', got {population!r}.")
    bad_groups = [g for g in fairness_by if g not in FAIRNESS_GROUPS]
    if bad_groups:
        raise InputError(f"fairness_by: unknown grouping(s) {bad_groups}; use "
                         f"{list(FAIRNESS_GROUPS)}.")

    hist = history or EventHistory(events, people, organisation_partner=mapping,
                                   window_days=window_days, rereferral_days=rereferral_days)
    if hist.n_events == 0:
        raise InputError("events: no usable events (see the exclusions); the model needs "
                         "service-contact history.")
    oh = OutcomeHistory(outcomes, hist.person_ids, crisis_list)
    builder = FeatureBuilder(hist, people, windows=windows, by=by,
                             crisis_history=oh if prior_crisis else None)
    W = builder.windows[-1]
    lookback_months = math.ceil(max(W, 2 * builder.windows[0]) / 30.4375)
    first_event_month = month_number(pd.Timestamp(int(hist.day.min()), unit="D"),
                                     first_of_month=False)
    last_month = (month_number(outcomes_end, "outcomes_end") if outcomes_end is not None
                  else oh.last_month)
    h = int(horizon_months)
    notes: list[str] = []

    if test_cutoff is None:
        tm = last_month + 1 - h
    else:
        tm = month_number(test_cutoff, "test_cutoff")
        if tm + h - 1 > last_month:
            raise InputError(
                f"test_cutoff {_ts(tm):%Y-%m-%d}: its {h}-month horizon runs to "
                f"{_ts(tm + h - 1):%Y-%m}, past the outcome panel's last month "
                f"({_ts(last_month):%Y-%m}); choose an earlier cut-off or a shorter horizon.")
    earliest = first_event_month + lookback_months
    if train_cutoffs is None:
        if n_train_cutoffs < 1:
            raise InputError("n_train_cutoffs must be at least 1.")
        cand = [tm - h * k for k in range(n_train_cutoffs, 0, -1)]
        train_m = [m for m in cand if m >= earliest and m >= oh.first_month]
        if len(train_m) < len(cand):
            notes.append(f"{len(cand) - len(train_m)} training cut-off(s) dropped: less than "
                         f"{lookback_months} months of event history before them.")
        if not train_m:
            raise InputError(
                f"No training cut-off has a full look-back: events start "
                f"{_ts(first_event_month):%Y-%m}, the longest window needs {lookback_months} "
                f"months before a cut-off, and the test cut-off is {_ts(tm):%Y-%m}. Use a "
                "longer history, shorter windows, a shorter horizon, or give train_cutoffs.")
    else:
        train_m = sorted(month_number(c, "train_cutoffs") for c in train_cutoffs)
        if not train_m:
            raise InputError("train_cutoffs: give at least one date.")
        late = [m for m in train_m if m + h > tm]
        if late:
            raise InputError(
                f"train_cutoffs {[f'{_ts(m):%Y-%m-%d}' for m in late]}: their {h}-month "
                f"outcome window overlaps the test period starting {_ts(tm):%Y-%m-%d}; "
                "training labels must end by the test cut-off (honest temporal validation).")
        early = [m for m in train_m if m < oh.first_month]
        if early:
            raise InputError(f"train_cutoffs {[f'{_ts(m):%Y-%m-%d}' for m in early]} are before "
                             f"the outcome panel starts ({_ts(oh.first_month):%Y-%m}).")
    if tm < oh.first_month:
        raise InputError("The outcome panel is too short for a test cut-off after training.")

    pop = in_scope_mask(people) if population == "in_scope" else np.ones(len(people), bool)
    pop_codes = np.flatnonzero(pop)
    if len(pop_codes) == 0:
        raise InputError("people: nobody is in scope (in_scope is false for everyone).")

    def labelled(m: int) -> tuple[pd.DataFrame, np.ndarray]:
        f = builder.features(_ts(m), pop_codes)
        y = oh.totals(m, m + h)[pop_codes] > 0
        return f, y

    train_frames, ys, groups, cut_idx = [], [], [], []
    for i, m in enumerate(train_m):
        f, y = labelled(m)
        train_frames.append(f)
        ys.append(y)
        groups.append(pop_codes)
        cut_idx.append(np.full(len(y), i))
    ftrain = pd.concat(train_frames, axis=0, ignore_index=False)
    ytrain = np.concatenate(ys)
    gtrain = np.concatenate(groups)
    ctrain = np.concatenate(cut_idx)
    if ytrain.min() == ytrain.max():
        raise InputError(f"Training data: {'every' if ytrain.all() else 'no'} person had a "
                         f"crisis ({', '.join(crisis_list)}) in the training horizons, so "
                         "there is nothing to learn. Check the crisis measure and the dates.")
    ftest, ytest = labelled(tm)
    demo = [d for d in demographics if d in ftrain.columns]

    # held-out calibration fold
    fit_rows = np.ones(len(ytrain), dtype=bool)
    if cal != "none":
        if len(train_m) >= 2:
            fit_rows = ctrain < len(train_m) - 1
            notes.append(f"Calibrated ({cal}) on the latest training cut-off "
                         f"({_ts(train_m[-1]):%Y-%m}), held out from model fitting.")
        else:
            rng = np.random.default_rng(seed)
            held = rng.random(len(pop_codes)) < 0.25
            fit_rows = ~held[np.searchsorted(pop_codes, gtrain)]
            notes.append(f"Calibrated ({cal}) on a random quarter of people, held out from "
                         "model fitting.")
    names = _select_features(builder.feature_names, features)
    dropped: dict[str, str] = {}
    f_fit, y_fit = ftrain.iloc[fit_rows], ytrain[fit_rows]
    if y_fit.min() == y_fit.max():
        raise InputError("The model-fitting fold has no variation in the outcome; use "
                         "calibration='none' or more training cut-offs.")
    if model == "logit":
        design = _Design(names, demo).fit(f_fit, y_fit)
        dropped.update(design.dropped)
        x = design.transform(f_fit)
        params, coef, fit_notes = _fit_logit(x, y_fit.astype(float), gtrain[fit_rows])
        notes += fit_notes
        fitted = _Fitted("logit", design, params, demographics=tuple(demo))
        coef.insert(0, "feature", design.names)
        coef.insert(1, "label", [feature_label(n) for n in design.names])
        coef["odds_ratio"] = np.exp(coef["coef"])
        coef["ci_lower"] = np.exp(coef["coef"] - _Z95 * coef["se"])
        coef["ci_upper"] = np.exp(coef["coef"] + _Z95 * coef["se"])
        from scipy import stats

        coef["pvalue"] = 2 * stats.norm.sf(np.abs(coef["coef"] / coef["se"]))
        coef = coef.sort_values("coef", ascending=False, key=np.abs, kind="stable")
        coef = coef.reset_index(drop=True)
        model_label = "Logistic regression (statsmodels)"
    else:
        _sklearn("model='hgb'")
        from sklearn.ensemble import HistGradientBoostingClassifier

        xh, hn, cat, levels = _hgb_matrix(f_fit, names, demo)
        est = HistGradientBoostingClassifier(
            max_iter=300, learning_rate=0.05, max_leaf_nodes=31, l2_regularization=1.0,
            early_stopping=True, validation_fraction=0.1, n_iter_no_change=20,
            random_state=seed, categorical_features=np.array(cat, dtype=bool)
            if any(cat) else None)
        est.fit(xh, y_fit)
        fitted = _Fitted("hgb", names, est, hgb_levels=levels, hgb_names=hn,
                         demographics=tuple(demo))
        coef = pd.DataFrame({"feature": hn})  # filled with permutation importance below
        model_label = "Gradient boosting (scikit-learn HistGradientBoostingClassifier)"
    if cal != "none":
        held = ~fit_rows
        ph = fitted.raw_scores(ftrain.iloc[held])
        yh = ytrain[held]
        if cal == "isotonic":
            _sklearn("calibration='isotonic'")
            from sklearn.isotonic import IsotonicRegression

            fitted.calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0,
                                                   y_max=1.0).fit(ph, yh)
        else:
            cs = calibration_stats(yh, ph)
            if not np.isfinite(cs["slope"]):
                raise InputError("Sigmoid calibration failed: the held-out fold has too "
                                 "few crises. Use calibration='none' or 'isotonic'.")
            import statsmodels.api as sm

            lp = np.log(np.clip(ph, 1e-9, 1 - 1e-9) / (1 - np.clip(ph, 1e-9, 1 - 1e-9)))
            r = sm.GLM(yh.astype(float), sm.add_constant(lp),
                       family=sm.families.Binomial()).fit()
            fitted.calibrator = (float(r.params[0]), float(r.params[1]))
        fitted.calibration = cal

    ptest = fitted.predict(ftest)
    ptrain = fitted.predict(f_fit)
    auc, se = auc_delong(ytest, ptest)
    auc_tr, _ = auc_delong(y_fit, ptrain)
    prev = float(ytest.mean())
    cs = calibration_stats(ytest, ptest)
    b = brier(ytest, ptest)
    ref = prev * (1 - prev)
    performance = {
        "n_test": int(len(ytest)), "crises": int(ytest.sum()), "prevalence": prev,
        "auc": auc, "auc_se": se, "auc_ci_lower": auc - _Z95 * se,
        "auc_ci_upper": auc + _Z95 * se, "auc_train": auc_tr,
        "brier": b, "brier_no_skill": ref, "brier_scaled": 1 - b / ref if ref > 0 else np.nan,
        "mean_predicted": cs["mean_predicted"], "oe_ratio": cs["oe_ratio"],
        "calibration_intercept": cs["intercept"], "calibration_slope": cs["slope"],
    }
    if model == "hgb":
        coef = _permutation_importance(fitted, ftest, ytest, seed)

    # person-level (not for publication) and fairness
    flags = flag_top(ptest, top_share)
    pred = pd.DataFrame({"risk": ptest, "flagged": flags, "crisis": ytest},
                        index=ftest.index)
    for g in fairness_by:
        if g == "deprivation":
            if "deprivation_decile" in ftest.columns:
                pred[g] = deprivation_band(ftest["deprivation_decile"]).to_numpy()
        elif g in ftest.columns:
            pred[g] = ftest[g].astype(object).where(ftest[g].notna(), "unknown").to_numpy()
    missing_groups = [g for g in fairness_by if g not in pred.columns]
    if missing_groups:
        notes.append(f"Fairness not checked by {', '.join(missing_groups)}: the people table "
                     "has no such column.")
    fair = _fairness(pred, [g for g in fairness_by if g in pred.columns], min_group_size,
                     min_group_crises)
    cap = capture_table(ytest, ptest, shares)
    overall_sens = float(cap.loc[np.isclose(cap["top_share"], top_share), "sensitivity"].iloc[0])
    gaps = _gap_statements(fair, overall_sens, min_group_size, min_group_crises) if len(
        fair) else []
    rel = reliability_table(ytest, ptest, n_bins)
    roc = roc_table(ytest, ptest)
    roc["n_people"] = len(ytest)
    coef["n_people"] = int(len(np.unique(gtrain[fit_rows])))

    excluded = pd.concat([
        hist.excluded.assign(what="event rows").rename(columns={"rows": "count"}),
        pd.DataFrame({"reason": [f"feature {k} dropped: {v}" for k, v in dropped.items()],
                      "count": 1, "what": "features"}),
    ], ignore_index=True)[["what", "reason", "count"]]
    settings = {
        "crisis": crisis_list, "horizon_months": h, "test_cutoff": _ts(tm),
        "train_cutoffs": [_ts(m) for m in train_m], "model": model,
        "model_label": model_label, "calibration": cal, "windows": builder.windows,
        "by": by, "population": population, "top_share": float(top_share),
        "demographics": demo, "prior_crisis": prior_crisis,
        "n_train_rows": int(fit_rows.sum()),
        "n_calibration_rows": int((~fit_rows).sum()),
        "outcomes_end": _ts(last_month),
    }
    return RiskModelResult(settings=settings, performance=performance, coefficients=coef,
                           reliability=rel, roc=roc, capture=cap, fairness=fair, gaps=gaps,
                           notes=notes, excluded=excluded, predictions=pred, fitted=fitted,
                           builder=builder, population=pop_codes)


def _select_features(names: list[str], wanted: Sequence[str] | None) -> list[str]:
    """Feature names matching ``wanted`` (exact names or fnmatch patterns), in order."""
    if wanted is None:
        return list(names)
    import fnmatch

    pats = [wanted] if isinstance(wanted, str) else list(wanted)
    chosen: set[str] = set()
    for pat in pats:
        hit = [n for n in names if n == pat or fnmatch.fnmatchcase(n, pat)]
        if not hit:
            raise InputError(f"features: {pat!r} matches no feature; features are: "
                             f"{', '.join(names)}.")
        chosen.update(hit)
    return [n for n in names if n in chosen]


def _permutation_importance(fitted: _Fitted, f: pd.DataFrame, y: np.ndarray, seed: int,
                            max_rows: int = 20000, repeats: int = 3) -> pd.DataFrame:
    """Fall in test AUC when each feature (or demographic) is shuffled."""
    rng = np.random.default_rng(seed)
    if len(f) > max_rows:
        take = np.sort(rng.choice(len(f), max_rows, replace=False))
        f, y = f.iloc[take], y[take]
    base, _ = auc_delong(y, fitted.predict(f))
    cols = list(fitted.design) + list(fitted.demographics)
    rows = []
    for c in cols:
        drops = []
        for _ in range(repeats):
            g = f.copy()
            g[c] = g[c].to_numpy()[rng.permutation(len(g))]
            drops.append(base - auc_delong(y, fitted.predict(g))[0])
        rows.append({"feature": c, "label": feature_label(c), "auc_drop": float(np.mean(drops)),
                     "auc_drop_sd": float(np.std(drops))})
    out = pd.DataFrame(rows).sort_values("auc_drop", ascending=False, kind="stable")
    return out.reset_index(drop=True)
