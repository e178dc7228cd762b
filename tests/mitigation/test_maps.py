"""The map cache returns identical tensors and regenerates nothing it holds; retraining is seeded."""
from __future__ import annotations

import pytest
import torch

import unsure.mitigation.maps as maps_mod
from unsure import DeepEnsemble
from unsure.errors import UnsureError
from unsure.mitigation import MapCache, MapKey, RetrainConfig, cached_maps, evaluate, generate_maps, retrain, run_id
from unsure.models import PaperCNN


@pytest.fixture
def post():
    torch.manual_seed(0)
    return DeepEnsemble([PaperCNN(1, 5, 8), PaperCNN(1, 5, 8)])


def key(**kw):
    return MapKey(**({"run": "r-abc", "method": "ua-backprop", "target": "epistemic", "split": "train",
                      "subset": "perm0-7"} | kw))


def test_cache_returns_identical_tensors(tmp_path):
    cache = MapCache(tmp_path)
    m = torch.rand(7, 8, 8)
    assert cache.load(key()) is None
    cache.save(key(), m)
    got = cache.load(key())
    assert got.dtype == m.dtype and torch.equal(got, m)
    assert cache.path(key()) != cache.path(key(split="test")) != cache.path(key(seed=1))


def test_cache_rejects_a_file_written_for_another_key(tmp_path):
    cache = MapCache(tmp_path)
    cache.save(key(), torch.rand(7, 8, 8))
    cache.path(key()).rename(cache.path(key(target="total")))
    with pytest.raises(UnsureError, match="another key"):
        cache.load(key(target="total"))


def test_cached_maps_generates_once(tmp_path, post, monkeypatch):
    x = torch.rand(7, 1, 8, 8)
    calls = []
    real = maps_mod.generate_maps
    monkeypatch.setattr(maps_mod, "generate_maps", lambda *a, **k: calls.append(1) or real(*a, **k))
    cache = MapCache(tmp_path)
    first = cached_maps(cache, key(), post, x, "ua-backprop", batch_size=3, progress=False)
    second = cached_maps(cache, key(), post, x, "ua-backprop", batch_size=3, progress=False)
    assert len(calls) == 1 and torch.equal(first, second) and first.shape == (7, 8, 8)
    with pytest.raises(UnsureError, match="shape"):
        cached_maps(cache, key(), post, x[:4], "ua-backprop", progress=False)


def test_chunked_generation_equals_one_batch(post):
    x = torch.rand(7, 1, 8, 8)
    a = generate_maps(post, x, "ua-backprop", batch_size=3, progress=False)
    b = generate_maps(post, x, "ua-backprop", batch_size=7, progress=False)
    assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
    # UA-Backprop maps are complete: each sums to the image's epistemic uncertainty (>= 0)
    assert (a.sum((1, 2)) >= -1e-6).all()


def test_run_id_follows_the_weights(tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"one")
    first = run_id(tmp_path)
    (tmp_path / "weights.safetensors").write_bytes(b"two")
    assert run_id(tmp_path) != first and first.startswith(tmp_path.name)
    with pytest.raises(UnsureError, match="run directory"):
        run_id(tmp_path / "missing")


def test_retrain_is_seeded_and_leaves_global_rng_alone():
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(20, 1, 8, 8, generator=g), torch.randint(0, 4, (20,), generator=g)
    A = torch.rand(20, 8, 8, generator=g)
    cfg = RetrainConfig(lam=0.5, epochs=2, batch_size=8)
    state = torch.get_rng_state()
    n1, log1 = retrain(x, y, A, cfg, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    n2, log2 = retrain(x, y, A, cfg, seed=5)
    assert log1.losses == log2.losses
    assert cfg.train_config().milestones == (1,) and RetrainConfig().train_config().milestones == (30, 60, 90)
    r = evaluate(n1, x, y, A)
    assert r == evaluate(n2, x, y, A) and set(r) == {"accuracy", "nll", "ece"}
    with pytest.raises(UnsureError, match="space"):
        RetrainConfig(space="middle")
