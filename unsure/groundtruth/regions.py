"""Where the planted causes of the ground-truth benchmark go: square boxes and their masks.

A box is ``(top, left, side)``; boxes of one image never overlap, so an image with both causes
has them at different places. Sides scale with the image: the aleatoric region is half the side
(14 px on 28x28, 4 on 8x8, 16 on 32x32), the epistemic patch 0.45 of it (13 px on 28x28, 4 on
8x8, 14 on 32x32; chosen on Fashion-MNIST validation data), so the two always fit side by side.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsureError

ALEATORIC_SHARE = 0.5  # side of the aleatoric region / image side
EPISTEMIC_SHARE = 0.45  # side of the epistemic patch / image side (chosen on validation data, docs/results/groundtruth.md)
CHANGED = 0.05  # a pixel belongs to a cause's mask when some channel moved by more than this (METHODS.md)


def sides(size: int, aleatoric: float = ALEATORIC_SHARE, epistemic: float = EPISTEMIC_SHARE) -> tuple[int, int]:
    """``(aleatoric side, epistemic side)`` on a ``size x size`` image (each at least 2 px)."""
    a, e = max(2, round(aleatoric * size)), max(2, round(epistemic * size))
    if a + e > size:
        raise UnsureError(f"a {a}-px aleatoric region and a {e}-px epistemic patch do not fit side by "
                          f"side in a {size}x{size} image; use smaller shares")
    return a, e


def random_boxes(n: int, size: int, side: int, generator: torch.Generator, room: int = 0) -> Tensor:
    """``[n, 3]`` int64 boxes ``(top, left, side)`` placed uniformly in a ``size x size`` image,
    among the places that leave a ``room``-px strip free on some side (0: anywhere)."""
    pos = torch.arange(size - side + 1)
    top, left = torch.meshgrid(pos, pos, indexing="ij")
    top, left = top.reshape(-1), left.reshape(-1)  # [P] every placement
    free = torch.stack([top, size - top - side, left, size - left - side]).max(0).values >= room
    top, left = top[free], left[free]
    pick = torch.randint(0, len(top), (n,), generator=generator)
    return torch.stack([top[pick], left[pick], torch.full_like(pick, side)], 1)


def disjoint_boxes(avoid: Tensor, size: int, side: int, generator: torch.Generator) -> Tensor:
    """``[n, 3]`` boxes of ``side`` placed uniformly among the places that do not overlap the
    boxes ``avoid`` ``[n, 3]`` (one per image)."""
    pos = torch.arange(size - side + 1)
    top, left = torch.meshgrid(pos, pos, indexing="ij")
    top, left = top.reshape(-1), left.reshape(-1)  # [P] every placement
    t0, l0, s0 = avoid[:, 0:1], avoid[:, 1:2], avoid[:, 2:3]  # [n,1]
    apart = ((top[None] + side <= t0) | (top[None] >= t0 + s0)
             | (left[None] + side <= l0) | (left[None] >= l0 + s0))  # [n,P] no overlap
    if not bool(apart.any(1).all()):
        raise UnsureError(f"no place for a {side}-px patch beside the aleatoric region")
    u = torch.rand(apart.shape, generator=generator).masked_fill(~apart, -1.0)
    pick = u.argmax(1)  # a uniform choice among the free placements
    return torch.stack([top[pick], left[pick], torch.full_like(pick, side)], 1)


def box_masks(boxes: Tensor, size: int) -> Tensor:
    """``[n, 3]`` boxes -> ``[n, H, W]`` bool, True inside the box."""
    r = torch.arange(size)[None, :, None]
    c = torch.arange(size)[None, None, :]
    t, l, s = (boxes[:, i, None, None] for i in range(3))
    return (r >= t) & (r < t + s) & (c >= l) & (c < l + s)


def changed(x: Tensor, clean: Tensor, threshold: float = CHANGED) -> Tensor:
    """The cause mask of METHODS.md: ``[B,C,H,W] x2 -> [B,H,W]`` bool, pixels that moved by more
    than ``threshold`` in some channel."""
    return ((x - clean).abs() > threshold).any(1)
