"""FullGrad (Srinivas & Fleuret, NeurIPS 2019) of the target ``f = target(draw(x))``.

For networks built of bias layers (conv, linear, batch-norm in eval mode with its effective bias)
and piecewise-linear activations, the *full-gradient decomposition* is exact:

    f(x) = sum(grad_x f * x) + sum_l sum(grad_{h_l} f * b_l)          (paper Eq. 2)

where ``h_l`` is the output of bias layer ``l`` and ``b_l`` its bias. With an ensemble of S members
the target depends on every member's layers, and the sum over ``l`` runs over the layers of all
members. Only the input-gradient and bias-gradient terms of *spatial* layers enter the map
(METHODS.md):

    map = psi(g * x) summed over C  +  sum_{spatial l} Up(psi(grad_{h_l} f * b_l)) summed over C_l

``psi`` and ``Up`` live in :mod:`~unsure.attribution.fullgrad_maps`. The decomposition holds when
``f`` is piecewise linear in ``x`` (a class logit); for a softmax or entropy target the
``completeness_delta`` reports how far it is from exact.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import UnsureError
from ..measures.targets import Target
from ..posteriors.base import Draw
from ._layers import inside, layers_at
from ._trace import LayerRecord, record_bias_layers
from .base import METHODS, Attribution, Context, Method
from .fullgrad_maps import fullgrad_completeness, fullgrad_map
from .path_methods import path_target


def _check_eval(draw: Draw) -> None:
    for root in draw.modules:
        for mod in root.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.training \
                    and mod.track_running_stats:
                raise UnsureError(f"fullgrad needs batch-norm layers in eval mode; {mod} is in "
                                  "training mode (call model.eval())")


def full_gradients(target: Target, draw: Draw, x: Tensor
                   ) -> tuple[Tensor, Tensor, list[LayerRecord], list[Tensor]]:
    """One forward through every member and one backward pass of ``f = target(draw(x))``.

    Returns
    -------
    f ``[B]``, input gradient ``[B,C,H,W]``, the bias-layer records of all members (in call
    order) and ``grad_{h_l} f`` for each record (``[B,C_l,...]``, zeros where ``f`` does not
    depend on the layer).
    """
    _check_eval(draw)
    x = x.detach().requires_grad_(True)
    fn = path_target(target, draw, x)  # (a predicted class is found here, before the hooks)
    with record_bias_layers(draw) as rec, torch.enable_grad():
        f = fn(x)
        if f.shape != (x.shape[0],):
            raise UnsureError(f"the target must give one value per image, got shape "
                              f"{tuple(f.shape)} for {x.shape[0]} images")
        # every member's layer calls; which member a call belongs to does not matter for a sum
        layers = [r for member in rec.records for r in member]
        # the gradient of each recorded call is paired with that call's own output tensor, so a
        # module that runs several times (shared by members) gets one term per call
        grads = torch.autograd.grad(f.sum(), [x] + [r.output for r in layers], allow_unused=True)
    grads = [torch.zeros_like(t) if g is None else g
             for g, t in zip(grads, [x] + [r.output for r in layers])]
    return f.detach(), grads[0], layers, grads[1:]


@METHODS.register("fullgrad", "FullGrad: input-gradient plus bias-gradient maps (exact decomposition)")
class FullGrad(Method):
    """FullGrad saliency of the target.

    Returns
    -------
    maps ``[B,H,W] >= 0``: ``psi(g * x)`` summed over channels plus every spatial bias layer's
    upsampled ``psi(grad_h f * b)`` summed over its channels; raw ``None`` (the bias terms have no
    input channels). Meta: ``completeness_delta [B] = f(x) - (sum(g * x) + sum_l sum(grad_{h_l} f *
    b_l))`` over all bias layers (linear ones included), ``f_input [B]``.

    ``complete`` is False: the *decomposition* is complete, the map (psi-normalised) is not.

    Parameters
    ----------
    layer : module path (``"layer4"``, ``"layer4.1"``) or the module itself (``net.layer4``; in
        an ensemble, each member's module at the same path): the map's bias terms come only from the
        bias layers inside that module (plus the input-gradient term); default: every spatial
        bias layer, as in the paper. ``completeness_delta`` always sums over all layers.
    """

    name = "fullgrad"
    complete = False

    def __init__(self, layer: "str | nn.Module | None" = None):
        self.layer = layer

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        f, g, layers, lg = full_gradients(target, ctx.draw, x)
        with torch.no_grad():
            one = [t.unsqueeze(0) for t in lg]  # J = 1 scalar: [B,...] -> [1,B,...]
            keep_l, keep_g = layers, one
            if self.layer is not None:
                roots = layers_at(ctx.draw, self.layer, "fullgrad")
                pairs = [(r, t) for r, t in zip(layers, one) if inside(r.module, roots)]
                keep_l, keep_g = [p[0] for p in pairs], [p[1] for p in pairs]
            maps = fullgrad_map(g.unsqueeze(0), x, keep_l, keep_g)[0]  # [1,B,H,W] -> [B,H,W]
            total = fullgrad_completeness(g.unsqueeze(0), x, layers, one)[0]  # [1,B] -> [B]
        return Attribution(maps, None, {"completeness_delta": f - total, "f_input": f})
