"""Per-image pruning of UA-Backprop's backward rows for many classes (spec, Cost, **decision**).

A batched backward over one-hot cotangents costs one row per logit for the whole batch. When
every image keeps only a few terms but different images keep different ones, the union of the
kept logits over the batch is nearly all K; instead each row ``r`` differentiates, for image
``b``, that image's own ``r``-th kept term. The number of rows is the largest per-image count.
"""
from __future__ import annotations

import torch
from torch import Tensor


def prune_terms(a_z: Tensor, keep: float) -> tuple[Tensor, Tensor]:
    """Keep, per image, the fewest logits ``(m, j)`` that carry ``keep`` of ``sum |a(z_j^m)|`` and
    spread the dropped terms' sum over the kept ones in proportion to ``|a|`` (spec, Cost).

    Returns ``(a_z' [S,B,K], kept [S,B,K] bool)``; ``a_z'`` is 0 where not kept and
    ``a_z'.sum((0,2)) == a_z.sum((0,2))`` up to rounding.
    """
    S, B, K = a_z.shape
    mag = a_z.abs().permute(1, 0, 2).reshape(B, S * K)  # [S,B,K] -> [B,S*K]
    srt, order = mag.sort(dim=1, descending=True)
    cum = srt.cumsum(1)
    need = keep * cum[:, -1:]
    # an entry is kept if the mass before it is still short of the target
    kept_sorted = (cum - srt) < need
    kept_sorted[:, 0] = True
    kept = torch.zeros_like(kept_sorted).scatter(1, order, kept_sorted)
    kept = kept.reshape(B, S, K).permute(1, 0, 2)  # [B,S*K] -> [S,B,K]
    dropped = (a_z * ~kept).sum((0, 2))  # [S,B,K] -> [B]
    kept_mag = (a_z.abs() * kept).sum((0, 2)).clamp_min(torch.finfo(a_z.dtype).tiny)  # [B]
    share = a_z.abs() * kept / kept_mag[None, :, None]  # [S,B,K], sums to 1 per image
    return a_z * kept + dropped[None, :, None] * share, kept


def kept_rows(kept: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image indices of the kept entries of ``kept [B, K]`` (bool), as backward rows.

    Returns
    -------
    ``(idx [R, B] long, valid [R, B] bool)`` with ``R = max_b kept[b].sum()``: ``idx[r, b]`` is
    image b's r-th kept index; rows past an image's count repeat its first kept index (index 0
    if it keeps none) and have ``valid`` False, so they must get weight 0.
    """
    B, K = kept.shape
    count = kept.sum(1)  # [B]
    R = int(count.max()) if B else 0
    # a stable sort puts the kept indices first, in increasing order
    order = (~kept).int().argsort(dim=1, stable=True)[:, :R]  # [B,K] -> [B,R]
    valid = torch.arange(R, device=kept.device)[None, :] < count[:, None]  # [B,R]
    idx = torch.where(valid, order, order[:, :1])
    return idx.T.contiguous(), valid.T.contiguous()  # [B,R] -> [R,B]


def gather_rows(values: Tensor, idx: Tensor, valid: Tensor) -> Tensor:
    """``values [B, K]`` at the rows ``idx [R, B]``, 0 where not ``valid``: ``[B, R]``."""
    return values.gather(1, idx.T) * valid.T.to(values.dtype)
