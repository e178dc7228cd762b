"""UAM against a reference built from the public ``fullgrad`` method (one call per member and class
logit) and weights from the closed form (vacuity: ``u alpha_k / S_alpha``) or central finite
differences (dissonance, the ensemble's mutual information); the complete form sums to ``U(x)``."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import unsure
from unsure.measures import dissonance
from unsure.attribution import make_method
from unsure.errors import UnsureError
from unsure.posteriors import Evidential

from _pathkit import C, H, W, images, tiny_ensemble

TOL = dict(rtol=1e-9, atol=1e-12)
K = 5


def evidential(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(C, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * H * W, K)).double().eval()
    with torch.no_grad():
        net[-1].bias.add_(1.0)  # most evidence active, so the maps are not all zero
    return Evidential(net, evidence="relu")


def class_maps(post, x):
    """``M [S,K,B,H,W]``: FullGrad of each member's class logit, one ``fullgrad`` call each."""
    with torch.no_grad():
        S, _, Kc = post.draw()(x).shape
    return torch.stack([torch.stack([
        make_method("fullgrad").attribute(post, x, lambda z, s=s, k=k: z[s, :, k]).maps
        for k in range(Kc)]) for s in range(S)])


def fd_weights(fn, z, h=1e-6):
    """``|dU/dz| [S,B,K]`` by central differences."""
    w = torch.zeros_like(z)
    for idx in torch.cartesian_prod(*[torch.arange(n) for n in z.shape]):
        e = torch.zeros_like(z)
        e[tuple(idx)] = h
        w[tuple(idx)] = (fn(z + e) - fn(z - e))[idx[1]] / (2 * h)
    return w.abs()


def test_vacuity_is_belief_weighted_fullgrad():
    post, x = evidential(), images(3)
    res = make_method("uam").attribute(post, x, "vacuity")
    alpha = post.alpha(x)  # [B,K]
    u = K / alpha.sum(-1)
    w = u[:, None] * alpha / alpha.sum(-1, keepdim=True)  # u alpha_k / S_alpha
    M = class_maps(post, x)[0]  # [K,B,H,W]
    torch.testing.assert_close(res.maps, torch.einsum("bk,kbhw->bhw", w, M), **TOL)
    torch.testing.assert_close(res.meta["weight_sum"], u, **TOL)  # the weights split u exactly
    assert res.maps.abs().max() > 0


def test_complete_vacuity_sums_to_the_vacuity():
    post, x = evidential(), images(3)
    res = make_method("uam", complete=True).attribute(post, x, "vacuity")
    alpha = post.alpha(x)
    u = K / alpha.sum(-1)
    M = class_maps(post, x)[0]
    P = M / M.flatten(2).sum(-1)[..., None, None]
    want = torch.einsum("bk,kbhw->bhw", u[:, None] * alpha / alpha.sum(-1, keepdim=True), P)
    torch.testing.assert_close(res.maps, want, **TOL)
    torch.testing.assert_close(res.maps.flatten(1).sum(1), u, **TOL)
    assert res.meta["completeness_delta"].max() < 1e-12


def test_dissonance_weights_match_finite_differences():
    post, x = evidential(1), images(2)
    res = make_method("uam").attribute(post, x, "dissonance")
    with torch.no_grad():
        z = post.draw()(x)
    w = fd_weights(dissonance, z)
    M = class_maps(post, x)
    torch.testing.assert_close(res.maps, torch.einsum("sbk,skbhw->bhw", w, M), rtol=1e-6, atol=1e-10)
    assert w.max() > 1e-3


def test_ensemble_epistemic_sums_over_members():
    post, x = tiny_ensemble(), images(2)
    res = make_method("uam").attribute(post, x, "epistemic")
    with torch.no_grad():
        z = post.draw()(x)
    w = fd_weights(unsure.epistemic, z)
    torch.testing.assert_close(res.maps, torch.einsum("sbk,skbhw->bhw", w, class_maps(post, x)),
                               rtol=1e-6, atol=1e-10)
    full = make_method("uam", complete=True).attribute(post, x, "epistemic")
    torch.testing.assert_close(full.maps.flatten(1).sum(1), unsure.epistemic(z), **TOL)


def test_errors():
    with pytest.raises(UnsureError, match="complete must be a bool"):
        make_method("uam", complete="yes")
