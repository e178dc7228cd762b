"""Grad-CAM (Selvaraju et al., ICCV 2017) of the target, summed over the posterior's members.

For member m with last convolutional feature map ``A^m [B,C',h,w]`` (``Draw.feature_layers``):

    w^m_c = mean_{i,j} d f / d A^m_{c,i,j}            (paper Eq. 1, the spatial mean of the gradient)
    cam^m = relu(sum_c w^m_c A^m_c)                   (paper Eq. 2)
    map   = Up(sum_m cam^m)                           bilinear to H x W (align_corners=False, as
                                                      Captum's ``LayerAttribution.interpolate``)

``f = target(draw(x))`` depends on every member, so each member's gradient comes from the same
backward pass of the joint target.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UnsureError
from ..measures.targets import Target
from ..posteriors.base import Draw
from ._layers import layers_at
from ._trace import no_inplace
from .base import METHODS, Attribution, Context, Method
from .path_methods import path_target


@contextlib.contextmanager
def record_outputs(layers: list[nn.Module], modules: list[nn.Module]) -> Iterator[list[Tensor]]:
    """Record, in call order, the output of every call of ``layers``; the hooks (and the
    temporary ``inplace=False`` of ``modules``) are removed on exit, even on errors."""
    out: list[Tensor] = []
    handles = []

    def hook(_module, _inp, output):
        out.append(output)

    try:
        with no_inplace(modules):  # an in-place ReLU would overwrite a recorded A
            for layer in {id(m): m for m in layers}.values():  # a layer shared by members: once
                handles.append(layer.register_forward_hook(hook))
            yield out
    finally:
        for h in handles:
            h.remove()


def feature_layers(draw: Draw) -> list[nn.Module]:
    """The members' feature layers, or a clear error naming the members that have none."""
    layers = list(draw.feature_layers)
    missing = [m for m in range(len(draw)) if m >= len(layers) or layers[m] is None]
    if missing:
        raise UnsureError(f"gradcam needs a convolutional feature layer in every member; members "
                          f"{missing} have none (declare model.feature_layer or add an nn.Conv2d)")
    return layers


@METHODS.register("gradcam", "Grad-CAM on each member's last conv features, summed over members")
class GradCAM(Method):
    """Grad-CAM map of the target, ``[B,H,W] >= 0``; raw ``None``.

    Parameters
    ----------
    layer : module path of the feature layer (``"layer4.1"``, ``"features.28"``) in each member
        network, or the module itself (``net.layer4``: each member's module at its path); default :func:`~unsure.posteriors.base.find_feature_layer`: the model's declared
        ``feature_layer`` (unsure's architectures: the last conv block's output), ``layer4`` for
        torchvision / timm ResNets, timm's last ``stages`` entry, else the last ``nn.Conv2d``

    Meta: ``f_input [B]``.
    """

    name = "gradcam"
    complete = False

    def __init__(self, layer: "str | nn.Module | None" = None):
        self.layer = layer

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        layers = feature_layers(ctx.draw) if self.layer is None else layers_at(ctx.draw, self.layer, "gradcam")
        x = x.detach().requires_grad_(True)  # A is in the graph even if no parameter needs grad
        fn = path_target(target, ctx.draw, x)
        with record_outputs(layers, ctx.draw.modules) as acts, torch.enable_grad():
            f = fn(x)
            if f.shape != (x.shape[0],):
                raise UnsureError(f"the target must give one value per image, got shape "
                                  f"{tuple(f.shape)} for {x.shape[0]} images")
            bad = [tuple(a.shape) for a in acts if not isinstance(a, Tensor) or a.ndim != 4]
            if bad or not acts:
                raise UnsureError("gradcam needs feature layers with outputs [B,C',h,w]; got "
                                  f"{bad or 'no call of any feature layer'}")
            grads = torch.autograd.grad(f.sum(), acts, allow_unused=True)
        with torch.no_grad():
            cam = 0.0
            for a, g in zip(acts, grads):
                if g is None:  # the target does not depend on this member's features
                    continue
                w = g.mean((2, 3), keepdim=True)  # [B,C',h,w] -> [B,C',1,1]
                cam = cam + F.interpolate((w * a).sum(1, keepdim=True).relu(), size=x.shape[-2:],
                                          mode="bilinear", align_corners=False)  # -> [B,1,H,W]
            maps = cam[:, 0] if isinstance(cam, Tensor) else x.new_zeros(x.shape[0], *x.shape[-2:])
        return Attribution(maps, None, {"f_input": f.detach()})
