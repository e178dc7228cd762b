"""The substitute panel (metrics.replacements) against independent slow references: ROAD's linear
system solved densely with numpy, loop-built zero / mean / noise images, the blurring test, the
insertion-deletion and top-k curves recomputed one image and one step at a time."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unsure.errors import UnsureError
from unsure.metrics import blurring_test
from unsure.ops.blur import gaussian_blur_many as gaussian_blur
from unsure.metrics.ablation import topk_ablation
from unsure.metrics.blurring import pixel_order, summarise
from unsure.metrics.insertion_deletion import deletion_curve, insertion_curve
from unsure.metrics.replacements import (PANEL, REPLACEMENTS, Noise, Road, linear_impute,
                                         make_replacement, make_replacements)
from unsure.models.paper_cnn import PaperCNN
from unsure.posteriors import DeepEnsemble

from test_blurring import ref_epistemic


# ----------------------------------------------------------------------------- references
def ref_road_dense(img: np.ndarray, removed: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """ROAD's system for one ``[C,H,W]`` image, built pixel by pixel and solved densely."""
    C, H, W = img.shape
    unknowns = [(r, c) for r in range(H) for c in range(W) if removed[r, c]]
    pos = {p: i for i, p in enumerate(unknowns)}
    n = len(unknowns)
    A = np.zeros((n, n))
    b = np.zeros((n, C))
    for i, (r, c) in enumerate(unknowns):
        A[i, i] += eps
        b[i] += eps * img.reshape(C, -1).mean(1)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                if (dr, dc) == (0, 0) or not (0 <= r + dr < H and 0 <= c + dc < W):
                    continue
                w = 1 / 6 if dr == 0 or dc == 0 else 1 / 12
                A[i, i] += w
                if removed[r + dr, c + dc]:
                    A[i, pos[(r + dr, c + dc)]] -= w
                else:
                    b[i] += w * img[:, r + dr, c + dc]
    out = img.copy()
    if n:
        sol = np.linalg.solve(A, b)
        for i, (r, c) in enumerate(unknowns):
            out[:, r, c] = sol[i]
    return out


def ref_substitutes(name: str, batch: torch.Tensor, b: int, removed: torch.Tensor, sigmas=(1.0,),
                    seed=0, draws=3):
    """The substituted images ``[G, C, H, W]`` of image ``b`` of ``batch [B,C,H,W]``, by loops
    (the noise draws are the batch's: one ``randn [G,B,C,H,W]`` from the seed)."""
    x = batch[b]
    C, H, W = x.shape
    xs = x.numpy()
    if name in ("road", "noise"):
        gen = torch.Generator().manual_seed(seed)
        noise = torch.randn((draws, *batch.shape), generator=gen, dtype=x.dtype)[:, b]
    if name == "road":
        imp = ref_road_dense(xs, removed.numpy())
        subs = [imp + 0.01 * noise[g].numpy() for g in range(draws)]
    elif name == "noise":
        subs = [np.clip(xs + 0.3 * noise[g].numpy(), 0, 1) for g in range(draws)]
    elif name == "zero":
        subs = [np.zeros_like(xs)]
    elif name == "mean":
        subs = [np.stack([np.full((H, W), xs[c].sum() / (H * W)) for c in range(C)])]
    else:
        subs = [gaussian_blur(x[None], [s])[0, 0].numpy() for s in sigmas]
    out = []
    for s in subs:
        img = xs.copy()
        for r in range(H):
            for c in range(W):
                if removed[r, c]:
                    img[:, r, c] = s[:, r, c]
        out.append(img)
    return torch.tensor(np.stack(out), dtype=x.dtype)


def nets_and_images(B=2, C=1, H=6, W=6, seed=0):
    torch.manual_seed(seed)
    nets = [PaperCNN(C, 3, H).double().eval() for _ in range(3)]
    with torch.no_grad():
        for n in nets:
            for p in n.parameters():
                p.mul_(3.0)
    x = torch.rand(B, C, H, W, dtype=torch.float64)
    return nets, x


# ----------------------------------------------------------------------------- ROAD
@pytest.mark.parametrize("C", [1, 3])
def test_linear_impute_matches_dense_solve(C):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, C, 7, 5, generator=g, dtype=torch.float64)
    removed = torch.rand(3, 7, 5, generator=g) < 0.45
    removed[2] = True  # every pixel removed: the channel mean
    removed[1, 0, :] = True  # a removed border row
    got = linear_impute(x, removed)
    for s in range(3):
        want = ref_road_dense(x[s].numpy(), removed[s].numpy())
        assert np.allclose(got[s].numpy(), want, atol=1e-10)
    assert torch.allclose(got[2], x[2].mean((1, 2), keepdim=True).expand_as(x[2]), atol=1e-12)
    assert torch.equal(got[~removed[:, None].expand_as(x)], x[~removed[:, None].expand_as(x)])


def test_linear_impute_one_pixel_is_the_neighbour_mean():
    x = torch.rand(1, 1, 5, 5, dtype=torch.float64)
    removed = torch.zeros(1, 5, 5, dtype=torch.bool)
    removed[0, 2, 2] = removed[0, 0, 0] = True
    got = linear_impute(x, removed, eps=0.0)[0, 0]
    p = x[0, 0]
    direct = (p[1, 2] + p[3, 2] + p[2, 1] + p[2, 3]) / 6
    diag = (p[1, 1] + p[1, 3] + p[3, 1] + p[3, 3]) / 12
    assert float(got[2, 2]) == pytest.approx(float(direct + diag), abs=1e-12)
    corner = (p[0, 1] / 6 + p[1, 0] / 6 + p[1, 1] / 12) / (1 / 6 + 1 / 6 + 1 / 12)
    assert float(got[0, 0]) == pytest.approx(float(corner), abs=1e-12)


@pytest.mark.parametrize("name", PANEL)
def test_fill_matches_loop_reference(name):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 2, 5, 6, generator=g, dtype=torch.float64)
    removed = torch.rand(3, 2, 5, 6, generator=g) < 0.4  # [N,B,H,W]
    rep = make_replacement(name, sigmas=[0.7, 2.0], seed=5, n_draws=3)
    got = rep.fill(x, rep.prepare(x), removed)  # [N,G,B,C,H,W]
    assert got.shape == (3, rep.draws, 2, 2, 5, 6)
    for n in range(3):
        for b in range(2):
            want = ref_substitutes(name, x, b, removed[n, b], sigmas=(0.7, 2.0), seed=5, draws=3)
            assert torch.allclose(got[n, :, b], want, atol=1e-10), name


def test_registry_and_errors():
    assert set(PANEL) <= set(REPLACEMENTS.names())
    assert isinstance(make_replacement("noise:n_draws=2:seed=4"), Noise)
    assert make_replacement("road", seed=3).seed == 3 and make_replacement("road:seed=1", seed=3).seed == 1
    assert [r.name for r in make_replacements("blur,zero")] == ["blur", "zero"]
    with pytest.raises(UnsureError, match="unknown replacement"):
        make_replacement("nope")
    with pytest.raises(UnsureError, match="no option"):
        make_replacement("zero:std=1")
    with pytest.raises(UnsureError, match="once"):
        make_replacements("zero,zero")
    with pytest.raises(UnsureError, match="n_draws"):
        Road(n_draws=0)


# ----------------------------------------------------------------------------- blurring / URR test
def ref_urr_curve(nets, x, order, n_max, name, **kw):
    curves = []
    for b in range(x.shape[0]):
        with torch.no_grad():
            u0 = ref_epistemic(torch.stack([m(x[b:b + 1])[0] for m in nets]))
        c = [1.0]
        for n in range(1, n_max + 1):
            removed = torch.zeros(x.shape[2] * x.shape[3], dtype=torch.bool)
            removed[order[b, :n]] = True
            imgs = ref_substitutes(name, x, b, removed.reshape(x.shape[2:]), **kw)
            with torch.no_grad():
                best = min(ref_epistemic(torch.stack([m(img[None])[0] for m in nets])) for img in imgs)
            c.append(min(c[-1], best / u0))
        curves.append(c)
    return torch.tensor(curves, dtype=torch.float64)


@pytest.mark.parametrize("name", PANEL)
def test_blurring_test_with_each_replacement(name):
    nets, x = nets_and_images(B=2, C=1, H=6, W=6)
    post = DeepEnsemble(nets)
    maps = torch.rand(2, 6, 6, dtype=torch.float64)
    res = blurring_test(post, x, maps, fraction=4 / 36, sigmas=[0.5, 2.0], batch_size=5,
                        replacement=f"{name}:n_draws=3" if name in ("noise", "road") else name,
                        replacement_seed=0)
    want = ref_urr_curve(nets, x, pixel_order(maps), 4, name, sigmas=(0.5, 2.0), seed=0, draws=3)
    assert torch.allclose(res.curves, want, rtol=1e-9, atol=1e-10)


def old_blurred_uncertainty(draw, x, order, n_max, sigmas, batch_size, fn):
    """The blurring test's inner loop as it was before the panel (copied from the git history)."""
    B, C, H, W = x.shape
    G = len(sigmas)
    blurred = gaussian_blur(x, sigmas)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(H * W).expand(B, -1))
    per = max(1, batch_size // (G * B))
    out = []
    for n0 in range(1, n_max + 1, per):
        ns = torch.arange(n0, min(n_max, n0 + per - 1) + 1)
        mask = (rank.unsqueeze(0) < ns[:, None, None]).reshape(len(ns), 1, B, 1, H, W)
        imgs = torch.where(mask, blurred.unsqueeze(0), x[None, None])
        flat = imgs.reshape(-1, C, H, W)
        with torch.no_grad():
            u = torch.cat([fn(draw(flat[s:s + batch_size])) for s in range(0, len(flat), batch_size)])
        out.append(u.reshape(len(ns), G, B).amin(1))
    return torch.cat(out, 0).T


def test_blur_path_is_bit_identical_and_panel_keeps_it():
    from unsure.measures import epistemic

    nets, x = nets_and_images(B=3, C=1, H=8, W=8, seed=3)
    x = x.float()
    post = DeepEnsemble([n.float() for n in nets])
    maps = torch.rand(3, 8, 8)
    d = post.draw(torch.Generator().manual_seed(0))
    sig = [0.4, 1.0, 3.0]
    got = blurring_test(post, x, maps, fraction=[3 / 64, 6 / 64], sigmas=sig, draw=d, batch_size=20,
                        generator=torch.Generator().manual_seed(0))
    u = old_blurred_uncertainty(d, x, pixel_order(maps, torch.Generator().manual_seed(0)), 6, sig, 20, epistemic)
    with torch.no_grad():
        u0 = epistemic(d(x))
    for r, n in zip(got, (3, 6)):
        want = summarise(u[:, :n], u0, r.fraction)
        assert torch.equal(r.curves, want.curves) and r.murr == want.murr and r.auc == want.auc
    panel = blurring_test(post, x, maps, fraction=[3 / 64, 6 / 64], sigmas=sig, draw=d, batch_size=20,
                          generator=torch.Generator().manual_seed(0), replacement=list(PANEL))
    assert list(panel) == list(PANEL)
    for r, p in zip(got, panel["blur"]):
        assert torch.allclose(r.curves, p.curves, atol=1e-6)
    one = blurring_test(post, x, maps, fraction=6 / 64, sigmas=sig, draw=d, replacement="zero,mean",
                        generator=torch.Generator().manual_seed(0))
    assert set(one) == {"zero", "mean"}
    assert torch.allclose(one["zero"].curves, panel["zero"][1].curves, atol=1e-6)


# ----------------------------------------------------------------------------- curve metrics
def ref_curves(nets, x, order, counts, name, insertion, kind="epistemic", **kw):
    H, W = x.shape[2:]
    out = []
    for b in range(x.shape[0]):
        row = []
        for k in counts:
            removed = torch.zeros(H * W, dtype=torch.bool)
            removed[order[b, :k]] = True
            removed = ~removed if insertion else removed
            imgs = ref_substitutes(name, x, b, removed.reshape(H, W), draws=1, **kw)
            with torch.no_grad():
                vals = [ref_epistemic(torch.stack([m(img[None])[0] for m in nets])) for img in imgs]
            row.append(sum(vals) / len(vals))
        out.append(row)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("name", PANEL)
@pytest.mark.parametrize("metric", ["insertion", "deletion", "topk"])
def test_curve_metrics_with_each_replacement(name, metric):
    nets, x = nets_and_images(B=2, C=1, H=6, W=6, seed=1)
    post = DeepEnsemble(nets)
    maps = torch.rand(2, 6, 6, dtype=torch.float64)
    order = pixel_order(maps)
    if metric == "topk":
        res = topk_ablation(post, x, maps, "epistemic", steps=4, max_fraction=0.5, replacement=name,
                            replacement_seed=2, batch_size=7)
        counts = [round(t / 4 * 0.5 * 36) for t in range(5)]
        sigma = 20 * 6 / 224
    else:
        fn = insertion_curve if metric == "insertion" else deletion_curve
        res = fn(post, x, maps, "epistemic", steps=4, replacement=name, replacement_seed=2, batch_size=7)
        counts = [round(t / 4 * 36) for t in range(5)]
        sigma = 6 / 8
    want = ref_curves(nets, x, order, counts, name, metric == "insertion", sigmas=(sigma,), seed=2)
    assert torch.allclose(res.curves, want, rtol=1e-9, atol=1e-10)
    assert res.mode == f"{metric}-{name}"
    fr = torch.tensor(counts, dtype=torch.float64) / 36
    area = ((want[:, 1:] + want[:, :-1]) * (fr[1:] - fr[:-1])).sum(1) / 2
    assert torch.allclose(res.auc, area / (0.5 if metric == "topk" else 1.0), atol=1e-10)


def test_curve_replacement_blur_equals_the_old_substrate_and_fill():
    nets, x = nets_and_images(B=2, C=1, H=6, W=6, seed=2)
    post = DeepEnsemble(nets)
    maps = torch.rand(2, 6, 6, dtype=torch.float64)
    old = insertion_curve(post, x, maps, "epistemic", steps=6)
    new = insertion_curve(post, x, maps, "epistemic", steps=6, replacement="blur")
    assert torch.allclose(old.curves, new.curves, atol=1e-12)
    old = deletion_curve(post, x, maps, "epistemic", steps=6)
    new = deletion_curve(post, x, maps, "epistemic", steps=6, replacement="zero")
    assert torch.allclose(old.curves, new.curves, atol=1e-12)
    old = topk_ablation(post, x, maps, "epistemic", steps=4, how="mean")
    both = topk_ablation(post, x, maps, "epistemic", steps=4, replacement=["mean", "road"])
    assert set(both) == {"mean", "road"} and torch.allclose(old.curves, both["mean"].curves, atol=1e-12)
    assert math.isclose(float(old.auc[0]), float(both["mean"].auc[0]), abs_tol=1e-12)
