"""FullGrad's map post-processing (Srinivas & Fleuret 2019; METHODS.md, FullGrad), shared by the
FullGrad baseline and UA-Backprop's ``fullgrad`` path.

The map of a scalar ``f`` is ``psi(g * x)`` summed over channels plus, for every *spatial* bias
layer ``l``, ``Up(psi(grad_{h_l} f * b_l))`` summed over the layer's channels, with

    psi(T) = (|T| - min|T|) / (max|T| - min|T| + 1e-6)

taken per sample over the whole layer tensor and ``Up`` bilinear upsampling to ``H x W``.
Linear-layer (non-spatial) bias terms enter FullGrad's completeness, not its map.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ._trace import LayerRecord

PSI_EPS = 1e-6


def psi(t: Tensor, start_dim: int) -> Tensor:
    """FullGrad's per-sample normalisation of ``|t|`` to [0, 1].

    Parameters
    ----------
    t : ``[*lead, *rest]``; min and max are taken over the dimensions from ``start_dim`` on,
        separately for every index of the leading dimensions.
    """
    a = t.abs()
    flat = a.flatten(start_dim)  # [*lead, *rest] -> [*lead, N]
    lo = flat.min(-1).values
    hi = flat.max(-1).values
    shape = (*lo.shape, *([1] * (a.ndim - start_dim)))  # broadcast back over the reduced dims
    return (a - lo.reshape(shape)) / (hi - lo + PSI_EPS).reshape(shape)


def fullgrad_map(input_grad: Tensor, x: Tensor, layers: Sequence[LayerRecord],
                 layer_grads: Sequence[Tensor], directed: bool = False) -> Tensor:
    """FullGrad maps of J scalars at once.

    Parameters
    ----------
    input_grad : ``[J, B, C, H, W]``, gradient of each of J scalars w.r.t. ``x``
    x : ``[B, C, H, W]``
    layers : the recorded bias layers (``_trace.LayerRecord``) of the network that produced them
    layer_grads : ``[J, B, C_l, ...]`` per layer, gradient of each scalar w.r.t. ``h_l``
    directed : use ``relu(T)`` (the part that raises the scalar) instead of FullGrad's ``|T|``

    Returns
    -------
    ``[J, B, H, W]`` non-negative maps (not normalised to any total).
    """
    J, B, C, H, W = input_grad.shape
    t = input_grad * x.unsqueeze(0)
    out = psi(t.clamp_min(0) if directed else t, start_dim=2).sum(2)  # [J,B,C,H,W] -> [J,B,H,W]
    return out + bias_term_map(layers, layer_grads, (H, W), directed)


def bias_term_map(layers: Sequence[LayerRecord], layer_grads: Sequence[Tensor],
                  size: tuple[int, int], directed: bool = False) -> Tensor | float:
    """Sum over spatial bias layers of ``Up(psi(grad_{h_l} f * b_l))`` summed over channels.

    ``layer_grads`` are ``[J, B, C_l, h, w]``; returns ``[J, B, H, W]`` (0.0 if no spatial layer).
    """
    out: Tensor | float = 0.0
    for rec, g in zip(layers, layer_grads):
        if not rec.spatial:
            continue  # linear layers: completeness only
        J, B = g.shape[:2]
        bias = rec.bias_view().to(g.dtype).unsqueeze(0)  # [1,C_l,1,1] -> [1,1,C_l,1,1]
        t = g * bias
        term = psi(t.clamp_min(0) if directed else t, start_dim=2).sum(2)  # [J,B,C_l,h,w] -> [J,B,h,w]
        # bilinear upsampling is linear, so summing channels before upsampling gives the same map
        # as upsampling every channel (FullGrad's order) at 1/C_l of the cost
        up = F.interpolate(term.reshape(J * B, 1, *term.shape[2:]), size=size, mode="bilinear",
                           align_corners=True)  # [J,B,h,w] -> [J*B,1,H,W]
        out = out + up.reshape(J, B, *size)  # [J*B,1,H,W] -> [J,B,H,W]
    return out


def fullgrad_completeness(input_grad: Tensor, x: Tensor, layers: Sequence[LayerRecord],
                          layer_grads: Sequence[Tensor]) -> Tensor:
    """``sum(g * x) + sum_l sum(grad_{h_l} f * b_l)`` for each scalar: ``[J, B]``.

    Equals ``f(x)`` for piecewise-linear networks (FullGrad's completeness), all layers included.
    """
    total = (input_grad * x.unsqueeze(0)).flatten(2).sum(-1)  # [J,B,C,H,W] -> [J,B]
    for rec, g in zip(layers, layer_grads):
        bias = rec.bias_view().to(g.dtype).unsqueeze(0)  # [1,C_l,...] -> [1,1,C_l,...]
        total = total + (g * bias).flatten(2).sum(-1)  # [J,B,C_l,...] -> [J,B]
    return total
