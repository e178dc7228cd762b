"""A random map: the control every evaluation compares against (paper Sec. 5.2.1, "random")."""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import Target
from .base import METHODS, Attribution, Context, Method


@METHODS.register("random", "Uniform random map (a control; ignores the model)")
class RandomMap(Method):
    """``maps ~ U(0, 1)`` i.i.d. per pixel, ``[B,H,W]``; ignores the model and the target.

    Parameters
    ----------
    seed : if given, every call draws from a fresh ``torch.Generator`` seeded with it (the same
        images get the same maps whatever the caller's generator); otherwise the call's
        ``generator`` (or torch's global one) is used.

    Returns
    -------
    maps ``[B,H,W]`` in ``[0, 1)``; raw ``None``. Chunks draw one after another from one stream.
    """

    name = "random"
    complete = False
    stochastic = True

    def __init__(self, seed: int | None = None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise UnsureError(f"random: seed must be an int or None, got {seed!r}")
        self.seed = seed

    def attribute(self, posterior, x: Tensor, target=None, *, generator=None, **kwargs):
        if self.seed is not None:  # one seeded stream for the whole call, shared by its chunks
            generator = torch.Generator().manual_seed(self.seed)
        return super().attribute(posterior, x, target, generator=generator, **kwargs)

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        B, _, H, W = x.shape
        gen = ctx.generator
        dev = gen.device if gen is not None else x.device
        maps = torch.rand((B, H, W), generator=gen, device=dev, dtype=x.dtype).to(x.device)
        return Attribution(maps, None, {})
