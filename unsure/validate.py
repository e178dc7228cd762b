"""The one boundary where sample layouts and images are checked.

Every posterior returns logit samples as ``Tensor[S, B, K]`` (samples, batch, classes); every image
batch is ``Tensor[B, C, H, W]``. The checks name the shapes they got.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .errors import UnsureError


def check_logits(logits: Tensor, name: str = "logits") -> Tensor:
    """Check a logit-sample tensor ``[S, B, K]``: floating, finite, K >= 2, S >= 1."""
    if not isinstance(logits, Tensor):
        raise UnsureError(f"{name} must be a torch.Tensor [S,B,K], got {type(logits).__name__}")
    if logits.ndim != 3:
        raise UnsureError(
            f"{name} must have shape [S,B,K] (samples, batch, classes), got {tuple(logits.shape)}"
        )
    if not logits.is_floating_point():
        raise UnsureError(f"{name} must be a floating tensor, got dtype {logits.dtype}")
    S, B, K = logits.shape
    if S < 1 or B < 1:
        raise UnsureError(f"{name} is empty: shape [S={S}, B={B}, K={K}]")
    if K < 2:
        raise UnsureError(f"{name} has K={K} classes; uncertainty needs at least 2")
    if not torch.isfinite(logits).all():
        bad = (~torch.isfinite(logits)).sum().item()
        raise UnsureError(f"{name} [S={S}, B={B}, K={K}] contains {bad} NaN/inf values")
    return logits


def check_images(x: Tensor, name: str = "x") -> Tensor:
    """Check an image batch ``[B, C, H, W]`` (a single ``[C, H, W]`` image is not accepted
    silently: the error says to add a batch axis)."""
    if not isinstance(x, Tensor):
        raise UnsureError(f"{name} must be a torch.Tensor [B,C,H,W], got {type(x).__name__}")
    if x.ndim == 3:
        raise UnsureError(
            f"{name} has shape {tuple(x.shape)}; expected [B,C,H,W]: add a batch axis with x[None]"
        )
    if x.ndim != 4:
        raise UnsureError(f"{name} must have shape [B,C,H,W], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise UnsureError(f"{name} must be a floating tensor in [0,1], got dtype {x.dtype}")
    if x.shape[0] == 0:
        raise UnsureError(f"{name} is an empty batch: shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise UnsureError(f"{name} {tuple(x.shape)} contains NaN/inf values")
    return x


UNIT_TOL = 1e-6  # rounding slack for images computed in float


def check_unit_range(x: Tensor, name: str = "x") -> Tensor:
    """Check that images lie in [0, 1], as every method, baseline and metric assumes (the public
    entry points call this; internal perturbations such as noise may leave the range)."""
    lo, hi = float(x.min()), float(x.max())
    if lo < -UNIT_TOL or hi > 1 + UNIT_TOL:
        raise UnsureError(f"{name} {tuple(x.shape)} must lie in [0,1], got values in [{lo:.4g}, {hi:.4g}]; "
                          f"scale it (e.g. x / 255) and fold any normalisation into the model, or pass unit_range=False")
    return x


def check_maps(maps: Tensor, x: Tensor, name: str = "maps") -> Tensor:
    """Check attribution maps ``[B, H, W]`` against the images ``[B, C, H, W]`` they explain."""
    if not isinstance(maps, Tensor):
        raise UnsureError(f"{name} must be a torch.Tensor [B,H,W], got {type(maps).__name__}")
    B, _, H, W = x.shape
    if maps.shape != (B, H, W):
        raise UnsureError(f"{name} must have shape [B,H,W]=[{B},{H},{W}], got {tuple(maps.shape)}")
    if not torch.isfinite(maps).all():
        raise UnsureError(f"{name} contains NaN/inf values")
    return maps


def check_generator(generator, name: str = "generator") -> None:
    """``generator`` is ``None`` or a ``torch.Generator`` (a seed or a NumPy generator fails
    deep inside torch otherwise)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise UnsureError(f"{name} must be a torch.Generator or None, got {type(generator).__name__} "
                          "(for a seed use torch.Generator().manual_seed(seed))")


def checks_generator(fn):
    """Decorate a function that takes ``generator=``: a wrong type is one :class:`UnsureError`
    line at the call, not a traceback from deep inside torch."""
    import functools
    import inspect

    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        g = kwargs.get("generator")
        if g is None and "generator" not in kwargs:
            try:
                g = sig.bind_partial(*args, **kwargs).arguments.get("generator")
            except TypeError:
                g = None  # let the call raise its own argument error
        check_generator(g)
        return fn(*args, **kwargs)

    return wrapper
