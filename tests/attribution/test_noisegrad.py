"""NoiseGrad / NoiseGrad++: slow reference loops over explicitly perturbed copies, sigma = 0,
restoration of the weights on errors, and the accuracy-drop choice of sigma."""
from __future__ import annotations

import copy

import pytest
import torch

from _pathkit import B, K, images, tiny_ensemble
from unsure.attribution import METHODS, attribute, make_method
from unsure.attribution.grad import Grad
from unsure.attribution.noisegrad import NoiseGrad, NoiseGradPlusPlus
from unsure.attribution.smoothgrad import SmoothGrad
from unsure.errors import UnsureError
from unsure.measures import ClassScore, epistemic
from unsure.posteriors import WeightNoise
from unsure.posteriors._noise import calibrate, predicted_classes


def _state(post):
    return {k: v.clone() for k, v in post.state_dict().items()}


def _assert_unchanged(post, before):
    for k, v in post.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def _perturbed_copies(nets, sigma, gen):
    """Deep copies with p * (1 + sigma * eps), eps drawn net by net, parameter by parameter."""
    out = []
    for net in nets:
        c = copy.deepcopy(net)
        with torch.no_grad():
            for p in c.parameters():
                p.mul_(1 + sigma * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        out.append(c)
    return out


def _grad_map(nets, x, fn):
    """``max_c |d fn(logits [S,B,K]) / dx|`` and the signed gradient, by plain autograd."""
    x = x.clone().requires_grad_(True)
    f = fn(torch.stack([n(x) for n in nets]))
    (g,) = torch.autograd.grad(f.sum(), x)
    return g.abs().amax(1), g


def test_registered():
    assert METHODS.get("noisegrad") is NoiseGrad and METHODS.get("noisegrad++") is NoiseGradPlusPlus


def test_sigma_zero_equals_inner_method():
    post, x = tiny_ensemble(), images()
    ours = attribute(post, x, "noisegrad", "epistemic", draws=3, sigma=0.0,
                     generator=torch.Generator().manual_seed(0))
    inner = attribute(post, x, "grad", "epistemic")
    torch.testing.assert_close(ours.maps, inner.maps, rtol=0, atol=0)
    torch.testing.assert_close(ours.raw, inner.raw, rtol=0, atol=0)
    torch.testing.assert_close(ours.meta["variance"], torch.zeros_like(ours.maps), rtol=0, atol=0)
    assert ours.meta["method"] == "noisegrad" and ours.meta["inner"] == "grad"


@pytest.mark.parametrize("target, sigma", [("epistemic", 0.1), (ClassScore(None, "prob"), 0.6)])
def test_matches_slow_reference_loop(target, sigma):
    """Mean over N explicitly perturbed deep copies, the noise replayed from the same generator.
    A predicted-class target explains the unperturbed prediction in every draw."""
    post, x, N = tiny_ensemble(), images(), 4
    before = _state(post)
    res = NoiseGrad("grad", draws=N, sigma=sigma).attribute(
        post, x, target, generator=torch.Generator().manual_seed(3))
    _assert_unchanged(post, before)

    gen = torch.Generator().manual_seed(3)
    if isinstance(target, ClassScore):
        with torch.no_grad():
            idx = torch.softmax(torch.stack([m(x) for m in post.members]), -1).mean(0).argmax(-1)

        def fn(z):
            return torch.softmax(z, -1).mean(0).gather(-1, idx[:, None]).squeeze(-1)
    else:
        fn = epistemic
    maps, raws = [], []
    for _ in range(N):
        m, g = _grad_map(_perturbed_copies(post.members, sigma, gen), x, fn)
        maps.append(m)
        raws.append(g)
    maps = torch.stack(maps)
    torch.testing.assert_close(res.maps, maps.mean(0))
    torch.testing.assert_close(res.raw, torch.stack(raws).mean(0))
    torch.testing.assert_close(res.meta["variance"], maps.var(0))
    torch.testing.assert_close(res.meta["sigma"], torch.full((B,), sigma, dtype=x.dtype))
    assert not torch.allclose(res.maps, Grad().attribute(post, x, target).maps)


def test_noisegrad_plus_plus_is_noisegrad_around_smoothgrad_and_matches_reference():
    post, x, N, M, s_in = tiny_ensemble(), images(), 2, 3, 0.15
    pp = NoiseGradPlusPlus("grad", draws=N, sigma=0.1, samples=M, input_sigma=s_in).attribute(
        post, x, "epistemic", generator=torch.Generator().manual_seed(5))
    comp = NoiseGrad(SmoothGrad("grad", samples=M, sigma=s_in), draws=N, sigma=0.1).attribute(
        post, x, "epistemic", generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(pp.maps, comp.maps, rtol=0, atol=0)

    gen = torch.Generator().manual_seed(5)  # per weight draw: weight noise, then M input noises
    rng = (x.flatten(1).amax(1) - x.flatten(1).amin(1)).reshape(-1, 1, 1, 1)
    acc = torch.zeros_like(pp.maps)
    for _ in range(N):
        nets = _perturbed_copies(post.members, 0.1, gen)
        for _ in range(M):
            xn = x + torch.randn(x.shape, generator=gen, dtype=x.dtype) * s_in * rng
            acc += _grad_map(nets, xn, epistemic)[0]
    torch.testing.assert_close(pp.maps, acc / (N * M))


class Boom(Exception):
    pass


@pytest.mark.parametrize("name", ["noisegrad", "noisegrad++"])
def test_parameters_restored_when_target_raises(name):
    post, x = tiny_ensemble(), images()
    before = _state(post)
    calls = {"n": 0}

    def target(z):
        calls["n"] += 1
        if calls["n"] >= 2:  # inside the perturbation block of a draw
            raise Boom()
        return epistemic(z)

    with pytest.raises(Boom):
        attribute(post, x, name, target, draws=3, sigma=0.5, generator=torch.Generator().manual_seed(0))
    assert calls["n"] == 2
    _assert_unchanged(post, before)


def test_sigma_none_uses_accuracy_drop_on_explained_images():
    post, x = tiny_ensemble(), images(40, seed=1)
    before = _state(post)
    res = NoiseGrad("grad", draws=4).attribute(post, x, "epistemic", generator=torch.Generator().manual_seed(2))
    _assert_unchanged(post, before)
    draw = post.draw()
    labels = predicted_classes(draw, x)
    cal = calibrate(draw, x, labels, 0.05, draws=4, generator=torch.Generator().manual_seed(2))
    assert cal.acc0 == 1.0 and cal.chance == pytest.approx(1 / K)
    assert cal.sigma > 0
    torch.testing.assert_close(res.meta["sigma"], torch.full((40,), cal.sigma, dtype=x.dtype))
    # the same maps as with that sigma given, once the calibration's seeds are consumed
    gen = torch.Generator().manual_seed(2)
    torch.randint(0, 2**62, (4,), generator=gen)
    fixed = NoiseGrad("grad", draws=4, sigma=cal.sigma).attribute(post, x, "epistemic", generator=gen)
    torch.testing.assert_close(res.maps, fixed.maps)


def test_composes_with_weight_noise_posterior():
    """A weight-noise member reads the live parameters, so NoiseGrad's noise changes its map."""
    net = tiny_ensemble(1).members[0]
    post, x = WeightNoise(net, sigma=0.05, samples=3), images()
    before = _state(post)
    draw = post.draw(torch.Generator().manual_seed(0))
    plain = Grad().attribute(post, x, "epistemic", draw=draw)
    ng = NoiseGrad("grad", draws=2, sigma=0.2).attribute(post, x, "epistemic", draw=draw,
                                                         generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(plain.maps, ng.maps)
    _assert_unchanged(post, before)
    again = Grad().attribute(post, x, "epistemic", draw=draw)
    torch.testing.assert_close(again.maps, plain.maps, rtol=0, atol=0)


def test_options_and_errors():
    m = make_method("noisegrad", inner="ig", draws=2, sigma=0.1, steps=4)
    opts = m.options()
    assert opts["inner"] == "ig" and opts["inner_options"]["steps"] == 4 and opts["draws"] == 2
    with pytest.raises(UnsureError, match="draws"):
        NoiseGrad(draws=0)
    with pytest.raises(UnsureError, match="sigma"):
        NoiseGrad(sigma=-0.1)
    with pytest.raises(UnsureError, match="no option"):
        make_method("noisegrad", bogus=1)
    with pytest.raises(UnsureError, match="inner method"):
        NoiseGrad(Grad(), reduce="mean")
