"""Multiplicative weight noise and the accuracy-drop heuristic for its level.

Shared by the ``weight-noise`` posterior and the NoiseGrad / NoiseGrad++ wrappers (Bykov et al.
2022): every parameter (weights and biases, not buffers) is multiplied element-wise by
``1 + sigma * eps``, ``eps ~ N(0, 1)``, i.e. by ``N(1, sigma^2)`` noise.

The noise level follows the paper's heuristic (spec/METHODS.md, "Weight noise"): choose sigma so
that the relative accuracy drop

    AD(sigma) = 1 - (ACC(sigma) - ACC_chance) / (ACC(0) - ACC_chance)

is about 5 %. :func:`calibrate` bisects sigma on labelled data; the noise draws are seeded once and
reused at every sigma (common random numbers), so AD is a deterministic, almost monotone function of
sigma and the bisection does not chase sampling noise.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn

from ..errors import UnsureError
from .base import Draw


def _check_sigma(sigma: float) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma >= 0 \
            or sigma == float("inf"):
        raise UnsureError(f"weight-noise sigma must be a finite number >= 0, got {sigma!r}")
    return float(sigma)


def distinct_parameters(modules: Sequence[nn.Module]) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` of every distinct parameter of ``modules``, in registration order.

    A module listed twice (a weight-noise draw lists its one network S times) or a parameter shared
    by two modules is returned once, so it is perturbed once.
    """
    seen: set[int] = set()
    out = []
    for i, mod in enumerate(modules):
        for name, p in mod.named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                out.append((f"{i}.{name}", p))
    return out


def _standard_normal(p: Tensor, generator: torch.Generator | None) -> Tensor:
    dev = generator.device if generator is not None else p.device
    return torch.randn(p.shape, generator=generator, device=dev, dtype=p.dtype).to(p.device)


def noise_factors(module: nn.Module, sigma: float,
                  generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Factors ``1 + sigma * eps`` for every parameter of ``module``, keyed by parameter name.

    Drawn from ``generator`` in ``named_parameters()`` order (one ``randn`` per parameter).
    """
    sigma = _check_sigma(sigma)
    with torch.no_grad():
        return {n: 1.0 + sigma * _standard_normal(p, generator) for n, p in module.named_parameters()}


def perturbed_parameters(module: nn.Module, factors: dict[str, Tensor]) -> dict[str, Tensor]:
    """``{name: p * factor}`` for :func:`torch.func.functional_call`.

    Uses the module's *current* parameters, so gradients reach them and a temporary in-place change
    (NoiseGrad on top of a weight-noise draw, a sanity-check re-initialisation) composes.
    """
    return {n: p * factors[n] for n, p in module.named_parameters()}


@contextlib.contextmanager
def perturbed(modules: Sequence[nn.Module], sigma: float,
              generator: torch.Generator | None = None) -> Iterator[None]:
    """Multiply every parameter of ``modules`` in place by ``N(1, sigma^2)`` noise for the block.

    Noise is drawn from ``generator`` per distinct parameter in :func:`distinct_parameters` order.
    The original values are restored on exit, even when the block raises.
    """
    sigma = _check_sigma(sigma)
    params = [p for _, p in distinct_parameters(modules)]
    saved = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for p in params:
                p.mul_(1.0 + sigma * _standard_normal(p, generator))
        yield
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)


def predicted_classes(model, x: Tensor, batch_size: int = 512) -> Tensor:
    """``[B]`` predicted classes of a network (``[B,K]`` logits) or an ensemble (``[S,B,K]``: argmax
    of the mean probability), evaluated in chunks without gradients."""
    out = []
    with torch.no_grad():
        for s in range(0, x.shape[0], batch_size):
            z = model(x[s:s + batch_size])
            if z.ndim == 3:  # [S,b,K] -> [b,K]
                z = torch.softmax(z, -1).mean(0)
            if z.ndim != 2:
                raise UnsureError(f"expected logits [B,K] or [S,B,K], got shape {tuple(z.shape)}")
            out.append(z.argmax(-1))
    return torch.cat(out)


def _num_classes(model, x: Tensor) -> int:
    with torch.no_grad():
        return int(model(x[:1]).shape[-1])


@dataclass
class Calibration:
    """Result of :func:`calibrate`.

    Attributes
    ----------
    sigma : the chosen noise level
    accuracy_drop : ``AD(sigma)`` measured at it
    acc0 : ``ACC(0)``, accuracy without noise
    chance : ``ACC_chance = 1 / K``
    evaluations : how many noise levels were tried (each costs ``draws`` passes over the data)
    """

    sigma: float
    accuracy_drop: float
    acc0: float
    chance: float
    evaluations: int

    def as_dict(self) -> dict:
        return {"sigma": self.sigma, "accuracy_drop": self.accuracy_drop, "acc0": self.acc0,
                "chance": self.chance, "evaluations": self.evaluations}


def calibrate(model, x: Tensor, y: Tensor, target_ad: float = 0.05, *, draws: int = 3,
              tol: float = 0.01, max_iter: int = 20, sigma_init: float = 0.1,
              sigma_max: float = 100.0, batch_size: int = 512,
              generator: torch.Generator | None = None) -> Calibration:
    """Bisect sigma so that the relative accuracy drop ``AD(sigma)`` is ``target_ad`` (+- ``tol``).

    Parameters
    ----------
    model : an ``nn.Module`` giving logits ``[B,K]`` (or ``[S,B,K]``), or a frozen posterior
        :class:`~unsure.posteriors.Draw` (its ``modules`` are perturbed; prediction = argmax of the
        members' mean probability)
    x : inputs ``[N,C,H,W]``; y : labels ``[N]``
    target_ad : the wanted accuracy drop (Bykov et al.: 0.05)
    draws : noise draws averaged per noise level; ``ACC(sigma)`` is their mean accuracy
    tol : stop once ``|AD - target_ad| <= tol``
    max_iter : bisection steps after the bracket is found
    sigma_init, sigma_max : first upper bracket, doubled until ``AD >= target_ad``; past
        ``sigma_max`` an :class:`UnsureError` is raised
    generator : seeds the ``draws`` noise draws (the same draws at every sigma)

    Returns
    -------
    :class:`Calibration`. When no level lands within ``tol`` (few examples make AD a step
    function), the bracket end closer to ``target_ad`` is returned, the lower one on ties.
    ``ACC_chance = 1/K``. A network is evaluated in eval mode (its mode is restored after), a draw
    in the modes it set; parameters are always restored.
    """
    if not 0 < target_ad < 1:
        raise UnsureError(f"target accuracy drop must be in (0, 1), got {target_ad!r}")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise UnsureError(f"draws must be a positive int, got {draws!r}")
    if not tol > 0 or not 0 < sigma_init <= sigma_max:
        raise UnsureError(f"need tol > 0 and 0 < sigma_init <= sigma_max, got {tol}, {sigma_init}, {sigma_max}")
    if len(x) != len(y) or len(x) == 0:
        raise UnsureError(f"calibration needs as many labels as inputs (> 0), got {len(x)} and {len(y)}")
    is_draw = isinstance(model, Draw)
    modules = list(model.modules) if is_draw else [model]
    dev = next((p.device for _, p in distinct_parameters(modules)), x.device)
    x, y = x.to(dev), y.to(dev)
    # a draw has set its modules' modes itself (e.g. frozen dropout); a bare network is put in eval
    modes = [] if is_draw else [(m, m.training) for m in model.modules()]
    seed_dev = generator.device if generator is not None else torch.device("cpu")
    seeds = [int(s) for s in torch.randint(0, 2**62, (draws,), generator=generator, device=seed_dev)]
    try:
        if not is_draw:
            model.eval()
        K = _num_classes(model, x)
        chance = 1.0 / K
        acc0 = (predicted_classes(model, x, batch_size) == y).float().mean().item()
        if acc0 <= chance:
            raise UnsureError(f"accuracy without noise ({acc0:.3f}) is not above chance (1/{K}); the "
                              "accuracy-drop heuristic cannot choose sigma: pass sigma explicitly")

        def accuracy_drop(sigma: float) -> float:
            acc = 0.0
            for seed in seeds:
                gen = torch.Generator(device=dev).manual_seed(seed)
                with perturbed(modules, sigma, gen):
                    acc += (predicted_classes(model, x, batch_size) == y).float().mean().item()
            return 1.0 - (acc / draws - chance) / (acc0 - chance)

        evals = 0
        lo, ad_lo = 0.0, 0.0
        hi = float(sigma_init)
        ad_hi = accuracy_drop(hi)
        evals += 1
        while ad_hi < target_ad:  # expand the bracket
            lo, ad_lo = hi, ad_hi
            hi *= 2
            if hi > sigma_max:
                raise UnsureError(f"the accuracy drop stays below {target_ad} up to sigma={sigma_max} "
                                  f"(AD={ad_lo:.3f}); pass sigma explicitly")
            ad_hi = accuracy_drop(hi)
            evals += 1
        for _ in range(max_iter):
            if abs(ad_hi - target_ad) <= tol or (lo > 0 and abs(ad_lo - target_ad) <= tol):
                break
            mid = 0.5 * (lo + hi)
            ad = accuracy_drop(mid)
            evals += 1
            if ad < target_ad:
                lo, ad_lo = mid, ad
            else:
                hi, ad_hi = mid, ad
    finally:
        for m, mode in modes:
            m.train(mode)
    # the bracket end closer to the target; the lower one on ties; never sigma = 0
    ends = [(abs(ad_hi - target_ad), 1, hi, ad_hi)]
    if lo > 0:
        ends.append((abs(ad_lo - target_ad), 0, lo, ad_lo))
    _, _, sigma, ad = min(ends)
    return Calibration(sigma, ad, acc0, chance, evals)


def calibrate_sigma(model, x: Tensor, y: Tensor, target_ad: float = 0.05, *, draws: int = 3,
                    generator: torch.Generator | None = None, **options) -> float:
    """The sigma of :func:`calibrate` (same arguments)."""
    return calibrate(model, x, y, target_ad, draws=draws, generator=generator, **options).sigma
