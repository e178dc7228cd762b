"""Calling a draw's members with one clear error when the input does not fit the model.

A model fed images of the wrong channel count, size or dtype fails deep inside torch with a
``RuntimeError``; members that disagree on K fail in ``torch.stack``. Both are the caller's
input, so they become one :class:`UnsureError` line naming the shapes.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from ..errors import UnsureError


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def call_member(f: Callable[[Tensor], Tensor], x: Tensor, i: int) -> Tensor:
    """``f(x)`` for member ``i``; a shape/dtype failure inside the model becomes an UnsureError."""
    try:
        return f(x)
    except torch.cuda.OutOfMemoryError:
        raise
    except RuntimeError as e:
        raise UnsureError(f"member {i} cannot take input {list(x.shape)} {str(x.dtype).replace('torch.', '')} "
                          f"(wrong channels, size or dtype for this model?): {_first_line(e)}") from None


def stack_members(members: Sequence[Callable[[Tensor], Tensor]], x: Tensor) -> Tensor:
    """``[S,B,K]`` from members ``x [B,C,H,W] -> [B,K]``, checking that they agree on the shape."""
    return stack_outputs([call_member(f, x, i) for i, f in enumerate(members)])


def stack_outputs(outs: Sequence[Tensor]) -> Tensor:
    """``[S,B,K]`` from the members' outputs, checking that they are tensors of one shape."""
    for i, z in enumerate(outs):
        if not isinstance(z, Tensor):
            raise UnsureError(f"member {i} returned a {type(z).__name__}, not a Tensor of logits [B,K]")
        if z.shape != outs[0].shape:
            raise UnsureError(f"members return logits of different shapes: member 0 {list(outs[0].shape)}, "
                              f"member {i} {list(z.shape)} (all members need the same K classes)")
    return torch.stack(outs, dim=0)


def probe(draw: Callable[[Tensor], Tensor], x: Tensor) -> int:
    """One forward pass of the first image through the whole draw, before any real work, so a
    model that cannot take ``x`` fails with one line (per-member gradient code would not).
    Returns the number of samples S of the draw."""
    with torch.no_grad():
        try:
            z = draw(x[:1])
        except torch.cuda.OutOfMemoryError:
            raise
        except RuntimeError as e:
            raise UnsureError(f"the model cannot take input {list(x.shape)} {str(x.dtype).replace('torch.', '')} "
                              f"(wrong channels, size or dtype?): {_first_line(e)}") from None
    from ..validate import check_logits

    check_logits(z, "the model's logits")
    return int(z.shape[0])


def probe_once(draw, x: Tensor) -> int:
    """:func:`probe` once per draw, image shape, dtype and device while the draw's weights are
    unchanged (their storage and in-place version, as :meth:`Draw._key`): a draw reused across
    calls (a dataset job's chunks, a benchmark) is not probed again. What the probe guards still
    holds on later calls: the images have the shape that passed, and non-finite logits of other
    images make the method's target or maps non-finite, which ``Method.attribute`` refuses in
    one line. Returns the number of samples S of the draw."""
    weights = draw._key(x)[1] if hasattr(draw, "_key") else None
    if weights is None:  # not a Draw: nothing to key the cache on
        return probe(draw, x)
    key = (tuple(x.shape[1:]), x.dtype, x.device, weights)
    cache = draw.__dict__.setdefault("_probed", {})
    if key not in cache:
        cache.clear()  # one entry: a new shape or new weights replace the old
        cache[key] = probe(draw, x)
    return cache[key]
