"""The colour conventions of every picture of a map (the report's pages and ``res.plot()``): the
colour maps, when a map counts as signed, and an image as RGB bytes."""
from __future__ import annotations

import numpy as np
from torch import Tensor

SEQUENTIAL = "inferno"  # non-negative maps, 0 -> black
DIVERGING = "RdBu_r"  # signed maps, 0 -> white, red raises the explained quantity


def is_signed(maps: Tensor, rtol: float = 1e-6) -> bool:
    """Whether ``maps`` has negative values beyond rounding (relative to its largest ``|value|``)."""
    m = maps.detach().double()
    top = float(m.abs().max()) if m.numel() else 0.0
    return top > 0 and float(m.min()) < -rtol * top


def image_rgb(image: Tensor) -> np.ndarray:
    """An image ``[C,H,W]`` in [0, 1] (C = 1 or 3) -> ``[H,W,3]`` uint8."""
    x = image.detach().float().clamp(0, 1).cpu()
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)  # [1,H,W] -> [3,H,W]
    elif x.shape[0] != 3:
        x = x[:3] if x.shape[0] > 3 else x.mean(0, keepdim=True).expand(3, -1, -1)
    return (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # [C,H,W] -> [H,W,C]
