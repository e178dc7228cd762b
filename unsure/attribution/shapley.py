"""Shapley values of the target over image patches, by permutation sampling (Castro et al. 2009;
Strumbelj & Kononenko 2010), in the spirit of Watson et al., NeurIPS 2023, "Explaining predictive
uncertainty with information theoretic Shapley values". Definitions: ``docs/methods/shapley.md``.

The players are the P patches of a ``patch x patch`` grid; a coalition ``T`` keeps the pixels of
its patches and replaces the others by a substitute image ``x'``: ``v(T) = f(x' + 1_T (x - x'))``
with ``f`` the target (an uncertainty measure or a class score of the frozen draw). For each
permutation ``pi`` of the patches, patch ``pi_t`` gets ``v({pi_1..pi_t}) - v({pi_1..pi_{t-1}})``; these
telescope, so every permutation -- and the average over N of them -- gives values that sum to
``f(x) - f(x')`` exactly (efficiency). The map spreads each patch's value uniformly over its pixels.

With ``background=`` the value of a coalition is the mean over a set of G background images
``b_g`` (Watson et al. 2023, the marginal value function; Lundberg & Lee 2017, the expectation under
independent features): ``v(T) = 1/G sum_g f(b_g + 1_T (x - b_g))``, so the map sums to
``f(x) - 1/G sum_g f(b_g)``. The same permutations serve every background image.
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
#: background items: KIND[@PARAM][*COUNT]; the random kinds draw COUNT images per image
BACKGROUND_KINDS = ("data", "blur", "mean", "zero", "noise")
DEFAULT_COUNT = {"data": 16, "noise": 4}
#: the blurring bench's substitute panel as fixed images (blur sigma 2, zero, mean, 4 noise draws
#: of std 0.3); ROAD has no fixed image (it depends on the removed pixels) and is left out
PANEL_BACKGROUND = "blur@2+zero+mean+noise@0.3*4"


def parse_background(spec: str) -> list[tuple[str, float | None, int]]:
    """``"data*16+blur@2+mean"`` -> ``[(kind, param, count), ...]`` (``panel`` expands to
    :data:`PANEL_BACKGROUND`)."""
    if not isinstance(spec, str) or not spec.strip():
        raise UnsureError(f"shapley: background must be a '+'-joined list of {', '.join(BACKGROUND_KINDS)} "
                          f"or 'panel', got {spec!r}")
    items = []
    for item in spec.replace("panel", PANEL_BACKGROUND).split("+"):
        head, _, count = item.strip().partition("*")
        kind, _, param = head.partition("@")
        try:
            n = int(count) if count else DEFAULT_COUNT.get(kind, 1)
            value = float(param) if param else None
        except ValueError:
            raise UnsureError(f"shapley: bad background item {item!r}; use KIND[@PARAM][*COUNT]") from None
        if kind not in BACKGROUND_KINDS:
            raise UnsureError(f"shapley: unknown background {kind!r} in {spec!r}; known: "
                              f"{', '.join(BACKGROUND_KINDS)}, panel")
        if n < 1 or (count and kind not in DEFAULT_COUNT):
            raise UnsureError(f"shapley: background item {item!r}: only data and noise take a count >= 1")
        if (kind == "noise" and value is None) or (kind in ("data", "mean", "zero") and value is not None):
            raise UnsureError(f"shapley: background item {item!r}: blur@SIGMA and noise@STD take a "
                              f"parameter, the others none")
        if value is not None and not value > 0:
            raise UnsureError(f"shapley: background item {item!r} needs a parameter > 0")
        items.append((kind, value, n))
    return items


def background_images(items, x: Tensor, blur_sigma: float, data: Tensor | None,
                      generator: torch.Generator | None) -> Tensor:
    """``[G,B,C,H,W]``: the background images of every image, in the order of ``items``; the data
    indices and noise are drawn from ``generator`` item by item (data images are the same for
    every image of the chunk, as a fixed background set)."""
    from ..ops.blur import gaussian_blur_many
    from .baselines import _rand

    out = []
    for kind, value, n in items:
        if kind == "data":
            if data is None:
                raise UnsureError("shapley: background 'data' needs data= (a data spec such as "
                                  "'fashion-mnist', whose training split is used, or a Tensor[N,C,H,W])")
            dev = generator.device if generator is not None else torch.device("cpu")
            idx = torch.randint(0, data.shape[0], (n,), generator=generator, device=dev).to(data.device)
            out.append(data[idx].to(x.device, x.dtype)[:, None].expand(n, *x.shape))  # [n,C,H,W] -> [n,B,C,H,W]
        elif kind == "blur":
            out.append(gaussian_blur_many(x, [value or blur_sigma]))  # [1,B,C,H,W]
        elif kind == "mean":
            out.append(x.mean((2, 3), keepdim=True).expand_as(x)[None])
        elif kind == "zero":
            out.append(torch.zeros_like(x)[None])
        else:  # noise: clip(x + N(0, std^2), 0, 1), the bench's noise substitute
            out.append((x[None] + value * _rand((n, *x.shape), x, generator, normal=True)).clamp(0, 1))
    return torch.cat(out, 0)


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
    fn : ``[n*B,C,H,W] -> [n*B]`` or ``[n*B,Q]`` (Q values per image at once, e.g. every member
        output for CovShapley; rows ``j*B + b``: coalition j, image b), no gradient needed
    x, sub : images and their substitutes ``[B,C,H,W]``
    labels : ``[H,W]`` patch index of every pixel, values ``0..P-1``
    perms : ``[N,P]`` permutations of the patches
    eval_batch : images per forward pass

    Returns
    -------
    phi ``[B,P]`` (``[B,P,Q]``; mean over the permutations), ``f(x) [B]``, ``f(x') [B]`` (``[B,Q]``)
    """
    B, C, H, W = x.shape
    N, P = perms.shape
    perms, labels = perms.to(x.device), labels.to(x.device)  # the generator may live elsewhere
    with torch.no_grad():
        f_x, f_sub = fn(x), fn(sub)
        Q = f_x.shape[1:]  # () for a scalar target
        rank = torch.empty_like(perms)
        rank.scatter_(1, perms, torch.arange(P, device=perms.device).expand(N, P))  # rank[n, pi[n,t]] = t
        rank_px = rank[:, labels.reshape(-1)].reshape(N, H, W)  # [N,H,W]
        # coalitions t = 1..P-1 of every permutation (t = 0 and t = P are sub and x themselves)
        steps = torch.arange(1, P, device=x.device)
        pairs = [(n, t) for n in range(N) for t in steps.tolist()]
        v = torch.empty(N, P + 1, B, *Q, dtype=x.dtype, device=x.device)
        v[:, 0], v[:, P] = f_sub, f_x
        diff = x - sub
        rows = max(1, eval_batch // B)
        for s in range(0, len(pairs), rows):
            chunk = pairs[s:s + rows]
            n_idx = torch.tensor([p[0] for p in chunk], device=x.device)
            t_idx = torch.tensor([p[1] for p in chunk], device=x.device)
            keep = (rank_px[n_idx] < t_idx[:, None, None]).to(x.dtype)  # [m,H,W]
            xm = sub[None] + keep[:, None, None] * diff[None]  # [m,1,1,H,W] * [1,B,C,H,W] -> [m,B,C,H,W]
            f = fn(xm.reshape(-1, C, H, W)).reshape(len(chunk), B, *Q)  # [m*B,*Q] -> [m,B,*Q]
            v[n_idx, t_idx] = f
        d = (v[:, 1:] - v[:, :-1]).movedim(1, 2)  # [N,P,B,*Q] -> [N,B,P,*Q]: gain of the t-th patch
        phi = torch.zeros_like(d)
        index = perms[:, None, :].expand(N, B, P).reshape(N, B, P, *([1] * len(Q))).expand_as(d)
        phi.scatter_(2, index, d)  # to patch pi[n,t]
    return phi.mean(0), f_x, f_sub


def set_sampling_options(method, name: str, samples, patch, substitute, blur_sigma, antithetic,
                         eval_batch) -> None:
    """Check and set the permutation-sampling options shared by ``shapley`` and ``cov-shapley``
    (one line naming ``name`` and the option for a bad value)."""
    method.samples = check_count(samples, f"{name} samples")
    method.patch = None if patch is None else check_count(patch, f"{name} patch")
    if substitute not in SUBSTITUTES:
        raise UnsureError(f"{name}: substitute must be one of {', '.join(SUBSTITUTES)}, got {substitute!r}")
    if isinstance(blur_sigma, bool) or not isinstance(blur_sigma, (int, float)) or not blur_sigma > 0:
        raise UnsureError(f"{name}: blur_sigma must be a number > 0, got {blur_sigma!r}")
    if not isinstance(antithetic, bool):
        raise UnsureError(f"{name}: antithetic must be a bool, got {antithetic!r}")
    method.substitute, method.blur_sigma, method.antithetic = substitute, float(blur_sigma), antithetic
    method.eval_batch = check_count(eval_batch, f"{name} eval_batch")


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
    background : instead of one substitute, a set of G background images whose values are averaged
        (the marginal value function of Watson et al. 2023): a '+'-joined list of
        ``KIND[@PARAM][*COUNT]`` items, ``data*N`` (N training images, default 16, the same for every
        image), ``blur`` / ``blur@SIGMA``, ``mean``, ``zero``, ``noise@STD*N`` (N draws of
        ``clip(x + N(0, STD^2), 0, 1)``, default 4), or ``panel`` (the bench's fixed substitutes:
        ``blur@2+zero+mean+noise@0.3*4``); ``substitute`` is then unused. Cost: G times the
        forward passes.
    data : training images ``[N,C,H,W]`` or a data spec (its training split) for ``data`` items

    Returns
    -------
    maps ``[B,H,W]``: each patch's value divided by its pixel count, so ``sum(map) = f(x) - f(x')``
    for every N (``f(x) - mean_g f(b_g)`` with a background); raw ``None``; meta ``f_input [B]``,
    ``f_reference [B]`` (``f(x')``, or ``mean_g f(b_g)``),
    ``completeness_delta [B]`` (rounding only), ``patch_values [B,P]``, ``patch`` (the side used).
    Draws from the call's generator: the permutations, then the background's data indices and
    noise, item by item. The same N permutations serve every image of a chunk; a predicted-class target is frozen to
    the class predicted at ``x``. Cost: ``N (P - 1) + 2`` forward passes per image.
    """

    name = "shapley"
    complete = True
    stochastic = True

    def __init__(self, samples: int = 64, patch: int | None = None, substitute: str = "blur",
                 blur_sigma: float = 2.0, antithetic: bool = True, eval_batch: int = 256,
                 background: str | None = None, data=None):
        set_sampling_options(self, "shapley", samples, patch, substitute, blur_sigma, antithetic, eval_batch)
        self.background = background
        self._items = None if background is None else parse_background(background)
        if isinstance(data, str):  # a data spec (CLI: shapley:background=data:data=fashion-mnist)
            from ..data import load

            self.data_spec, data = data, load(data, "train").x  # the spec is recorded in options()
        if data is not None and (not isinstance(data, Tensor) or data.ndim != 4):
            raise UnsureError(f"shapley: data must be a data spec or a Tensor[N,C,H,W], got {type(data).__name__}")
        self._data = data

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        B, C, H, W = x.shape
        patch = self.patch or math.ceil(max(H, W) / CELLS)
        labels = patch_labels((H, W), patch, x.device)
        P = int(labels.max()) + 1
        target = freeze_class(target, ctx.draw, x)
        perms = draw_permutations(self.samples, P, self.antithetic, ctx.generator)
        fn = lambda z: target(ctx.draw(z))  # noqa: E731
        if self._items is None:
            sub = substitute_image(x, self.substitute, self.blur_sigma)
            phi, f_x, f_sub = permutation_shapley(fn, x, sub, labels, perms, self.eval_batch)
        else:
            if self._data is not None and self._data.shape[1:] != x.shape[1:]:
                raise UnsureError(f"shapley: the background data are {tuple(self._data.shape[1:])} "
                                  f"images, the inputs {tuple(x.shape[1:])}")
            bg = background_images(self._items, x, self.blur_sigma, self._data, ctx.generator)  # [G,B,C,H,W]
            G = bg.shape[0]
            # rows g*B + b: background g of image b (a per-image class target repeats per block of B)
            xr = x[None].expand(G, *x.shape).reshape(G * B, C, H, W)
            phi, f_x, f_sub = permutation_shapley(fn, xr, bg.reshape(G * B, C, H, W), labels, perms,
                                                  self.eval_batch)
            # v(T) is the mean over the background, and phi is linear in v: average the values
            phi, f_x, f_sub = phi.reshape(G, B, P).mean(0), f_x[:B], f_sub.reshape(G, B).mean(0)
        count = torch.bincount(labels.reshape(-1), minlength=P).to(x.dtype)  # pixels per patch
        maps = (phi / count)[:, labels]  # [B,P] -> [B,H,W]
        delta = (maps.flatten(1).sum(1) - (f_x - f_sub)).abs()
        return Attribution(maps, None, {"f_input": f_x, "f_reference": f_sub, "completeness_delta": delta,
                                        "patch_values": phi, "patch": patch})
