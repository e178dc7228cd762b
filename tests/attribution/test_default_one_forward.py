"""The default (UA-Backprop, joint, ``mix+noise@0.3``) runs one forward per member per call: its
backward reuses the forward that gave the logits (``_trace.graph_forward``), and the draw's
one-image check (``guard.probe``) runs once per draw. Maps equal the two-forward path's, which
``test_ua_backprop_mixture.py`` checks against per-image loops; the probe's guards still hold."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import unsure
from unsure.attribution import _trace
from unsure.attribution.base import DEFAULT_OPTIONS, make_method
from unsure.errors import UnsureError
from unsure.posteriors import DeepEnsemble

from test_ua_backprop import make_net
from test_ua_backprop_mixture import ref_map, refs_by_loops


class Counted(nn.Module):
    """A network that counts the images it sees with grad and without."""

    def __init__(self, net):
        super().__init__()
        self.net, self.seen, self.poison = net, {True: 0, False: 0}, False

    def forward(self, x):
        self.seen[torch.is_grad_enabled()] += x.shape[0]
        out = self.net(x)
        return out * float("nan") if self.poison else out


def _ens(n=3):
    torch.manual_seed(0)
    return DeepEnsemble([Counted(make_net()) for _ in range(n)], one_pass=False)


def _x(b=4, seed=1):
    return torch.rand(b, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_one_forward_per_member_per_call():
    ens, x = _ens(), _x()
    draw = ens.draw()
    make_method('default').attribute(ens, x[:1].clone(), draw=draw)  # first call: probe and memory estimate
    for m in ens.members:
        m.seen = {True: 0, False: 0}
    make_method('default').attribute(ens, x.clone(), draw=draw)
    assert [m.seen for m in ens.members] == [{True: len(x), False: 0}] * len(ens.members)


def test_two_forward_path_gives_the_same_maps(monkeypatch):
    """The kept-graph path against the old one (a no-grad forward, then draw_gradients' own),
    forced by a memory budget of 0 bytes, and both against the per-image loops."""
    ens, x = _ens(), _x()
    one = unsure.attribute(ens, x, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr("unsure.batching.budget", lambda device: 0)
    assert _trace.graph_forward(ens.draw(), x) is None
    two = unsure.attribute(ens, x, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(one.maps, two.maps, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(one.raw, two.raw, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(one.meta["uncertainty"], two.meta["uncertainty"], rtol=0, atol=0)
    # an independent computation: per-image autograd of U, the default's references and combine
    assert DEFAULT_OPTIONS["reference"] == "mix+noise@0.3"
    from unsure.attribution.ua_mixture import reference_image
    refs = refs_by_loops(x)
    refs = [reference_image(x, "blur@1", 1.0), reference_image(x, "blur@2", 1.0),
            reference_image(x, "blur@4", 1.0), refs[2], refs[3]]
    want = ref_map([m.net for m in ens.members], x, refs, 1.0, joint=True,
                   combine="mean-of-scaled-relu", noise=(0.3,))
    torch.testing.assert_close(one.maps, want, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(one.maps.sum((1, 2)), one.meta["uncertainty"], rtol=1e-9, atol=1e-12)


def test_graph_is_used_once():
    ens, x = _ens(2), _x(2)
    draw = ens.draw()
    g = _trace.graph_forward(draw, x)
    cot = torch.ones(1, 2, 2, g.z.shape[-1], dtype=x.dtype)
    a = _trace.draw_gradients(draw, x, cot, graph=g)
    assert g.used
    b = _trace.draw_gradients(draw, x, cot, graph=g)  # spent: a fresh forward, the same rows
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="other images"):
        _trace.draw_gradients(draw, x[:1], cot[:, :, :1], graph=_trace.graph_forward(draw, x))


def test_probe_once_per_draw_and_shape_but_its_guards_hold():
    ens, x = _ens(2), _x()
    draw = ens.draw()
    make_method('default').attribute(ens, x, draw=draw)
    for m in ens.members:
        m.seen = {True: 0, False: 0}
    make_method('default').attribute(ens, x.clone(), draw=draw)
    assert all(m.seen[False] == 0 for m in ens.members)  # no probe the second time
    # another image size: probed again, and a size the model cannot take is one line
    with pytest.raises(UnsureError, match="cannot take input"):
        make_method('default').attribute(ens, torch.rand(2, 3, 8, 8, dtype=torch.float64), draw=draw)
    # new weights (an in-place change): probed again
    with torch.no_grad():
        next(ens.members[0].parameters()).add_(0.0)
    for m in ens.members:
        m.seen = {True: 0, False: 0}
    make_method('default').attribute(ens, x.clone(), draw=draw)
    assert all(m.seen[False] == 1 for m in ens.members)
    # logits that turn non-finite on a later call (same weights: no probe) are still one line
    ens.members[0].poison = True
    with pytest.raises(UnsureError, match="NaN/inf"):
        make_method('default').attribute(ens, x.clone(), draw=draw)
    with pytest.raises(UnsureError, match="NaN/inf"):  # a fresh draw: the probe says so
        unsure.attribute(ens, x.clone())


def test_partly_kept_graph_when_only_some_members_fit(monkeypatch):
    """A budget that holds the graphs of 2 of 3 members: those 2 run once (with grad), the third
    a no-grad forward and a gradient forward; the maps equal the whole-graph path's and the
    two-forward path's (which test_two_forward_path_gives_the_same_maps checks against loops)."""
    from unsure.batching import bytes_per_image

    ens, x = _ens(3), _x()
    full = unsure.attribute(ens, x, generator=torch.Generator().manual_seed(0))
    per = bytes_per_image(ens.draw(), x[:1]) * len(x)  # all 3 members' outputs for the chunk
    monkeypatch.setattr("unsure.batching.budget", lambda device: -(-2 * per // 3))
    g = _trace.graph_forward(ens.draw(), x)
    assert g.kept == 2 and g.z.shape[0] == 3
    draw = ens.draw()
    make_method('default').attribute(ens, x[:1].clone(), draw=draw)  # probe and memory estimate first
    for m in ens.members:
        m.seen = {True: 0, False: 0}
    part = make_method('default').attribute(ens, x.clone(), draw=draw,
                                            generator=torch.Generator().manual_seed(0))
    assert [m.seen for m in ens.members] == [{True: 4, False: 0}] * 2 + [{True: 4, False: 4}]
    monkeypatch.setattr("unsure.batching.budget", lambda device: 0)
    two = unsure.attribute(ens, x, generator=torch.Generator().manual_seed(0))
    for other in (full, two):
        torch.testing.assert_close(part.maps, other.maps, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(part.raw, other.raw, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(part.meta["uncertainty"], other.meta["uncertainty"], rtol=0, atol=0)
    # the class variant's K rows through a partly kept graph too
    monkeypatch.setattr("unsure.batching.budget", lambda device: -(-2 * per // 3))
    a = make_method("ua-backprop-class").attribute(ens, x)
    monkeypatch.setattr("unsure.batching.budget", lambda device: 0)
    b = make_method("ua-backprop-class").attribute(ens, x)
    torch.testing.assert_close(a.maps, b.maps, rtol=1e-12, atol=1e-15)
