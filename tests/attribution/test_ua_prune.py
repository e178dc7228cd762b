"""Pruned UA-Backprop (spec, Cost): per-image backward rows, both variants, against references
that differentiate every kept term separately."""
from __future__ import annotations

import pytest
import torch

import unsure
from unsure.attribution.ua_backprop import pixel_distribution, reference_image
from unsure.attribution.ua_prune import gather_rows, kept_rows, prune_terms
from unsure.measures import decompose
from unsure.models.paper_cnn import PaperCNN
from unsure.posteriors import DeepEnsemble

S, B, K, SIDE = 3, 5, 11, 8


@pytest.fixture
def ens():
    torch.manual_seed(3)
    nets = []
    for _ in range(S):
        net = PaperCNN(1, K, SIDE).double()
        with torch.no_grad():  # confident, disagreeing members: a few classes carry the terms
            for p in net.parameters():
                p.mul_(4.0)
        nets.append(net.eval())
    return DeepEnsemble(nets)


@pytest.fixture
def x():
    return torch.rand(B, 1, SIDE, SIDE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def test_kept_rows_lists_each_images_own_indices():
    kept = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=torch.bool)
    idx, valid = kept_rows(kept)
    assert idx.shape == (2, 3) and valid.shape == (2, 3)
    for b in range(3):
        assert idx[valid[:, b], b].tolist() == kept[b].nonzero().squeeze(1).tolist()
    v = torch.arange(12.0).reshape(3, 4)
    assert gather_rows(v, idx, valid).tolist() == [[0.0, 2.0], [7.0, 0.0], [0.0, 0.0]]


def _class_reference(ens, x, kind, keep, T2=1.0, sigma=2.0):
    """Variant class, inputgrad path, blur reference: every kept class term ``a_k`` of every image
    differentiated on its own with autograd (no batching, no chain rule by hand)."""
    ref = reference_image(x, "blur", sigma)
    with torch.no_grad():
        z = torch.stack([m(x) for m in ens.members])
        a_k = decompose(z, kind).sum(0)  # [S,B,K] -> [B,K]
        a_p, kept = prune_terms(a_k[None], keep)
    maps = torch.zeros(x.shape[0], SIDE, SIDE, dtype=x.dtype)
    for b in range(x.shape[0]):
        for k in kept[0, b].nonzero().squeeze(1).tolist():
            xb = x[b:b + 1].clone().requires_grad_(True)
            zb = torch.stack([m(xb) for m in ens.members])  # [S,1,K]
            (g,) = torch.autograd.grad(decompose(zb, kind).sum(0)[0, k], xb)
            t = g * (xb - ref[b:b + 1])
            r = t.clamp_min(0).mean(1)
            if r.max() <= 0:
                r = t.abs().mean(1)
            maps[b] += a_p[0, b, k] * pixel_distribution(r[None], T2, floor=False)[0, 0]
    return maps, kept[0].sum(1)


@pytest.mark.parametrize("kind", ["epistemic", "total"])
@pytest.mark.parametrize("prune", [None, 0.9])
def test_class_variant_matches_per_term_reference(ens, x, kind, prune):
    res = unsure.attribute(ens, x, method="ua-backprop", target=kind, variant="class", prune=prune)
    want, kept = _class_reference(ens, x, kind, 1.0 if prune is None else prune)
    if prune is None:
        kept = torch.full_like(kept, K)  # (the reference skips only terms that are exactly 0)
    else:
        assert (kept < K).any()  # the test prunes something
    assert torch.allclose(res.maps, want, rtol=1e-9, atol=1e-12), (res.maps - want).abs().max()
    assert torch.equal(res.meta["kept_logits"], kept * S)
    assert torch.allclose(res.maps.sum((1, 2)), res.meta["uncertainty"], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("path", ["fullgrad", "grad", "inputgrad", "ig"])
def test_class_prune_one_is_no_prune(ens, x, path):
    kw = {"steps": 3} if path == "ig" else {}
    a = unsure.attribute(ens, x, method="ua-backprop", variant="class", path=path, prune=None, **kw)
    b = unsure.attribute(ens, x, method="ua-backprop", variant="class", path=path, prune=1.0, **kw)
    assert torch.allclose(a.maps, b.maps, rtol=1e-9, atol=1e-12), (a.maps - b.maps).abs().max()
    assert b.raw is None or torch.allclose(a.raw, b.raw, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("path", ["fullgrad", "inputgrad", "ig"])
def test_paper_prune_is_per_image(ens, x, path):
    """Per-image rows give the map of pruning each image alone (the batch union would too, but
    at the union's cost): batched == one image at a time, completeness exact."""
    kw = {"steps": 3} if path == "ig" else {}
    res = unsure.attribute(ens, x, method="ua-backprop", variant="paper", path=path, prune=0.6, **kw)
    one = torch.cat([unsure.attribute(ens, x[b:b + 1], method="ua-backprop", variant="paper",
                                      path=path, prune=0.6, **kw).maps for b in range(B)])
    assert torch.allclose(res.maps, one, rtol=1e-9, atol=1e-12)
    assert torch.allclose(res.maps.sum((1, 2)), res.meta["uncertainty"], rtol=1e-10, atol=1e-14)
    assert (res.meta["kept_logits"] < S * K).any()


@pytest.mark.parametrize("target", ["total", "aleatoric", "epistemic"])
@pytest.mark.parametrize("path", ["grad", "inputgrad", "fullgrad"])
def test_class_prune_auto_is_within_the_tolerance_of_unpruned(x, target, path):
    """The class variant's default ``prune="auto"`` drops class terms (checked: fewer rows than K)
    and its map stays complete and within ``MAP_TOLERANCE * U`` (sum of absolute differences) of
    the unpruned map, computed independently with ``prune=None``."""
    from unsure.attribution.ua_backprop import MAP_TOLERANCE

    k = 60
    torch.manual_seed(5)
    nets = []
    for _ in range(S):
        net = PaperCNN(1, k, SIDE).double()
        with torch.no_grad():  # confident members: most of the 60 classes carry ~nothing
            net.fc2.weight.mul_(300.0)
        nets.append(net.eval())
    many = DeepEnsemble(nets)
    auto = unsure.attribute(many, x, method="ua-backprop-class", target=target, path=path)
    full = unsure.attribute(many, x, method="ua-backprop-class", target=target, path=path, prune=None)
    U = full.meta["uncertainty"]
    assert torch.allclose(auto.meta["uncertainty"], U)
    assert (auto.meta["kept_logits"] < k * S).any()  # something was pruned
    assert (full.meta["kept_logits"] == k * S).all()
    assert ((auto.maps.sum((1, 2)) - U).abs() <= 1e-5 * U.clamp_min(1)).all()
    dist = (auto.maps - full.maps).abs().sum((1, 2))
    assert (dist <= MAP_TOLERANCE * U + 1e-12).all(), (dist / U).max()
