"""The blurring test of UA-Backprop (paper Sec. 5.2.1, Eq. 13, Appendix B.2.1; METHODS.md).

Pixels are blurred in the order of an uncertainty map. After blurring the top n pixels
(n = 1..n_max) at every sigma of the grid, ``u_n = min_sigma U``; the curve is
``c_0 = 1``, ``c_n = min(c_{n-1}, u_n / U(x))``; MURR = ``1 - c_{n_max}`` (higher is better) and
AUC-URR = trapezoid of ``c`` over ``n / n_max`` in [0, 1] (lower is better). Medians over images.

``U`` is the epistemic uncertainty by default (the paper's test); ``measure`` picks another one,
e.g. total uncertainty for a single network, whose epistemic part is 0 (paper Table 12).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Sequence

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures import decomposable
from ..measures.measure import resolve_measure as _resolve_measure
from ..posteriors import Draw, Posterior
from ..validate import check_images, check_maps, checks_generator
from .base import register_metric
from .perturbation import replaced_uncertainty
from .replacements import Blur, Replacement, make_replacements

#: Measure names the test accepts (any ``[S,B,K] -> [B]`` callable is accepted as well).
MEASURE_NAMES: tuple[str, ...] = decomposable()  # the measures with per-probability terms

SIGMAS: tuple[float, ...] = tuple(round(0.2 * i, 6) for i in range(1, 101))  # 0.2, 0.4, ..., 20


def blur_grid(sigmas=None) -> tuple[float, ...]:
    """The blur substitute's sigma grid: ``sigmas``, or the spec's :data:`SIGMAS` for ``None``.
    Build ``Blur`` replacements for the blurring test with it: ``Blur``'s own default is one sigma."""
    return SIGMAS if sigmas is None else tuple(float(s) for s in sigmas)


MURR = register_metric("murr", True, "uncertainty",
                       "median uncertainty reduction rate of the blurring test (paper Eq. 13)")
AUC_URR = register_metric("auc-urr", False, "uncertainty",
                          "median area under the blurring test's uncertainty curve c_n (paper App. B.2.1)")


@dataclass
class BlurringResult:
    """Outcome of :func:`blurring_test`.

    Attributes
    ----------
    murr, auc : medians over images of the per-image values
    curves : ``[B, n_max+1]`` the curve ``c_n``, ``c_0 = 1``
    murr_per_image, auc_per_image : ``[B]``
    u0 : ``[B]`` uncertainty (``measure``) of the unblurred images
    n_max, fraction : pixels blurred at the end, and as a share of ``H*W``
    measure : name of the uncertainty that was blurred away (a callable's ``__name__``)
    """

    # the JSON keys of the two scores and their direction, from the registered metrics
    higher_is_better: ClassVar[dict[str, bool]] = {"murr": MURR.higher_is_better, "auc": AUC_URR.higher_is_better}

    murr: float
    auc: float
    curves: Tensor
    murr_per_image: Tensor
    auc_per_image: Tensor
    u0: Tensor
    n_max: int
    fraction: float
    measure: str = "epistemic"


Measure = Callable[[Tensor], Tensor]


def resolve_measure(measure: str | Measure) -> tuple[Measure, str]:
    """``"total"`` / ``"aleatoric"`` / ``"epistemic"`` or a ``[S,B,K] -> [B]`` callable ->
    ``(callable, name)`` (:func:`unsure.measures.measure.resolve_measure`)."""
    return _resolve_measure(measure, "blurring test measure")


@checks_generator
def pixel_order(maps: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Pixels by descending map value, ties in a seeded random order: ``[B,H,W] -> [B, H*W]``."""
    B = maps.shape[0]
    flat = maps.reshape(B, -1)  # [B,H,W] -> [B,HW]
    shuffle = torch.rand(flat.shape, generator=generator).argsort(1).to(flat.device)  # [B,HW]
    o = torch.argsort(-flat.gather(1, shuffle), dim=1, stable=True)
    return shuffle.gather(1, o)


def n_pixels(fraction: float, H: int, W: int) -> int:
    """``n_max = round(fraction * H * W)``, at least 1 (2% of 28x28 -> 16, 5% -> 39)."""
    if not 0 < fraction <= 1:
        raise UnsureError(f"blurring fraction must be in (0, 1], got {fraction}")
    return max(1, int(round(fraction * H * W)))


def blurred_uncertainty(draw: Draw, x: Tensor, order: Tensor, n_max: int,
                        sigmas: Sequence[float] = SIGMAS, batch_size: int | None = None,
                        measure: str | Measure = "epistemic") -> Tensor:
    """``u_n = min over sigma of U(x with its top-n pixels blurred)``: ``[B, n_max]``.

    Parameters
    ----------
    draw : one frozen posterior draw, used for every forward pass
    x : ``[B, C, H, W]``
    order : ``[B, H*W]`` pixel indices, most important first (:func:`pixel_order`)
    batch_size : images per forward pass (the work is ``n_max * G * B`` images; ``None``: 128 on
        the CPU, 4096 on an accelerator, fewer for images larger than 28x28,
        ``perturbation.forward_batch``)
    measure : the uncertainty ``U``: "total", "aleatoric", "epistemic" (default) or a callable
        ``[S,B,K] -> [B]``
    """
    fn, _ = resolve_measure(measure)
    return replaced_uncertainty(draw, x, order, n_max, [Blur(sigmas)], batch_size, fn)["blur"]


def summarise(u: Tensor, u0: Tensor, fraction: float, measure: str = "epistemic") -> BlurringResult:
    """Curves, MURR and AUC-URR from ``u [B, >= n]`` and ``u0 [B]``, for the first ``n`` steps.

    ``n`` is ``u.shape[1]``: pass ``u[:, :n]`` to read a smaller fraction off a longer run.
    """
    n_max = u.shape[1]
    # an image with U = 0 cannot lose uncertainty: its ratio is 1
    ratio = torch.where(u0[:, None] > 0, u / u0.clamp_min(torch.finfo(u.dtype).tiny)[:, None],
                        torch.ones_like(u))  # [B,n_max]
    ones = torch.ones_like(u0)[:, None]  # [B,1], c_0 = 1
    curves = torch.cummin(torch.cat([ones, ratio], 1), dim=1).values  # [B,n_max+1]
    murr = 1 - curves[:, -1]
    auc = (curves[:, 1:] + curves[:, :-1]).sum(1) / (2 * n_max)
    return BlurringResult(float(murr.median()), float(auc.median()), curves, murr, auc, u0,
                          n_max, fraction, measure)


@checks_generator
def blurring_test(posterior: Posterior, x: Tensor, maps: Tensor, fraction: float | Sequence[float] = 0.02,
                  sigmas: Sequence[float] | None = None, generator: torch.Generator | None = None,
                  draw: Draw | None = None, batch_size: int | None = None,
                  measure: str | Measure = "epistemic",
                  replacement: str | Replacement | Sequence[str | Replacement] = "blur",
                  replacement_seed: int = 0):
    """Run the blurring test of uncertainty maps (epistemic by default).

    Parameters
    ----------
    posterior : the model whose uncertainty ``U`` (``measure``) is measured
    x : ``[B, C, H, W]`` images (the paper: the most epistemically uncertain test images)
    maps : ``[B, H, W]`` attribution maps; higher = blurred first
    fraction : share of the pixels blurred at the end (paper: 0.02 and 0.05); a list of fractions
        returns a list of results computed from one pass up to the largest
    sigmas : blur grid (default 0.2, 0.4, ..., 20); ``u_n`` is the minimum over it, per image
    generator : seeds the random order among tied map values (and the draw, if one is made)
    draw : a frozen draw to use throughout (default: ``posterior.draw(generator)``)
    batch_size : images per forward pass (``None``: 128 on the CPU, 4096 on an accelerator)
    measure : the uncertainty the maps explain and the blur should remove: "epistemic" (default,
        the paper's test), "total", "aleatoric" or a callable ``[S,B,K] -> [B]``. A single network
        has ``U_e = 0`` (every ratio is then 1): test it on "total" (paper Table 12).
    replacement : what a removed pixel becomes (``metrics.replacements``): "blur" (default, the
        paper's test: ``sigmas`` is its grid), "zero", "mean", "noise", "road", an item with
        options ("noise:n_draws=4") or a :class:`Replacement`; ``u_n`` is the min over its draws. A
        list (or a comma-separated string) runs every substitute of a step in one batched forward
        and returns ``{name: result}``.
    replacement_seed : seed of the noise and road draws (unless an item names its own ``seed``)

    Returns
    -------
    :class:`BlurringResult` (a list of them for a list of fractions); for a list of replacements,
    ``{name: that}``
    """
    from ..posteriors.protocol import as_posterior

    fn, name = resolve_measure(measure)
    check_images(x)
    check_maps(maps, x)
    posterior = as_posterior(posterior)
    sigmas = blur_grid(sigmas)
    if not sigmas:
        raise UnsureError("blurring_test needs at least one sigma")
    x = x.to(posterior.device)
    draw = draw if draw is not None else posterior.draw(generator)
    fractions = [fraction] if isinstance(fraction, (int, float)) else list(fraction)
    n_maxes = [n_pixels(f, x.shape[2], x.shape[3]) for f in fractions]
    with torch.no_grad():
        u0 = fn(draw(x))  # [B]
    order = pixel_order(maps.detach().to(x.device), generator)
    many = not isinstance(replacement, (str, Replacement)) or (isinstance(replacement, str) and "," in replacement)
    reps = make_replacements(replacement, sigmas=sigmas, seed=replacement_seed)
    # a smaller fraction is a prefix of the larger one's sequence: substitute once, up to the largest
    us = replaced_uncertainty(draw, x, order, max(n_maxes), reps, batch_size, fn)
    out = {}
    for r in reps:
        res = [summarise(us[r.name][:, :n], u0, f, name) for f, n in zip(fractions, n_maxes)]
        out[r.name] = res[0] if isinstance(fraction, (int, float)) else res
    return out if many else out[reps[0].name]
