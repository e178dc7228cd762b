"""MC dropout, last-layer Laplace and layer choice on torchvision- and timm-style ResNets."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import unsure
from unsure import UnsureError
from unsure.posteriors.base import find_feature_layer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from resnet_like import TimmStyleResNet, TorchvisionStyleResNet  # noqa: E402


def trained_bn(net: nn.Module, C: int = 3, size: int = 32) -> nn.Module:
    """Give batch-norm non-trivial running statistics (a few forwards in train mode), then eval."""
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(8, C, size, size))
    return net.eval()


def test_mc_dropout_on_torchvision_style_resnet():
    net = trained_bn(TorchvisionStyleResNet(dropout=0.3))
    post = unsure.MCDropout(net, samples=4)
    x = torch.rand(2, 3, 32, 32)
    d = post.draw(torch.Generator().manual_seed(0))
    z = d(x)
    assert z.shape == (4, 2, 10)
    torch.testing.assert_close(d(x), z)  # frozen masks
    assert (z[0] - z[1]).abs().max() > 1e-4
    # batch-norm stays frozen (eval) and a member equals the network with its mask on fc's input
    feats = torch.flatten(net.avgpool(net.layer4(net.layer3(net.layer2(net.layer1(
        net.maxpool(net.relu(net.bn1(net.conv1(x))))))))), 1)
    mask = d.members[0].mask(0, 0, feats)
    torch.testing.assert_close(z[0], net.fc[1](feats * mask))
    assert find_feature_layer(net) is net.layer4
    for method in ("ua-backprop", "gradcam", "fullgrad", "ig"):
        r = unsure.attribute(post, x, method=method, generator=torch.Generator().manual_seed(0))
        assert r.maps.shape == (2, 32, 32) and torch.isfinite(r.maps).all()


def test_mc_dropout_on_timm_style_resnet_and_functional_dropout_message():
    post = unsure.MCDropout(trained_bn(TimmStyleResNet()), samples=3)
    z = post.sample_logits(torch.rand(2, 3, 32, 32), torch.Generator().manual_seed(0))
    assert z.shape == (3, 2, 10) and (z[0] - z[1]).abs().max() > 1e-4
    with pytest.raises(UnsureError, match="functional"):
        unsure.MCDropout(TorchvisionStyleResNet())


def reference_ll_features(net, x):
    """The input of the classifier, computed by hand."""
    h = net.layer4(net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x))))))))
    return torch.flatten(net.avgpool(h), 1)


@pytest.mark.parametrize("style", ["torchvision", "timm", "explicit"])
def test_last_layer_laplace_on_any_network(style):
    torch.manual_seed(0)
    net = trained_bn(TimmStyleResNet(drop_rate=0.0) if style == "timm" else TorchvisionStyleResNet())
    kw = {"head": "fc", "feature_fn": lambda x: reference_ll_features(net, x)} if style == "explicit" else {}
    post = unsure.LastLayerLaplace(net, samples=3, **kw)
    assert post.head is net.fc and post.head_path == "fc"
    x = torch.rand(5, 3, 32, 32)
    torch.testing.assert_close(post.features(x), reference_ll_features(net, x))
    post.fit_laplace(torch.rand(20, 3, 32, 32), torch.randint(0, 10, (20,)))
    post.optimize_prior_precision()
    d = post.draw(torch.Generator().manual_seed(0))
    z = d(x)
    # logits = phi W_s^T + b_s for the sampled heads
    ref = torch.einsum("bf,skf->sbk", reference_ll_features(net, x), d.weight) + d.bias[:, None]
    torch.testing.assert_close(z, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.stack([m(x) for m in d.members]), z, rtol=1e-5, atol=1e-5)
    r = unsure.attribute(post, x[:2], method="gradcam", generator=torch.Generator().manual_seed(0))
    assert r.maps.shape == (2, 32, 32)


def test_last_layer_laplace_head_errors():
    net = TorchvisionStyleResNet()
    with pytest.raises(UnsureError, match="no module 'head'"):
        unsure.LastLayerLaplace(net, head="head")
    with pytest.raises(UnsureError, match="nn.Linear head; 'layer4' is a Sequential"):
        unsure.LastLayerLaplace(net, head="layer4")
    with pytest.raises(UnsureError, match="submodule"):
        unsure.LastLayerLaplace(net, head=nn.Linear(64, 10))


def test_gradcam_layer_path_is_the_hand_computed_cam():
    """layer="layer3.1": Grad-CAM of that block's output, checked against a hand computation."""
    torch.manual_seed(0)
    net = trained_bn(TorchvisionStyleResNet())
    x = torch.rand(2, 3, 32, 32)
    r = unsure.attribute([net], x, method="gradcam", target=1, layer="layer3.1")
    acts = {}
    h = net.layer3[1].register_forward_hook(lambda m, i, o: acts.__setitem__("a", o.clone()))
    xr = x.clone().requires_grad_(True)
    # in-place ops follow the block (layer4's out += identity): run on a clone of its output
    out = net(xr)
    h.remove()
    a = acts["a"].detach().requires_grad_(True)
    logits = net.fc(torch.flatten(net.avgpool(net.layer4(a)), 1))
    f = torch.softmax(logits, -1)[:, 1]
    (g,) = torch.autograd.grad(f.sum(), a)
    cam = (g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True).relu()
    ref = nn.functional.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(out, net(x))
    torch.testing.assert_close(r.maps, ref, rtol=1e-4, atol=1e-6)
    with pytest.raises(UnsureError, match="no module 'layer9'.*layer1, layer2"):
        unsure.attribute([net], x, method="gradcam", layer="layer9")


def test_fullgrad_layer_keeps_only_that_modules_bias_terms():
    torch.manual_seed(0)
    net = trained_bn(TorchvisionStyleResNet())
    x = torch.rand(1, 3, 32, 32)
    full = unsure.attribute([net], x, method="fullgrad", target="class-logit:2")
    part = unsure.attribute([net], x, method="fullgrad", target="class-logit:2", layer="layer4")
    none = unsure.attribute([net], x, method="fullgrad", target="class-logit:2", layer="fc")
    # completeness over all layers does not depend on the map's layer choice
    torch.testing.assert_close(full.meta["completeness_delta"], part.meta["completeness_delta"])
    # fc is not spatial: only the input-gradient term remains; layer4 adds its own (>= 0) terms
    assert (part.maps >= none.maps - 1e-6).all() and (full.maps >= part.maps - 1e-6).all()
    assert (part.maps - none.maps).abs().max() > 0 and (full.maps - part.maps).abs().max() > 0
