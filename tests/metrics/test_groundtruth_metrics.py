"""Ground-truth localisation scores against slow references and scikit-learn, and the two
construction checks of issue 24: an exact method on a model whose uncertainty lives only in the
mask localises perfectly; the random map scores the mask share."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from unsure.attribution import make_method
from unsure.errors import UnsureError
from unsure.groundtruth import changed, paste
from unsure.groundtruth.regions import box_masks
from unsure.metrics import METRICS
from unsure.metrics.groundtruth import (JITTER, auroc, disentanglement, groundtruth_scores, mass_accuracy,
                                        pointing_game, rank_accuracy)

from _toykit import disagreeing_ensemble, region_weights


def slow_scores(m, g, jitter):
    """Loops over pixels: top-|G| share, positive mass share, pairwise AUC, top pixel."""
    v = [float(a) + float(j) for a, j in zip(m.reshape(-1), jitter.reshape(-1))]
    lab = [bool(b) for b in g.reshape(-1)]
    k = sum(lab)
    order = sorted(range(len(v)), key=lambda i: -v[i])
    rank = sum(lab[i] for i in order[:k]) / k
    pos = [max(float(a), 0.0) for a in m.reshape(-1)]
    mass = sum(p for p, b in zip(pos, lab) if b) / sum(pos) if sum(pos) > 0 else 0.0
    ins = [v[i] for i in range(len(v)) if lab[i]]
    out = [v[i] for i in range(len(v)) if not lab[i]]
    auc = sum((a > b) + 0.5 * (a == b) for a in ins for b in out) / (len(ins) * len(out))
    point = float(lab[max(range(len(v)), key=lambda i: v[i])])
    return rank, mass, auc, point


def test_against_slow_reference_and_sklearn():
    g = torch.Generator().manual_seed(0)
    B = 12
    maps = torch.randn(B, 7, 6, generator=g, dtype=torch.float64)
    maps[:4] = torch.randint(-2, 3, (4, 7, 6), generator=g).double()  # ties: the jitter decides
    maps[4] = -1.0  # no positive mass: mass 0
    masks = torch.rand(B, 7, 6, generator=g) < 0.3
    masks[:, 0, 0] = True
    masks[:, -1, -1] = False
    s = groundtruth_scores(maps, masks, seed=5)
    jitter = JITTER * torch.rand((B, 42), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for b in range(B):
        rank, mass, auc, point = slow_scores(maps[b], masks[b], jitter[b])
        assert s.rank[b].item() == pytest.approx(rank, abs=1e-12)
        assert s.mass[b].item() == pytest.approx(mass, abs=1e-12)
        assert s.auroc[b].item() == pytest.approx(auc, abs=1e-12)
        assert s.pointing[b].item() == point
    for b in range(5, B):  # no ties: scikit-learn's ROC-AUC of the raw map
        sk = roc_auc_score(masks[b].reshape(-1).numpy().astype(int), maps[b].reshape(-1).numpy())
        assert s.auroc[b].item() == pytest.approx(sk, abs=1e-9)
    assert s.mass[4].item() == 0.0


def test_known_cases_and_errors():
    m = torch.zeros(1, 4, 4, dtype=torch.float64)
    m[0, 0, :2] = torch.tensor([3.0, 2.0])
    g = torch.zeros(1, 4, 4, dtype=torch.bool)
    g[0, 0, 0] = g[0, 3, 3] = True
    assert rank_accuracy(m, g).item() == 0.5  # top-2 = (0,0) in, (0,1) out
    assert mass_accuracy(m, g).item() == pytest.approx(0.6)
    assert pointing_game(m, g).item() == 1.0
    d = disentanglement(m, m, g, ~g)
    assert d["aleatoric_on_epistemic"].item() == pytest.approx(0.4)
    assert d["epistemic_on_aleatoric"].item() == pytest.approx(0.6)
    # of the mass on the two causes: here they cover the image, so the same shares
    assert d["aleatoric_on_epistemic_of_causes"].item() == pytest.approx(0.4)
    h = torch.zeros_like(g)
    h[0, 2, 2] = True  # an epistemic cause the map leaves alone: 0 of the two causes' mass
    d = disentanglement(m, m, g, h)
    assert d["aleatoric_on_epistemic"].item() == 0 and d["aleatoric_on_epistemic_of_causes"].item() == 0
    assert d["epistemic_on_aleatoric"].item() == pytest.approx(0.6)
    assert d["epistemic_on_aleatoric_of_causes"].item() == pytest.approx(1.0)  # all of it on the aleatoric cause
    off = torch.zeros_like(m)
    off[0, 1, 1] = 1.0  # mass on neither cause: no share
    assert disentanglement(off, off, g, h)["aleatoric_on_epistemic_of_causes"].isnan().all()
    with pytest.raises(UnsureError, match="at least one pixel"):
        rank_accuracy(m, torch.zeros_like(g))
    with pytest.raises(UnsureError, match="shape"):
        auroc(m, g[:, :3])
    assert not METRICS.get("gt-disentanglement").higher_is_better and METRICS.get("gt-rank").higher_is_better


@pytest.mark.parametrize("method", ["grad", "inputgrad", "ua-backprop"])
def test_exact_method_on_a_model_whose_uncertainty_lives_in_the_mask(method):
    """Epistemic uncertainty of the +w/-w ensemble depends only on the pixels of one box; an
    inverted patch there is the cause; the (exact) gradient is 0 everywhere else, so every score
    is perfect."""
    H, box = 12, torch.tensor([[3, 5, 4]])
    g = torch.Generator().manual_seed(1)
    clean = 0.3 * torch.rand(6, 1, H, H, generator=g)  # dark images: inverting brightens the box
    boxes = box.expand(6, 3)
    x = paste(clean, boxes, ["inverted"] * 6, g)
    mask = changed(x, clean)
    assert torch.equal(mask, box_masks(boxes, H))  # every pixel of the box moved by > 0.05
    post = disagreeing_ensemble(region_weights(H, H, slice(3, 7), slice(5, 9), dtype=torch.float32) * 0.2)
    att = make_method(method).attribute(post, x, "epistemic", generator=torch.Generator().manual_seed(0))
    s = groundtruth_scores(att.maps, mask)
    for k in ("rank", "mass", "auroc", "pointing"):
        assert torch.equal(getattr(s, k), torch.ones(6, dtype=torch.float64)), (k, getattr(s, k))


def test_random_scores_the_mask_share():
    g = torch.Generator().manual_seed(2)
    n, H = 3000, 10
    masks = torch.rand(n, H, H, generator=g) < torch.rand(n, 1, 1, generator=g) * 0.4 + 0.05
    masks[:, 0, 0] = True
    x = torch.rand(n, 1, H, H, generator=g)
    post = disagreeing_ensemble(torch.ones(1, H, H) * 0.01)
    maps = make_method("random").attribute(post, x, "epistemic", generator=torch.Generator().manual_seed(3)).maps
    r = rank_accuracy(maps, masks, torch.Generator().manual_seed(4))
    share = masks.double().mean((1, 2))  # |G| / HW per image
    se = float((r - share).std()) / np.sqrt(n)
    assert abs(float(r.mean() - share.mean())) < 4 * se
    a = auroc(maps, masks, torch.Generator().manual_seed(4))
    assert abs(float(a.mean()) - 0.5) < 4 * float(a.std()) / np.sqrt(n)
