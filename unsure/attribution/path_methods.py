"""Path methods, registered as paths x integrators (no copies): ``ig``, ``blur-ig``, ``guided-ig``
and their IDGI versions ``idgi-ig``, ``idgi-blur-ig``, ``idgi-guided-ig``.

Each class only says which path it walks and which integrator sums it; the shared options
(steps, tolerance, chunking, map reduction) live in :class:`PathMethod`, the reference options in
:class:`BaselineOptions`.

Maps: ``raw [B,C,H,W]`` is the signed per-channel attribution; ``maps = sum_c raw`` (signed) by
default, so ``sum(maps) = sum(raw)`` keeps completeness. ``absolute=True`` gives
``maps = sum_c |raw_c|`` (PAIR saliency's grayscale convention) for pixel rankings.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import ClassScore, Target
from ..posteriors.base import Draw
from .base import METHODS, Attribution, Context, Method
from .baselines import make_reference
from ._trace import nodes_in_budget
from .integrators import integrate
from .paths import BlurPath, GuidedPath, Path, StraightLine


def path_target(target: Target, draw: Draw, x: Tensor) -> Callable[[Tensor], Tensor]:
    """``f(points [n*B,C,H,W]) -> [n*B]`` for images ``x [B,C,H,W]``: ``target(draw(points))``.

    A :class:`ClassScore` of the *predicted* class is frozen to the class predicted at ``x``, so
    every point of an image's path explains the same class.
    """
    if isinstance(target, ClassScore) and target.cls is None:
        with torch.no_grad():
            frozen = target.freeze(draw(x))  # point j*B+b explains the class of image b
        return lambda points: frozen(draw(points))  # [S,n*B,K] -> [n*B]
    return lambda points: target(draw(points))


def finish(raw: Tensor, absolute: bool) -> Tensor:
    """Channel reduction ``[B,C,H,W] -> [B,H,W]``: signed sum, or sum of absolute values."""
    return raw.abs().sum(1) if absolute else raw.sum(1)


@dataclass(kw_only=True, eq=False)
class BaselineOptions:
    """How a named reference is built (:func:`~unsure.attribution.baselines.sample_baselines`).

    value_range : valid pixel range ``(lo, hi)``
    blur_sigma : sigma of the ``blur`` baseline (default ``20 * side / 224``)
    gaussian_sigma : std of the ``gaussian`` baseline in units of ``hi - lo`` (1)
    data : training images ``[N,C,H,W]`` for the ``training-data`` baseline
    """

    value_range: tuple = (0.0, 1.0)
    blur_sigma: float | None = None
    gaussian_sigma: float = 1.0
    data: Tensor | None = field(default=None, repr=False)

    def baseline_options(self) -> dict[str, Any]:
        return {"value_range": self.value_range, "blur_sigma": self.blur_sigma,
                "gaussian_sigma": self.gaussian_sigma, "data": self.data}


@dataclass(kw_only=True, eq=False)
class PathMethod(Method):
    """A path walked by an integrator.

    Parameters
    ----------
    steps : T segments (100, the papers' default), or ``"auto"``: T = 16, 32, ... up to
        ``max_steps`` until ``|sum(A) - (f(x) - f(x'))| <= tol * max(1, |f(x) - f(x')|)`` per image
        (the completeness check of Sundararajan et al. 2017 / Sturmfels et al. 2020)
    tol : relative completeness tolerance of ``steps="auto"``
    max_steps : cap of ``steps="auto"``
    internal_batch : images x nodes per forward/backward pass (the Riemann sum streams over
        chunks of ``max(1, internal_batch // B)`` nodes, fewer where their module outputs would
        not fit the attribution memory budget: ``_trace.nodes_in_budget``)
    absolute : ``maps = sum_c |raw|`` instead of the signed ``sum_c raw``

    Meta
    ----
    completeness_delta ``[B]``, steps ``[B]`` (steps used), f_input ``[B]``, f_reference ``[B]``
    """

    steps: int | str = 100
    tol: float = 1e-2
    max_steps: int = 1024
    internal_batch: int = 256
    absolute: bool = False

    integrator: ClassVar[str] = "riemann"
    complete: ClassVar[bool] = True

    def __post_init__(self):
        if self.steps != "auto" and (isinstance(self.steps, bool) or not isinstance(self.steps, int)
                                     or self.steps < 1):
            raise UnsureError(f"steps must be a positive int or 'auto', got {self.steps!r}")
        if not (isinstance(self.max_steps, int) and self.max_steps >= 16):
            raise UnsureError(f"max_steps must be an int >= 16, got {self.max_steps!r}")
        if not float(self.tol) > 0:
            raise UnsureError(f"tol must be > 0, got {self.tol!r}")
        if not (isinstance(self.internal_batch, int) and self.internal_batch >= 1):
            raise UnsureError(f"internal_batch must be a positive int, got {self.internal_batch!r}")

    @abc.abstractmethod
    def make_path(self, reference: Tensor | None) -> Path:
        """The path for images whose references (if the path has one) are ``reference [B,C,H,W]``."""

    def resolve_reference(self, x: Tensor, ctx: Context) -> Tensor | None:
        """Resolve the reference once per call, so ``steps="auto"`` reruns use the same one."""
        return None

    def _run(self, x: Tensor, ref: Tensor | None, target: Target, ctx: Context, steps: int):
        chunk = nodes_in_budget(ctx.draw, x, max(1, self.internal_batch // x.shape[0]))
        return integrate(self.make_path(ref), x, path_target(target, ctx.draw, x), steps,
                         self.integrator, chunk)

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        B = x.shape[0]
        ref = self.resolve_reference(x, ctx)
        if self.steps != "auto":
            res = self._run(x, ref, target, ctx, self.steps)
            attr, f_x, f_ref = res.attr, res.f_input, res.f_reference
            used = torch.full((B,), self.steps, dtype=torch.long)
        else:
            attr = torch.empty_like(x)
            f_x, f_ref = x.new_empty(B), x.new_empty(B)
            used = torch.zeros(B, dtype=torch.long)
            todo, T = torch.arange(B, device=x.device), 16
            while todo.numel():
                res = self._run(x[todo], None if ref is None else ref[todo], target, ctx, T)
                gap = (res.f_input - res.f_reference).abs()
                ok = res.completeness_delta <= self.tol * gap.clamp(min=1)
                if T >= self.max_steps:
                    ok[:] = True
                attr[todo[ok]], f_x[todo[ok]], f_ref[todo[ok]] = res.attr[ok], res.f_input[ok], res.f_reference[ok]
                used[todo[ok].cpu()] = T
                todo, T = todo[~ok], min(2 * T, self.max_steps)
        delta = (attr.flatten(1).sum(1) - (f_x - f_ref)).abs()
        meta = {"completeness_delta": delta, "steps": used, "f_input": f_x, "f_reference": f_ref,
                "integrator": self.integrator}
        return Attribution(finish(attr, self.absolute), attr, meta)


@dataclass(kw_only=True, eq=False)
class _Reference(BaselineOptions, PathMethod):
    """A path method with a reference image ``reference`` (name, number or tensor)."""

    reference: str | float | Tensor = "black"

    def resolve_reference(self, x: Tensor, ctx: Context) -> Tensor:
        return make_reference(self.reference, x, generator=ctx.generator, **self.baseline_options())


@METHODS.register("ig", "Integrated Gradients: straight line from a reference, Riemann sum")
@dataclass(kw_only=True, eq=False)
class IntegratedGradients(_Reference):
    """Integrated Gradients (Sundararajan et al. 2017): straight line from ``reference`` (black,
    white, a tensor or any Expected-Gradients baseline), left Riemann sum with ``steps`` segments."""

    name: ClassVar[str] = "ig"

    def make_path(self, reference):
        return StraightLine(reference)


@METHODS.register("blur-ig", "Blur IG: path of successively blurred images, Riemann sum")
@dataclass(kw_only=True, eq=False)
class BlurIG(PathMethod):
    """Blur IG (Xu et al. 2020): from ``L(x, sigma_max)`` to ``x``; ``sigma_max=None`` scales 50 on
    224-px images linearly to the image side; ``derivative`` ``"fd"`` (step ``grad_step``) or
    ``"analytic"``."""

    name: ClassVar[str] = "blur-ig"
    sigma_max: float | None = None
    derivative: str = "fd"
    grad_step: float = 0.01

    def __post_init__(self):
        super().__post_init__()
        BlurPath(self.sigma_max, self.derivative, self.grad_step)  # validates the options

    def make_path(self, reference):
        return BlurPath(self.sigma_max, self.derivative, self.grad_step)


@METHODS.register("guided-ig", "Guided IG: gradient-guided path from a reference, Riemann sum")
@dataclass(kw_only=True, eq=False)
class GuidedIG(_Reference):
    """Guided IG (Kapishnikov et al. 2021): moves the ``fraction`` of features with the smallest
    ``|g|`` first, within ``max_dist`` of the straight-line schedule."""

    name: ClassVar[str] = "guided-ig"
    fraction: float = 0.25
    max_dist: float = 0.02

    def __post_init__(self):
        super().__post_init__()
        GuidedPath(0.0, self.fraction, self.max_dist)  # validates the options

    def make_path(self, reference):
        return GuidedPath(reference, self.fraction, self.max_dist)


@METHODS.register("idgi-ig", "IDGI on the straight-line path (exact completeness)")
class IDGIIntegratedGradients(IntegratedGradients):
    """IG's path summed by IDGI (Yang et al. 2023): ``sum(A) = f(x) - f(x')`` for any steps."""

    name = "idgi-ig"
    integrator = "idgi"


@METHODS.register("idgi-blur-ig", "IDGI on the blur path (exact completeness)")
class IDGIBlurIG(BlurIG):
    """Blur IG's path summed by IDGI (Yang et al. 2023)."""

    name = "idgi-blur-ig"
    integrator = "idgi"


@METHODS.register("idgi-guided-ig", "IDGI on the guided path (exact completeness)")
class IDGIGuidedIG(GuidedIG):
    """Guided IG's path summed by IDGI (Yang et al. 2023)."""

    name = "idgi-guided-ig"
    integrator = "idgi"
