"""Input normalisation inside the model, so explanations stay in pixel space.

Networks trained on normalised inputs (``(x - mean) / std``, torchvision / timm style) get
``preprocess=`` instead of normalised images: every method and metric then works on pixels in
``[0, 1]``, so a black reference is black (``x' = 0``), a blurred reference is the blurred photo,
and maps and blurring tests are about pixels. The normalisation runs inside each member.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from ..errors import UnsureError
from .base import find_feature_layer


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; ``mean``, ``std`` of length C (buffers, so ``.to`` moves them)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        mean_t, std_t = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
        if mean_t.ndim != 1 or mean_t.shape != std_t.shape or not (std_t > 0).all():
            raise UnsureError(f"preprocess mean and std must be equal-length lists with std > 0, "
                              f"got {list(mean_t.shape)} and {list(std_t.shape)}")
        self.register_buffer("mean", mean_t.reshape(1, -1, 1, 1))
        self.register_buffer("std", std_t.reshape(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] != self.mean.shape[1]:
            raise UnsureError(f"preprocess has {self.mean.shape[1]} channel(s), the images {x.shape[1]}")
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


def as_preprocess(preprocess) -> Callable[[Tensor], Tensor]:
    """A callable ``x -> x'``, or ``(mean, std)`` / ``{"mean": ..., "std": ...}`` -> :class:`Normalize`."""
    if isinstance(preprocess, dict):
        return Normalize(preprocess["mean"], preprocess["std"])
    if isinstance(preprocess, (tuple, list)) and len(preprocess) == 2:
        return Normalize(*preprocess)
    if callable(preprocess):
        return preprocess
    raise UnsureError(f"preprocess= must be (mean, std) or a callable x -> x', got {type(preprocess).__name__}")


class Preprocessed(nn.Module):
    """``net(preprocess(x))``; layer hooks and ``layer=`` paths see ``net``'s modules."""

    def __init__(self, net: nn.Module, preprocess):
        super().__init__()
        self.net = net
        self.preprocess = as_preprocess(preprocess)

    @property
    def feature_layer(self) -> nn.Module | None:
        return find_feature_layer(self.net)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.preprocess(x))
