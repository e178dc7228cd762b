"""Separable Gaussian blur in torch: the one blur module of unsure, with two padding rules.

* :func:`gaussian_blur` (zero padding, one sigma, ``[B,C,H,W] -> [B,C,H,W]``) and its derivative
  :func:`gaussian_blur_dsigma`: used by the attribution paths and baselines (Blur IG, IDGI-Blur-IG,
  the blurred Expected-Gradients baseline).
* :func:`gaussian_blur_many` (reflect padding, many sigmas in one pass, ``[B,C,H,W] -> [G,B,C,H,W]``):
  used by the metrics (blurring test, insertion/deletion substrate, top-k/centre ablation) and by
  UA-Backprop's "blur" input-gradient reference, which must match the blurring test's substitute.

The two rules are kept apart on purpose: each matches the reference its callers are tested against.

Zero padding: matches ``scipy.ndimage.gaussian_filter(image, sigma=[sigma, sigma, 0], mode="constant")``, the blur
of PAIR saliency's Blur IG (Xu et al. 2020): kernel radius ``int(truncate * sigma + 0.5)``,
weights ``exp(-i^2 / (2 sigma^2))`` normalised to sum 1, zero padding, ``sigma = 0`` is the identity.
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UnsureError


def _kernel(sigma: float, truncate: float, dtype, device) -> tuple[Tensor, Tensor]:
    """1-D kernel ``k [2R+1]`` and its sigma-derivative ``dk/dsigma [2R+1]``.

    With ``e_i = exp(-i^2 / (2 sigma^2))`` and ``k_i = e_i / sum_j e_j``:
    ``dk_i/dsigma = k_i (i^2 - sum_j k_j j^2) / sigma^3``.
    """
    radius = int(truncate * sigma + 0.5)
    i = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * i * i / (sigma * sigma))
    k = k / k.sum()
    dk = k * (i * i - (k * i * i).sum()) / sigma ** 3
    return k, dk


def _separable(x: Tensor, kv: Tensor, kh: Tensor) -> Tensor:
    """Convolve every channel of ``x [B,C,H,W]`` with ``kv`` along H and ``kh`` along W (zero pad)."""
    B, C, H, W = x.shape
    r = kv.numel() // 2
    y = x.reshape(B * C, 1, H, W)  # channels as batch: the same kernel for every channel
    y = F.conv2d(y, kv.reshape(1, 1, -1, 1), padding=(r, 0))
    y = F.conv2d(y, kh.reshape(1, 1, 1, -1), padding=(0, r))
    return y.reshape(B, C, H, W)


def _check_sigma(sigma: float) -> float:
    sigma = float(sigma)
    if not sigma >= 0:
        raise UnsureError(f"blur sigma must be >= 0, got {sigma}")
    return sigma


def gaussian_blur(x: Tensor, sigma: float, truncate: float = 4.0) -> Tensor:
    """Gaussian blur ``L(x, sigma)`` of images ``x [B,C,H,W]`` over H and W (not over channels).

    Returns ``[B,C,H,W]``; ``sigma = 0`` returns ``x`` unchanged (a copy is not made).
    """
    sigma = _check_sigma(sigma)
    if sigma == 0:
        return x
    k, _ = _kernel(sigma, truncate, x.dtype, x.device)
    return _separable(x, k, k)


def gaussian_blur_dsigma(x: Tensor, sigma: float, truncate: float = 4.0) -> Tensor:
    """Analytic ``dL/dsigma (x, sigma) [B,C,H,W]`` of :func:`gaussian_blur` at a fixed kernel radius.

    ``L = K_v K_h x`` so ``dL/dsigma = K_v' K_h x + K_v K_h' x``. At ``sigma = 0`` the blur is the
    identity on an open interval (radius 0 below ``sigma = 0.5 / truncate``), so the derivative is 0.
    """
    sigma = _check_sigma(sigma)
    if int(truncate * sigma + 0.5) == 0:
        return torch.zeros_like(x)
    k, dk = _kernel(sigma, truncate, x.dtype, x.device)
    return _separable(x, dk, k) + _separable(x, k, dk)


# ---- reflect padding, many sigmas (the metrics' substitute) -----------------------------------
def gaussian_kernels(sigmas: Sequence[float] | Tensor, radius: int, dtype=torch.float32,
                     device=None) -> Tensor:
    """Normalised 1-D Gaussian kernels ``[G, 2*radius+1]``, one per sigma.

    Each kernel is cut at ``min(ceil(3 sigma), radius)`` (zeros beyond) and renormalised, so a
    small sigma on a big shared radius is the same as that sigma on its own radius.
    """
    s = torch.as_tensor(sigmas, dtype=torch.float64, device=device).reshape(-1, 1)  # [G] -> [G,1]
    t = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device).reshape(1, -1)  # [1,2R+1]
    own = torch.clamp(torch.ceil(3 * s), max=radius)  # [G,1] each sigma's own radius
    k = torch.exp(-0.5 * (t / s) ** 2) * (t.abs() <= own)
    return (k / k.sum(1, keepdim=True)).to(dtype)


@functools.lru_cache(maxsize=64)
def _cached_kernels(sigmas: tuple[float, ...], radius: int, dtype, device) -> Tensor:
    """:func:`gaussian_kernels` kept per (sigmas, radius, dtype, device): a benchmark or a dataset
    job blurs images of one size at the same sigmas on every call, and building the kernels (in
    float64, then cast) costs more than blurring a small batch. Read only: never modified in place."""
    return gaussian_kernels(sigmas, radius, dtype, device)


def gaussian_blur_many(x: Tensor, sigmas: Sequence[float] | Tensor | float) -> Tensor:
    """Blur images at every sigma: ``x [B,C,H,W] -> [G,B,C,H,W]`` (``G = len(sigmas)``).

    Separable convolution with reflect padding; the kernel radius is ``ceil(3 sigma)`` clipped to
    the image (``H-1`` rows, ``W-1`` columns, the most reflect padding allows).
    """
    sig = torch.as_tensor(sigmas, dtype=torch.float64).reshape(-1)  # scalar or list -> [G]
    if (sig <= 0).any():
        raise ValueError(f"blur sigmas must be > 0, got {sig.tolist()}")
    B, C, H, W = x.shape
    G = sig.numel()
    r_big = int(math.ceil(3 * float(sig.max())))
    rh, rw = min(r_big, H - 1), min(r_big, W - 1)
    key = tuple(sig.tolist())
    kh = _cached_kernels(key, rh, x.dtype, x.device)  # [G,2rh+1]
    kw = _cached_kernels(key, rw, x.dtype, x.device)  # [G,2rw+1]
    flat = x.reshape(B * C, 1, H, W)  # [B,C,H,W] -> [B*C,1,H,W]
    # rows: G output channels, one kernel each
    h = F.conv2d(F.pad(flat, (0, 0, rh, rh), mode="reflect"), kh.reshape(G, 1, -1, 1))  # [BC,G,H,W]
    # columns: grouped, channel g keeps kernel g
    out = F.conv2d(F.pad(h, (rw, rw, 0, 0), mode="reflect"), kw.reshape(G, 1, 1, -1), groups=G)
    return out.reshape(B, C, G, H, W).permute(2, 0, 1, 3, 4)  # [B*C,G,H,W] -> [G,B,C,H,W]
