"""Pixels removed in map order under several substitutes at once: every substitute of one step
goes through ONE batched forward of the posterior (METHODS.md, "The substitute panel").

Shared by the blurring / URR test (:func:`replaced_uncertainty`, min over each substitute's
draws) and by the curve metrics, insertion-deletion and top-k ablation (:func:`replaced_curves`,
mean over the draws).
"""
from __future__ import annotations

import math
import operator
from typing import Callable, Sequence

import torch
from torch import Tensor

from ..posteriors import Draw
from ..training.checks import positive_int
from .replacements import Replacement

#: Images per forward pass of the perturbation metrics when the caller gives none (``None``). On a
#: CPU small chunks stay in the caches: on the paper CNN (28x28, 5 members, one thread) the
#: 5-substitute blurring test took 0.92 s per image with 128 and 2.72 s with 4096
#: (``python scripts/forward_batch.py``); an accelerator wants large chunks (4096, not measured).
CPU_FORWARD_BATCH = 128
ACCELERATOR_FORWARD_BATCH = 4096
#: Input elements per forward chunk (**decision**, measured): a chunk of images larger than
#: 28x28 holds at most this many input elements (at least one image), so its activations stay about
#: the same size. CPU: 2 images of 3x224x224, the fastest of 1, 2, 4, 8 and the old 128 (76 images
#: per forward) per step of the 5-substitute panel on five paper CNNs: 2.84, 2.31, 2.36, 3.40 and
#: 3.20 s (``python scripts/panel_cost.py --size 224``, docs/results/speed-scale.md); 1x28x28 keeps
#: its measured 128, 3x32x32 gets 98. Accelerator: 4096 images of 1x28x28 (not measured), 21 of
#: 3x224x224, where 4096 would need hundreds of GiB.
CPU_FORWARD_ELEMENTS = 2 * 3 * 224 * 224
ACCELERATOR_FORWARD_ELEMENTS = ACCELERATOR_FORWARD_BATCH * 28 * 28


def forward_batch(batch_size: int | None, device, image_shape: Sequence[int] | None = None) -> int:
    """``batch_size``, or for ``None`` the default for ``device``: :data:`CPU_FORWARD_BATCH` on the
    CPU, :data:`ACCELERATOR_FORWARD_BATCH` elsewhere, and for images of ``image_shape``
    (``[C,H,W]`` or ``[B,C,H,W]``) at most as many as hold :data:`CPU_FORWARD_ELEMENTS` /
    :data:`ACCELERATOR_FORWARD_ELEMENTS` input elements (at least one)."""
    if batch_size is not None:
        if hasattr(type(batch_size), "__index__") and not isinstance(batch_size, bool):
            batch_size = operator.index(batch_size)  # numpy integers -> int
        return positive_int(batch_size, "batch_size")
    cpu = torch.device(device).type == "cpu"
    n = CPU_FORWARD_BATCH if cpu else ACCELERATOR_FORWARD_BATCH
    if image_shape is not None:
        per_image = math.prod(int(v) for v in tuple(image_shape)[-3:])  # C*H*W
        n = max(1, min(n, (CPU_FORWARD_ELEMENTS if cpu else ACCELERATOR_FORWARD_ELEMENTS) // per_image))
    return n


def pixel_ranks(order: Tensor) -> Tensor:
    """``order [B, HW]`` (most important first) -> the rank of every pixel ``[B, HW]``."""
    B, P = order.shape
    return torch.empty_like(order).scatter_(1, order, torch.arange(P, device=order.device).expand(B, -1))


def _filled(x: Tensor, reps: Sequence[Replacement], states: list, removed: Tensor) -> Tensor:
    """All substitutes' images for the masks ``removed [N,B,H,W]``: ``[N, sum G, B, C, H, W]``."""
    parts = [r.fill(x, s, removed) for r, s in zip(reps, states)]
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


@torch.no_grad()
def replaced_uncertainty(draw: Draw, x: Tensor, order: Tensor, n_max: int,
                         replacements: Sequence[Replacement], batch_size: int | None,
                         fn: Callable[[Tensor], Tensor]) -> dict[str, Tensor]:
    """``u_n = min over the draws of U(x with its top-n pixels substituted)``, per substitute.

    Parameters
    ----------
    draw : one frozen posterior draw, used for every forward pass
    x : ``[B, C, H, W]``
    order : ``[B, H*W]`` pixel indices, most important first
    replacements : the substitutes; replacement ``r`` has ``r.draws`` images per step
    batch_size : images per forward pass (the work is ``n_max * sum(G) * B`` images); ``None``:
        :func:`forward_batch`'s default for ``x``'s device and image size
    fn : the uncertainty, ``[S,B,K] -> [B]``

    Returns
    -------
    ``{name: [B, n_max]}``
    """
    B, C, H, W = x.shape
    batch_size = forward_batch(batch_size, x.device, x.shape)
    rank = pixel_ranks(order)  # [B,HW]
    states = [r.prepare(x) for r in replacements]
    sizes = [r.draws for r in replacements]
    G = sum(sizes)
    per = max(1, batch_size // (G * B))  # values of n per forward chunk
    out: list[list[Tensor]] = [[] for _ in replacements]
    for n0 in range(1, n_max + 1, per):
        ns = torch.arange(n0, min(n_max, n0 + per - 1) + 1, device=x.device)  # [N]
        removed = (rank.unsqueeze(0) < ns[:, None, None]).reshape(len(ns), B, H, W)  # [N,B,HW] -> [N,B,H,W]
        flat = _filled(x, replacements, states, removed).reshape(-1, C, H, W)  # [N*G*B,C,H,W]
        u = torch.cat([fn(draw(flat[s:s + batch_size])) for s in range(0, len(flat), batch_size)])
        for i, part in enumerate(u.reshape(len(ns), G, B).split(sizes, dim=1)):  # [N,G_r,B]
            out[i].append(part.amin(1))  # [N,B]
    return {r.name: torch.cat(o, 0).T for r, o in zip(replacements, out)}  # [n_max,B] -> [B,n_max]


@torch.no_grad()
def replaced_curves(draw: Draw, x: Tensor, removed_at: Callable[[Tensor], Tensor], T: int,
                    replacements: Sequence[Replacement], target, batch_size: int | None = None) -> dict[str, Tensor]:
    """Target of the images with the ``removed_at(t)`` pixels substituted, for ``t = 0..T-1``,
    mean over each substitute's draws.

    Parameters
    ----------
    x : ``[B, C, H, W]``
    removed_at : ``ts [t] -> [t, B, H, W]`` bool masks of the removed pixels at those steps
    target : bound target ``(logits [S,N,K], image index [N]) -> [N]``
    batch_size : images per forward pass (``None``: :func:`forward_batch`'s default)

    Returns
    -------
    ``{name: [B, T]}``
    """
    B, C, H, W = x.shape
    batch_size = forward_batch(batch_size, x.device, x.shape)
    states = [r.prepare(x) for r in replacements]
    sizes = [r.draws for r in replacements]
    G = sum(sizes)
    per = max(1, batch_size // (G * B))  # steps per chunk
    out: list[list[Tensor]] = [[] for _ in replacements]
    for t0 in range(0, T, per):
        ts = torch.arange(t0, min(T, t0 + per), device=x.device)
        imgs = _filled(x, replacements, states, removed_at(ts)).reshape(-1, C, H, W)  # [t*G*B,C,H,W]
        idx = torch.arange(B, device=x.device).repeat(len(ts) * G)  # image of each row
        vals = torch.cat([target(draw(imgs[s:s + batch_size]), idx[s:s + batch_size])
                          for s in range(0, len(imgs), batch_size)])
        for i, part in enumerate(vals.reshape(len(ts), G, B).split(sizes, dim=1)):
            out[i].append(part.mean(1))  # [t,B]
    return {r.name: torch.cat(o, 0).T.contiguous() for r, o in zip(replacements, out)}  # [B,T]
