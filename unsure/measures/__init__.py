"""Uncertainty measures ``[S,B,K] -> [B]`` and attribution targets."""
from ..registry import Registry
from .entropy import aleatoric, decompose, epistemic, total
from .evidential import dissonance, vacuity
from .targets import ClassScore, resolve_target, target_name

MEASURES: Registry = Registry("measure")
MEASURES.register("total", "entropy of the mean prediction H(pbar)")(total)
MEASURES.register("aleatoric", "expected entropy mean_m H(p^m)")(aleatoric)
MEASURES.register("epistemic", "mutual information H(pbar) - mean_m H(p^m)")(epistemic)
MEASURES.register("vacuity", "evidential vacuity K / sum(alpha)")(vacuity)
MEASURES.register("dissonance", "evidential dissonance of the Dirichlet beliefs")(dissonance)

__all__ = [
    "MEASURES", "total", "aleatoric", "epistemic", "decompose", "vacuity", "dissonance",
    "ClassScore", "resolve_target", "target_name",
]
