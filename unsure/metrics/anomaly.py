"""Anomaly-patch localisation (UA-Backprop paper, Appendix C; METHODS.md "Anomaly-patch localisation").

A random ``patch x patch`` square of each test image is replaced by the same square of a random
training image; the images whose epistemic uncertainty rose most are kept. A map localises the
anomaly when the ``patch x patch`` window with the highest mean attribution (exhaustive search)
overlaps the true square with IoU > 0.5; ADA is the share of images where it does.

Boxes are ``[B, 4]`` int64 ``(top, left, bottom, right)`` with exclusive ``bottom``/``right``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UnsureError
from ..measures import resolve_target
from ..posteriors import Draw, Posterior
from ..validate import check_images, check_maps, checks_generator
from .base import register_metric


@dataclass
class AnomalyResult:
    """Outcome of :func:`anomaly_localisation`.

    Attributes
    ----------
    ada : share of images with IoU > 0.5 (anomaly detection accuracy)
    iou : ``[B]`` IoU of the predicted and the true box
    pred_boxes : ``[B, 4]`` the highest-mean window, ``(top, left, bottom, right)``
    """

    higher_is_better: ClassVar[dict[str, bool]] = {"ada": True, "iou": True}

    ada: float
    iou: Tensor
    pred_boxes: Tensor

    @property
    def mean_iou(self) -> float:
        return float(self.iou.mean())


def _check_patch(patch: int, H: int, W: int) -> None:
    if not isinstance(patch, int) or not 1 <= patch <= min(H, W):
        raise UnsureError(f"patch must be an int in [1, {min(H, W)}] for {H}x{W} images, got {patch!r}")


@checks_generator
def make_anomalies(x_test: Tensor, x_train: Tensor, patch: int = 10,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Paste a random square of a random training image into each test image, at the same place.

    Parameters
    ----------
    x_test : ``[B, C, H, W]`` images to corrupt (not modified)
    x_train : ``[N, C, H, W]`` donors
    patch : side of the square (paper: 10 on 28x28)
    generator : seeds the positions and donors

    Returns
    -------
    x_anom : ``[B, C, H, W]``
    boxes : ``[B, 4]`` int64 ``(top, left, bottom, right)``, bottom/right exclusive
    """
    check_images(x_test, "x_test")
    check_images(x_train, "x_train")
    B, C, H, W = x_test.shape
    if x_train.shape[1:] != x_test.shape[1:]:
        raise UnsureError(f"x_train images {tuple(x_train.shape[1:])} differ from x_test {tuple(x_test.shape[1:])}")
    _check_patch(patch, H, W)
    top = torch.randint(0, H - patch + 1, (B,), generator=generator)
    left = torch.randint(0, W - patch + 1, (B,), generator=generator)
    donor = torch.randint(0, x_train.shape[0], (B,), generator=generator)
    rows = torch.arange(H)[None, :, None]  # [1,H,1]
    cols = torch.arange(W)[None, None, :]  # [1,1,W]
    inside = ((rows >= top[:, None, None]) & (rows < top[:, None, None] + patch)
              & (cols >= left[:, None, None]) & (cols < left[:, None, None] + patch))  # [B,H,W]
    inside = inside[:, None].to(x_test.device)  # [B,H,W] -> [B,1,H,W]
    x_anom = torch.where(inside, x_train[donor.to(x_train.device)].to(x_test.device), x_test)
    boxes = torch.stack([top, left, top + patch, left + patch], 1)  # [B,4]
    return x_anom, boxes


@torch.no_grad()
def select_most_increased(posterior: Posterior, x: Tensor, x_anom: Tensor, n: int = 200,
                          draw: Draw | None = None, target="epistemic",
                          batch_size: int = 500) -> Tensor:
    """Indices ``[min(n, B)]`` of the images whose ``target`` rose most, largest rise first.

    Parameters
    ----------
    x, x_anom : ``[B, C, H, W]`` the clean and the corrupted images
    draw : the frozen draw used for both (default: ``posterior.draw()``)
    target : measure whose rise is ranked (paper: epistemic uncertainty)
    """
    from ..posteriors.protocol import as_posterior

    check_images(x)
    check_images(x_anom, "x_anom")
    if x.shape != x_anom.shape:
        raise UnsureError(f"x {tuple(x.shape)} and x_anom {tuple(x_anom.shape)} differ in shape")
    post = as_posterior(posterior)
    draw = draw if draw is not None else post.draw()
    fn = resolve_target(target)
    dev = post.device

    def values(imgs: Tensor) -> Tensor:
        return torch.cat([fn(draw(imgs[s:s + batch_size].to(dev))).cpu()
                          for s in range(0, len(imgs), batch_size)])

    rise = values(x_anom) - values(x)  # [B]
    return rise.topk(min(n, len(rise))).indices


def best_windows(maps: Tensor, patch: int = 10) -> Tensor:
    """The ``patch x patch`` window with the highest mean of each map: ``[B,H,W] -> [B,4]``.

    Exhaustive over all positions with a stride-1 average pool; ties go to the first position in
    row-major order.
    """
    B, H, W = maps.shape
    _check_patch(patch, H, W)
    means = F.avg_pool2d(maps[:, None].double(), patch, stride=1)  # [B,1,H-p+1,W-p+1]
    w_out = means.shape[-1]
    flat = means.reshape(B, -1).argmax(1).cpu()  # [B,1,h,w] -> [B,h*w] -> [B]
    top, left = flat // w_out, flat % w_out
    return torch.stack([top, left, top + patch, left + patch], 1)


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of boxes ``(top, left, bottom, right)``: ``[B,4], [B,4] -> [B]``."""
    a, b = a.to(torch.float64), b.to(torch.float64)
    ih = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp_min(0)
    iw = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp_min(0)
    inter = ih * iw
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def anomaly_localisation(maps: Tensor, boxes: Tensor, patch: int = 10) -> AnomalyResult:
    """Localise the anomaly in each map and score it against the true box.

    Parameters
    ----------
    maps : ``[B, H, W]`` attribution maps (higher = more responsible)
    boxes : ``[B, 4]`` true boxes from :func:`make_anomalies`
    patch : window side (the anomaly's side)

    Returns
    -------
    :class:`AnomalyResult` with ``iou [B]`` and ``ada`` = share of IoU > 0.5
    """
    if not isinstance(maps, Tensor) or maps.ndim != 3:
        raise UnsureError(f"maps must be a tensor [B,H,W], got {getattr(maps, 'shape', type(maps))}")
    B, H, W = maps.shape
    check_maps(maps, maps.new_zeros(B, 1, H, W))
    if not isinstance(boxes, Tensor) or boxes.shape != (B, 4):
        raise UnsureError(f"boxes must have shape [B,4]=[{B},4], got {getattr(boxes, 'shape', None)}")
    pred = best_windows(maps.detach(), patch)
    iou = box_iou(pred, boxes.cpu())
    return AnomalyResult(float((iou > 0.5).double().mean()), iou, pred)


register_metric("ada", True, "uncertainty",
                "anomaly detection accuracy: share of images whose best window has IoU > 0.5",
                anomaly_localisation)
register_metric("anomaly-iou", True, "uncertainty",
                "mean IoU of the highest-mean window with the pasted anomaly patch", anomaly_localisation)
