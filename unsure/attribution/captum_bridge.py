"""A posterior's target as a plain function of the images, for Captum and other libraries.

>>> from captum.attr import Occlusion
>>> f = unsure.target_function(posterior, "epistemic")
>>> Occlusion(f).attribute(x, sliding_window_shapes=(1, 3, 3))  # [B,C,H,W]

Captum's methods take a ``forward_func`` returning one value per image when ``target=None``;
``f`` is exactly that, with one posterior draw frozen for all its calls.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..errors import UnsureError
from ..measures import resolve_target, target_name
from ..measures.targets import Target
from ..posteriors import Draw, Posterior
from ..validate import check_images
from ..posteriors.protocol import as_posterior


class TargetFunction:
    """``f(x [B,C,H,W]) -> [B]``: ``target(draw(x))`` for one frozen ``draw`` of a posterior.

    A predicted-class target (``"class"``) explains the class predicted for each input it is
    given: for perturbation methods (occlusion) name the class (``"class:3"``) instead.

    Attributes
    ----------
    draw : the frozen :class:`~unsure.posteriors.Draw` (S members)
    target : the resolved ``[S,B,K] -> [B]`` callable
    """

    def __init__(self, posterior: Posterior, draw: Draw, target: Target, name: str):
        self.posterior, self.draw, self.target, self.target_name = posterior, draw, target, name

    def __call__(self, x: Tensor) -> Tensor:
        check_images(x)
        f = self.target(self.draw(x.to(self.posterior.device)))  # [S,B,K] -> [B]
        if f.shape != (x.shape[0],):
            raise UnsureError(f"target {self.target_name!r} gave shape {tuple(f.shape)} for "
                              f"{x.shape[0]} images; expected [B]")
        return f

    def __repr__(self) -> str:
        return (f"TargetFunction({type(self.posterior).__name__}, S={len(self.draw)}, "
                f"target={self.target_name!r})")


def target_function(posterior: Posterior | Sequence[nn.Module] | nn.Module,
                    target: str | int | Target = "epistemic",
                    generator: torch.Generator | None = None) -> TargetFunction:
    """The target of ``posterior`` as a function ``x [B,C,H,W] -> [B]`` (a Captum ``forward_func``).

    Parameters
    ----------
    posterior : a posterior, a list of modules (deep ensemble) or one module
    target : a measure name ("epistemic"), a class target ("class:2"), an int class or a callable
        ``[S,B,K] -> [B]``
    generator : seeds the one posterior draw that every call of the function uses
    """
    post = as_posterior(posterior)
    return TargetFunction(post, post.draw(generator), resolve_target(target), target_name(target))
