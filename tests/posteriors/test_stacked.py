"""Stacked-estimator wrappers against torch-uncertainty's own wrapper code (0.13): the files
``torch_uncertainty/methods/deep_ensembles.py`` and ``mc_dropout.py`` of the installed package,
loaded on their own, since ``import torch_uncertainty`` pulls in Lightning (not installed here);
those two files need only torch and einops."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

import unsure
from unsure import UnsureError


def _tu_module(name: str):
    spec = importlib.util.find_spec("torch_uncertainty")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torch-uncertainty is not installed (make test installs it with --no-deps)")
    pytest.importorskip("einops", reason="einops is needed by torch-uncertainty's wrappers")
    path = Path(list(spec.submodule_search_locations)[0]) / "methods" / f"{name}.py"
    mod_spec = importlib.util.spec_from_file_location(f"_tu_{name}", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


def cnn(seed: int, dropout: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    layers = [nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 16), nn.ReLU()]
    layers += [nn.Dropout(0.5)] if dropout else []
    return nn.Sequential(*layers, nn.Linear(16, 5))


def test_deep_ensembles_wrapper_becomes_its_members():
    tu = _tu_module("deep_ensembles")
    nets = [cnn(i) for i in range(3)]
    wrapper = tu.deep_ensembles(nets).eval()
    post = unsure.as_posterior(wrapper)
    assert isinstance(post, unsure.DeepEnsemble) and post.num_samples == 3
    x = torch.rand(2, 3, 8, 8)
    z = post.sample_logits(x)
    torch.testing.assert_close(z, torch.stack([n(x) for n in nets]))
    # the same numbers through the generic [S*B,K] -> [S,B,K] path: estimator-major layout
    stacked = unsure.StackedEstimators(wrapper)
    torch.testing.assert_close(stacked.sample_logits(x), z)
    torch.testing.assert_close(wrapper(x), z.reshape(6, 5))


@pytest.mark.parametrize("on_batch", [True, False])
def test_mc_dropout_wrapper_is_frozen_per_draw(on_batch):
    tu = _tu_module("mc_dropout")
    wrapper = tu.mc_dropout(cnn(0, dropout=True), num_estimators=4, on_batch=on_batch)
    wrapper.eval()  # torch-uncertainty keeps the dropout layers active in eval mode
    post = unsure.as_posterior(wrapper)
    assert isinstance(post, unsure.StackedEstimators) and post.num_samples == 4
    x = torch.rand(3, 3, 8, 8)
    d = post.draw(torch.Generator().manual_seed(0))
    z = d(x)
    assert z.shape == (4, 3, 5)
    torch.testing.assert_close(d(x), z)  # the same masks on every call of one draw
    assert (z[0] - z[1]).abs().max() > 1e-3  # the estimators differ
    z2 = post.draw(torch.Generator().manual_seed(1))(x)
    assert (z2 - z).abs().max() > 1e-3  # another draw, other masks
    # member s is estimator s of the joint call
    torch.testing.assert_close(d.members[2](x), z[2])
    # the layout: with the RNG seeded as the draw seeds it, the wrapper's own [S*B,K] output
    with torch.random.fork_rng():
        torch.manual_seed(d.seed)
        ref = wrapper(x)
    torch.testing.assert_close(z.reshape(12, 5), ref)
    # an attribution is reproducible from its generator
    a = unsure.attribute(post, x, method="ig", target="epistemic", generator=torch.Generator().manual_seed(0), steps=8)
    b = unsure.attribute(post, x, method="ig", target="epistemic", generator=torch.Generator().manual_seed(0), steps=8)
    torch.testing.assert_close(a.maps, b.maps)


class Stacker(nn.Module):
    """A wrapper without num_estimators: three heads stacked [3*B, K]."""

    def __init__(self):
        super().__init__()
        self.nets = nn.ModuleList(cnn(i) for i in range(3))

    def forward(self, x):
        return torch.cat([n(x) for n in self.nets], 0)


def test_num_estimators_given_and_checked():
    x = torch.rand(2, 3, 8, 8)
    w = Stacker()
    post = unsure.as_posterior(w, num_estimators=3)
    torch.testing.assert_close(post.sample_logits(x), torch.stack([n(x) for n in w.nets]))
    with pytest.raises(UnsureError, match=r"expected \[S\*B,K\] = \[4, K\] with num_estimators S = 2"):
        unsure.as_posterior(w, num_estimators=2).sample_logits(x)
    with pytest.raises(UnsureError, match="num_estimators"):
        unsure.StackedEstimators(w)
