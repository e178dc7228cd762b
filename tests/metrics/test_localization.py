"""Localisation scores against scikit-learn, known cases, and the decoy data set."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, roc_auc_score

from unsure.errors import UnsureError
from unsure.metrics import METRICS, localization_scores, make_decoy
from unsure.metrics.localization import minmax


def sk_scores(m, mask):
    """scikit-learn ROC-AUC; F1 maximised over every threshold the map takes (loop); MAE by loop."""
    m = m.reshape(-1).double().numpy()
    lab = mask.reshape(-1).numpy().astype(int)
    lo, hi = m.min(), m.max()
    norm = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    auc = roc_auc_score(lab, norm)
    f1 = max(f1_score(lab, (norm >= t).astype(int), zero_division=0) for t in np.unique(norm))
    mae = sum(abs(float(a) - float(b)) for a, b in zip(norm, lab)) / len(lab)
    return auc, f1, mae


def test_against_sklearn_with_ties_and_skips():
    g = torch.Generator().manual_seed(0)
    B = 20
    maps = torch.randint(0, 5, (B, 8, 8), generator=g).double()  # many ties
    maps[:5] = torch.randn(5, 8, 8, generator=g, dtype=torch.float64)
    masks = torch.rand(B, 8, 8, generator=g) < 0.3
    masks[3] = False  # empty: skipped
    masks[7] = True  # full: skipped
    maps[9] = 2.0  # constant map: normalised to zeros, AUC 0.5
    res = localization_scores(maps, masks)
    assert res.skipped == 2 and 3 not in res.kept.tolist() and 7 not in res.kept.tolist()
    assert len(res.kept) == B - 2
    for i, b in enumerate(res.kept.tolist()):
        auc, f1, mae = sk_scores(maps[b], masks[b])
        assert res.auc[i].item() == pytest.approx(auc, abs=1e-12)
        assert res.f1[i].item() == pytest.approx(f1, abs=1e-12)
        assert res.mae[i].item() == pytest.approx(mae, abs=1e-12)
    assert res.auc[res.kept.tolist().index(9)].item() == 0.5


def test_perfect_inverted_random():
    """Perfect map = the mask: AUC 1, F1 1, MAE 0; inverted: AUC 0. A random continuous map has
    ROC-AUC 0.5 in expectation; per image with 64 pixels and ~19 positives its std is
    sqrt((P+N+1)/(12 P N)) = 0.079, so the mean of 400 images has standard error 0.004; tolerance
    0.02 = 5 SE."""
    g = torch.Generator().manual_seed(1)
    masks = torch.rand(400, 8, 8, generator=g) < 0.3
    perfect = localization_scores(masks.double(), masks)
    assert torch.all(perfect.auc == 1) and torch.all(perfect.f1 == 1) and torch.all(perfect.mae == 0)
    inverted = localization_scores(-masks.double(), masks)
    assert torch.all(inverted.auc == 0)
    rnd = localization_scores(torch.rand(400, 8, 8, generator=g), masks)
    assert rnd.summary()["auc"] == pytest.approx(0.5, abs=0.02)
    assert rnd.summary()["f1"] < perfect.summary()["f1"]


def test_minmax_and_errors():
    m = torch.tensor([[[1.0, 3.0], [2.0, 5.0]], [[4.0, 4.0], [4.0, 4.0]]])
    assert torch.allclose(minmax(m)[0], torch.tensor([[0.0, 0.5], [0.25, 1.0]]))
    assert torch.all(minmax(m)[1] == 0)
    with pytest.raises(UnsureError, match="masks"):
        localization_scores(torch.rand(2, 4, 4), torch.ones(2, 4, 5, dtype=torch.bool))
    all_skipped = localization_scores(torch.rand(2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool))
    assert all_skipped.skipped == 2 and np.isnan(all_skipped.summary()["auc"])


def test_make_decoy():
    x = torch.rand(10, 1, 8, 8)
    y = torch.arange(10)
    before = x.clone()
    xd, masks = make_decoy(x, y, size=3)
    assert torch.equal(x, before)
    assert masks.sum((1, 2)).tolist() == [9] * 10 and masks[:, :3, :3].all()
    assert torch.allclose(xd[:, 0, 0, 0], y.float() / 9)
    assert torch.equal(xd[:, :, 3:], x[:, :, 3:])
    xd2, m2 = make_decoy(x, y % 2, size=2, corner="bottom-right", num_classes=2)
    assert m2[:, 6:, 6:].all() and torch.allclose(xd2[:, 0, 7, 7], (y % 2).float())
    # a decoy patch is perfectly localised by a map equal to the patch
    assert torch.all(localization_scores(masks.double(), masks).auc == 1)
    with pytest.raises(UnsureError, match="corner"):
        make_decoy(x, y, corner="middle")
    with pytest.raises(UnsureError, match="labels"):
        make_decoy(x, y, num_classes=5)


def test_directions():
    assert METRICS.get("loc-auc").higher_is_better and METRICS.get("loc-f1").higher_is_better
    assert not METRICS.get("loc-mae").higher_is_better
