"""A user's target callable, checked on every call: it must map ``[S,B,K]`` to finite ``[B]``.

A target returning ``[B,1]``, a scalar or NaN would otherwise surface as a reshape error deep in a
method (RISE) or as NaN maps; here it is one :class:`UnsureError` naming what came back.
Registered measures and :class:`ClassScore` are trusted and returned unchanged.
"""
from __future__ import annotations

from torch import Tensor

from ..errors import UnsureError
from .targets import ClassScore, Target


def _registered(target: Target) -> bool:
    from .measure import measure_of

    return measure_of(target) is not None


def checked_target(target: Target) -> Target:
    """``target`` wrapped so each call checks its output (see module docstring)."""
    if isinstance(target, ClassScore) or _registered(target) or getattr(target, "_unsure_checked", False):
        return target
    name = getattr(target, "__name__", type(target).__name__)

    def run(logits: Tensor) -> Tensor:
        out = target(logits)
        B = logits.shape[1]
        if not isinstance(out, Tensor):
            raise UnsureError(f"target {name!r} returned a {type(out).__name__}; it must return a Tensor [B={B}]")
        if tuple(out.shape) != (B,):
            raise UnsureError(f"target {name!r} returned shape {list(out.shape)} for logits "
                              f"{list(logits.shape)} [S,B,K]; it must return one value per image, [B={B}]")
        if not out.isfinite().all():
            raise UnsureError(f"target {name!r} returned NaN/inf for {int((~out.isfinite()).sum())} of {B} images")
        return out

    run.__name__ = name
    run._unsure_checked = True
    run.__wrapped__ = target
    return run
