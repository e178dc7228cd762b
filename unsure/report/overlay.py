"""Colour maps, overlays and colour bars for attribution maps, as PNG bytes (matplotlib's colour
tables, drawn with PIL; no figure is created).

Scale (**decision**): every map is drawn on its own symmetric scale ``[-v, v]`` (signed maps,
diverging ``RdBu_r``: red raises the explained quantity, blue lowers it, white is 0) or ``[0, v]``
(non-negative maps, sequential ``inferno``) with ``v = max |map|``; ``v`` is printed under each
map. Per-map scales keep faint maps visible; the printed ``v`` keeps them comparable.

Display contrast (**decision**, display only): a map whose mass sits in a few pixels (UA-Backprop's
maps are often a handful of bright pixels on grey) is drawn with its colours saturating at the
``CONTRAST_PERCENTILE``-th percentile of ``|map|`` instead of at ``v`` (:func:`contrast_scale`);
the page states that clip under each map. The numbers printed (max, Σ) and the saved arrays are
the exact map.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..ops.colours import DIVERGING, SEQUENTIAL, image_rgb, is_signed  # noqa: F401  (re-exported)

DISPLAY_SIDE = 168  # px: images are enlarged (nearest neighbour) to about this width
POOL_SIDE = 112  # px: larger images and maps are shown block-averaged to at most this side (display only)
CONTRAST_PERCENTILE = 99.0  # colours saturate at this percentile of |map| (display only)


@dataclass(frozen=True)
class Scale:
    """How one map's values become colours.

    Attributes
    ----------
    signed : use the diverging colour map on ``[-vmax, vmax]`` (else sequential on ``[0, vmax]``)
    vmax : the largest ``|value|`` of the map (1.0 for an all-zero map)
    display : where the colours saturate, ``<= vmax`` (display-only contrast); ``None``: at ``vmax``
    percentile : the percentile of ``|map|`` that ``display`` is (for the caption)
    """

    signed: bool
    vmax: float
    display: float | None = None
    percentile: float | None = None

    @property
    def top(self) -> float:
        """The value drawn at the end of the colour map."""
        return self.vmax if self.display is None else self.display

    @property
    def clipped(self) -> bool:
        return self.display is not None and self.display < self.vmax

    @property
    def cmap(self) -> str:
        return DIVERGING if self.signed else SEQUENTIAL

    @property
    def vmin(self) -> float:
        return -self.vmax if self.signed else 0.0


def scale_for(map_: Tensor, signed: bool) -> Scale:
    """The :class:`Scale` of one map ``[H,W]``: ``vmax = max |map|`` (1.0 if the map is all zero)."""
    top = float(map_.detach().abs().max()) if map_.numel() else 0.0
    return Scale(signed, top if top > 0 else 1.0)


def contrast_scale(map_: Tensor, signed: bool, percentile: float = CONTRAST_PERCENTILE) -> Scale:
    """:func:`scale_for` with the colours saturating at the ``percentile``-th percentile of
    ``|map|`` when that is below ``max |map|`` and above 0 (display only; module docstring)."""
    base = scale_for(map_, signed)
    a = map_.detach().double().abs().flatten()
    if a.numel() == 0:
        return base
    q = float(torch.quantile(a, percentile / 100.0))
    if 0 < q < base.vmax:
        return Scale(signed, base.vmax, q, percentile)
    return base


def _lut(name: str) -> np.ndarray:
    """``[256, 3]`` uint8 colour table of a matplotlib colour map."""
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def shrink(t: Tensor, side: int = POOL_SIDE) -> Tensor:
    """A map ``[H,W]`` or image ``[C,H,W]`` larger than ``side`` as the means of blocks, at most
    ``side`` on its longer edge (display only: a 224-pixel map drawn 80 pixels wide with nearest
    neighbours aliases into a dotted pattern; block means keep each shown colour on the bar)."""
    h, w = t.shape[-2:]
    if max(h, w) <= side:
        return t
    f = -(-max(h, w) // side)  # ceil: the block side
    x = t.detach().double()
    x = x[None, None] if x.ndim == 2 else x[None]
    out = torch.nn.functional.avg_pool2d(x, f, ceil_mode=True)  # [1,C,H,W] -> [1,C,H/f,W/f]
    return out[0, 0] if t.ndim == 2 else out[0]


def colorize(map_: Tensor, scale: Scale) -> tuple[np.ndarray, np.ndarray]:
    """Map values ``[H,W]`` -> colours ``[H,W,3]`` uint8 and strength ``[H,W]`` in [0, 1].

    Strength is ``|value| / top`` (``top = vmax``, or the display clip): the overlay lets the image
    show through where it is small; values beyond the clip saturate.
    """
    m = map_.detach().double().cpu().numpy()
    top = scale.top
    if scale.signed:
        t = (m / top + 1) / 2  # [-v, v] -> [0, 1], 0 -> the white middle
    else:
        t = np.clip(m, 0, None) / top
    idx = np.clip(np.round(t * 255), 0, 255).astype(np.int64)
    return _lut(scale.cmap)[idx], np.clip(np.abs(m) / top, 0, 1)


def _enlarge(rgb: np.ndarray, side: int = DISPLAY_SIDE) -> Image.Image:
    """Nearest-neighbour enlargement by an integer factor, so each input pixel stays a square."""
    h, w = rgb.shape[:2]
    f = max(1, round(side / max(h, w)))
    return Image.fromarray(rgb).resize((w * f, h * f), Image.NEAREST)


def overlay(image: Tensor, map_: Tensor, scale: Scale, alpha: float = 0.85) -> Image.Image:
    """The map's colours over a dimmed grey copy of the image, opacity ``alpha * strength``.

    Parameters
    ----------
    image : ``[C,H,W]`` in [0, 1]
    map_ : ``[H,W]``
    scale : from :func:`scale_for`
    """
    grey = image_rgb(shrink(image)).astype(np.float64).mean(-1, keepdims=True)  # [H,W,3] -> [H,W,1]
    base = 40 + 0.6 * grey  # dimmed so the colours stand out
    colours, strength = colorize(shrink(map_), scale)
    a = alpha * strength[..., None]
    rgb = (1 - a) * base + a * colours
    return _enlarge(np.clip(rgb, 0, 255).round().astype(np.uint8))


def heatmap(map_: Tensor, scale: Scale) -> Image.Image:
    """The map alone in its colour map (no image underneath): every pixel a colour of the bar."""
    return _enlarge(colorize(shrink(map_), scale)[0])


def picture(image: Tensor) -> Image.Image:
    """The input image, enlarged."""
    return _enlarge(image_rgb(image))


def colorbar(cmap: str, width: int = 256, height: int = 14) -> Image.Image:
    """A horizontal colour bar, low values on the left; the labels are written in the HTML."""
    row = _lut(cmap)[np.linspace(0, 255, width).round().astype(np.int64)]  # [width,3]
    return Image.fromarray(np.repeat(row[None], height, axis=0))


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def data_uri(png: bytes | Image.Image) -> str:
    """``data:image/png;base64,...`` for embedding in the page."""
    if isinstance(png, Image.Image):
        png = png_bytes(png)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
