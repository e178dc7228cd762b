"""Gaussian blur in torch: separable convolution with reflect padding, many sigmas in one pass."""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


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


def gaussian_blur(x: Tensor, sigmas: Sequence[float] | Tensor | float) -> Tensor:
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
    kh = gaussian_kernels(sig, rh, x.dtype, x.device)  # [G,2rh+1]
    kw = gaussian_kernels(sig, rw, x.dtype, x.device)  # [G,2rw+1]
    flat = x.reshape(B * C, 1, H, W)  # [B,C,H,W] -> [B*C,1,H,W]
    # rows: G output channels, one kernel each
    h = F.conv2d(F.pad(flat, (0, 0, rh, rh), mode="reflect"), kh.reshape(G, 1, -1, 1))  # [BC,G,H,W]
    # columns: grouped, channel g keeps kernel g
    out = F.conv2d(F.pad(h, (rw, rw, 0, 0), mode="reflect"), kw.reshape(G, 1, 1, -1), groups=G)
    return out.reshape(B, C, G, H, W).permute(2, 0, 1, 3, 4)  # [B*C,G,H,W] -> [G,B,C,H,W]
