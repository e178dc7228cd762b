"""The factories of docs/own-model.md (examples/my_models.py) build posteriors that every method
accepts, and UA-Backprop is complete on them (random weights: the page's trained weights are
made by examples/train_my_models.py, too slow for the suite)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import unsure

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def my_models():
    spec = importlib.util.spec_from_file_location("my_models_example", EXAMPLES / "my_models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("factory, S", [("build", 3), ("mc_resnet", 16)])
def test_example_factories_are_complete_posteriors(my_models, factory, S):
    post = unsure.as_posterior(getattr(my_models, factory)())
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    assert post.sample_logits(x, g()).shape == (S, 3, 10)
    maps = unsure.attribute(post, x, target="epistemic", generator=g()).maps
    u = unsure.uncertainty(post, x, generator=g())["epistemic"]
    assert maps.shape == (3, 8, 8) and (u > 0).all()
    torch.testing.assert_close(maps.sum((1, 2)), u, rtol=1e-4, atol=1e-6)


def test_example_laplace_factory_fits_laplace_torch(my_models, tmp_path, monkeypatch):
    pytest.importorskip("backpack", reason="laplace-torch's backend is not installed (make test installs it)")
    if importlib.util.find_spec("laplace") is None:
        pytest.skip("laplace-torch is not installed (make test installs it)")
    from safetensors.torch import save_file

    weights = tmp_path / "cnn.safetensors"
    save_file(my_models.cnn(0).state_dict(), str(weights))
    monkeypatch.setenv("UNSURE_EXAMPLE_WEIGHTS", str(weights))
    post = unsure.as_posterior(my_models.laplace(), samples=5)
    assert type(post).__name__ == "LaplaceTorch"
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    maps = unsure.attribute(post, x, target="epistemic", generator=g()).maps
    torch.testing.assert_close(maps.sum((1, 2)), unsure.uncertainty(post, x, generator=g())["epistemic"],
                               rtol=1e-4, atol=1e-6)
