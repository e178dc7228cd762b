"""NoiseGrad and NoiseGrad++ (Bykov et al., AAAI 2022) as wrappers around any registered method.

NoiseGrad explains N noisy versions of the *model* instead of the input:

    A(x) = 1/N sum_n A_inner(x; theta * eta_n),   eta_n ~ N(1, sigma^2) element-wise,

where every parameter (weights and biases, not buffers) of every network of the frozen posterior
draw ``ctx.draw`` is multiplied by the same ``eta_n`` for draw n. NoiseGrad++ is NoiseGrad around
SmoothGrad: each weight-noise draw is explained by SmoothGrad's mean over noisy inputs (the
composition of :class:`NoiseGrad` with :class:`~unsure.attribution.smoothgrad.SmoothGrad`, no
second copy of either).

The weights are perturbed in place inside a ``with`` block that restores them on exit, even when the
inner method or the target raises (:func:`unsure.posteriors._noise.perturbed`). Members of a
weight-noise posterior read the live parameters at call time, so NoiseGrad's noise composes with
theirs; a posterior whose members sample weights outside its modules' parameters (e.g. a Laplace
head's weight samples) only has its module parameters perturbed.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import Target
from ..posteriors._noise import calibrate, distinct_parameters, perturbed, predicted_classes
from .base import METHODS, Attribution, Context, Method
from .smoothgrad import SmoothGrad, Welford, Wrapper, build_inner, check_count, check_sigma, freeze_class


@METHODS.register("noisegrad", "NoiseGrad: mean of any method over multiplicative weight-noise draws")
class NoiseGrad(Wrapper):
    """Mean of the inner method's maps and raw attributions over ``draws`` weight-noise draws.

    For n = 1..N: every distinct parameter of ``ctx.draw.modules`` is multiplied in place by
    ``1 + sigma * eps``, ``eps ~ N(0,1)`` (drawn from the call's ``generator``, parameter by
    parameter in registration order), the inner method explains the chunk with the perturbed draw,
    and the parameters are restored.

    Parameters
    ----------
    inner : the wrapped method: a registered name (default "grad") or a built :class:`Method`
    draws : N, weight-noise draws (10)
    sigma : weight-noise std. ``None`` (default) chooses it by the 5 % accuracy-drop heuristic
        (Bykov et al.) **on the explained images**: the labels are the classes the unperturbed
        draw predicts (argmax of the members' mean probability), so ``ACC(sigma)`` is the agreement
        of the perturbed draw with them, ``ACC(0) = 1`` and ``ACC_chance = 1/K``; sigma is bisected
        until ``AD = 1 - (ACC(sigma) - 1/K) / (1 - 1/K)`` is within 0.01 of 0.05, with ``draws``
        seeded noise draws per level (:func:`unsure.posteriors._noise.calibrate`). We chose this
        because an attribution call has the images but no labels or validation set. It is
        computed per chunk (``batch_size``), so a few images give a coarse AD: explain enough images
        per chunk, or pass ``sigma`` (e.g. the ``weight-noise`` posterior's validated sigma).
    inner_options : options of the inner method; an unknown one raises :class:`UnsureError`

    Meta
    ----
    variance ``[B,H,W]`` of the inner maps over the draws; sigma ``[B]`` used for each image;
    ``inner`` and ``inner_options``: the wrapped method's name and settings.
    Randomness order per chunk: calibration seeds (when ``sigma=None``), then for every draw its
    weight noise followed by whatever the inner method draws. A predicted-class target is frozen to
    the class the unperturbed draw predicts.
    """

    name = "noisegrad"
    complete = False
    stochastic = True

    def __init__(self, inner: str | Method = "grad", draws: int = 10, sigma: float | None = None,
                 **inner_options):
        self._inner = build_inner(self.name, inner, inner_options)
        self.draws = check_count(draws, f"{self.name} draws")
        self.sigma = None if sigma is None else check_sigma(sigma, f"{self.name} sigma")

    def choose_sigma(self, x: Tensor, ctx: Context) -> float:
        """``self.sigma``, or the accuracy-drop sigma on ``x`` against the draw's own predictions."""
        if self.sigma is not None:
            return self.sigma
        labels = predicted_classes(ctx.draw, x)
        return calibrate(ctx.draw, x, labels, 0.05, draws=self.draws, generator=ctx.generator).sigma

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        if not distinct_parameters(ctx.draw.modules):
            raise UnsureError(f"{self.name}: the posterior draw exposes no parameters to perturb")
        target = freeze_class(target, ctx.draw, x)  # the class of the unperturbed prediction
        sigma = self.choose_sigma(x, ctx)
        maps, raw = Welford(), Welford()
        for _ in range(self.draws):
            with perturbed(ctx.draw.modules, sigma, ctx.generator):
                res = self._inner._attribute(x, target, ctx)
            maps.add(res.maps)
            if res.raw is not None:
                raw.add(res.raw)
        meta = {"variance": maps.variance, "sigma": torch.full((x.shape[0],), sigma, dtype=x.dtype)}
        return Attribution(maps.mean, raw.mean, meta)


@METHODS.register("noisegrad++", "NoiseGrad++: NoiseGrad around SmoothGrad (weight and input noise)")
class NoiseGradPlusPlus(NoiseGrad):
    """NoiseGrad around SmoothGrad: ``NoiseGrad(SmoothGrad(inner, samples, input_sigma), draws,
    sigma)``, i.e. ``draws x samples`` inner calls per image.

    Parameters
    ----------
    inner, draws, sigma : as :class:`NoiseGrad` (weight noise)
    samples : SmoothGrad's noisy inputs per weight draw (10; SmoothGrad alone uses 50, which would
        make 500 inner calls per image)
    input_sigma : SmoothGrad's input noise as a fraction of each image's range (0.15)
    inner_options : options of the innermost method
    """

    name = "noisegrad++"

    def __init__(self, inner: str | Method = "grad", draws: int = 10, sigma: float | None = None,
                 samples: int = 10, input_sigma: float = 0.15, **inner_options):
        innermost = build_inner(self.name, inner, inner_options)
        super().__init__(SmoothGrad(innermost, samples=samples, sigma=input_sigma), draws, sigma)
