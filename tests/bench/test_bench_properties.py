"""``unsure score`` and ``unsure bench properties`` on a tiny digits run (8x8, 2 members, 1 epoch)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from unsure.bench.properties import agreement, off_diagonal_mean
from unsure.cli.main import main
from unsure.data import load
from unsure.training.run import train_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("props") / "run"
    train_run(data="digits", members=2, epochs=1, out=str(out), progress=False)
    return out


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".safetensors"])
def test_cli_score_reads_every_format(run_dir, tmp_path, suffix):
    maps = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    path = tmp_path / f"maps{suffix}"
    if suffix == ".npy":
        np.save(path, maps)
    elif suffix == ".npz":
        np.savez(path, maps=maps)
    else:
        from safetensors.numpy import save_file
        save_file({"maps": maps}, str(path))
    out = tmp_path / "out"
    rc = main(["score", "--run", str(run_dir), "--maps", str(path), "--indices", "0,5,7", "--metrics",
               "complexity,flipping", "--out", str(out), "--no-progress"])
    assert rc == 0
    res = json.loads((out / "score.json").read_text())["results"]
    assert set(res["per_image"]) == {"complexity", "effective-complexity", "flipping-auc"}
    assert len(res["per_image"]["flipping-auc"]) == 3
    p = maps.reshape(3, -1) / maps.reshape(3, -1).sum(1, keepdims=True)
    assert res["per_image"]["complexity"] == pytest.approx((-(p * np.log(p)).sum(1)).tolist(), rel=1e-5)


def test_cli_score_errors_in_one_line(run_dir, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.ones((2, 8, 7), dtype=np.float32))
    assert main(["score", "--run", str(run_dir), "--maps", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("unsure: error:") and "shape" in err and "\n" not in err


def test_bench_properties_writes_json_markdown_and_heat_map(run_dir, tmp_path):
    out = tmp_path / "b"
    rc = main(["bench", "properties", "--run", str(run_dir), "--methods", "inputgrad,random", "--n", "4",
               "--method-n", "2", "--repeats", "1", "--positions", "2", "--out", str(out), "--no-progress"])
    assert rc == 0
    js = json.loads((out / "properties.json").read_text())
    assert set(js["results"]) == {"inputgrad", "random"}
    names = js["metrics"]
    assert {"complexity", "flipping-auc", "murr", "repeatability-spearman", "rank-improvement"} <= set(names)
    assert len(js["agreement"]["across_methods"]) == len(names)
    assert (out / "properties.png").stat().st_size > 0
    # re-run metrics on the first 2 images only; the rest NaN
    rep = js["results"]["inputgrad"]["per_image"]["repeatability-spearman"]
    assert not math.isnan(rep[1]) and all(v is None or math.isnan(v) for v in rep[2:])


def test_agreement_of_a_metric_with_itself_and_its_opposite():
    per = {m: {"complexity": [float(i + j) for j in range(4)], "murr": [float(i - j) for j in range(4)]}
           for i, m in enumerate(["a", "b", "c"])}
    ag = agreement(per, ["complexity", "murr"])
    # complexity: lower is better, murr: higher; across methods both rise with i -> oriented -1
    assert ag["across_methods"][0][1] == pytest.approx(-1.0)
    # across images complexity rises and murr falls with j: oriented they agree, +1
    assert ag["across_images"][0][1] == pytest.approx(1.0)
    assert ag["across_images"][0][0] == pytest.approx(1.0)
    assert off_diagonal_mean(ag["across_images"]) == pytest.approx(1.0)


def _boxes(B, H=8, seed=0):
    """[B,H,W] bool masks: one rectangle per image at a random place (a hand-made cause)."""
    rng = np.random.default_rng(seed)
    m = np.zeros((B, H, H), dtype=bool)
    for i in range(B):
        h, w = rng.integers(2, 5, size=2)
        r, c = rng.integers(0, H - h + 1), rng.integers(0, H - w + 1)
        m[i, r:r + h, c:c + w] = True
    return m


def _hand_rank_and_auroc(maps, masks):
    """Independent references: share of the |G| top pixels in G (numpy argsort), and ROC-AUC by the
    Mann-Whitney U of scipy's ranks."""
    from scipy.stats import rankdata

    rank, auc = [], []
    for a, g in zip(maps.reshape(len(maps), -1), masks.reshape(len(masks), -1)):
        k = int(g.sum())
        rank.append(g[np.argsort(-a, kind="stable")[:k]].mean())
        r = rankdata(a)
        auc.append((r[g].sum() - k * (k + 1) / 2) / (k * (len(g) - k)))
    return np.array(rank), np.array(auc)


def test_cli_score_masks_give_the_ground_truth_scores(run_dir, tmp_path):
    B = 12
    masks = _boxes(B)
    np.save(tmp_path / "masks.npy", masks)
    rnd = np.random.default_rng(1).random((B, 8, 8)).astype(np.float32)
    for name, maps in {"equal": masks.astype(np.float32), "random": rnd}.items():
        np.save(tmp_path / f"{name}.npy", maps)
        out = tmp_path / f"out-{name}"
        assert main(["score", "--run", str(run_dir), "--maps", str(tmp_path / f"{name}.npy"), "--masks",
                     str(tmp_path / "masks.npy"), "--metrics", "complexity,groundtruth", "--out", str(out),
                     "--no-progress"]) == 0
        per = json.loads((out / "score.json").read_text())["results"]["per_image"]
        assert {"gt-rank", "gt-mass", "gt-auroc", "gt-pointing", "complexity"} <= set(per)
        if name == "equal":  # a map equal to the mask localises it perfectly
            for k in ("gt-rank", "gt-mass", "gt-auroc", "gt-pointing"):
                assert per[k] == [1.0] * B, k
        else:
            rank, auc = _hand_rank_and_auroc(rnd, masks)
            assert per["gt-rank"] == pytest.approx(rank.tolist())
            assert per["gt-auroc"] == pytest.approx(auc.tolist())
            mass = (rnd * masks).reshape(B, -1).sum(1) / rnd.reshape(B, -1).sum(1)
            assert per["gt-mass"] == pytest.approx(mass.tolist(), rel=1e-5)
            top = rnd.reshape(B, -1).argmax(1)
            assert per["gt-pointing"] == masks.reshape(B, -1)[np.arange(B), top].astype(float).tolist()


@pytest.mark.parametrize("bad,words", [("uint8", "bool"), ("shape", "shape")])
def test_cli_score_masks_errors_in_one_line(run_dir, tmp_path, capsys, bad, words):
    masks = _boxes(3)
    np.save(tmp_path / "maps.npy", masks.astype(np.float32))
    np.save(tmp_path / "m.npy", masks.astype(np.uint8) if bad == "uint8" else masks[:, :, :7])
    assert main(["score", "--run", str(run_dir), "--maps", str(tmp_path / "maps.npy"), "--masks",
                 str(tmp_path / "m.npy"), "--metrics", "groundtruth", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("unsure: error:") and words in err and "\n" not in err


def test_bench_properties_scores_known_causes_beside_the_other_properties(run_dir):
    """properties_benchmark(causes=...): gt-* join the properties and the agreement; values equal a
    hand count on the method's maps, re-made with the bench's draw and generator."""
    from unsure.attribution import make_method
    from unsure.bench._suite import SuiteOptions
    from unsure.bench.properties import properties_benchmark
    from unsure.groundtruth.tasks import Task
    from unsure.run import load_run
    from unsure.score import ScoreOptions

    post = load_run(run_dir)
    B = 10
    x = 0.1 + 0.8 * load("digits", "test").x[:B]  # no zero pixels: gradient x input has no ties to break
    masks = torch.from_numpy(_boxes(B, seed=2))
    task = Task("epistemic", x, masks, ["epistemic"] * B, torch.arange(B))
    opts = SuiteOptions(n=B, target="epistemic", seed=3, progress=False)
    r = properties_benchmark(post, "digits", "inputgrad,random", opts, method_n=0,
                             options=ScoreOptions(steps=8, sigmas=(0.5, 2.0)), causes=task)
    names = r.extra["metrics"]
    assert {"gt-rank", "gt-mass", "gt-auroc", "gt-pointing", "complexity", "murr"} <= set(names)
    assert len(r.extra["agreement"]["across_images"]) == len(names)
    assert r.config["images"] == list(range(B)) and r.config["groundtruth"]["causes"] == ["epistemic"] * B
    maps = make_method("inputgrad").attribute(post, x, "epistemic", draw=post.draw(opts.generator()),
                                              generator=opts.generator(1)).maps.detach().numpy()
    rank, auc = _hand_rank_and_auroc(maps, masks.numpy())
    per = r.results["inputgrad"]["per_image"]
    assert per["gt-rank"] == pytest.approx(rank.tolist()) and per["gt-auroc"] == pytest.approx(auc.tolist())
    assert set(r.plots) == {"properties.png", "groundtruth-images.npy", "groundtruth-masks.npy"}


def test_bench_properties_groundtruth_errors_in_one_line(run_dir, tmp_path, capsys):
    args = ["bench", "properties", "--run", str(run_dir), "--groundtruth", "--n", "4", "--methods", "random",
            "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2  # a run not trained on generated data
    assert "--data" in capsys.readouterr().err
    assert main([*args, "--data", "digits", "--target", "class", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--groundtruth scores maps of total, aleatoric, epistemic" in err and "\n" not in err
