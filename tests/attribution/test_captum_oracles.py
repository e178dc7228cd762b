"""Captum 0.9 as an oracle: Saliency, InputXGradient, NoiseTunnel (fed the same noise),
LayerGradCam, and ``unsure.target_function`` as a Captum ``forward_func`` (Occlusion)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import unsure
from unsure.attribution import make_method
from unsure.errors import UnsureError
from unsure.posteriors import DeepEnsemble

captum_attr = pytest.importorskip("captum.attr")

from _pathkit import B, C, H, W, images, tiny_ensemble  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
TARGETS = ["epistemic", "class:2"]
TOL = dict(rtol=1e-9, atol=1e-13)


@pytest.fixture(scope="module")
def post():
    return tiny_ensemble()


@pytest.fixture
def x():
    return images()


def unit_range(x):
    """Images whose range max - min is exactly 1 (so one Captum ``stdevs`` float = sigma)."""
    x = x.clone()
    x[:, 0, 0, 0], x[:, 0, 0, 1] = 0.0, 1.0
    return x


@pytest.mark.parametrize("target", TARGETS)
def test_saliency(post, x, target):
    f = unsure.target_function(post, target)
    res = make_method("grad").attribute(post, x, target)
    signed = captum_attr.Saliency(f).attribute(x, abs=False)
    absolute = captum_attr.Saliency(f).attribute(x, abs=True)
    torch.testing.assert_close(res.raw, signed, **TOL)
    torch.testing.assert_close(res.maps, absolute.amax(1), **TOL)
    res_mean = make_method("grad", reduce="mean").attribute(post, x, target)
    torch.testing.assert_close(res_mean.maps, absolute.mean(1), **TOL)


@pytest.mark.parametrize("target", TARGETS)
def test_input_x_gradient(post, x, target):
    want = captum_attr.InputXGradient(unsure.target_function(post, target)).attribute(x)
    res = make_method("inputgrad").attribute(post, x, target)
    torch.testing.assert_close(res.raw, want, **TOL)
    torch.testing.assert_close(res.maps, want.sum(1), **TOL)


def same_noise(monkeypatch, x, n, seed):
    """Make NoiseTunnel's one ``torch.normal(0, std [B*n,...])`` return the noise SmoothGrad draws
    from ``Generator(seed)``: ``eps_j [B,C,H,W]`` for j = 1..n, laid out image-major as Captum's
    ``repeat_interleave`` expects (row ``b*n + j``)."""
    g = torch.Generator().manual_seed(seed)
    eps = torch.stack([torch.randn(x.shape, generator=g, dtype=x.dtype) for _ in range(n)], 1)  # [B,n,...]
    calls = []

    def normal(mean, std, *args, **kwargs):
        assert mean == 0 and std.shape == (x.shape[0] * n, *x.shape[1:])
        calls.append(1)
        return eps.reshape(-1, *x.shape[1:]) * std  # [B,n,...] -> [B*n,...]

    monkeypatch.setattr(torch, "normal", normal)
    return calls


@pytest.mark.parametrize("target", TARGETS)
def test_noise_tunnel_saliency(post, monkeypatch, target):
    """One channel: SmoothGrad(grad) map == NoiseTunnel(Saliency(abs)) (channel max of one)."""
    one = DeepEnsemble([nn.Sequential(nn.Conv2d(1, C, 1), net).double().eval()
                        for net in post.members])
    x1 = unit_range(images()[:, :1])
    n, sigma = 6, 0.25  # exact in float32 (Captum makes a float32 std tensor)
    res = make_method("smoothgrad", samples=n, sigma=sigma).attribute(
        one, x1, target, generator=torch.Generator().manual_seed(11))
    calls = same_noise(monkeypatch, x1, n, 11)
    nt = captum_attr.NoiseTunnel(captum_attr.Saliency(unsure.target_function(one, target)))
    want = nt.attribute(x1, nt_type="smoothgrad", nt_samples=n, stdevs=sigma)
    assert calls == [1]
    torch.testing.assert_close(res.maps, want[:, 0], **TOL)


@pytest.mark.parametrize("target", TARGETS)
def test_noise_tunnel_input_x_gradient(post, monkeypatch, target):
    x = unit_range(images())
    n, sigma = 5, 0.125  # exact in float32
    res = make_method("smoothgrad", inner="inputgrad", samples=n, sigma=sigma).attribute(
        post, x, target, generator=torch.Generator().manual_seed(3))
    same_noise(monkeypatch, x, n, 3)
    nt = captum_attr.NoiseTunnel(captum_attr.InputXGradient(unsure.target_function(post, target)))
    want = nt.attribute(x, nt_type="smoothgrad", nt_samples=n, stdevs=sigma)
    torch.testing.assert_close(res.raw, want, **TOL)
    torch.testing.assert_close(res.maps, want.sum(1), **TOL)


class PoolNet(nn.Module):
    """conv - ReLU - pool - conv (feature layer) - ReLU - linear on 12x12 (6x6 features)."""

    def __init__(self, seed: int, k: int = 7):
        super().__init__()
        torch.manual_seed(seed)
        self.c1, self.c2 = nn.Conv2d(C, 4, 3, padding=1), nn.Conv2d(4, 5, 3, padding=1)
        self.fc = nn.Linear(5 * 6 * 6, k)
        with torch.no_grad():
            for p in self.parameters():
                p.mul_(3)
        self.double().eval()

    def forward(self, x):
        h = F.max_pool2d(torch.relu(self.c1(x)), 2)
        return self.fc(torch.relu(self.c2(h)).flatten(1))


@pytest.mark.parametrize("target", TARGETS)
def test_layer_gradcam(target):
    """Sum over members of Captum's per-layer Grad-CAM (relu, bilinear interpolate)."""
    ens = DeepEnsemble([PoolNet(s) for s in range(3)])  # feature layer: the last Conv2d
    x = torch.rand(B, C, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    f = unsure.target_function(ens, target)
    want = 0
    for net in ens.members:
        cam = captum_attr.LayerGradCam(f, net.c2).attribute(x, relu_attributions=True)  # [B,1,6,6]
        want = want + captum_attr.LayerAttribution.interpolate(cam, (12, 12), "bilinear")
    res = make_method("gradcam").attribute(ens, x, target)
    torch.testing.assert_close(res.maps, want[:, 0], **TOL)
    assert res.maps.abs().max() > 0


def test_target_function_with_occlusion(post, x):
    f = unsure.target_function(post, "epistemic")
    torch.testing.assert_close(f(x), unsure.uncertainty(post, x)["epistemic"], **TOL)
    out = captum_attr.Occlusion(f).attribute(x, sliding_window_shapes=(C, 3, 3), strides=(C, 2, 2))
    assert out.shape == (B, C, H, W) and torch.isfinite(out).all() and out.abs().max() > 0
    assert len(f.draw) == 3 and "epistemic" in repr(f)


def test_target_function_errors(post):
    with pytest.raises(UnsureError, match="unknown measure"):
        unsure.target_function(post, "nonsense")
    f = unsure.target_function(post, lambda z: z.mean(0))  # [S,B,K] -> [B,K]: not one per image
    with pytest.raises(UnsureError, match="expected \\[B\\]"):
        f(images(2))
    with pytest.raises(UnsureError, match="batch axis"):
        unsure.target_function(post)(images(1)[0])
