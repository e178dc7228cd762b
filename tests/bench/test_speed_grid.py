"""``unsure bench speed --grid``: grid points, the random models, the floor against an explicit
per-member gradient, Captum's counterparts computing the same maps as unsure's methods (so the
timings compare like with like), and the CLI."""
from __future__ import annotations

import json

import pytest
import torch

from unsure.attribution import make_method
from unsure.attribution.spec import parse_methods
from unsure.bench.speed_grid import GRIDS, GridPoint, gradient_floor, parse_grid, parse_point, random_posterior
from unsure.cli.main import main
from unsure.errors import UnsureError
from unsure.measures import resolve_target

captum_attr = pytest.importorskip("captum.attr")


def test_parse_point_and_named_grids():
    p = parse_point("resnet18:3x224:k1000:s50:b1:n1:min")
    assert p == GridPoint("resnet18", 3, 224, 1000, 50, 1, 1, "min")
    assert parse_point(p.label) == p
    assert parse_point("paper-cnn:1x28:k10:s5:b4").n == 4  # N defaults to the batch
    assert [q.label for q in parse_grid("quick")] == [parse_point(t).label for t in GRIDS["quick"]]
    assert len(parse_grid("paper-cnn:1x8:k3:s2:b2,resnet18:3x32:k10:s1:b1")) == 2
    # the full grid is the product of the axes
    full = parse_grid("full")
    assert {q.size for q in full} == {8, 28, 32, 64, 224} and {q.classes for q in full} == {10, 100, 1000}
    assert {q.samples for q in full} == {1, 5, 50} and {q.channels for q in full} == {1, 3}
    assert any(q.size == 224 and q.samples == 50 and q.batch == 1 for q in full)


@pytest.mark.parametrize("text, match", [("nonet:1x8:k3:s2:b2", "unknown architecture"),
                                         ("paper-cnn:1x8:k3:s2", "expected ARCH"),
                                         ("paper-cnn:8:k3:s2:b2", "expected ARCH"),
                                         ("paper-cnn:1x8:k1:s2:b2", "expected ARCH"),
                                         ("paper-cnn:1x8:k3:s2:b2:fast", "expected ARCH")])
def test_bad_points_are_one_line_errors(text, match):
    with pytest.raises(UnsureError, match=match):
        parse_grid(text)


@pytest.fixture(scope="module")
def tiny():
    p = parse_point("paper-cnn:2x8:k7:s3:b5:n5")
    x = torch.rand(5, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    post = random_posterior(p, x, 4.0, seed=0)
    return p, x, post


def test_random_members_have_the_requested_logit_std(tiny):
    p, x, post = tiny
    assert len(post.members) == p.samples
    with torch.no_grad():
        stds = [m(x[:8]).std().item() for m in post.members]
    assert stds == pytest.approx([4.0] * 3, rel=1e-4)
    assert len({round(s, 6) for s in (m.fc2.weight.sum().item() for m in post.members)}) == 3  # distinct seeds


def test_floor_is_the_gradient_of_the_target_member_by_member(tiny):
    _, x, post = tiny
    draw = post.draw(torch.Generator().manual_seed(0))
    got = gradient_floor(draw, "epistemic")(x)
    # explicit: stack each member's logits, target, backward
    xr = x.clone().requires_grad_(True)
    logits = torch.stack([m(xr) for m in post.members])  # [S,B,K]
    (want,) = torch.autograd.grad(resolve_target("epistemic")(logits).sum(), xr)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-8)
    assert want.abs().max() > 0


def test_captum_counterparts_compute_unsures_maps(tiny):
    from unsure.bench.speed_captum import counterpart

    _, x, post = tiny
    post = post.double()
    x = x.double()
    draw = post.draw(torch.Generator().manual_seed(0))
    reduce = {"grad": lambda a: a.amax(1), "inputgrad": lambda a: a.sum(1), "ig:steps=8": lambda a: a.sum(1),
              "gradcam": lambda a: a[:, 0]}
    for spec in parse_methods(",".join(reduce)):
        ours = make_method(spec.name, **spec.options).attribute(post, x, "epistemic", draw=draw).maps
        theirs = counterpart(spec, post, draw, "epistemic")(x)
        torch.testing.assert_close(ours, reduce[spec.label](theirs), rtol=1e-6, atol=1e-10)
        assert ours.abs().max() > 0
    for spec in parse_methods("smoothgrad:samples=3,expected-gradients:samples=4"):  # random draws: shape only
        assert counterpart(spec, post, draw, "epistemic")(x).shape == x.shape
    for spec in parse_methods("default,fullgrad,idgi-ig,ig:reference=white"):
        assert counterpart(spec, post, draw, "epistemic") is None


def test_grid_cli_writes_ratios_and_captum(tmp_path):
    out = tmp_path / "grid"
    assert main(["bench", "speed", "--grid", "paper-cnn:1x8:k5:s2:b2:n2:min", "--methods", "default,grad,fullgrad",
                 "--repeats", "1", "--device", "cpu", "--out", str(out), "--no-progress"]) == 0
    d = json.loads((out / "speed-grid.json").read_text())
    res = d["results"]["points"]["paper-cnn:1x8:k5:s2:b2:n2:min"]
    assert set(res["methods"]) == {"default", "grad", "fullgrad"}
    f = res["floor"]["cpu_seconds_per_image"]
    for r in res["methods"].values():
        assert r["ratio_to_floor"] == pytest.approx(r["cpu_seconds_per_image"] / f)
        assert r["peak_bytes_per_image"] > 0
    assert res["methods"]["grad"]["captum"]["implementation"] == "Saliency"
    assert res["methods"]["fullgrad"]["captum"] is None
    assert d["results"]["headline"]["points"] == 1
    assert "x floor" in (out / "speed-grid.md").read_text()


def test_speed_without_run_or_grid_is_a_one_line_error(capsys):
    assert main(["bench", "speed", "--no-progress"]) == 2
    assert "--grid" in capsys.readouterr().err


def test_a_measurement_over_the_cap_is_its_first_call():
    from unsure.bench.speed_grid import measure

    calls = []

    def fn(xb):
        calls.append(len(xb))
        return sum(range(20000))  # some CPU time

    x = torch.zeros(4, 1, 2, 2)
    r = measure(fn, x, 2, torch.device("cpu"), repeats=2, memory=False, cap=1e-9)
    assert r["capped"] and calls == [1] and r["cpu_seconds_per_image"] > 0
    calls.clear()
    r = measure(fn, x, 2, torch.device("cpu"), repeats=2, memory=False, cap=None)
    assert not r["capped"] and calls == [1, 2, 2, 2, 2]  # warm-up, then 2 repeats of 2 chunks


@pytest.mark.parametrize("flag, want", [("true", True), ("false", False)])
def test_grid_one_pass_switch_reaches_the_ensemble(tmp_path, flag, want):
    p = parse_point("paper-cnn:1x8:k3:s2:b2")
    post = random_posterior(p, torch.rand(2, 1, 8, 8), 4.0, seed=0, one_pass=want)
    assert post.one_pass is want
    out = tmp_path / flag
    assert main(["bench", "speed", "--grid", "paper-cnn:1x8:k3:s2:b2:n2:min", "--methods", "grad", "--one-pass", flag,
                 "--repeats", "1", "--device", "cpu", "--no-captum", "--out", str(out), "--no-progress"]) == 0
    d = json.loads((out / "speed-grid.json").read_text())
    assert d["config"]["one_pass"] == flag and d["results"]["points"]["paper-cnn:1x8:k3:s2:b2:n2:min"]["methods"]["grad"]["captum"] is None


def test_grid_one_pass_bad_value(tmp_path):
    assert main(["bench", "speed", "--grid", "paper-cnn:1x8:k3:s2:b2", "--one-pass", "maybe", "--out",
                 str(tmp_path / "x"), "--no-progress"]) == 2


def test_every_timed_call_gets_fresh_images():
    """A draw reuses its last no-grad logits for the very same tensor: the bench must not time that."""
    from unsure.bench.speed_grid import measure

    seen = []
    x = torch.rand(4, 1, 2, 2)
    measure(seen.append, x, 2, torch.device("cpu"), repeats=2, memory=True)  # holds every input alive
    ptrs = [xb.untyped_storage().data_ptr() for xb in seen]
    assert len(seen) == 1 + 2 * 2 + 1 and len(set(ptrs)) == len(ptrs)  # warm-up, 2 x 2 chunks, memory
    assert x.untyped_storage().data_ptr() not in ptrs
    torch.testing.assert_close(torch.cat(seen[1:3]), x)  # same values, new storage


def test_posterior_axis_parses_and_round_trips():
    from unsure.bench.speed_grid import POSTERIOR_KINDS

    for kind in POSTERIOR_KINDS:
        text = "paper-cnn:1x8:k3:s2:b2:n2:min" + ("" if kind == "ensemble" else f":post={kind}")
        p = parse_point(text)
        assert p.posterior == kind and p.label == text and parse_point(p.label) == p
    with pytest.raises(UnsureError, match="post= must be one of"):
        parse_point("paper-cnn:1x8:k3:s2:b2:post=vi")


@pytest.mark.parametrize("kind", ["mc-dropout", "laplace"])
def test_posterior_axis_draws_the_same_samples_batched_and_in_a_loop(kind):
    """MC dropout's batched draw and Laplace's shared trunk against the member loop (each member
    called alone): the same logits and the same floor gradient."""
    from unsure.bench.speed_grid import grid_draw
    from unsure.posteriors import LastLayerLaplace, MCDropout

    p = parse_point(f"paper-cnn:1x8:k4:s3:b3:n3:min:post={kind}")
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    one = random_posterior(p, x, 4.0, seed=0, one_pass=True)
    loop = random_posterior(p, x, 4.0, seed=0, one_pass=False)
    assert isinstance(one, MCDropout if kind == "mc-dropout" else LastLayerLaplace)
    assert one.num_samples == 3
    d1, d0 = grid_draw(one, p, 0, True), grid_draw(loop, p, 0, False)
    if kind == "mc-dropout":  # --one-pass reaches MCDropout's batched=
        assert one.batched is True and loop.batched is False
    else:  # the shared trunk, or a plain Draw calling the members one by one
        from unsure.posteriors.base import Draw
        from unsure.posteriors.laplace import LastLayerDraw
        assert isinstance(d1, LastLayerDraw) and type(d0) is Draw
    with torch.no_grad():
        z1, z0 = d1(x), d0(x)
        ref = torch.stack([m(x) for m in d0.members])  # each member alone: independent of batching
    assert z1.shape == (3, 3, 4) and z1.std(0).max() > 0  # the samples differ
    torch.testing.assert_close(z1, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(z0, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gradient_floor(d1, "epistemic")(x), gradient_floor(d0, "epistemic")(x),
                               rtol=1e-4, atol=1e-7)


def test_mc_dropout_point_on_a_net_without_dropout_adds_one():
    from unsure.bench.speed_grid import HeadDropout
    from unsure.posteriors.mc_dropout import dropout_modules

    p = parse_point("resnet18:3x8:k5:s2:b1:n1:min:post=mc-dropout")
    post = random_posterior(p, torch.rand(2, 3, 8, 8), 4.0, seed=0)
    assert isinstance(post.net, HeadDropout) and len(dropout_modules(post.net)) == 1


def test_grid_cli_runs_a_posterior_point(tmp_path):
    out = tmp_path / "post"
    pt = "paper-cnn:1x8:k3:s2:b2:n2:min:post=laplace"
    assert main(["bench", "speed", "--grid", pt, "--methods", "default", "--repeats", "1", "--device", "cpu",
                 "--no-captum", "--out", str(out), "--no-progress"]) == 0
    d = json.loads((out / "speed-grid.json").read_text())
    assert d["results"]["points"][pt]["methods"]["default"]["ratio_to_floor"] > 0
