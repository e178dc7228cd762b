"""Rotated digits: prediction and uncertainty vs angle, and Grad-CAM vs the object (Agarwal et al.,
"Visual explanation to uncertainty via gradient based localization", ``papers/gradcam-evidential-
agarwal.md``, Sec. 4 and 7; METHODS.md "Other metrics").

- :func:`rotate` turns images about their centre with ``affine_grid``/``grid_sample`` (bilinear,
  zeros outside); positive angles are counter-clockwise on screen (row 0 at the top), so 90 degrees
  equals ``torch.rot90(x, 1, (2, 3))``.
- :func:`rotation_curve`: predicted class, max mean probability and uncertainty measures (vacuity
  for evidential posteriors, epistemic for ensembles) at each angle.
- :func:`dice_iou`: Dice ``2|X n Y| / (|X| + |Y|)`` (paper Eq. 7) and IoU (Eq. 8) between the
  thresholded map mask and the object mask (pixels above a threshold of the image).
- :func:`compare`: upright vs rotated, by the Wilcoxon signed-rank test (scipy) because the two
  samples are the same images (paired) and Dice/IoU are bounded, skewed scores, so no normality is
  assumed; Mann-Whitney U is offered for unpaired samples. The paper reports p-values without
  naming its test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UnsureError
from ..measures import resolve_target
from ..posteriors import Draw
from ..validate import check_images
from .base import register_metric
from .localization import minmax


def rotate(x: Tensor, degrees: float | Sequence[float] | Tensor) -> Tensor:
    """Rotate ``x [B,C,H,W]`` about the image centre by ``degrees`` (scalar or ``[B]``).

    Bilinear interpolation, zeros outside, ``align_corners=False`` (pixel centres of a square image
    map onto pixel centres at multiples of 90 degrees). Differentiable; ``x`` is not modified.
    """
    check_images(x)
    B, C, H, W = x.shape
    deg = torch.as_tensor(degrees, dtype=torch.float64).reshape(-1)
    if deg.numel() == 1:
        deg = deg.expand(B)
    if deg.numel() != B:
        raise UnsureError(f"degrees must be a scalar or [B]={B} angles, got {deg.numel()}")
    t = deg * math.pi / 180
    cos, sin = torch.cos(t), torch.sin(t)
    # output pixel (u, v) in normalised coords (x right, y down) samples input at R(-theta) (u, v);
    # with y pointing down, a counter-clockwise turn on screen samples at (cos u - sin v, sin u + cos v)
    theta = torch.zeros(B, 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * H / W
    theta[:, 1, 0], theta[:, 1, 1] = sin * W / H, cos
    grid = F.affine_grid(theta.to(x.dtype).to(x.device), [B, C, H, W], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@dataclass
class RotationCurve:
    """Outcome of :func:`rotation_curve`: ``angles [A]``; ``pred``, ``max_prob`` and every
    ``measures[name]`` are ``[A, B]``."""

    angles: Tensor
    pred: Tensor
    max_prob: Tensor
    measures: dict[str, Tensor]


@torch.no_grad()
def rotation_curve(draw: Draw, x: Tensor, angles: Sequence[float],
                   measures: Sequence[str] = ("epistemic",), batch_size: int = 500) -> RotationCurve:
    """Prediction and uncertainty of each image rotated by every angle.

    Parameters
    ----------
    draw : one frozen posterior draw (``posterior.draw(generator)``)
    x : ``[B, C, H, W]``
    angles : degrees, e.g. ``range(0, 181, 10)``
    measures : measure names (``"epistemic"``, ``"vacuity"``, ...), each ``[S,B,K] -> [B]``
    """
    check_images(x)
    fns = {m: resolve_target(m) for m in measures}
    preds, probs, vals = [], [], {m: [] for m in measures}
    for a in angles:
        xr = rotate(x, float(a))
        z = torch.cat([draw(xr[s:s + batch_size]) for s in range(0, len(xr), batch_size)], 1)  # [S,B,K]
        p = torch.softmax(z, -1).mean(0)  # [S,B,K] -> [B,K]
        preds.append(p.argmax(-1).cpu())
        probs.append(p.max(-1).values.cpu())
        for m, fn in fns.items():
            vals[m].append(fn(z).cpu())
    return RotationCurve(torch.tensor([float(a) for a in angles]), torch.stack(preds),
                         torch.stack(probs), {m: torch.stack(v) for m, v in vals.items()})


def object_mask(x: Tensor, threshold: float = 0.5) -> Tensor:
    """Pixels whose channel mean exceeds ``threshold``: ``[B,C,H,W] -> [B,H,W]`` bool."""
    check_images(x)
    return x.mean(1) > threshold


def map_mask(maps: Tensor, threshold: float = 0.5) -> Tensor:
    """Pixels of the min-max normalised map above ``threshold``: ``[B,H,W] -> [B,H,W]`` bool."""
    return minmax(maps.detach().double()) > threshold


def dice_iou(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Dice ``2|A n B| / (|A| + |B|)`` and IoU ``|A n B| / |A u B|`` of bool masks ``[B,H,W]``.

    Returns ``(dice [B], iou [B])`` float64; both are NaN where both masks are empty.
    """
    if a.shape != b.shape:
        raise UnsureError(f"masks differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    a, b = a.reshape(len(a), -1).bool(), b.reshape(len(b), -1).bool()
    inter = (a & b).sum(1).double()
    na, nb = a.sum(1).double(), b.sum(1).double()
    nan = torch.full_like(inter, float("nan"))
    dice = torch.where(na + nb > 0, 2 * inter / (na + nb).clamp_min(1), nan)
    iou = torch.where(na + nb > 0, inter / (na + nb - inter).clamp_min(1), nan)
    return dice.cpu(), iou.cpu()


def cam_object_overlap(maps: Tensor, x: Tensor, map_threshold: float = 0.5,
                       object_threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """Dice and IoU ``[B]`` between ``maps [B,H,W]`` thresholded and the object of ``x [B,C,H,W]``."""
    if maps.shape != (x.shape[0], *x.shape[2:]):
        raise UnsureError(f"maps must have shape [B,H,W]={[x.shape[0], *x.shape[2:]]}, got {tuple(maps.shape)}")
    return dice_iou(map_mask(maps, map_threshold), object_mask(x, object_threshold).to(maps.device))


@dataclass
class Comparison:
    """A two-sample test: ``test`` name, ``statistic``, two-sided ``p_value``, medians, sizes."""

    test: str
    statistic: float
    p_value: float
    median_a: float
    median_b: float
    n: int


def compare(a: Tensor, b: Tensor, paired: bool = True) -> Comparison:
    """Two-sided test of ``a`` vs ``b`` (e.g. Dice of upright vs rotated images).

    ``paired``: Wilcoxon signed-rank on the pairs where both are finite (``zero_method="wilcox"``
    drops ties); otherwise Mann-Whitney U on the finite values of each.
    """
    from scipy.stats import mannwhitneyu, wilcoxon

    a, b = a.double().cpu(), b.double().cpu()
    if paired:
        if a.shape != b.shape:
            raise UnsureError("paired samples must have the same length")
        ok = torch.isfinite(a) & torch.isfinite(b)
        a, b = a[ok], b[ok]
        if len(a) == 0 or bool((a == b).all()):
            return Comparison("wilcoxon", float("nan"), 1.0, float(a.median()) if len(a) else float("nan"),
                              float(b.median()) if len(b) else float("nan"), len(a))
        r = wilcoxon(a.numpy(), b.numpy(), zero_method="wilcox", alternative="two-sided")
        name = "wilcoxon"
    else:
        a, b = a[torch.isfinite(a)], b[torch.isfinite(b)]
        if len(a) == 0 or len(b) == 0:
            raise UnsureError("Mann-Whitney U needs finite values in both samples")
        r = mannwhitneyu(a.numpy(), b.numpy(), alternative="two-sided")
        name = "mann-whitney-u"
    return Comparison(name, float(r.statistic), float(r.pvalue), float(a.median()),
                      float(b.median()), len(a))


register_metric("cam-dice", True, "class",
                "Dice of the thresholded map with the object mask (Agarwal et al., Eq. 7)", cam_object_overlap)
register_metric("cam-iou", True, "class",
                "IoU of the thresholded map with the object mask (Agarwal et al., Eq. 8)", cam_object_overlap)
