"""Performance information curves SIC and AIC (Kapishnikov et al., "XRAI", ICCV 2019, Sec. 4.1;
the logic of PAIR ``saliency/metrics/pic.py``, re-implemented; METHODS.md "Other metrics").

For each image and each threshold tau, a *bokeh* image keeps the top-tau salient pixels plus a fixed
1% random pixel mask (and the four corners) and fills every other pixel by linear interpolation
of the kept ones (``scipy.interpolate.griddata``, as PAIR; outside their convex hull: the image's
mean colour). Its information level is its WebP-lossless size (Pillow) normalised between the
*fully blurred* image (random mask only) and the original, clipped to ``[0, 1]``; the MS-SSIM variant
(IDGI paper) uses ``MS-SSIM(bokeh, original)`` normalised the same way.

- **SIC**: the softmax score of the class predicted on the original, divided by its score on the
  original (``normalise="ratio"``, XRAI); ``normalise="pair"`` uses PAIR's
  ``(s - s_blurred) / (s_original - s_blurred)`` and skips images where the blurred score is not lower;
- **AIC**: 1 if the bokeh image is classified as the original (or as ``labels``) else 0.

The curve points (level, running max of the score over ascending tau) plus the fully blurred and
the original image are linearly interpolated on ``points`` evenly spaced levels; the result is the
median curve over images and its trapezoid AUC (higher is better).

Images are quantised to 8 bits (what WebP stores); the model sees the same quantised images.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UnsureError
from ..posteriors import Draw, Posterior
from ..validate import checks_generator
from .base import register_metric
from .blurring import pixel_order
from .insertion_deletion import _prepare

PAIR_THRESHOLDS = (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.10, 0.13, 0.21, 0.34, 0.5, 0.75)
MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003


@dataclass
class PicResult:
    """Outcome of :func:`pic_metric`.

    Attributes
    ----------
    auc : trapezoid AUC of ``median_curve`` (higher is better)
    curve_x : ``[P]`` information levels; curves : ``[B', P]`` per kept image
    median_curve : ``[P]``; auc_per_image : ``[B']``
    kept : ``[B']`` indices of the kept images; skipped : reason -> count
    """

    higher_is_better: ClassVar[dict[str, bool]] = {"auc": True}

    kind: str
    info: str
    auc: float
    curve_x: Tensor
    curves: Tensor
    median_curve: Tensor
    auc_per_image: Tensor
    kept: Tensor
    skipped: dict[str, int] = field(default_factory=dict)


@checks_generator
def random_mask(H: int, W: int, fraction: float = 0.01,
                generator: torch.Generator | None = None) -> Tensor:
    """``int(H W fraction)`` random pixels set (PAIR's seed mask): ``[H, W]`` bool."""
    n = int(H * W * fraction)
    m = torch.zeros(H * W, dtype=torch.bool)
    m[torch.randperm(H * W, generator=generator)[:n]] = True
    return m.reshape(H, W)


def bokeh(img: Tensor, keep: Tensor) -> Tensor:
    """Interpolate the pixels not in ``keep`` from those in it: ``[C,H,W], [H,W] -> [C,H,W]``.

    Linear interpolation over the Delaunay triangulation of the kept pixels
    (``scipy.interpolate.griddata``); the corners are always kept; outside the hull (only possible
    with collinear kept pixels) the image's mean colour per channel.
    """
    from scipy.interpolate import griddata

    C, H, W = img.shape
    keep = keep.clone().cpu()
    keep[[0, 0, H - 1, H - 1], [0, W - 1, 0, W - 1]] = True
    arr = img.detach().double().cpu().numpy()
    if bool(keep.all()):
        return img.detach().clone()
    known = np.argwhere(keep.numpy())  # [n,2] (row, col)
    unknown = np.argwhere(~keep.numpy())
    out = arr.copy()
    for c in range(C):
        vals = griddata(known, arr[c][tuple(known.T)], unknown, method="linear",
                        fill_value=float(arr[c].mean()))
        out[c][tuple(unknown.T)] = vals
    return torch.from_numpy(out).to(img.dtype).to(img.device)


def quantise(x: Tensor) -> Tensor:
    """Round to the 8-bit grid ``k / 255`` (values clipped to ``[0, 1]``)."""
    return torch.round(x.clamp(0, 1) * 255) / 255


def webp_size(img: Tensor) -> int:
    """Bytes of the WebP-lossless encoding of one ``[C,H,W]`` image in ``[0, 1]`` (C = 1 or 3)."""
    from PIL import Image

    arr = torch.round(img.detach().clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()
    if arr.shape[0] == 1:
        pil = Image.fromarray(arr[0], mode="L")
    elif arr.shape[0] == 3:
        pil = Image.fromarray(arr.transpose(1, 2, 0), mode="RGB")
    else:
        raise UnsureError(f"WebP information level needs 1 or 3 channels, got {arr.shape[0]}")
    buf = io.BytesIO()
    pil.save(buf, format="WEBP", lossless=True, quality=100)
    return buf.tell()


def _ssim_terms(X: Tensor, Y: Tensor, win: Tensor, C1: float, C2: float) -> tuple[Tensor, Tensor]:
    """Mean SSIM and contrast-structure term per image, valid Gaussian filtering: ``[N]`` each."""
    C = X.shape[1]
    kh = win.reshape(1, 1, -1, 1).repeat(C, 1, 1, 1)
    kw = win.reshape(1, 1, 1, -1).repeat(C, 1, 1, 1)
    filt = lambda t: F.conv2d(F.conv2d(t, kh, groups=C), kw, groups=C)  # noqa: E731
    mx, my = filt(X), filt(Y)
    sxx, syy, sxy = filt(X * X) - mx ** 2, filt(Y * Y) - my ** 2, filt(X * Y) - mx * my
    cs = (2 * sxy + C2) / (sxx + syy + C2)
    ss = (2 * mx * my + C1) / (mx ** 2 + my ** 2 + C1) * cs
    return ss.flatten(1).mean(1), cs.flatten(1).mean(1)


def msssim_scales(H: int, W: int, win_size: int = 3) -> int:
    """Number of MS-SSIM scales for an ``H x W`` image: halve while the window still fits (at
    most 5; 28x28 -> 4 with a 3x3 window, 8x8 -> 2)."""
    side, levels = min(H, W), 0
    while side >= win_size and levels < 5:
        levels += 1
        side = (side + side % 2) // 2
    if levels == 0:
        raise UnsureError(f"{H}x{W} images are smaller than the {win_size}x{win_size} MS-SSIM window")
    return levels


def ms_ssim(X: Tensor, Y: Tensor, win_size: int = 3, win_sigma: float = 1.5,
            levels: int | None = None) -> Tensor:
    """MS-SSIM (Wang et al. 2003) of images in ``[0, 1]``: ``[N,C,H,W] x2 -> [N]``.

    The same computation as ``pytorch_msssim.ms_ssim`` (Gaussian window, ``K = (0.01, 0.03)``,
    relu on each term, 2x average pooling with odd-size padding), which asserts images larger than
    ``16 (win_size - 1)`` px whatever the number of scales and so refuses 28x28 images. Here the
    number of scales follows :func:`msssim_scales` and the first ``levels`` standard weights are
    renormalised to sum to 1. Agrees with ``pytorch_msssim.ms_ssim`` on large images (tests).
    """
    levels = levels or msssim_scales(X.shape[2], X.shape[3], win_size)
    w = torch.tensor(MSSSIM_WEIGHTS[:levels], dtype=X.dtype, device=X.device)
    w = w / w.sum() if levels < len(MSSSIM_WEIGHTS) else w
    t = torch.arange(win_size, dtype=X.dtype, device=X.device) - win_size // 2
    win = torch.exp(-(t ** 2) / (2 * win_sigma ** 2))
    win = win / win.sum()
    terms = []
    for i in range(levels):
        ss, cs = _ssim_terms(X, Y, win, 0.01 ** 2, 0.03 ** 2)
        if i < levels - 1:
            terms.append(torch.relu(cs))
            pad = [X.shape[2] % 2, X.shape[3] % 2]
            X, Y = F.avg_pool2d(X, 2, padding=pad), F.avg_pool2d(Y, 2, padding=pad)
    terms.append(torch.relu(ss))
    return torch.prod(torch.stack(terms) ** w[:, None], 0)  # [L,N] -> [N]


def _levels(imgs: Tensor, info: str) -> Tensor:
    """Raw information of ``imgs [B, T+2, C, H, W]`` (index 0: fully blurred, -1: original): ``[B, T+2]``."""
    B, T2 = imgs.shape[:2]
    if info == "webp":
        return torch.tensor([[webp_size(imgs[b, t]) for t in range(T2)] for b in range(B)],
                            dtype=torch.float64)
    ref = imgs[:, -1:].expand_as(imgs).reshape(-1, *imgs.shape[2:]).double()
    return ms_ssim(imgs.reshape(-1, *imgs.shape[2:]).double(), ref).reshape(B, T2).cpu()


def pic_curve(levels: Tensor, scores: Tensor, points: int = 1001) -> Tensor:
    """One image's curve on ``points`` levels in ``[0, 1]`` from normalised ``levels [T+2]`` and
    scores ``[T+2]`` (index 0: fully blurred, 1..T: ascending tau, -1: original)."""
    run = torch.cummax(scores[:-1], 0).values  # running max over blurred and ascending tau
    xs = torch.cat([torch.zeros(1, dtype=torch.float64), levels[1:-1], torch.ones(1, dtype=torch.float64)])
    ys = torch.cat([run, scores[-1:]]).double()
    o = torch.argsort(xs, stable=True)
    grid = np.linspace(0.0, 1.0, points)
    return torch.from_numpy(np.interp(grid, xs[o].numpy(), ys[o].numpy()))


@checks_generator
def pic_metric(posterior: Posterior, x: Tensor, maps: Tensor, kind: str = "sic", *,
               info: str = "webp", thresholds: Sequence[float] = PAIR_THRESHOLDS,
               random_fraction: float = 0.01, normalise: str = "ratio",
               min_score: float | None = None, labels: Tensor | None = None, points: int = 1001,
               draw: Draw | None = None, generator: torch.Generator | None = None) -> PicResult:
    """SIC or AIC of the maps of images ``x [B,C,H,W]``; ``maps [B,H,W]``, higher = revealed first.

    Parameters
    ----------
    kind : ``"sic"`` or ``"aic"``
    info : ``"webp"`` (compressed size) or ``"msssim"``
    thresholds : ascending shares tau of salient pixels (PAIR's default list)
    random_fraction : share of random seed pixels (1%)
    normalise : SIC score normalisation, ``"ratio"`` or ``"pair"`` (see module doc)
    min_score : skip images whose original softmax score is lower (PAIR: 0.8; default: none)
    labels : ``[B]`` for AIC against the true class (default: the original prediction)
    generator : seeds the random masks, tie order and draw

    Returns
    -------
    :class:`PicResult`
    """
    if kind not in ("sic", "aic"):
        raise UnsureError(f"kind must be 'sic' or 'aic', got {kind!r}")
    if info not in ("webp", "msssim"):
        raise UnsureError(f"info must be 'webp' or 'msssim', got {info!r}")
    if normalise not in ("ratio", "pair"):
        raise UnsureError(f"normalise must be 'ratio' or 'pair', got {normalise!r}")
    th = [float(t) for t in thresholds]
    if not th or th != sorted(th) or not all(0 < t <= 1 for t in th):
        raise UnsureError(f"thresholds must be ascending shares in (0, 1], got {th}")
    x, draw = _prepare(posterior, x, maps, draw, generator)
    B, C, H, W = x.shape
    xq = quantise(x)
    order = pixel_order(maps.detach().to(x.device), generator)  # [B,HW]
    imgs = torch.empty(B, len(th) + 2, C, H, W, dtype=x.dtype)
    for b in range(B):
        seed = random_mask(H, W, random_fraction, generator).reshape(-1)
        imgs[b, 0] = quantise(bokeh(xq[b].cpu(), seed.reshape(H, W)))
        for i, t in enumerate(th):
            keep = seed.clone()
            keep[order[b, : int(round(t * H * W))].cpu()] = True
            imgs[b, i + 1] = quantise(bokeh(xq[b].cpu(), keep.reshape(H, W)))
        imgs[b, -1] = xq[b].cpu()
    with torch.no_grad():
        flat = imgs.reshape(-1, C, H, W).to(x.device)  # [B,T+2,C,H,W] -> [B(T+2),C,H,W]
        p = torch.cat([torch.softmax(draw(flat[s:s + 1024]), -1).mean(0)
                       for s in range(0, len(flat), 1024)]).reshape(B, len(th) + 2, -1).cpu()  # [B,T+2,K]
    cls = p[:, -1].argmax(-1) if labels is None else labels.cpu().long()  # [B]
    if kind == "sic":
        scores = p.gather(2, cls[:, None, None].expand(-1, len(th) + 2, 1)).squeeze(2).double()
    else:
        scores = (p.argmax(-1) == cls[:, None]).double()  # [B,T+2]
    raw = _levels(imgs, info)
    skipped = {"information": 0, "score": 0}
    curves, kept = [], []
    for b in range(B):
        lo, hi = raw[b, 0], raw[b, -1]
        s = scores[b]
        if hi <= lo:
            skipped["information"] += 1
            continue
        if (min_score is not None and p[b, -1].max() < min_score) or s[-1] <= 0 \
                or (normalise == "pair" and kind == "sic" and s[0] >= s[-1]):
            skipped["score"] += 1
            continue
        lev = ((raw[b] - lo) / (hi - lo)).clamp(0, 1)
        if kind == "sic":
            s = (s - s[0]) / (s[-1] - s[0]) if normalise == "pair" else s / s[-1]
            s = s.clamp(0, 1)
        curves.append(pic_curve(lev, s, points))
        kept.append(b)
    grid = torch.linspace(0, 1, points, dtype=torch.float64)
    if not curves:
        nan = torch.full((points,), float("nan"), dtype=torch.float64)
        return PicResult(kind, info, float("nan"), grid, torch.zeros(0, points, dtype=torch.float64),
                         nan, torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.long), skipped)
    cur = torch.stack(curves)
    med = torch.quantile(cur, 0.5, dim=0)  # averages the middle two, as numpy's median
    trap = lambda y: float(torch.trapezoid(y, grid))  # noqa: E731
    return PicResult(kind, info, trap(med), grid, cur, med,
                     torch.tensor([trap(c) for c in cur], dtype=torch.float64), torch.tensor(kept), skipped)


register_metric("sic-auc", True, "class", "AUC of the median softmax information curve (XRAI / PAIR)",
                pic_metric)
register_metric("aic-auc", True, "class", "AUC of the median accuracy information curve (XRAI / PAIR)",
                pic_metric)
