"""Smoke tests of the evaluation-suite benches on a tiny digits run (8x8, 2 members, 1 epoch)."""
from __future__ import annotations

import json
import warnings

import pytest

from unsure.bench import BENCHES
from unsure.bench._suite import SuiteOptions, available_methods
from unsure.bench.ablation import ablation_benchmark
from unsure.bench.insertion import insertion_benchmark
from unsure.bench.localization import localization_benchmark
from unsure.bench.rotation import rotation_benchmark
from unsure.bench.sanity import sanity_benchmark
from unsure.bench.sic_aic import sic_aic_benchmark
from unsure.cli.main import main
from unsure.errors import UnsureError
from unsure.run import load_run
from unsure.training.run import train_run

METHODS = "ua-backprop,ig:steps=8"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite") / "run"
    train_run(data="digits", members=2, epochs=1, out=str(out), progress=False)
    return out


@pytest.fixture(scope="module")
def post(run_dir):
    return load_run(run_dir)


def opts(target="epistemic", n=6):
    return SuiteOptions(n=n, target=target, seed=0, batch_size=6, progress=False)


def test_unknown_methods_are_refused():
    specs = available_methods(METHODS)
    assert [s.name for s in specs] == ["ua-backprop", "ig"] and specs[1].options == {"steps": 8}
    with pytest.raises(UnsureError, match="unknown method 'not-a-method'; known: .*ua-backprop"):
        available_methods(METHODS + ",not-a-method")
    with pytest.raises(UnsureError, match="no methods"):
        available_methods("")


@pytest.mark.parametrize("name", ["anomaly", "insertion", "ablation"])
def test_cli_writes_json_markdown_png(run_dir, tmp_path, name):
    out = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["bench", name, "--run", str(run_dir), "--methods", METHODS, "--n", "5",
                   "--out", str(out), "--no-progress", "--seed", "3"]
                  + (["--steps", "8"] if name in ("insertion", "ablation") else []))
    assert rc == 0
    payload = json.loads((out / f"{name}.json").read_text())
    assert payload["config"]["seed"] == 3 and set(payload["results"]) == {"ua-backprop", "ig:steps=8"}
    assert (out / f"{name}.md").read_text().startswith(("Anomaly", "Insertion", "Ablation"))
    assert (out / f"{name}.png").stat().st_size > 1000


def test_programmatic_benches(post):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ins = insertion_benchmark(post, "digits", "ua-backprop", opts(), steps=8)
        assert 0 <= ins.results["ua-backprop"]["insertion-auc"] and "deletion-auc" in ins.markdown
        sic = sic_aic_benchmark(post, "digits", "ig:steps=4", opts("class", 4), infos=("webp", "msssim"))
        assert set(sic.results["ig:steps=4"]) >= {"sic-webp", "aic-msssim"}
        loc = localization_benchmark(post, "digits", "ua-backprop", opts())
        r = loc.results["ua-backprop"]
        assert 0 <= r["loc-auc"] <= 1 and r["images"] + r["skipped"] == 6
        abl = ablation_benchmark(post, "digits", "ua-backprop", opts(), hows=("mean",), steps=4)
        assert set(abl.results["ua-backprop"]) >= {"topk-mean", "centre-mean"}
        san = sanity_benchmark(post, "digits", "ig:steps=4", opts(n=3))
        assert san.results["ig:steps=4"]["layers"][0] == "fc2" and len(san.results["ig:steps=4"]["spearman"]) == 4
        rot = rotation_benchmark(post, "digits", "ig:steps=4", opts("class", 8), angles=(0, 90, 180))
        assert rot.results["curve"]["angles"] == [0.0, 90.0, 180.0] and "epistemic" in rot.results["curve"]
        assert 0 <= rot.results["methods"]["ig:steps=4"]["dice_upright"] <= 1


def test_decoy_localization_runs(post):
    """Smoke test only: one epoch on 8x8 decoy digits is too little to expect the network to read
    the patch (a 28x28 run with more epochs is the real experiment)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = localization_benchmark(post, "digits", "ig:steps=4", opts("class", 6), task="decoy",
                                     decoy_size=2, epochs=1)
    r = out.results["ig:steps=4"]
    assert out.config["task"] == "decoy" and 0 <= r["loc-auc"] <= 1 and r["images"] == 6
    acc = out.config["decoy_accuracy"]
    assert set(acc) == {"true patch", "shuffled patch", "no patch"} and "Decoy model" in out.markdown


def test_all_suite_benches_registered():
    assert {"anomaly", "insertion", "sic-aic", "localization", "ablation", "sanity", "rotation"} <= set(BENCHES.names())


def test_decoy_reliance_separates_a_patch_reader_from_a_patch_ignorer():
    import torch
    from torch import nn

    from unsure import DeepEnsemble
    from unsure.bench.localization import decoy_reliance

    K = 5

    class Corner(nn.Module):  # reads the class off the top-left pixel (the decoy patch)
        def forward(self, x):
            levels = torch.arange(K, dtype=x.dtype) / (K - 1)
            return -100.0 * (x[:, 0, 0, 0, None] - levels) ** 2

    class Blind(nn.Module):  # ignores the patch: a fixed guess
        def forward(self, x):
            return torch.zeros(len(x), K) + torch.arange(K, dtype=x.dtype)

    x = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.01
    y = torch.arange(200) % K
    reader = decoy_reliance(DeepEnsemble([Corner()]), x, y, 2, K, torch.Generator().manual_seed(1))
    assert reader["true patch"] == 1.0 and reader["shuffled patch"] < 0.4 and reader["no patch"] == 0.2
    blind = decoy_reliance(DeepEnsemble([Blind()]), x, y, 2, K, torch.Generator().manual_seed(1))
    assert blind["true patch"] == blind["shuffled patch"] == blind["no patch"] == 0.2


def test_bench_all_explains_the_chosen_target(run_dir, tmp_path):
    out = tmp_path / "all"
    assert main(["bench", "all", "--run", str(run_dir), "--only", "blurring,ablation", "--n", "4",
                 "--sigmas", "1,2", "--target", "total", "--methods", "grad,random", "--out", str(out),
                 "--no-progress"]) == 0
    report = (out / "report.md").read_text()
    assert "--target total" in report and "Blurring away the total uncertainty" in report
    assert "grad vs random" in report
    assert json.loads((out / "ablation" / "ablation.json").read_text())["config"]["target"] == "total"
    assert json.loads((out / "blurring" / "blurring.json").read_text())["config"]["target"] == "total"
