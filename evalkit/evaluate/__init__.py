"""Evaluation designs: comparison groups, difference-in-differences, synthetic
control and interrupted time series, all returning :class:`EffectResult`."""

from .bacon import BaconDecomposition, BaconResult, bacon_decompose
from .did import TWFE, DiD, DiDResult, TWFEResult
from .event_study import EventStudy, EventStudyResult
from .fixed_effects import FEOLSFit, demean, feols, wald_test
from .result import EffectResult, EffectResults, Summary, normal_inference
from .staggered import StaggeredDiD, StaggeredDiDResult

__all__ = [
    "EffectResult", "EffectResults", "Summary", "normal_inference",
    "DiD", "DiDResult", "TWFE", "TWFEResult", "EventStudy", "EventStudyResult",
    "StaggeredDiD", "StaggeredDiDResult", "BaconDecomposition", "BaconResult",
    "bacon_decompose", "feols", "demean", "wald_test", "FEOLSFit",
]
