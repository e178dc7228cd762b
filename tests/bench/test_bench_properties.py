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
