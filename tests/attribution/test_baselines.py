"""The baseline methods (grad, inputgrad, random, smoothgrad, fullgrad, gradcam) against slow,
loop-based float64 references; FullGrad's exact decomposition; option errors."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import unsure
from unsure.attribution import make_method
from unsure.attribution.smoothgrad import SmoothGrad
from unsure.errors import UnsureError
from unsure.posteriors import DeepEnsemble

from _pathkit import C, H, W, images, tiny_ensemble

TARGETS = ["epistemic", "class:2"]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def ref_grad(post, x, target):
    """``d target(draw(x)) / dx`` one image at a time (independent of any batching)."""
    draw, tgt = post.draw(), unsure.measures.resolve_target(target)
    out = []
    for b in range(x.shape[0]):
        xb = x[b:b + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(tgt(draw(xb)).sum(), xb)
        out.append(g)
    return torch.cat(out)


@pytest.fixture(scope="module")
def post():
    return tiny_ensemble()


@pytest.fixture
def x():
    return images()


# ----------------------------------------------------------------------------- grad, inputgrad
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_grad_matches_loop(post, x, target, reduce):
    g = ref_grad(post, x, target)
    res = make_method("grad", reduce=reduce).attribute(post, x, target)
    torch.testing.assert_close(res.raw, g, rtol=1e-10, atol=1e-14)
    want = g.abs().amax(1) if reduce == "max" else g.abs().mean(1)
    torch.testing.assert_close(res.maps, want, rtol=1e-10, atol=1e-14)
    assert res.meta["reduce"] == reduce


def test_grad_reduce_enum_and_errors():
    from unsure.attribution.grad import Reduce

    assert make_method("grad", reduce=Reduce.MEAN).reduce == "mean"
    with pytest.raises(UnsureError, match="reduce"):
        make_method("grad", reduce="median")
    with pytest.raises(UnsureError, match="no option"):
        make_method("grad", absolute=True)


@pytest.mark.parametrize("absolute", [False, True])
def test_inputgrad_matches_loop(post, x, absolute):
    gx = ref_grad(post, x, "epistemic") * x
    res = make_method("inputgrad", absolute=absolute).attribute(post, x, "epistemic")
    torch.testing.assert_close(res.raw, gx, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(res.maps, gx.abs().sum(1) if absolute else gx.sum(1),
                               rtol=1e-10, atol=1e-14)
    with pytest.raises(UnsureError, match="absolute"):
        make_method("inputgrad", absolute="yes")


def test_predicted_class_target_is_the_class_at_x(post, x):
    with torch.no_grad():
        pred = torch.softmax(post.draw()(x), -1).mean(0).argmax(-1)
    res = make_method("grad").attribute(post, x, "class")
    for b in range(x.shape[0]):
        g = ref_grad(post, x[b:b + 1], f"class:{int(pred[b])}")
        torch.testing.assert_close(res.raw[b:b + 1], g, rtol=1e-10, atol=1e-14)


# ----------------------------------------------------------------------------- random
def test_random_map_seeded(post, x):
    a = make_method("random", seed=3).attribute(post, x)
    b = make_method("random", seed=3).attribute(post, x, generator=gen(99))  # the seed wins
    c = make_method("random", seed=4).attribute(post, x)
    assert a.maps.shape == (x.shape[0], H, W) and a.raw is None and a.maps.dtype == x.dtype
    assert torch.equal(a.maps, b.maps) and not torch.equal(a.maps, c.maps)
    assert 0 <= a.maps.min() and a.maps.max() < 1
    d = make_method("random").attribute(post, x, generator=gen(5))
    e = make_method("random").attribute(post, x, generator=gen(5))
    assert torch.equal(d.maps, e.maps)
    want = torch.rand((x.shape[0], H, W), generator=gen(5), dtype=x.dtype)
    assert torch.equal(d.maps, want)
    with pytest.raises(UnsureError, match="seed"):
        make_method("random", seed=1.5)


# ----------------------------------------------------------------------------- smoothgrad
def ref_smoothgrad(post, x, inner, samples, sigma, seed, target="epistemic", **opts):
    """Plain loop: per sample, per image, noise from the generator, then the inner method."""
    g = gen(seed)
    rng = (x.flatten(1).amax(1) - x.flatten(1).amin(1))
    method = make_method(inner, **opts)
    draw = post.draw()
    maps, raws = [], []
    for _ in range(samples):
        eps = torch.randn(x.shape, generator=g, dtype=x.dtype)
        xn = torch.stack([x[b] + sigma * rng[b] * eps[b] for b in range(x.shape[0])])
        r = method.attribute(post, xn, target, draw=draw)
        maps.append(r.maps)
        raws.append(r.raw)
    maps = torch.stack(maps)
    raw = None if raws[0] is None else torch.stack(raws).mean(0)
    return maps.mean(0), raw, maps.var(0, unbiased=True)


@pytest.mark.parametrize("inner,opts", [("grad", {}), ("inputgrad", {"absolute": True}),
                                        ("ig", {"steps": 4}), ("gradcam", {})])
def test_smoothgrad_matches_loop(post, x, inner, opts):
    res = make_method("smoothgrad", inner=inner, samples=5, sigma=0.2, **opts).attribute(
        post, x, "epistemic", generator=gen(7))
    maps, raw, var = ref_smoothgrad(post, x, inner, 5, 0.2, 7, **opts)
    torch.testing.assert_close(res.maps, maps, rtol=1e-9, atol=1e-13)
    if raw is None:
        assert res.raw is None
    else:
        torch.testing.assert_close(res.raw, raw, rtol=1e-9, atol=1e-13)
    torch.testing.assert_close(res.meta["variance"], var, rtol=1e-7, atol=1e-13)
    assert res.meta["method"] == "smoothgrad" and res.meta["inner"] == inner
    assert res.meta["samples"] == 5 and res.meta["sigma"] == 0.2


def test_smoothgrad_sigma_zero_is_the_inner_method(post, x):
    res = make_method("smoothgrad", samples=3, sigma=0.0).attribute(post, x)
    plain = make_method("grad").attribute(post, x)
    torch.testing.assert_close(res.maps, plain.maps, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(res.meta["variance"], torch.zeros_like(res.maps), rtol=0, atol=1e-15)


def test_smoothgrad_uses_one_draw(post, x, monkeypatch):
    """Every noisy copy is explained with the call's one frozen draw."""
    calls = []
    real = type(post).draw
    monkeypatch.setattr(type(post), "draw", lambda self, g=None: calls.append(1) or real(self, g))
    make_method("smoothgrad", samples=4).attribute(post, x)
    assert len(calls) == 1


@pytest.mark.parametrize("inner,opts", [("grad", {}), ("ig", {"steps": 3})])
def test_smoothgrad_predicted_class_is_frozen(post, x, inner, opts):
    """With the predicted-class target every copy explains the class predicted at x (also
    through a path method, whose target sees ``[S, steps*B, K]`` logits)."""
    with torch.no_grad():
        pred = torch.softmax(post.draw()(x), -1).mean(0).argmax(-1)
    sg = make_method("smoothgrad", inner=inner, samples=3, sigma=0.5, **opts)
    res = sg.attribute(post, x, "class", generator=gen(1))
    for b in range(x.shape[0]):
        want = sg.attribute(post, x, f"class:{int(pred[b])}", generator=gen(1))
        torch.testing.assert_close(res.maps[b], want.maps[b], rtol=1e-10, atol=1e-14)


def test_smoothgrad_wraps_a_method_instance(post, x):
    a = SmoothGrad(make_method("inputgrad"), samples=2).attribute(post, x, generator=gen(2))
    b = make_method("smoothgrad", inner="inputgrad", samples=2).attribute(post, x, generator=gen(2))
    torch.testing.assert_close(a.maps, b.maps, rtol=0, atol=0)


@pytest.mark.parametrize("kwargs,match", [
    ({"samples": 0}, "samples"), ({"samples": 2.5}, "samples"), ({"samples": True}, "samples"),
    ({"sigma": -0.1}, "sigma"), ({"sigma": float("nan")}, "sigma"), ({"sigma": "big"}, "sigma"),
    ({"inner": "nope"}, "nope"), ({"inner": "grad", "absolute": True}, "absolute"),
    ({"inner": "inputgrad", "bogus": 1, "other": 2}, "bogus.*other"), ({"inner": 3}, "inner"),
])
def test_smoothgrad_option_errors(kwargs, match):
    with pytest.raises(UnsureError, match=match):
        make_method("smoothgrad", **kwargs)


@pytest.mark.parametrize("name", ["smoothgrad", "noisegrad", "noisegrad++"])
def test_wrapper_method_option_points_to_inner(name):
    with pytest.raises(UnsureError, match="inner='inputgrad'"):
        make_method(name, method="inputgrad")


def test_attribute_passes_the_inner_method(post, x):
    """``method`` names the wrapper in ``unsure.attribute``; the wrapped one is ``inner``."""
    res = unsure.attribute(post, x, "smoothgrad", inner="inputgrad", samples=5, generator=gen(3))
    ref = make_method("smoothgrad", inner="inputgrad", samples=5).attribute(post, x, generator=gen(3))
    assert res.meta["method"] == "smoothgrad" and res.meta["inner"] == "inputgrad"
    torch.testing.assert_close(res.maps, ref.maps, rtol=0, atol=0)
    plain = make_method("smoothgrad", samples=5).attribute(post, x, generator=gen(3))
    assert not torch.allclose(res.maps, plain.maps)  # not silently the default inner "grad"


def test_smoothgrad_instance_with_options_is_an_error():
    with pytest.raises(UnsureError, match="inner"):
        SmoothGrad(make_method("grad"), reduce="mean")


# ----------------------------------------------------------------------------- fullgrad
class BNNet(nn.Module):
    """conv - BN(eval) - ReLU - pool - conv - ReLU - linear - ReLU - linear, float64, 12x12."""

    def __init__(self, seed: int, k: int = 7):
        super().__init__()
        torch.manual_seed(seed)
        self.layers = nn.ModuleList([
            nn.Conv2d(C, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(4, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 4 * 4, 6), nn.ReLU(),
            nn.Linear(6, k),
        ])
        with torch.no_grad():  # non-trivial running statistics and affine parameters
            bn = self.layers[1]
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.3, 0.3)
        self.double().eval()

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def ref_fullgrad(nets, x, target):
    """FullGrad with explicit per-layer autograd, per image loops and per-channel upsampling."""
    x = x.clone().requires_grad_(True)
    bias_outs = []  # (output, effective bias) of every bias layer of every member
    logits = []
    for net in nets:
        h = x
        for layer in net.layers:
            if isinstance(layer, nn.ReLU):
                h = torch.relu(h)
                continue
            h = layer(h)
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                bias_outs.append((h, layer.bias))
            elif isinstance(layer, nn.BatchNorm2d):
                b = layer.bias - layer.running_mean * layer.weight / torch.sqrt(layer.running_var + layer.eps)
                bias_outs.append((h, b))
        logits.append(h)
    f = target(torch.stack(logits))
    B = x.shape[0]
    (gx,) = torch.autograd.grad(f.sum(), x, retain_graph=True)
    grads = [torch.autograd.grad(f.sum(), h, retain_graph=True)[0] for h, _ in bias_outs]

    def psi(t):
        a = t.abs()
        return (a - a.min()) / (a.max() - a.min() + 1e-6)

    maps = torch.zeros(B, x.shape[2], x.shape[3], dtype=x.dtype)
    total = torch.zeros(B, dtype=x.dtype)
    for b in range(B):
        maps[b] += psi(gx[b] * x[b]).sum(0)
        total[b] += (gx[b] * x[b]).sum()
        for (h, bias), g in zip(bias_outs, grads):
            shape = (-1,) + (1,) * (h.ndim - 2)
            t = g[b] * bias.reshape(shape)
            total[b] += t.sum()
            if h.ndim == 4:
                p = psi(t)
                for c in range(p.shape[0]):
                    maps[b] += F.interpolate(p[c][None, None], size=x.shape[2:], mode="bilinear",
                                             align_corners=True)[0, 0]
    return maps.detach(), total.detach(), f.detach()


@pytest.mark.parametrize("target", ["class-logit:2", "epistemic", "class:2"])
def test_fullgrad_matches_reference(target):
    nets = [BNNet(s) for s in range(3)]
    x = torch.rand(4, C, 12, 12, dtype=torch.float64, generator=gen(3))
    res = make_method("fullgrad").attribute(DeepEnsemble(nets), x, target)
    maps, total, f = ref_fullgrad(nets, x, unsure.measures.resolve_target(target))
    torch.testing.assert_close(res.maps, maps, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(res.meta["completeness_delta"], f - total, rtol=1e-8, atol=1e-12)
    assert res.raw is None and res.maps.shape == (4, 12, 12)


@pytest.mark.parametrize("members", [1, 3])
def test_fullgrad_completeness_is_exact(members):
    """f(x) = sum(g x) + sum_l sum(grad_h f * b) for a piecewise-linear net and a logit target."""
    post = DeepEnsemble([BNNet(10 + s) for s in range(members)])
    x = torch.randn(5, C, 12, 12, dtype=torch.float64, generator=gen(4))
    res = make_method("fullgrad").attribute(post, x, "class-logit:2")
    assert res.meta["completeness_delta"].abs().max() < 1e-8
    assert res.meta["f_input"].abs().min() > 1e-3  # not trivially zero


class InplaceResNet(nn.Module):
    """A residual block with in-place ops right after bias layers: ``nn.ReLU(inplace=True)`` after
    a conv, ``out += identity`` on a batch-norm output and a functional in-place ReLU on the sum."""

    def __init__(self, seed: int, k: int = 7):
        super().__init__()
        torch.manual_seed(seed)
        self.stem, self.relu = nn.Conv2d(C, 4, 3, padding=1), nn.ReLU(inplace=True)
        self.c1, self.bn1 = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.c2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, k)
        with torch.no_grad():
            for bn in (self.bn1, self.bn2):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.3, 0.3)
        self.double().eval()

    def forward(self, x):
        identity = self.relu(self.stem(x))
        out = self.relu(self.bn1(self.c1(identity)))
        out = self.bn2(self.c2(out))
        out += identity
        out = F.relu(out, inplace=True)  # rewrites the sum that bn2's output became
        return self.fc(F.max_pool2d(out, 2).flatten(1))


def test_fullgrad_completeness_with_inplace_ops():
    post = DeepEnsemble([InplaceResNet(20 + s) for s in range(3)])
    x = torch.randn(5, C, 12, 12, dtype=torch.float64, generator=gen(5))
    res = make_method("fullgrad").attribute(post, x, "class-logit:2")
    assert res.meta["completeness_delta"].abs().max() < 1e-8
    assert res.meta["f_input"].abs().min() > 1e-3
    for variant in ("paper", "class"):
        ua = unsure.attribute(post, x, "ua-backprop", "epistemic", path="fullgrad", variant=variant)
        assert ua.meta["completeness_delta"].abs().max() < 1e-8, variant
    for net in post.members:
        assert net.relu.inplace  # the user's modules are left as they were


def test_fullgrad_completeness_resnet18():
    from unsure.models.resnet import ResNet18

    torch.manual_seed(0)
    net = ResNet18(C, 7, 12, width=0.125)
    with torch.no_grad():  # non-trivial effective biases in every batch-norm
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.bias.uniform_(-0.3, 0.3)
    net = net.double().eval()
    x = torch.randn(3, C, 12, 12, dtype=torch.float64, generator=gen(6))
    res = make_method("fullgrad").attribute(DeepEnsemble([net]), x, "class-logit:1")
    assert res.meta["completeness_delta"].abs().max() < 1e-6


def test_fullgrad_rejects_training_batchnorm(x):
    net = BNNet(0)
    post = DeepEnsemble([net])
    draw = post.draw()
    net.train()
    with pytest.raises(UnsureError, match="eval"):
        make_method("fullgrad").attribute(post, torch.rand(2, C, 12, 12, dtype=torch.float64), draw=draw)


# ----------------------------------------------------------------------------- gradcam
class CamNet(nn.Module):
    """conv - ReLU - pool - conv - ReLU(inplace) (feature layer: the conv) - linear, 12x12."""

    def __init__(self, seed: int, k: int = 7):
        super().__init__()
        torch.manual_seed(seed)
        self.c1, self.c2 = nn.Conv2d(C, 4, 3, padding=1), nn.Conv2d(4, 5, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.fc = nn.Linear(5 * 6 * 6, k)
        self.double().eval()

    @property
    def feature_layer(self):
        return self.c2

    def forward(self, x):
        h = F.max_pool2d(torch.relu(self.c1(x)), 2)
        return self.fc(self.act(self.c2(h)).flatten(1))


def ref_gradcam(nets, x, target):
    feats, logits = [], []
    for net in nets:
        h = F.max_pool2d(torch.relu(net.c1(x)), 2)
        a = net.c2(h)
        feats.append(a)
        logits.append(net.fc(torch.relu(a).flatten(1)))
    f = target(torch.stack(logits))
    out = torch.zeros(x.shape[0], *x.shape[2:], dtype=x.dtype)
    for a in feats:
        (g,) = torch.autograd.grad(f.sum(), a, retain_graph=True)
        for b in range(x.shape[0]):
            cam = sum(g[b, c].mean() * a[b, c] for c in range(a.shape[1])).relu()
            out[b] += F.interpolate(cam[None, None], size=x.shape[2:], mode="bilinear",
                                    align_corners=False)[0, 0].detach()
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_gradcam_matches_loop(target):
    nets = [CamNet(s) for s in range(3)]
    x = torch.rand(4, C, 12, 12, dtype=torch.float64, generator=gen(5))
    res = make_method("gradcam").attribute(DeepEnsemble(nets), x, target)
    want = ref_gradcam(nets, x, unsure.measures.resolve_target(target))
    torch.testing.assert_close(res.maps, want, rtol=1e-10, atol=1e-14)
    assert res.raw is None and (res.maps >= 0).all() and res.maps.abs().max() > 0
    assert all(net.act.inplace for net in nets)  # restored


def test_gradcam_without_feature_layer():
    net = nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, 4)).double().eval()
    with pytest.raises(UnsureError, match=r"members \[0\]"):
        make_method("gradcam").attribute(DeepEnsemble([net]), images(2))


def test_inputgrad_reference_blur_is_gradient_times_difference_to_blur():
    from unsure.attribution import make_method
    from unsure.ops.blur import gaussian_blur_many as gaussian_blur
    from unsure.errors import UnsureError

    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Flatten(),
                                torch.nn.Linear(2 * 36, 4)).double() for _ in range(3)]
    post = unsure.DeepEnsemble(nets)
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    res = make_method("inputgrad", reference="blur", blur_sigma=1.5).attribute(post, x, "epistemic")
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(unsure.epistemic(torch.stack([n(xr) for n in nets])).sum(), xr)
    ref = g * (x - gaussian_blur(x, [1.5])[0])
    torch.testing.assert_close(res.raw, ref)
    torch.testing.assert_close(res.maps, ref.sum(1))
    with pytest.raises(UnsureError, match="reference"):
        make_method("inputgrad", reference="grey")
