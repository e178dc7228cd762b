"""One-pass ensembles (``torch.func.vmap`` over stacked members) against the member loop.

The reference is the loop itself (``one_pass=False``: each member called as the ``nn.Module`` it
is) and, for the logits, each member called directly: the one pass must give the same numbers up
to float rounding, for the forward, the gradients and the attribution methods that use them.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import unsure
from unsure.attribution._trace import draw_gradients
from unsure.errors import UnsureError
from unsure.posteriors.ensemble import DeepEnsemble
from unsure.posteriors.one_pass import stackable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from resnet_like import TorchvisionStyleResNet  # noqa: E402


def small_cnn(dropout: float = 0.3, k: int = 10) -> nn.Module:
    net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Dropout(dropout), nn.Flatten(), nn.Linear(6 * 7 * 7, k))
    with torch.no_grad():  # non-trivial running statistics: eval-mode batch norm must use them
        net[1].running_mean.normal_()
        net[1].running_var.uniform_(0.5, 2.0)
    return net


def resnet(k: int = 10) -> nn.Module:
    net = TorchvisionStyleResNet(num_classes=k, w=4, dropout=0.2)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    return net


def pair(make, n: int = 4):
    members = [make() for _ in range(n)]
    return DeepEnsemble(members, one_pass=True), DeepEnsemble(members, one_pass=False)


@pytest.mark.parametrize("make,shape", [(small_cnn, (5, 1, 14, 14)), (resnet, (3, 3, 32, 32))])
def test_forward_equals_each_member(make, shape):
    fast, loop = pair(make)
    x = torch.rand(shape)
    z = fast.draw()(x)
    assert fast._stacked is not None  # the one pass really ran
    ref = torch.stack([m(x) for m in loop.members])  # each member called directly, eval mode
    torch.testing.assert_close(z, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loop.draw()(x), ref, atol=0, rtol=0)


@pytest.mark.parametrize("make,shape", [(small_cnn, (5, 1, 14, 14)), (resnet, (2, 3, 32, 32))])
def test_batched_gradients_equal_the_loop(make, shape):
    fast, loop = pair(make)
    x = torch.rand(shape)
    cot = torch.randn(3, 4, shape[0], 10)  # [J,S,B,K]
    g_fast = draw_gradients(fast.draw(), x, cot)
    # independent reference: each member's own backward, summed
    rows = []
    for j in range(len(cot)):
        row = 0
        for m, net in enumerate(loop.members):
            xr = x.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(net(xr), xr, cot[j, m])
            row = row + g
        rows.append(row)
    ref = torch.stack(rows)
    torch.testing.assert_close(g_fast, ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(draw_gradients(loop.draw(), x, cot), ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("method", ["default", "ua-backprop-class", "ua-backprop:path=ig:steps=4",
                                    "grad", "inputgrad", "ua-backprop:variant=paper:path=grad"])
@pytest.mark.parametrize("target", ["total", "epistemic"])
def test_methods_equal_the_loop(method, target):
    fast, loop = pair(small_cnn)
    x = torch.rand(4, 1, 14, 14)
    a = unsure.attribute(fast, x, method=method, target=target)
    b = unsure.attribute(loop, x, method=method, target=target)
    assert fast._stacked is not None
    torch.testing.assert_close(a.maps, b.maps, atol=1e-6, rtol=1e-4)


def test_resnet_methods_equal_the_loop():
    fast, loop = pair(resnet, n=3)
    x = torch.rand(2, 3, 32, 32)
    for method in ("default", "ua-backprop-class"):
        a = unsure.attribute(fast, x, method=method, target="total")
        b = unsure.attribute(loop, x, method=method, target="total")
        torch.testing.assert_close(a.maps, b.maps, atol=1e-6, rtol=1e-4)


def test_different_architectures_take_the_loop():
    members = [small_cnn().eval(), nn.Sequential(nn.Flatten(), nn.Linear(196, 10)).eval()]
    assert stackable(members) == "members differ in architecture"
    ens = DeepEnsemble(members, one_pass=True)
    x = torch.rand(3, 1, 14, 14)
    z = ens.draw()(x)
    assert ens._stacked is None
    for m in members:
        m.eval()
    torch.testing.assert_close(z, torch.stack([m(x) for m in members]), atol=0, rtol=0)
    widths = [small_cnn(), small_cnn()]
    widths[1][6] = nn.Linear(6 * 7 * 7, 10, bias=False)  # same types, different parameters
    assert stackable([m.eval() for m in widths]) == "members differ in architecture"


def test_hooks_and_training_mode_take_the_loop():
    members = [small_cnn() for _ in range(3)]
    for m in members:
        m.eval()
    h = members[1][0].register_forward_hook(lambda *a: None)
    assert stackable(members) == "a member has forward hooks"
    h.remove()
    assert stackable(members) is None
    members[2].train()
    assert stackable(members) == "a member is in training mode"


def test_fullgrad_paths_are_unchanged():
    """FullGrad records every member's bias layers with hooks: the loop runs, same maps."""
    fast, loop = pair(small_cnn)
    x = torch.rand(3, 1, 14, 14)
    a = unsure.attribute(fast, x, method="ua-backprop:variant=paper", target="total")
    b = unsure.attribute(loop, x, method="ua-backprop:variant=paper", target="total")
    torch.testing.assert_close(a.maps, b.maps, atol=1e-6, rtol=1e-4)


def test_weights_changed_after_a_draw_are_seen():
    fast, _ = pair(small_cnn)
    x = torch.rand(2, 1, 14, 14)
    fast.draw()(x)
    with torch.no_grad():
        fast.members[0][6].bias.add_(5.0)  # in place: the stacked copy is stale
    z = fast.draw()(x)
    torch.testing.assert_close(z[0], fast.members[0](x), atol=1e-5, rtol=1e-5)


def test_bad_switch_value():
    ens = DeepEnsemble([small_cnn(), small_cnn()], one_pass="yes")
    with pytest.raises(UnsureError, match="one_pass"):
        ens.draw()(torch.rand(1, 1, 14, 14))


def test_no_grad_forward_is_reused_only_for_unchanged_images_and_weights():
    """A draw hands back its last no-grad logits for the same, unchanged images (a dataset job's
    prediction pass and its methods' passes); anything that could change them recomputes."""
    ens = DeepEnsemble([small_cnn(), small_cnn()], one_pass=False)
    d = ens.draw()
    calls = []
    orig = d.members[0].forward
    d.members[0].forward = lambda x: (calls.append(1), orig(x))[1]
    x = torch.rand(4, 1, 14, 14)
    with torch.no_grad():
        a = d(x)
        assert d(x[:4]) is a and len(calls) == 1  # same storage, offset, shape: reused
        d(x[1:])  # other images
        assert len(calls) == 2
        x2 = x.clone()
        x2.mul_(1.0)  # in place: a new version
        b = d(x2)
        b2 = d(x2.mul_(0.5))
        assert len(calls) == 4 and not torch.equal(b, b2)
        ens.members[1][6].bias.add_(1.0)  # the weights changed in place
        c = d(x2)
        assert len(calls) == 5 and not torch.equal(c[1], b2[1])
        h = ens.members[0][0].register_forward_hook(lambda *a: None)
        d(x2)
        assert len(calls) == 6  # hooks see every call
        h.remove()
    x.requires_grad_(True)
    d(x)  # with grad: always a fresh graph
    assert len(calls) == 7


@pytest.mark.parametrize("one_pass", [True, False])
def test_rows_in_chunks_under_a_small_budget_equal_all_rows_at_once(monkeypatch, one_pass):
    """Under a memory budget too small for all rows, the rows are backpropagated in chunks
    (checked: more than one batched backward) with the same result."""
    from unsure import batching

    ens = DeepEnsemble([small_cnn() for _ in range(3)], one_pass=one_pass)
    x = torch.rand(2, 1, 14, 14)
    cot = torch.randn(7, 3, 2, 10)
    whole = draw_gradients(ens.draw(), x, cot)
    calls = []
    real = torch.autograd.grad
    monkeypatch.setattr(torch.autograd, "grad", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    monkeypatch.setattr(batching, "CPU_BUDGET", 1)  # one row per backward
    chunked = draw_gradients(ens.draw(), x, cot)
    assert len(calls) == 7 * (1 if one_pass else 3)
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-5)


def test_mc_dropout_in_one_pass_equals_the_member_loop():
    """MC dropout's S members as one forward of S*B images (their own frozen masks) against
    each member called alone."""
    from unsure.posteriors.mc_dropout import MCDropout

    net = small_cnn(dropout=0.5)
    post = MCDropout(net, samples=6)
    draw = post.draw(torch.Generator().manual_seed(2))
    x = torch.rand(3, 1, 14, 14)
    with torch.no_grad():
        z = draw(x)
        ref = torch.stack([m(x) for m in draw.members])  # each member alone, its hooks
    assert not torch.equal(ref[0], ref[1])  # the masks differ
    torch.testing.assert_close(z, ref, atol=1e-6, rtol=1e-5)
    from unsure.attribution import make_method

    for method in ("default", "ua-backprop-class", "grad"):
        post.batched = True
        a = make_method(method).attribute(post, x, "epistemic", draw=draw)
        post.batched = False
        b = make_method(method).attribute(post, x, "epistemic", draw=draw)
        torch.testing.assert_close(a.maps, b.maps, atol=1e-6, rtol=1e-4)
    post.batched = True
    h = net[0].register_forward_hook(lambda *a: None)
    assert draw.fast(x) is None  # hooks of its own: the loop
    h.remove()
