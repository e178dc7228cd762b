"""Cascading model-parameter randomisation: copies only, top-down order, Spearman/SSIM values."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_msssim import ssim
from scipy.stats import spearmanr
from torch import nn

from unsure.errors import UnsureError
from unsure.metrics import METRICS, model_randomisation
from unsure.metrics.sanity import cascade, layer_names, map_ssim, spearman
from unsure.posteriors import DeepEnsemble


def small_net():
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 64, 5),
                         nn.ReLU(), nn.Linear(5, 3))


def grad_explain(post, x):
    """Input gradient of the summed class-0 logits of all members (a tiny "method")."""
    x = x.clone().requires_grad_(True)
    z = post.draw()(x)  # [S,B,K]
    (g,) = torch.autograd.grad(z[..., 0].sum(), x)
    return g[:, 0]


def test_cascade_randomises_top_down_on_copies():
    torch.manual_seed(0)
    post = DeepEnsemble([small_net(), small_net()])
    before = {k: v.clone() for k, v in post.state_dict().items()}
    names = layer_names(post.members[0])
    assert names == ["0", "3", "5"]
    steps = list(cascade(post, torch.Generator().manual_seed(1)))
    assert [n for n, _ in steps] == ["5", "3", "0"]
    for i, (_, p) in enumerate(steps):
        for m in range(2):
            for j, name in enumerate(names):
                same = torch.equal(p.members[m].get_submodule(name).weight,
                                   post.members[m].get_submodule(name).weight)
                assert same == (j < len(names) - 1 - i), (i, m, name)
    for k, v in post.state_dict().items():
        assert torch.equal(v, before[k])


def test_parameter_independent_method_is_fully_similar():
    """A "method" that ignores the model (the image itself) fails the sanity check: similarity 1
    at every step (the worst score)."""
    torch.manual_seed(0)
    post = DeepEnsemble([small_net()])
    x = torch.rand(4, 1, 8, 8)
    res = model_randomisation(post, x, lambda p, x: x[:, 0] + 0.1)
    assert res.layers == ["5", "3", "0"]
    assert torch.allclose(res.spearman, torch.ones(3, 4, dtype=torch.float64))
    assert torch.allclose(res.ssim, torch.ones(3, 4, dtype=torch.float64), atol=1e-5)
    assert res.maps.shape == (4, 4, 8, 8)


def test_gradient_of_randomised_linear_model_has_chance_correlation():
    """For ``logit = W x`` the input gradient is a row of W; re-initialised rows are independent of
    the original ones, so the rank correlation is 0 in expectation. With 64 pixels one trial has
    std ~1/sqrt(63) = 0.126; over 60 seeds the mean has SE 0.016; tolerance 0.07 (> 4 SE)."""
    vals = []
    for seed in range(60):
        torch.manual_seed(seed)
        post = DeepEnsemble([nn.Sequential(nn.Flatten(), nn.Linear(64, 2))])
        x = torch.rand(1, 1, 8, 8)
        res = model_randomisation(post, x, grad_explain, absolute=False,
                                  generator=torch.Generator().manual_seed(1000 + seed))
        vals.append(float(res.spearman[0, 0]))
    assert np.mean(vals) == pytest.approx(0.0, abs=0.07)
    assert np.std(vals) > 0.05  # not degenerate


def test_spearman_and_ssim_match_references():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(5, 8, 8, generator=g), torch.randn(5, 8, 8, generator=g)
    b[0] = a[0] * 2 + 1  # monotone: 1
    b[1] = -a[1]  # reversed: -1
    rho = spearman(a, b)
    for i in range(5):
        assert rho[i].item() == pytest.approx(spearmanr(a[i].reshape(-1), b[i].reshape(-1)).statistic, abs=1e-12)
    assert rho[0].item() == pytest.approx(1.0) and rho[1].item() == pytest.approx(-1.0)
    assert spearman(torch.ones(1, 4, 4), torch.rand(1, 4, 4))[0] == 0  # constant map
    s = map_ssim(a, b)
    na = (a - a.flatten(1).min(1).values[:, None, None]) / (a.flatten(1).max(1).values - a.flatten(1).min(1).values)[:, None, None]
    nb = (b - b.flatten(1).min(1).values[:, None, None]) / (b.flatten(1).max(1).values - b.flatten(1).min(1).values)[:, None, None]
    ref = ssim(na[:, None], nb[:, None], data_range=1.0, size_average=False, win_size=3)
    assert torch.allclose(s.float(), ref, atol=1e-6)
    assert s[0].item() == pytest.approx(1.0, abs=1e-5)


def test_explain_shape_checked_and_directions():
    post = DeepEnsemble([small_net()])
    with pytest.raises(UnsureError, match="maps"):
        model_randomisation(post, torch.rand(2, 1, 8, 8), lambda p, x: x)
    assert not METRICS.get("randomisation-spearman").higher_is_better
    assert not METRICS.get("randomisation-ssim").higher_is_better
