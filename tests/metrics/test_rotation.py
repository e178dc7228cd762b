"""Rotation study: torch rotation, curves vs angle, Dice/IoU and the paired test."""
from __future__ import annotations

import math

import pytest
import torch
from _toykit import disagreeing_ensemble, ref_epistemic_2, region_weights
from scipy.stats import mannwhitneyu, wilcoxon

from unsure.errors import UnsureError
from unsure.metrics import METRICS, cam_object_overlap, compare, dice_iou, rotate, rotation_curve
from unsure.metrics.rotation import map_mask, object_mask


def test_rotate_matches_rot90_and_identity():
    x = torch.rand(3, 2, 9, 9, dtype=torch.float64)
    before = x.clone()
    for k in (1, 2, 3, -1):
        assert torch.allclose(rotate(x, 90 * k), torch.rot90(x, k, (2, 3)), atol=1e-12)
    assert torch.allclose(rotate(x, 0.0), x, atol=1e-12)
    assert torch.allclose(rotate(x, 360.0), x, atol=1e-10)
    assert torch.equal(x, before)
    per = rotate(x, [0.0, 90.0, 180.0])
    assert torch.allclose(per[1], torch.rot90(x[1], 1, (1, 2)), atol=1e-12)
    assert torch.allclose(per[2], torch.rot90(x[2], 2, (1, 2)), atol=1e-12)


def test_rotate_45_keeps_centre_and_turns_counter_clockwise():
    x = torch.zeros(1, 1, 21, 21, dtype=torch.float64)
    x[0, 0, 10, 10:] = 1.0  # a ray from the centre to the right
    r = rotate(x, 45.0)[0, 0]
    assert r[10, 10] == pytest.approx(1.0)
    # counter-clockwise on screen: output (6, 14) is 4 px up and right of the centre and samples the
    # input 4*sqrt(2) px right of the centre, on the ray
    assert r[6, 14] == pytest.approx(1.0, abs=1e-9)
    assert r[14, 14] < 1e-9  # not down-right


def test_rotation_curve_matches_manual_loop():
    w = region_weights(8, 8, slice(0, 3), slice(0, 8))  # top rows carry the disagreement
    post = disagreeing_ensemble(w)
    x = torch.zeros(2, 1, 8, 8, dtype=torch.float64)
    x[:, 0, 1, :] = torch.tensor([[1.0], [0.5]])
    angles = [0, 90, 180]
    cur = rotation_curve(post.draw(), x, angles, measures=("epistemic", "total"))
    assert cur.pred.shape == (3, 2) and cur.measures["epistemic"].shape == (3, 2)
    for i, a in enumerate(angles):
        xr = torch.rot90(x, a // 90, (2, 3))
        s = (w * xr).flatten(1).sum(1)
        for b in range(2):
            assert cur.measures["epistemic"][i, b].item() == pytest.approx(ref_epistemic_2(float(s[b])), abs=1e-9)
    # the bright row leaves the region at 90 degrees (becomes a column, partly inside) and returns
    # to row 6 at 180 (outside): epistemic is highest upright
    assert torch.all(cur.measures["epistemic"][0] > cur.measures["epistemic"][2])
    assert torch.allclose(cur.max_prob, torch.full((3, 2), 0.5, dtype=torch.float64))  # symmetric members


def ref_dice_iou(a, b):
    A = {i for i, v in enumerate(a.reshape(-1).tolist()) if v}
    B = {i for i, v in enumerate(b.reshape(-1).tolist()) if v}
    if not A and not B:
        return math.nan, math.nan
    return 2 * len(A & B) / (len(A) + len(B)), len(A & B) / len(A | B)


def test_dice_iou_against_sets_and_known_cases():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(30, 6, 6, generator=g) < 0.4, torch.rand(30, 6, 6, generator=g) < 0.3
    a[0], b[0] = False, False
    d, i = dice_iou(a, b)
    for k in range(30):
        rd, ri = ref_dice_iou(a[k], b[k])
        if math.isnan(rd):
            assert math.isnan(d[k]) and math.isnan(i[k])
        else:
            assert d[k].item() == pytest.approx(rd) and i[k].item() == pytest.approx(ri)
            assert d[k].item() == pytest.approx(2 * ri / (1 + ri))


def test_cam_overlap_perfect_inverted_random():
    """Perfect map = the image: Dice 1; inverted: 0. A random map thresholded at 0.5 after min-max
    normalisation marks each pixel with probability ~1/2 independently of the object, so Dice
    ~ 2 (q/2) / (q + 1/2) for an object of share q (here q = 0.25 -> 1/3); tolerance 0.03 over
    500 images (per-image std ~0.08, SE 0.004, plus the min-max edge effect of 2 pixels in 64)."""
    g = torch.Generator().manual_seed(2)
    x = torch.zeros(500, 1, 8, 8)
    x[:, :, 2:6, 2:6] = 0.9  # object share 16/64
    perfect = cam_object_overlap(x[:, 0], x)
    inverted = cam_object_overlap(-x[:, 0], x)
    assert torch.all(perfect[0] == 1) and torch.all(perfect[1] == 1)
    assert torch.all(inverted[0] == 0)
    rnd = cam_object_overlap(torch.rand(500, 8, 8, generator=g), x)
    assert float(rnd[0].mean()) == pytest.approx(1 / 3, abs=0.03)
    assert object_mask(x)[0].sum() == 16 and map_mask(x[:, 0])[0].sum() == 16


def test_compare_uses_scipy_tests():
    g = torch.Generator().manual_seed(4)
    a = torch.rand(80, generator=g, dtype=torch.float64)
    b = (a + 0.2 + 0.05 * torch.randn(80, generator=g, dtype=torch.float64)).clamp(0, 1)
    c = compare(a, b)
    ref = wilcoxon(a.numpy(), b.numpy(), zero_method="wilcox")
    assert c.test == "wilcoxon" and c.p_value == pytest.approx(ref.pvalue) and c.p_value < 1e-6
    u = compare(a, b, paired=False)
    assert u.p_value == pytest.approx(mannwhitneyu(a.numpy(), b.numpy()).pvalue)
    same = compare(a, a.clone())
    assert same.p_value == 1.0
    a2 = a.clone()
    a2[0] = float("nan")
    assert compare(a2, b).n == 79


def test_errors_and_directions():
    with pytest.raises(UnsureError, match="degrees"):
        rotate(torch.rand(2, 1, 4, 4), [1.0, 2.0, 3.0])
    with pytest.raises(UnsureError, match="maps"):
        cam_object_overlap(torch.rand(2, 4, 5), torch.rand(2, 1, 4, 4))
    assert METRICS.get("cam-dice").higher_is_better and METRICS.get("cam-iou").applies_to == "class"
