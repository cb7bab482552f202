"""Evaluation designs: comparison groups, difference-in-differences, synthetic
control and interrupted time series, all returning :class:`EffectResult`."""

from ._place import PlaceResult
from .augsynth import AugmentedSyntheticControl, AugmentedSyntheticControlResult
from .bacon import BaconDecomposition, BaconResult, bacon_decompose
from .balance import Balance, assess_balance, balance_table
from .comparison import ComparisonResult, DifferenceInMeans, MatchedDiD
from .did import TWFE, DiD, DiDResult, TWFEResult
from .event_study import EventStudy, EventStudyResult
from .fixed_effects import FEOLSFit, demean, feols, wald_test
from .its import InterruptedTimeSeries, ITSResult, StructuralTimeSeries
from .matching import CoarsenedExactMatching, NearestNeighbourMatching, nearest_neighbour_match
from .place import PlaceEvaluation, SMSRating, evaluate_place, rate_sms
from .place_data import (
    AreaPanel,
    PersonPanel,
    area_panel,
    person_cross_section,
    prepare_person_panel,
)
from .propensity import PropensityScore, PropensityScoreResult
from .result import EffectResult, EffectResults, Summary, normal_inference
from .sensitivity import EValue, e_value, placebo_test
from .staggered import StaggeredDiD, StaggeredDiDResult
from .synth import Predictor, SyntheticControl, SyntheticControlResult, wide_panel
from .weighting import EntropyBalancing, InverseProbabilityWeighting, entropy_balance, ipw

__all__ = [
    "EffectResult", "EffectResults", "Summary", "normal_inference",
    "DiD", "DiDResult", "TWFE", "TWFEResult", "EventStudy", "EventStudyResult",
    "StaggeredDiD", "StaggeredDiDResult", "BaconDecomposition", "BaconResult",
    "bacon_decompose", "feols", "demean", "wald_test", "FEOLSFit",
    "PropensityScore", "PropensityScoreResult", "NearestNeighbourMatching",
    "CoarsenedExactMatching", "InverseProbabilityWeighting", "EntropyBalancing",
    "DifferenceInMeans", "MatchedDiD", "ComparisonResult", "Balance", "balance_table",
    "assess_balance", "e_value", "EValue", "placebo_test", "ipw", "entropy_balance",
    "nearest_neighbour_match",
    "SyntheticControl", "SyntheticControlResult", "PlaceResult", "Predictor", "wide_panel",
    "AugmentedSyntheticControl", "AugmentedSyntheticControlResult", "InterruptedTimeSeries",
    "StructuralTimeSeries", "ITSResult",
    "evaluate_place", "PlaceEvaluation", "SMSRating", "rate_sms", "prepare_person_panel",
    "person_cross_section", "area_panel", "PersonPanel", "AreaPanel",
]
