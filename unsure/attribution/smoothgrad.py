"""SmoothGrad (Smilkov et al. 2017) as a wrapper around any registered method (Captum's
``NoiseTunnel``; METHODS.md, "Gradient methods").

``A(x) = 1/N sum_n A_inner(x + eps_n)``, ``eps_n ~ N(0, (sigma * (max x - min x))^2)`` with the
range taken per image over all its channels and pixels. Every noisy copy is explained with the
*same* frozen posterior draw (one :class:`Context`), and the mean and variance are streamed with
Welford's update (no ``E[a^2] - E[a]^2`` cancellation, cf. Captum's VarGrad).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import ClassScore, Target
from ..posteriors.base import Draw
from .base import METHODS, Attribution, Context, Method, make_method


def freeze_class(target: Target, draw: Draw, x: Tensor) -> Target:
    """``target`` itself, or for the predicted-class score the class predicted at ``x [B,C,H,W]``."""
    if isinstance(target, ClassScore) and target.cls is None:
        with torch.no_grad():
            return target.freeze(draw(x))  # [S,B,K]
    return target


class Welford:
    """Running mean and variance of tensors of one shape (Welford 1962)."""

    def __init__(self):
        self.n, self.mean, self.m2 = 0, None, None

    def add(self, a: Tensor) -> None:
        a = a.detach()
        self.n += 1
        if self.mean is None:
            self.mean, self.m2 = a.clone(), torch.zeros_like(a)
            return
        delta = a - self.mean
        self.mean = self.mean + delta / self.n
        self.m2 = self.m2 + delta * (a - self.mean)

    @property
    def variance(self) -> Tensor:
        """Unbiased sample variance (0 for a single sample)."""
        return self.m2 / (self.n - 1) if self.n > 1 else torch.zeros_like(self.mean)


def check_count(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UnsureError(f"{what} must be a positive int, got {value!r}")
    return value


def check_sigma(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UnsureError(f"{what} must be a number >= 0, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(v) or v < 0:
        raise UnsureError(f"{what} must be a finite number >= 0, got {value!r}")
    return v


def build_inner(owner: str, inner: str | Method, options: dict[str, Any]) -> Method:
    """The inner method of a wrapper (SmoothGrad, NoiseGrad): a built :class:`Method`, or a
    registered name built with ``options``; a stray ``method=`` option raises (it names the wrapper
    in :func:`unsure.attribute`, so the wrapped method is ``inner=``)."""
    if "method" in options:
        raise UnsureError(f"{owner}: pass the wrapped method as inner={options['method']!r}, not "
                          "method= (in unsure.attribute, method names the wrapper itself)")
    if isinstance(inner, Method):
        if options:
            raise UnsureError(f"{owner}: options {sorted(options)} go to the inner method; pass "
                              "them when building it, or pass its name")
        return inner
    if isinstance(inner, str):
        return make_method(inner, **options)
    raise UnsureError(f"{owner}: inner must be a method name or a Method, got {type(inner).__name__}")


def input_noise(x: Tensor, sigma: float, generator: torch.Generator | None) -> Tensor:
    """``eps ~ N(0, (sigma * range_b)^2)`` shaped like ``x [B,C,H,W]``, ``range_b = max - min`` of
    image b; drawn on the generator's device, then moved to ``x``'s."""
    rng = (x.flatten(1).amax(1) - x.flatten(1).amin(1)).reshape(-1, 1, 1, 1)  # [B] -> [B,1,1,1]
    dev = generator.device if generator is not None else x.device
    eps = torch.randn(x.shape, generator=generator, device=dev, dtype=x.dtype).to(x.device)
    return eps * (sigma * rng)


class Wrapper(Method):
    """Base of the wrappers around another method (SmoothGrad, NoiseGrad): the wrapped method is
    ``self._inner`` (built by :func:`build_inner`) and is recorded in :meth:`options`."""

    _inner: Method

    @property
    def inner(self) -> Method:
        return self._inner

    def options(self) -> dict:
        # not "method": that key of the result's meta names the wrapper itself
        return {**super().options(), "inner": self._inner.name,
                "inner_options": self._inner.options()}


@METHODS.register("smoothgrad", "SmoothGrad: mean of any method over noisy copies of the input")
class SmoothGrad(Wrapper):
    """Mean of the inner method's maps and raw attributions over ``samples`` noisy copies.

    ``maps = 1/N sum_n M(x + eps_n)`` ``[B,H,W]`` and ``raw = 1/N sum_n R(x + eps_n)``
    ``[B,C,H,W]`` (``None`` if the inner method has no raw), ``eps_n [B,C,H,W] ~
    N(0, (sigma * range_b)^2)``. Randomness order per chunk, from the call's ``generator``: for
    n = 1..N the noise ``eps_n``, then whatever the inner method draws for copy n.

    Parameters
    ----------
    inner : the wrapped method: a registered name (default "grad") or a built :class:`Method`,
        e.g. ``unsure.attribute(post, x, "smoothgrad", inner="inputgrad")``
    samples : N, noisy copies per image (50, Smilkov et al.)
    sigma : noise std as a fraction of each image's range ``max - min`` (0.15)
    inner_options : options of the inner method (e.g. ``absolute=True``); an unknown one raises
        :class:`UnsureError` naming it

    Meta
    ----
    variance ``[B,H,W]``: sample variance of the inner maps over the copies (VarGrad's map);
    ``inner`` and ``inner_options``: the wrapped method's name and settings.
    A predicted-class target is frozen to the class predicted at the clean image.
    """

    name = "smoothgrad"
    complete = False
    stochastic = True

    def __init__(self, inner: str | Method = "grad", samples: int = 50, sigma: float = 0.15,
                 **inner_options):
        self._inner = build_inner(self.name, inner, inner_options)
        self.samples = check_count(samples, f"{self.name} samples")
        self.sigma = check_sigma(sigma, f"{self.name} sigma")

    def noisy_copies(self, x: Tensor, ctx: Context):
        """Yield the ``samples`` noisy copies ``[B,C,H,W]`` of ``x``, in generator order."""
        for _ in range(self.samples):
            yield x + input_noise(x, self.sigma, ctx.generator)

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        target = freeze_class(target, ctx.draw, x)
        maps, raw = Welford(), Welford()
        for xn in self.noisy_copies(x, ctx):
            res = self._inner._attribute(xn, target, ctx)  # the same frozen draw for every copy
            maps.add(res.maps)
            if res.raw is not None:
                raw.add(res.raw)
        return Attribution(maps.mean, raw.mean, {"variance": maps.variance})
