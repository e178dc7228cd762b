"""Top-k and centre-of-mass ablation tests (Sturmfels, Lundberg & Lee, "Visualizing the Impact of
Feature Attribution Baselines", Distill 2020, sections "Top K Ablation Tests" and "Mass Center
Ablation Tests"; METHODS.md "Other metrics").

- **top-k**: the top-k pixels of the map are ablated, k = a share of the pixels;
- **centre**: a square box centred on the map's centre of mass is ablated, growing in size.

A pixel is ablated by *mean imputation* (each image's per-channel mean) or by *blur* (its
Gaussian-blurred value; Distill uses sigma = 20 on 224-px images, scaled here to the image side:
``sigma = 20 * H / 224``, 2.5 px on 28x28). The curve is the target vs the ablated share of pixels;
a good map makes it fall fast, so a lower AUC is better (Distill: "the lower the curve, the better").

Centre of mass (decision): of the map's positive part ``max(map, 0)``; a map with no positive
value uses the image centre. The box is clipped to the image (it is shifted inwards, keeping its
size) so every step ablates exactly ``side^2`` pixels.
"""
from __future__ import annotations

from enum import Enum
from typing import Sequence

import torch
from torch import Tensor

from ..errors import UnsureError
from ..ops.blur import gaussian_blur_many as gaussian_blur
from ..posteriors import Draw, Posterior
from ..validate import checks_generator
from .base import register_metric
from .insertion_deletion import (CurveResult, _prepare, bind_target, mask_curve, order_curve,
                                 replaced_order_curve, step_counts, trapezoid)


class Ablation(str, Enum):
    """How an ablated pixel is replaced."""

    MEAN = "mean"
    BLUR = "blur"


def ablated_images(x: Tensor, how: Ablation | str = "mean", blur_sigma: float | None = None) -> Tensor:
    """The replacement values of every pixel: ``[B,C,H,W] -> [B,C,H,W]``."""
    try:
        how = Ablation(how)
    except ValueError:
        raise UnsureError(f"ablation must be one of {[a.value for a in Ablation]}, got {how!r}") from None
    if how is Ablation.MEAN:
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()  # per image and channel
    sigma = float(blur_sigma) if blur_sigma is not None else 20 * x.shape[2] / 224
    return gaussian_blur(x, [sigma])[0]  # [1,B,C,H,W] -> [B,C,H,W]


@checks_generator
def topk_ablation(posterior: Posterior, x: Tensor, maps: Tensor, target="class", *,
                  how: Ablation | str = "mean", steps: int = 20, max_fraction: float = 1.0,
                  blur_sigma: float | None = None, draw: Draw | None = None,
                  generator: torch.Generator | None = None, batch_size: int | None = None,
                  replacement=None, replacement_seed: int = 0):
    """Ablate the top-k pixels of each map, k from 0 to ``max_fraction * H * W``.

    Parameters
    ----------
    x : ``[B, C, H, W]``; maps : ``[B, H, W]`` (higher = ablated first)
    target : measure name, class target or callable ``[S,B,K] -> [B]``
    how : ``"mean"`` (mean imputation) or ``"blur"``
    steps : the curve has ``steps + 1`` points, evenly spaced in ``[0, max_fraction]``
    generator : seeds the order among tied map values (and the draw, if none is given)
    replacement : None (``how``), or the substitute of the ablated pixels, overriding ``how``:
        "blur" (sigma ``blur_sigma``), "zero", "mean", "noise", "road" (``metrics.replacements``,
        one draw each unless the item says ``n_draws``; mean over draws), a :class:`Replacement`
        or a list of them (returns ``{name: CurveResult}``)
    replacement_seed : seed of the noise and road draws

    Returns
    -------
    :class:`CurveResult`; ``fractions [steps+1]`` is the ablated share (pixel counts rounded);
    ``auc`` is divided by the last fraction, so it is a mean target value comparable across
    ``max_fraction``.
    """
    x, draw = _prepare(posterior, x, maps, draw, generator)
    if not 0 < max_fraction <= 1:
        raise UnsureError(f"max_fraction must be in (0, 1], got {max_fraction}")
    H, W = x.shape[2:]
    step_counts(steps, 1)  # validates steps
    counts = torch.round(torch.arange(steps + 1, dtype=torch.float64) / steps
                         * max_fraction * H * W).long()  # [steps+1] pixels ablated
    if replacement is not None:
        sigma = float(blur_sigma) if blur_sigma is not None else 20 * H / 224
        res = replaced_order_curve(draw, x, maps, counts, False, replacement, target, generator,
                                   batch_size, "topk", sigmas=[sigma], seed=replacement_seed, n_draws=1)
        one = isinstance(res, CurveResult)
        res = {res.mode: res} if one else res
        res = {k: CurveResult(r.fractions, r.curves, trapezoid(r.curves, r.fractions) / float(r.fractions[-1]),
                              r.mode) for k, r in res.items()}
        return next(iter(res.values())) if one else res
    res = order_curve(draw, x, maps, x, ablated_images(x, how, blur_sigma), target, counts,
                      generator, batch_size, f"topk-{Ablation(how).value}")
    fr, cu = res.fractions, res.curves
    return CurveResult(fr, cu, trapezoid(cu, fr) / float(fr[-1]), res.mode)


def centre_of_mass(maps: Tensor) -> Tensor:
    """Row and column of the centre of mass of ``max(map, 0)``: ``[B,H,W] -> [B,2]`` (float)."""
    B, H, W = maps.shape
    m = maps.detach().double().clamp_min(0)
    mass = m.sum((1, 2))  # [B]
    rows = torch.arange(H, dtype=torch.float64, device=maps.device)
    cols = torch.arange(W, dtype=torch.float64, device=maps.device)
    r = (m.sum(2) * rows).sum(1) / mass.clamp_min(1e-300)  # [B,H] -> [B]
    c = (m.sum(1) * cols).sum(1) / mass.clamp_min(1e-300)  # [B,W] -> [B]
    empty = mass <= 0
    r = torch.where(empty, torch.full_like(r, (H - 1) / 2), r)
    c = torch.where(empty, torch.full_like(c, (W - 1) / 2), c)
    return torch.stack([r, c], 1)


def centre_boxes(com: Tensor, side: int, H: int, W: int) -> Tensor:
    """Boxes ``(top, left, bottom, right)`` of side ``side`` centred on ``com [B,2]``, shifted
    inside the image: ``[B,4]`` int64."""
    top = torch.round(com[:, 0] - (side - 1) / 2).long().clamp(0, H - side)
    left = torch.round(com[:, 1] - (side - 1) / 2).long().clamp(0, W - side)
    return torch.stack([top, left, top + side, left + side], 1)


def box_masks(boxes: Tensor, H: int, W: int) -> Tensor:
    """``[B,4]`` boxes -> ``[B,H,W]`` bool masks."""
    rows = torch.arange(H, device=boxes.device)[None, :, None]
    cols = torch.arange(W, device=boxes.device)[None, None, :]
    b = boxes[:, :, None, None]  # [B,4] -> [B,4,1,1]
    return (rows >= b[:, 0]) & (rows < b[:, 2]) & (cols >= b[:, 1]) & (cols < b[:, 3])


@checks_generator
def centre_ablation(posterior: Posterior, x: Tensor, maps: Tensor, target="class", *,
                    how: Ablation | str = "mean", sides: Sequence[int] | None = None,
                    blur_sigma: float | None = None, draw: Draw | None = None,
                    generator: torch.Generator | None = None, batch_size: int | None = None) -> CurveResult:
    """Ablate a square box centred on each map's centre of mass, for growing box sides.

    Parameters
    ----------
    sides : box sides (default ``0, 2, 4, ...`` up to ``min(H, W)``); side 0 is the original image
    Other parameters as :func:`topk_ablation`.

    Returns
    -------
    :class:`CurveResult`; ``fractions = side^2 / (H W)``; ``auc`` over ``[0, last fraction]``,
    divided by the last fraction.
    """
    x, draw = _prepare(posterior, x, maps, draw, generator)
    B, C, H, W = x.shape
    sides = list(range(0, min(H, W) + 1, 2)) if sides is None else [int(s) for s in sides]
    if not sides or any(not 0 <= s <= min(H, W) for s in sides) or sorted(sides) != sides:
        raise UnsureError(f"sides must be ascending ints in [0, {min(H, W)}], got {sides}")
    com = centre_of_mass(maps.to(x.device))
    masks = torch.stack([box_masks(centre_boxes(com, s, H, W), H, W) if s > 0
                         else torch.zeros(B, H, W, dtype=torch.bool, device=x.device)
                         for s in sides])  # [T,B,H,W]
    curves = mask_curve(draw, x, ablated_images(x, how, blur_sigma), lambda ts: masks[ts],
                        len(sides), bind_target(target, draw, x), batch_size).cpu()
    fr = torch.tensor([s * s / (H * W) for s in sides], dtype=torch.float64)
    last = float(fr[-1]) if fr[-1] > 0 else 1.0
    return CurveResult(fr, curves, trapezoid(curves, fr) / last, f"centre-{Ablation(how).value}")


register_metric("topk-ablation-auc", False, "both",
                "mean target while the top-k map pixels are ablated (mean or blur), Distill 2020",
                topk_ablation)
register_metric("centre-ablation-auc", False, "both",
                "mean target while a box around the map's centre of mass is ablated, Distill 2020",
                centre_ablation)
