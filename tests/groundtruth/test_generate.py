"""The construction of the ground-truth data, checked independently: masks are exactly the
pixels that changed (numpy loops), causes sit in disjoint boxes, the labels of planted training
images follow the blend weight, each epistemic kind does what it says, and the validity check
accepts a cause the model does respond to and rejects one it ignores."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from unsure.errors import UnsureError
from unsure.groundtruth import Design, cause_set, training_set
from unsure.groundtruth.ambiguity import ambiguous_labels, paired_class
from unsure.groundtruth.controls import control_partners
from unsure.groundtruth.epistemic import EPISTEMIC_KINDS
from unsure.groundtruth.store import load_causes, save_causes
from unsure.groundtruth.validity import check_validity

sys.path.insert(0, str(Path(__file__).parents[1] / "metrics"))
from _toykit import disagreeing_ensemble, region_weights  # noqa: E402


def numpy_changed(a, b):
    a, b = np.asarray(a), np.asarray(b)
    out = np.zeros((a.shape[0], a.shape[2], a.shape[3]), dtype=bool)
    for i in range(a.shape[0]):
        for r in range(a.shape[2]):
            for c in range(a.shape[3]):
                out[i, r, c] = any(abs(float(a[i, k, r, c]) - float(b[i, k, r, c])) > 0.05 for k in range(a.shape[1]))
    return out


def inside(box, H):
    t, l, s = (int(v) for v in box)
    m = np.zeros((H, H), dtype=bool)
    m[t:t + s, l:l + s] = True
    return m


@pytest.mark.parametrize("C,H", [(1, 12), (3, 10)])
def test_masks_equal_the_changed_pixels(C, H):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, C, H, H, generator=g)
    y = torch.arange(16) % 4
    other = torch.rand(5, 1, 8, 8, generator=g)
    cs = cause_set(x, y, Design(), torch.Generator().manual_seed(1), other, num_classes=4)
    assert torch.equal(cs.clean, x)
    ma, me = numpy_changed(cs.aleatoric, x), numpy_changed(cs.epistemic, x)
    assert np.array_equal(cs.mask_aleatoric.numpy(), ma) and np.array_equal(cs.mask_epistemic.numpy(), me)
    assert np.array_equal(numpy_changed(cs.both, x), ma | me)  # both = the two causes, nothing else
    for i in range(16):
        ba, be = inside(cs.box_aleatoric[i], H), inside(cs.box_epistemic[i], H)
        assert not (ba & be).any()  # different places
        assert not (ma[i] & ~ba).any() and not (me[i] & ~be).any()  # changes only inside the boxes
        assert np.array_equal(cs.both[i].numpy()[:, ~be], cs.aleatoric[i].numpy()[:, ~be])
        assert np.array_equal(cs.both[i].numpy()[:, be], cs.epistemic[i].numpy()[:, be])
        assert int(cs.partner_y[i]) != int(y[i])
    assert sorted(cs.kind.bincount().tolist()) == [4, 4, 4, 4]  # kinds by turns


def test_kinds_and_blend_by_hand():
    g = torch.Generator().manual_seed(3)
    region = torch.rand(4, 2, 5, 5, generator=g)
    assert torch.equal(EPISTEMIC_KINDS.get("inverted")(region, g), 1 - region)
    s = EPISTEMIC_KINDS.get("scrambled")(region, g)
    for i in range(4):  # a permutation of the pixels, the same for both channels
        assert torch.equal(s[i].reshape(2, -1).sort(1).values, region[i].reshape(2, -1).sort(1).values)
        order = [int((region[i, 0].reshape(-1) == v).nonzero()[0]) for v in s[i, 0].reshape(-1)]
        assert torch.equal(s[i, 1].reshape(-1), region[i, 1].reshape(-1)[order])
    t = EPISTEMIC_KINDS.get("texture")(region, g)
    assert t.shape == region.shape and t.min() >= 0 and t.max() <= 1
    o = EPISTEMIC_KINDS.get("other-data")(region, g, torch.rand(3, 1, 8, 8, generator=g))
    assert o.shape == region.shape and torch.equal(o[:, 0], o[:, 1])  # grey repeated to the channels
    x = torch.rand(30, 1, 8, 8, generator=g)
    y = torch.arange(30) % 3
    cs = cause_set(x, y, Design(test_weight=0.25), torch.Generator().manual_seed(4), num_classes=3,
                   other=torch.rand(3, 1, 8, 8))
    for i in range(30):
        t0, l0, s0 = (int(v) for v in cs.box_aleatoric[i])
        own = x[i, :, t0:t0 + s0, l0:l0 + s0]
        blended = cs.aleatoric[i, :, t0:t0 + s0, l0:l0 + s0]
        partner = (blended - 0.75 * own) / 0.25
        j = [k for k in range(30) if torch.allclose(x[k, :, t0:t0 + s0, l0:l0 + s0], partner, atol=1e-5)]
        assert j and int(y[j[0]]) == int(cs.partner_y[i])  # the blend is 0.75 own + 0.25 a partner image


def test_training_labels_follow_the_blend_weight():
    g = torch.Generator().manual_seed(5)
    n = 20000
    y, yp = torch.zeros(n, dtype=torch.int64), torch.ones(n, dtype=torch.int64)
    w = torch.rand(n, generator=g)
    lab = ambiguous_labels(y, yp, w, g)
    for lo in (0.0, 0.25, 0.5, 0.75):  # P(partner | w) = w in every bin
        sel = (w >= lo) & (w < lo + 0.25)
        assert abs(float((lab[sel] == 1).double().mean()) - (lo + 0.125)) < 0.03
    x = torch.rand(400, 1, 10, 10, generator=g)
    yy = torch.arange(400) % 5
    x2, y2, planted, *_ = training_set(x, yy, Design(train_share=0.4), torch.Generator().manual_seed(6))
    assert abs(float(planted.double().mean()) - 0.4) < 0.08
    assert torch.equal(x2[~planted], x[~planted]) and torch.equal(y2[~planted], yy[~planted])
    assert (x2[planted] != x[planted]).flatten(1).any(1).all()
    a, b, *_ = training_set(x, yy, Design(), torch.Generator().manual_seed(7))
    c, d, *_ = training_set(x, yy, Design(), torch.Generator().manual_seed(7))
    assert torch.equal(a, c) and torch.equal(b, d)  # seeded


def test_label_distributions_match_the_blend():
    # every image of class k is the constant (k + 1) / 8, so inside a blended box the pixel value
    # tells the weight and the partner class: x = (1 - w) a + w b, with a, b the two classes' values
    K, n = 6, 600
    yy = torch.arange(n) % K
    x = ((yy.float() + 1) / 8)[:, None, None, None].expand(n, 1, 12, 12).clone()
    ts = training_set(x, yy, Design(train_share=0.5), torch.Generator().manual_seed(3), K)
    assert torch.allclose(ts.probs.sum(1), torch.ones(n))
    clean = ~ts.planted
    assert torch.equal(ts.probs[clean], torch.nn.functional.one_hot(yy[clean], K).float())
    for i in ts.planted.nonzero().squeeze(1).tolist():
        changed = (ts.x[i] - x[i]).abs() > 1e-6
        v = float(ts.x[i][changed][0])
        a = (float(yy[i]) + 1) / 8
        others = [c for c in range(K) if c != int(yy[i]) and ts.probs[i, c] > 0]
        assert len(others) == 1
        b = (others[0] + 1) / 8
        assert abs((v - a) / (b - a) - float(ts.probs[i, others[0]])) < 1e-5
        assert abs(float(ts.probs[i, yy[i]]) - (1 - float(ts.probs[i, others[0]]))) < 1e-6
    # and the drawn labels follow them: the partner's class in about sum(w) of the planted images
    part = ts.planted & (ts.y != yy)
    expected = float(ts.probs[ts.planted].sum(0).sum() - ts.probs[ts.planted][torch.arange(int(ts.planted.sum())), yy[ts.planted]].sum())
    assert abs(int(part.sum()) - expected) < 4 * expected ** 0.5


def test_spread_ambiguity_labels():
    # "spread": the blend's mass w goes evenly to the K - 1 other classes; the pixels are blended
    # exactly as with "pair" (the same draws), only the labels differ
    K, n = 5, 3000
    g = torch.Generator().manual_seed(11)
    yy = torch.arange(n) % K
    x = torch.rand(n, 1, 10, 10, generator=g)
    pair = training_set(x, yy, Design(train_share=0.5), torch.Generator().manual_seed(4), K)
    ts = training_set(x, yy, Design(train_share=0.5, ambiguity="spread"), torch.Generator().manual_seed(4), K)
    assert torch.equal(ts.x, pair.x) and torch.equal(ts.planted, pair.planted)
    assert torch.allclose(ts.probs.sum(1), torch.ones(n))
    idx = ts.planted.nonzero().squeeze(1)
    own = ts.probs[idx, yy[idx]]  # [m] 1 - w, as the pair design's own-class mass
    assert torch.allclose(own, pair.probs[idx, yy[idx]])
    rest = ts.probs[idx].clone()
    rest[torch.arange(len(idx)), yy[idx]] = float("nan")
    for i in range(len(idx)):  # every other class gets (1 - own) / (K - 1)
        r = rest[i][~rest[i].isnan()]
        assert torch.allclose(r, torch.full((K - 1,), float(1 - own[i]) / (K - 1)))
    # the drawn labels: another class in about sum(w) of the blended images, each equally often
    moved = ts.y[idx] != yy[idx]
    expect = float((1 - own).sum())
    assert abs(int(moved.sum()) - expect) < 4 * expect ** 0.5
    shift = (ts.y[idx][moved] - yy[idx][moved]) % K  # 1..K-1, uniform
    counts = torch.bincount(shift, minlength=K)[1:].double()
    assert counts.min() > 0.8 * counts.mean()
    with pytest.raises(UnsureError, match="unknown ambiguity"):
        Design(ambiguity="smear").check()


def test_save_load_and_bad_designs(tmp_path):
    x = torch.rand(8, 1, 10, 10)
    cs = cause_set(x, torch.arange(8) % 2, Design(kinds=("inverted", "texture")), torch.Generator().manual_seed(0))
    save_causes(cs, tmp_path / "c.npz", {"base": "test"})
    back, meta = load_causes(tmp_path / "c.npz")
    assert meta["base"] == "test" and back.kinds == ("inverted", "texture")
    assert all(torch.equal(a, b) for a, b in zip(cs.tensors().values(), back.tensors().values()))
    with pytest.raises(UnsureError, match="epistemic cause kind"):
        Design(kinds=("plaid",)).check()
    with pytest.raises(UnsureError, match="do not fit"):
        cause_set(x, torch.arange(8) % 2, Design(aleatoric_share=0.7), torch.Generator())
    with pytest.raises(UnsureError, match="other data set"):
        cause_set(x, torch.arange(8) % 2, Design(kinds=("other-data",)), torch.Generator())


def test_validity_follows_the_model():
    """The +w/-w ensemble's uncertainty depends only on one corner box: the epistemic patches
    placed there raise epistemic uncertainty (valid); blends elsewhere change nothing (invalid)."""
    H = 12
    post = disagreeing_ensemble(region_weights(H, H, slice(0, 4), slice(0, 4), dtype=torch.float32) * 0.3)
    x = torch.zeros(10, 1, H, H)
    x[:, :, 5:, 5:] = torch.rand(10, 1, 7, 7, generator=torch.Generator().manual_seed(0))
    cs = cause_set(x, torch.arange(10) % 2, Design(kinds=("inverted",)), torch.Generator().manual_seed(1))
    cs.epistemic = x.clone()
    cs.epistemic[:, :, :4, :4] = 1.0  # the cause in the model's box
    cs.mask_epistemic = torch.zeros(10, H, H, dtype=torch.bool)
    cs.mask_epistemic[:, :4, :4] = True
    away = (cs.box_aleatoric[:, 0] >= 4) | (cs.box_aleatoric[:, 1] >= 4)  # blends outside the box
    v = check_validity(post.draw(), cs)
    assert v.epistemic.all()
    assert away.any() and not v.aleatoric[away].any()
    sh = v.shares(cs.kind, cs.kinds)  # each cause of the both-cause images on its own, and both at once
    for key, flags in (("both_aleatoric", v.both_aleatoric), ("both_epistemic", v.both_epistemic),
                       ("both", v.both_aleatoric & v.both_epistemic)):
        assert sh[key]["valid"] == int(flags.sum()) and sh[key]["images"] == 10


def test_validity_compare_rules():
    """Hand-set uncertainties: a patch that doubles a small epistemic level but adds fewer nats
    than it adds to aleatoric fails in nats and passes in proportion."""
    from unsure.groundtruth.validity import _valid

    t = lambda *v: torch.tensor(v)  # noqa: E731
    u = {"clean": {"total": t(0.50), "aleatoric": t(0.45), "epistemic": t(0.05)},
         "x": {"total": t(0.80), "aleatoric": t(0.60), "epistemic": t(0.20)},
         "r": {"total": t(0.50), "aleatoric": t(0.45), "epistemic": t(0.05)}}
    # epistemic: +0.15 nats (x4), aleatoric: +0.15 nats (x1.33)
    assert not _valid(u, "x", "r", "clean", "epistemic", "aleatoric", 0.05, 0.5, "nats")
    assert _valid(u, "x", "r", "clean", "epistemic", "aleatoric", 0.05, 0.5, "ratio")
    assert not _valid(u, "x", "r", "clean", "epistemic", "aleatoric", 0.2, 0.5, "ratio")  # too small a rise
    u["r"]["total"] = t(0.75)  # restoring leaves most of the rise: the mask misses the cause
    assert not _valid(u, "x", "r", "clean", "epistemic", "aleatoric", 0.05, 0.5, "ratio")
    with pytest.raises(UnsureError, match="compare"):
        check_validity(None, None, compare="odds")


def test_paired_partners():
    from unsure.groundtruth.ambiguity import paired_class, partners

    y = torch.arange(200) % 10
    part = partners(y, 10, torch.Generator().manual_seed(0), "paired")
    assert torch.equal(y[part], (y + 5) % 10)  # T-shirt <-> sandal, trouser <-> shirt, ...
    assert torch.equal(paired_class(paired_class(y, 10), 10), y)  # an involution for even K
    y3 = torch.arange(30) % 3
    assert (y3[partners(y3, 3, torch.Generator().manual_seed(0), "paired")] != y3).all()  # odd K: no fixed point
    cs = cause_set(torch.rand(20, 1, 12, 12), y[:20], Design(partner="paired", kinds=("texture",)),
                   torch.Generator().manual_seed(1), None, 10)
    assert torch.equal(cs.partner_y, (cs.y + 5) % 10)
    ts = training_set(torch.rand(200, 1, 12, 12), y, Design(partner="paired", train_share=0.5), torch.Generator().manual_seed(2))
    own = y[ts.planted]
    support = torch.zeros_like(ts.probs[ts.planted], dtype=torch.bool)
    support[torch.arange(len(own)), own] = True
    support[torch.arange(len(own)), (own + 5) % 10] = True
    assert torch.equal(ts.probs[ts.planted] > 0, support)  # the label is drawn between the class and its pair
    with pytest.raises(UnsureError, match="no image of class 5"):
        partners(torch.tensor([0, 1, 2, 3, 2]), 10, torch.Generator().manual_seed(0), "paired")
    with pytest.raises(UnsureError, match="unknown partner mode"):
        Design(partner="random").check()


def test_paired_partners_from_extra_images():
    from unsure.groundtruth.images import pair_images

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(40, 1, 12, 12, generator=g), torch.arange(40) % 10
    pick = torch.tensor([0, 1, 2, 11, 12])  # classes 0, 1, 2: their pairs 5, 6, 7 are not picked
    ex, ey = pair_images(x, y, pick, 10, per_class=2)
    assert sorted(set(ey.tolist())) == [5, 6, 7] and len(ey) == 6
    cs = cause_set(x[pick], y[pick], Design(kinds=("texture",)), torch.Generator().manual_seed(1), None, 10, (ex, ey))
    assert torch.equal(cs.partner_y, (y[pick] + 5) % 10)
    from unsure.groundtruth.regions import box_masks

    inside = box_masks(cs.box_aleatoric, 12)[:, None]
    # the blended pixels are the mean of the image and one of the extra images of the pair class
    for i in range(len(pick)):
        cands = ex[ey == cs.partner_y[i]]
        hit = [(torch.where(inside[i], (x[pick][i] + c) / 2, x[pick][i]) - cs.aleatoric[i]).abs().max() < 1e-6 for c in cands]
        assert any(hit)
    with pytest.raises(UnsureError, match="no image of class 5"):
        cause_set(x[pick], y[pick], Design(kinds=("texture",)), torch.Generator().manual_seed(1), None, 10)


@pytest.mark.parametrize("mode", ["same", "third", "cutout"])
def test_control_blends(mode):
    # an image of class k is 1 in channel k and 0 elsewhere, so a blended pixel names the partner's
    # class (its channel holds w) and the weight
    K, n = 10, 1000
    yy = torch.arange(n) % K
    x = torch.nn.functional.one_hot(yy, K).float()[:, :, None, None].expand(n, K, 12, 12).clone()
    d0, d1 = Design(train_share=0.3), Design(train_share=0.3, control_share=0.4, control=mode)
    t0 = training_set(x, yy, d0, torch.Generator().manual_seed(5), K)
    t1 = training_set(x, yy, d1, torch.Generator().manual_seed(5), K)
    # the aleatoric blends and every label are those without controls
    assert torch.equal(t0.planted, t1.planted) and torch.equal(t0.probs, t1.probs) and torch.equal(t0.y, t1.y)
    assert torch.equal(t0.x[t0.planted], t1.x[t1.planted])
    assert not (t1.controls & t1.planted).any() and not t0.controls.any()
    assert abs(float(t1.controls.double().mean()) - 0.4) < 0.06
    untouched = ~t1.controls & ~t1.planted
    assert torch.equal(t1.x[untouched], x[untouched])
    side = 6  # half of the 12-px side, as the aleatoric region
    for i in t1.controls.nonzero().squeeze(1).tolist():
        own = int(yy[i])
        assert torch.equal(t1.probs[i], torch.nn.functional.one_hot(torch.tensor(own), K).float())
        ch = (t1.x[i] - x[i]).abs().amax(0) > 1e-6  # [H,W]
        if mode == "same":  # another image of the own class: nothing changes
            assert not ch.any()
            continue
        rows, cols = ch.any(1).nonzero().squeeze(1), ch.any(0).nonzero().squeeze(1)
        if mode == "cutout":  # one flat random fill per channel over one box (a fill may equal a pixel)
            box = t1.x[i][:, rows[0]:rows[0] + side, cols[0]:cols[0] + side]
            assert int(rows[-1] - rows[0]) < side and int(cols[-1] - cols[0]) < side
            assert torch.equal(box, box[:, :1, :1].expand_as(box))
            continue
        assert len(rows) == side and len(cols) == side and int(ch.sum()) == side * side
        px = t1.x[i][:, ch][:, 0]  # [K] one blended pixel
        partner = [c for c in range(K) if c != own and px[c] > 0]
        assert len(partner) == 1 and partner[0] != int(paired_class(torch.tensor(own), K))
        assert 0.3 - 1e-6 <= float(px[partner[0]]) <= 0.7 + 1e-6
        assert abs(float(px[own] + px[partner[0]]) - 1) < 1e-6


def test_control_partners_by_class():
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 4, 4, 5, 5])
    s = control_partners(y, 6, g, "same")
    assert torch.equal(y[s], y)
    assert (s != torch.arange(len(y)))[y != 2].all() and int(s[5]) == 5  # never itself, unless alone
    t = control_partners(y, 6, g, "third")
    assert (y[t] != y).all() and (y[t] != paired_class(y, 6)).all()
    with pytest.raises(UnsureError, match="control"):
        control_partners(y, 6, g, "other")
    with pytest.raises(UnsureError, match="no partners"):
        control_partners(y, 6, g, "cutout")
    with pytest.raises(UnsureError, match="third class"):
        control_partners(torch.tensor([0, 1, 0, 1]), 2, g, "third")
    with pytest.raises(UnsureError, match="shares"):
        Design(train_share=0.7, control_share=0.4).check()
    with pytest.raises(UnsureError, match="control"):
        Design(control="other").check()


def test_training_set_borrows_missing_pair_classes_and_refuses_non_square():
    # a split with classes 0 and 1 only (of 4): their pairs 2 and 3 come from the extra images,
    # whose class k is the constant (k + 1) / 8, so a blended pixel tells the partner's class
    K = 4
    y = torch.tensor([0, 1] * 50)
    x = ((y.float() + 1) / 8)[:, None, None, None].expand(100, 1, 8, 8).clone()
    ye = torch.tensor([2, 3] * 5)
    xe = ((ye.float() + 1) / 8)[:, None, None, None].expand(10, 1, 8, 8).clone()
    d = Design(partner="paired", train_share=0.6)
    with pytest.raises(UnsureError, match="no image of class"):
        training_set(x, y, d, torch.Generator().manual_seed(0), K)
    ts = training_set(x, y, d, torch.Generator().manual_seed(0), K, extra=(xe, ye))
    for i in ts.planted.nonzero().squeeze(1).tolist():
        pair = (int(y[i]) + 2) % K
        assert ts.probs[i, pair] > 0 and ts.probs[i].nonzero().numel() == 2
        v = float(ts.x[i][(ts.x[i] - x[i]).abs() > 1e-6][0])
        w = float(ts.probs[i, pair])
        assert abs(v - ((1 - w) * (int(y[i]) + 1) / 8 + w * (pair + 1) / 8)) < 1e-5
    # a split holding every pair class ignores the extra images: the same data as without them
    y4 = torch.arange(100) % K
    x4 = torch.rand(100, 1, 8, 8)
    a = training_set(x4, y4, d, torch.Generator().manual_seed(1), K)
    b = training_set(x4, y4, d, torch.Generator().manual_seed(1), K, extra=(xe, ye))
    assert torch.equal(a.x, b.x) and torch.equal(a.probs, b.probs)
    with pytest.raises(UnsureError, match="square images, got 8x12"):
        training_set(torch.rand(10, 1, 8, 12), torch.arange(10) % 2, Design(), torch.Generator())
