"""Counterfactual methods: CLUE (Antoran et al. 2020) and delta-CLUE (Ley et al. 2021).

Both search the latent space of a VAE trained on the same data for a nearby image the model is
more certain about, and explain ``x`` by what had to change (spec/METHODS.md, "Counterfactual
methods")::

    L(z) = sign * U(decoder(z)) + lambda_x * d(decoder(z), x),   d(a, x) = mean |a - x|

optimised with Adam from the encoder mean ``z0``; map = ``|x - x_CLUE|`` summed over channels.

Decisions
---------
* ``U`` is the method's *target*. Uncertainty measures are minimised (``sign = +1``); class scores
  (:class:`~unsure.measures.ClassScore`) are maximised (``sign = -1``: make the model more sure of
  the class), with the predicted class fixed at the one of the original ``x``. ``direction``
  overrides this for custom callables.
* ``d`` is the L1 distance divided by the number of values ``C*H*W`` (mean absolute difference), so
  ``lambda_x = 1`` weights it equally with an uncertainty in nats whatever the image size (the
  UA-Backprop paper weights the two terms equally; a summed L1 over 784 pixels would pin the
  counterfactual to the reconstruction).
* Early stopping per image: the search for an image ends after ``patience`` Adam steps without
  the loss improving by more than ``min_delta``, or after ``max_iter`` steps; the counterfactual
  is the lowest-loss latent seen. Converged images leave the batch (Adam is element-wise and the
  batch loss a sum, so every image follows exactly the path it would follow alone).
* delta-CLUE: ``n_starts`` searches from uniform random points of the latent ball
  ``||z - z0|| <= delta``, projected back onto the ball after every Adam step; the map is the mean
  of the ``n_starts`` CLUE maps.
"""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass
from enum import Enum
from typing import Callable

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures import ClassScore
from ..models.vae import VAE, load_vae
from ..posteriors import Draw
from .base import METHODS, Attribution, Context, Method

ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults


class Direction(str, Enum):
    AUTO = "auto"          # minimise uncertainty measures, maximise ClassScore targets
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


def sample_ball(z0: Tensor, delta: float, n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points per row drawn uniformly from the ball ``||z - z0[b]|| <= delta``.

    Parameters
    ----------
    z0 : ``[B, D]`` ball centres
    Returns
    -------
    ``[n, B, D]``: a uniform direction times a radius ``delta * u**(1/D)``, ``u ~ U(0, 1)``.
    """
    B, D = z0.shape
    dev = generator.device if generator is not None else z0.device
    g = torch.randn(n, B, D, generator=generator, device=dev, dtype=z0.dtype).to(z0.device)
    u = torch.rand(n, B, 1, generator=generator, device=dev, dtype=z0.dtype).to(z0.device)
    direction = g / g.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return z0[None] + direction * delta * u.pow(1.0 / D)


def project_ball(z: Tensor, z0: Tensor, delta: float) -> Tensor:
    """Euclidean projection of each row of ``z [N, D]`` onto ``||z - z0|| <= delta`` (``z0 [N, D]``)."""
    d = z - z0
    r = d.norm(dim=-1, keepdim=True)
    return torch.where(r > delta, z0 + d * (delta / r.clamp_min(1e-12)), z)


@dataclass
class Search:
    """Result of :func:`latent_search` for N rows (images or image x start pairs)."""

    z: Tensor           # [N, D] best latent
    x: Tensor           # [N, C, H, W] counterfactual decoder(z)
    target: Tensor      # [N] target value U(x_cf)
    loss: Tensor        # [N] L(z) at the best latent
    iterations: Tensor  # [N] Adam steps taken before stopping
    max_radius: Tensor  # [N] largest ||z - centre|| visited (0 without a ball)


def latent_search(vae: VAE, draw: Draw, x: Tensor, z_init: Tensor,
                  objective: Callable[[Tensor, Tensor], Tensor], *, sign: float = 1.0,
                  lambda_x: float = 1.0, lr: float = 0.01, max_iter: int = 500, patience: int = 20,
                  min_delta: float = 1e-4, centre: Tensor | None = None,
                  delta: float | None = None) -> Search:
    """Minimise ``sign * objective(draw(decoder(z))) + lambda_x * mean|decoder(z) - x|`` per row.

    Parameters
    ----------
    x : ``[N, C, H, W]`` the images the counterfactuals stay close to
    z_init : ``[N, D]`` starting latents
    objective : ``(logits [S, n, K], rows [n]) -> [n]``, the target of the rows still searching
    centre, delta : with both, each step is projected onto ``||z - centre|| <= delta`` (``centre [N, D]``)
    """
    N = len(x)
    b1, b2 = ADAM_BETAS
    z = z_init.detach().clone()
    m, v = torch.zeros_like(z), torch.zeros_like(z)
    best_z, best_loss = z.clone(), torch.full((N,), math.inf, dtype=z.dtype, device=z.device)
    best_u = torch.zeros(N, dtype=z.dtype, device=z.device)
    stall = torch.zeros(N, dtype=torch.long, device=z.device)
    iters = torch.zeros(N, dtype=torch.long, device=z.device)
    ball = centre is not None and delta is not None
    radius = (z - centre).norm(dim=-1) if ball else torch.zeros(N, dtype=z.dtype, device=z.device)
    active = torch.arange(N, device=z.device)
    for step in range(max_iter + 1):
        za = z[active].requires_grad_(True)
        xa = vae.decode(za)                                   # [n,D] -> [n,C,H,W]
        u = objective(draw(xa), active)                       # [S,n,K] -> [n]
        loss = sign * u + lambda_x * (xa - x[active]).abs().flatten(1).mean(1)
        (grad,) = torch.autograd.grad(loss.sum(), za)         # rows are independent: sum, not mean
        with torch.no_grad():
            loss, u = loss.detach(), u.detach()
            prev = best_loss[active]
            better, significant = loss < prev, loss < prev - min_delta
            rows = active[better]
            best_z[rows], best_loss[rows], best_u[rows] = za.detach()[better], loss[better], u[better]
            stall[active] = torch.where(significant, 0, stall[active] + 1)
            iters[active] = step
            keep = (stall[active] < patience) & (step < max_iter)
            active, grad = active[keep], grad[keep]
            if len(active) == 0:
                break
            t = step + 1  # every active row has taken exactly `step` Adam steps so far
            m[active] = b1 * m[active] + (1 - b1) * grad
            v[active] = b2 * v[active] + (1 - b2) * grad * grad
            m_hat, v_hat = m[active] / (1 - b1 ** t), v[active] / (1 - b2 ** t)
            z_new = z[active] - lr * m_hat / (v_hat.sqrt() + ADAM_EPS)
            if ball:
                z_new = project_ball(z_new, centre[active], delta)
                radius[active] = torch.maximum(radius[active], (z_new - centre[active]).norm(dim=-1))
            z[active] = z_new
    with torch.no_grad():
        x_cf = vae.decode(best_z)
    return Search(best_z, x_cf, best_u, best_loss, iters, radius)


def _load(vae) -> tuple[VAE, str]:
    """The ``vae`` option: a :class:`VAE` or the path of a folder made by ``unsure train-vae``."""
    if isinstance(vae, VAE):  # recorded in the metadata by its structure
        c, h, w = vae.image_shape
        return vae, f"VAE({vae.kind}, {c}x{h}x{w}, latent {vae.latent})"
    if isinstance(vae, (str, os.PathLike)):
        return load_vae(vae), str(vae)
    if vae is None:
        raise UnsureError("counterfactual methods need a VAE trained on the same data: pass "
                          "vae=VAE_DIR (CLI: clue:vae=VAE_DIR; make one with 'unsure train-vae')")
    raise UnsureError(f"vae must be a VAE or a VAE folder path, got {type(vae).__name__}")


class _Counterfactual(Method):
    """Shared options and the search driver of CLUE and delta-CLUE."""

    def __init__(self, vae=None, lr: float = 0.01, max_iter: int = 500, patience: int = 20,
                 min_delta: float = 1e-4, lambda_x: float = 1.0, direction: str = "auto"):
        self._vae, self.vae = _load(vae)
        for name, val, low in (("lr", lr, 0.0), ("lambda_x", lambda_x, None),
                               ("min_delta", min_delta, None)):
            if isinstance(val, bool) or not isinstance(val, (int, float)) or val < 0 or val == low:
                raise UnsureError(f"{name} must be a {'positive' if low is not None else 'non-negative'} "
                                  f"number, got {val!r}")
        for name, val in (("max_iter", max_iter), ("patience", patience)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise UnsureError(f"{name} must be a positive int, got {val!r}")
        try:
            self.direction = Direction(direction).value
        except ValueError:
            choices = [d.value for d in Direction]
            raise UnsureError(f"direction must be one of {choices}, got {direction!r}") from None
        self.lr, self.max_iter, self.patience = float(lr), max_iter, patience
        self.min_delta, self.lambda_x = float(min_delta), float(lambda_x)

    def _model_for(self, x: Tensor) -> VAE:
        """The VAE on ``x``'s device and dtype (a copy when they differ: the caller's is untouched)."""
        self._vae.check(x)
        p = next(self._vae.parameters())
        if p.device != x.device or p.dtype != x.dtype:
            self._vae = copy.deepcopy(self._vae).to(device=x.device, dtype=x.dtype)
        return self._vae.eval()

    def _objective(self, target, draw: Draw, x: Tensor):
        """``(objective(logits [S,n,K], rows [n]) -> [n], sign, U(x) [B])``."""
        with torch.no_grad():
            logits = draw(x)  # [S,B,K]
            u0 = target(logits)
        maximise = (self.direction == Direction.MAXIMIZE.value
                    or (self.direction == Direction.AUTO.value and isinstance(target, ClassScore)))
        if isinstance(target, ClassScore) and target.cls is None:
            # fix "the predicted class" at x's prediction, so the search cannot switch classes
            frozen = target.freeze(logits)

            def objective(lg: Tensor, rows: Tensor) -> Tensor:
                return frozen.pick(lg, rows)  # [S,n,K] -> [n]
        else:
            def objective(lg: Tensor, rows: Tensor) -> Tensor:
                return target(lg)
        return objective, (-1.0 if maximise else 1.0), u0

    def _search(self, x: Tensor, target, ctx: Context, starts: int = 1, delta: float | None = None):
        vae = self._model_for(x)
        objective, sign, u0 = self._objective(target, ctx.draw, x)
        B = len(x)
        with torch.no_grad():
            z0 = vae.encode(x)[0]  # [B,D] encoder mean
        if delta is None:
            z_init, rows = z0, torch.arange(B, device=x.device)
        else:
            z_init = sample_ball(z0, delta, starts, ctx.generator).reshape(starts * B, -1)  # [n,B,D] -> [n*B,D]
            rows = torch.arange(B, device=x.device).repeat(starts)  # start-major: row i*B + b is image b
        res = latent_search(vae, ctx.draw, x[rows], z_init, lambda lg, r: objective(lg, rows[r]),
                            sign=sign, lambda_x=self.lambda_x, lr=self.lr, max_iter=self.max_iter,
                            patience=self.patience, min_delta=self.min_delta,
                            centre=None if delta is None else z0[rows], delta=delta)
        return res, u0, z0


@METHODS.register("clue", "CLUE (Antoran et al. 2020): |x - x_CLUE| for a VAE counterfactual with lower target")
class CLUE(_Counterfactual):
    """CLUE: one counterfactual per image from the encoder mean (see the module docstring).

    Parameters
    ----------
    vae : a :class:`~unsure.models.vae.VAE` or the folder of one (``unsure train-vae``)
    lr, max_iter : Adam's step size and the most steps per image (paper: 0.01, 500)
    patience, min_delta : stop an image after ``patience`` steps without a loss decrease > ``min_delta``
    lambda_x : weight of the mean-L1 distance to ``x`` (paper: equal weights, 1)
    direction : ``auto`` (minimise measures, maximise class scores), ``minimize`` or ``maximize``

    ``meta``: ``iterations [B]``, ``target_original [B]`` (U(x)), ``target_counterfactual [B]``,
    ``latent_distance [B]`` (||z - z0||), ``counterfactual [B,C,H,W]``, ``seconds [B]`` (the
    chunk's wall time, optimisation included, shared equally by its images).
    """

    name = "clue"

    def _attribute(self, x: Tensor, target, ctx: Context) -> Attribution:
        t0 = time.perf_counter()
        res, u0, z0 = self._search(x, target, ctx)
        raw = (x - res.x).abs()  # [B,C,H,W]
        meta = {"iterations": res.iterations, "target_original": u0, "target_counterfactual": res.target,
                "latent_distance": (res.z - z0).norm(dim=-1), "counterfactual": res.x}
        meta["seconds"] = torch.full((len(x),), (time.perf_counter() - t0) / len(x))
        return Attribution(raw.sum(1), raw, meta)


@METHODS.register("delta-clue", "delta-CLUE (Ley et al. 2021): mean CLUE map of random starts in a latent ball")
class DeltaCLUE(_Counterfactual):
    """delta-CLUE: ``n_starts`` CLUEs from uniform random starts in ``||z - z0|| <= delta``,
    projected onto the ball after every step; map = mean of their maps (spec decision).

    Parameters
    ----------
    delta : radius of the latent ball around the encoder mean ``z0``
    n_starts : counterfactuals per image (cost grows linearly)
    (others as :class:`CLUE`)

    ``meta`` as CLUE's with a start axis: ``iterations [B, n_starts]``, ``target_counterfactual
    [B, n_starts]``, ``latent_distance [B, n_starts]``, ``max_radius [B, n_starts]`` (largest
    ``||z - z0||`` visited, <= delta), ``counterfactual [B, n_starts, C, H, W]``; ``seconds [B]``.
    """

    name = "delta-clue"
    stochastic = True  # random starts in the latent ball

    def __init__(self, vae=None, delta: float = 2.0, n_starts: int = 4, lr: float = 0.01,
                 max_iter: int = 500, patience: int = 20, min_delta: float = 1e-4,
                 lambda_x: float = 1.0, direction: str = "auto"):
        super().__init__(vae, lr, max_iter, patience, min_delta, lambda_x, direction)
        if not isinstance(delta, (int, float)) or isinstance(delta, bool) or delta <= 0:
            raise UnsureError(f"delta must be a positive number, got {delta!r}")
        if isinstance(n_starts, bool) or not isinstance(n_starts, int) or n_starts < 1:
            raise UnsureError(f"n_starts must be a positive int, got {n_starts!r}")
        self.delta, self.n_starts = float(delta), n_starts

    def _attribute(self, x: Tensor, target, ctx: Context) -> Attribution:
        t0 = time.perf_counter()
        B = len(x)
        res, u0, z0 = self._search(x, target, ctx, self.n_starts, self.delta)

        def per_image(t: Tensor) -> Tensor:  # [n*B, ...] (start-major) -> [B, n, ...]
            return t.reshape(self.n_starts, B, *t.shape[1:]).transpose(0, 1)

        x_cf = per_image(res.x)                          # [B,n,C,H,W]
        raw = (x[:, None] - x_cf).abs().mean(1)          # mean over starts of |x - x_cf|: [B,C,H,W]
        meta = {"iterations": per_image(res.iterations), "target_original": u0,
                "target_counterfactual": per_image(res.target),
                "latent_distance": per_image((res.z - z0.repeat(self.n_starts, 1)).norm(dim=-1)),
                "max_radius": per_image(res.max_radius), "counterfactual": x_cf}
        meta["seconds"] = torch.full((B,), (time.perf_counter() - t0) / B)
        return Attribution(raw.sum(1), raw, meta)
