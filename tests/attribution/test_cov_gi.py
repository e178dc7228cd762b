"""CovGI against a slow float64 reference (the authors' recipe: one gradient x input explanation
per member and output, ``torch.cov(..., correction=0)``, row sums / diagonal) and analytic cases
(bias-free linear and ReLU members: the map sums to the member variance exactly)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import unsure
from unsure.attribution import make_method
from unsure.errors import UnsureError
from unsure.posteriors import DeepEnsemble

from _pathkit import C, H, W, images, tiny_ensemble

D = C * H * W
TOL = dict(rtol=1e-9, atol=1e-13)


@pytest.fixture(scope="module")
def post():
    return tiny_ensemble()


def member_gi(post, x1, output):
    """``R [S,K,D]``: gradient x input of every member output for one image ``x1 [1,C,H,W]``,
    one ``autograd.grad`` per scalar."""
    rows = []
    for net in post.members:
        per_k = []
        xg = x1.clone().requires_grad_(True)
        z = net(xg)[0]
        y = torch.softmax(z, -1) if output == "prob" else z
        for k in range(y.shape[0]):
            (g,) = torch.autograd.grad(y[k], xg, retain_graph=True)
            per_k.append((g * x1).reshape(-1))
        rows.append(torch.stack(per_k))
    return torch.stack(rows)


def reference(post, x, target, reduce):
    """Per image: the ``[K*D, K*D]`` population covariance of the members' explanations,
    contracted with the target's output weights, then row sums or diagonal."""
    out = []
    for b in range(x.shape[0]):
        x1 = x[b:b + 1]
        with torch.no_grad():
            z = torch.stack([net(x1)[0] for net in post.members])  # [S,K]
        p = torch.softmax(z, -1)
        K = z.shape[1]
        if target == "epistemic":
            pbar = p.mean(0)
            Wk = (torch.diag(pbar) - torch.outer(pbar, pbar)) / 2
            output = "logit"
        else:
            head, _, arg = target.partition(":")
            k = int(arg) if arg not in ("", "pred") else int(p.mean(0).argmax())
            Wk = torch.zeros(K, K, dtype=x.dtype)
            Wk[k, k] = 1.0
            output = "logit" if head == "class-logit" else "prob"
        R = member_gi(post, x1, output)  # [S,K,D]
        cov = torch.cov(R.reshape(R.shape[0], -1).T, correction=0).reshape(K, D, K, D)
        Cm = torch.einsum("kl,kilj->ij", Wk, cov)  # [D,D]
        out.append(Cm.sum(1) if reduce == "marginal" else Cm.diagonal())
    return torch.stack(out).reshape(x.shape)


def test_form_vocabulary_and_the_old_spellings():
    assert make_method("cov-gi").form == "marg"
    assert make_method("cov-gi", form="diag").form == "diag"
    assert make_method("cov-gi", reduce="diagonal").form == "diag"
    assert make_method("cov-gi", form="diag", reduce="marginal").form == "marg"  # the old name wins


@pytest.mark.parametrize("reduce", ["marginal", "diagonal"])
@pytest.mark.parametrize("target", ["epistemic", "class-logit:2", "class:4", "class"])
def test_matches_the_slow_reference(post, target, reduce):
    x = images()
    form = {"marginal": "marg", "diagonal": "diag"}[reduce]
    res = make_method("cov-gi", form=form).attribute(post, x, target)
    want = reference(post, x, target, reduce)
    torch.testing.assert_close(res.raw, want, **TOL)
    torch.testing.assert_close(res.maps, want.sum(1), **TOL)
    assert res.maps.abs().max() > 0
    if reduce == "marginal":  # the marginal map sums to U2, the whole covariance
        torch.testing.assert_close(res.maps.flatten(1).sum(1), res.meta["second_order"], **TOL)


def test_batch_size_chunks_give_the_same_maps(post):
    x = images()
    full = make_method("cov-gi").attribute(post, x, "epistemic")
    chunked = make_method("cov-gi").attribute(post, x, "epistemic", batch_size=2)
    torch.testing.assert_close(chunked.raw, full.raw, **TOL)


def linear_members(eps: float, s: int = 4, k: int = 5, seed: int = 0):
    """Bias-free linear members ``z_s = (A + eps V_s) x``: their gradient x input sums to ``z_s``."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(k, D, dtype=torch.float64, generator=g) / D ** 0.5
    nets = []
    for _ in range(s):
        lin = nn.Linear(D, k, bias=False).double()
        with torch.no_grad():
            lin.weight.copy_(A + eps * torch.randn(k, D, dtype=torch.float64, generator=g))
        nets.append(nn.Sequential(nn.Flatten(), lin).eval())
    return DeepEnsemble(nets)


def relu_members(s: int = 3, k: int = 6):
    """Bias-free ReLU conv nets: positively homogeneous, so ``sum_i x_i dz/dx_i = z`` (Euler)."""
    nets = []
    for i in range(s):
        torch.manual_seed(100 + i)
        nets.append(nn.Sequential(nn.Conv2d(C, 4, 3, padding=1, bias=False), nn.ReLU(),
                                  nn.Flatten(), nn.Linear(4 * H * W, k, bias=False)).double().eval())
    return DeepEnsemble(nets)


@pytest.mark.parametrize("make", [lambda: linear_members(0.5), relu_members])
def test_sums_to_the_member_variance_of_a_homogeneous_net(make):
    """The paper's conservation: sum_i CovGI_i = Var_s f_s(x) when the explanations conserve f."""
    post, x = make(), images()
    with torch.no_grad():
        z = post.draw()(x)  # [S,B,K]
    res = make_method("cov-gi").attribute(post, x, "class-logit:3")
    torch.testing.assert_close(res.maps.flatten(1).sum(1), z[:, :, 3].var(0, correction=0), **TOL)
    torch.testing.assert_close(res.meta["exact"], z[:, :, 3].var(0, correction=0), **TOL)
    assert res.meta["completeness_delta"].max() < 1e-12
    # epistemic: the map sums to the second-order mutual information 1/2 mean_s dz^T F dz
    pbar = torch.softmax(z, -1).mean(0)
    F = torch.diag_embed(pbar) - pbar[:, :, None] * pbar[:, None, :]
    dz = z - z.mean(0)
    want = 0.5 * torch.einsum("sbk,bkl,sbl->b", dz, F, dz) / z.shape[0]
    res = make_method("cov-gi").attribute(post, x, "epistemic")
    torch.testing.assert_close(res.maps.flatten(1).sum(1), want, **TOL)


def test_second_order_mutual_information_converges():
    """For members that differ by eps, sum(map) / MI - 1 = O(eps): 10x smaller eps, >= 5x smaller."""
    x = images()
    err = []
    for eps in (0.2, 0.02):
        post = linear_members(eps)
        res = make_method("cov-gi").attribute(post, x, "epistemic")
        mi = unsure.uncertainty(post, x)["epistemic"]
        err.append(float((res.maps.flatten(1).sum(1) / mi - 1).abs().max()))
    assert err[1] < err[0] / 5 and err[1] < 0.05, err


def test_errors(post):
    with pytest.raises(UnsureError, match="form must be one of marg, diag"):
        make_method("cov-gi", reduce="sum")
    with pytest.raises(UnsureError, match="form must be one of marg, diag"):
        make_method("cov-gi", form="marginals")
    for target in ["total", "aleatoric"]:
        with pytest.raises(UnsureError, match="cov-gi explains a variance"):
            make_method("cov-gi").attribute(post, images(2), target)
