"""Contract tests generated from the METHODS registry: every registered method (except the
VAE-based CLUE family) gives finite ``[B,H,W]`` maps, batched == per-example (deterministic
methods) or same seed == same result (stochastic ones), leaves no hook on any module even when
the target raises, and never modifies its input."""
from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import unsure
from unsure.attribution import METHODS, make_method

from _pathkit import B, C, H, W, images, tiny_ensemble

NEEDS_VAE = {"clue", "delta-clue"}
NAMES = [n for n in METHODS.names() if n not in NEEDS_VAE]
#: small values for the expensive options a method may have
SMALL = {"steps": 3, "samples": 2, "draws": 2, "internal_batch": 64}


def small_options(name: str) -> dict:
    params = inspect.signature(METHODS.get(name).__init__).parameters
    opts = {k: v for k, v in SMALL.items() if k in params}
    if "sigma" in params and params["sigma"].default is None:  # skip a calibration search
        opts["sigma"] = 0.1
    return opts


def is_stochastic(name: str) -> bool:
    """The method's own claim (``Method.stochastic``), checked by ``test_stochastic_flag``."""
    return METHODS.get(name).stochastic


def assert_no_hooks(modules) -> None:
    for root in modules:
        for mod in root.modules():
            for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                         "_backward_pre_hooks"):
                assert not getattr(mod, kind, {}), f"{kind} left on {mod}"
            assert not getattr(mod, "inplace", False)  # the toy nets have no in-place layer
    glob = nn.modules.module
    assert not glob._global_forward_hooks and not glob._global_backward_hooks


def state(post) -> list[torch.Tensor]:
    return [t.detach().clone() for m in post.members for t in (*m.parameters(), *m.buffers())]


def assert_state(post, before) -> None:
    """Weights and buffers restored exactly (NoiseGrad perturbs them inside a ``with`` block)."""
    after = state(post)
    assert all(torch.equal(a, b) for a, b in zip(after, before))


@pytest.fixture(scope="module")
def post():
    return tiny_ensemble()


@pytest.fixture(scope="module")
def results(post):
    """One full-batch result per method (shared by the tests below)."""
    x = images()
    return {n: make_method(n, **small_options(n)).attribute(
        post, x, "epistemic", generator=torch.Generator().manual_seed(0)) for n in NAMES}


def test_registry_has_the_baselines():
    for name in ["grad", "inputgrad", "random", "smoothgrad", "fullgrad", "gradcam"]:
        assert name in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_finite(results, name):
    res = results[name]
    assert res.maps.shape == (B, H, W)
    assert res.maps.dtype == torch.float64
    assert torch.isfinite(res.maps).all()
    if res.raw is not None:
        assert res.raw.shape == (B, C, H, W) and torch.isfinite(res.raw).all()
    assert res.meta["method"] == name and res.meta["target"] == "epistemic"
    for k, v in res.meta.items():
        if isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] != 1:
            assert v.shape[0] == B, f"meta[{k!r}] has shape {tuple(v.shape)}"


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_per_example(post, results, name):
    x = images()
    method = make_method(name, **small_options(name))
    one = method.attribute(post, x, "epistemic", generator=torch.Generator().manual_seed(0),
                           batch_size=1 if not is_stochastic(name) else None)
    full = results[name]
    scale = max(1.0, float(full.maps.abs().max()))
    # stochastic methods: same seed, same result; deterministic: chunking changes nothing
    torch.testing.assert_close(one.maps, full.maps, rtol=1e-6, atol=1e-6 * scale)
    if full.raw is not None:
        torch.testing.assert_close(one.raw, full.raw, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("name", NAMES)
def test_stochastic_flag(post, results, name):
    """A method declares ``stochastic`` exactly when another seed changes its maps."""
    assert isinstance(METHODS.get(name).stochastic, bool)
    other = make_method(name, **small_options(name)).attribute(
        post, images(), "epistemic", generator=torch.Generator().manual_seed(1))
    assert torch.equal(other.maps, results[name].maps) is not is_stochastic(name)


@pytest.mark.parametrize("name", NAMES)
def test_input_unchanged_and_no_hooks(post, name):
    x = images()
    before, weights = x.clone(), state(post)
    make_method(name, **small_options(name)).attribute(post, x, "epistemic")
    assert torch.equal(x, before)
    assert_no_hooks(post.members)
    assert_state(post, weights)


class Boom(Exception):
    pass


@pytest.mark.parametrize("fail_at", [1, 2])
@pytest.mark.parametrize("name", NAMES)
def test_no_hooks_after_the_target_raises(post, name, fail_at):
    calls = []

    def target(logits):
        calls.append(1)
        if len(calls) >= fail_at:
            raise Boom("target failed")
        return unsure.epistemic(logits)

    x, weights = images(), state(post)
    try:
        make_method(name, **small_options(name)).attribute(post, x, target)
        raised = False
    except (Boom, unsure.UnsureError):  # ua-backprop refuses a target it cannot decompose
        raised = True
    assert raised or name == "random" or fail_at > len(calls)
    assert_no_hooks(post.members)
    assert all(not m.training for m in post.members)
    assert_state(post, weights)
    assert torch.equal(x, images())
