"""unsure: explain where a Bayesian deep model's predictive uncertainty comes from.

>>> import unsure
>>> post = unsure.DeepEnsemble([net1, net2, net3])
>>> res = unsure.attribute(post, x, target="epistemic")  # method "default" (UA-Backprop)
>>> res.maps  # [B,H,W], sums to the epistemic uncertainty of each image
"""
from __future__ import annotations

import torch
from torch import Tensor

from . import attribution as _attribution  # noqa: F401  (registers methods)
from .attribution import Attribution, METHODS, attribute
from .attribution.captum_bridge import target_function
from .errors import DataError, UnsureError
from .measures import MEASURES, ClassScore, aleatoric, epistemic, total
from .posteriors import (POSTERIORS, DeepEnsemble, DropConnect, Evidential, FunctionPosterior, LaplaceTorch, LastLayerLaplace,
                         MCDropout, MeanFieldVI, Posterior, StackedEstimators, WeightNoise)
from .posteriors.preprocess import Normalize, Preprocessed
from .posteriors.protocol import as_posterior
from ._version import __version__
from .run import load_run
from .score import Scores, ScoreOptions, score
from .user_model import save_run
from .plot import show


@torch.no_grad()
def uncertainty(posterior: Posterior, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Total, aleatoric and epistemic uncertainty ``[B]`` of ``posterior`` on images ``x [B,C,H,W]``."""
    from .posteriors.protocol import as_posterior
    from .modes import keep_modes
    from .validate import check_generator, check_images, check_unit_range

    check_unit_range(check_images(x))
    check_generator(generator)
    post = as_posterior(posterior)
    with keep_modes(post):  # drawing sets eval mode; the caller's modules keep theirs
        z = post.sample_logits(x, generator)  # [S,B,K]
    return {"total": total(z), "aleatoric": aleatoric(z), "epistemic": epistemic(z)}


__all__ = ["attribute", "uncertainty", "show", "Attribution", "DeepEnsemble", "MCDropout", "DropConnect", "Evidential",
           "WeightNoise", "LastLayerLaplace", "MeanFieldVI", "Posterior", "ClassScore", "target_function",
           "METHODS", "MEASURES", "POSTERIORS", "UnsureError", "DataError", "load_run",
           "as_posterior", "save_run", "score", "Scores", "ScoreOptions", "Normalize", "Preprocessed", "FunctionPosterior", "LaplaceTorch", "StackedEstimators"]
