"""Relative rank improvement of injected out-of-distribution features (Schiller et al. 2026,
Sec. 3, "conveyance").

Features made out-of-distribution should gain uncertainty, so a map of the perturbed input should
rank them higher than the map of the original did. For each image and each of ``positions``
feature positions (drawn once, shared by all images, as the authors do):

- ``patch`` (images): the ``patch x patch`` square at that position is inverted, ``1 - x``;
- ``sigma`` (tabular / pixels): the feature is set to ``mean + 4 std`` of the training feature.

With ``r0`` the rank (1 = largest) of a perturbed feature in the original map and ``r1`` its rank in the
map of the perturbed input, the rank improvement is ``(r0 - r1) / r0`` (averaged over the pixels of a
patch, then over positions): higher is better, at most ``1 - 1/r0``. The top-rank share is the share of
perturbed features ranked within the top ``ceil(0.1 D)``.

**(differences)** (1) The authors' threshold is ``rank <= ceil(0.1 D) - 1`` on 1-based ranks ("ranks
are 0-based"), which leaves out the last rank of the top decile; we count ``rank <= ceil(0.1 D)``.
(2) Their patch inversion computes ``255 - x`` on images in ``[0, 1]``; we invert within the range,
``1 - x``. (3) They rank maps divided by their sum, which reverses the order when the sum is
negative; we rank the maps as they are. Ties are broken by the feature index, as numpy's argsort.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import UnsureError
from ._maps import flat_maps
from .base import register_metric
from .repeatability import Explain


def ranks_of(maps: Tensor) -> Tensor:
    """1-based descending rank of every feature, ``[B,D] -> [B,D]`` (ties: lower index first, as
    ``np.argsort(-a)`` with its default quicksort on distinct values)."""
    order = torch.argsort(-maps, dim=1, stable=True)
    return torch.empty_like(order).scatter_(1, order, torch.arange(1, maps.shape[1] + 1).expand_as(order))


def patch_positions(H: int, W: int, positions: int, patch: int, generator: torch.Generator) -> Tensor:
    """``[P, 2]`` top-left corners (row, col) of patches that fit in the image."""
    if not 1 <= patch <= min(H, W):
        raise UnsureError(f"patch must be in [1, {min(H, W)}], got {patch}")
    n = (H - patch + 1) * (W - patch + 1)
    if not 1 <= positions <= n:
        raise UnsureError(f"positions must be in [1, {n}], got {positions}")
    pick = torch.randperm(n, generator=generator)[:positions]
    return torch.stack([pick // (W - patch + 1), pick % (W - patch + 1)], 1)


def perturb(x: Tensor, corners: Tensor, patch: int, strategy: str = "patch",
            ood_value: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The perturbed images ``[P,B,C,H,W]`` and the perturbed-pixel masks ``[P,H,W]``."""
    B, C, H, W = x.shape
    mask = torch.zeros(len(corners), H, W, dtype=torch.bool, device=x.device)
    for p, (r, c) in enumerate(corners.tolist()):
        mask[p, r:r + patch, c:c + patch] = True
    if strategy == "patch":
        new = 1 - x
    elif strategy == "sigma":
        if ood_value is None:
            raise UnsureError("the sigma strategy needs ood_value [C,H,W] (training mean + 4 std)")
        new = ood_value.to(x)[None].expand_as(x)
    else:
        raise UnsureError(f"unknown OOD strategy {strategy!r}; known: patch, sigma")
    xp = torch.where(mask[:, None, None], new[None], x[None])  # [P,B,C,H,W]
    return xp, mask


def rank_scores(maps: Tensor, new_maps: Tensor, mask: Tensor, top: int | None = None) -> dict[str, Tensor]:
    """Rank improvement and top-rank share per image.

    Parameters
    ----------
    maps : ``[B,D]`` original maps; new_maps : ``[P,B,D]`` maps of the perturbed inputs
    mask : ``[P,D]`` the perturbed features of each position
    top : the top ranks counted (default ``ceil(0.1 D)``)
    """
    D = maps.shape[1]
    top = max(1, math.ceil(0.1 * D)) if top is None else int(top)
    r0 = ranks_of(maps).double()[None]  # [1,B,D]
    r1 = ranks_of(new_maps.flatten(0, 1)).double().reshape(new_maps.shape)  # [P,B,D]
    m = mask[:, None, :].double()  # [P,1,D]
    k = m.sum(-1)  # [P,1] features per position
    change = (((r0 - r1) / r0) * m).sum(-1) / k  # [P,B] mean over the patch
    mean_rank = (r1 * m).sum(-1) / k  # [P,B]
    return {"rank-improvement": change.mean(0), "top-rank-share": (mean_rank <= top).double().mean(0),
            "mean_rank": mean_rank.mean(0)}


def rank_improvement(explain: Explain, x: Tensor, maps: Tensor, positions: int = 8, patch: int = 4,
                     strategy: str = "patch", ood_value: Tensor | None = None,
                     generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Relative rank improvement of injected OOD patches / features (module docstring).

    Parameters
    ----------
    explain : the method ``(x, generator) -> maps [B,H,W]``
    x : ``[B,C,H,W]``; maps : ``[B,H,W]`` its maps
    positions, patch : how many patches (or single features, ``patch=1``) and their side
    strategy : "patch" (invert, ``1 - x``) or "sigma" (set to ``ood_value [C,H,W]``)
    generator : draws the positions (default seed 0)

    Returns
    -------
    ``{"rank-improvement": [B], "top-rank-share": [B], "mean_rank": [B]}`` float64
    """
    B, C, H, W = x.shape
    a = flat_maps(maps).cpu()
    if a.shape[1] != H * W:
        raise UnsureError(f"rank improvement needs maps [B,H,W] = [{B},{H},{W}], got {tuple(maps.shape)}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    corners = patch_positions(H, W, positions, patch, g)
    xp, mask = perturb(x, corners, patch, strategy, ood_value)
    new = flat_maps(explain(xp.flatten(0, 1), torch.Generator().manual_seed(1)), "maps of the OOD inputs")
    return rank_scores(a, new.cpu().reshape(len(corners), B, -1), mask.flatten(1).cpu())


register_metric("rank-improvement", True, "uncertainty",
                "relative rank gain of injected OOD patches in the map of the perturbed input", rank_improvement)
register_metric("top-rank-share", True, "uncertainty",
                "share of injected OOD patches ranked in the top 10% of the map of the perturbed input",
                rank_improvement)
