"""Repeatability of a method's maps over fresh posterior draws and seeds (Schiller et al. 2026,
Sec. 3, "consistency").

A method is re-run ``repeats`` times, each with its own generator (a fresh posterior draw: new MC
dropout masks, new variational samples; and new seeds for a stochastic method); each new map is
compared with the scored map by cosine similarity and by Spearman rank correlation, and the
comparisons are averaged. Higher is better (1: the method returns the same map every time).

**(difference)** The authors divide both maps by their sums before comparing; Spearman does not
change, cosine changes sign when a sum is negative, so we compare the maps as they are. Their
conventions for degenerate maps are kept: two zero (constant) maps that are equal score 1, one zero
(constant) map 0. A deep ensemble's draw is the same every time, so only a method's own seeds move
its maps.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..errors import UnsureError
from ._maps import cosine, flat_maps, spearman
from .base import register_metric

#: ``explain(x [B,C,H,W], generator) -> maps [B,H,W]``: a method bound to a posterior and a target.
Explain = Callable[[Tensor, torch.Generator], Tensor]


def repeatability(explain: Explain, x: Tensor, maps: Tensor, repeats: int = 3,
                  seed: int = 1000) -> dict[str, Tensor]:
    """Mean cosine and Spearman between ``maps`` and ``repeats`` re-computed maps.

    Parameters
    ----------
    explain : the method (module alias :data:`Explain`)
    x : ``[B,C,H,W]``; maps : ``[B,H,W]`` (or ``[B,C,H,W]``) the scored maps of ``x``
    repeats : re-runs, re-run ``r`` with ``torch.Generator().manual_seed(seed + r)``

    Returns
    -------
    ``{"cosine": [B], "spearman": [B]}`` float64
    """
    if int(repeats) < 1:
        raise UnsureError(f"repeats must be >= 1, got {repeats}")
    ref = flat_maps(maps)
    if ref.shape[0] != x.shape[0]:
        raise UnsureError(f"maps has {ref.shape[0]} images, x has {x.shape[0]}")
    cos, rho = [], []
    for r in range(int(repeats)):
        new = flat_maps(explain(x, torch.Generator().manual_seed(seed + r)), "re-computed maps").cpu()
        cos.append(cosine(ref.cpu(), new))
        rho.append(spearman(ref.cpu(), new))
    return {"cosine": torch.stack(cos).mean(0), "spearman": torch.stack(rho).mean(0)}


register_metric("repeatability-cosine", True, "both",
                "mean cosine similarity with the maps of fresh posterior draws / seeds", repeatability)
register_metric("repeatability-spearman", True, "both",
                "mean Spearman correlation with the maps of fresh posterior draws / seeds", repeatability)
