"""Smoke test of ``unsure bench mitigation`` on a tiny digits run (8x8, 2 untrained members)."""
from __future__ import annotations

import json

import pytest

import torch

from unsure import DeepEnsemble
from unsure.cli.main import main
from unsure.models import PaperCNN
from unsure.run import save_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    # the bench only needs a run directory; training its members would only cost test time
    out = tmp_path_factory.mktemp("mit") / "run"
    torch.manual_seed(0)
    opts = {"in_channels": 1, "num_classes": 10, "image_size": 8}
    save_run(out, DeepEnsemble([PaperCNN(**opts), PaperCNN(**opts)]),
             {"data": "digits", "arch": "paper-cnn", "arch_options": opts})
    return out


def bench(run_dir, out, cache, **over):
    args = {"--methods": "ua-backprop", "--train-size": "40", "--lambda": "0,0.5",
            "--attention": "map,inverse-input", "--space": "latent,input", "--seeds": "1",
            "--epochs": "2", "--eval-size": "50", "--lr": "0.05"} | over
    argv = ["bench", "mitigation", "--run", str(run_dir), "--out", str(out), "--cache", str(cache),
            "--no-progress"] + [v for kv in args.items() for v in kv]
    return main(argv)


def test_bench_writes_outputs_and_reuses_the_map_cache(run_dir, tmp_path, capsys):
    cache = tmp_path / "cache"
    assert bench(run_dir, tmp_path / "a", cache) == 0
    payload = json.loads((tmp_path / "a" / "mitigation.json").read_text())
    recs = payload["results"]["records"]
    # no attention once + 1 target x 1 method x 2 attentions x 2 spaces x 1 lambda > 0
    assert len(recs) == 5 and sum(r["method"] == "none" for r in recs) == 1
    assert all(0 <= r["accuracy"] <= 1 and r["nll"] > 0 for r in recs)
    md = (tmp_path / "a" / "mitigation.md").read_text()
    assert "| none |" in md and "inverse-input" in md and "±" in md
    assert (tmp_path / "a" / "mitigation.png").stat().st_size > 0
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 2  # train subset + evaluation images
    # a second sweep (other lambda) reuses the maps and reproduces the no-attention baseline
    assert bench(run_dir, tmp_path / "b", cache, **{"--lambda": "1", "--attention": "map",
                                                   "--space": "latent"}) == 0
    assert sorted(p.name for p in cache.iterdir()) == files
    recs_b = json.loads((tmp_path / "b" / "mitigation.json").read_text())["results"]["records"]
    base_a = next(r for r in recs if r["method"] == "none")
    base_b = next(r for r in recs_b if r["method"] == "none")
    assert (base_a["accuracy"], base_a["nll"]) == (base_b["accuracy"], base_b["nll"])


def test_bench_rejects_bad_options(run_dir, tmp_path, capsys):
    assert bench(run_dir, tmp_path / "c", tmp_path / "cache", **{"--attention": "sideways"}) == 2
    assert "attention" in capsys.readouterr().err
    assert bench(run_dir, tmp_path / "c", tmp_path / "cache", **{"--train-size": "99999"}) == 2


def test_method_key_resolves_auto_settings():
    from unsure.bench.common import parse_method
    from unsure.bench.mitigation import method_key

    key = method_key(parse_method("ua-backprop"), 1)
    assert "auto" not in key and "reference=blur" in key
    assert method_key(parse_method("grad"), 1) == method_key(parse_method("grad"))
