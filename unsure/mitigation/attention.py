"""Attention from attribution maps (UA-Backprop paper Sec. 4, Eq. 12, Appendix B.2.2).

A pre-generated attribution map ``M [B,H,W]`` becomes an attention weight ``A [B,H,W]`` in
[0, 1]; the classifier then sees ``F' = (1 + lambda * A) * F`` on its last convolutional features
``F [B,C',h,w]`` (``A`` resized bilinearly to ``h x w``), or ``x' = (1 + lambda * A) * x`` on the
input. The ``1 +`` keeps the low-attention regions' information (paper B.2.2).

The printed Eq. 12 is lost; the spec's **decision** implements three formulas for ``A``:

- ``map``: ``Mhat``;
- ``inverse``: ``1 - Mhat``;
- ``inverse-input``: ``(1 - Mhat) * xhat``,

with ``Mhat`` the element-wise (over the pixels of one image) softmax of ``M`` rescaled to [0, 1]
(min-max per image; a constant map gives ``Mhat = 0``) and ``xhat`` the channel mean of ``x``
rescaled to [0, 1] per image.
"""
from __future__ import annotations

from contextlib import contextmanager
from enum import Enum
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UnsureError


class Attention(str, Enum):
    """How an attribution map becomes attention (spec decision for the lost Eq. 12)."""

    MAP = "map"
    INVERSE = "inverse"
    INVERSE_INPUT = "inverse-input"


class Space(str, Enum):
    """Where the attention is applied: last conv features (paper default) or the input."""

    LATENT = "latent"
    INPUT = "input"


def _enum(cls, value, what: str):
    try:
        return cls(value)
    except ValueError:
        raise UnsureError(f"unknown {what} {value!r}; use one of {[v.value for v in cls]}") from None


def rescale01(t: Tensor) -> Tensor:
    """Per-image min-max rescaling of ``t [B,H,W]`` to [0, 1]; a constant image becomes 0."""
    flat = t.flatten(1)  # [B,H,W] -> [B,H*W]
    lo, hi = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    span = hi - lo
    out = torch.where(span > 0, (flat - lo) / torch.where(span > 0, span, torch.ones_like(span)),
                      torch.zeros_like(flat))
    return out.view_as(t)


def normalise_map(maps: Tensor) -> Tensor:
    """``Mhat [B,H,W]``: softmax over the H*W pixels of each map (paper Sec. 5.2.2), then [0, 1]."""
    soft = torch.softmax(maps.flatten(1), dim=1).view_as(maps)  # [B,H*W] -> [B,H,W]
    return rescale01(soft)


def attention_weights(maps: Tensor, x: Tensor, attention: str | Attention = "map") -> Tensor:
    """Attention ``A [B,H,W]`` in [0, 1] from maps ``M [B,H,W]`` and images ``x [B,C,H,W]``.

    Parameters
    ----------
    maps : ``[B,H,W]`` attribution maps (any scale; e.g. UA-Backprop maps summing to U)
    x : ``[B,C,H,W]`` the images the maps explain (used by ``inverse-input``)
    attention : ``map``, ``inverse`` or ``inverse-input`` (see the module docstring)

    Returns
    -------
    ``[B,H,W]``
    """
    kind = _enum(Attention, attention, "attention")
    if maps.ndim != 3 or x.ndim != 4 or maps.shape[0] != x.shape[0] or maps.shape[1:] != x.shape[2:]:
        raise UnsureError(f"maps must be [B,H,W] for images [B,C,H,W]; got maps {tuple(maps.shape)}, "
                          f"images {tuple(x.shape)}")
    if not torch.isfinite(maps).all():
        raise UnsureError("attribution maps contain NaN/inf values")
    mhat = normalise_map(maps)
    if kind is Attention.MAP:
        return mhat
    if kind is Attention.INVERSE:
        return 1 - mhat
    xhat = rescale01(x.mean(1).to(mhat.dtype))  # [B,C,H,W] -> [B,H,W]
    return (1 - mhat) * xhat


def scale(t: Tensor, A: Tensor, lam: float) -> Tensor:
    """``(1 + lam * A) * t`` with ``A [B,H,W]`` resized bilinearly to ``t [B,C,h,w]``'s ``h x w``."""
    if A.shape[1:] != t.shape[2:]:
        # [B,H,W] -> [B,1,h,w]
        a = F.interpolate(A[:, None], size=t.shape[2:], mode="bilinear", align_corners=False)
    else:
        a = A[:, None]  # [B,H,W] -> [B,1,H,W]
    return (1 + lam * a.to(t.dtype)) * t


@contextmanager
def latent_attention(layer: nn.Module, A: Tensor, lam: float) -> Iterator[None]:
    """Within the block, ``layer``'s output ``F`` is replaced by ``(1 + lam * A) * F``.

    The forward hook is removed on exit, also when the block raises.
    """
    handle = layer.register_forward_hook(lambda mod, inp, out: scale(out, A, lam))
    try:
        yield
    finally:
        handle.remove()


class AttendedNet(nn.Module):
    """A classifier that reads its attention as an extra input channel.

    ``forward(xa [B,C+1,H,W]) -> [B,K]`` where ``xa = pack(x, A)``; packing lets the standard
    minibatch training loop (:func:`unsure.training.classifier.fit`) shuffle images and their
    attention together.

    Parameters
    ----------
    net : a classifier ``[B,C,H,W] -> [B,K]`` with a ``feature_layer`` (for ``latent``)
    lam : attention strength ``lambda >= 0``; 0 gives exactly ``net``'s outputs
    space : ``latent`` (last conv features) or ``input``
    channels : C, the image channels
    """

    def __init__(self, net: nn.Module, lam: float, space: str | Space = "latent", channels: int = 1):
        super().__init__()
        if not lam >= 0:
            raise UnsureError(f"attention lambda must be >= 0, got {lam}")
        self.net, self.lam, self.channels = net, float(lam), int(channels)
        self.space = _enum(Space, space, "attention space")
        if self.space is Space.LATENT and not isinstance(getattr(net, "feature_layer", None), nn.Module):
            raise UnsureError(f"latent attention needs a model with a feature_layer; {type(net).__name__} has none")

    @property
    def feature_layer(self) -> nn.Module | None:
        return getattr(self.net, "feature_layer", None)

    def forward(self, xa: Tensor) -> Tensor:
        C = self.channels
        if xa.ndim != 4 or xa.shape[1] != C + 1:
            raise UnsureError(f"AttendedNet expects [B,{C + 1},H,W] (images + attention), got {tuple(xa.shape)}")
        x, A = xa[:, :C], xa[:, C]  # [B,C+1,H,W] -> [B,C,H,W], [B,H,W]
        if self.space is Space.INPUT:
            return self.net(scale(x, A, self.lam))
        with latent_attention(self.net.feature_layer, A, self.lam):
            return self.net(x)


def pack(x: Tensor, A: Tensor) -> Tensor:
    """``[B,C,H,W]`` images and ``[B,H,W]`` attention -> ``[B,C+1,H,W]`` for :class:`AttendedNet`."""
    if A.shape != (x.shape[0], *x.shape[2:]):
        raise UnsureError(f"attention must be [B,H,W] = {(x.shape[0], *x.shape[2:])}, got {tuple(A.shape)}")
    return torch.cat([x, A[:, None].to(x.dtype)], 1)
