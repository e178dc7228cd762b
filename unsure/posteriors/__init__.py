"""Posteriors: each yields logit samples ``[S,B,K]`` via ``sample_logits`` / ``draw``."""
from .base import POSTERIORS, Draw, Posterior, find_feature_layer
from .ensemble import DeepEnsemble

__all__ = ["POSTERIORS", "Draw", "Posterior", "DeepEnsemble", "find_feature_layer"]
