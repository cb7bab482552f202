"""Propensity scores: logistic regression, common support and trimming.

The propensity score is the probability of being in the pilot given baseline
characteristics (Rosenbaum and Rubin 1983). :class:`PropensityScore` fits it
by logistic regression (statsmodels) from either a covariate list or a
formula, reports common support (the overlap of the treated and comparison
score ranges) and optionally trims people off support. Everyone left out is
listed with a reason in :attr:`PropensityScoreResult.excluded`.

This module also holds the input checks every comparison-group design shares
(:func:`prepare_sample`): a binary treatment column, covariates without
missing values, both groups present.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> df = pd.DataFrame({"age": rng.normal(40, 10, 400), "female": rng.integers(0, 2, 400)})
>>> df["treated"] = (rng.random(400) < 1 / (1 + np.exp(-(df.age - 40) / 10))).astype(int)
>>> ps = PropensityScore(covariates=["age", "female"]).fit(df)
>>> ps.n_treated + ps.n_control
400
>>> bool(ps.coefficients.loc["age", "coef"] > 0)
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "PropensityScore",
    "PropensityScoreResult",
    "Sample",
    "prepare_sample",
    "model_matrix",
    "EXCLUDED_COLUMNS",
]

#: Columns of every ``excluded`` table: who was left out, at which stage, why.
EXCLUDED_COLUMNS = ("id", "group", "stage", "reason")


# --------------------------------------------------------------------- inputs
def _group_label(d: np.ndarray) -> np.ndarray:
    return np.where(d == 1, "treated", "comparison")


def excluded_frame(ids: Any, d: np.ndarray, stage: str, reasons: Any) -> pd.DataFrame:
    """Build an ``excluded`` table (one row per person left out)."""
    ids = np.asarray(ids)
    n = len(ids)
    reasons = np.broadcast_to(np.asarray(reasons, dtype=object), (n,))
    return pd.DataFrame({
        "id": ids,
        "group": _group_label(np.asarray(d)),
        "stage": np.full(n, stage, dtype=object),
        "reason": reasons,
    }, columns=list(EXCLUDED_COLUMNS))


def treatment_array(data: pd.DataFrame, treatment: str) -> np.ndarray:
    """Return the treatment column as a float array of 0/1 with NaN for missing.

    Raises :class:`InputError` when the column is absent or holds anything
    other than 0/1 (or True/False).
    """
    if treatment not in data.columns:
        raise InputError(
            f"Treatment column {treatment!r} is not in the data (columns: "
            f"{_cols(data)}). Pass treatment='<column>' naming a 0/1 column that is 1 for "
            "people in the pilot and 0 for possible comparison people."
        )
    col = data[treatment]
    if pd.api.types.is_bool_dtype(col):
        vals = col.astype("float64").to_numpy()
    elif pd.api.types.is_numeric_dtype(col):
        vals = pd.to_numeric(col, errors="coerce").astype("float64").to_numpy()
    else:
        bad = col.dropna().unique()[:5]
        raise InputError(
            f"Treatment column {treatment!r} must be 0/1 (or True/False); it holds "
            f"{col.dtype} values such as {list(bad)!r}. Recode it to 1 = in the pilot, "
            "0 = not in the pilot."
        )
    ok = np.isnan(vals) | (vals == 0) | (vals == 1)
    if not ok.all():
        bad = pd.unique(vals[~ok])[:5]
        raise InputError(
            f"Treatment column {treatment!r} must hold only 0 and 1; found "
            f"{[float(b) for b in bad]!r} in {int((~ok).sum())} rows. Recode it to "
            "1 = in the pilot, 0 = not in the pilot."
        )
    return vals


def _cols(data: pd.DataFrame, k: int = 12) -> str:
    cols = [str(c) for c in data.columns]
    return ", ".join(cols[:k]) + (f", ... ({len(cols)} in all)" if len(cols) > k else "")


def _formula_sides(formula: str) -> tuple[str | None, str]:
    if not isinstance(formula, str) or not formula.strip():
        raise InputError(f"formula must be a non-empty string like 'treated ~ age + sex'; "
                         f"got {formula!r}.")
    if "~" in formula:
        lhs, rhs = formula.split("~", 1)
        lhs = lhs.strip() or None
    else:
        lhs, rhs = None, formula
    if not rhs.strip():
        raise InputError(f"formula {formula!r} has no right-hand side; list covariates after '~'.")
    return lhs, rhs.strip()


def formula_variables(rhs: str, data: pd.DataFrame) -> list[str]:
    """Data columns referenced by a formula's right-hand side (best effort)."""
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", rhs))
    quoted = set(re.findall(r"Q\(['\"]([^'\"]+)['\"]\)", rhs))
    return [c for c in data.columns if str(c) in tokens or str(c) in quoted]


def model_matrix(rhs: str, data: pd.DataFrame) -> pd.DataFrame:
    """Design matrix (without intercept) for a formula right-hand side.

    Uses patsy when installed (statsmodels' default formula engine), else
    formulaic. Categorical variables become treatment-coded dummies.
    """
    try:
        import patsy

        try:
            mm = patsy.dmatrix(rhs, data, return_type="dataframe", NA_action="raise")
        except patsy.PatsyError as exc:
            raise InputError(f"Could not build the model from formula '~ {rhs}': {exc}. "
                             "Check the spelling of column names and functions.") from exc
    except ImportError:  # pragma: no cover - patsy ships with statsmodels here
        import formulaic

        try:
            mm = pd.DataFrame(formulaic.model_matrix(rhs, data, na_action="raise"))
        except Exception as exc:
            raise InputError(f"Could not build the model from formula '~ {rhs}': {exc}. "
                             "Check the spelling of column names and functions.") from exc
    drop = [c for c in mm.columns if c in ("Intercept", "1")]
    return mm.drop(columns=drop).astype("float64")


def covariate_matrix(data: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Numeric design matrix from a covariate list (categoricals to dummies)."""
    parts = []
    for c in covariates:
        col = data[c]
        if pd.api.types.is_bool_dtype(col):
            parts.append(col.astype("float64").rename(str(c)))
        elif pd.api.types.is_numeric_dtype(col):
            parts.append(col.astype("float64").rename(str(c)))
        else:
            cat = col.astype("category")
            levels = list(cat.cat.categories)
            if len(levels) < 2:
                # a constant category carries no information; keep as a column of
                # ones so the balance table still lists it (dropped from models).
                parts.append(pd.Series(1.0, index=data.index, name=f"{c}[{levels[0]}]"
                                       if levels else str(c)))
                continue
            for lev in levels[1:]:
                parts.append((cat == lev).astype("float64").rename(f"{c}[{lev}]"))
    if not parts:
        return pd.DataFrame(index=data.index)
    # filled column by column into a (p, n) array so that pandas can hold it as
    # one block without copying (and to_numpy() returns it without copying)
    arr = np.empty((len(parts), len(data)))
    for j, part in enumerate(parts):
        arr[j] = part.to_numpy(dtype=float)
    return pd.DataFrame(arr.T, index=data.index, columns=[str(p.name) for p in parts],
                        copy=False)


@dataclass
class Sample:
    """The analysed sample after input checks (internal, shared by designs).

    Attributes
    ----------
    data : DataFrame
        Analysed rows (people with complete data), original index kept.
    ids : ndarray
        Person identifiers of the analysed rows.
    d : ndarray of int8
        Treatment (1 = pilot, 0 = comparison).
    X : DataFrame
        Covariate design matrix (no intercept) for the propensity model,
        balance and regression adjustment.
    rhs : str or None
        Formula right-hand side when a formula was used.
    excluded : DataFrame
        People removed before analysis (missing data), with reasons.
    """

    data: pd.DataFrame
    ids: np.ndarray
    d: np.ndarray
    X: pd.DataFrame
    rhs: str | None
    covariates: list[str]
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=list(EXCLUDED_COLUMNS)))

    @property
    def n(self) -> int:
        return len(self.d)

    def subset(self, keep: np.ndarray) -> Sample:
        keep = np.asarray(keep, dtype=bool)
        return Sample(self.data.loc[keep], self.ids[keep], self.d[keep],
                      self.X.loc[keep], self.rhs, self.covariates, self.excluded)

    def take(self, rows: np.ndarray) -> Sample:
        """Rows by position (used by the bootstrap; duplicates allowed)."""
        data = self.data.iloc[rows].reset_index(drop=True)
        X = self.X.iloc[rows].reset_index(drop=True)
        return Sample(data, self.ids[rows], self.d[rows], X, self.rhs, self.covariates,
                      self.excluded)


def prepare_sample(
    data: pd.DataFrame,
    *,
    treatment: str,
    covariates: Sequence[str] | None = None,
    formula: str | None = None,
    extra_columns: Sequence[str] = (),
    id: str | None = None,
    missing: str = "error",
    require_covariates: bool = True,
) -> Sample:
    """Check the inputs every design shares and build the analysed sample.

    Parameters
    ----------
    data : DataFrame
        One row per person.
    treatment : str
        0/1 column (1 = in the pilot).
    covariates : list of str, optional
        Baseline covariates; categorical columns become dummies.
    formula : str, optional
        Alternative to ``covariates``: ``"treated ~ age + I(age**2) + C(area)"``
        (or just the right-hand side).
    extra_columns : list of str
        Further numeric columns that must be complete (outcomes, exposure).
    id : str, optional
        Person identifier column; ``person_id`` when present, else the index.
    missing : {"error", "drop"}
        What to do with missing values in the treatment, covariates or
        ``extra_columns``: raise :class:`InputError` (default) or drop those
        people and list them in ``excluded``.
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame with one row per person; got "
                         f"{type(data).__name__}.")
    if missing not in ("error", "drop"):
        raise InputError(f"missing must be 'error' or 'drop'; got {missing!r}.")
    if len(data) == 0:
        raise InputError("data has no rows: pass the table of people (one row per person).")
    if formula is not None and covariates is not None:
        raise InputError("Give either covariates=[...] or formula='...', not both.")
    rhs = None
    if formula is not None:
        lhs, rhs = _formula_sides(formula)
        if lhs is not None and lhs != treatment:
            if lhs in data.columns:
                treatment = lhs
            else:
                raise InputError(f"The formula's left-hand side {lhs!r} is not a column of the "
                                 f"data; it should be the treatment column ({treatment!r}).")
        cov_cols = formula_variables(rhs, data)
        if require_covariates and not cov_cols:
            raise InputError(f"None of the variables in formula '~ {rhs}' is a column of the "
                             f"data (columns: {_cols(data)}).")
    else:
        cov_cols = list(covariates or [])
        if isinstance(covariates, str):
            cov_cols = [covariates]
        if require_covariates and not cov_cols:
            raise InputError("No covariates given: pass covariates=['age', 'sex', ...] or "
                             "formula='treated ~ age + sex' describing who joins the pilot.")
        missing_cols = [c for c in cov_cols if c not in data.columns]
        if missing_cols:
            raise InputError(f"Covariate column(s) {missing_cols!r} not in the data (columns: "
                             f"{_cols(data)}). Check the spelling or add the column.")
        if treatment in cov_cols:
            raise InputError(f"The treatment column {treatment!r} cannot also be a covariate.")

    d = treatment_array(data, treatment)
    if id is None:
        ids = (data["person_id"].to_numpy() if "person_id" in data.columns
               else data.index.to_numpy())
    else:
        if id not in data.columns:
            raise InputError(f"id column {id!r} is not in the data (columns: {_cols(data)}).")
        ids = data[id].to_numpy()

    for c in extra_columns:
        if c not in data.columns:
            raise InputError(f"Column {c!r} is not in the data (columns: {_cols(data)}).")
        if not (pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c])):
            raise InputError(f"Column {c!r} must be numeric; it holds {data[c].dtype} values "
                             f"such as {list(data[c].dropna().unique()[:3])!r}.")

    # ---- missing values: error (naming column and rows) or drop with reasons
    checks: list[tuple[str, np.ndarray]] = [(treatment, np.isnan(d))]
    for c in cov_cols:
        checks.append((c, data[c].isna().to_numpy()))
    for c in extra_columns:
        checks.append((c, data[c].isna().to_numpy()))
    reasons = np.full(len(data), None, dtype=object)
    for c, miss in checks:
        if miss.any():
            if missing == "error":
                first = data.index[np.flatnonzero(miss)[:3]].tolist()
                role = ("treatment" if c == treatment else
                        "covariate" if c in cov_cols else "column")
                raise InputError(
                    f"{role.capitalize()} column {c!r} has {int(miss.sum())} missing value(s) "
                    f"(e.g. rows {first}). Fill them in, remove those people, or pass "
                    "missing='drop' to leave them out (they are then counted and listed in "
                    "the result's excluded table)."
                )
            new = miss & pd.isna(reasons)
            reasons[new] = f"missing value in {c!r}"
    drop = ~pd.isna(reasons)
    excluded = excluded_frame(ids[drop], np.nan_to_num(d[drop], nan=-1), "missing data",
                              reasons[drop])
    keep = ~drop
    if drop.any():
        data_k = data.loc[keep]
        d_k = d[keep].astype(np.int8)
        ids_k = ids[keep]
    else:
        data_k, d_k, ids_k = data, d.astype(np.int8), ids
    n1 = int(d_k.sum())
    n0 = int(len(d_k) - n1)
    if n1 == 0:
        raise InputError(
            f"No treated people: treatment column {treatment!r} is 0 for every analysed row"
            f"{' after dropping missing data' if drop.any() else ''}. Check that pilot "
            "participants are coded 1."
        )
    if n0 == 0:
        raise InputError(
            f"No comparison people: treatment column {treatment!r} is 1 for every analysed row. "
            "Add people who were not in the pilot (coded 0) to compare with."
        )
    if rhs is not None:
        X = model_matrix(rhs, data_k)
    else:
        X = covariate_matrix(data_k, cov_cols)
    X.index = data_k.index
    return Sample(data_k, ids_k, d_k, X, rhs, cov_cols, excluded)


# ------------------------------------------------------------------- fitting
def separation_candidates(X: pd.DataFrame, d: np.ndarray) -> list[str]:
    """Covariates that (quasi-)perfectly separate treated from comparison people.

    A column separates when the treated and comparison ranges do not overlap,
    or when one of its values (for a binary column) occurs in only one group.
    """
    out = []
    t = d == 1
    for name in X.columns:
        x = X[name].to_numpy()
        xt, xc = x[t], x[~t]
        if xt.min() > xc.max() or xt.max() < xc.min():
            out.append(f"{name} (treated and comparison ranges do not overlap)")
            continue
        vals = np.unique(x)
        if len(vals) <= 2:
            for v in vals:
                in_t, in_c = bool((xt == v).any()), bool((xc == v).any())
                if in_t != in_c:
                    who = "treated" if in_t else "comparison"
                    out.append(f"{name} = {v:g} occurs only among {who} people")
    return out


@dataclass
class LogitFit:
    """Maximum-likelihood logistic regression (what :func:`fit_logit` returns).

    The same estimates, standard errors and likelihoods as statsmodels'
    ``Logit`` (Newton-Raphson on the log-likelihood); written out so that a
    million-row model fits in a couple of seconds with a warm start from a
    subsample.
    """

    params: np.ndarray
    cov: np.ndarray
    llf: float
    llnull: float
    nobs: int
    iterations: int
    converged: bool

    def cov_params(self) -> np.ndarray:
        return self.cov

    @property
    def bse(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0, None))

    @property
    def prsquared(self) -> float:
        """McFadden's pseudo R-squared."""
        return float(1 - self.llf / self.llnull) if self.llnull != 0 else float("nan")


def _loglik_eta(eta: np.ndarray, d: np.ndarray) -> float:
    return float(d @ eta - np.logaddexp(0, eta).sum())


def _hessian(Z1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``Z1' diag(w) Z1`` as ``A'A`` with ``A = sqrt(w) Z1`` (numpy calls BLAS syrk)."""
    A = Z1 * np.sqrt(w)[:, None]
    return A.T @ A


def _newton_logit(Z1: np.ndarray, d: np.ndarray, b0: np.ndarray, maxiter: int
                  ) -> tuple[np.ndarray, float, int, bool, bool]:
    """Newton-Raphson with step halving. Returns (b, llf, iterations, converged,
    singular_hessian)."""
    from scipy.special import expit

    b = b0.copy()
    eta = Z1 @ b
    ll = _loglik_eta(eta, d)
    for it in range(1, maxiter + 1):
        p = expit(eta)
        g = Z1.T @ (d - p)
        H = _hessian(Z1, p * (1 - p))
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            return b, ll, it, False, True
        t = 1.0
        while True:
            bn = b + t * step
            etan = Z1 @ bn
            lln = _loglik_eta(etan, d)
            if lln >= ll - 1e-12 * abs(ll) or t < 1e-10:
                break
            t /= 2
        b, ll, eta = bn, lln, etan
        if np.max(np.abs(t * step)) < 1e-7 * (1 + np.max(np.abs(b))):
            return b, ll, it, True, False
        if it >= 15 and np.max(np.abs(eta)) > 35:
            # fitted probabilities within 1e-15 of 0 or 1 and still moving:
            # the likelihood has no maximum (separation)
            return b, ll, it, False, False
    return b, ll, maxiter, False, False


def fit_logit(X: pd.DataFrame, d: np.ndarray, *, maxiter: int = 100
              ) -> tuple[np.ndarray, LogitFit, np.ndarray, np.ndarray]:
    """Logistic regression of ``d`` on ``X`` (with intercept) by maximum likelihood.

    The design is standardised internally for numerical stability; returns the
    linear predictor, the :class:`LogitFit` on the standardised design, and
    the centring and scaling used. Large samples (over 200,000 rows) start
    from a fit on a random 100,000-row subsample.

    Raises :class:`InputError` on perfect or quasi-perfect separation, naming
    the covariates responsible where one column is.
    """
    Xv = X.to_numpy(dtype=float)
    n, q = Xv.shape[0], Xv.shape[1] + 1
    const = Xv.max(axis=0) == Xv.min(axis=0)
    if const.any():
        names = [str(c) for c, k in zip(X.columns, const) if k]
        raise InputError(
            f"Covariate(s) {names} take a single value for every analysed person, so they "
            "cannot predict who joins the pilot. Remove them from the propensity model."
        )
    sub_rows = None if n <= 200_000 else np.sort(
        np.random.default_rng(0).choice(n, 100_000, replace=False))
    # centring and scaling only condition the problem; for big data the
    # subsample's moments are as good as the full data's
    Xs = Xv if sub_rows is None else Xv[sub_rows]
    mu = Xs.mean(axis=0)
    sd = Xs.std(axis=0)
    sd = np.where(sd > 0, sd, np.maximum(np.abs(mu), 1.0))
    Z1 = np.empty((n, q))
    Z1[:, 0] = 1.0
    np.subtract(Xv, mu, out=Z1[:, 1:])
    Z1[:, 1:] /= sd
    sub = Z1 if sub_rows is None else Z1[sub_rows]
    G = sub.T @ sub
    ev = np.linalg.eigvalsh(G)
    rank = int(np.sum(ev > ev.max() * q * 1e-12))
    if rank < q:
        raise InputError(
            f"The propensity model's covariates are collinear (rank {rank} < {q} terms): "
            f"some column is an exact combination of others (columns: "
            f"{list(map(str, X.columns))}). Remove duplicated or redundant covariates, e.g. "
            "one dummy per category."
        )
    df = d.astype(float)
    pbar = float(df.mean())
    b0 = np.zeros(q)
    b0[0] = np.log(pbar / (1 - pbar))
    if sub_rows is not None:
        ds = df[sub_rows]
        if 0 < ds.sum() < len(ds):
            bs, _, _, ok, sing = _newton_logit(sub, ds, b0, maxiter)
            if ok and not sing and np.all(np.isfinite(bs)):
                b0 = bs
    b, llf, iters, converged, singular = _newton_logit(Z1, df, b0, maxiter)
    from scipy.special import expit

    p = expit(Z1 @ b)
    sep = singular or not converged or (
        p[df == 1].min() > 1 - 1e-10 and p[df == 0].max() < 1e-10)
    if sep:
        cands = separation_candidates(X, d)
        detail = ("; ".join(cands) if cands else
                  "a combination of covariates predicts treatment (almost) perfectly")
        raise InputError(
            "Perfect separation in the propensity model: " + detail + ". The treated and "
            "comparison groups cannot be compared on these characteristics. Remove or "
            "coarsen the covariate(s), drop comparison people who cannot resemble any "
            "participant (e.g. a category no participant has), or use exact matching on it."
        )
    cov = np.linalg.inv(_hessian(Z1, p * (1 - p)))
    llnull = float(n * (pbar * np.log(pbar) + (1 - pbar) * np.log(1 - pbar)))
    fit = LogitFit(params=b, cov=cov, llf=llf, llnull=llnull, nobs=n, iterations=iters,
                   converged=converged)
    return Z1 @ b, fit, mu, sd


@dataclass(repr=False)
class PropensityScoreResult:
    """A fitted propensity score with its common-support report.

    Attributes
    ----------
    score, logit : ndarray
        Propensity score and its logit for the analysed people (after any
        trimming), aligned with ``ids`` and ``d``.
    ids, d : ndarray
        Person identifiers and treatment of the analysed people.
    coefficients : DataFrame
        Logistic regression coefficients on the original covariate scale
        (``coef, se, z, pvalue``).
    support : DataFrame
        Score range, and counts below/above the common-support region, by group.
    excluded : DataFrame
        People left out (missing data, trimmed off support) with reasons.
    model : LogitFit
        The fit on the internally standardised design (``params``,
        ``cov_params()``, ``llf``, ``prsquared``).
    """

    score: np.ndarray
    logit: np.ndarray
    ids: np.ndarray
    d: np.ndarray
    coefficients: pd.DataFrame
    support: pd.DataFrame
    excluded: pd.DataFrame
    model: Any
    keep: np.ndarray
    trim: Any = None
    all_score: np.ndarray | None = None
    all_d: np.ndarray | None = None
    all_logit: np.ndarray | None = None
    center: np.ndarray | None = None
    scale: np.ndarray | None = None

    def design(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The standardised design ``[1, (X - center) / scale]`` the model was fitted on."""
        Xv = np.asarray(X, dtype=float)
        return np.column_stack([np.ones(len(Xv)), (Xv - self.center) / self.scale])

    @property
    def n_treated(self) -> int:
        return int(self.d.sum())

    @property
    def n_control(self) -> int:
        return int(len(self.d) - self.d.sum())

    def to_frame(self) -> pd.DataFrame:
        """One row per analysed person: id, treatment, score, logit."""
        return pd.DataFrame({"id": self.ids, "treated": self.d, "propensity": self.score,
                             "logit_propensity": self.logit})

    def summary(self):
        from .result import Summary

        header = [("N treated", f"{self.n_treated:,}"), ("N comparison", f"{self.n_control:,}"),
                  ("Excluded", f"{len(self.excluded):,}"),
                  ("Trimming", str(self.trim) if self.trim is not None else "none"),
                  ("Pseudo R-squared", f"{self.model.prsquared:.3f}")]
        return Summary("Propensity score model (logistic regression)", header,
                       [("Coefficients", self.coefficients), ("Common support", self.support)])

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Overlap plot: distributions of the score in each group."""
        return overlap_plot(self.all_score if self.all_score is not None else self.score,
                            self.all_d if self.all_d is not None else self.d, ax=ax, **kwargs)

    def __repr__(self) -> str:
        return (f"<PropensityScoreResult: {self.n_treated:,} treated, {self.n_control:,} "
                f"comparison, {len(self.excluded):,} excluded>")

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def overlap_plot(score: np.ndarray, d: np.ndarray, ax: Axes | None = None,
                 bins: int = 40, **kwargs: Any) -> Axes:
    """Histograms (densities) of the propensity score for each group."""
    from ..plotting import OKABE_ITO, get_axes

    ax = get_axes(ax)
    edges = np.linspace(0, 1, bins + 1)
    for grp, colour, label in ((1, OKABE_ITO[0], "Pilot (treated)"),
                               (0, OKABE_ITO[1], "Comparison")):
        s = score[d == grp]
        if len(s):
            ax.hist(s, bins=edges, density=True, alpha=0.5, color=colour, label=f"{label}, "
                    f"n={len(s):,}")
    ax.set_xlabel("Propensity score (probability of being in the pilot)")
    ax.set_ylabel("Density")
    ax.set_title(kwargs.get("title", "Overlap of propensity scores"))
    ax.legend(frameon=False)
    return ax


def _raw_coefficients(res: Any, mu: np.ndarray, sd: np.ndarray, names: list[str]
                      ) -> pd.DataFrame:
    """Map standardised-design coefficients back to the covariates' own scale."""
    from scipy import stats

    p = len(names)
    # beta_raw = T @ beta_std with T linear
    T = np.zeros((p + 1, p + 1))
    T[0, 0] = 1.0
    T[0, 1:] = -mu / sd
    T[1:, 1:] = np.diag(1 / sd)
    b = T @ res.params
    V = T @ res.cov_params() @ T.T
    se = np.sqrt(np.clip(np.diag(V), 0, None))
    z = np.divide(b, se, out=np.full_like(b, np.nan), where=se > 0)
    return pd.DataFrame({"coef": b, "se": se, "z": z, "pvalue": 2 * stats.norm.sf(np.abs(z))},
                        index=["Intercept", *names])


def support_bounds(score: np.ndarray, d: np.ndarray, trim: Any
                   ) -> tuple[np.ndarray, np.ndarray, str]:
    """Keep mask and reason per person for a trimming rule."""
    t = d == 1
    n = len(score)
    reason = np.full(n, None, dtype=object)
    if trim is None or trim is False:
        return np.ones(n, dtype=bool), reason, "none"
    if isinstance(trim, str):
        if trim != "minmax":
            raise InputError(f"trim must be None, 'minmax', a number a in (0, 0.5) to keep "
                             f"scores in [a, 1-a], or a (low, high) pair; got {trim!r}.")
        lo = max(score[t].min(), score[~t].min())
        hi = min(score[t].max(), score[~t].max())
        rule = f"common support (min-max) [{lo:.4g}, {hi:.4g}]"
    elif isinstance(trim, (int, float)) and not isinstance(trim, bool):
        if not 0 < trim < 0.5:
            raise InputError(f"trim as a number must be in (0, 0.5) (Crump et al. 2009 use "
                             f"0.1); got {trim!r}.")
        lo, hi = float(trim), 1 - float(trim)
        rule = f"score in [{lo:g}, {hi:g}]"
    elif isinstance(trim, (tuple, list)) and len(trim) == 2:
        lo, hi = (float(v) for v in trim)
        if not 0 <= lo < hi <= 1:
            raise InputError(f"trim=(low, high) needs 0 <= low < high <= 1; got {trim!r}.")
        rule = f"score in [{lo:g}, {hi:g}]"
    else:
        raise InputError(f"trim must be None, 'minmax', a number in (0, 0.5) or a (low, high) "
                         f"pair; got {trim!r}.")
    below, above = score < lo, score > hi
    reason[below] = f"propensity score below {lo:.4g} (off common support)"
    reason[above] = f"propensity score above {hi:.4g} (off common support)"
    return ~(below | above), reason, rule


def support_table(score: np.ndarray, d: np.ndarray) -> pd.DataFrame:
    """Score ranges and counts outside the other group's range, by group."""
    t = d == 1
    rows = []
    for grp, mask, other in (("treated", t, ~t), ("comparison", ~t, t)):
        s, o = score[mask], score[other]
        rows.append({
            "group": grp, "n": int(mask.sum()),
            "score_min": float(s.min()), "score_median": float(np.median(s)),
            "score_max": float(s.max()),
            "n_below_other_min": int((s < o.min()).sum()),
            "n_above_other_max": int((s > o.max()).sum()),
        })
    return pd.DataFrame(rows).set_index("group")


class PropensityScore:
    """Logistic-regression propensity score with a common-support report.

    Parameters
    ----------
    treatment : str, default "treated"
        0/1 column, 1 = in the pilot.
    covariates : list of str, optional
        Baseline covariates (categoricals become dummies).
    formula : str, optional
        Instead of ``covariates``: a formula such as
        ``"treated ~ age + I(age**2) + educ:re74 + C(area)"`` (patsy syntax).
    trim : None, "minmax", float or (low, high), default None
        ``None`` reports support only; ``"minmax"`` drops people outside the
        overlap of the two groups' score ranges; ``a`` keeps scores in
        ``[a, 1 - a]`` (Crump et al. 2009 suggest 0.1, suited to the ATE);
        ``(low, high)`` keeps scores in that interval. The model is not
        refitted after trimming.
    missing : {"error", "drop"}, default "error"
        Missing covariates raise an error, or drop the person with a reason.
    id : str, optional
        Person identifier column (``person_id`` when present, else the index).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=300)})
    >>> df["treated"] = (rng.random(300) < 1 / (1 + np.exp(-2 * df.x))).astype(int)
    >>> res = PropensityScore(covariates=["x"], trim="minmax").fit(df)
    >>> int(res.support.loc["treated", "n"]) + int(res.support.loc["comparison", "n"])
    300
    """

    def __init__(self, *, treatment: str = "treated", covariates: Sequence[str] | None = None,
                 formula: str | None = None, trim: Any = None, missing: str = "error",
                 id: str | None = None, maxiter: int = 100) -> None:
        self.treatment = treatment
        self.covariates = covariates
        self.formula = formula
        self.trim = trim
        self.missing = missing
        self.id = id
        self.maxiter = maxiter

    def fit(self, data: pd.DataFrame) -> PropensityScoreResult:
        """Fit the model on ``data`` (one row per person)."""
        sample = prepare_sample(data, treatment=self.treatment, covariates=self.covariates,
                                formula=self.formula, id=self.id, missing=self.missing)
        return self.fit_sample(sample)

    def fit_sample(self, sample: Sample) -> PropensityScoreResult:
        """Fit on an already checked :class:`Sample` (used by the designs)."""
        lin, res, mu, sd = fit_logit(sample.X, sample.d, maxiter=self.maxiter)
        score = 1 / (1 + np.exp(-lin))
        support = support_table(score, sample.d)
        keep, reason, rule = support_bounds(score, sample.d, self.trim)
        trimmed = excluded_frame(sample.ids[~keep], sample.d[~keep], "common support",
                                 reason[~keep])
        excluded = pd.concat([sample.excluded, trimmed], ignore_index=True) \
            if len(trimmed) else sample.excluded.copy()
        support["n_trimmed"] = [int((~keep & (sample.d == 1)).sum()),
                                int((~keep & (sample.d == 0)).sum())]
        if keep.any() and not (sample.d[keep] == 1).any():
            raise InputError(f"Trimming ({rule}) removed every treated person; relax trim.")
        if keep.any() and not (sample.d[keep] == 0).any():
            raise InputError(f"Trimming ({rule}) removed every comparison person; relax trim.")
        coefs = _raw_coefficients(res, mu, sd, [str(c) for c in sample.X.columns])
        return PropensityScoreResult(
            score=score[keep], logit=lin[keep], ids=sample.ids[keep], d=sample.d[keep],
            coefficients=coefs, support=support, excluded=excluded, model=res, keep=keep,
            trim=rule if rule != "none" else None, all_score=score, all_d=sample.d,
            all_logit=lin, center=mu, scale=sd)
