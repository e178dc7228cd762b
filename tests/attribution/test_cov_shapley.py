"""CovShapley against a slow reference built from ``shapley`` itself: each member alone as a
one-member posterior, each output as a class target, the same seed (so the same permutations),
then ``torch.cov(..., correction=0)`` over the members at patch level; and the exact identity of
efficient values: the marginal map sums to the member variance of ``y(x) - y(x')``."""
from __future__ import annotations

import pytest
import torch

from unsure.attribution import make_method
from unsure.errors import UnsureError
from unsure.posteriors import DeepEnsemble

from _pathkit import images, tiny_ensemble

TOL = dict(rtol=1e-9, atol=1e-13)


@pytest.fixture(scope="module")
def post():
    return tiny_ensemble()


def reference(post, x, target, form, **opts):
    """Patch values ``[B,P]`` from S*K single-member, single-output ``shapley`` runs."""
    with torch.no_grad():
        z = post.draw()(x)  # [S,B,K]
    S, B, K = z.shape
    out = []
    for b in range(B):
        if target == "epistemic":
            pbar = torch.softmax(z[:, b], -1).mean(0)
            Wk, kind = (torch.diag(pbar) - torch.outer(pbar, pbar)) / 2, "class-logit"
        else:
            head, _, arg = target.partition(":")
            Wk = torch.zeros(K, K, dtype=x.dtype)
            Wk[int(arg), int(arg)] = 1.0
            kind = head
        R = torch.stack([torch.stack([
            make_method("shapley", **opts).attribute(
                DeepEnsemble([net]), x[b:b + 1], f"{kind}:{k}",
                generator=torch.Generator().manual_seed(7)).meta["patch_values"][0]
            for k in range(K)]) for net in post.members])  # [S,K,P]
        P = R.shape[-1]
        cov = torch.cov(R.reshape(S, -1).T, correction=0).reshape(K, P, K, P)
        Cm = torch.einsum("kl,kilj->ij", Wk, cov)
        out.append(Cm.sum(1) if form == "marg" else Cm.diagonal())
    return torch.stack(out)


@pytest.mark.parametrize("form", ["marg", "diag"])
@pytest.mark.parametrize("target", ["epistemic", "class:3"])
def test_matches_per_member_shapley(post, target, form):
    x = images(2)
    opts = dict(samples=3, patch=4, substitute="zero")
    res = make_method("cov-shapley", form=form, **opts).attribute(
        post, x, target, generator=torch.Generator().manual_seed(7))
    want = reference(post, x, target, form, **opts)
    torch.testing.assert_close(res.meta["patch_values"], want, **TOL)
    lab = torch.tensor([[0] * 4 + [1] * 4] * 4 + [[2] * 4 + [3] * 4] * 4)
    torch.testing.assert_close(res.maps, want[:, lab] / 16, **TOL)
    assert want.abs().max() > 1e-6


@pytest.mark.parametrize("substitute", ["zero", "blur"])
def test_marg_sums_exactly_to_the_variance_of_the_difference(post, substitute):
    """Efficiency per member and output: sum(map) = Var_s (y_s[k](x) - y_s[k](x')) for any N."""
    from unsure.attribution.shapley import substitute_image

    x = images()
    res = make_method("cov-shapley", samples=1, substitute=substitute).attribute(
        post, x, "class:2", generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        p = lambda z: torch.softmax(post.draw()(z), -1)[:, :, 2]  # noqa: E731
        d = p(x) - p(substitute_image(x, substitute, 2.0))
    torch.testing.assert_close(res.maps.flatten(1).sum(1), d.var(0, correction=0), **TOL)
    torch.testing.assert_close(res.meta["second_order"], d.var(0, correction=0), **TOL)


def test_errors(post):
    with pytest.raises(UnsureError, match="substitute"):
        make_method("cov-shapley", substitute="noise")
    with pytest.raises(UnsureError, match="cov-shapley explains a variance"):
        make_method("cov-shapley").attribute(post, images(2), "aleatoric")
