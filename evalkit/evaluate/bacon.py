"""Goodman-Bacon (2021) decomposition of the two-way fixed effects DiD.

With staggered starts the TWFE coefficient on the treatment dummy is a
weighted average of every 2x2 DiD that can be formed from the timing groups
(Goodman-Bacon 2021, Theorem 1). With groups ``k`` (earlier) and ``l``
(later) starting at ``g_k < g_l``, ``U`` the never treated, ``n`` the groups'
shares of units and ``Dbar`` the share of periods each group is treated:

* **treated vs never treated** ``b_kU``: group ``k`` against ``U`` over the
  whole panel, weight ``(n_k + n_U)^2 n_kU (1 - n_kU) Dbar_k (1 - Dbar_k) / V``;
* **earlier vs later** ``b_kl^k``: ``k`` treated, ``l`` not yet treated,
  periods before ``g_l``, weight
  ``((n_k + n_l)(1 - Dbar_l))^2 n_kl (1 - n_kl) (Dbar_k - Dbar_l)/(1 - Dbar_l)
  * (1 - Dbar_k)/(1 - Dbar_l) / V``;
* **later vs earlier** ``b_kl^l``: ``l`` treated, the **already treated**
  ``k`` as controls, periods from ``g_k`` on, weight
  ``((n_k + n_l) Dbar_k)^2 n_kl (1 - n_kl) (Dbar_l / Dbar_k)
  * (Dbar_k - Dbar_l)/Dbar_k / V``;

with ``n_ab = n_a / (n_a + n_b)`` and ``V`` the variance of the
double-demeaned treatment dummy. The weights sum to one and
``sum(weight * estimate)`` equals the TWFE estimate exactly on a balanced
panel. When effects grow over time, the "later vs earlier" comparisons
subtract the growing effect of the already-treated group and pull TWFE down,
even to the wrong sign. Units treated in the first period ("always
treated") enter only as controls in "later vs always treated" comparisons.

Limits: balanced panel, no covariates (the decomposition with covariates adds
a within-group term; see Goodman-Bacon 2021, section 5).

Examples
--------
>>> import numpy as np, pandas as pd
>>> rows = [(i, t, g, (t >= g > 0) * (t - g + 1.0) + 0.1 * i)
...         for i, g in enumerate([0, 0, 3, 3, 5, 5]) for t in range(1, 8)]
>>> df = pd.DataFrame(rows, columns=["id", "period", "g", "value"])
>>> b = BaconDecomposition(unit="id", first_treat="g").fit(df)
>>> round(float(b.tables["comparisons"]["weight"].sum()), 10)
1.0
>>> bool(abs(b.estimate - b.extra["weighted_sum"]) < 1e-10)
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._did_data import NEVER, Panel, format_period, prepare_panel
from .did import _twfe_from_panel
from .result import EffectResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["BaconDecomposition", "BaconResult", "bacon_decompose"]

_TYPES = ("Treated vs never treated", "Earlier vs later treated",
          "Later vs earlier treated", "Later vs always treated")


def bacon_decompose(Yw: np.ndarray, G: np.ndarray) -> tuple[pd.DataFrame, float]:
    """Decompose TWFE on a balanced wide panel.

    Parameters
    ----------
    Yw : ndarray (n, T)
        Outcomes, one row per unit.
    G : ndarray (n,)
        First treated period index (0 = treated from the first period,
        :data:`NEVER` = never treated).

    Returns
    -------
    (comparisons, V_D) : the table of 2x2 estimates and weights (period
    indices in ``treated_start``/``control_start``) and the variance of the
    double-demeaned treatment dummy.
    """
    n, T = Yw.shape
    D = (np.arange(T)[None, :] >= G[:, None]).astype(np.float64)
    Dd = D - D.mean(axis=1, keepdims=True) - D.mean(axis=0, keepdims=True) + D.mean()
    VD = float(np.mean(Dd**2))
    if VD <= 1e-14:
        raise InputError("The treatment dummy does not vary once unit and period effects are "
                         "removed: there is nothing to decompose.")
    groups = np.unique(G)
    share = np.array([np.mean(G == g) for g in groups])
    means = np.vstack([Yw[G == g].mean(axis=0) for g in groups])  # (groups, T)
    dbar = np.array([0.0 if g == NEVER else (T - g) / T for g in groups])
    rows: list[dict[str, Any]] = []

    def ybar(i: int, lo: int, hi: int) -> float:  # mean over periods [lo, hi)
        return float(means[i, lo:hi].mean())

    timing = [i for i, g in enumerate(groups) if g != NEVER]
    never = [i for i, g in enumerate(groups) if g == NEVER]
    for i in timing:
        gk = int(groups[i])
        if never and 0 < gk < T:
            u = never[0]
            nk, nu = share[i], share[u]
            nku = nk / (nk + nu)
            w = (nk + nu) ** 2 * nku * (1 - nku) * dbar[i] * (1 - dbar[i]) / VD
            est = (ybar(i, gk, T) - ybar(i, 0, gk)) - (ybar(u, gk, T) - ybar(u, 0, gk))
            rows.append({"type": _TYPES[0], "treated": gk, "control": NEVER,
                         "estimate": est, "weight": w})
    for a in range(len(timing)):
        for b in range(a + 1, len(timing)):
            k, l = timing[a], timing[b]          # k earlier, l later
            gk, gl = int(groups[k]), int(groups[l])
            nk, nl = share[k], share[l]
            nkl = nk / (nk + nl)
            Dk, Dl = dbar[k], dbar[l]
            if gk > 0:   # earlier treated vs later (not yet treated) controls
                w = (((nk + nl) * (1 - Dl)) ** 2 * nkl * (1 - nkl)
                     * ((Dk - Dl) / (1 - Dl)) * ((1 - Dk) / (1 - Dl)) / VD)
                est = ((ybar(k, gk, gl) - ybar(k, 0, gk)) - (ybar(l, gk, gl) - ybar(l, 0, gk)))
                rows.append({"type": _TYPES[1], "treated": gk, "control": gl,
                             "estimate": est, "weight": w})
            if gl < T:   # later treated vs already-treated controls
                w = (((nk + nl) * Dk) ** 2 * nkl * (1 - nkl)
                     * (Dl / Dk) * ((Dk - Dl) / Dk) / VD)
                est = ((ybar(l, gl, T) - ybar(l, gk, gl)) - (ybar(k, gl, T) - ybar(k, gk, gl)))
                rows.append({"type": _TYPES[3] if gk == 0 else _TYPES[2], "treated": gl,
                             "control": gk, "estimate": est, "weight": w})
    out = pd.DataFrame(rows, columns=["type", "treated", "control", "estimate", "weight"])
    return out, VD


class BaconDecomposition:
    """Goodman-Bacon decomposition of the TWFE DiD estimate.

    Parameters
    ----------
    unit, time, outcome, first_treat : str
        Column names (0/empty ``first_treat`` = never treated).
    cluster : str, optional
        Cluster column for the TWFE standard error (default: unit).
    measure, starts :
        As for :class:`~evalkit.evaluate.did.DiD`.
    drop_incomplete : bool
        Drop (and count) units not observed in every period instead of
        raising: the decomposition needs a balanced panel.
    alpha : float
        1 - confidence level of the TWFE estimate.
    """

    def __init__(self, *, unit: str = "person_id", time: str = "period", outcome: str = "value",
                 first_treat: str = "pilot_start", cluster: str | None = None,
                 measure: str | None = None, starts: pd.DataFrame | pd.Series | None = None,
                 drop_incomplete: bool = False, alpha: float = 0.05) -> None:
        self.unit, self.time, self.outcome, self.first_treat = unit, time, outcome, first_treat
        self.cluster, self.measure, self.starts = cluster, measure, starts
        self.drop_incomplete, self.alpha = drop_incomplete, alpha

    def fit(self, data: pd.DataFrame) -> BaconResult:
        """Decompose; the headline is the TWFE estimate with its clustered SE."""
        panel = prepare_panel(
            data, unit=self.unit, time=self.time, outcome=self.outcome,
            first_treat=self.first_treat, cluster=self.cluster, measure=self.measure,
            starts=self.starts, require_balanced=True, drop_incomplete=self.drop_incomplete,
            always_treated="keep", design="The Goodman-Bacon decomposition")
        return _fit(self, panel)


def _fit(spec: BaconDecomposition, panel: Panel) -> BaconResult:
    Yw = panel.wide()
    G = panel.gidx
    comp, VD = bacon_decompose(Yw, G)
    twfe = _twfe_from_panel(panel, alpha=spec.alpha)
    ws = float((comp["weight"] * comp["estimate"]).sum())
    plab = panel.periods
    comp = comp.assign(
        treated=[plab[g] for g in comp["treated"]],
        control=["never treated" if c == NEVER else plab[c] for c in comp["control"]])
    comp.insert(0, "term", [f"{t}: {format_period(a)} vs {format_period(b)}" for t, a, b in
                            zip(comp["type"], comp["treated"], comp["control"])])
    by_type = comp.groupby("type", sort=False).apply(
        lambda d: pd.Series({"weight": d["weight"].sum(),
                             "estimate": np.average(d["estimate"], weights=d["weight"])
                             if d["weight"].sum() > 0 else np.nan,
                             "comparisons": len(d)}), include_groups=False).reset_index()
    by_type["comparisons"] = by_type["comparisons"].astype(int)
    forbidden = float(comp.loc[comp["type"].isin(_TYPES[2:]), "weight"].sum())
    diag = dict(twfe.diagnostics)
    diag.update({"weighted_sum": ws, "sum_of_weights": float(comp["weight"].sum()),
                 "weight_on_already_treated_controls": forbidden, "var_treatment_dd": VD})
    warnings = list(twfe.warnings)
    if forbidden > 0:
        warnings.append(
            f"{forbidden:.0%} of the TWFE weight comes from comparisons that use already-treated "
            "units as controls; if effects grow over time these bias TWFE (towards zero or "
            "beyond).")
    res = BaconResult(
        estimate=twfe.estimate, se=twfe.se, ci_lower=twfe.ci_lower, ci_upper=twfe.ci_upper,
        pvalue=twfe.pvalue, n_treated=twfe.n_treated, n_control=twfe.n_control,
        estimand="ATT (TWFE)", method="Goodman-Bacon (2021) decomposition of two-way fixed "
        "effects DiD", design="twfe", outcome=panel.outcome, alpha=spec.alpha,
        diagnostics=diag,
        tables={"comparisons": comp, "by_type": by_type, "excluded": panel.excluded},
        warnings=warnings, extra={"weighted_sum": ws, "twfe": twfe, "notes": panel.notes})
    return res


class BaconResult(EffectResult):
    """Result of :class:`BaconDecomposition`; ``plot()`` is the Bacon scatter."""

    def summary(self, tables=None):  # type: ignore[override]
        return super().summary(tables if tables is not None else ["by_type", "comparisons"])

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Scatter of 2x2 estimates against their weights, by comparison type."""
        from ..plotting import OKABE_ITO, get_axes

        ax = get_axes(ax, figsize=kwargs.pop("figsize", (7, 4.5)))
        comp = self.tables["comparisons"]
        markers = ["o", "s", "^", "D"]
        for k, typ in enumerate(_TYPES):
            d = comp[comp["type"] == typ]
            if len(d):
                ax.scatter(d["weight"], d["estimate"], color=OKABE_ITO[k], marker=markers[k],
                           s=40, label=typ, alpha=0.85)
        ax.axhline(self.estimate, color="black", ls="--", lw=1,
                   label=f"TWFE estimate ({self.estimate:.3g})")
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xlabel("Weight in the TWFE estimate")
        ax.set_ylabel(kwargs.get("ylabel", f"2x2 DiD estimate ({self.outcome or 'outcome'})"))
        ax.set_title(kwargs.get("title", "Goodman-Bacon decomposition of TWFE"))
        ax.legend(frameon=False, fontsize=8)
        return ax
