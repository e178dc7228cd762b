"""Shapley values of the target over image patches, by permutation sampling (Castro et al. 2009;
Strumbelj & Kononenko 2010), in the spirit of Watson et al., NeurIPS 2023, "Explaining predictive
uncertainty with information theoretic Shapley values". Definitions: ``docs/methods/shapley.md``.

The players are the P patches of a ``patch x patch`` grid; a coalition ``T`` keeps the pixels of
its patches and replaces the others by a substitute image ``x'``: ``v(T) = f(x' + 1_T (x - x'))``
with ``f`` the target (an uncertainty measure or a class score of the frozen draw). For each
permutation ``pi`` of the patches, patch ``pi_t`` gets ``v({pi_1..pi_t}) - v({pi_1..pi_{t-1}})``; these
telescope, so every permutation -- and the average over N of them -- gives values that sum to
``f(x) - f(x')`` exactly (efficiency). The map spreads each patch's value uniformly over its pixels.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import Target
from .base import METHODS, Attribution, Context, Method
from .smoothgrad import check_count, freeze_class

SUBSTITUTES = ("mean", "zero", "blur")
CELLS = 8  # default grid: about 8 patches per side (chosen on the digits validation split)


def patch_labels(size: tuple[int, int], patch: int, device=None) -> Tensor:
    """``[H,W]`` long: the patch index of every pixel, row-major over a ``patch``-pixel grid
    (the last row/column of patches is smaller when ``patch`` does not divide H or W)."""
    H, W = size
    cols = math.ceil(W / patch)
    r = torch.arange(H, device=device) // patch
    c = torch.arange(W, device=device) // patch
    return r[:, None] * cols + c[None, :]


def substitute_image(x: Tensor, substitute: str, blur_sigma: float) -> Tensor:
    """``x' [B,C,H,W]``: each image's channel means, zeros, or its Gaussian blur."""
    if substitute == "mean":
        return x.mean((2, 3), keepdim=True).expand_as(x).clone()
    if substitute == "zero":
        return torch.zeros_like(x)
    from .ua_backprop import reference_image  # one definition of the blur reference

    return reference_image(x, "blur", blur_sigma)


def draw_permutations(n: int, players: int, antithetic: bool,
                      generator: torch.Generator | None = None) -> Tensor:
    """``[n, players]`` permutations: ``torch.randperm(players, generator=generator)`` one after
    another; with ``antithetic`` only ``ceil(n / 2)`` are drawn and each is followed by its
    reverse (rows ``2i`` and ``2i + 1``), truncated to ``n`` rows. On the generator's device."""
    dev = generator.device if generator is not None else torch.device("cpu")
    k = math.ceil(n / 2) if antithetic else n
    perms = [torch.randperm(players, generator=generator, device=dev) for _ in range(k)]
    if antithetic:
        perms = [q for p in perms for q in (p, p.flip(0))]
    return torch.stack(perms[:n])


def permutation_shapley(fn, x: Tensor, sub: Tensor, labels: Tensor, perms: Tensor,
                        eval_batch: int = 256) -> tuple[Tensor, Tensor, Tensor]:
    """Shapley values of the patches from the given permutations.

    Parameters
    ----------
    fn : ``[n*B,C,H,W] -> [n*B]`` (rows ``j*B + b``: coalition j, image b), no gradient needed
    x, sub : images and their substitutes ``[B,C,H,W]``
    labels : ``[H,W]`` patch index of every pixel, values ``0..P-1``
    perms : ``[N,P]`` permutations of the patches
    eval_batch : images per forward pass

    Returns
    -------
    phi ``[B,P]`` (mean over the permutations), ``f(x) [B]``, ``f(x') [B]``
    """
    B, C, H, W = x.shape
    N, P = perms.shape
    perms, labels = perms.to(x.device), labels.to(x.device)  # the generator may live elsewhere
    with torch.no_grad():
        f_x, f_sub = fn(x), fn(sub)
        rank = torch.empty_like(perms)
        rank.scatter_(1, perms, torch.arange(P, device=perms.device).expand(N, P))  # rank[n, pi[n,t]] = t
        rank_px = rank[:, labels.reshape(-1)].reshape(N, H, W)  # [N,H,W]
        # coalitions t = 1..P-1 of every permutation (t = 0 and t = P are sub and x themselves)
        steps = torch.arange(1, P, device=x.device)
        pairs = [(n, t) for n in range(N) for t in steps.tolist()]
        v = torch.empty(N, P + 1, B, dtype=x.dtype, device=x.device)
        v[:, 0], v[:, P] = f_sub, f_x
        diff = x - sub
        rows = max(1, eval_batch // B)
        for s in range(0, len(pairs), rows):
            chunk = pairs[s:s + rows]
            n_idx = torch.tensor([p[0] for p in chunk], device=x.device)
            t_idx = torch.tensor([p[1] for p in chunk], device=x.device)
            keep = (rank_px[n_idx] < t_idx[:, None, None]).to(x.dtype)  # [m,H,W]
            xm = sub[None] + keep[:, None, None] * diff[None]  # [m,1,1,H,W] * [1,B,C,H,W] -> [m,B,C,H,W]
            f = fn(xm.reshape(-1, C, H, W)).reshape(len(chunk), B)  # [m*B] -> [m,B]
            v[n_idx, t_idx] = f
        d = (v[:, 1:] - v[:, :-1]).permute(0, 2, 1)  # [N,P,B] -> [N,B,P]: gain of the t-th patch
        phi = torch.zeros(N, B, P, dtype=x.dtype, device=x.device)
        phi.scatter_(2, perms[:, None, :].expand(N, B, P), d)  # to patch pi[n,t]
    return phi.mean(0), f_x, f_sub


@METHODS.register("shapley", "Shapley values of the target over image patches (permutation sampling)")
class PatchShapley(Method):
    """Permutation-sampling Shapley values of any target over a grid of patches.

    Parameters
    ----------
    samples : N, permutations per call (64)
    patch : patch side in pixels (default ``ceil(max(H, W) / 8)``: at most 8 x 8 patches)
    substitute : what a removed patch becomes: ``"blur"`` (default; the image's Gaussian blur with
        ``blur_sigma``, UA-Backprop's default reference), ``"mean"`` (the image's channel means)
        or ``"zero"``
    blur_sigma : sigma of the ``"blur"`` substitute, in pixels
    antithetic : pair each drawn permutation with its reverse (Mitchell et al., JMLR 2022)
    eval_batch : images per forward pass; memory grows with it

    Returns
    -------
    maps ``[B,H,W]``: each patch's value divided by its pixel count, so ``sum(map) = f(x) - f(x')``
    for every N; raw ``None``; meta ``f_input [B]``, ``f_reference [B]`` (``f(x')``),
    ``completeness_delta [B]`` (rounding only), ``patch_values [B,P]``, ``patch`` (the side used).
    The same N permutations serve every image of a chunk; a predicted-class target is frozen to
    the class predicted at ``x``. Cost: ``N (P - 1) + 2`` forward passes per image.
    """

    name = "shapley"
    complete = True
    stochastic = True

    def __init__(self, samples: int = 64, patch: int | None = None, substitute: str = "blur",
                 blur_sigma: float = 2.0, antithetic: bool = True, eval_batch: int = 256):
        self.samples = check_count(samples, "shapley samples")
        self.patch = None if patch is None else check_count(patch, "shapley patch")
        if substitute not in SUBSTITUTES:
            raise UnsureError(f"shapley: substitute must be one of {', '.join(SUBSTITUTES)}, got {substitute!r}")
        if isinstance(blur_sigma, bool) or not isinstance(blur_sigma, (int, float)) or not blur_sigma > 0:
            raise UnsureError(f"shapley: blur_sigma must be a number > 0, got {blur_sigma!r}")
        if not isinstance(antithetic, bool):
            raise UnsureError(f"shapley: antithetic must be a bool, got {antithetic!r}")
        self.substitute, self.blur_sigma, self.antithetic = substitute, float(blur_sigma), antithetic
        self.eval_batch = check_count(eval_batch, "shapley eval_batch")

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        B, C, H, W = x.shape
        patch = self.patch or math.ceil(max(H, W) / CELLS)
        labels = patch_labels((H, W), patch, x.device)
        P = int(labels.max()) + 1
        target = freeze_class(target, ctx.draw, x)
        perms = draw_permutations(self.samples, P, self.antithetic, ctx.generator)
        sub = substitute_image(x, self.substitute, self.blur_sigma)
        phi, f_x, f_sub = permutation_shapley(lambda z: target(ctx.draw(z)), x, sub, labels, perms,
                                              self.eval_batch)
        count = torch.bincount(labels.reshape(-1), minlength=P).to(x.dtype)  # pixels per patch
        maps = (phi / count)[:, labels]  # [B,P] -> [B,H,W]
        delta = (maps.flatten(1).sum(1) - (f_x - f_sub)).abs()
        return Attribution(maps, None, {"f_input": f_x, "f_reference": f_sub, "completeness_delta": delta,
                                        "patch_values": phi, "patch": patch})
