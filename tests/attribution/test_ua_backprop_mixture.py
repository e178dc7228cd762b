"""UA-Backprop with a reference distribution (``reference="blur@1+black+..."`` / ``"mix"``) and the
``joint`` grouping, against loops (one backward per image and class), and exact completeness."""
from __future__ import annotations

import pytest
import torch

import unsure
from unsure.errors import UnsureError
from unsure.posteriors import DeepEnsemble

from test_ua_backprop import _cheap_posteriors, blur_ref, make_net


@pytest.fixture
def ens():
    torch.manual_seed(0)
    return DeepEnsemble([make_net() for _ in range(3)])


@pytest.fixture
def x():
    return torch.rand(4, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def refs_by_loops(x):
    """blur@1, blur@2, black, mean: the references of ``"blur@1+blur@2+black+mean"``."""
    mean = torch.stack([torch.full_like(x[b], float(x[b].sum() / x[b].numel())) for b in range(len(x))])
    return [blur_ref(x, 1.0), blur_ref(x, 2.0), torch.zeros_like(x), mean]


def ref_map(nets, x, refs, T2, joint=False, combine="mean-of-relu", noise=()):
    """Groups (classes, or U alone when ``joint``), each relevance ``mean_j relu(g (x - ref_j))``
    (or ``relu(mean_j ...)``), distribution ``exp(r / max r / T2) - 1`` normalised, weight = term."""
    maps = torch.zeros(x.shape[0], *x.shape[-2:], dtype=x.dtype)
    for b in range(x.shape[0]):
        xb = x[b:b + 1].clone().requires_grad_(True)
        z = torch.stack([n(xb)[0] for n in nets])
        p = torch.softmax(z, -1)
        pbar = p.mean(0)
        terms = [sum(p[m, k] * (torch.log(p[m, k]) - torch.log(pbar[k])) for m in range(len(nets))) / len(nets)
                 for k in range(z.shape[1])]
        groups = [sum(terms)] if joint else terms
        for a in groups:
            (g,) = torch.autograd.grad(a, xb, retain_graph=True)
            ts = [(g * (xb.detach() - ref[b:b + 1])) for ref in refs]
            pos = [t.clamp_min(0) for t in ts] + [g.abs() * sd / (2 * torch.pi) ** 0.5 for sd in noise]
            if combine == "relu-of-mean":  # a noise reference's expected term is 0
                pos = [(sum(ts) / (len(ts) + len(noise))).clamp_min(0)]
            if combine == "mean-of-scaled-relu":
                pos = [q / q.max() for q in pos]
            r = (sum(pos) / len(pos)).mean(1)[0]
            if r.max() <= 0:
                r = (sum(t.abs() for t in ts) / len(ts)).mean(1)[0]
            e = torch.exp(r / r.max() / T2) - 1
            maps[b] += a.detach() * e / e.sum()
    return maps


@pytest.mark.parametrize("joint", [False, True])
@pytest.mark.parametrize("combine", ["mean-of-relu", "relu-of-mean"])
def test_mixture_matches_loops(ens, x, joint, combine):
    got = unsure.attribute(ens, x, method="ua-backprop", target="epistemic", T2=0.7,
                           reference="blur@1+blur@2+black+mean", combine=combine,
                           grouping="joint" if joint else "class")
    want = ref_map(list(ens.members), x, refs_by_loops(x), 0.7, joint, combine)
    assert torch.allclose(got.maps, want, rtol=1e-9, atol=1e-12), (got.maps - want).abs().max()


@pytest.mark.parametrize("joint", [False, True])
@pytest.mark.parametrize("combine", ["mean-of-relu", "mean-of-scaled-relu", "relu-of-mean"])
def test_mixture_with_noise_matches_loops(ens, x, joint, combine):
    got = unsure.attribute(ens, x, method="ua-backprop", target="epistemic", T2=0.7,
                           reference="blur@1+black+noise@0.3", combine=combine,
                           grouping="joint" if joint else "class")
    refs = refs_by_loops(x)
    want = ref_map(list(ens.members), x, [refs[0], refs[2]], 0.7, joint, combine, noise=(0.3,))
    assert torch.allclose(got.maps, want, rtol=1e-9, atol=1e-12), (got.maps - want).abs().max()


def test_noise_reference_is_the_expected_relu_of_the_noised_first_order_term():
    """E relu(g (x - (x + eps))) over eps ~ N(0, s^2), by Monte Carlo, is |g| s / sqrt(2 pi)."""
    gen = torch.Generator().manual_seed(0)
    g = torch.randn(50, dtype=torch.float64, generator=gen)
    eps = 0.3 * torch.randn(200_000, 50, dtype=torch.float64, generator=gen)
    mc = (-g * eps).clamp_min(0).mean(0)
    assert torch.allclose(mc, g.abs() * 0.3 / (2 * torch.pi) ** 0.5, rtol=0.02, atol=1e-4)


def test_joint_with_one_reference_ranks_like_inputgrad(ens, x):
    """One group and one reference: the map is U times a monotone transform of relu(dU/dx (x - x0))."""
    got = unsure.attribute(ens, x, method="ua-backprop", grouping="joint", reference="blur", blur_sigma=2.0)
    ig = unsure.attribute(ens, x, method="inputgrad", reference="blur", blur_sigma=2.0)
    pos = ig.maps > 0
    assert torch.equal(got.maps > 0, pos)
    for b in range(len(x)):
        a, c = got.maps[b][pos[b]], ig.maps[b][pos[b]]
        assert torch.equal(a.argsort(), c.argsort())


@pytest.mark.parametrize("name,post", _cheap_posteriors())
@pytest.mark.parametrize("opts", [{"reference": "mix"}, {"reference": "mix", "grouping": "joint"},
                                  {"grouping": "joint"},
                                  {"reference": "mix+noise@0.3", "grouping": "joint", "combine": "mean-of-scaled-relu"},
                                  {"reference": "noise@0.3"}])
def test_mixture_and_joint_are_exactly_complete(name, post, opts, x):
    for kind in ("total", "aleatoric", "epistemic"):
        if post.num_samples == 1 and kind != "total":  # S = 1: refused (tests/measures/test_one_sample.py)
            continue
        res = unsure.attribute(post, x, method="ua-backprop", target=kind, **opts,
                               generator=torch.Generator().manual_seed(0))
        U = res.meta["uncertainty"]
        assert (res.maps >= 0).all() and torch.isfinite(res.maps).all()
        err = (res.maps.sum((1, 2)) - U).abs()
        assert (err <= 1e-5 * U.abs().clamp_min(1)).all(), (name, opts, kind, err)
        assert torch.equal(res.meta["completeness_delta"], res.maps.sum((1, 2)) - U)


def test_errors():
    for bad in ({"reference": "blur@0+black"}, {"reference": "grey+black"}, {"grouping": "member"},
                {"combine": "max"}, {"grouping": "joint", "variant": "paper"}, {"reference": "noise@-1"},
                {"reference": "noise@0.3", "variant": "paper"}):
        with pytest.raises(UnsureError):
            unsure.attribute(DeepEnsemble([make_net()]), torch.rand(1, 1, 8, 8, dtype=torch.float64),
                             method="ua-backprop", **bad)
    with pytest.raises(UnsureError, match="inputgrad"):
        unsure.attribute(DeepEnsemble([make_net(), make_net()]), torch.rand(1, 1, 8, 8, dtype=torch.float64),
                         method="ua-backprop", reference="mix", path="ig")
    with pytest.raises(UnsureError, match="inputgrad"):
        unsure.attribute(DeepEnsemble([make_net(), make_net()]), torch.rand(1, 1, 8, 8, dtype=torch.float64),
                         method="ua-backprop", reference="black+noise@0.3", path="ig", grouping="joint")


def test_joint_ig_path_matches_loops(ens, x):
    """grouping joint, path ig: relu of the integrated gradients of U from each reference
    (midpoint rule), mean over the references, then U times the distribution."""
    got = unsure.attribute(ens, x, method="ua-backprop", grouping="joint", path="ig", steps=3,
                           reference="blur@2+black", T2=0.7)
    nets = list(ens.members)
    refs = [blur_ref(x, 2.0), torch.zeros_like(x)]
    for b in range(len(x)):
        rs, U = [], None
        for ref in refs:
            acc = torch.zeros_like(x[b:b + 1])
            for i in range(3):
                pt = (ref[b:b + 1] + (i + 0.5) / 3 * (x[b:b + 1] - ref[b:b + 1])).requires_grad_(True)
                p = torch.softmax(torch.stack([n(pt)[0] for n in nets]), -1)
                pbar = p.mean(0)
                u = -(pbar * pbar.log()).sum() + (p * p.log()).sum(1).mean()
                (g,) = torch.autograd.grad(u, pt)
                acc += g
            rs.append((acc / 3 * (x[b:b + 1] - ref[b:b + 1])).clamp_min(0).mean(1)[0])
        r = sum(rs) / 2
        e = torch.exp(r / r.max() / 0.7) - 1
        U = got.meta["uncertainty"][b]
        assert torch.allclose(got.maps[b], U * e / e.sum(), rtol=1e-9, atol=1e-12)


def test_attribute_without_method_is_the_named_panel_default(ens, x):
    """``unsure.attribute(post, x)`` runs DEFAULT_SPEC (docs/results/blurring-panel.md); options given
    without ``method=`` override the default's; ``method="ua-backprop"`` keeps the class variant."""
    from unsure.attribution.base import DEFAULT_OPTIONS, DEFAULT_SPEC
    from unsure.attribution.ua_mixture import MIX
    from unsure.attribution.spec import parse_method

    spec = parse_method(DEFAULT_SPEC)
    assert spec.name == "ua-backprop" and spec.options == DEFAULT_OPTIONS
    got = unsure.attribute(ens, x)
    want = unsure.attribute(ens, x, method="ua-backprop", **DEFAULT_OPTIONS)
    assert torch.equal(got.maps, want.maps)
    # the recorded reference is the expanded mixture ("mix" spelt out), the same as asked for explicitly
    assert got.meta["settings"]["reference"] == want.meta["settings"]["reference"]
    assert got.meta["settings"]["reference"] == DEFAULT_OPTIONS["reference"].replace("mix", MIX)
    torch.testing.assert_close(got.maps.sum((1, 2)), unsure.uncertainty(ens, x)["epistemic"])
    other = unsure.attribute(ens, x, combine="mean-of-relu")
    assert torch.equal(other.maps, unsure.attribute(ens, x, method="ua-backprop",
                                                    **{**DEFAULT_OPTIONS, "combine": "mean-of-relu"}).maps)
    assert not torch.equal(unsure.attribute(ens, x, method="ua-backprop").maps, got.maps)


@pytest.mark.parametrize("kind", ["total", "aleatoric", "epistemic"])
def test_joint_logit_gradient_is_the_sum_of_the_class_rows(kind):
    """The joint grouping's one backward of U equals the sum of the K class-term rows."""
    from unsure.attribution.ua_backprop import class_terms

    z = torch.randn(3, 5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 3  # [S,B,K]
    a, D = class_terms(z, kind)
    a1, d1 = class_terms(z, kind, rows=False)
    assert D.shape == (7, 3, 5, 7) and d1.shape == (1, 3, 5, 7)
    torch.testing.assert_close(a1, a, rtol=0, atol=0)
    torch.testing.assert_close(d1[0], D.sum(0), rtol=1e-12, atol=1e-14)
    assert d1.abs().max() > 0
