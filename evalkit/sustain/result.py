"""The result of a sustainability scenario: tables, summary, charts and the workbook.

:class:`SustainResult` is returned by :func:`evalkit.sustain.run`. Every view
is a tidy DataFrame (``to_frame(name)``); ``summary()`` prints the headline
(text in a terminal, HTML in a notebook); ``plot(kind)`` draws the funding
cliff, the probability of breaking even, the tornado or the cumulative net
position; ``to_excel(path)`` writes the finance lead's workbook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evaluate.result import Summary
from ..plotting import GREY, OKABE_ITO, format_gbp, gbp_formatter, get_axes, palette

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["SustainResult", "FRAMES"]

#: Names accepted by :meth:`SustainResult.to_frame`.
FRAMES = ("funding", "cashflows", "options", "probabilities", "breakeven", "breakeven_effects",
          "stability", "stability_rules", "tornado", "coalitions", "inputs", "unavailable")


def _fy(labels: list, t: int) -> str:
    return labels[t] if labels[t] is not None else f"Year {t}"


@dataclass(repr=False)
class SustainResult:
    """Funding scenarios after the grant, by partner and split rule, with uncertainty.

    Attributes
    ----------
    scenario : Scenario
        The assumptions.
    partners : list of str
    years : list of int
        Programme years (0 = first).
    financial_years : list of str or None
    rules : list of str
        Labels of the rules computed.
    unavailable : dict
        Rules that could not be computed, with the reason.
    frames : dict of DataFrame
        Every view (see :data:`FRAMES`).
    n_draws : int
    notes : list of str
    """

    scenario: Any
    partners: list[str]
    years: list[int]
    financial_years: list[str | None]
    rules: list[str]
    unavailable: dict[str, str]
    frames: dict[str, pd.DataFrame]
    n_draws: int
    headline: dict[str, Any]
    npv_draws: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rule_keys: dict[str, str] = field(default_factory=dict)

    # ----------------------------------------------------------- building
    @classmethod
    def _build(cls, sc: Any, eng: Any, ben: Any, names: list[str], labels: list, rules: list,
               unavailable: dict, det: dict, mc: dict, be: dict, coal: dict,
               tor: pd.DataFrame | None, sens: Any, eff_range: tuple[float, float], D: int,
               notes: list[str]) -> SustainResult:
        T = eng.T
        years = list(range(T))
        fys = [_fy(labels, t) for t in years]
        df = eng.df
        funding = pd.DataFrame({
            "year": years, "financial_year": fys, "running_cost": eng.running,
            "transition_cost": eng.transition, "optimism_bias": eng.optimism,
            "total_cost": eng.cost, "grant": eng.grant, "gap": eng.gap,
            "discount_factor": df, "pv_gap": eng.gap * df})
        cash_rows, opt_rows, prob_rows, stab_rows, srule_rows = [], [], [], [], []
        pv_gap = float(eng.gap @ df)
        for r in rules:
            d = det[r.label]
            m = mc[r.label]
            for i, p in enumerate(names):
                for t in years:
                    cash_rows.append({
                        "rule": r.label, "partner": p, "year": t, "financial_year": fys[t],
                        "contribution": d["pay"][i, t], "benefit": d["benefit"][i, t],
                        "net": d["net"][i, t], "cumulative_net": d["cum"][i, t],
                        "discount_factor": df[t], "discounted_net": d["disc"][i, t],
                        "cumulative_discounted_net": d["cum_disc"][i, t]})
                    prob_rows.append({
                        "rule": r.label, "partner": p, "year": t, "financial_year": fys[t],
                        "contribution": d["pay"][i, t], "benefit": d["benefit"][i, t],
                        "p_covers_year": m["p_year"][i, t],
                        "p_covers_to_date": m["p_to_date"][i, t],
                        "net_p10": m["net_q"][0, i, t], "net_p50": m["net_q"][1, i, t],
                        "net_p90": m["net_q"][2, i, t]})
                pb = int(d["payback"][i])
                opt_rows.append({
                    "rule": r.label, "partner": p, "pv_contribution": d["pv_pay"][i],
                    "share_of_gap": d["pv_pay"][i] / pv_gap if pv_gap > 0 else np.nan,
                    "pv_benefit": d["pv_benefit"][i], "npv": d["npv"][i],
                    "payback_year": pb if pb >= 0 else np.nan,
                    "payback_financial_year": fys[pb] if pb >= 0 else "not by the horizon",
                    "p_breakeven": m["p_npv"][i], "npv_p10": m["npv_q"][0, i],
                    "npv_p50": m["npv_q"][1, i], "npv_p90": m["npv_q"][2, i]})
            st = d["stab"]
            out_years = []
            for t in years:
                exc = float(st["excess"][t])
                members = st["worst"][:, t]
                group = "all partners" if members.all() else " + ".join(
                    np.asarray(names)[members].tolist())
                pl = m["p_leave"][:, t]
                k = int(np.argmax(pl))
                in_core = bool(exc <= 1e-6 * max(1.0, float(np.max(eng.cost))))
                if not in_core:
                    out_years.append(t)
                stab_rows.append({
                    "rule": r.label, "year": t, "financial_year": fys[t], "gap": eng.gap[t],
                    "in_core_expected": in_core, "worst_group": group, "worst_excess": exc,
                    "p_in_core": m["p_core"][t],
                    "first_to_leave": names[k] if pl[k] > 0 else "",
                    "p_leave": float(pl[k])})
            single = st["single"]                       # (n, T)
            first_exp = ""
            if out_years:
                t0 = out_years[0]
                first_exp = names[int(np.argmax(single[:, t0]))] if np.max(single[:, t0]) > 0 \
                    else "all partners together"
            pl = m["p_leave"]
            risky = np.flatnonzero(pl.max(axis=0) > 0.5)
            srule_rows.append({
                "rule": r.label, "p_in_core_every_year": m["p_core_all"],
                "first_year_out_expected": fys[out_years[0]] if out_years else "",
                "first_to_walk_away_expected": first_exp,
                "first_year_leave_likely": fys[int(risky[0])] if risky.size else "",
                "first_likely_to_leave": names[int(np.argmax(pl[:, risky[0]]))]
                if risky.size else "",
                "most_likely_to_leave": names[int(np.argmax(pl.max(axis=1)))]
                if pl.max() > 0 else "",
                "p_leave_max": float(pl.max())})
        be_rows = [dict(r) for r in be["rules"]]
        be_rows.append({"rule": "Whole place", "fraction": be["place"], "binding": "",
                        "method": "exact: PV of the gap / PV of all partners' benefits"})
        breakeven = pd.DataFrame(be_rows).rename(columns={"binding": "binding_partner"})
        eff_rows = []
        if ben.model is not None:
            et = ben.model.effects_table()
            for r in be_rows:
                for e in et.to_dict("records"):
                    eff_rows.append({"rule": r["rule"], "measure": e["measure"],
                                     "estimate": e["estimate"], "fraction": r["fraction"],
                                     "effect_at_breakeven": r["fraction"] * e["estimate"]})
        coalitions = pd.DataFrame(coal["sets"], columns=["partners", "size", "pv_benefit",
                                                          "pv_gap", "surplus", "p_covers"])
        place_b = float(ben.counted(sc.count) @ df @ np.ones(len(names)))
        Bd = ben.counted(sc.count, draws=True)
        place_draws = (Bd @ df).sum(axis=1) - pv_gap if Bd is not None else np.array(
            [place_b - pv_gap])
        headline = {
            "pv_cost": float(eng.cost @ df), "pv_grant": float(np.minimum(eng.grant, eng.cost)
                                                               @ df),
            "pv_gap": pv_gap, "pv_benefit": place_b, "place_npv": place_b - pv_gap,
            "p_place": float(np.mean(place_draws >= -1e-6 * max(1.0, pv_gap))),
            "place_breakeven": be["place"], "mvc_size": coal["size"],
            "first_gap_year": fys[int(np.argmax(eng.gap > 0))] if np.any(eng.gap > 0) else "",
            "effect_range": eff_range, "game": eng.game_kind,
            "count": sc.count, "discount": eng.discount,
        }
        frames = {
            "funding": funding, "cashflows": pd.DataFrame(cash_rows),
            "options": pd.DataFrame(opt_rows), "probabilities": pd.DataFrame(prob_rows),
            "breakeven": breakeven, "breakeven_effects": pd.DataFrame(eff_rows),
            "stability": pd.DataFrame(stab_rows), "stability_rules": pd.DataFrame(srule_rows),
            "tornado": tor if tor is not None else pd.DataFrame(),
            "coalitions": coalitions,
            "unavailable": pd.DataFrame({"rule": list(unavailable),
                                         "reason": list(unavailable.values())}),
        }
        res = cls(scenario=sc, partners=list(names), years=years, financial_years=fys,
                  rules=[r.label for r in rules], unavailable=dict(unavailable), frames=frames,
                  n_draws=D, headline=headline,
                  npv_draws={r.label: mc[r.label]["npv"] for r in rules},
                  notes=_dedupe(notes), rule_keys={r.label: r.text for r in rules})
        res.frames["inputs"] = _inputs_frame(sc, res, sens, eff_range)
        return res

    # ----------------------------------------------------------- access
    def to_frame(self, name: str = "options") -> pd.DataFrame:
        """One view as a tidy DataFrame; ``name`` is one of :data:`FRAMES`.

        ``funding`` (cost, grant and gap by year), ``cashflows`` (rule x partner x
        year), ``options`` (rule x partner: PV contribution and benefit, NPV,
        payback, probability of breaking even, P10/P50/P90), ``probabilities``
        (by year), ``breakeven``, ``breakeven_effects``, ``stability`` (rule x
        year), ``stability_rules``, ``tornado``, ``coalitions`` (minimum viable
        coalitions), ``inputs``, ``unavailable``.
        """
        if name not in self.frames:
            raise InputError(f"to_frame: unknown view {name!r}; choose from "
                             f"{', '.join(FRAMES)}.")
        return self.frames[name].copy()

    def npv(self, rule: str | None = None) -> pd.Series:
        """Each partner's NPV (point estimate) under a rule (default: the first)."""
        rule = self._rule(rule)
        o = self.frames["options"]
        return o[o["rule"] == rule].set_index("partner")["npv"]

    def probability(self, rule: str | None = None) -> pd.Series:
        """Each partner's probability that its benefits cover its contribution (NPV >= 0)."""
        rule = self._rule(rule)
        o = self.frames["options"]
        return o[o["rule"] == rule].set_index("partner")["p_breakeven"]

    def _rule(self, rule: str | None) -> str:
        if rule is None:
            return self.rules[0]
        if rule in self.rules:
            return rule
        for lab, key in self.rule_keys.items():
            if key == rule or key.split(":")[0] == rule:
                return lab
        raise InputError(f"rule: {rule!r} is not among the rules computed: "
                         f"{', '.join(self.rules)}.")

    # ----------------------------------------------------------- summary
    def _header(self) -> list[tuple[str, str]]:
        h = self.headline
        sc = self.scenario
        fy = self.financial_years
        return [
            ("Scenario", str(sc.name)),
            ("Years", f"{len(self.years)} ({fy[0]} on)"),
            ("PV of costs", format_gbp(h["pv_cost"])),
            ("PV of grant", format_gbp(h["pv_grant"])),
            ("PV of funding gap", format_gbp(h["pv_gap"])),
            ("First year of gap", h["first_gap_year"] or "none"),
            ("Benefits counted", "cashable only" if h["count"] == "cashable"
             else "all fiscal"),
            ("PV of benefits", format_gbp(h["pv_benefit"])),
            ("Place NPV", format_gbp(h["place_npv"])),
            ("P(place pays back)", f"{h['p_place']:.0%}"),
            ("Break-even effect", _frac(h["place_breakeven"]) + " of estimate"),
            ("Draws", f"{self.n_draws:,}"),
            ("Discounting", "Green Book" if h["discount"] == "standard"
             else str(h["discount"])),
            ("Game", {"service": "service model", "table": "coalition table",
                      None: "none"}[h["game"]]),
        ]

    def summary(self) -> Summary:
        """Headline, options by partner and rule, break-even, stability, coalitions."""
        o = self.frames["options"]
        npv = o.pivot(index="partner", columns="rule", values="npv")[self.rules].reindex(
            self.partners)
        prob = o.pivot(index="partner", columns="rule", values="p_breakeven")[
            self.rules].reindex(self.partners)
        tab = npv.map(format_gbp) + " (" + prob.map(lambda v: f"{v:.0%}") + ")"
        tab.columns.name = None
        be = self.frames["breakeven"].copy()
        be["fraction"] = be["fraction"].map(_frac)
        be = be.set_index("rule")[["fraction", "binding_partner"]]
        sr = self.frames["stability_rules"].set_index("rule")[
            ["p_in_core_every_year", "first_year_out_expected", "first_to_walk_away_expected",
             "most_likely_to_leave"]].copy()
        sr["p_in_core_every_year"] = sr["p_in_core_every_year"].map(lambda v: f"{v:.0%}")
        tables = [("NPV by partner and rule (probability benefits cover contributions)", tab),
                  ("Break-even: fraction of the estimated effect needed", be),
                  ("Stability (core of the game in which partners may go alone or do without)",
                   sr)]
        c = self.frames["coalitions"]
        if len(c):
            cc = c.head(5)[["partners", "pv_benefit", "surplus", "p_covers"]].copy()
            for k in ("pv_benefit", "surplus"):
                cc[k] = cc[k].map(format_gbp)
            cc["p_covers"] = cc["p_covers"].map(lambda v: f"{v:.0%}")
            tables.append((f"Minimum viable coalitions ({int(c['size'].iloc[0])} partner(s) "
                           "whose own benefits cover the whole gap)", cc.set_index("partners")))
        notes = list(self.notes)
        if not len(c):
            notes.insert(0, "No group of partners, not even all of them together, has benefits "
                            "that cover the whole funding gap.")
        for k, why in self.unavailable.items():
            notes.append(f"Not computed - {k}: {why}")
        return Summary("Sustainability after the grant", self._header(), tables, notes)

    def __repr__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    # ----------------------------------------------------------- plots
    def plot(self, kind: str = "cliff", ax: Axes | None = None, *, rule: str | None = None,
             partner: str | None = None) -> Axes:
        """Draw a chart.

        Parameters
        ----------
        kind : {"cliff", "probability", "tornado", "cumulative"}
            ``cliff``: cost, grant and funding gap by year. ``probability``:
            probability each partner's benefits cover its contribution, by
            rule. ``tornado``: swing in one partner's NPV from each input
            (default: the partner with the lowest NPV under the rule).
            ``cumulative``: each partner's cumulative discounted net position.
        rule, partner : str, optional
        """
        kinds = {"cliff": self._plot_cliff, "probability": self._plot_probability,
                 "tornado": self._plot_tornado, "cumulative": self._plot_cumulative}
        if kind not in kinds:
            raise InputError(f"kind: expected one of {', '.join(kinds)}, got {kind!r}.")
        return kinds[kind](ax, rule=rule, partner=partner)

    def _plot_cliff(self, ax: Axes | None, **_: Any) -> Axes:
        f = self.frames["funding"]
        ax = get_axes(ax, figsize=(max(6.0, 0.7 * len(f) + 3), 4.0))
        x = np.arange(len(f))
        ax.bar(x - 0.2, f["grant"], 0.4, color=OKABE_ITO[2], label="Central grant")
        ax.bar(x + 0.2, f["gap"], 0.4, color=OKABE_ITO[5], label="Funding gap (partners)")
        ax.plot(x, f["total_cost"], color="black", marker="o", linewidth=1.5,
                label="Cost of the pilot")
        ax.set_xticks(x)
        ax.set_xticklabels(f["financial_year"], rotation=30 if len(f) > 5 else 0,
                           ha="right" if len(f) > 5 else "center")
        ax.yaxis.set_major_formatter(gbp_formatter())
        ax.set_xlabel("Year")
        ax.set_ylabel("Pounds a year (real prices)")
        ax.set_title("The funding cliff: cost, grant and the gap partners must fill")
        ax.legend(frameon=False, fontsize=8)
        return ax

    def _plot_probability(self, ax: Axes | None, **_: Any) -> Axes:
        o = self.frames["options"]
        piv = o.pivot(index="partner", columns="rule", values="p_breakeven")[
            self.rules].reindex(self.partners)
        k = len(self.rules)
        ax = get_axes(ax, figsize=(max(7.0, 0.8 * len(self.partners) * max(1, k) ** 0.5 + 3),
                                   4.5))
        width = 0.8 / max(k, 1)
        xs = np.arange(len(self.partners))
        for j, (lab, col) in enumerate(zip(self.rules, palette(k))):
            ax.bar(xs - 0.4 + width * (j + 0.5), 100 * piv[lab].to_numpy(), width, label=lab,
                   color=col, edgecolor="white", linewidth=0.3,
                   hatch=("", "//", "..")[(j // 8) % 3])
        ax.axhline(50, color=GREY, linewidth=0.8, linestyle="--")
        ax.set_ylim(0, 100)
        ax.set_xticks(xs)
        ax.set_xticklabels(self.partners, rotation=30 if len(xs) > 4 else 0,
                           ha="right" if len(xs) > 4 else "center")
        ax.set_xlabel("Partner")
        ax.set_ylabel("Probability benefits cover contributions (%)")
        ax.set_title(f"How sure each partner can be that it pays back ({self.n_draws:,} draws)")
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return ax

    def _plot_tornado(self, ax: Axes | None, rule: str | None = None,
                      partner: str | None = None, **_: Any) -> Axes:
        t = self.frames["tornado"]
        if t.empty:
            raise InputError("plot: no tornado was computed (run with tornado=True).")
        rule = self._rule(rule)
        t = t[t["rule"] == rule]
        if partner is None:
            partner = str(self.npv(rule).idxmin())
        if partner not in self.partners:
            raise InputError(f"partner: {partner!r} is not a partner ({', '.join(self.partners)}).")
        t = t[t["partner"] == partner].copy()
        t = t.assign(order=t["swing"].fillna(-1)).sort_values("order")
        ax = get_axes(ax, figsize=(7.5, 0.5 * len(t) + 2))
        base = float(t["npv_base"].iloc[0])
        ys = np.arange(len(t))
        for y, r in zip(ys, t.itertuples()):
            for val, col, lab in ((r.npv_low, OKABE_ITO[5], "low"),
                                  (r.npv_high, OKABE_ITO[0], "high")):
                if np.isfinite(val):
                    ax.barh(y, val - base, left=base, color=col, height=0.6,
                            label=f"{lab} value" if y == ys[-1] else None)
        ax.axvline(base, color="black", linewidth=1)
        ax.set_yticks(ys)
        ax.set_yticklabels([f"{r.meaning}\n({_rng(r.input, r.low_value, r.high_value)})"
                            for r in t.itertuples()], fontsize=8)
        ax.xaxis.set_major_formatter(gbp_formatter())
        ax.set_xlabel(f"{partner}'s NPV (£, real prices)")
        ax.set_title(f"What moves {partner}'s NPV most ({rule})")
        ax.legend(frameon=False, fontsize=8)
        return ax

    def _plot_cumulative(self, ax: Axes | None, rule: str | None = None, **_: Any) -> Axes:
        rule = self._rule(rule)
        c = self.frames["cashflows"]
        c = c[c["rule"] == rule]
        ax = get_axes(ax, figsize=(7.5, 4.2))
        for p, col in zip(self.partners, palette(len(self.partners))):
            s = c[c["partner"] == p]
            ax.plot(s["year"], s["cumulative_discounted_net"], marker="o", markersize=3,
                    color=col, label=p)
        ax.axhline(0, color=GREY, linewidth=0.8)
        ax.set_xticks(self.years)
        ax.set_xticklabels(self.financial_years, rotation=30 if len(self.years) > 5 else 0,
                           ha="right" if len(self.years) > 5 else "center")
        ax.yaxis.set_major_formatter(gbp_formatter())
        ax.set_xlabel("Year")
        ax.set_ylabel("Cumulative discounted net position (£)")
        ax.set_title(f"Benefits minus contributions, to date ({rule})")
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return ax

    # ----------------------------------------------------------- Excel
    def to_excel(self, path: str | Path) -> Path:
        """Write the finance lead's workbook (see :mod:`evalkit.sustain.excel`)."""
        from .excel import write_workbook

        return write_workbook(path, self.scenario, self)


def _frac(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "never"
    return f"{v:.0%}" if v < 10 else f"{v:,.1f}x"


def _rng(key: str, lo: float, hi: float) -> str:
    if key == "discount_rate" or key == "drop_off":
        return f"{lo:.1%} to {hi:.1%}"
    return f"x{lo:.2f} to x{hi:.2f}"


def _dedupe(items: list[str]) -> list[str]:
    seen: set[str] = set()
    return [i for i in items if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def _inputs_frame(sc: Any, res: SustainResult, sens: Any, eff_range: tuple[float, float]
                  ) -> pd.DataFrame:
    rows = [
        ("name", sc.name), ("first_year", res.financial_years[0]),
        ("horizon_years", len(res.years)),
        ("running_cost", sc.running_cost if np.ndim(sc.running_cost) == 0
         else ", ".join(f"{x:,.0f}" for x in sc.running_cost)),
        ("cost_inflation", sc.cost_inflation),
        ("transition_costs", ", ".join(f"{x:,.0f}" for x in sc.transition_costs) or "none"),
        ("grant", ", ".join(f"{x:,.4g}" for x in sc.grant) or "none"),
        ("grant_as", sc.grant_as), ("optimism_bias_costs", sc.optimism_bias_costs),
        ("discount", sc.discount), ("benefits_counted", sc.count),
        ("shares_follow", sc.shares_follow), ("draws", res.n_draws), ("seed", sc.seed),
        ("rules", ", ".join(res.rule_keys[r] for r in res.rules)),
    ]
    for k, v in sens.to_dict().items():
        v = eff_range if k == "effect" else v
        rows.append((f"sensitivity.{k}", f"{v[0]:g} to {v[1]:g}"))
    return pd.DataFrame(rows, columns=["assumption", "value"]).astype({"value": str})
