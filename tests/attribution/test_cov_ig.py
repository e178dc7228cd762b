"""CovIG against a slow float64 reference (one ``autograd.grad`` per member, output and path point
on the numpy Gauss-Legendre nodes, ``torch.cov(..., correction=0)``, row sums / diagonal) and
exact identities (linear members: IG is exact, the marginal map sums to the member variance of
``y(x) - y(x')``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from unsure.attribution import make_method
from unsure.errors import UnsureError
from unsure.ops.blur import gaussian_blur

from _pathkit import C, H, W, images, tiny_ensemble
from test_cov_gi import linear_members

D = C * H * W
TOL = dict(rtol=1e-9, atol=1e-13)


@pytest.fixture(scope="module")
def post():
    return tiny_ensemble()


def member_ig(post, x1, ref1, output, steps):
    """``R [S,K,D]`` for one image: sum_t w_t grad y_s[k](x' + a_t (x - x')) * (x - x')."""
    nodes, w = np.polynomial.legendre.leggauss(steps)
    rows = []
    for net in post.members:
        per_k = []
        K = net(x1).shape[1]
        for k in range(K):
            acc = torch.zeros_like(x1)
            for a, wt in zip((nodes + 1) / 2, w / 2):
                z = (ref1 + float(a) * (x1 - ref1)).requires_grad_(True)
                y = net(z)[0]
                y = torch.softmax(y, -1) if output == "prob" else y
                (g,) = torch.autograd.grad(y[k], z)
                acc += float(wt) * g
            per_k.append((acc * (x1 - ref1)).reshape(-1))
        rows.append(torch.stack(per_k))
    return torch.stack(rows)


def reference(post, x, ref, target, form, steps):
    out = []
    for b in range(x.shape[0]):
        x1 = x[b:b + 1]
        with torch.no_grad():
            z = torch.stack([net(x1)[0] for net in post.members])  # [S,K]
        p, K = torch.softmax(z, -1), z.shape[1]
        if target == "epistemic":
            pbar = p.mean(0)
            Wk, output = (torch.diag(pbar) - torch.outer(pbar, pbar)) / 2, "logit"
        else:
            head, _, arg = target.partition(":")
            Wk = torch.zeros(K, K, dtype=x.dtype)
            Wk[int(arg), int(arg)] = 1.0
            output = "logit" if head == "class-logit" else "prob"
        R = member_ig(post, x1, ref[b:b + 1], output, steps)  # [S,K,D]
        cov = torch.cov(R.reshape(R.shape[0], -1).T, correction=0).reshape(K, D, K, D)
        Cm = torch.einsum("kl,kilj->ij", Wk, cov)
        out.append(Cm.sum(1) if form == "marg" else Cm.diagonal())
    return torch.stack(out).reshape(x.shape)


@pytest.mark.parametrize("form", ["marg", "diag"])
@pytest.mark.parametrize("target,baseline", [("epistemic", "black"), ("class:4", "black"),
                                             ("class-logit:2", "blur")])
def test_matches_the_slow_reference(post, target, baseline, form):
    x, steps = images(2), 4
    res = make_method("cov-ig", form=form, steps=steps, baseline=baseline, blur_sigma=1.5).attribute(
        post, x, target)
    ref = torch.zeros_like(x) if baseline == "black" else gaussian_blur(x, 1.5)
    want = reference(post, x, ref, target, form, steps)
    torch.testing.assert_close(res.raw, want, **TOL)
    torch.testing.assert_close(res.maps, want.sum(1), **TOL)
    assert res.maps.abs().max() > 0
    if form == "marg":
        torch.testing.assert_close(res.maps.flatten(1).sum(1), res.meta["second_order"], **TOL)


def test_internal_batch_changes_nothing(post):
    x = images(3)
    a = make_method("cov-ig", steps=5).attribute(post, x, "epistemic")
    b = make_method("cov-ig", steps=5, internal_batch=2).attribute(post, x, "epistemic")
    torch.testing.assert_close(a.raw, b.raw, **TOL)


@pytest.mark.parametrize("baseline", ["black", "blur"])
def test_linear_members_sum_to_the_variance_of_the_difference(baseline):
    """IG is exact on a linear member, so sum(marg map) = Var_s (y_s[k](x) - y_s[k](x'))."""
    post, x = linear_members(0.5), images()
    ref = torch.zeros_like(x) if baseline == "black" else gaussian_blur(x, 1.5)
    res = make_method("cov-ig", steps=2, baseline=baseline, blur_sigma=1.5).attribute(post, x, "class-logit:3")
    with torch.no_grad():
        d = post.draw()(x)[:, :, 3] - post.draw()(ref)[:, :, 3]  # [S,B]
    torch.testing.assert_close(res.maps.flatten(1).sum(1), d.var(0, correction=0), **TOL)


def test_smooth_members_converge_with_the_steps(post):
    """On the smooth toy ensemble U2 approaches Var_s (y_s(x) - y_s(0)) as the nodes grow."""
    x = images(2)
    with torch.no_grad():
        d = post.draw()(x)[:, :, 1] - post.draw()(torch.zeros_like(x))[:, :, 1]
    want = d.var(0, correction=0)
    err = [float(((make_method("cov-ig", steps=n).attribute(post, x, "class-logit:1").meta["second_order"]
                   - want) / want).abs().max()) for n in (2, 16)]
    assert err[1] < 1e-6 < err[0], err


def test_errors(post):
    with pytest.raises(UnsureError, match="fixed baseline"):
        make_method("cov-ig", baseline="uniform")
    with pytest.raises(UnsureError, match="form"):
        make_method("cov-ig", form="full")
    with pytest.raises(UnsureError, match="cov-ig explains a variance"):
        make_method("cov-ig").attribute(post, images(2), "total")
