"""A map in a notebook: ``unsure.show(x, res)`` or ``res.plot()`` (matplotlib).

One row per image: the image, the map alone with its colour bar, and the map over a grey copy of
the image. Defaults per target (the report's, :mod:`unsure.report.overlay`):

- a non-negative map (UA-Backprop's uncertainty maps, ``grad``) is drawn with the sequential
  ``inferno`` on ``[0, max]``: black is zero;
- a signed map (gradient x input, IG, class scores) with the diverging ``RdBu_r`` on
  ``[-max, max]``: white is zero, red raises the target, blue lowers it.

Each map's own ``max |map|`` sets its scale (one colour bar per map, so what you see is what the
bar says); the title gives the method, the target and the map's sum (for a complete method, the
image's uncertainty).
"""
from __future__ import annotations

import numpy as np
from torch import Tensor

from .errors import UnsureError
from .ops.colours import DIVERGING, SEQUENTIAL, image_rgb, is_signed

MAX_IMAGES = 8  # rows drawn by default; pass ``index=`` for others


def _gray(image: Tensor) -> np.ndarray:
    """``[C,H,W]`` in [0, 1] -> ``[H,W,3]`` for imshow (grey images repeated on three channels)."""
    return image_rgb(image)


def style(map_: Tensor) -> tuple[str, float, float]:
    """``(cmap, vmin, vmax)`` of one map ``[H,W]``: sequential on ``[0, max]`` when it has no
    negative values, diverging on ``[-max, max]`` otherwise (max: the largest |value|, 1 if 0)."""
    top = float(map_.detach().abs().max()) if map_.numel() else 0.0
    top = top if top > 0 else 1.0
    return (DIVERGING, -top, top) if is_signed(map_) else (SEQUENTIAL, 0.0, top)


def show(x: Tensor | None, res: "Attribution", *, index=None, overlay: bool = True, alpha: float = 0.6,
         size: float = 2.4, path=None):
    """Draw ``res.maps`` of images ``x [B,C,H,W]``; returns the matplotlib ``Figure``.

    Parameters
    ----------
    x : the images explained (``None``: the map view only)
    res : what :func:`unsure.attribute` returned
    index : the images to draw (default: the first :data:`MAX_IMAGES`)
    overlay : add the map over a grey copy of the image (needs ``x``)
    alpha : opacity of that overlay
    size : inches per panel
    path : also save the figure there (PNG, PDF, SVG: by the suffix)
    """
    import matplotlib.pyplot as plt

    maps = res.maps.detach().float().cpu()
    B = maps.shape[0]
    if x is not None:
        if x.ndim != 4 or x.shape[0] != B or tuple(x.shape[2:]) != tuple(maps.shape[1:]):
            raise UnsureError(f"show: x {list(x.shape)} does not match the maps {list(maps.shape)}: "
                              f"pass the images that were explained, [B,C,H,W]")
        x = x.detach().float().cpu()
    rows = list(range(min(B, MAX_IMAGES))) if index is None else [int(i) for i in np.atleast_1d(index)]
    if not rows or any(not 0 <= i < B for i in rows):
        raise UnsureError(f"show: index {index!r} out of range for {B} map(s)")
    cols = ["map"] if x is None else (["image", "map", "overlay"] if overlay else ["image", "map"])
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(size * len(cols) * 1.15, size * len(rows)),
                             squeeze=False, layout="constrained")
    method, target = res.meta.get("method", "?"), res.meta.get("target", "?")
    for r, i in enumerate(rows):
        m = maps[i]
        cmap, vmin, vmax = style(m)
        for c, kind in enumerate(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if kind == "image":
                ax.imshow(_gray(x[i]), interpolation="nearest")
                ax.set_title(f"image {i}", fontsize=9)
            elif kind == "map":
                im = ax.imshow(m.numpy(), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
                fig.colorbar(im, ax=ax, shrink=0.85)
                ax.set_title(f"{method}, {target}\nΣ = {float(m.double().sum()):.3g}", fontsize=9)
            else:
                ax.imshow(_gray(x[i]).mean(-1), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
                ax.imshow(m.numpy(), cmap=cmap, vmin=vmin, vmax=vmax, alpha=alpha, interpolation="nearest")
                ax.set_title("overlay", fontsize=9)
    if res.meta.get("note"):
        fig.suptitle(res.meta["note"], fontsize=8, wrap=True)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot(res: "Attribution", x: Tensor | None = None, **kwargs):
    """``res.plot(x)``: :func:`show` with the images the result was computed on by default."""
    return show(x if x is not None else getattr(res, "inputs", None), res, **kwargs)


__all__ = ["show", "plot", "style"]
