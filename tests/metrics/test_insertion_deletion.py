"""Insertion / deletion curves on linear models with known curves, against float64 loops."""
from __future__ import annotations

import pytest
import torch
from _toykit import disagreeing_ensemble, one_model, ref_epistemic_2, region_weights

from unsure.errors import UnsureError
from unsure.metrics import METRICS, deletion_curve, insertion_curve
from unsure.ops.blur import gaussian_blur_many as gaussian_blur

H = W = 8


def setup(B=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(1, H, W, generator=g, dtype=torch.float64)
    x = torch.rand(B, 1, H, W, generator=g, dtype=torch.float64)
    s = torch.rand(B, 1, H, W, generator=g, dtype=torch.float64)
    return w, x, s, g


def ref_curve(w, img, sub, m, steps, to_sub=False):
    """Loops in float64: logit_0 = sum(w * image) after moving the top-n pixels."""
    HW = H * W
    order = sorted(range(HW), key=lambda i: -float(m.reshape(-1)[i]))
    src, dst = (img, sub) if to_sub else (sub, img)
    ys = []
    for t in range(steps + 1):
        n = round(t / steps * HW)
        moved = set(order[:n])
        ys.append(sum(float(w.reshape(-1)[i]) * float((dst if i in moved else src).reshape(-1)[i])
                      for i in range(HW)))
    xs = [round(t / steps * HW) / HW for t in range(steps + 1)]
    auc = sum((ys[i] + ys[i + 1]) * (xs[i + 1] - xs[i]) / 2 for i in range(steps))
    return ys, auc


@pytest.mark.parametrize("steps", [64, 10])
def test_insertion_matches_loop_reference(steps):
    w, x, s, g = setup()
    maps = torch.randn(4, H, W, generator=g, dtype=torch.float64)
    res = insertion_curve(one_model(w), x, maps, "class-logit:0", steps=steps, substrate=s)
    for b in range(4):
        ys, auc = ref_curve(w, x[b], s[b], maps[b], steps)
        assert torch.allclose(res.curves[b], torch.tensor(ys, dtype=torch.float64), atol=1e-10)
        assert res.auc[b].item() == pytest.approx(auc, abs=1e-10)


def test_deletion_matches_loop_reference():
    w, x, _, g = setup()
    maps = torch.randn(4, H, W, generator=g, dtype=torch.float64)
    res = deletion_curve(one_model(w), x, maps, "class-logit:0", steps=16)
    for b in range(4):
        ys, auc = ref_curve(w, x[b], torch.zeros_like(x[b]), maps[b], 16, to_sub=True)
        assert torch.allclose(res.curves[b], torch.tensor(ys, dtype=torch.float64), atol=1e-10)
        assert res.auc[b].item() == pytest.approx(auc, abs=1e-10)


def test_perfect_best_inverted_worst_random_chance():
    """For a linear logit the perfect insertion map is the contribution ``w (x - s)``: inserting
    greedily maximises the curve at every step, so no map beats it; its negation is the worst. A
    random order moves on average a share n/HW of the total change, so the expected curve is the
    straight line and the chance AUC is ``(f(s) + f(x)) / 2`` exactly. Over 600 random maps the
    tolerance is 4 standard errors of the mean (computed from the sample)."""
    w, x, s, g = setup(B=1)
    post = one_model(w)
    perfect = (w * (x[0] - s[0]))[0][None]  # [1,H,W]
    best = insertion_curve(post, x, perfect, "class-logit:0", substrate=s, steps=64)
    worst = insertion_curve(post, x, -perfect, "class-logit:0", substrate=s, steps=64)
    n = 600
    xr, sr = x.expand(n, -1, -1, -1), s.expand(n, -1, -1, -1)
    rnd = insertion_curve(post, xr, torch.rand(n, H, W, generator=g, dtype=torch.float64),
                          "class-logit:0", substrate=sr, steps=64)
    assert torch.all(best.curves[0] >= rnd.curves.max(0).values - 1e-12)
    assert torch.all(worst.curves[0] <= rnd.curves.min(0).values + 1e-12)
    f_s, f_x = float((w * s[0]).sum()), float((w * x[0]).sum())
    se = float(rnd.auc.std() / n ** 0.5)
    assert rnd.mean_auc == pytest.approx((f_s + f_x) / 2, abs=4 * se)
    assert best.auc[0] > rnd.mean_auc + 10 * se and worst.auc[0] < rnd.mean_auc - 10 * se
    # deletion: the perfect map is w x (largest drop first), the lowest curve
    d_best = deletion_curve(post, x, (w * x[0]), "class-logit:0", steps=64)
    d_rnd = deletion_curve(post, xr, torch.rand(n, H, W, generator=g, dtype=torch.float64),
                           "class-logit:0", steps=64)
    assert torch.all(d_best.curves[0] <= d_rnd.curves.min(0).values + 1e-12)
    assert d_rnd.mean_auc == pytest.approx(f_x / 2, abs=4 * float(d_rnd.auc.std() / n ** 0.5))


def test_class_target_stays_on_the_original_prediction():
    """Logits ``[a, 0]``: deleting the eight bright pixels first flips the prediction from class 0
    to class 1; the ``"class"`` curve must keep following class 0's probability sigmoid(a)."""
    w = torch.ones(1, H, W, dtype=torch.float64)
    x = torch.full((1, 1, H, W), -0.1, dtype=torch.float64)
    x[0, 0, 0, :] = 1.0  # a = 8 - 5.6 = 2.4 > 0: class 0 predicted
    maps = x[:, 0].clone()  # bright pixels deleted first
    post = one_model(w)
    res = deletion_curve(post, x, maps, "class", steps=8)
    logit = deletion_curve(post, x, maps, "class-logit:0", steps=8).curves
    assert logit[0, 0] > 0 and logit[0, 1] < 0  # the prediction flips after one step
    assert torch.allclose(res.curves, torch.sigmoid(logit), atol=1e-12)


def test_uncertainty_target_curve_is_the_uncertainty():
    w = region_weights(H, W, slice(2, 5), slice(2, 6))
    post = disagreeing_ensemble(w)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 1, H, W, generator=g, dtype=torch.float64)
    maps = torch.randn(3, H, W, generator=g, dtype=torch.float64)
    res = deletion_curve(post, x, maps, "epistemic", steps=8)
    logit = deletion_curve(one_model(w), x, maps, "class-logit:0", steps=8).curves
    ref = torch.tensor([[ref_epistemic_2(float(a)) for a in row] for row in logit], dtype=torch.float64)
    assert torch.allclose(res.curves, ref, atol=1e-10)
    assert torch.all(res.curves[:, -1].abs() < 1e-12)  # all pixels 0: members agree


def test_default_substrate_is_blur_and_batches_agree():
    w, x, _, g = setup(B=3)
    maps = torch.randn(3, H, W, generator=g, dtype=torch.float64)
    a = insertion_curve(one_model(w), x, maps, "class-logit:0", steps=8, batch_size=5)
    b = insertion_curve(one_model(w), x, maps, "class-logit:0", steps=8,
                        substrate=gaussian_blur(x, [H / 8])[0])
    assert torch.allclose(a.curves, b.curves, atol=1e-12)
    assert torch.allclose(a.curves[:, -1], (w * x).flatten(1).sum(1), atol=1e-12)
    assert torch.allclose(a.fractions, torch.linspace(0, 1, 9, dtype=torch.float64))


def test_bad_inputs():
    w, x, _, _ = setup(B=2)
    with pytest.raises(UnsureError, match=r"\[B,H,W\]"):
        insertion_curve(one_model(w), x, torch.rand(2, 1, H, W), "class")
    with pytest.raises(UnsureError, match="steps"):
        deletion_curve(one_model(w), x, torch.rand(2, H, W), "class", steps=0)


def test_directions_registered():
    assert METRICS.get("insertion-auc").higher_is_better
    assert not METRICS.get("deletion-auc").higher_is_better
    assert METRICS.get("deletion-auc").applies_to == "both"
