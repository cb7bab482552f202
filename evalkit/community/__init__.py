"""Shared challenges and early help.

Two capabilities, each with a chapter in the report:

* :func:`shared_challenges` -> :class:`ChallengesResult`: which needs cut
  across every partner's silo, what they cost whom, and how concentrated
  demand is.
* :func:`fit_risk_model` -> :class:`RiskModelResult`: who is heading for a
  crisis, from their service-contact history, validated on a later period,
  with calibration, what flagging would have meant in practice, and fairness
  by age band, sex and area deprivation. For offering help earlier, never for
  denying a service; person-level scores are not for publication.

Building blocks: :class:`EventHistory` (the event log sorted once, with the
failure-demand flags), :class:`FeatureBuilder` / :func:`person_features`
(person-level features at a cut-off), :mod:`evalkit.community.metrics`
(AUC with DeLong intervals, Brier, calibration, capture) and
:func:`simulate_risk_data` (a small log with planted, known risk).
"""

from .challenges import ChallengesResult, price_events, shared_challenges
from .features import FeatureBuilder, OutcomeHistory, feature_label, person_features
from .history import TIE_RULE, EventHistory
from .metrics import auc_delong, brier, calibration_stats, capture_table, reliability_table
from .risk import FAIRNESS_GROUPS, NOT_FOR_PUBLICATION, RiskModelResult, fit_risk_model
from .simulate import RiskTruth, simulate_risk_data

__all__ = [
    "shared_challenges",
    "ChallengesResult",
    "price_events",
    "fit_risk_model",
    "RiskModelResult",
    "NOT_FOR_PUBLICATION",
    "FAIRNESS_GROUPS",
    "EventHistory",
    "TIE_RULE",
    "FeatureBuilder",
    "OutcomeHistory",
    "person_features",
    "feature_label",
    "auc_delong",
    "brier",
    "calibration_stats",
    "capture_table",
    "reliability_table",
    "simulate_risk_data",
    "RiskTruth",
]
