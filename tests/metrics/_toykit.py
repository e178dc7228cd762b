"""Tiny models whose class score or uncertainty depends only on known pixels (shared by metric tests)."""
from __future__ import annotations

import math

import torch
from torch import nn

from unsure.posteriors import DeepEnsemble


class LinearLogit(nn.Module):
    """``logits = [sum(w * x), 0]``: class 0's logit is linear in the pixels (K = 2)."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())  # [C,H,W]

    def forward(self, x):
        a = (x * self.w).flatten(1).sum(1)  # [B,C,H,W] -> [B]
        return torch.stack([a, torch.zeros_like(a)], 1)  # [B,2]


def region_weights(H: int, W: int, rows: slice, cols: slice, C: int = 1, dtype=torch.float64):
    """``[C,H,W]`` weights: 1 inside the region, 0 elsewhere."""
    w = torch.zeros(C, H, W, dtype=dtype)
    w[:, rows, cols] = 1.0
    return w


def disagreeing_ensemble(w: torch.Tensor) -> DeepEnsemble:
    """Two members ``+w`` and ``-w``: they agree (epistemic 0) exactly when ``sum(w x) = 0`` and
    disagree more as ``|sum(w x)|`` grows, so only pixels where ``w != 0`` carry uncertainty."""
    return DeepEnsemble([LinearLogit(w), LinearLogit(-w)])


def one_model(w: torch.Tensor) -> DeepEnsemble:
    return DeepEnsemble([LinearLogit(w)])


def ref_epistemic_2(a: float) -> float:
    """Mutual information of the ``+w/-w`` ensemble with ``a = sum(w x)``, by hand."""
    def H(p):
        return -sum(v * math.log(v) for v in p if v > 0)
    p1 = 1 / (1 + math.exp(-a))
    p2 = 1 - p1
    return H([0.5, 0.5]) - (H([p1, 1 - p1]) + H([p2, 1 - p2])) / 2
