"""Uncertainty measures ``[S,B,K] -> [B]`` (registered as :class:`Measure` objects in ``MEASURES``)
and attribution targets."""
from .entropy import aleatoric, epistemic, total
from .evidential import dissonance, vacuity
from .measure import MEASURES, Measure, decompose, decomposable, measure_of, register_measure
from .targets import ClassScore, resolve_target, target_name

__all__ = [
    "MEASURES", "Measure", "register_measure", "decomposable", "measure_of", "total", "aleatoric",
    "epistemic", "decompose", "vacuity", "dissonance", "ClassScore", "resolve_target", "target_name",
]
