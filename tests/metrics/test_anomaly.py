"""Anomaly-patch localisation: patch pasting, selection, exhaustive window search and ADA."""
from __future__ import annotations

import pytest
import torch
from _toykit import disagreeing_ensemble, ref_epistemic_2, region_weights

from unsure.errors import UnsureError
from unsure.metrics import METRICS, anomaly_localisation, make_anomalies, select_most_increased
from unsure.metrics.anomaly import best_windows, box_iou


def ref_localise(m, box, p):
    """Float64 loops: every window's mean, the first maximum, IoU by pixel sets."""
    H, W = m.shape
    best, arg = None, None
    for i in range(H - p + 1):
        for j in range(W - p + 1):
            s = sum(float(m[a, b]) for a in range(i, i + p) for b in range(j, j + p)) / (p * p)
            if best is None or s > best:
                best, arg = s, (i, j)
    pred = {(a, b) for a in range(arg[0], arg[0] + p) for b in range(arg[1], arg[1] + p)}
    true = {(a, b) for a in range(int(box[0]), int(box[2])) for b in range(int(box[1]), int(box[3]))}
    return len(pred & true) / len(pred | true), arg


def test_make_anomalies_pastes_donor_square_at_same_place():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(40, 1, 12, 12, generator=g)
    donors = torch.arange(7, dtype=torch.float32).add(1).div(10).reshape(7, 1, 1, 1).expand(7, 1, 12, 12)
    before = x.clone()
    xa, boxes = make_anomalies(x, donors.contiguous(), patch=4, generator=g)
    assert torch.equal(x, before)  # input not modified
    for b in range(40):
        t, l, bo, r = boxes[b].tolist()
        assert bo - t == 4 and r - l == 4 and 0 <= t and bo <= 12 and 0 <= l and r <= 12
        inside = torch.zeros(12, 12, dtype=torch.bool)
        inside[t:bo, l:r] = True
        assert torch.equal(xa[b, 0][~inside], x[b, 0][~inside])
        vals = xa[b, 0][inside].unique()
        assert len(vals) == 1 and any(torch.isclose(vals[0], donors[:, 0, 0, 0]))
    # positions cover the whole range
    assert boxes[:, 0].min() == 0 and boxes[:, 0].max() == 8


def test_make_anomalies_is_seeded():
    x, tr = torch.rand(5, 1, 8, 8), torch.rand(9, 1, 8, 8)
    a1, b1 = make_anomalies(x, tr, 3, torch.Generator().manual_seed(3))
    a2, b2 = make_anomalies(x, tr, 3, torch.Generator().manual_seed(3))
    assert torch.equal(a1, a2) and torch.equal(b1, b2)


def test_select_most_increased_ranks_by_epistemic_rise():
    w = region_weights(8, 8, slice(2, 5), slice(2, 5))
    post = disagreeing_ensemble(w)
    x = torch.zeros(6, 1, 8, 8, dtype=torch.float64)
    xa = x.clone()
    rises = [0.5, 3.0, 0.0, 1.5, 2.0, 0.1]  # sum of w*x after pasting
    for b, r in enumerate(rises):
        xa[b, 0, 3, 3] = r
    idx = select_most_increased(post, x, xa, n=3)
    assert idx.tolist() == [1, 4, 3]
    ref = sorted(range(6), key=lambda b: -ref_epistemic_2(rises[b]))[:3]
    assert idx.tolist() == ref


@pytest.mark.parametrize("p", [3, 4])
def test_perfect_and_inverted_maps(p):
    g = torch.Generator().manual_seed(0)
    x, tr = torch.rand(30, 1, 12, 12, generator=g), torch.rand(10, 1, 12, 12, generator=g)
    _, boxes = make_anomalies(x, tr, p, g)
    perfect = torch.zeros(30, 12, 12)
    for b, (t, l, bo, r) in enumerate(boxes.tolist()):
        perfect[b, t:bo, l:r] = 1.0
    res = anomaly_localisation(perfect, boxes, p)
    assert res.ada == 1.0 and torch.all(res.iou == 1)
    assert torch.equal(res.pred_boxes, boxes)
    inv = anomaly_localisation(-perfect, boxes, p)  # worst: a window that misses the box entirely
    assert inv.ada == 0.0 and torch.all(inv.iou == 0)


def test_against_loop_reference_float64():
    g = torch.Generator().manual_seed(5)
    maps = torch.randn(12, 9, 11, generator=g, dtype=torch.float64)
    boxes = torch.stack([torch.randint(0, 6, (12,), generator=g), torch.randint(0, 8, (12,), generator=g)], 1)
    boxes = torch.cat([boxes, boxes + 4], 1)
    res = anomaly_localisation(maps, boxes, 4)
    for b in range(12):
        iou, arg = ref_localise(maps[b], boxes[b], 4)
        assert res.iou[b].item() == pytest.approx(iou, abs=1e-12)
        assert tuple(res.pred_boxes[b, :2].tolist()) == arg
    assert res.ada == pytest.approx(sum(ref_localise(maps[b], boxes[b], 4)[0] > 0.5 for b in range(12)) / 12)


def test_random_maps_get_chance_iou():
    """Random maps are independent of the box, so their expected IoU is ``sum_pos P(pos) IoU(pos,
    box)`` with ``P`` the law of the argmax window of pooled noise. That law is *not* uniform
    (edge windows have fewer overlapping competitors: corners win ~1.7x as often as the mean), so
    ``P`` is estimated from 40k independent noise maps (error < 0.001 on the chance value).
    Per-image IoU has std ~0.18, so over n = 3000 images the standard error is 0.0032; the
    tolerance 0.015 is ~4.5 SE."""
    n, p, H = 3000, 4, 12
    g = torch.Generator().manual_seed(11)
    top = torch.randint(0, H - p + 1, (n,), generator=g)
    left = torch.randint(0, H - p + 1, (n,), generator=g)
    boxes = torch.stack([top, left, top + p, left + p], 1)
    res = anomaly_localisation(torch.rand(n, H, H, generator=g), boxes, p)
    side = H - p + 1
    noise_pred = best_windows(torch.rand(40000, H, H, generator=g), p)
    prob = torch.bincount(noise_pred[:, 0] * side + noise_pred[:, 1], minlength=side * side).double() / 40000
    pos = torch.tensor([[i, j, i + p, j + p] for i in range(side) for j in range(side)])
    chance = torch.stack([(prob * box_iou(pos, boxes[b].expand(len(pos), 4))).sum() for b in range(n)]).mean()
    assert res.mean_iou == pytest.approx(float(chance), abs=0.015)
    assert res.ada < 0.15  # chance ADA is ~5/81 = 0.06


def test_bad_inputs_raise():
    with pytest.raises(UnsureError, match=r"\[B,4\]"):
        anomaly_localisation(torch.rand(3, 8, 8), torch.zeros(2, 4, dtype=torch.long), 3)
    with pytest.raises(UnsureError, match="patch"):
        anomaly_localisation(torch.rand(3, 8, 8), torch.zeros(3, 4, dtype=torch.long), 9)
    with pytest.raises(UnsureError, match="B,H,W"):
        anomaly_localisation(torch.rand(3, 1, 8, 8), torch.zeros(3, 4, dtype=torch.long), 3)
    with pytest.raises(UnsureError, match="x_train"):
        make_anomalies(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 7, 7), 3)


def test_registered_with_direction():
    assert METRICS.get("ada").higher_is_better and METRICS.get("ada").applies_to == "uncertainty"
    assert METRICS.get("anomaly-iou").arrow == "↑"
