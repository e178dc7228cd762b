"""Separable Gaussian blur in torch, and its derivative with respect to sigma.

Matches ``scipy.ndimage.gaussian_filter(image, sigma=[sigma, sigma, 0], mode="constant")``, the blur
of PAIR saliency's Blur IG (Xu et al. 2020): kernel radius ``int(truncate * sigma + 0.5)``,
weights ``exp(-i^2 / (2 sigma^2))`` normalised to sum 1, zero padding, ``sigma = 0`` is the identity.
Used by the Blur IG path and the blurred Expected-Gradients baseline.
"""
from __future__ import annotations

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
