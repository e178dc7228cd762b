"""Posteriors: each yields logit samples ``[S,B,K]`` via ``sample_logits`` / ``draw``."""
from .base import POSTERIORS, Draw, Posterior, find_feature_layer
from .ensemble import DeepEnsemble
from .evidential import Evidential
from .laplace import LastLayerLaplace
from .mc_dropout import MCDropout
from .dropconnect import DropConnect
from .variational import MeanFieldVI
from .function import FunctionPosterior
from .laplace_torch import LaplaceTorch
from .stacked import StackedEstimators
from .preprocess import Normalize, Preprocessed
from .protocol import as_posterior
from .weight_noise import WeightNoise

__all__ = ["POSTERIORS", "Draw", "Posterior", "DeepEnsemble", "Evidential", "LastLayerLaplace", "MCDropout", "DropConnect",
           "MeanFieldVI", "WeightNoise", "find_feature_layer", "FunctionPosterior", "LaplaceTorch",
           "StackedEstimators", "as_posterior", "Normalize", "Preprocessed"]
