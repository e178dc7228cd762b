"""Colour and larger images through every method and the blurring test: a CIFAR-style ResNet-18
on 3x32x32 (unsure's, at 1/8 width so the test stays small) and a torchvision-style ResNet on
3x224x224, random weights (none can be downloaded), inputs normalised inside the model with
``preprocess=`` so that references stay in pixel space."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import unsure
from unsure.attribution import METHODS, make_method
from unsure.metrics import blurring_test
from unsure.models import ResNet18

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from resnet_like import TorchvisionStyleResNet  # noqa: E402

from test_contracts import NAMES, small_options  # noqa: E402

CIFAR = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def with_bn_stats(net, shape):
    net.train()
    with torch.no_grad():
        for _ in range(2):
            net(torch.rand(4, *shape))
    return net.eval()


@pytest.fixture(scope="module")
def cifar_post():
    nets = []
    for seed in range(2):
        torch.manual_seed(seed)
        nets.append(with_bn_stats(ResNet18(3, 10, 32, width=0.125), (3, 32, 32)))
    return unsure.as_posterior(nets, preprocess=CIFAR)


@pytest.mark.parametrize("name", NAMES)
def test_every_method_on_colour_32x32(cifar_post, name):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    before = x.clone()
    opts = small_options(name) | ({"masks": 50} if name == "rise" else {})
    res = make_method(name, **opts).attribute(
        cifar_post, x, "epistemic", generator=torch.Generator().manual_seed(0))
    assert res.maps.shape == (2, 32, 32) and torch.isfinite(res.maps).all()
    if res.raw is not None:
        assert res.raw.shape == (2, 3, 32, 32)
    if name != "random":
        assert res.maps.abs().sum() > 0
    assert torch.equal(x, before)


def test_blurring_test_on_colour_32x32(cifar_post):
    x = torch.rand(2, 3, 32, 32)
    maps = unsure.attribute(cifar_post, x, method="grad").maps
    r = blurring_test(cifar_post, x, maps, fraction=0.02, sigmas=(1.0, 4.0), generator=torch.Generator().manual_seed(0))
    assert r.curves.shape == (2, 21) and 0 <= r.murr <= 1


def test_resnet_on_224x224_through_methods_and_blurring():
    torch.manual_seed(0)
    net = with_bn_stats(TorchvisionStyleResNet(num_classes=5, w=4, dropout=0.3), (3, 224, 224))
    post = unsure.MCDropout(unsure.Preprocessed(net, IMAGENET), samples=3)
    x = torch.rand(1, 3, 224, 224)
    for name, opts in [("ua-backprop", {}), ("gradcam", {"layer": "layer4.1"}), ("fullgrad", {}),
                       ("ig", {"steps": 4}), ("smoothgrad", {"samples": 2, "sigma": 0.1})]:
        res = unsure.attribute(post, x, method=name, target="epistemic", generator=torch.Generator().manual_seed(0),
                               **opts)
        assert res.maps.shape == (1, 224, 224) and torch.isfinite(res.maps).all() and res.maps.abs().sum() > 0
    r = blurring_test(post, x, res.maps, fraction=0.0005, sigmas=(2.0,), generator=torch.Generator().manual_seed(0))
    assert r.curves.shape == (1, 26)


def test_preprocess_keeps_the_black_reference_in_pixel_space():
    """IG with a black reference on a normalising model: completeness is against f(black pixels),
    i.e. net(normalise(0)), not net(0) in the normalised space."""
    torch.manual_seed(0)
    net = with_bn_stats(ResNet18(3, 10, 32, width=0.125), (3, 32, 32)).double()
    post = unsure.as_posterior(net, preprocess=CIFAR)
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    res = unsure.attribute(post, x, method="ig", target="class-logit:3", steps=256)
    norm = unsure.Normalize(*CIFAR).double()
    with torch.no_grad():
        logit = lambda img: net(img)[:, 3]  # noqa: E731
        expected = logit(norm(x)) - logit(norm(torch.zeros_like(x)))
        in_normalised_space = logit(norm(x)) - logit(torch.zeros_like(x))
    torch.testing.assert_close(res.maps.sum((1, 2)), expected, rtol=2e-2, atol=1e-3)
    assert (expected - in_normalised_space).abs().item() > 5e-3  # several tolerances: the test tells them apart
    with pytest.raises(unsure.UnsureError, match="3 channel"):
        unsure.as_posterior(net, preprocess=CIFAR).sample_logits(torch.rand(1, 1, 32, 32))
