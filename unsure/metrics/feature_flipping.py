"""Feature flipping with in-distribution infill (Bley, Lapuschkin, Samek & Montavon 2025; Schiller
et al. 2026, Sec. 3, "correctness").

The features of one image are replaced in map order (most important first) by an in-distribution
infill, ``interval`` at a time (Schiller et al.: 1 for ``D <= 30`` features, else 5), and the target
uncertainty ``U`` is read after every step. The curve is divided by ``U(x)`` and its trapezoid area
over ``[0, 1]`` is the score: **lower is better** (a good map names the features whose removal takes
the uncertainty away first).

The removal runs on the shared perturbation machinery (:mod:`unsure.metrics.insertion_deletion`'s
``replaced_order_curve``, one batched forward per chunk of steps). The infill is any substitute of
:mod:`unsure.metrics.replacements` or :class:`TrainingMedian`. Default: ``blur`` with sigma 1, the
authors' MNIST choice, as a **2-D** blur. **(difference)** Their code blurs the *flattened* image
(``gaussian_filter(sample.flatten(), 1)``), mixing each pixel with its row neighbours and the ends
of the adjacent rows; their tabular default is the training median (:class:`TrainingMedian`).
**(difference)** Their flipping set is the ``n`` test samples of highest variance, re-ordered
(``argsort``) while the attributions keep the caller's order, so sample ``i`` is scored with the map of
another sample; for a regression model ``argsort`` of the ``(N, 1)`` variance array sorts each
single-element row and returns index 0 ``n`` times. Here image ``i`` is always scored with map ``i``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ..errors import UnsureError
from ..validate import check_images, check_maps
from ._maps import check_ordered, flat_maps
from .base import register_metric
from .insertion_deletion import CurveResult, replaced_order_curve, trapezoid
from .replacements import Replacement


@dataclass
class TrainingMedian(Replacement):
    """A removed pixel takes the training set's per-pixel median: ``value [C,H,W]``."""

    name: ClassVar[str] = "train-median"
    value: Tensor = None  # type: ignore[assignment]

    def substitute(self, x: Tensor) -> Tensor:
        if self.value is None or tuple(self.value.shape) != tuple(x.shape[1:]):
            got = None if self.value is None else tuple(self.value.shape)
            raise UnsureError(f"train-median infill needs value of shape {tuple(x.shape[1:])}, got {got}")
        return self.value.to(x)[None, None].expand(1, *x.shape).clone()  # [1,B,C,H,W]

    def describe(self) -> dict:
        return {"name": self.name}

    @classmethod
    def of(cls, x_train: Tensor) -> "TrainingMedian":
        """The median over the images ``x_train [N,C,H,W]`` (numpy's median: mean of the two middle
        values for even ``N``)."""
        s = x_train.sort(0).values
        n = s.shape[0]
        return cls(value=(s[(n - 1) // 2] + s[n // 2]) / 2)


def flip_counts(n_features: int, interval: int | None = None) -> Tensor:
    """Features removed at each step: ``0, k, 2k, ... <= D`` with ``k = interval`` (default 1 for
    ``D <= 30``, else 5, Schiller et al.)."""
    k = (1 if n_features <= 30 else 5) if interval is None else int(interval)
    if k < 1:
        raise UnsureError(f"interval must be a positive int, got {interval!r}")
    return torch.arange(0, n_features + 1, k)


def feature_flipping(posterior, x: Tensor, maps: Tensor, target="epistemic", *,
                     replacement: str | Replacement = "blur", blur_sigma: float = 1.0,
                     interval: int | None = None, draw=None, generator: torch.Generator | None = None,
                     batch_size: int | None = None) -> CurveResult:
    """Flipping curve and its normalised area per image.

    Parameters
    ----------
    posterior : the model; ``x`` : ``[B,C,H,W]``; ``maps`` : ``[B,H,W]`` (higher = removed first)
    target : the uncertainty read off (measure name or callable ``[S,B,K] -> [B]``)
    replacement : the infill ("blur" with ``blur_sigma``, any other substitute, or
        :class:`TrainingMedian`)
    interval : features removed per step (default: module docstring)
    draw, generator, batch_size : as in :func:`unsure.metrics.deletion_curve`

    Returns
    -------
    :class:`CurveResult`: ``curves [B,T]`` is ``U`` after each step divided by ``U(x)`` (an image
    with ``U(x) = 0`` keeps its raw curve, as the authors do), ``auc [B]`` its area over
    ``[0, 1]`` (equal steps), ``fractions`` the share of pixels removed.
    """
    from ..posteriors.protocol import as_posterior

    check_images(x)
    check_maps(maps, x)
    check_ordered(flat_maps(maps))
    post = as_posterior(posterior)
    x = x.to(post.device)
    draw = draw if draw is not None else post.draw(generator)
    H, W = x.shape[2:]
    counts = flip_counts(H * W, interval)
    raw = replaced_order_curve(draw, x, maps, counts, False, replacement, target, generator,
                               batch_size, "flipping", sigmas=[blur_sigma], n_draws=1)
    u0 = raw.curves[:, :1]
    curves = torch.where(u0 == 0, raw.curves, raw.curves / torch.where(u0 == 0, 1.0, u0))
    steps = torch.linspace(0, 1, len(counts), dtype=torch.float64)  # the authors' dx = 1 / (T-1)
    return CurveResult(raw.fractions, curves, trapezoid(curves.double(), steps), "flipping")


register_metric("flipping-auc", False, "uncertainty",
                "area under the normalised uncertainty curve as features are replaced by an "
                "in-distribution infill in map order (Bley et al. 2025)", feature_flipping)
