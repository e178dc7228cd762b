"""Top-k and centre-of-mass ablation on a linear logit, against float64 loops."""
from __future__ import annotations

import pytest
import torch
from _toykit import one_model

from unsure.errors import UnsureError
from unsure.metrics import METRICS, centre_ablation, topk_ablation
from unsure.ops.blur import gaussian_blur_many as gaussian_blur
from unsure.metrics.ablation import ablated_images, centre_of_mass

H = W = 8


def setup(B=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(1, H, W, generator=g, dtype=torch.float64)
    x = torch.rand(B, 1, H, W, generator=g, dtype=torch.float64)
    return w, x, g


def ref_topk(w, img, fill, m, steps, max_fraction):
    order = sorted(range(H * W), key=lambda i: -float(m.reshape(-1)[i]))
    ys, xs = [], []
    for t in range(steps + 1):
        n = round(t / steps * max_fraction * H * W)
        gone = set(order[:n])
        ys.append(sum(float(w.reshape(-1)[i]) * float((fill if i in gone else img).reshape(-1)[i])
                      for i in range(H * W)))
        xs.append(n / (H * W))
    auc = sum((ys[i] + ys[i + 1]) * (xs[i + 1] - xs[i]) / 2 for i in range(steps)) / xs[-1]
    return ys, auc


@pytest.mark.parametrize("how", ["mean", "blur"])
def test_topk_matches_loop_reference(how):
    w, x, g = setup()
    maps = torch.randn(3, H, W, generator=g, dtype=torch.float64)
    res = topk_ablation(one_model(w), x, maps, "class-logit:0", how=how, steps=10, max_fraction=0.5)
    fill = ablated_images(x, how)
    if how == "mean":
        assert torch.allclose(fill, x.mean((2, 3), keepdim=True).expand_as(x))
    else:
        assert torch.allclose(fill, gaussian_blur(x, [20 * H / 224])[0])
    for b in range(3):
        ys, auc = ref_topk(w, x[b], fill[b], maps[b], 10, 0.5)
        assert torch.allclose(res.curves[b], torch.tensor(ys, dtype=torch.float64), atol=1e-10)
        assert res.auc[b].item() == pytest.approx(auc, abs=1e-10)


def test_topk_perfect_lowest_inverted_highest_random_chance():
    """Ablating pixel i by mean imputation changes the logit by ``-w_i (x_i - mean)``; the map
    ``w (x - mean)`` removes the largest contributions first, so its curve is the lowest possible at
    every k and its negation the highest. A random order removes on average the share k/HW of the
    total change, so the expected full curve is a straight line from f(x) to f(mean image): chance
    AUC = their average. Tolerance: 4 standard errors over 600 random maps."""
    w, x, g = setup(B=1)
    post = one_model(w)
    perfect = (w * (x[0] - x[0].mean()))[0][None]
    best = topk_ablation(post, x, perfect, "class-logit:0", steps=32)
    worst = topk_ablation(post, x, -perfect, "class-logit:0", steps=32)
    n = 600
    rnd = topk_ablation(post, x.expand(n, -1, -1, -1), torch.rand(n, H, W, generator=g, dtype=torch.float64),
                        "class-logit:0", steps=32)
    assert torch.all(best.curves[0] <= rnd.curves.min(0).values + 1e-12)
    assert torch.all(worst.curves[0] >= rnd.curves.max(0).values - 1e-12)
    f_x = float((w * x[0]).sum())
    f_m = float((w * x[0].mean()).sum())
    assert rnd.mean_auc == pytest.approx((f_x + f_m) / 2, abs=4 * float(rnd.auc.std()) / n ** 0.5)
    assert best.auc[0] < rnd.mean_auc < worst.auc[0]


def test_centre_of_mass_and_boxes():
    m = torch.zeros(2, H, W, dtype=torch.float64)
    m[0, 2, 3] = 1.0
    m[0, 4, 5] = 1.0  # centre (3, 4)
    m[1] = -1.0  # no positive mass: image centre
    com = centre_of_mass(m)
    assert com[0].tolist() == [3.0, 4.0]
    assert com[1].tolist() == [3.5, 3.5]


def test_centre_ablation_matches_loop_reference_and_boxes_stay_inside():
    w, x, g = setup(B=2)
    m = torch.zeros(2, H, W, dtype=torch.float64)
    m[0, 1, 1] = 1.0  # corner-ish: boxes must be shifted inwards
    m[1, 5, 4] = 2.0
    m[1, 5, 6] = 2.0  # centre (5, 5)
    sides = [0, 2, 3, 4, 8]
    res = centre_ablation(one_model(w), x, m, "class-logit:0", sides=sides)
    fill = x.mean((2, 3), keepdim=True).expand_as(x)
    centres = [(1.0, 1.0), (5.0, 5.0)]
    for b in range(2):
        ys = []
        for s in sides:
            top = min(max(round(centres[b][0] - (s - 1) / 2), 0), H - s)
            left = min(max(round(centres[b][1] - (s - 1) / 2), 0), W - s)
            img = x[b].clone()
            for i in range(top, top + s):
                for j in range(left, left + s):
                    img[0, i, j] = fill[b, 0, i, j]
            ys.append(float((w * img).sum()))
        assert torch.allclose(res.curves[b], torch.tensor(ys, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(res.fractions, torch.tensor([s * s / 64 for s in sides], dtype=torch.float64))
    # side 8 ablates everything: both images end at the mean image
    assert torch.allclose(res.curves[:, -1], (w * fill).flatten(1).sum(1), atol=1e-10)


def test_centre_perfect_vs_inverted():
    """All logit weight in a 3x3 block: a map centred on it ablates the block first (lowest
    curve); a map centred on the opposite corner ablates it last."""
    w = torch.zeros(1, H, W, dtype=torch.float64)
    w[0, 5:8, 5:8] = 1.0
    x = torch.ones(1, 1, H, W, dtype=torch.float64)
    x[0, 0, 5:8, 5:8] = 3.0
    good = torch.zeros(1, H, W, dtype=torch.float64)
    good[0, 6, 6] = 1.0
    bad = torch.zeros(1, H, W, dtype=torch.float64)
    bad[0, 1, 1] = 1.0
    post = one_model(w)
    a = centre_ablation(post, x, good, "class-logit:0", sides=[0, 3, 6, 8])
    b = centre_ablation(post, x, bad, "class-logit:0", sides=[0, 3, 6, 8])
    assert a.auc[0] < b.auc[0]
    assert a.curves[0, 1] < a.curves[0, 0] and b.curves[0, 1] == b.curves[0, 0]


def test_bad_inputs():
    w, x, _ = setup(B=1)
    with pytest.raises(UnsureError, match="ablation"):
        topk_ablation(one_model(w), x, torch.rand(1, H, W), how="noise")
    with pytest.raises(UnsureError, match="sides"):
        centre_ablation(one_model(w), x, torch.rand(1, H, W), sides=[4, 2])
    with pytest.raises(UnsureError, match=r"\[B,H,W\]"):
        topk_ablation(one_model(w), x, torch.rand(2, H, W))
    assert not METRICS.get("topk-ablation-auc").higher_is_better
    assert not METRICS.get("centre-ablation-auc").higher_is_better
