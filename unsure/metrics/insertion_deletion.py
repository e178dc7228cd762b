"""Insertion and deletion curves (Petsiuk et al., "RISE", BMVC 2018, Sec. 4.1; METHODS.md).

Pixels are moved in the order of an attribution map (most important first):

- **insertion**: from a blurred copy of the image (the substrate) into the image; a good map makes
  the target rise fast (higher AUC is better);
- **deletion**: from the image to a zero substrate; a good map makes the target fall fast (lower
  AUC is better).

The curve is the raw target (a class score or an uncertainty measure, METHODS.md: "for
uncertainty targets the curve is the uncertainty") at ``steps + 1`` evenly spaced shares of pixels
``0, 1/steps, ..., 1``; AUC = trapezoid over the share of pixels moved in ``[0, 1]``.

Every forward pass uses one frozen posterior draw. A class target without a class index
(``"class"``) is fixed to each image's predicted class on the unmodified image, so the curve
follows one class even when the prediction changes along the way.

The substrate blur is a decision: RISE blurs 224-px images with sigma 5 (11-px kernel), which on
28-px images would leave most of the information; we use ``sigma = H / 8`` (3.5 px on 28x28).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures import ClassScore, resolve_target
from ..ops.blur import gaussian_blur_many as gaussian_blur
from ..posteriors import Draw, Posterior
from ..validate import check_images, check_maps, checks_generator
from .base import register_metric
from .blurring import pixel_order
from .perturbation import forward_batch, pixel_ranks, replaced_curves
from .replacements import Replacement, make_replacements

BoundTarget = Callable[[Tensor, Tensor], Tensor]  # (logits [S,N,K], image index [N]) -> [N]


@dataclass
class CurveResult:
    """A target curve per image.

    Attributes
    ----------
    fractions : ``[T]`` x-axis (share of pixels moved / ablated), ascending, in ``[0, 1]``
    curves : ``[B, T]`` target value at each step
    auc : ``[B]`` trapezoid area of each curve over ``fractions``
    mode : ``"insertion"``, ``"deletion"``, ``"topk-mean"``, ...
    """

    higher_is_better: ClassVar[dict[str, bool]] = {"insertion": True, "deletion": False}

    fractions: Tensor
    curves: Tensor
    auc: Tensor
    mode: str

    @property
    def mean_auc(self) -> float:
        return float(self.auc.mean())

    @property
    def mean_curve(self) -> Tensor:
        return self.curves.mean(0)


def bind_target(target, draw: Draw, x: Tensor, batch_size: int = 500) -> BoundTarget:
    """Resolve ``target`` into ``(logits [S,N,K], idx [N]) -> [N]``, ``idx`` indexing ``x``.

    A :class:`ClassScore` without a class is fixed to the predicted class of each ``x[idx]``.
    """
    fn = resolve_target(target)
    if isinstance(fn, ClassScore) and fn.cls is None:
        with torch.no_grad():
            frozen = fn.freeze(torch.cat([draw(x[s:s + batch_size]) for s in range(0, len(x), batch_size)],
                                         dim=1))  # [S,B,K]
        return frozen.pick  # (logits [S,N,K], idx [N]) -> [N]
    return lambda logits, idx: fn(logits)


@torch.no_grad()
def mask_curve(draw: Draw, x_from: Tensor, x_to: Tensor, mask_at: Callable[[Tensor], Tensor],
               T: int, target: BoundTarget, batch_size: int | None = None) -> Tensor:
    """Target of ``where(mask_t, x_to, x_from)`` for steps ``t = 0..T-1``: ``[B, T]``.

    Parameters
    ----------
    x_from, x_to : ``[B, C, H, W]`` where unmasked / masked pixels come from
    mask_at : ``ts [t] -> [t, B, H, W]`` bool masks of those steps (built lazily, chunk by chunk)
    batch_size : images per forward pass (``None``: ``perturbation.forward_batch``'s default)
    """
    B, C, H, W = x_from.shape
    batch_size = forward_batch(batch_size, x_from.device, x_from.shape)
    per = max(1, batch_size // B)  # steps per chunk
    out = []
    for t0 in range(0, T, per):
        ts = torch.arange(t0, min(T, t0 + per), device=x_from.device)
        m = mask_at(ts)[:, :, None]  # [t,B,H,W] -> [t,B,1,H,W]
        imgs = torch.where(m, x_to[None], x_from[None]).reshape(-1, C, H, W)  # [t,B,C,H,W] -> [t*B,C,H,W]
        idx = torch.arange(B, device=x_from.device).repeat(len(ts))  # image of each row
        vals = torch.cat([target(draw(imgs[s:s + batch_size]), idx[s:s + batch_size])
                          for s in range(0, len(imgs), batch_size)])
        out.append(vals.reshape(len(ts), B))  # [t*B] -> [t,B]
    return torch.cat(out, 0).T.contiguous()  # [T,B] -> [B,T]


def trapezoid(curves: Tensor, fractions: Tensor) -> Tensor:
    """Trapezoid area of ``curves [B,T]`` over ``fractions [T]``: ``[B]``."""
    dx = (fractions[1:] - fractions[:-1]).to(curves.dtype)  # [T-1]
    return ((curves[:, 1:] + curves[:, :-1]) * dx).sum(1) / 2


def step_counts(steps: int, n_pixels: int) -> Tensor:
    """Pixels moved at each of the ``steps + 1`` steps: ``round(t / steps * n)``, ``[steps+1]``."""
    if not isinstance(steps, int) or steps < 1:
        raise UnsureError(f"steps must be a positive int, got {steps!r}")
    t = torch.arange(steps + 1, dtype=torch.float64)
    return torch.round(t / steps * n_pixels).long()


def order_curve(draw: Draw, x: Tensor, maps: Tensor, x_from: Tensor, x_to: Tensor, target,
                counts: Tensor, generator: torch.Generator | None, batch_size: int,
                mode: str) -> CurveResult:
    """Move the first ``counts[t]`` pixels in map order from ``x_from`` to ``x_to``, for every
    step t (``counts [T]`` ascending); shared by insertion, deletion and top-k ablation."""
    B, C, H, W = x.shape
    order = pixel_order(maps.detach().to(x.device), generator)  # [B,HW] most important first
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(H * W, device=x.device).expand(B, -1))  # [B,HW] rank of each pixel
    counts = counts.to(x.device)

    def mask_at(ts: Tensor) -> Tensor:
        return (rank[None] < counts[ts][:, None, None]).reshape(len(ts), B, H, W)  # [t,B,HW] -> [t,B,H,W]

    bound = bind_target(target, draw, x)
    curves = mask_curve(draw, x_from, x_to, mask_at, len(counts), bound, batch_size)
    fractions = counts.double().cpu() / (H * W)
    curves = curves.cpu()
    return CurveResult(fractions, curves, trapezoid(curves, fractions), mode)


def replaced_order_curve(draw: Draw, x: Tensor, maps: Tensor, counts: Tensor, insertion: bool,
                         replacement, target, generator: torch.Generator | None, batch_size: int,
                         mode: str, **defaults):
    """Curves with the first ``counts[t]`` pixels in map order removed (``insertion``: all the
    others removed) and substituted by ``replacement`` (one or several, ``metrics.replacements``;
    the target is averaged over a substitute's draws). ``defaults`` fill the substitutes' settings
    (e.g. the metric's blur ``sigmas``). Returns a :class:`CurveResult` for one replacement (a name
    without a comma or a :class:`Replacement`), else ``{name: CurveResult}``, ``mode`` suffixed
    with the name."""
    many = not isinstance(replacement, (str, Replacement)) or (isinstance(replacement, str) and "," in replacement)
    reps = make_replacements(replacement, **defaults)
    B, C, H, W = x.shape
    rank = pixel_ranks(pixel_order(maps.detach().to(x.device), generator))  # [B,HW]
    counts = counts.to(x.device)

    def removed_at(ts: Tensor) -> Tensor:
        first = (rank[None] < counts[ts][:, None, None]).reshape(len(ts), B, H, W)  # [t,B,H,W]
        return ~first if insertion else first

    curves = replaced_curves(draw, x, removed_at, len(counts), reps, bind_target(target, draw, x),
                             batch_size)
    fractions = counts.double().cpu() / (H * W)
    out = {n: CurveResult(fractions, c.cpu(), trapezoid(c.cpu(), fractions), f"{mode}-{n}")
           for n, c in curves.items()}
    return out if many else out[reps[0].name]


def _prepare(posterior, x: Tensor, maps: Tensor, draw: Draw | None, generator):
    from ..posteriors.protocol import as_posterior

    check_images(x)
    check_maps(maps, x)
    post = as_posterior(posterior)
    x = x.to(post.device)
    return x, draw if draw is not None else post.draw(generator)


@checks_generator
def insertion_curve(posterior: Posterior, x: Tensor, maps: Tensor, target="class", *,
                    steps: int = 100, blur_sigma: float | None = None, substrate: Tensor | None = None,
                    draw: Draw | None = None, generator: torch.Generator | None = None,
                    batch_size: int | None = None, replacement=None, replacement_seed: int = 0):
    """Insertion curve: pixels move from ``substrate`` into the image in map order.

    Parameters
    ----------
    x : ``[B, C, H, W]``; maps : ``[B, H, W]`` (higher = inserted first)
    target : measure name, class target (``"class"``, ``"class:3"``, int) or callable ``[S,B,K] -> [B]``
    steps : the curve has ``steps + 1`` points
    blur_sigma : substrate blur (default ``H / 8``); ignored when ``substrate`` is given
    substrate : ``[B, C, H, W]`` explicit start image
    generator : seeds the order among tied map values (and the draw, if none is given)
    replacement : None (the substrate above), or the substitute of the pixels not yet inserted:
        "blur" (sigma ``blur_sigma``), "zero", "mean", "noise", "road" (``metrics.replacements``;
        one draw each unless the item says ``n_draws``, the curve is the mean over draws), a
        :class:`Replacement`, or a list of them (returns ``{name: CurveResult}``). The road
        substitute is re-imputed from the inserted pixels at every step.
    replacement_seed : seed of the noise and road draws

    Returns
    -------
    :class:`CurveResult`, ``curves [B, steps+1]`` from the substrate's target to ``x``'s
    """
    x, draw = _prepare(posterior, x, maps, draw, generator)
    if replacement is not None:
        if substrate is not None:
            raise UnsureError("give either substrate or replacement, not both")
        sigma = float(blur_sigma) if blur_sigma is not None else x.shape[2] / 8
        return replaced_order_curve(draw, x, maps, step_counts(steps, x.shape[2] * x.shape[3]), True,
                                    replacement, target, generator, batch_size, "insertion",
                                    sigmas=[sigma], seed=replacement_seed, n_draws=1)
    if substrate is None:
        sigma = float(blur_sigma) if blur_sigma is not None else x.shape[2] / 8
        substrate = gaussian_blur(x, [sigma])[0]  # [1,B,C,H,W] -> [B,C,H,W]
    elif substrate.shape != x.shape:
        raise UnsureError(f"substrate {tuple(substrate.shape)} must match x {tuple(x.shape)}")
    return order_curve(draw, x, maps, substrate.to(x.device), x, target,
                       step_counts(steps, x.shape[2] * x.shape[3]), generator,
                       batch_size, "insertion")


@checks_generator
def deletion_curve(posterior: Posterior, x: Tensor, maps: Tensor, target="class", *,
                   steps: int = 100, fill: float = 0.0, draw: Draw | None = None,
                   generator: torch.Generator | None = None, batch_size: int | None = None,
                   replacement=None, replacement_seed: int = 0, blur_sigma: float | None = None):
    """Deletion curve: pixels are set to ``fill`` (RISE: 0) in map order.

    Parameters as :func:`insertion_curve`; ``curves [B, steps+1]`` runs from ``x``'s target to
    the all-``fill`` image's. ``replacement`` (not None) replaces ``fill`` by a substitute of the
    deleted pixels (one or a list, as in :func:`insertion_curve`; "blur" uses ``blur_sigma``,
    default ``H / 8``).
    """
    x, draw = _prepare(posterior, x, maps, draw, generator)
    if replacement is not None:
        sigma = float(blur_sigma) if blur_sigma is not None else x.shape[2] / 8
        return replaced_order_curve(draw, x, maps, step_counts(steps, x.shape[2] * x.shape[3]), False,
                                    replacement, target, generator, batch_size, "deletion",
                                    sigmas=[sigma], seed=replacement_seed, n_draws=1)
    return order_curve(draw, x, maps, x, torch.full_like(x, fill), target,
                       step_counts(steps, x.shape[2] * x.shape[3]), generator,
                       batch_size, "deletion")


register_metric("insertion-auc", True, "both",
                "area under the insertion curve (pixels moved from a blurred substrate in map order)",
                insertion_curve)
register_metric("deletion-auc", False, "both",
                "area under the deletion curve (pixels set to 0 in map order)", deletion_curve)
