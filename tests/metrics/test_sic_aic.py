"""SIC / AIC: bokeh interpolation, information levels, MS-SSIM, curves vs a loop reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _toykit import LinearLogit
from pytorch_msssim import ms_ssim as pm_ms_ssim

from unsure.errors import UnsureError
from unsure.metrics import METRICS, pic_metric
from unsure.metrics.blurring import pixel_order
from unsure.posteriors import DeepEnsemble
from unsure.metrics.sic_aic import (PAIR_THRESHOLDS, bokeh, ms_ssim, msssim_scales, pic_curve,
                                    quantise, random_mask, webp_size)

H = W = 12


class BlockModel(torch.nn.Module):
    """Class-0 logit ``4 * (sum of the 3x3 block at rows/cols 4..6) - 18``, class-1 logit 0: only
    the block matters (original images: +18, block interpolated from the 0..0.3 background: < 0)."""

    def __init__(self):
        super().__init__()
        w = torch.zeros(1, H, W, dtype=torch.float64)
        w[0, 4:7, 4:7] = 4.0
        self.lin = LinearLogit(w)

    def forward(self, x):
        z = self.lin(x)
        return z - torch.tensor([18.0, 0.0], dtype=z.dtype)


def images(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.rand(n, 1, H, W, generator=g, dtype=torch.float64)
    x[:, :, 4:7, 4:7] = 1.0
    return x, g


def posterior():
    return DeepEnsemble([BlockModel()])


def test_bokeh_is_exact_on_linear_images_and_keeps_known_pixels():
    r, c = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    img = (0.02 * r + 0.03 * c + 0.1)[None]  # affine: linear interpolation reproduces it
    keep = random_mask(H, W, 0.1, torch.Generator().manual_seed(0))
    out = bokeh(img, keep)
    assert torch.allclose(out, img, atol=1e-12)
    noisy = torch.rand(2, H, W, dtype=torch.float64)
    out = bokeh(noisy, keep)
    k = keep.clone()
    k[[0, 0, -1, -1], [0, -1, 0, -1]] = True
    assert torch.equal(out[:, k], noisy[:, k])
    assert random_mask(28, 28, 0.01, torch.Generator().manual_seed(0)).sum() == 7


def test_webp_levels_and_msssim():
    x, _ = images(1)
    full = quantise(x[0])
    blurred = quantise(bokeh(full, random_mask(H, W, 0.01, torch.Generator().manual_seed(0))))
    assert webp_size(blurred) < webp_size(full)
    assert webp_size(full) == webp_size(full.clone())
    with pytest.raises(UnsureError, match="channels"):
        webp_size(torch.rand(2, 4, 4))
    assert msssim_scales(28, 28) == 4 and msssim_scales(8, 8) == 2 and msssim_scales(64, 64) == 5
    g = torch.Generator().manual_seed(1)
    a = torch.rand(3, 1, 64, 64, generator=g, dtype=torch.float64)
    b = (a + 0.1 * torch.randn(3, 1, 64, 64, generator=g, dtype=torch.float64)).clamp(0, 1)
    ref = pm_ms_ssim(a, b, data_range=1.0, size_average=False, win_size=3)
    assert torch.allclose(ms_ssim(a, b), ref.reshape(-1), atol=1e-10)
    assert torch.allclose(ms_ssim(a[:, :, :28, :28], a[:, :, :28, :28]), torch.ones(3, dtype=torch.float64))


def ref_curve(levels, scores, points):
    """Loop: points (0, blurred), (level_k, running max), (1, original), sorted by level, then
    piecewise-linear evaluation on the grid."""
    run, pts = float(scores[0]), [(0.0, float(scores[0]))]
    for lv, s in zip(levels[1:-1].tolist(), scores[1:-1].tolist()):
        run = max(run, s)
        pts.append((lv, run))
    pts.append((1.0, float(scores[-1])))
    pts.sort(key=lambda p: p[0])
    out = []
    for i in range(points):
        t = i / (points - 1)
        j = max(k for k in range(len(pts)) if pts[k][0] <= t)
        if j == len(pts) - 1 or pts[j + 1][0] == pts[j][0]:
            out.append(pts[j][1])
        else:
            (x0, y0), (x1, y1) = pts[j], pts[j + 1]
            out.append(y0 + (y1 - y0) * (t - x0) / (x1 - x0))
    return out


def test_pic_curve_matches_loop():
    g = torch.Generator().manual_seed(2)
    lev = torch.cat([torch.zeros(1), torch.rand(6, generator=g).sort().values, torch.ones(1)]).double()
    lev[3] = lev[2]  # repeated level
    sc = torch.rand(8, generator=g, dtype=torch.float64)
    sc[-1] = 1.0
    assert torch.allclose(pic_curve(lev, sc, 101), torch.tensor(ref_curve(lev, sc, 101), dtype=torch.float64), atol=1e-12)


def test_sic_matches_per_image_loop_reference():
    post = posterior()
    x, g = images(3, seed=3)
    maps = torch.rand(3, H, W, generator=g, dtype=torch.float64)
    res = pic_metric(post, x, maps, "sic", points=51, draw=post.draw(),
                     generator=torch.Generator().manual_seed(9))
    g2 = torch.Generator().manual_seed(9)
    pixel_order(maps, g2)  # the metric draws the tie order first, then one seed mask per image
    for b in range(3):
        seed = random_mask(H, W, 0.01, g2).reshape(-1)
        order = sorted(range(H * W), key=lambda i: -float(maps[b].reshape(-1)[i]))
        xq = quantise(x[b])
        imgs = [quantise(bokeh(xq, seed.reshape(H, W)))]
        for t in PAIR_THRESHOLDS:
            keep = seed.clone()
            for i in order[: round(t * H * W)]:
                keep[i] = True
            imgs.append(quantise(bokeh(xq, keep.reshape(H, W))))
        imgs.append(xq)
        sizes = [webp_size(im) for im in imgs]
        with torch.no_grad():
            probs = [float(torch.softmax(post.members[0](im[None]), -1)[0, 0]) for im in imgs]
        lev = torch.tensor([min(max((s - sizes[0]) / (sizes[-1] - sizes[0]), 0), 1) for s in sizes])
        sc = torch.tensor([min(max(p / probs[-1], 0), 1) for p in probs], dtype=torch.float64)
        ref = ref_curve(lev.double(), sc, 51)
        assert torch.allclose(res.curves[b], torch.tensor(ref, dtype=torch.float64), atol=1e-9)


def test_perfect_beats_random_beats_inverted():
    """The score depends only on the 3x3 block: revealing it first (perfect map) brings SIC and AIC
    to 1 at a low information level; revealing it last (inverted) keeps them near 0 until the end."""
    post = posterior()
    x, g = images(8, seed=5)
    perfect = torch.zeros(8, H, W, dtype=torch.float64)
    perfect[:, 4:7, 4:7] = 1.0
    perfect += 0.01 * torch.rand(8, H, W, generator=g, dtype=torch.float64)
    rnd = torch.rand(8, H, W, generator=g, dtype=torch.float64)
    out = {}
    for kind in ("sic", "aic"):
        for info in ("webp", "msssim"):
            a = pic_metric(post, x, perfect, kind, info=info, generator=torch.Generator().manual_seed(0))
            r = pic_metric(post, x, rnd, kind, info=info, generator=torch.Generator().manual_seed(0))
            i = pic_metric(post, x, -perfect, kind, info=info, generator=torch.Generator().manual_seed(0))
            out[kind, info] = (a.auc, r.auc, i.auc)
            assert a.auc > 0.6, (kind, info, out[kind, info])
            # MS-SSIM rates a bokeh without the bright block as far from the original, so the
            # inverted map's jump comes at level ~0.4 rather than near 1
            assert i.auc < (0.2 if info == "webp" else 0.5), (kind, info, out[kind, info])
            assert a.auc > r.auc > i.auc, (kind, info, out[kind, info])
            assert len(a.kept) == 8 and a.skipped == {"information": 0, "score": 0}


def test_skips_and_errors():
    post = posterior()
    x, g = images(2)
    x[1] = 0.5  # constant image: no information to gain (and a low score)
    res = pic_metric(post, x, torch.rand(2, H, W, generator=g), "sic")
    assert res.kept.tolist() == [0] and sum(res.skipped.values()) == 1
    y_wrong = torch.tensor([1, 1])
    aic = pic_metric(post, x[:1], torch.rand(1, H, W, generator=g), "aic", labels=y_wrong[:1])
    assert len(aic.kept) == 0 and aic.skipped["score"] == 1 and np.isnan(aic.auc)
    with pytest.raises(UnsureError, match="kind"):
        pic_metric(post, x, torch.rand(2, H, W), "xic")
    with pytest.raises(UnsureError, match="thresholds"):
        pic_metric(post, x, torch.rand(2, H, W), thresholds=[0.5, 0.1])
    assert METRICS.get("sic-auc").higher_is_better and METRICS.get("aic-auc").applies_to == "class"
