"""Integration paths of the path methods: the sequence of points from a reference to the input.

A path is one half of a path method; an integrator (:mod:`unsure.attribution.integrators`) is the
other (METHODS.md, "Path methods = a path x an integrator"). Every path yields *nodes*
``z_0 = reference, ..., z_T = x`` in order, in chunks, together with the Riemann displacement
attached to each node's gradient:

- :class:`StraightLine` (IG, Sundararajan et al. 2017): ``z_j = x' + (j/T)(x - x')``, the gradient
  at the start of each segment, displacement ``(x - x')/T`` (left Riemann sum);
- :class:`BlurPath` (Blur IG, Xu et al. 2020): ``z_j = L(x, sigma_{T-j})``, ``sigma_k = k sigma_max/T``,
  the gradient at the *end* of each segment (the less blurred point), displacement
  ``-dsigma * dL/dsigma(x, sigma_k)`` (Xu et al. Eq. 5; PAIR saliency's discretisation);
- :class:`GuidedPath` (Guided IG, Kapishnikov et al. 2021, Algorithm 1): the path depends on the
  gradients, so the caller *sends* the gradients of every yielded chunk back into the generator.

Protocol: ``gen = path.walk(x, steps, chunk)``; ``nodes = next(gen)``; after computing the
gradients ``g [n,B,C,H,W]`` at ``nodes.points``, ``nodes = gen.send(g)`` until ``StopIteration``.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import ClassVar, Generator

import torch
from torch import Tensor

from ..errors import UnsureError
from ..ops.blur import gaussian_blur, gaussian_blur_dsigma
from .baselines import Baseline, make_reference, scaled_sigma


@dataclass
class Nodes:
    """A chunk of consecutive path nodes.

    Attributes
    ----------
    points : ``[n,B,C,H,W]`` the nodes, in order from the reference towards ``x``
    deltas : ``[n,B,C,H,W]`` the Riemann displacement multiplied by the gradient at each node
        (zero for the one node whose gradient no segment uses), or ``None``: then it is
        ``z_{j+1} - z_j`` (gradient at the start of each segment), taken from consecutive nodes
    """

    points: Tensor
    deltas: Tensor | None


Walk = Generator[Nodes, "Tensor | None", None]


def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise UnsureError(f"steps must be a positive int, got {steps!r}")
    return steps


class Path(abc.ABC):
    """Base of all paths.

    Class attributes
    ----------------
    grad_at : ``"start"`` or ``"end"``: which end of segment ``z_j -> z_{j+1}`` its gradient is
        taken at. The IDGI integrator pairs each gradient with that segment's change of ``f``.
    """

    grad_at: ClassVar[str] = "start"

    @abc.abstractmethod
    def walk(self, x: Tensor, steps: int, chunk: int) -> Walk:
        """Yield the ``steps + 1`` nodes for images ``x [B,C,H,W]`` in :class:`Nodes` chunks of at
        most ``chunk`` nodes; receive the gradients at each chunk's points through ``send``."""


class StraightLine(Path):
    """Straight line from a reference ``x'`` to ``x`` (Integrated Gradients).

    Parameters
    ----------
    reference : :class:`~unsure.attribution.baselines.Baseline` name (``black``, ``white``,
        ``max-distance``, ``blur``, ``uniform``, ``gaussian``, ``training-data``), a number or a
        tensor broadcastable to ``[B,C,H,W]``. Random baselines are drawn once per :meth:`walk`.
    generator : for random baselines
    baseline_options : ``value_range``, ``blur_sigma``, ``gaussian_sigma``, ``data``
    """

    grad_at = "start"

    def __init__(self, reference: str | Baseline | float | Tensor = "black", *,
                 generator: torch.Generator | None = None, **baseline_options):
        self.reference = reference
        self.generator = generator
        self.baseline_options = baseline_options

    def walk(self, x: Tensor, steps: int, chunk: int) -> Walk:
        T = _check_steps(steps)
        ref = make_reference(self.reference, x, generator=self.generator, **self.baseline_options)
        diff = x - ref
        for start in range(0, T + 1, chunk):
            j = torch.arange(start, min(start + chunk, T + 1), device=x.device)
            alpha = (j.to(x.dtype) / T).reshape(-1, 1, 1, 1, 1)  # [n,1,1,1,1]
            points = ref + alpha * diff  # [n,B,C,H,W]
            points[j == T] = x  # the last node is x exactly
            deltas = (diff / T).expand_as(points).clone()
            deltas[j == T] = 0  # left Riemann sum: no segment starts at x
            yield Nodes(points, deltas)


class BlurPath(Path):
    """Blur path ``x(sigma) = L(x, sigma)``, sigma from ``sigma_max`` down to 0 (Blur IG).

    Parameters
    ----------
    sigma_max : largest blur; ``None`` scales the paper's 50 (224-px ImageNet) linearly with the
        image side: ``50 * max(H,W) / 224``
    derivative : ``"fd"`` forward difference ``(L(sigma + grad_step) - L(sigma)) / grad_step``
        (Xu et al.; PAIR), or ``"analytic"`` (:func:`~unsure.ops.blur.gaussian_blur_dsigma`)
    grad_step : finite-difference step of ``"fd"`` (0.01)
    truncate : blur kernel radius in sigmas (4, as scipy)
    """

    grad_at = "end"

    def __init__(self, sigma_max: float | None = None, derivative: str = "fd",
                 grad_step: float = 0.01, truncate: float = 4.0):
        if sigma_max is not None and not float(sigma_max) > 0:
            raise UnsureError(f"sigma_max must be > 0 or None (auto), got {sigma_max!r}")
        if derivative not in ("fd", "analytic"):
            raise UnsureError(f"derivative must be 'fd' or 'analytic', got {derivative!r}")
        if not float(grad_step) > 0:
            raise UnsureError(f"grad_step must be > 0, got {grad_step!r}")
        self.sigma_max, self.derivative = sigma_max, derivative
        self.grad_step, self.truncate = float(grad_step), float(truncate)

    def sigma_of(self, x: Tensor) -> float:
        return scaled_sigma(50.0, x) if self.sigma_max is None else float(self.sigma_max)

    def dblur(self, x: Tensor, sigma: float) -> Tensor:
        """``dL/dsigma (x, sigma) [B,C,H,W]``."""
        if self.derivative == "analytic":
            return gaussian_blur_dsigma(x, sigma, self.truncate)
        h = self.grad_step
        return (gaussian_blur(x, sigma + h, self.truncate) - gaussian_blur(x, sigma, self.truncate)) / h

    def walk(self, x: Tensor, steps: int, chunk: int) -> Walk:
        T = _check_steps(steps)
        smax = self.sigma_of(x)
        dsigma = smax / T
        for start in range(0, T + 1, chunk):
            points, deltas = [], []
            for j in range(start, min(start + chunk, T + 1)):
                sigma = (T - j) * smax / T  # node j has sigma_{T-j}: z_0 is the most blurred
                points.append(gaussian_blur(x, sigma, self.truncate))
                # node j>0 ends segment j-1; its gradient times -dsigma dL/dsigma (Xu et al. Eq. 5)
                deltas.append(torch.zeros_like(x) if j == 0 else -dsigma * self.dblur(x, sigma))
            yield Nodes(torch.stack(points), torch.stack(deltas))


class GuidedPath(Path):
    """Guided IG path (Kapishnikov et al. 2021, Algorithm 1), batched over images.

    Starting from the reference, at outer step ``t = 0..T-1`` with ``alpha = (t+1)/T`` every feature
    is kept within ``[alpha - max_dist, alpha + max_dist]`` of the straight-line schedule: features
    behind ``alpha - max_dist`` are first pulled up to it; then, repeatedly, the ``fraction`` of
    features with the smallest ``|g|`` (``g`` the gradient at the step's start; features already at
    ``alpha + max_dist`` count as ``|g| = inf`` and are not moved) move towards
    ``alpha + max_dist``, until the L1 distance to ``x`` reaches ``L1_total * (1 - alpha)``
    (the last move of a step is partial: ``gamma = (l1_current - l1_target) / l1_selected``).
    The quantile is per image (``'lower'`` interpolation, as numpy's ``np.quantile``), computed with
    ``torch.kthvalue`` on ``[B, C*H*W]``: no Python loop over images.

    The gradient at node ``t`` multiplies the whole move of step ``t`` (left Riemann sum). The last
    node is set to ``x`` exactly (the final move ends at ``x`` up to rounding). Nodes come one at a
    time whatever ``chunk`` is: each needs the gradient at the one before.

    Parameters
    ----------
    reference : as :class:`StraightLine` (default black)
    fraction : share of features moved per inner iteration (0.25)
    max_dist : largest distance from the straight-line schedule, in units of alpha (0.02)
    """

    grad_at = "start"
    EPS: ClassVar[float] = 1e-9  # tolerance of the L1 target test (Kapishnikov et al.'s code)

    def __init__(self, reference: str | Baseline | float | Tensor = "black", fraction: float = 0.25,
                 max_dist: float = 0.02, *, generator: torch.Generator | None = None,
                 **baseline_options):
        if not 0 < float(fraction) <= 1:
            raise UnsureError(f"fraction must be in (0, 1], got {fraction!r}")
        if not 0 <= float(max_dist) <= 1:
            raise UnsureError(f"max_dist must be in [0, 1], got {max_dist!r}")
        self.reference, self.fraction, self.max_dist = reference, float(fraction), float(max_dist)
        self.generator = generator
        self.baseline_options = baseline_options

    def walk(self, x: Tensor, steps: int, chunk: int = 1) -> Walk:
        T = _check_steps(steps)
        ref = make_reference(self.reference, x, generator=self.generator, **self.baseline_options)
        B = x.shape[0]
        xin, x0 = x.reshape(B, -1), ref.reshape(B, -1)  # [B,C,H,W] -> [B,N]
        diff = xin - x0
        l1_total = diff.abs().sum(1)  # [B]
        cur = x0.clone()
        for t in range(T):
            g = yield Nodes(cur.reshape(1, *x.shape), None)
            if g is None:
                raise UnsureError("GuidedPath.walk needs the gradients sent back: use gen.send(g)")
            nxt = self._step(cur, g.reshape(B, -1), x0, diff, l1_total, t, T)
            cur = xin.clone() if t == T - 1 else nxt
        yield Nodes(cur.reshape(1, *x.shape), None)

    def _step(self, cur: Tensor, g: Tensor, x0: Tensor, diff: Tensor, l1_total: Tensor,
              t: int, T: int) -> Tensor:
        """One outer step: ``cur [B,N]`` at node t -> node t+1, with gradients ``g [B,N]``."""
        B, N = cur.shape
        alpha = (t + 1) / T
        a_min, a_max = max(alpha - self.max_dist, 0.0), min(alpha + self.max_dist, 1.0)
        x_min, x_max = x0 + a_min * diff, x0 + a_max * diff  # [B,N]
        xin = x0 + diff
        l1_target = l1_total * (1 - alpha)  # [B]
        k = int(math.floor(self.fraction * (N - 1))) + 1  # 'lower' quantile as a 1-based rank
        done = torch.zeros(B, dtype=torch.bool, device=cur.device)
        x = cur.clone()
        for _ in range(10 * math.ceil(1 / self.fraction) + 10):  # ~1/fraction moves suffice
            # features lagging behind the schedule jump to alpha_min (features with x == x' count
            # as being at alpha_max, as in the paper's code)
            a = torch.where(diff != 0, (x - x0) / torch.where(diff != 0, diff, 1), a_max)
            x = torch.where((a < a_min) & ~done[:, None], x_min, x)
            l1 = (x - xin).abs().sum(1)  # [B]
            done |= torch.isclose(l1, l1_target, rtol=self.EPS, atol=self.EPS)
            if bool(done.all()):
                break
            ga = torch.where(x == x_max, torch.inf, g.abs())  # [B,N]
            thr = torch.kthvalue(ga, k, dim=1).values  # [B] per-image quantile
            sel = (ga <= thr[:, None]) & torch.isfinite(ga) & ~done[:, None]
            l1_sel = ((x - x_max).abs() * sel).sum(1)
            gamma = torch.where(l1_sel > 0, (l1 - l1_target) / torch.where(l1_sel > 0, l1_sel, 1),
                                torch.inf)  # [B]
            full = gamma > 1
            moved = torch.where(full[:, None], x_max, x + gamma.clamp(max=1)[:, None] * (x_max - x))
            x = torch.where(sel, moved, x)
            done |= ~full  # a partial move meets the target: the step ends
        return x
