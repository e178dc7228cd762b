"""Patch Shapley values with a background set (``shapley:background=...``): the value of a
coalition is the mean over the background images, so the map sums to ``f(x) - mean_g f(b_g)``;
exact enumeration of all orderings on 4 patches against the subset formula, and ``shap``'s exact
explainer with an independent (background) masker as an oracle."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import unsure
from unsure.attribution import make_method, shapley as shapley_mod
from unsure.attribution.shapley import draw_permutations, parse_background
from unsure.errors import UnsureError
from unsure.ops.blur import gaussian_blur_many

from _pathkit import C, H, W, images, tiny_ensemble

TOL = dict(rtol=1e-9, atol=1e-12)
PATCH, P = 4, 4  # 8x8 images -> 2x2 = 4 patches, 24 orderings


@pytest.fixture(scope="module")
def post():
    return tiny_ensemble()


def data_set(n=7):
    return torch.rand(n, C, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(3))


def labels_of(patch):
    cols = -(-W // patch)
    lab = torch.empty(H, W, dtype=torch.long)
    for h in range(H):
        for w in range(W):
            lab[h, w] = (h // patch) * cols + w // patch
    return lab


def backgrounds_by_hand(x, spec, data=None, gen=None):
    """``[G,B,C,H,W]`` written out item by item (the blur of the blurring test, tested in test_replacements.py)."""
    out = []
    for kind, value, n in parse_background(spec):
        if kind == "data":
            idx = torch.randint(0, data.shape[0], (n,), generator=gen)
            out += [data[i].expand_as(x) for i in idx]
        elif kind == "blur":
            out.append(gaussian_blur_many(x, [value or 2.0])[0])
        elif kind == "mean":
            out.append(x.mean((2, 3), keepdim=True).expand_as(x))
        elif kind == "zero":
            out.append(torch.zeros_like(x))
        else:
            for _ in range(n):
                out.append((x + value * torch.randn(x.shape, generator=gen, dtype=x.dtype)).clamp(0, 1))
    return torch.stack(out)


def test_parse_background():
    assert parse_background("data*5+blur@1.5+mean") == [("data", None, 5), ("blur", 1.5, 1), ("mean", None, 1)]
    assert parse_background("panel") == [("blur", 2.0, 1), ("zero", None, 1), ("mean", None, 1), ("noise", 0.3, 4)]
    assert parse_background("data") == [("data", None, 16)]
    for bad in ["", "sky", "mean*3", "noise", "zero@1", "blur@-1", "data*x"]:
        with pytest.raises(UnsureError, match="shapley"):
            parse_background(bad)


@pytest.mark.parametrize("spec", ["blur@1+blur@3+mean+zero", "data*5+noise@0.3*2", "panel"])
def test_sums_to_the_input_value_minus_the_background_mean(post, spec):
    """Efficiency for every number of permutations: the map sums to f(x) - mean_g f(b_g), with the
    background drawn in the documented order (permutations first, then data indices and noise)."""
    x, data, seed, n = images(), data_set(), 4, 3
    res = make_method("shapley", samples=n, patch=2, background=spec, data=data).attribute(
        post, x, "epistemic", generator=torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed)
    draw_permutations(n, 16, True, gen)  # patch=2 on 8x8 images: 16 patches
    bg = backgrounds_by_hand(x, spec, data, gen)
    f = unsure.target_function(post, "epistemic")
    with torch.no_grad():
        want = f(x) - torch.stack([f(b) for b in bg]).mean(0)
    torch.testing.assert_close(res.maps.flatten(1).sum(1), want, **TOL)
    torch.testing.assert_close(res.meta["f_reference"], f(x) - want, **TOL)
    assert res.meta["completeness_delta"].max() < 1e-12
    assert want.abs().min() > 1e-4  # the check is not 0 == 0


def coalition(x, b, lab, players):
    keep = torch.zeros(H, W, dtype=torch.bool)
    for p in players:
        keep |= lab == p
    return torch.where(keep, x, b)


def exact_values(f, x, bg, lab):
    """The subset formula with ``v(T) = mean_g f(coalition of x and b_g)``: ``[B,P]``."""
    def v(T):
        return torch.stack([f(coalition(x, b, lab, T)) for b in bg]).mean(0)

    phi = torch.zeros(x.shape[0], P, dtype=x.dtype)
    with torch.no_grad():
        for p in range(P):
            others = [q for q in range(P) if q != p]
            for r in range(P):
                for T in itertools.combinations(others, r):
                    w = math.factorial(r) * math.factorial(P - r - 1) / math.factorial(P)
                    phi[:, p] += w * (v(T + (p,)) - v(T))
    return phi


ALL = torch.tensor(list(itertools.permutations(range(P))))


@pytest.mark.parametrize("target", ["epistemic", "class:2"])
def test_all_orderings_give_the_exact_values(post, monkeypatch, target):
    """With every one of the 24 orderings, the estimator is the exact Shapley value of the
    background-averaged game (and differs from the single-reference game's)."""
    monkeypatch.setattr(shapley_mod, "draw_permutations", lambda n, p, a, g=None: ALL)
    x, data, spec = images(3), data_set(), "data*4+blur@2+mean"
    res = make_method("shapley", patch=PATCH, background=spec, data=data).attribute(
        post, x, target, generator=torch.Generator().manual_seed(1))
    bg = backgrounds_by_hand(x, spec, data, torch.Generator().manual_seed(1))
    f = unsure.target_function(post, target)
    lab = labels_of(PATCH)
    want = exact_values(f, x, bg, lab)
    torch.testing.assert_close(res.meta["patch_values"], want, **TOL)
    count = torch.bincount(lab.reshape(-1)).to(x.dtype)
    torch.testing.assert_close(res.maps, want[:, lab] / count[lab], **TOL)
    single = exact_values(f, x, bg[-1:], lab)  # the mean image alone: another game
    assert (single - want).abs().max() > 1e-3


def test_shap_exact_explainer_is_an_oracle(post, monkeypatch):
    """``shap.explainers.Exact`` with an ``Independent`` masker over the background rows computes the
    interventional Shapley values averaged over the background. Its features here are the 4 patches;
    a feature value names the image the patch comes from (0: x, g + 1: background g)."""
    shap = pytest.importorskip("shap")
    monkeypatch.setattr(shapley_mod, "draw_permutations", lambda n, p, a, g=None: ALL)
    x, data, spec = images(2, seed=1), data_set(), "data*5+blur@1"
    res = make_method("shapley", patch=PATCH, background=spec, data=data).attribute(
        post, x, "epistemic", generator=torch.Generator().manual_seed(2))
    bg = backgrounds_by_hand(x, spec, data, torch.Generator().manual_seed(2))  # [G,B,C,H,W]
    G = bg.shape[0]
    f = unsure.target_function(post, "epistemic")
    lab = labels_of(PATCH)
    for b in range(x.shape[0]):
        sources = torch.cat([x[b:b + 1], bg[:, b]])  # [G+1,C,H,W]

        def model(rows, sources=sources):
            ids = torch.as_tensor(np.asarray(rows), dtype=torch.long)  # [n,P] source of each patch
            imgs = sources[ids[:, lab], :, torch.arange(H)[:, None], torch.arange(W)]  # [n,H,W,C]
            with torch.no_grad():
                return f(imgs.permute(0, 3, 1, 2).contiguous()).numpy()

        masker = shap.maskers.Independent(np.arange(1, G + 1)[:, None].repeat(P, 1), max_samples=G)
        out = shap.explainers.Exact(model, masker)(np.zeros((1, P), dtype=int))
        torch.testing.assert_close(res.meta["patch_values"][b], torch.as_tensor(out.values[0]), **TOL)
        assert abs(out.base_values[0] - float(res.meta["f_reference"][b])) < 1e-12


def test_errors(post):
    with pytest.raises(UnsureError, match="needs data="):
        make_method("shapley", background="data").attribute(post, images(2), "epistemic")
    with pytest.raises(UnsureError, match="data must be"):
        make_method("shapley", background="data", data=[1, 2])
    with pytest.raises(UnsureError, match="background data are"):
        make_method("shapley", background="data", data=torch.rand(3, 1, H, W, dtype=torch.float64)).attribute(
            post, images(2), "epistemic")
