"""The planted truth of a synthetic place: what a correct method should find.

Estimands (all in the units an estimator reports: change in the monthly value
per treated person, e.g. A&E attendances per person per month):

- **att** (``Truth.effects.att``, ``Truth.att(measure)``): the average over
  treated person-months on or after each person's start (to the end of the
  panel) of ``E[Y(1)] - E[Y(0)]``, where the expectation is over the monthly
  noise only, given each person's drawn characteristics, frailties and area
  shocks (a *sample* ATT of expected outcomes)::

      att = 1/|S| sum_{(i,t) in S} (mu1[i,t] - mu0[i,t]),
      S = {(i, t): person i treated, start_i <= t <= last month}

  In a balanced panel this is exactly what Callaway & Sant'Anna's *simple*
  aggregation targets: the ATT(g,t) for t >= g weighted by the number of
  treated people in each cell.
- **att_sample**: the same average of the realised ``Y(1) - Y(0)`` (coupled
  draws), i.e. the effect in this particular data set.
- **by_event_time** (``Truth.att_path(measure)``): for each ``e = t - start``,
  the average of ``mu1 - mu0`` over treated people observed ``e`` months after
  their start: CS *dynamic* aggregation (and an event study's lags).
- **by_cohort_period**: ATT(g, t) for every start month ``g`` (cohort) and
  period ``t`` (CS group-time effects).
- **by_area_period**: the effect on the area total (sum over the area's
  treated residents of ``mu1 - mu0``) by area and month, for area-level
  methods on ``area_outcomes``.
- **att_relative**: ``sum(mu1 - mu0) / sum(mu0)`` over ``S``.
- **failure_demand**: repeat assessments (re-assessments and stories retold),
  referrals, declined and bounced referrals, interventions and waits among
  treated people's events, computed with :mod:`evalkit.waste`'s definitions on
  the event log *with* the pilot and on the same people's log *without* it
  (common random numbers), over the whole log and on/after each start.
  ``removed = without_pilot - with_pilot``.

Examples
--------
>>> from evalkit.synthetic import make_place
>>> place, truth = make_place(n_people=1500, seed=5, validate=False)
>>> truth.att("elective_admissions")
0.0
>>> truth.att("ae_attendances") < 0
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import InputError
from ..evaluate.result import Summary
from ..plotting import OKABE_ITO, get_axes
from .config import SynthConfig

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["Truth"]

ESTIMAND = (
    "ATT: average over treated person-months on or after each person's pilot start "
    "of E[Y(1)] - E[Y(0)] (expectation over monthly noise, given each person's "
    "traits), in units of the measure per person per month"
)


@dataclass(repr=False)
class Truth:
    """Every planted quantity of a synthetic place (see the module docstring).

    Attributes
    ----------
    seed : int
    config : SynthConfig
        Every parameter used.
    effects : DataFrame
        One row per measure: ``measure, relative_effect, placebo, att, att_sample,
        mean_y0, att_relative, n_treated, n_treated_person_months, label``.
    by_event_time : DataFrame
        ``measure, event_time, att, n_people, ramp``.
    by_cohort_period : DataFrame
        ``measure, cohort, period, event_time, att, n_people`` (cohort and
        period are first-of-month dates).
    by_area_period : DataFrame
        ``measure, area, period, effect, n_treated``.
    failure_demand : DataFrame
        ``quantity, scope, with_pilot, without_pilot, removed, relative_change``.
    people : DataFrame
        Per person: ``person_id, in_scope, scope_prob, need_index, frailty,
        enrol_prob, propensity, treated, pilot_start`` (latent and true
        probabilities, for checking propensity models) and ``spiral_start``,
        ``spiral_end`` (first month of the person's spiral and the month after
        it ends; empty if none: the planted early-warning risk).
    planted : dict
        The pilot's planted parameters (relative effects, ramp, journey effects)
        and, under ``risk``, the planted crisis-risk structure.
    oracle : CrisisOracle, optional
        Computes :meth:`crisis_risk`.
    """

    seed: int
    config: SynthConfig
    effects: pd.DataFrame
    by_event_time: pd.DataFrame
    by_cohort_period: pd.DataFrame
    by_area_period: pd.DataFrame
    failure_demand: pd.DataFrame
    people: pd.DataFrame
    planted: dict[str, Any] = field(default_factory=dict)
    estimand: str = ESTIMAND
    oracle: Any = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------ access
    def _check(self, measure: str) -> None:
        if measure not in set(self.effects["measure"]):
            raise InputError(f"Unknown measure {measure!r}; the synthetic place has: "
                             f"{', '.join(self.effects['measure'])}.")

    def att(self, measure: str, *, sample: bool = False) -> float:
        """Planted overall ATT of ``measure`` (``sample=True``: realised version)."""
        self._check(measure)
        row = self.effects.set_index("measure").loc[measure]
        return float(row["att_sample" if sample else "att"])

    def att_path(self, measure: str) -> pd.DataFrame:
        """Planted ATT by months since start (``event_time`` 0 = start month)."""
        self._check(measure)
        df = self.by_event_time[self.by_event_time["measure"] == measure]
        return df.drop(columns="measure").reset_index(drop=True)

    def att_gt(self, measure: str) -> pd.DataFrame:
        """Planted group-time effects ATT(g, t) of ``measure``."""
        self._check(measure)
        df = self.by_cohort_period[self.by_cohort_period["measure"] == measure]
        return df.drop(columns="measure").reset_index(drop=True)

    def removed(self, quantity: str, scope: str = "whole log") -> int:
        """How many ``quantity`` (e.g. ``repeat_assessments``) the pilot removed."""
        fd = self.failure_demand
        row = fd[(fd["quantity"] == quantity) & (fd["scope"] == scope)]
        if row.empty:
            raise InputError(f"Unknown failure-demand quantity {quantity!r} or scope "
                             f"{scope!r}; quantities: {', '.join(fd['quantity'].unique())}; "
                             f"scopes: {', '.join(fd['scope'].unique())}.")
        return int(row["removed"].iloc[0])

    def crisis_risk(self, measures: str | list[str], cutoff: Any,
                    horizon_months: int) -> pd.Series:
        """Planted (oracle) chance of at least one crisis in the horizon.

        For each in-scope person: the chance of at least one unit of
        ``measures`` (count outcomes) in the ``horizon_months`` from ``cutoff``
        (a first of month in the panel), given every latent quantity
        (frailties, area shocks, spiral months, the pilot). An upper bound on
        what any model of the records can reach; see :mod:`evalkit.synthetic.risk`.
        """
        if self.oracle is None:
            raise InputError("This truth has no crisis oracle (it was not built by "
                             "make_place).")
        return self.oracle.probability(measures, cutoff, horizon_months)

    # ------------------------------------------------------------ results style
    def to_frame(self) -> pd.DataFrame:
        """The planted effects, one row per outcome measure."""
        return self.effects.copy()

    def summary(self) -> Summary:
        eff = self.effects.set_index("measure")[
            ["relative_effect", "att", "att_sample", "mean_y0", "n_treated",
             "n_treated_person_months"]]
        fd = self.failure_demand[self.failure_demand["scope"] == "whole log"].set_index(
            "quantity")[["with_pilot", "without_pilot", "removed"]]
        header = [
            ("Place", self.config.name),
            ("Seed", str(self.seed)),
            ("People", f"{self.config.n_people:,}"),
            ("Months", f"{self.config.n_months} from {self.config.start:%Y-%m}"),
            ("Treated people", f"{int(self.effects['n_treated'].iloc[0]):,}"),
            ("Ramp (months)", str(self.config.ramp_months)),
        ]
        return Summary(
            "Synthetic place: planted truth", header,
            tables=[("Planted effects (per treated person per month)", eff),
                    ("Failure demand among treated people (whole log)", fd)],
            notes=[self.estimand + "."])

    def plot(self, ax: Axes | None = None, measures: list[str] | None = None,
             relative: bool = True) -> Axes:
        """Planted effect paths by months since start (relative to E[Y(0)] by default)."""
        ax = get_axes(ax)
        measures = measures or list(self.effects["measure"])
        for k, m in enumerate(measures):
            path = self.att_path(m)
            y = path["att"]
            if relative:
                y = path["ramp"] * float(
                    self.effects.set_index("measure").loc[m, "relative_effect"]) * 100
            ax.plot(path["event_time"], y, color=OKABE_ITO[k % len(OKABE_ITO)], label=m)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("Months since the person's pilot start")
        ax.set_ylabel("Planted effect (% of expected value)" if relative
                      else "Planted effect (per person per month)")
        ax.set_title("Planted pilot effects by months since start")
        ax.legend(frameon=False, fontsize="small")
        return ax

    def __repr__(self) -> str:
        parts = ", ".join(f"{r.measure}={r.att:+.4f}" for r in self.effects.itertuples())
        return f"<Truth seed={self.seed} ATT: {parts}>"

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    # ------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        """Headline numbers and parameters as plain JSON-able data."""
        return {
            "seed": self.seed,
            "estimand": self.estimand,
            "effects": json.loads(self.effects.to_json(orient="records")),
            "failure_demand": json.loads(self.failure_demand.to_json(orient="records")),
            "planted": self.planted,
            "config": json.loads(self.config.model_dump_json()),
        }

    def write(self, folder: str | Path) -> Path:
        """Write ``truth.json`` and the detail tables (CSV) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "truth.json").write_text(json.dumps(self.to_dict(), indent=2),
                                           encoding="utf-8")
        for name in ("effects", "by_event_time", "by_cohort_period", "by_area_period",
                     "failure_demand", "people"):
            getattr(self, name).to_csv(folder / f"{name}.csv", index=False)
        return folder
