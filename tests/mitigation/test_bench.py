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
    from unsure.attribution.spec import parse_method
    from unsure.mitigation.experiment import method_key

    key = method_key(parse_method("ua-backprop"), 1)
    assert "auto" not in key and "reference=blur" in key
    assert method_key(parse_method("grad"), 1) == method_key(parse_method("grad"))


def _rec(method, seed, acc, nll, lam=2.0, size=500):
    none = method == "none"
    return {"train_size": size, "seed": seed, "target": "-" if none else "epistemic",
            "space": "-" if none else "latent", "method": method, "attention": "-" if none else "inverse",
            "lam": 0.0 if none else lam, "accuracy": acc, "nll": nll}


def test_summary_pairs_each_method_with_the_random_control_of_the_same_seed():
    from unsure.bench.mitigation import markdown
    from unsure.mitigation.summary import summarise

    recs = [_rec("none", 0, 0.70, 0.80), _rec("none", 1, 0.60, 0.90),
            _rec("random", 0, 0.72, 0.75), _rec("random", 1, 0.63, 0.86),
            _rec("grad", 0, 0.75, 0.70), _rec("grad", 1, 0.64, 0.85),
            _rec("grad", 0, 0.71, 0.79, lam=1.0), _rec("grad", 1, 0.61, 0.89, lam=1.0)]
    rows = {(r["method"], r["lam"]): r for r in summarise(recs)}
    g = rows[("grad", 2.0)]
    # paired per seed: (0.75 - 0.72, 0.64 - 0.63) = (0.03, 0.01)
    v = g["vs"]["random"]
    assert v["acc_mean"] == pytest.approx(0.02) and v["acc_std"] == pytest.approx(0.01414, abs=1e-4)
    assert v["nll_mean"] == pytest.approx(-0.03) and "constant" not in g["vs"]
    assert g["dacc_mean"] == pytest.approx(0.045)
    # no random map at lambda 1, and the control is not compared with itself
    assert not rows[("grad", 1.0)]["vs"] and not rows[("random", 2.0)]["vs"]
    md = markdown(list(rows.values()))
    assert "ΔACC pts vs random" in md and "+2.00 ± 1.41" in md
    assert "vs random" not in markdown(summarise([r for r in recs if r["method"] != "random"]))


def test_stalled_baseline_is_flagged():
    from unsure.mitigation.summary import stalled_baselines, summarise

    rows = summarise([_rec("none", 0, 0.14, 2.2), _rec("none", 0, 0.95, 0.2, size=1000)])
    assert stalled_baselines(rows, 10) == [500]
    assert stalled_baselines(rows, 2) == [500, 1000]


def test_merge_pools_runs_and_refuses_incomparable_ones():
    from unsure.mitigation.summary import SHARED_CONFIG, merge_results, summarise
    from unsure.errors import UnsureError

    cfg = {k: 1 for k in SHARED_CONFIG} | {"method_keys": {"grad": "grad"}}
    a = {"config": cfg, "results": {"records": [_rec("none", 0, 0.7, 0.8), _rec("grad", 0, 0.75, 0.7)]}}
    b = {"config": cfg | {"method_keys": {"random": "random:seed=None"}},
         "results": {"records": [_rec("none", 0, 0.7, 0.8), _rec("random", 0, 0.72, 0.75)]}}
    records, config = merge_results([a, b])
    assert len(records) == 3 and set(config["method_keys"]) == {"grad", "random"}
    grad = next(r for r in summarise(records) if r["method"] == "grad")
    assert grad["vs"]["random"]["acc_mean"] == pytest.approx(0.03)
    with pytest.raises(UnsureError, match="lr"):
        merge_results([a, b | {"config": cfg | {"lr": 2}}])
    with pytest.raises(UnsureError, match="measured twice"):
        merge_results([a, {"config": cfg, "results": {"records": [_rec("none", 0, 0.6, 0.8)]}}])
    with pytest.raises(UnsureError, match="different options"):
        merge_results([a, b | {"config": cfg | {"method_keys": {"grad": "grad:x=1"}}}])


def test_merge_summarises_in_place_and_names_missing_files(tmp_path, capsys):
    from unsure.mitigation.summary import SHARED_CONFIG

    cfg = {k: 1 for k in SHARED_CONFIG} | {"data": "digits", "method_keys": {}, "methods": ["random", "grad"]}
    recs = [_rec("none", 0, 0.7, 0.8), _rec("random", 0, 0.72, 0.75), _rec("grad", 0, 0.75, 0.7)]
    (tmp_path / "mitigation.json").write_text(json.dumps({"config": cfg, "results": {"records": recs}}))
    assert main(["bench", "mitigation", "--merge", str(tmp_path), "--out", str(tmp_path), "--no-progress"]) == 0
    merged = json.loads((tmp_path / "mitigation.json").read_text())
    assert merged["results"]["records"] == recs and merged["config"]["methods"] == ["random", "grad"]
    assert merged["schema_version"] == 1 and "--merge" in merged["command"]
    assert "+3.00 ± 0.00" in (tmp_path / "mitigation.md").read_text()  # grad vs random
    capsys.readouterr()
    assert main(["bench", "mitigation", "--merge", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "no mitigation results" in capsys.readouterr().err
    other = tmp_path / "other"  # a merge into another folder holding a result needs --force
    argv = ["bench", "mitigation", "--merge", str(tmp_path), "--out", str(other), "--no-progress"]
    assert main(argv) == 0 and main(argv) == 2 and main(argv + ["--force"]) == 0
    assert "pass --force" in capsys.readouterr().err
    assert main(["bench", "mitigation", "--lambda", "0"]) == 2  # training needs a run
    assert "needs --run" in capsys.readouterr().err


def test_constant_control_scales_every_feature_alike(run_dir, tmp_path):
    from unsure.mitigation.experiment import parse_mitigation_methods
    from unsure.mitigation.summary import summarise
    from unsure.errors import UnsureError

    specs = parse_mitigation_methods("grad,constant,random")
    assert [s.name for s in specs] == ["grad", "constant", "random"]
    with pytest.raises(UnsureError, match="takes no options"):
        parse_mitigation_methods("constant:x=1")
    with pytest.raises(UnsureError):
        parse_mitigation_methods("not-a-method")
    out = tmp_path / "c"
    assert bench(run_dir, out, tmp_path / "cache", **{"--methods": "constant,random", "--attention": "inverse",
                                                      "--space": "latent", "--lambda": "0,1"}) == 0
    recs = json.loads((out / "mitigation.json").read_text())["results"]["records"]
    assert {r["method"] for r in recs} == {"none", "constant", "random"}
    assert len(list((tmp_path / "cache").iterdir())) == 2  # random only (train + eval); constant is not cached
    random_row = next(r for r in summarise(recs) if r["method"] == "random")
    assert set(random_row["vs"]) == {"constant"}
    assert "ΔACC pts vs constant" in (out / "mitigation.md").read_text()


def test_constant_map_gives_uniform_inverse_attention():
    from unsure.mitigation import attention_weights

    x = torch.rand(2, 1, 5, 5)
    A = attention_weights(torch.zeros(2, 5, 5), x, "inverse")
    assert torch.equal(A, torch.ones(2, 5, 5))
    assert torch.equal(attention_weights(torch.zeros(2, 5, 5), x, "map"), torch.zeros(2, 5, 5))


def test_controls_are_trained_once_and_pair_with_every_target(run_dir, tmp_path):
    out = tmp_path / "t"
    assert bench(run_dir, out, tmp_path / "cache", **{"--methods": "grad,constant", "--attention": "inverse",
                                                      "--space": "latent", "--lambda": "0,1",
                                                      "--target": "epistemic,total"}) == 0
    payload = json.loads((out / "mitigation.json").read_text())["results"]
    recs = payload["records"]
    # none + grad x 2 targets + constant once
    assert sorted((r["method"], r["target"]) for r in recs) == [
        ("constant", "epistemic"), ("grad", "epistemic"), ("grad", "total"), ("none", "-")]
    grads = [r for r in payload["summary"] if r["method"] == "grad"]
    assert len(grads) == 2 and all("constant" in r["vs"] for r in grads)


def test_size_plot_draws_settings_run_at_two_sizes_and_joins_a_control_across_targets(tmp_path):
    from unsure.mitigation.plots import plot_sizes
    from unsure.mitigation.summary import summarise

    recs = [_rec(m, 0, a, 0.5, size=n) for n in (500, 1000)
            for m, a in (("none", 0.7), ("ua-backprop", 0.72), ("constant", 0.71))]
    # the 1000-image control was trained with another first target: still the same control line
    next(r for r in recs if r["method"] == "constant" and r["train_size"] == 1000)["target"] = "total"
    recs.append(_rec("grad", 0, 0.73, 0.5, size=500))  # one size only: no line
    labels = plot_sizes(summarise(recs), tmp_path / "s.png")
    assert labels == ["constant / inverse (latent, λ 2)", "ua-backprop / inverse (epistemic, latent, λ 2)"]
    assert (tmp_path / "s.png").stat().st_size > 0
    assert plot_sizes(summarise([r for r in recs if r["train_size"] == 500]), tmp_path / "t.png") == []
    assert not (tmp_path / "t.png").exists()


def test_calibrated_nll_is_reported_and_merged(run_dir, tmp_path):
    cache = tmp_path / "cache"
    over = {"--attention": "inverse", "--space": "latent", "--lambda": "0,0.5", "--methods": "ua-backprop,constant"}
    assert bench(run_dir, tmp_path / "a", cache, **over, **{"--calibration-size": "30"}) == 0
    payload = json.loads((tmp_path / "a" / "mitigation.json").read_text())
    recs = payload["results"]["records"]
    assert len(recs) == 3 and all(r["temperature"] > 0 and r["nll_ts"] > 0 for r in recs)
    assert payload["config"]["calibration_size"] == 30
    md = (tmp_path / "a" / "mitigation.md").read_text()
    assert "NLL T-scaled" in md and "ΔNLL T-scaled vs constant" in md and "first 30 validation" in md
    # the temperature is fitted on validation images, so evaluating on them would leak
    assert bench(run_dir, tmp_path / "b", cache, **over, **{"--calibration-size": "30", "--eval-split": "val"}) == 2

    from unsure.mitigation.summary import SHARED_CONFIG, merge_results, summarise
    from unsure.errors import UnsureError

    plain = [{k: v for k, v in r.items() if k not in ("temperature", "nll_ts", "ece_ts")} for r in recs]
    cfg = payload["config"]
    merged, config = merge_results([{"config": cfg | {"calibration_size": 0}, "results": {"records": plain}},
                                    payload])
    assert all("nll_ts" in r for r in merged) and config["calibration_size"] == 30  # duplicates gain it
    assert all("nll_ts_mean" in row for row in summarise(merged))
    with pytest.raises(UnsureError, match="different numbers of validation images"):
        merge_results([payload, payload | {"config": cfg | {"calibration_size": 40}}])
    assert all(k in cfg for k in SHARED_CONFIG)
