"""The epistemic cause: content at a known place that the training data never holds.

Each kind fills a square patch ``[n, C, s, s]``, registered in ``EPISTEMIC_KINDS``:

- ``other-data``: a whole image of another data set shrunk into the patch (``other``, default
  scikit-learn's digits; Fashion-MNIST for a digits base), channels repeated to C;
- ``texture``: an oriented sinusoidal grating (random orientation, 2-4 px period, phase and,
  in colour, a random colour per channel): periodic structure no base image has;
- ``inverted``: the patch's own content, ``1 - x``;
- ``scrambled``: the patch's own pixels in a random order (one permutation for all channels):
  the image's own intensities without their shapes.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UnsureError
from ..registry import Registry

# name -> fn(region [n,C,s,s], generator, other [M,C',h,w] or None) -> patch [n,C,s,s]
EPISTEMIC_KINDS: Registry[Callable[..., Tensor]] = Registry("epistemic cause kind")
KINDS = ("other-data", "texture", "inverted", "scrambled")


@EPISTEMIC_KINDS.register("other-data", "a whole image of another data set shrunk into the patch")
def other_data(region: Tensor, generator: torch.Generator, other: Tensor | None = None) -> Tensor:
    if other is None or len(other) == 0:
        raise UnsureError("the other-data kind needs images of another data set")
    n, C, s, _ = region.shape
    pick = other[torch.randint(0, len(other), (n,), generator=generator)].float()  # [n,C',h,w]
    pick = F.interpolate(pick, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
    if pick.shape[1] != C:  # grey <-> colour: mean over channels, repeated
        pick = pick.mean(1, keepdim=True).expand(n, C, s, s)
    return pick.clamp(0, 1).to(region.dtype)


@EPISTEMIC_KINDS.register("texture", "an oriented sinusoidal grating, 2-4 px period")
def texture(region: Tensor, generator: torch.Generator, other: Tensor | None = None) -> Tensor:
    n, C, s, _ = region.shape
    theta = torch.rand(n, generator=generator) * math.pi
    period = 2 + 2 * torch.rand(n, generator=generator)
    phase = torch.rand(n, generator=generator) * 2 * math.pi
    r = torch.arange(s, dtype=torch.float32)
    rr, cc = torch.meshgrid(r, r, indexing="ij")  # [s,s]
    along = rr[None] * theta.cos()[:, None, None] + cc[None] * theta.sin()[:, None, None]  # [n,s,s]
    wave = 0.5 + 0.5 * torch.sin(2 * math.pi * along / period[:, None, None] + phase[:, None, None])
    if C == 1:
        return wave[:, None].to(region.dtype)
    colour = torch.rand(n, C, 1, 1, generator=generator)
    return (wave[:, None] * colour).to(region.dtype)  # [n,1,s,s] * [n,C,1,1] -> [n,C,s,s]


@EPISTEMIC_KINDS.register("inverted", "the patch's own content inverted, 1 - x")
def inverted(region: Tensor, generator: torch.Generator, other: Tensor | None = None) -> Tensor:
    return 1 - region


@EPISTEMIC_KINDS.register("scrambled", "the patch's own pixels in a random order")
def scrambled(region: Tensor, generator: torch.Generator, other: Tensor | None = None) -> Tensor:
    n, C, s, _ = region.shape
    flat = region.reshape(n, C, s * s)  # [n,C,s,s] -> [n,C,s*s]
    perm = torch.rand(n, s * s, generator=generator).argsort(1)  # [n,s*s] one order per image
    return flat.gather(2, perm[:, None].expand(n, C, s * s)).reshape(n, C, s, s)


def paste(x: Tensor, boxes: Tensor, kinds: list[str], generator: torch.Generator,
          other: Tensor | None = None) -> Tensor:
    """``x [n,C,H,W]`` with each image's box ``(top, left, side)`` filled by its kind (not in place)."""
    out = x.clone()
    s = int(boxes[0, 2])
    if not bool((boxes[:, 2] == s).all()):
        raise UnsureError("epistemic patches of one call must share a side")
    for kind in dict.fromkeys(kinds):
        fn = EPISTEMIC_KINDS.get(kind)
        idx = torch.tensor([i for i, k in enumerate(kinds) if k == kind], dtype=torch.int64)
        region = torch.stack([x[i, :, t:t + s, l:l + s] for i, (t, l) in
                              zip(idx.tolist(), boxes[idx, :2].tolist())])  # [m,C,s,s]
        patch = fn(region, generator, other)
        for j, (i, (t, l)) in enumerate(zip(idx.tolist(), boxes[idx, :2].tolist())):
            out[i, :, t:t + s, l:l + s] = patch[j]
    return out
