"""Relative input stability (Agarwal et al. 2022, "Rethinking Stability for Attribution-based
Explanations"; Schiller et al. 2026, Sec. 3, "continuity").

For ``n`` noisy copies ``x' = clip(x + N(0, std^2), 0, 1)`` whose uncertainty stays within ``tol`` of
``U(x)`` (the explanation should not change when the uncertainty does not), with ``a, a'`` their maps:

    RIS = max_{x'} || (a - a') / a ||_2 / max(|| (x - x') / x ||_2, eps)

where a zero in a denominator is replaced by ``eps = 1e-6`` (Agarwal et al.'s guard). Lower is better.
An image with no admissible copy scores NaN (the authors skip it).

**(difference)** We clip the noisy copies to the images' range ``[0, 1]``, which the authors do not
(unsure's methods expect images in range). Their tolerance is absolute on their variance; ours is
absolute on the target (nats for an entropy measure): pass ``tol`` to match another scale.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsureError
from ._maps import flat_maps
from .base import register_metric
from .repeatability import Explain

EPS = 1e-6


def _relative(a: Tensor, b: Tensor) -> Tensor:
    """``|| (a - b) / (a + eps [a == 0]) ||_2`` over the last axis."""
    return ((a - b) / (a + EPS * (a == 0))).norm(dim=-1)


def relative_input_stability(explain: Explain, uncertainty, x: Tensor, maps: Tensor, n: int = 10,
                             std: float = 0.05, tol: float = 0.05,
                             generator: torch.Generator | None = None) -> Tensor:
    """RIS per image.

    Parameters
    ----------
    explain : the method, ``(x, generator) -> maps [B,H,W]`` (:data:`unsure.metrics.repeatability.Explain`)
    uncertainty : ``x [N,C,H,W] -> [N]``, the target the maps explain (one frozen draw)
    x : ``[B,C,H,W]``; maps : its maps ``[B,H,W]``
    n, std, tol : noisy copies per image, noise std, admissible change of the uncertainty

    Returns
    -------
    ``[B]`` float64 (NaN where no copy is admissible)
    """
    if int(n) < 1 or not std > 0 or not tol >= 0:
        raise UnsureError(f"input stability needs n >= 1, std > 0, tol >= 0; got {n}, {std}, {tol}")
    a = flat_maps(maps).cpu()  # [B,D]
    B = x.shape[0]
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    noise = torch.randn((int(n), *x.shape), generator=g, dtype=x.dtype).to(x.device)  # [n,B,C,H,W]
    xp = (x[None] + std * noise).clamp(0, 1)  # [n,B,C,H,W]
    with torch.no_grad():
        u0 = uncertainty(x).double().cpu()  # [B]
        up = uncertainty(xp.flatten(0, 1)).double().cpu().reshape(int(n), B)  # [n*B] -> [n,B]
    ok = (up - u0).abs() <= tol  # [n,B]
    ap = flat_maps(explain(xp.flatten(0, 1), torch.Generator().manual_seed(1)),
                   "maps of the noisy copies").cpu().reshape(int(n), B, -1)  # [n*B,D] -> [n,B,D]
    num = _relative(a[None], ap)  # [n,B]
    xf, xpf = x.detach().double().cpu().flatten(1), xp.detach().double().cpu().flatten(2)
    den = _relative(xf[None], xpf).clamp_min(EPS)  # [n,B]
    ratio = torch.where(ok, num / den, torch.full_like(num, -1.0))
    ris = ratio.amax(0)
    return torch.where(ok.any(0), ris, torch.full_like(ris, float("nan")))


register_metric("input-stability", False, "both",
                "relative input stability: worst map change relative to input change under small "
                "noise that keeps the uncertainty (Agarwal et al. 2022)", relative_input_stability)
