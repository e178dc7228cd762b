"""Gradient (saliency) maps: ``|d f / d x|`` reduced over the channels (Simonyan et al. 2014).

``f`` is the target (an uncertainty measure or a class score) of one frozen posterior draw, so the
gradient runs through all S members: ``f(x) = target(draw(x))``, ``[B,C,H,W] -> [B]``.
"""
from __future__ import annotations

from enum import Enum
from typing import TypeVar

from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import Target
from ..posteriors.base import Draw
from .base import METHODS, Attribution, Context, Method
from .integrators import value_and_grad
from .path_methods import path_target

E = TypeVar("E", bound=Enum)


class Reduce(str, Enum):
    """How ``|g| [B,C,H,W]`` becomes a pixel map ``[B,H,W]``."""

    MAX = "max"
    MEAN = "mean"


def parse_option(enum: type[E], value, method: str, option: str) -> E:
    """``value`` (a string or an enum member) as a member of ``enum``; a clear error otherwise."""
    try:
        return enum(getattr(value, "value", value))
    except ValueError:
        known = ", ".join(repr(e.value) for e in enum)
        raise UnsureError(f"{method}: {option} must be one of {known}, got {value!r}") from None


def target_gradient(target: Target, draw: Draw, x: Tensor) -> tuple[Tensor, Tensor]:
    """``f(x) [B]`` and ``grad_x f [B,C,H,W]`` for ``f = target(draw(.))`` (one backward pass).

    A predicted-class target explains the class predicted at ``x`` (``path_target``).
    """
    f, g = value_and_grad(path_target(target, draw, x), x.unsqueeze(0))  # [1,B,...]
    return f[0], g[0]  # [1,B] -> [B], [1,B,C,H,W] -> [B,C,H,W]


@METHODS.register("grad", "Gradient saliency |df/dx|, channel max (or mean)")
class Grad(Method):
    """Saliency map ``|grad_x f|`` of the target ``f``.

    ``maps[b,h,w] = max_c |g[b,c,h,w]|`` (``reduce="max"``, Simonyan et al. 2014; Captum's
    ``Saliency(abs=True)`` followed by a channel max) or ``mean_c |g[b,c,h,w]|`` (``reduce="mean"``),
    with ``g = d f / d x [B,C,H,W]``.

    Parameters
    ----------
    reduce : "max" (default) or "mean" over the channels

    Returns
    -------
    maps ``[B,H,W] >= 0``; raw ``[B,C,H,W]`` the *signed* gradient; meta ``f_input [B]``.
    """

    name = "grad"
    complete = False

    def __init__(self, reduce: str | Reduce = Reduce.MAX):
        self.reduce = parse_option(Reduce, reduce, self.name, "reduce").value

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        f, g = target_gradient(target, ctx.draw, x)
        a = g.abs()
        maps = a.amax(1) if self.reduce == Reduce.MAX else a.mean(1)  # [B,C,H,W] -> [B,H,W]
        return Attribution(maps, g, {"f_input": f})
