"""Evaluation designs: comparison groups, difference-in-differences, synthetic
control and interrupted time series, all returning :class:`EffectResult`."""

from .result import EffectResult, EffectResults, Summary, normal_inference

__all__ = ["EffectResult", "EffectResults", "Summary", "normal_inference"]
