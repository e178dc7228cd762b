"""Shared checks of the property metrics (Schiller et al. 2026): a map is scored per image as a flat
vector of its features ``[B, D]``; a map that is NaN, of the wrong shape, all zero or constant (where a
metric needs an order) fails in one line."""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsureError


def flat_maps(maps: Tensor, name: str = "maps") -> Tensor:
    """``maps [B,H,W]`` or ``[B,C,H,W]`` (or ``[B,D]``) -> ``[B, D]`` float64, checked finite."""
    if not isinstance(maps, Tensor):
        raise UnsureError(f"{name} must be a torch.Tensor [B,H,W] or [B,C,H,W], got {type(maps).__name__}")
    if maps.ndim not in (2, 3, 4) or maps.shape[0] == 0 or maps[0].numel() < 2:
        raise UnsureError(f"{name} must have shape [B,H,W] or [B,C,H,W] with B >= 1 and at least 2 "
                          f"features, got {tuple(maps.shape)}")
    if not torch.isfinite(maps).all():
        raise UnsureError(f"{name} contains NaN/inf values")
    return maps.detach().reshape(maps.shape[0], -1).double()  # [B,...] -> [B,D]


def check_nonzero(flat: Tensor, name: str = "maps") -> Tensor:
    """Fail when an image's map is all zero (it has no distribution of mass to score)."""
    zero = (flat.abs().sum(1) == 0).nonzero().flatten()
    if len(zero):
        raise UnsureError(f"{name} of image(s) {zero.tolist()[:5]} are all zero: nothing to normalise")
    return flat


def check_ordered(flat: Tensor, name: str = "maps") -> Tensor:
    """Fail when an image's map is constant (it gives no order of its features)."""
    const = (flat.amax(1) == flat.amin(1)).nonzero().flatten()
    if len(const):
        raise UnsureError(f"{name} of image(s) {const.tolist()[:5]} are constant: they give no feature order")
    return flat


def average_ranks(v: Tensor) -> Tensor:
    """Ranks ``1..D`` along the last axis, ties sharing their mean rank (scipy's ``rankdata``)."""
    order = v.argsort(dim=-1, stable=True)
    sorted_v = v.gather(-1, order)
    D = v.shape[-1]
    pos = torch.arange(1, D + 1, dtype=torch.float64, device=v.device).expand_as(v).clone()
    # ties: every run of equal sorted values gets its mean position
    new = torch.ones_like(sorted_v, dtype=torch.bool)
    new[..., 1:] = sorted_v[..., 1:] != sorted_v[..., :-1]
    group = new.cumsum(-1) - 1  # [.., D] run id
    sums = torch.zeros_like(pos).scatter_add_(-1, group, pos)
    counts = torch.zeros_like(pos).scatter_add_(-1, group, torch.ones_like(pos))
    mean_pos = (sums / counts.clamp_min(1)).gather(-1, group)
    return torch.empty_like(mean_pos).scatter_(-1, order, mean_pos)


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman correlation of the rows of ``a, b [B, D]`` -> ``[B]`` (Pearson of average ranks).
    A constant row has no order: 1 when both rows are constant and equal, else 0 (Schiller et al.'s
    convention)."""
    ra, rb = average_ranks(a.double()), average_ranks(b.double())
    ra, rb = ra - ra.mean(-1, keepdim=True), rb - rb.mean(-1, keepdim=True)
    den = (ra.norm(dim=-1) * rb.norm(dim=-1))
    rho = (ra * rb).sum(-1) / den.clamp_min(torch.finfo(torch.float64).tiny)
    ca, cb = a.amax(-1) == a.amin(-1), b.amax(-1) == b.amin(-1)
    both = ca & cb & (a == b).all(-1)
    return torch.where(ca | cb, both.double(), rho)


def cosine(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of the rows of ``a, b [B, D]`` -> ``[B]``; 1 when both rows are zero, 0
    when one is (Schiller et al.'s convention)."""
    a, b = a.double(), b.double()
    na, nb = a.norm(dim=-1), b.norm(dim=-1)
    cos = (a * b).sum(-1) / (na * nb).clamp_min(torch.finfo(torch.float64).tiny)
    za, zb = na == 0, nb == 0
    return torch.where(za | zb, (za & zb).double(), cos)
