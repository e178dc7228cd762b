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
    reference : ``"black"`` (the classic ``g * x``), ``"white"`` (``g * (x - 1)``) or ``"blur"``
        (``g * (x - G_blur_sigma x)``, the first-order effect of the substitution the blurring test
        makes; the same reference UA-Backprop's inputgrad path can use, so the two compare fairly)
    blur_sigma : sigma of the ``"blur"`` reference, in pixels

    Returns
    -------
    maps ``[B,H,W]``; raw ``[B,C,H,W]`` (Captum's ``InputXGradient``); meta ``f_input [B]``.
    """

    name = "inputgrad"
    complete = False

    def __init__(self, absolute: bool = False, reference: str = "black", blur_sigma: float = 1.0):
        if not isinstance(absolute, bool):
            raise UnsureError(f"inputgrad: absolute must be a bool, got {absolute!r}")
        if reference not in ("black", "white", "blur"):
            raise UnsureError(f"inputgrad: reference must be 'black', 'white' or 'blur', got {reference!r}")
        if isinstance(blur_sigma, bool) or not isinstance(blur_sigma, (int, float)) or not blur_sigma > 0:
            raise UnsureError(f"inputgrad: blur_sigma must be a number > 0, got {blur_sigma!r}")
        self.absolute, self.reference, self.blur_sigma = absolute, reference, float(blur_sigma)

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        from .ua_backprop import reference_image  # one definition of the references

        f, g = target_gradient(target, ctx.draw, x)
        raw = g * x if self.reference == "black" else g * (x - reference_image(x, self.reference, self.blur_sigma))
        maps = raw.abs().sum(1) if self.absolute else raw.sum(1)  # [B,C,H,W] -> [B,H,W]
        return Attribution(maps, raw, {"f_input": f})
