"""Blurring test (METHODS.md) against loop references and a model with a known answer."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from unsure.errors import UnsureError
from unsure.metrics import blurring_test
from unsure.ops.blur import gaussian_blur_many as gaussian_blur
from unsure.metrics.blurring import SIGMAS, n_pixels, pixel_order, summarise
from unsure.models.paper_cnn import PaperCNN
from unsure.posteriors import DeepEnsemble


# ----------------------------------------------------------------------------- loop references
def ref_blur(img, sigma):
    """Gaussian blur of one ``[H,W]`` image with explicit loops and reflect indexing."""
    H, W = img.shape

    def kernel(n):
        r = min(math.ceil(3 * sigma), n - 1)
        k = [math.exp(-0.5 * (t / sigma) ** 2) for t in range(-r, r + 1)]
        s = sum(k)
        return r, [v / s for v in k]

    def refl(i, n):  # torch 'reflect': -1 -> 1, n -> n-2
        if i < 0:
            return -i
        if i >= n:
            return 2 * (n - 1) - i
        return i

    rh, kh = kernel(H)
    rw, kw = kernel(W)
    rows = [[sum(kh[t + rh] * float(img[refl(i + t, H), j]) for t in range(-rh, rh + 1))
             for j in range(W)] for i in range(H)]
    return torch.tensor([[sum(kw[t + rw] * rows[i][refl(j + t, W)] for t in range(-rw, rw + 1))
                          for j in range(W)] for i in range(H)], dtype=img.dtype)


def ref_epistemic(logits):
    """Mutual information with explicit loops; ``logits [S,K]`` of one image."""
    ps = []
    for z in logits.tolist():
        e = [math.exp(v) for v in z]
        ps.append([v / sum(e) for v in e])
    S, K = len(ps), len(ps[0])
    pbar = [sum(p[k] for p in ps) / S for k in range(K)]
    H = lambda p: -sum(v * math.log(v) for v in p if v > 0)  # noqa: E731
    return H(pbar) - sum(H(p) for p in ps) / S


def ref_curve(nets, x, order, n_max, sigmas):
    """``c_0..c_{n_max}`` for every image, one image and one blurred copy at a time."""
    curves = []
    for b in range(x.shape[0]):
        img = x[b, 0]
        blurred = [ref_blur(img, s) for s in sigmas]
        with torch.no_grad():
            u0 = ref_epistemic(torch.stack([n(x[b:b + 1])[0] for n in nets]))
        c = [1.0]
        for n in range(1, n_max + 1):
            best = math.inf
            for bl in blurred:
                xn = img.clone()
                for idx in order[b, :n].tolist():
                    xn[idx // img.shape[1], idx % img.shape[1]] = bl[idx // img.shape[1], idx % img.shape[1]]
                with torch.no_grad():
                    u = ref_epistemic(torch.stack([m(xn[None, None])[0] for m in nets]))
                best = min(best, u)
            c.append(min(c[-1], best / u0))
        curves.append(c)
    return torch.tensor(curves, dtype=torch.float64)


# ----------------------------------------------------------------------------- blur
@pytest.mark.parametrize("shape", [(8, 8), (8, 6)])
def test_blur_matches_loops(shape):
    x = torch.rand(2, 1, *shape, dtype=torch.float64)
    sigmas = [0.2, 0.7, 1.5, 20.0]  # 20 has a radius clipped to the image
    got = gaussian_blur(x, sigmas)
    assert got.shape == (len(sigmas), 2, 1, *shape)
    for g, s in enumerate(sigmas):
        for b in range(2):
            assert torch.allclose(got[g, b, 0], ref_blur(x[b, 0], s), atol=1e-12)


def test_blur_keeps_constants_and_channels():
    x = torch.full((1, 3, 7, 9), 0.3, dtype=torch.float64)
    x[0, 1] = 0.8
    out = gaussian_blur(x, [0.5, 4.0])
    assert torch.allclose(out, x.expand(2, -1, -1, -1, -1), atol=1e-14)


# ----------------------------------------------------------------------------- ordering
def test_pixel_order_descending_and_seeded_ties():
    maps = torch.tensor([[[0.1, 0.9], [0.5, 0.3]]])
    assert pixel_order(maps).tolist() == [[1, 2, 3, 0]]
    flat = torch.zeros(1, 4, 4)
    flat[0, 0, 0] = 1.0
    o1 = pixel_order(flat, torch.Generator().manual_seed(1))
    o2 = pixel_order(flat, torch.Generator().manual_seed(1))
    assert torch.equal(o1, o2) and o1[0, 0] == 0
    assert sorted(o1[0].tolist()) == list(range(16))
    orders = {tuple(pixel_order(flat, torch.Generator().manual_seed(s))[0].tolist()) for s in range(5)}
    assert len(orders) > 1  # ties really are shuffled


def test_n_pixels():
    assert n_pixels(0.02, 28, 28) == 16 and n_pixels(0.05, 28, 28) == 39 and n_pixels(0.001, 8, 8) == 1


def test_summary_trapezoid():
    u = torch.tensor([[0.5, 0.8, 0.25]], dtype=torch.float64)
    r = summarise(u, torch.tensor([1.0], dtype=torch.float64), 0.1)
    assert r.curves.tolist() == [[1.0, 0.5, 0.5, 0.25]]
    assert r.murr == pytest.approx(0.75)
    assert r.auc == pytest.approx(((1 + 0.5) + (0.5 + 0.5) + (0.5 + 0.25)) / 2 / 3)


# ----------------------------------------------------------------------------- whole test
def test_curve_matches_loop_reference():
    nets = [PaperCNN(1, 3, 8).double().eval() for _ in range(3)]
    with torch.no_grad():
        for n in nets:
            for p in n.parameters():
                p.mul_(3.0)
    post = DeepEnsemble(nets)
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    maps = torch.rand(3, 8, 8, dtype=torch.float64)  # no ties
    sigmas = [0.4, 1.0, 3.0]
    res = blurring_test(post, x, maps, fraction=5 / 64, sigmas=sigmas, batch_size=7)
    order = maps.reshape(3, -1).argsort(1, descending=True)
    want = ref_curve(nets, x, order, 5, sigmas)
    assert res.curves.shape == (3, 6)
    assert torch.allclose(res.curves, want, rtol=1e-9, atol=1e-12)
    assert res.murr == pytest.approx(float((1 - want[:, -1]).median()))


class RegionVote(nn.Module):
    """Two-class logits ``[s * (v - c), 0]`` with ``v`` the sum of the pixels in a region: U_e
    depends on those pixels only, and two members with ``s = +4, -4`` disagree as soon as
    ``v > c``."""

    def __init__(self, region, s, c=0.0):
        super().__init__()
        self.register_buffer("region", region)
        self.s, self.c = s, c

    def forward(self, x):
        v = (x * self.region).sum((1, 2, 3))
        return torch.stack([self.s * (v - self.c), torch.zeros_like(v)], -1)


def test_known_answer_perfect_random_inverted():
    region = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    region[..., 3:5, 3:5] = 1.0
    post = DeepEnsemble([RegionVote(region, 4.0), RegionVote(region, -4.0)])
    x = torch.zeros(4, 1, 8, 8, dtype=torch.float64)
    x[:, :, 3:5, 3:5] = 0.25  # v = 1 -> strong disagreement
    x[:, :, 0, 0] = 1.0  # a bright pixel the model ignores
    perfect = region[:, 0].expand(4, -1, -1).clone()
    inverted = 1 - perfect
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    frac = 4 / 64
    good = blurring_test(post, x, perfect, fraction=frac, generator=gen())
    bad = blurring_test(post, x, inverted, fraction=frac, generator=gen())
    rnd = blurring_test(post, x, torch.rand(4, 8, 8, generator=gen(), dtype=torch.float64),
                        fraction=frac, generator=gen())
    # blurring the 4 region pixels at a large sigma leaves v ~ 4 * image mean: U_e falls by > 90%
    assert good.murr > 0.9 and good.auc < 0.7
    # pixels outside the region change nothing
    assert bad.murr == 0.0 and bad.auc == 1.0
    assert rnd.murr < good.murr and rnd.auc > good.auc
    # the analytic value for the perfect map: v_n = best blurred region sum
    blurred = gaussian_blur(x, SIGMAS)  # [G,B,C,H,W]
    v = (blurred * region).sum((2, 3, 4)).amin(0)  # [B]
    z = torch.stack([torch.stack([4 * v, 0 * v], -1), torch.stack([-4 * v, 0 * v], -1)])
    from unsure.measures import epistemic

    u0 = epistemic(torch.tensor([[[4.0, 0.0]], [[-4.0, 0.0]]], dtype=torch.float64))
    assert good.murr == pytest.approx(float(1 - epistemic(z)[0] / u0[0]), rel=1e-9)


def test_uses_one_draw_and_validates():
    post = DeepEnsemble([PaperCNN(1, 3, 8).double().eval() for _ in range(2)])
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    from unsure.errors import UnsureError

    with pytest.raises(UnsureError):
        blurring_test(post, x, torch.rand(2, 8, 7))
    with pytest.raises(UnsureError):
        blurring_test(post, x, torch.rand(2, 8, 8), fraction=0.0)
    d = post.draw()
    r1 = blurring_test(post, x, torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0)),
                       sigmas=[1.0], draw=d)
    assert r1.curves.shape == (2, n_pixels(0.02, 8, 8) + 1)


# ----------------------------------------------------------------------------- other measures
def _region_images():
    region = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    region[..., 3:5, 3:5] = 1.0
    x = torch.zeros(3, 1, 8, 8, dtype=torch.float64)
    x[:, :, 3:5, 3:5] = 0.25  # v = 1
    return region, x


def test_total_measure_on_one_network():
    """A single network (paper's Ensemble-1): U_e = 0, so only total uncertainty can be blurred away.
    Logits ``[4 (v - 1), 0]`` are maximally uncertain at ``v = 1``; blurring the region lowers v."""
    from unsure.measures import total

    region, x = _region_images()
    post = DeepEnsemble([RegionVote(region, 4.0, c=1.0)])
    perfect = region[:, 0].expand(3, -1, -1).clone()
    frac = 4 / 64
    epi = blurring_test(post, x, perfect, fraction=frac, generator=torch.Generator().manual_seed(0))
    assert epi.measure == "epistemic"
    assert (epi.u0 == 0).all() and (epi.curves == 1).all() and epi.murr == 0.0
    tot = blurring_test(post, x, perfect, fraction=frac, generator=torch.Generator().manual_seed(0),
                        measure="total")
    assert tot.measure == "total"
    assert torch.allclose(tot.u0, torch.full((3,), math.log(2), dtype=torch.float64))
    v = (gaussian_blur(x, SIGMAS) * region).sum((2, 3, 4)).amin(0)  # [G,B,C,H,W] -> [B]
    want = 1 - total(torch.stack([4 * (v - 1), 0 * v], -1)[None]) / math.log(2)  # [1,B,2] -> [B]
    assert torch.allclose(tot.murr_per_image, want, rtol=1e-9)
    assert tot.murr > 0.5 and tot.auc < 1.0


def test_callable_measure_equals_its_name():
    from unsure.measures import aleatoric, total

    post = DeepEnsemble([PaperCNN(1, 3, 8).double().eval() for _ in range(2)])
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    maps = torch.rand(2, 8, 8, dtype=torch.float64)
    d = post.draw()
    for name, fn in (("total", total), ("aleatoric", lambda z: aleatoric(z))):
        by_name = blurring_test(post, x, maps, fraction=3 / 64, sigmas=[0.5, 2.0], draw=d, measure=name)
        by_fn = blurring_test(post, x, maps, fraction=3 / 64, sigmas=[0.5, 2.0], draw=d, measure=fn)
        assert torch.equal(by_name.curves, by_fn.curves) and torch.equal(by_name.u0, by_fn.u0)
        assert by_name.measure == name and by_fn.measure == getattr(fn, "__name__")
    from unsure.errors import UnsureError

    with pytest.raises(UnsureError, match="measure"):
        blurring_test(post, x, maps, measure="class")


def test_bench_refuses_a_measure_that_is_zero_everywhere():
    from unsure.bench.blurring import blurring_benchmark
    from unsure.attribution.spec import MethodSpec
    from unsure.errors import UnsureError

    region, x = _region_images()
    post = DeepEnsemble([RegionVote(region, 4.0, c=1.0)])
    spec = [MethodSpec("random", "random")]
    with pytest.raises(UnsureError, match="epistemic uncertainty is 0 on all 3"):
        blurring_benchmark(post, x, spec, [4 / 64], progress=False, sigmas=[2.0])
    res, _, _ = blurring_benchmark(post, x, spec, [4 / 64], progress=False, sigmas=[2.0], target="total")
    assert 0.0 <= res["random"][str(4 / 64)]["murr"] <= 1.0
    per = res["random"][str(4 / 64)]["murr_per_image"]
    assert len(per) == 3 and res["random"][str(4 / 64)]["murr"] == pytest.approx(float(torch.tensor(per).median()))


def test_paired_comparison_counts_wins_per_image():
    from unsure.bench.blurring import paired_comparison

    a = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    res = {"a": {"0.02": {"murr_per_image": a, "auc_per_image": [0.1] * 8}},
           "b": {"0.02": {"murr_per_image": [v - 0.1 for v in a], "auc_per_image": [0.2] * 8}},
           "c": {"0.02": {"murr_per_image": a, "auc_per_image": [0.1] * 8}}}
    (ab, ac) = paired_comparison(res, [0.02])
    assert ab[0] == "a vs b" and ab[1].startswith("+0.100 / 100% / ") and ab[2].startswith("-0.100 / 100% / ")
    assert float(ab[1].split(" / ")[2]) < 0.01  # 8 of 8 positive pairs: exact p = 2 / 256
    assert ac[1] == "+0.000 / 0% / 1" and ac[2] == "+0.000 / 0% / 1"


def test_murr_and_auc_urr_are_registered_metrics_with_their_direction():
    from unsure.metrics import METRICS, BlurringResult

    murr, auc = METRICS.get("murr"), METRICS.get("auc-urr")
    assert (murr.higher_is_better, murr.arrow, murr.applies_to) == (True, "↑", "uncertainty")
    assert (auc.higher_is_better, auc.arrow) == (False, "↓")  # a curve that falls faster is better
    assert BlurringResult.higher_is_better == {"murr": True, "auc": False}


def test_default_forward_batch_holds_as_many_input_elements_for_larger_images():
    from unsure.metrics.perturbation import ACCELERATOR_FORWARD_BATCH, CPU_FORWARD_BATCH, forward_batch

    assert forward_batch(None, "cpu", (1, 28, 28)) == CPU_FORWARD_BATCH
    assert forward_batch(None, "cpu", (5, 1, 8, 8)) == CPU_FORWARD_BATCH  # small images: the cap
    assert forward_batch(None, "cpu", (4, 3, 32, 32)) == 2 * 3 * 224 * 224 // 3072 == 98
    assert forward_batch(None, "cpu", (3, 224, 224)) == 2
    assert forward_batch(None, "cpu", (3, 1024, 1024)) == 1  # at least one image
    assert forward_batch(None, "cuda", (3, 224, 224)) == ACCELERATOR_FORWARD_BATCH * 784 // (3 * 224 * 224) == 21


def test_default_forward_batch_depends_on_the_device_and_not_the_result():
    from unsure.metrics.perturbation import (ACCELERATOR_FORWARD_BATCH, CPU_FORWARD_BATCH,
                                             forward_batch)

    assert forward_batch(None, "cpu") == CPU_FORWARD_BATCH
    assert forward_batch(None, torch.device("cuda", 0)) == ACCELERATOR_FORWARD_BATCH
    assert forward_batch(7, "cpu") == 7
    assert forward_batch(7, "cpu", (3, 224, 224)) == 7  # a given size is kept
    assert forward_batch(np.int64(7), "cpu") == 7 and type(forward_batch(np.int64(7), "cpu")) is int
    for bad in (0, -3, 2.5, True):
        with pytest.raises(UnsureError, match="batch_size must be an integer >= 1"):
            forward_batch(bad, "cpu")
    torch.manual_seed(0)
    post = DeepEnsemble([PaperCNN(1, 3, 8).double().eval() for _ in range(3)])
    x = torch.rand(6, 1, 8, 8, dtype=torch.float64)
    maps = torch.rand(6, 8, 8, dtype=torch.float64)
    d = post.draw(torch.Generator().manual_seed(0))
    kw = dict(fraction=[4 / 64, 9 / 64], sigmas=[0.5, 2.0], draw=d, replacement="blur,zero,noise")
    # 6 images x (2 + 1 + 4) draws x 9 steps = 378 images: the default (128) splits them in chunks
    got = blurring_test(post, x, maps, **kw)
    for bs in (5, 10_000):
        want = blurring_test(post, x, maps, batch_size=bs, **kw)
        for name in want:
            for g, w in zip(got[name], want[name]):
                assert torch.allclose(g.curves, w.curves, rtol=1e-12, atol=1e-14)
