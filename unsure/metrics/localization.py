"""Weakly supervised localisation against ground-truth masks (METHODS.md "Other metrics"), and the
decoy data set of Sturmfels et al. (Distill 2020, "decoy MNIST": a corner patch encodes the class).

Per image, with the map min-max normalised to ``[0, 1]`` (a constant map becomes all zeros):

- ROC-AUC of the map as a score for the mask's pixels (ties count one half, as scikit-learn's
  ``roc_auc_score``);
- F1 at the best threshold: ``max_t F1(mask, map >= t)`` over every value ``t`` the map takes;
- MAE ``mean |map - mask|``.

Images whose mask is empty or covers the whole image have no ROC-AUC and are skipped; the result
says how many.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ..errors import UnsureError
from ..validate import check_images
from .base import register_metric


@dataclass
class LocalizationResult:
    """Outcome of :func:`localization_scores`.

    Attributes
    ----------
    auc, f1, mae : ``[B']`` per kept image
    kept : ``[B']`` indices of the kept images in the input batch
    skipped : images skipped for an empty or full mask
    """

    higher_is_better: ClassVar[dict[str, bool]] = {"auc": True, "f1": True, "mae": False}

    auc: Tensor
    f1: Tensor
    mae: Tensor
    kept: Tensor
    skipped: int

    def summary(self) -> dict[str, float]:
        nan = float("nan")
        return {"auc": float(self.auc.mean()) if len(self.kept) else nan,
                "f1": float(self.f1.mean()) if len(self.kept) else nan,
                "mae": float(self.mae.mean()) if len(self.kept) else nan,
                "images": len(self.kept), "skipped": self.skipped}


def minmax(maps: Tensor) -> Tensor:
    """Per-map min-max normalisation to ``[0, 1]``; a constant map becomes zeros: ``[B,H,W]``."""
    flat = maps.reshape(maps.shape[0], -1)  # [B,H,W] -> [B,HW]
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = hi - lo
    out = torch.where(span > 0, (flat - lo) / torch.where(span > 0, span, torch.ones_like(span)),
                      torch.zeros_like(flat))
    return out.reshape(maps.shape)


def roc_auc(scores: Tensor, labels: Tensor) -> Tensor:
    """ROC-AUC per row by the rank-sum (Mann-Whitney) formula with mid-ranks for ties.

    ``scores [B,N]`` float, ``labels [B,N]`` bool with at least one positive and one negative per
    row: ``[B]`` float64.
    """
    s = scores.double()
    srt = s.sort(1).values
    lo = torch.searchsorted(srt, s, right=False)  # [B,N] values strictly below
    hi = torch.searchsorted(srt, s, right=True)  # [B,N] values below or equal
    rank = (lo + hi + 1).double() / 2  # 1-based mid-rank
    pos = labels.sum(1).double()
    neg = labels.shape[1] - pos
    rank_sum = (rank * labels).sum(1)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def best_f1(scores: Tensor, labels: Tensor) -> Tensor:
    """``max_t F1(labels, scores >= t)`` over the values ``t`` of each row: ``[B,N] -> [B]``."""
    s, order = scores.double().sort(1, descending=True)
    lab = labels.gather(1, order).double()
    tp = lab.cumsum(1)  # [B,N] true positives when the first j+1 pixels are predicted positive
    npred = torch.arange(1, s.shape[1] + 1, dtype=torch.float64, device=s.device).expand_as(tp)
    pos = lab.sum(1, keepdim=True)
    f1 = 2 * tp / (npred + pos)  # 2TP / (2TP + FP + FN) = 2TP / (#predicted + #positive)
    # a threshold keeps whole tie groups: only cut after the last member of a group
    boundary = torch.ones_like(s, dtype=torch.bool)
    boundary[:, :-1] = s[:, :-1] > s[:, 1:]
    return torch.where(boundary, f1, torch.zeros_like(f1)).max(1).values


def localization_scores(maps: Tensor, masks: Tensor) -> LocalizationResult:
    """ROC-AUC, best-threshold F1 and MAE of each map against its ground-truth mask.

    Parameters
    ----------
    maps : ``[B, H, W]`` attribution maps (higher = more likely in the mask)
    masks : ``[B, H, W]`` bool (or 0/1) ground truth

    Returns
    -------
    :class:`LocalizationResult` over the images whose mask is neither empty nor full
    """
    if not isinstance(maps, Tensor) or maps.ndim != 3 or not torch.isfinite(maps).all():
        raise UnsureError(f"maps must be a finite tensor [B,H,W], got {getattr(maps, 'shape', type(maps))}")
    if not isinstance(masks, Tensor) or masks.shape != maps.shape:
        raise UnsureError(f"masks must have the maps' shape {tuple(maps.shape)}, got {getattr(masks, 'shape', None)}")
    B = maps.shape[0]
    lab = masks.reshape(B, -1).bool().to(maps.device)  # [B,H,W] -> [B,HW]
    npos = lab.sum(1)
    keep = (npos > 0) & (npos < lab.shape[1])
    kept = keep.nonzero().squeeze(1)
    norm = minmax(maps.detach().double()).reshape(B, -1)[kept]
    lab = lab[kept]
    if len(kept) == 0:
        empty = torch.zeros(0, dtype=torch.float64)
        return LocalizationResult(empty, empty, empty, kept.cpu(), B)
    mae = (norm - lab.double()).abs().mean(1)
    return LocalizationResult(roc_auc(norm, lab).cpu(), best_f1(norm, lab).cpu(), mae.cpu(),
                              kept.cpu(), int(B - len(kept)))


def make_decoy(x: Tensor, y: Tensor, size: int = 3, corner: str = "top-left",
               num_classes: int | None = None) -> tuple[Tensor, Tensor]:
    """Decoy images: a ``size x size`` corner patch set to the intensity ``y / (K - 1)``.

    Distill 2020 (after Ross et al. 2017's decoy MNIST) sets the top-left corner to
    ``255 * y / 9``: a network can read the class off the patch, so class-score maps of a network
    trained on decoy data should point at it. The patch covers all channels.

    Parameters
    ----------
    x : ``[B, C, H, W]`` images in ``[0, 1]`` (not modified)
    y : ``[B]`` int labels in ``[0, K)``
    size : patch side
    corner : ``"top-left"``, ``"top-right"``, ``"bottom-left"`` or ``"bottom-right"``
    num_classes : K (default ``max(y) + 1``, at least 2)

    Returns
    -------
    x_decoy : ``[B, C, H, W]``
    masks : ``[B, H, W]`` bool, the patch
    """
    check_images(x)
    B, C, H, W = x.shape
    if not isinstance(y, Tensor) or y.shape != (B,):
        raise UnsureError(f"y must be a tensor [B]=[{B}], got {getattr(y, 'shape', type(y))}")
    if not isinstance(size, int) or not 1 <= size <= min(H, W):
        raise UnsureError(f"decoy size must be an int in [1, {min(H, W)}], got {size!r}")
    corners = {"top-left": (0, 0), "top-right": (0, W - size), "bottom-left": (H - size, 0),
               "bottom-right": (H - size, W - size)}
    if corner not in corners:
        raise UnsureError(f"corner must be one of {sorted(corners)}, got {corner!r}")
    K = int(num_classes) if num_classes is not None else max(int(y.max()) + 1, 2)
    if int(y.min()) < 0 or int(y.max()) >= K:
        raise UnsureError(f"labels must be in [0, {K}), got [{int(y.min())}, {int(y.max())}]")
    r, c = corners[corner]
    masks = torch.zeros(B, H, W, dtype=torch.bool, device=x.device)
    masks[:, r:r + size, c:c + size] = True
    value = (y.to(x.device, x.dtype) / (K - 1))[:, None, None, None]  # [B] -> [B,1,1,1]
    return torch.where(masks[:, None], value, x), masks


register_metric("loc-auc", True, "both",
                "per-image ROC-AUC of the min-max-normalised map against a ground-truth mask",
                localization_scores)
register_metric("loc-f1", True, "both", "per-image F1 at the best threshold against a ground-truth mask",
                localization_scores)
register_metric("loc-mae", False, "both",
                "per-image mean |normalised map - mask| against a ground-truth mask", localization_scores)
