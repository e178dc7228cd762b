"""LRP rules as a modified backward pass, for CovLRP.

Within :func:`lrp_rules`, every ``nn.Linear`` and ``nn.Conv2d`` of a draw's modules keeps its
forward value but its backward pass becomes the *generalized LRP-gamma rule* (Montavon et al.,
"Layer-wise relevance propagation: an overview", 2019, Sec. 10.2.3, Eq. 10.5; generalized to
inputs of both signs by Andeol et al. 2021; zennit's ``rules.Gamma``, which the CovLRP authors use
with ``gamma`` 0.2 / 0.1 in the hidden layers and 0 in the output layer). With the layer input
``a = a+ + a-``, ``z = W a + b`` and ``W_g^+ = W + gamma W.clamp(min=0)``, ``W_g^- = W + gamma
W.clamp(max=0)`` (the bias alike):

    zp = W_g^+ a+ + W_g^- a- + b_g^+   (outputs z > 0)     zn = W_g^- a+ + W_g^+ a- + b_g^-   (z < 0)
    R_i = a+_i sum_j [z_j > 0] W_g^+_ji R_j / zp_j + a+_i sum_j [z_j < 0] W_g^-_ji R_j / zn_j
        + a-_i sum_j [z_j > 0] W_g^-_ji R_j / zp_j + a-_i sum_j [z_j < 0] W_g^+_ji R_j / zn_j

with denominators stabilized as zennit does, ``d + eps (sign(d) + [d == 0])``, ``eps = 1e-6``.
``gamma = 0`` is LRP-0 (``zp = zn = z``). Implementation: the layer returns
``s + (z - s).detach()`` with the surrogate ``s = (W_g^+ a+ + W_g^- a- + b_g^+) r+ + (W_g^- a+ +
W_g^+ a- + b_g^-) r-``, ``r+ = ([z > 0] z / zp).detach()``, ``r- = ([z < 0] z / zn).detach()``: the
forward value is ``z`` and ``a * grad_a`` is the rule's ``R`` whenever ``R_j = z_j grad_{z_j}`` at
the output (true at the top for the cotangent ``e_k``, and kept from layer to layer; ReLU,
max-pooling and reshapes pass the gradient unchanged, as zennit's defaults for them). The
relevance of the input pixels is then ``x * grad_x``: CovLRP is CovGI through this backward pass.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UnsureError
from ..posteriors import Draw

RULE_LAYERS = (nn.Linear, nn.Conv2d)
EPS = 1e-6


def stabilize(d: Tensor, eps: float = EPS) -> Tensor:
    """zennit's ``stabilize``: ``d + eps * (sign(d) + [d == 0])``."""
    return d + eps * (d.sign() + (d == 0).to(d.dtype))


def _apply(module: nn.Module, a: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    if isinstance(module, nn.Linear):
        return F.linear(a, weight, bias)
    return module._conv_forward(a, weight, bias)  # nn.Conv2d: its own padding mode


def gamma_surrogate(module: nn.Module, a: Tensor, z: Tensor, gamma: float, eps: float = EPS) -> Tensor:
    """``z`` in value, the generalized LRP-gamma rule in its backward pass (module docstring)."""
    w, b = module.weight, module.bias
    wp, wn = w + gamma * w.clamp(min=0), w + gamma * w.clamp(max=0)
    bp = None if b is None else b + gamma * b.clamp(min=0)
    bn = None if b is None else b + gamma * b.clamp(max=0)
    ap, an = a.clamp(min=0), a.clamp(max=0)
    up = _apply(module, ap, wp, bp) + _apply(module, an, wn, None)  # zp
    un = _apply(module, ap, wn, bn) + _apply(module, an, wp, None)  # zn
    with torch.no_grad():
        rp = torch.where(z > 0, z / stabilize(up, eps), torch.zeros_like(z))
        rn = torch.where(z < 0, z / stabilize(un, eps), torch.zeros_like(z))
    s = up * rp + un * rn
    return s + (z - s).detach()


def output_layers(draw: Draw, x: Tensor) -> set[int]:
    """The ids of the last ``Linear`` / ``Conv2d`` each member calls (its output layer), found by one
    probe forward of one image per member."""
    last: list[nn.Module | None] = [None]

    def hook(module, _inp, _out):
        last[0] = module

    mods = {id(m): m for root in draw.modules for m in root.modules() if isinstance(m, RULE_LAYERS)}
    handles = [m.register_forward_hook(hook) for m in mods.values()]
    out = set()
    try:
        with torch.no_grad():
            for member in draw.members:
                last[0] = None
                member(x[:1])
                if last[0] is None:
                    raise UnsureError("cov-lrp found no nn.Linear / nn.Conv2d layer in the model")
                out.add(id(last[0]))
    finally:
        for h in handles:
            h.remove()
    return out


@contextlib.contextmanager
def lrp_rules(draw: Draw, x: Tensor, gamma: float, gamma_out: float = 0.0,
              eps: float = EPS) -> Iterator[None]:
    """Inside the block every ``Linear`` / ``Conv2d`` of ``draw.modules`` backpropagates by the
    generalized LRP-gamma rule, with ``gamma_out`` for each member's output layer (found with a probe
    forward on ``x``) and the stabilizer ``eps``; the hooks are removed on exit, even on errors."""
    last = output_layers(draw, x)
    handles = []

    def hook(module, inp, out):
        g = gamma_out if id(module) in last else gamma
        return gamma_surrogate(module, inp[0], out, g, eps)

    try:
        for root in draw.modules:
            for m in root.modules():
                if isinstance(m, RULE_LAYERS):
                    handles.append(m.register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()
