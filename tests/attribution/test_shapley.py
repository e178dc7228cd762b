"""Patch Shapley values: efficiency per permutation, a slow per-permutation reference, Captum's
``ShapleyValueSampling`` fed the same permutations, and exact enumeration on 4 patches (the
subset formula; Captum's exact ``ShapleyValues``) that both samplers must approach."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

import unsure
from unsure.attribution import make_method
from unsure.attribution.ua_backprop import reference_image
from unsure.errors import UnsureError

captum_attr = pytest.importorskip("captum.attr")

from _pathkit import C, H, W, images, tiny_ensemble  # noqa: E402

TOL = dict(rtol=1e-9, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-7)  # Captum 0.9 sums Shapley values into float32 (dtype=torch.float)


@pytest.fixture(scope="module")
def post():
    return tiny_ensemble()


def labels_of(patch):
    """``[H,W]`` patch index, by a plain double loop."""
    cols = -(-W // patch)
    lab = torch.empty(H, W, dtype=torch.long)
    for h in range(H):
        for w in range(W):
            lab[h, w] = (h // patch) * cols + w // patch
    return lab


def substitute(x, kind):
    if kind == "zero":
        return torch.zeros_like(x)
    if kind == "mean":
        return x.mean((2, 3), keepdim=True).expand_as(x)
    return reference_image(x, "blur", 2.0)


def coalition(x, sub, lab, players):
    keep = torch.zeros(H, W, dtype=x.dtype)
    for p in players:
        keep[lab == p] = 1.0
    return torch.where(keep.bool(), x, sub)


def sampled_perms(seed, n, P):
    """The documented order: randperm after randperm from Generator(seed), each then reversed."""
    g = torch.Generator().manual_seed(seed)
    out = []
    while len(out) < n:
        p = torch.randperm(P, generator=g)
        out += [p, p.flip(0)]
    return out[:n]


@pytest.mark.parametrize("kind", ["mean", "zero", "blur"])
@pytest.mark.parametrize("samples", [1, 3])
def test_efficiency_holds_for_every_number_of_permutations(post, kind, samples):
    x = images()
    f = unsure.target_function(post, "epistemic")
    res = make_method("shapley", samples=samples, substitute=kind).attribute(
        post, x, "epistemic", generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = f(x) - f(substitute(x, kind))
    torch.testing.assert_close(res.maps.flatten(1).sum(1), want, **TOL)
    assert res.meta["completeness_delta"].max() < 1e-12


@pytest.mark.parametrize("target", ["epistemic", "class:2"])
def test_matches_a_slow_per_permutation_loop(post, target):
    x, patch, n = images(3), 3, 5
    lab = labels_of(patch)
    P = int(lab.max()) + 1
    res = make_method("shapley", samples=n, patch=patch, substitute="mean").attribute(
        post, x, target, generator=torch.Generator().manual_seed(9))
    f = unsure.target_function(post, target)
    sub = substitute(x, "mean")
    phi = torch.zeros(x.shape[0], P, dtype=x.dtype)
    with torch.no_grad():
        for perm in sampled_perms(9, n, P):
            prev = f(sub)
            for t in range(P):
                cur = f(coalition(x, sub, lab, perm[:t + 1].tolist()))
                phi[:, perm[t]] += (cur - prev) / n
                prev = cur
    torch.testing.assert_close(res.meta["patch_values"], phi, **TOL)
    count = torch.bincount(lab.reshape(-1)).to(x.dtype)
    torch.testing.assert_close(res.maps, phi[:, lab] / count[lab], **TOL)


def feature_mask(lab):
    return lab[None, None].expand(1, C, H, W).contiguous()  # one feature = one patch, all channels


@pytest.mark.parametrize("target", ["epistemic", "class-logit:3"])
def test_captum_with_the_same_permutations(post, monkeypatch, target):
    """Captum draws ``torch.randperm(P)`` per sample; hand it our permutations in our order."""
    import captum.attr._core.shapley_value as sv

    x, n, patch = images(), 6, 2
    lab = labels_of(patch)
    P = int(lab.max()) + 1
    res = make_method("shapley", samples=n, patch=patch, substitute="blur").attribute(
        post, x, target, generator=torch.Generator().manual_seed(2))
    monkeypatch.setattr(sv, "_perm_generator", lambda P_, n_: (p.tolist() for p in sampled_perms(2, n_, P_)))
    f = unsure.target_function(post, target)
    out = captum_attr.ShapleyValueSampling(f).attribute(
        x, baselines=substitute(x, "blur"), feature_mask=feature_mask(lab), n_samples=n,
        perturbations_per_eval=4)
    cap = torch.stack([out[:, 0][:, lab == p][:, 0] for p in range(P)], 1).double()  # [B,P]
    torch.testing.assert_close(res.meta["patch_values"], cap, **F32)
    assert cap.abs().max() > 1e-3


def exact_shapley(f, x, sub, lab, P):
    """All ``P!`` orderings: the per-ordering marginal contributions ``c [P!, B, P]`` (``c[o, b, p]``
    = gain of patch p when it joins after its predecessors in ordering o) and the orderings."""
    with torch.no_grad():
        v = {T: f(coalition(x, sub, lab, T)) for r in range(P + 1) for T in itertools.combinations(range(P), r)}
    orders = list(itertools.permutations(range(P)))
    c = torch.zeros(len(orders), x.shape[0], P, dtype=x.dtype)
    for o, order in enumerate(orders):
        for t, p in enumerate(order):
            c[o, :, p] = v[tuple(sorted(order[:t + 1]))] - v[tuple(sorted(order[:t]))]
    return c, orders


def subset_formula(f, x, sub, lab, P):
    """phi_p = sum_{T not p} |T|! (P-|T|-1)! / P! (v(T + p) - v(T))."""
    phi = torch.zeros(x.shape[0], P, dtype=x.dtype)
    with torch.no_grad():
        for p in range(P):
            others = [q for q in range(P) if q != p]
            for r in range(P):
                for T in itertools.combinations(others, r):
                    w = math.factorial(r) * math.factorial(P - r - 1) / math.factorial(P)
                    phi[:, p] += w * (f(coalition(x, sub, lab, T + (p,))) - f(coalition(x, sub, lab, T)))
    return phi


def bernstein(var, bound, n, delta=1e-6):
    """``t`` with ``P(|mean of n iid terms - their expectation| >= t) <= delta`` for terms of variance
    ``var`` and ``|term - expectation| <= bound`` (Bernstein's inequality, solved for t)."""
    L = math.log(2 / delta)
    a = 2 * L * bound / 3
    return (a + torch.sqrt(a * a + 8 * n * L * var)) / (2 * n)


def test_both_samplers_approach_the_exact_values_on_four_patches(post):
    """With the exact variance of one sampled term (from all 24 orderings), a Bernstein bound says how
    far N permutations may stray; ours (antithetic pairs) and Captum's (iid) must stay inside it."""
    x, patch, P = images(3), 4, 4  # 8x8 -> 2x2 = 4 patches, 24 orderings
    lab = labels_of(patch)
    f = unsure.target_function(post, "epistemic")
    sub = substitute(x, "zero")
    c, orders = exact_shapley(f, x, sub, lab, P)
    phi = c.mean(0)
    torch.testing.assert_close(phi, subset_formula(f, x, sub, lab, P), **TOL)
    exact_captum = captum_attr.ShapleyValues(f).attribute(x, baselines=sub, feature_mask=feature_mask(lab))
    torch.testing.assert_close(torch.stack([exact_captum[:, 0][:, lab == p][:, 0] for p in range(P)], 1),
                               phi.float(), **F32)
    rev = [orders.index(o[::-1]) for o in orders]
    pair = (c + c[rev]) / 2  # an antithetic pair's term
    n = 1000
    ours = make_method("shapley", samples=n, patch=patch, substitute="zero", eval_batch=2048).attribute(
        post, x, "epistemic", generator=torch.Generator().manual_seed(0)).meta["patch_values"]
    tol = bernstein(pair.var(0, correction=0), float((pair - phi).abs().max()), n // 2)
    assert tol.max() < 0.1 * phi.abs().max()  # the check can tell a wrong value from a right one
    assert ((ours - phi).abs() < tol).all()
    torch.manual_seed(0)  # Captum draws its permutations from the global generator
    m = 1000
    cap = captum_attr.ShapleyValueSampling(f).attribute(x, baselines=sub, feature_mask=feature_mask(lab),
                                                        n_samples=m, perturbations_per_eval=4)
    cap = torch.stack([cap[:, 0][:, lab == p][:, 0] for p in range(P)], 1).double()
    tol_cap = bernstein(c.var(0, correction=0), float((c - phi).abs().max()), m)
    assert tol_cap.max() < 0.2 * phi.abs().max()
    assert ((cap - phi).abs() < tol_cap + 1e-6).all()  # + float32 accumulation


def test_predicted_class_is_frozen_at_the_input(post):
    """``class`` explains the class predicted at x for every coalition: equal to naming it."""
    x = images(1)
    with torch.no_grad():
        k = int(torch.softmax(post.draw()(x), -1).mean(0).argmax(-1)[0])
    a = make_method("shapley", samples=4).attribute(post, x, "class", generator=torch.Generator().manual_seed(1))
    b = make_method("shapley", samples=4).attribute(post, x, f"class:{k}", generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.maps, b.maps, **TOL)


def test_errors():
    with pytest.raises(UnsureError, match="substitute"):
        make_method("shapley", substitute="noise")
    with pytest.raises(UnsureError, match="patch"):
        make_method("shapley", patch=0)
    with pytest.raises(UnsureError, match="samples"):
        make_method("shapley", samples=0)
