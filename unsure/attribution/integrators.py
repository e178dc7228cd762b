"""Integrators of the path methods: turn the gradients along a path into an attribution.

Any integrator combines with any path (:mod:`unsure.attribution.paths`); METHODS.md,
"Path methods = a path x an integrator". With nodes ``z_0 = x', ..., z_T = x`` and ``g_j = grad f(z_j)``:

- ``riemann``: ``A = sum_j g_j * d_j`` with ``d_j`` the path's Riemann displacement
  (``z_{j+1} - z_j`` for straight and guided paths; ``-dsigma dL/dsigma`` for the blur path, Xu et
  al. 2020 Eq. 5). ``sum(A) -> f(x) - f(x')`` as the steps grow.
- ``idgi`` (Yang et al., CVPR 2023, Algorithm 1): ``A += g_i^2 / ||g_i||^2 * (f(z_{j+1}) - f(z_j))``
  for each segment ``j`` with ``g_i`` its gradient (at its start or end, as the path says). The sum
  telescopes, so ``sum(A) = f(x) - f(x')`` exactly for any number of steps; ``||g_i|| = 0`` adds 0.

:func:`integrate` streams over chunks of nodes, so memory holds ``chunk x B`` images at a time.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..errors import UnsureError
from .paths import Nodes, Path

ScalarFn = Callable[[Tensor], Tensor]  # points [m,C,H,W] -> f [m], differentiable


def value_and_grad(fn: ScalarFn, points: Tensor) -> tuple[Tensor, Tensor]:
    """``f`` and ``grad f`` at ``points [n,B,C,H,W]``: returns ``f [n,B]`` and ``g [n,B,C,H,W]``.

    One forward and one backward for all ``n*B`` points (``f`` of one point depends on that point
    only: networks in eval mode).
    """
    n, B = points.shape[:2]
    flat = points.reshape(n * B, *points.shape[2:]).detach().requires_grad_(True)  # [n,B,...] -> [n*B,...]
    with torch.enable_grad():
        f = fn(flat)
        if f.shape != (n * B,):
            raise UnsureError(f"the target must give one value per image, got shape {tuple(f.shape)} "
                              f"for {n * B} images")
        (g,) = torch.autograd.grad(f.sum(), flat)
    return f.detach().reshape(n, B), g.reshape(points.shape)


class Integrator(abc.ABC):
    """Accumulates an attribution ``[B,C,H,W]`` over chunks of nodes, in path order."""

    def __init__(self, grad_at: str):
        if grad_at not in ("start", "end"):
            raise UnsureError(f"grad_at must be 'start' or 'end', got {grad_at!r}")
        self.grad_at = grad_at
        self.attr: Tensor | None = None

    @abc.abstractmethod
    def update(self, nodes: Nodes, f: Tensor, g: Tensor) -> None:
        """Add the chunk ``nodes`` with ``f [n,B]`` and ``g [n,B,C,H,W]`` at its points."""

    def _add(self, a: Tensor) -> None:
        self.attr = a if self.attr is None else self.attr + a


class Riemann(Integrator):
    """``A = sum_j g_j * d_j`` (METHODS.md Riemann integrator)."""

    def __init__(self, grad_at: str):
        super().__init__(grad_at)
        self._prev: tuple[Tensor, Tensor] | None = None  # last (point, g) of the previous chunk

    def update(self, nodes: Nodes, f: Tensor, g: Tensor) -> None:
        if nodes.deltas is not None:
            self._add((g * nodes.deltas).sum(0))
            return
        if self.grad_at != "start":
            raise UnsureError("implicit displacements z_{j+1} - z_j need gradients at segment starts")
        pts, gs = nodes.points, g
        if self._prev is not None:  # the segment that crosses the chunk boundary
            pts, gs = torch.cat([self._prev[0][None], pts]), torch.cat([self._prev[1][None], gs])
        self._add((gs[:-1] * (pts[1:] - pts[:-1])).sum(0))  # [n,B,C,H,W] -> [B,C,H,W]
        self._prev = (pts[-1], gs[-1])


class IDGI(Integrator):
    """Important-direction gradient integration (Yang et al. 2023, Algorithm 1)."""

    def __init__(self, grad_at: str):
        super().__init__(grad_at)
        self._prev: tuple[Tensor, Tensor] | None = None  # last (f, weight) of the previous chunk

    @staticmethod
    def weights(g: Tensor) -> Tensor:
        """``g^2 / ||g||^2`` per image (norm over C,H,W); 0 where ``||g|| = 0``. ``[n,B,C,H,W]``."""
        sq = g * g
        norm = sq.flatten(2).sum(-1)[..., None, None, None]  # [n,B] -> [n,B,1,1,1]
        return torch.where(norm > 0, sq / torch.where(norm > 0, norm, 1), 0)

    def update(self, nodes: Nodes, f: Tensor, g: Tensor) -> None:
        w = self.weights(g)
        if self._prev is not None:
            f, w = torch.cat([self._prev[0][None], f]), torch.cat([self._prev[1][None], w])
        if f.shape[0] > 1:
            df = (f[1:] - f[:-1])[..., None, None, None]  # [n-1,B] -> [n-1,B,1,1,1]
            wseg = w[:-1] if self.grad_at == "start" else w[1:]
            self._add((wseg * df).sum(0))
        self._prev = (f[-1], w[-1])


INTEGRATORS: dict[str, type[Integrator]] = {"riemann": Riemann, "idgi": IDGI}


@dataclass
class PathIntegral:
    """Result of :func:`integrate`: ``attr [B,C,H,W]``, ``f(x') [B]``, ``f(x) [B]``."""

    attr: Tensor
    f_reference: Tensor
    f_input: Tensor

    @property
    def completeness_delta(self) -> Tensor:
        """``|sum(A) - (f(x) - f(x'))|`` per image, ``[B]``."""
        return (self.attr.flatten(1).sum(1) - (self.f_input - self.f_reference)).abs()


def integrate(path: Path, x: Tensor, fn: ScalarFn, steps: int, integrator: str = "riemann",
              chunk: int = 64) -> PathIntegral:
    """Integrate ``grad fn`` along ``path`` from its reference to ``x [B,C,H,W]``.

    Parameters
    ----------
    fn : ``[m,C,H,W] -> [m]``, differentiable
    steps : T, the number of segments (T+1 nodes, each one forward and backward)
    integrator : ``"riemann"`` or ``"idgi"``
    chunk : nodes per forward/backward pass (memory: ``chunk * B`` images)
    """
    if integrator not in INTEGRATORS:
        raise UnsureError(f"unknown integrator {integrator!r}; known: {', '.join(INTEGRATORS)}")
    acc = INTEGRATORS[integrator](path.grad_at)
    walk = path.walk(x, steps, max(1, int(chunk)))
    f_first = f_last = None
    nodes = next(walk)
    while True:
        f, g = value_and_grad(fn, nodes.points)
        acc.update(nodes, f, g)
        f_first = f[0] if f_first is None else f_first
        f_last = f[-1]
        try:
            nodes = walk.send(g)
        except StopIteration:
            break
    attr = acc.attr if acc.attr is not None else torch.zeros_like(x)
    return PathIntegral(attr, f_first, f_last)
