"""UA-Backprop against a slow float64 reference written with explicit loops (one backward per
member, image and logit), plus the properties of spec/UA_BACKPROP.md."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import unsure
from unsure.errors import UnsureError
from unsure.models.paper_cnn import PaperCNN
from unsure.posteriors import POSTERIORS, DeepEnsemble

S, B, K, SIDE = 3, 5, 7, 8
PATHS = ["fullgrad", "grad", "inputgrad", "ig"]
TARGETS = ["total", "aleatoric", "epistemic"]


def make_net(k: int = K) -> nn.Module:
    net = PaperCNN(1, k, SIDE).double()
    with torch.no_grad():  # larger weights than the default init: members disagree visibly
        for p in net.parameters():
            p.mul_(3.0)
    return net.eval()


@pytest.fixture
def ens():
    return DeepEnsemble([make_net() for _ in range(S)])


@pytest.fixture
def x():
    return torch.rand(B, 1, SIDE, SIDE, dtype=torch.float64)


# ----------------------------------------------------------------------------- loop reference
def ref_terms(z, kind):
    """a(p_k^m) from paper Eq. 4 with explicit loops: z [S,B,K] -> list [m][b][k]."""
    Sn, Bn, Kn = z.shape
    p = [[[0.0] * Kn for _ in range(Bn)] for _ in range(Sn)]
    for m in range(Sn):
        for b in range(Bn):
            den = sum(math.exp(float(z[m, b, j])) for j in range(Kn))
            for k in range(Kn):
                p[m][b][k] = math.exp(float(z[m, b, k])) / den
    a = [[[0.0] * Kn for _ in range(Bn)] for _ in range(Sn)]
    for b in range(Bn):
        pbar = [sum(p[m][b][k] for m in range(Sn)) / Sn for k in range(Kn)]
        for m in range(Sn):
            for k in range(Kn):
                q, qb = p[m][b][k], pbar[k]
                if kind == "total":
                    a[m][b][k] = -q * math.log(qb) / Sn
                elif kind == "aleatoric":
                    a[m][b][k] = -q * math.log(q) / Sn
                else:
                    a[m][b][k] = q * (math.log(q) - math.log(qb)) / Sn
    return p, a


def ref_logit_terms(p, a, T1, normalise=True):
    """Paper Eq. 5-8 with loops: a(z_j^m) = sum_k softmax_j(|J_kj|/T1) a(p_k^m)
    (``normalise=False``: the raw ``|J_kj|`` instead of the softmax)."""
    Sn, Bn, Kn = len(p), len(p[0]), len(p[0][0])
    out = [[[0.0] * Kn for _ in range(Bn)] for _ in range(Sn)]
    for m in range(Sn):
        for b in range(Bn):
            for k in range(Kn):
                jac = [abs(p[m][b][k] * ((1.0 if k == j else 0.0) - p[m][b][j])) for j in range(Kn)]
                den = sum(math.exp(v / T1) for v in jac)
                for j in range(Kn):
                    w = math.exp(jac[j] / T1) / den if normalise else jac[j]
                    out[m][b][j] += w * a[m][b][k]
    return out


def ref_psi(t):
    t = t.abs()
    return (t - t.min()) / (t.max() - t.min() + 1e-6)


def ref_relevance(net, xb, path, reference="black", steps=4):
    """Relevance ``[J][H,W]`` of every logit j of one network for one image ``xb [1,C,H,W]``:
    one forward, then a separate backward for each logit."""
    if path == "ig":
        ref = torch.zeros_like(xb) if reference == "black" else torch.ones_like(xb)
        totals = None
        for i in range(steps):
            pt = (ref + (i + 0.5) / steps * (xb - ref)).requires_grad_(True)
            z = net(pt)[0]
            gs = [torch.autograd.grad(z[j], pt, retain_graph=True)[0] for j in range(len(z))]
            totals = gs if totals is None else [t + g for t, g in zip(totals, gs)]
        return [(t / steps * (xb - ref)).abs().mean(1)[0] for t in totals]
    outs = {}
    convs = [net.conv1, net.conv2]
    hooks = [c.register_forward_hook(lambda mod, i, o: outs.__setitem__(mod, o)) for c in convs]
    try:
        xr = xb.clone().requires_grad_(True)
        z = net(xr)[0]
        per_logit = [torch.autograd.grad(z[j], [xr] + [outs[c] for c in convs], retain_graph=True)
                     for j in range(len(z))]
    finally:
        for h in hooks:
            h.remove()
    maps = []
    for grads in per_logit:
        g = grads[0]
        if path == "grad":
            maps.append(g.abs().mean(1)[0])
            continue
        if path == "inputgrad":
            maps.append((g * xb).abs().mean(1)[0])
            continue
        # fullgrad, in FullGrad's own order: psi per layer, upsample every channel, then sum
        r = ref_psi(g * xb)[0].sum(0)
        for c, gh in zip(convs, grads[1:]):
            term = ref_psi(gh * c.bias[None, :, None, None])  # [1,C_l,h,w]
            up = F.interpolate(term, size=xb.shape[-2:], mode="bilinear", align_corners=True)
            r = r + up[0].sum(0)
        maps.append(r)
    return maps


def ref_map(nets, x, kind, path, T1, T2, normalise=True, **kw):
    with torch.no_grad():
        z = torch.stack([n(x) for n in nets])
    p, a = ref_terms(z, kind)
    az = ref_logit_terms(p, a, T1, normalise)
    H, W = x.shape[-2:]
    maps = torch.zeros(x.shape[0], H, W, dtype=x.dtype)
    for m, net in enumerate(nets):
        for b in range(x.shape[0]):
            for j, r in enumerate(ref_relevance(net, x[b:b + 1], path, **kw)):
                if not normalise:  # the raw relevance, no pixel distribution
                    maps[b] += az[m][b][j] * r
                    continue
                r = r / r.max()
                e = torch.exp(r / T2)
                maps[b] += az[m][b][j] * e / e.sum()
    return maps


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("path", PATHS)
def test_matches_loop_reference(ens, x, path):
    kind = "epistemic" if path != "grad" else "total"
    kw = {"steps": 3, "reference": "white"} if path == "ig" else {}
    got = unsure.attribute(ens, x, method="ua-backprop", target=kind, path=path, T1=0.05, T2=0.2,
                           variant="paper", **kw)
    want = ref_map(list(ens.members), x, kind, path, 0.05, 0.2, **kw)
    assert got.maps.shape == (B, SIDE, SIDE)
    assert torch.allclose(got.maps, want, rtol=1e-9, atol=1e-10), (got.maps - want).abs().max()


def test_step2_keeps_the_sum_and_matches_loops(ens, x):
    from unsure.attribution.ua_backprop import logit_terms
    from unsure.measures import decompose

    with torch.no_grad():
        z = torch.stack([n(x) for n in ens.members])
    p, a = ref_terms(z, "epistemic")
    want = torch.tensor(ref_logit_terms(p, a, 0.3), dtype=torch.float64)
    got = logit_terms(z, decompose(z, "epistemic"), 0.3)
    assert torch.allclose(got, want, rtol=1e-10, atol=1e-14)
    assert torch.allclose(got.sum((0, 2)), decompose(z, "epistemic").sum((0, 2)), rtol=1e-12, atol=1e-15)


def _cheap_posteriors():
    """Every registered posterior that can be built on a tiny PaperCNN without training."""
    out = []
    for name in POSTERIORS.names():
        cls = POSTERIORS.get(name)
        try:
            post = cls.from_config({"posterior": name, "members": S, "samples": S, "num_samples": S, "sigma": 0.1},
                                   lambda: PaperCNN(1, K, SIDE))
            post.double().draw(torch.Generator().manual_seed(0))
        except Exception as e:  # needs a fit (Laplace) or other settings
            out.append(pytest.param(name, None, marks=pytest.mark.skip(reason=f"{name}: {e!s:.80}")))
            continue
        out.append(pytest.param(name, post))
    return out


@pytest.mark.parametrize("name,post", _cheap_posteriors())
@pytest.mark.parametrize("path", PATHS)
def test_completeness_every_target_path_posterior(name, post, path, x):
    kw = {"steps": 3} if path == "ig" else {}
    for target in TARGETS:
        if post.num_samples == 1 and target in ("aleatoric", "epistemic"):  # S = 1: refused in one line
            with pytest.raises(unsure.UnsureError, match="one sample per input"):
                unsure.attribute(post, x, method="ua-backprop", target=target, path=path, **kw)
            continue
        for variant in ("paper", "class"):
            res = unsure.attribute(post, x, method="ua-backprop", target=target, path=path,
                                   variant=variant, generator=torch.Generator().manual_seed(0), **kw)
            U = res.meta["uncertainty"]
            assert torch.isfinite(res.maps).all()
            err = (res.maps.sum((1, 2)) - U).abs()
            assert (err <= 1e-5 * U.abs().clamp_min(1)).all(), (name, path, target, variant, err)
            assert torch.equal(res.meta["completeness_delta"], res.maps.sum((1, 2)) - U)


@pytest.mark.parametrize("prune", [0.5, 0.9, 0.999])
def test_prune_keeps_completeness(ens, x, prune):
    full = unsure.attribute(ens, x, method="ua-backprop", path="inputgrad", variant="paper")
    res = unsure.attribute(ens, x, method="ua-backprop", path="inputgrad", variant="paper", prune=prune)
    assert torch.allclose(res.maps.sum((1, 2)), full.meta["uncertainty"], rtol=1e-10, atol=1e-14)
    assert (res.meta["kept_logits"] <= S * K).all() and (res.meta["kept_logits"] >= 1).all()
    if prune == 0.5:
        assert (res.meta["kept_logits"] < S * K).any()


def test_prune_one_is_no_prune(ens, x):
    a = unsure.attribute(ens, x, method="ua-backprop", path="grad", variant="paper")
    b = unsure.attribute(ens, x, method="ua-backprop", path="grad", variant="paper", prune=1.0)
    assert torch.allclose(a.maps, b.maps, rtol=1e-12, atol=1e-15)


class Masked(nn.Module):
    """A network that multiplies its input by a fixed mask first: masked pixels are ignored."""

    def __init__(self, net, mask):
        super().__init__()
        self.net = net
        self.register_buffer("mask", mask)

    def forward(self, x):
        return self.net(x * self.mask)


@pytest.mark.parametrize("path", ["grad", "inputgrad", "ig"])
def test_sensitivity_ignored_pixels(x, path):
    mask = torch.ones(1, 1, SIDE, SIDE, dtype=torch.float64)
    mask[..., :3, :3] = 0
    post = DeepEnsemble([Masked(make_net(), mask) for _ in range(S)])
    kw = {"steps": 3} if path == "ig" else {}
    # paper variant: a zero-relevance pixel keeps the softmax floor, ~0 at a small T2
    res = unsure.attribute(post, x, method="ua-backprop", target="total", path=path, T2=0.01,
                           variant="paper", **kw)
    U = res.meta["uncertainty"]
    assert (res.maps[:, :3, :3].abs() <= 1e-15 * U[:, None, None]).all()
    # class variant: exactly 0 at any T2
    res = unsure.attribute(post, x, method="ua-backprop", target="epistemic", path=path,
                           variant="class", T2=1.0, **kw)
    assert (res.maps[:, :3, :3] == 0).all()
    assert (res.maps[:, 3:, 3:].abs() > 0).any()


class SplitFC(nn.Module):
    """PaperCNN with fc1 split into two linear layers that compose to the same map."""

    def __init__(self, net: PaperCNN):
        super().__init__()
        self.net = net
        F_, Hd = net.fc1.in_features, net.fc1.out_features
        gen = torch.Generator().manual_seed(3)
        W1 = torch.eye(F_, dtype=torch.float64) + 0.1 * torch.randn(F_, F_, generator=gen, dtype=torch.float64)
        b1 = torch.randn(F_, generator=gen, dtype=torch.float64)
        self.fa, self.fb = nn.Linear(F_, F_).double(), nn.Linear(F_, Hd).double()
        with torch.no_grad():
            W2 = net.fc1.weight @ torch.linalg.inv(W1)
            self.fa.weight.copy_(W1), self.fa.bias.copy_(b1)
            self.fb.weight.copy_(W2), self.fb.bias.copy_(net.fc1.bias - W2 @ b1)

    def forward(self, x):
        n = self.net
        h = n.pool(n.relu2(n.conv2(n.relu1(n.conv1(x))))).flatten(1)
        return n.fc2(n.relu3(self.fb(self.fa(h))))


@pytest.mark.parametrize("variant", ["paper", "class"])
@pytest.mark.parametrize("path", ["grad", "inputgrad", "ig"])
def test_implementation_invariance(x, path, variant):
    nets = [make_net() for _ in range(S)]
    a = DeepEnsemble(nets)
    b = DeepEnsemble([SplitFC(n) for n in nets])
    kw = {"steps": 3} if path == "ig" else {}
    with torch.no_grad():
        assert torch.allclose(a.sample_logits(x), b.sample_logits(x), atol=1e-10)
    ma = unsure.attribute(a, x, method="ua-backprop", path=path, variant=variant, **kw).maps
    mb = unsure.attribute(b, x, method="ua-backprop", path=path, variant=variant, **kw).maps
    assert torch.allclose(ma, mb, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("variant", ["paper", "class"])
def test_one_member_default_is_total_and_complete(x, path, variant):
    """One member: epistemic is 0, so the default target is total (not a blank map)."""
    post = DeepEnsemble([make_net()])
    kw = {"steps": 2} if path == "ig" else {}
    with pytest.warns(UserWarning, match="S = 1"):
        res = unsure.attribute(post, x, method="ua-backprop", path=path, variant=variant, **kw)
    assert res.meta["target"] == "total" and not torch.isnan(res.maps).any()
    U = unsure.uncertainty(post, x)["total"]
    assert (U > 0).all()
    torch.testing.assert_close(res.maps.sum((1, 2)), U, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("path", ["fullgrad", "inputgrad"])
def test_batch_equals_single(ens, x, path):
    full = unsure.attribute(ens, x, method="ua-backprop", path=path, variant="class")
    for i in (0, 3):
        one = unsure.attribute(ens, x[i:i + 1], method="ua-backprop", path=path, variant="class")
        assert torch.allclose(full.maps[i], one.maps[0], rtol=1e-10, atol=1e-14)
    for variant in ("paper", "class"):
        chunked = unsure.attribute(ens, x, method="ua-backprop", path=path, variant=variant, batch_size=2)
        plain = unsure.attribute(ens, x, method="ua-backprop", path=path, variant=variant)
        assert torch.allclose(chunked.maps, plain.maps, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("variant", ["paper", "class"])
def test_raw_sums_to_maps_and_input_untouched(ens, variant):
    x = torch.rand(B, 3, SIDE, SIDE, dtype=torch.float64)
    post = DeepEnsemble([PaperCNN(3, K, SIDE).double() for _ in range(S)])
    before = x.clone()
    res = unsure.attribute(post, x, method="ua-backprop", path="inputgrad", variant=variant)
    assert torch.equal(x, before)
    assert res.raw.shape == (B, 3, SIDE, SIDE)
    assert torch.allclose(res.raw.sum(1), res.maps, rtol=1e-10, atol=1e-14)


def test_bad_target_and_options(ens, x):
    with pytest.raises(UnsureError, match="total', 'aleatoric' or 'epistemic"):
        unsure.attribute(ens, x, method="ua-backprop", target="class")
    with pytest.raises(UnsureError, match="paths"):
        unsure.attribute(ens, x, method="ua-backprop", path="smooth")
    with pytest.raises(UnsureError, match="temperatures"):
        unsure.attribute(ens, x, method="ua-backprop", T1=0)
    with pytest.raises(UnsureError, match="prune"):
        unsure.attribute(ens, x, method="ua-backprop", prune=1.5)
    with pytest.raises(UnsureError, match="reference"):
        unsure.attribute(ens, x, method="ua-backprop", reference="grey")
    with pytest.raises(UnsureError, match="blur_sigma"):
        unsure.attribute(ens, x, method="ua-backprop", reference="blur", blur_sigma=0)
    with pytest.raises(UnsureError, match="T2"):
        unsure.attribute(ens, x, method="ua-backprop", T2="hot")
    with pytest.raises(UnsureError, match="prune"):
        unsure.attribute(ens, x, method="ua-backprop", variant="class", prune=0)


def test_hooks_removed(ens, x):
    for variant in ("paper", "class"):
        unsure.attribute(ens, x, method="ua-backprop", path="fullgrad", variant=variant)
    for m in ens.modules():
        assert not m._forward_hooks


def ref_class_map(nets, x, kind, T2, ref=None, normalise=True):
    """Variant ``class`` with loops: a_k = sum_m a(p_k^m) and relu(d a_k/dx * (x - ref)), one
    backward per image and class through all members (``ref`` None: black, 0).
    ``normalise=False``: ``a_k`` times the raw channel mean of the relu, no distribution."""
    ref = torch.zeros_like(x) if ref is None else ref
    maps = torch.zeros(x.shape[0], *x.shape[-2:], dtype=x.dtype)
    for b in range(x.shape[0]):
        xb = x[b:b + 1].clone().requires_grad_(True)
        z = torch.stack([n(xb)[0] for n in nets])  # [S,K]
        p = torch.softmax(z, -1)
        pbar = p.mean(0)
        for k in range(z.shape[1]):
            if kind == "epistemic":
                ak = sum(p[m, k] * (torch.log(p[m, k]) - torch.log(pbar[k])) for m in range(len(nets))) / len(nets)
            else:
                ak = -pbar[k] * torch.log(pbar[k])
            (g,) = torch.autograd.grad(ak, xb, retain_graph=True)
            d = xb.detach() - ref[b:b + 1]
            r = (g * d).clamp_min(0).mean(1)[0].detach()
            if not normalise:
                maps[b] += ak.detach() * r
                continue
            if r.max() <= 0:
                r = (g * d).abs().mean(1)[0].detach()
            e = torch.exp(r / r.max() / T2) - 1
            maps[b] += ak.detach() * e / e.sum()
    return maps


@pytest.mark.parametrize("kind", ["epistemic", "total"])
def test_class_variant_matches_loop_reference(ens, x, kind):
    got = unsure.attribute(ens, x, method="ua-backprop", target=kind, path="inputgrad",
                           variant="class", T2=0.7, reference="black")
    want = ref_class_map(list(ens.members), x, kind, 0.7)
    assert torch.allclose(got.maps, want, rtol=1e-9, atol=1e-12), (got.maps - want).abs().max()


def blur_ref(x, sigma):
    """Reflect-padded separable Gaussian, radius ceil(3 sigma), written out with explicit loops."""
    R = math.ceil(3 * sigma)
    k = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-R, R + 1)]
    k = [v / sum(k) for v in k]
    H, W = x.shape[-2:]

    def refl(i, n):
        while i < 0 or i >= n:
            i = -i if i < 0 else 2 * (n - 1) - i
        return i

    rows = torch.zeros_like(x)
    for i in range(H):
        for t in range(-R, R + 1):
            rows[..., i, :] += k[t + R] * x[..., refl(i + t, H), :]
    out = torch.zeros_like(x)
    for j in range(W):
        for t in range(-R, R + 1):
            out[..., j] += k[t + R] * rows[..., refl(j + t, W)]
    return out


def test_class_variant_blur_reference_matches_loops(ens, x):
    got = unsure.attribute(ens, x, method="ua-backprop", target="epistemic", path="inputgrad",
                           variant="class", T2=0.7, reference="blur", blur_sigma=1.0)
    want = ref_class_map(list(ens.members), x, "epistemic", 0.7, ref=blur_ref(x, 1.0))
    assert torch.allclose(got.maps, want, rtol=1e-9, atol=1e-12), (got.maps - want).abs().max()
    assert torch.allclose(got.maps.sum((1, 2)), got.meta["uncertainty"], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("variant", ["paper", "class"])
def test_auto_settings_follow_the_channel_count(variant):
    from unsure.attribution.ua_backprop import DEFAULTS, UABackprop

    m = UABackprop(variant=variant)
    for C, kind in ((1, "grayscale"), (3, "colour")):
        want = {k: DEFAULTS[(variant, kind)][k] for k in ("path", "T1", "T2", "reference", "blur_sigma")}
        assert m.settings(C) == want
    assert UABackprop(variant=variant, T2=0.5, path="grad").settings(1)["T2"] == 0.5
    # the paper-faithful method is variant="paper" with its defaults: the fullgrad path
    assert UABackprop(variant="paper").settings(1)["path"] == "fullgrad"
    net = make_net()
    xx = torch.rand(2, 1, SIDE, SIDE, dtype=torch.float64)
    post = DeepEnsemble([net, make_net()])
    auto = unsure.attribute(post, xx, method="ua-backprop", variant=variant)
    explicit = unsure.attribute(post, xx, method="ua-backprop", variant=variant, **m.settings(1))
    assert torch.equal(auto.maps, explicit.maps)
    assert auto.meta["settings"] == m.settings(1)


# ----------------------------------------------------------------------------- without normalisation
@pytest.mark.parametrize("path", ["fullgrad", "inputgrad"])
def test_paper_without_normalisation_matches_loop_reference(ens, x, path):
    """Appendix D.7 ablation: raw |J_kj| coefficients and raw relevance; not complete."""
    got = unsure.attribute(ens, x, method="ua-backprop", target="epistemic", path=path,
                           variant="paper", normalise=False)
    want = ref_map(list(ens.members), x, "epistemic", path, 1.0, 1.0, normalise=False)
    assert torch.allclose(got.maps, want, rtol=1e-9, atol=1e-12), (got.maps - want).abs().max()
    U = got.meta["uncertainty"]
    assert torch.equal(got.meta["completeness_delta"], got.maps.sum((1, 2)) - U)
    assert (got.meta["completeness_delta"].abs() > 1e-3 * U).all()  # honestly not complete
    assert got.meta["normalise"] is False and got.meta["complete"] is False
    if got.raw is not None:
        assert torch.allclose(got.raw.sum(1), got.maps, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kind", ["epistemic", "total"])
def test_class_without_normalisation_matches_loop_reference(ens, x, kind):
    got = unsure.attribute(ens, x, method="ua-backprop", target=kind, path="inputgrad",
                           variant="class", normalise=False, reference="black")
    want = ref_class_map(list(ens.members), x, kind, 1.0, normalise=False)
    assert torch.allclose(got.maps, want, rtol=1e-9, atol=1e-12), (got.maps - want).abs().max()
    assert torch.equal(got.meta["completeness_delta"], got.maps.sum((1, 2)) - got.meta["uncertainty"])
    assert torch.allclose(got.raw.sum(1), got.maps, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("variant", ["paper", "class"])
def test_normalise_true_is_the_default_and_complete(ens, x, variant):
    from unsure.attribution.ua_backprop import UABackprop

    dflt = unsure.attribute(ens, x, method="ua-backprop", variant=variant)
    norm = unsure.attribute(ens, x, method="ua-backprop", variant=variant, normalise=True)
    assert torch.equal(dflt.maps, norm.maps)
    assert (norm.meta["completeness_delta"].abs() <= 1e-10 * norm.meta["uncertainty"].clamp_min(1)).all()
    assert UABackprop(variant=variant).complete and not UABackprop(variant=variant, normalise=False).complete
    with pytest.raises(UnsureError, match="normalise"):
        UABackprop(normalise="no")
