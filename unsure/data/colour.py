"""``colour:BASE``: a colour version of any grey data set, 3 x 32 x 32 (the ground-truth
benchmark's colour variant; any command takes it as ``--data colour:fashion-mnist``).

Each base image is resized to 24 x 24, tinted with a random saturated colour and composited at a
random place onto a textured colour background: a smooth two-colour gradient plus a few
low-frequency sinusoids, ``pixel = (1 - a) bg + a colour`` with ``a`` the base intensity. Every
image's colours, texture and place are drawn from a generator seeded by its split and index, so
a spec always yields the same images. Colour base images are converted to grey first.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import UnsureError
from .load import LOADERS, parse_spec

SIZE, OBJECT = 32, 24
SEEDS = {"train": 1_000_003, "test": 2_000_003}


def _hsv(h, s, v):
    """``[n]`` hue, saturation, value in [0, 1] -> ``[n, 3]`` RGB."""
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], 1)  # [n,3]
    return v[:, None] - v[:, None] * s[:, None] * (torch.minimum(k, 4 - k).clamp(0, 1))


def colourise(x: torch.Tensor, seed: int) -> torch.Tensor:
    """``[N, C, H, W]`` grey (or colour) images in [0, 1] -> ``[N, 3, 32, 32]``; image ``i`` uses
    the generator seeded with ``seed + i``."""
    if x.ndim != 4:
        raise UnsureError(f"colourise needs images [N,C,H,W], got {tuple(x.shape)}")
    grey = x.mean(1, keepdim=True) if x.shape[1] != 1 else x
    obj = F.interpolate(grey.float(), size=(OBJECT, OBJECT), mode="bilinear", align_corners=False,
                        antialias=True).clamp(0, 1)  # [N,1,24,24]
    n = len(x)
    u = torch.stack([torch.rand(18, generator=torch.Generator().manual_seed(seed + i)) for i in range(n)])  # [N,18]
    r = torch.arange(SIZE, dtype=torch.float32) / SIZE
    rr, cc = (v[None] for v in torch.meshgrid(r, r, indexing="ij"))  # [1,32,32]

    def col(k):  # [N] -> [N,1,1]
        return u[:, k, None, None]

    c0 = _hsv(u[:, 0], 0.3 + 0.4 * u[:, 2], 0.25 + 0.35 * u[:, 4])  # [N,3] two dim background colours
    c1 = _hsv(u[:, 1], 0.3 + 0.4 * u[:, 3], 0.25 + 0.35 * u[:, 5])
    ang = col(6) * math.pi
    ramp = (rr * ang.cos() + cc * ang.sin()).clamp(0, 1)[:, None]  # [N,1,32,32]
    bg = c0[:, :, None, None] * (1 - ramp) + c1[:, :, None, None] * ramp  # [N,3,32,32]
    tex = sum(torch.sin(2 * math.pi * (1 + 3 * col(7 + j)) * (rr * (math.pi * col(9 + j)).cos()
                                                            + cc * (math.pi * col(9 + j)).sin())
                        + 2 * math.pi * col(11 + j)) for j in range(2)) / 2  # [N,32,32]
    bg = (bg + 0.08 * tex[:, None]).clamp(0, 1)
    colour = _hsv(u[:, 13], 0.6 + 0.4 * u[:, 14], 0.8 + 0.2 * u[:, 15])  # [N,3] bright, saturated tints
    place = (u[:, 16:18] * (SIZE - OBJECT + 1)).long().clamp(max=SIZE - OBJECT)  # [N,2] top, left
    a = torch.zeros(n, 1, SIZE, SIZE)
    for i, (t, l) in enumerate(place.tolist()):
        a[i, 0, t:t + OBJECT, l:l + OBJECT] = obj[i, 0]
    return (1 - a) * bg + a * colour[:, :, None, None]


@LOADERS.register("colour", "colour:BASE, any data set tinted and placed on textured colour backgrounds, 3x32x32")
def _colour(arg: str, part: str):
    if not arg:
        raise UnsureError("colour data needs a base data spec: colour:BASE, e.g. colour:fashion-mnist")
    scheme, inner = parse_spec(arg)
    if scheme == "colour":
        raise UnsureError("colour:colour:... is not a data set")
    x, y = LOADERS.get(scheme)(inner, part)
    return colourise(x, SEEDS[part]), y
