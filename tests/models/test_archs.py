"""Contract tests generated from the architecture registry: shapes, the feature layer, the
features/head split, biases (or batch-norm effective biases) for FullGrad."""
import pytest
import torch
from torch import nn

from unsure.errors import UnsureError
from unsure.models import ARCHS, LeNet5, ResNet18

FAST = {"resnet18": {"width": 0.125}}  # keep the registry sweep cheap on CPU
K = 7  # distinct from the usual 10 so a hard-coded class count fails


def build(name, c, size, **kw):
    return ARCHS.get(name)(in_channels=c, num_classes=K, image_size=size, **FAST.get(name, {}), **kw).eval()


@pytest.mark.parametrize("name", ARCHS.names())
@pytest.mark.parametrize("c, size", [(1, 28), (3, 28), (1, 32), (3, 32)])
def test_output_shape(name, c, size):
    net = build(name, c, size)
    with torch.no_grad():
        assert net(torch.rand(3, c, size, size)).shape == (3, K)


@pytest.mark.parametrize("name", ARCHS.names())
def test_feature_layer_fires_once_with_4d_output(name):
    net = build(name, 3, 32)
    calls = []
    h = net.feature_layer.register_forward_hook(lambda m, i, o: calls.append(o.shape))
    try:
        with torch.no_grad():
            net(torch.rand(2, 3, 32, 32))
    finally:
        h.remove()
    assert len(calls) == 1
    assert len(calls[0]) == 4 and calls[0][0] == 2


@pytest.mark.parametrize("name", ARCHS.names())
def test_features_and_head_compose_to_forward(name):
    net = build(name, 1, 28)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(net.head(net.features(x)), net(x))
    assert isinstance(net.head, nn.Linear) and net.head.out_features == K
    assert net.head.bias is not None


@pytest.mark.parametrize("name", ARCHS.names())
def test_every_conv_has_a_bias_or_batch_norm(name):
    net = build(name, 3, 32)
    mods = list(net.modules())
    has_bn = any(isinstance(m, nn.BatchNorm2d) for m in mods)
    for m in mods:
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is None:
            assert has_bn, f"{name}: {m} has no bias and the net no batch-norm"


def test_no_module_instance_is_reused_in_a_forward():
    """Each module fires at most once per forward (hooks on one layer see one output)."""
    for name in ARCHS.names():
        net = build(name, 3, 32)
        counts = {}
        handles = [m.register_forward_hook(lambda m, i, o: counts.update({id(m): counts.get(id(m), 0) + 1}))
                   for m in net.modules() if not list(m.children())]
        try:
            with torch.no_grad():
                net(torch.rand(1, 3, 32, 32))
        finally:
            for h in handles:
                h.remove()
        assert max(counts.values()) == 1, name


def test_lenet_geometry_and_dropout():
    net = LeNet5(1, 10, 28)
    assert net.fc1.in_features == 16 * 5 * 5  # 28 -pad2-> 28 -pool-> 14 -conv5-> 10 -pool-> 5
    assert LeNet5(1, 10, 32).fc1.in_features == 16 * 6 * 6
    assert [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)] == [6, 16]
    assert [m.out_features for m in net.modules() if isinstance(m, nn.Linear)] == [120, 84, 10]
    assert isinstance(net.drop, nn.Dropout) and net.drop.p == 0.5
    assert not any(isinstance(m, nn.Dropout) for m in LeNet5(dropout=0).modules())
    with pytest.raises(UnsureError, match="at least 12x12"):
        LeNet5(1, 10, 8)


def test_resnet18_full_width_parameter_count():
    # the CIFAR ResNet-18 (kuangliu/pytorch-cifar and the like) has 11,173,962 parameters for 10 classes
    net = ResNet18(3, 10, 32)
    assert sum(p.numel() for p in net.parameters()) == 11_173_962
    assert net.feature_layer is net.layer4[-1].relu2
    with torch.no_grad():
        net.eval()
        out = {}
        h = net.feature_layer.register_forward_hook(lambda m, i, o: out.update(f=o.shape))
        try:
            net(torch.rand(1, 3, 32, 32))
        finally:
            h.remove()
    assert out["f"] == (1, 512, 4, 4)
