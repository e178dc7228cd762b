"""Gradient x input (Shrikumar et al. 2016): ``g * x`` with ``g = d f / d x``.

Equal to Integrated Gradients from a black reference for a linear ``f``; for other targets it has
no completeness guarantee (``complete = False``).
"""
from __future__ import annotations

from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import Target
from .base import METHODS, Attribution, Context, Method
from .grad import target_gradient


@METHODS.register("inputgrad", "Gradient x input, channel-summed (signed)")
class InputXGradient(Method):
    """``raw = g * x`` and ``maps = sum_c raw`` (signed), ``g = grad_x f``, all ``[B,C,H,W]``.

    Parameters
    ----------
    absolute : ``maps = sum_c |g * x|`` instead of the signed sum

    Returns
    -------
    maps ``[B,H,W]``; raw ``[B,C,H,W]`` (Captum's ``InputXGradient``); meta ``f_input [B]``.
    """

    name = "inputgrad"
    complete = False

    def __init__(self, absolute: bool = False):
        if not isinstance(absolute, bool):
            raise UnsureError(f"inputgrad: absolute must be a bool, got {absolute!r}")
        self.absolute = absolute

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        f, g = target_gradient(target, ctx.draw, x)
        raw = g * x
        maps = raw.abs().sum(1) if self.absolute else raw.sum(1)  # [B,C,H,W] -> [B,H,W]
        return Attribution(maps, raw, {"f_input": f})
