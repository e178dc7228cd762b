"""``unsure explain-dataset --engine local``: the table and the maps against direct computation,
resuming, refusing another job's folder, one-line errors."""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.numpy import load_file

import unsure
from unsure.cli.main import main
from unsure.data import load
from unsure.dataset import COLUMNS, Job, read_map
from unsure.dataset.job import map_file, part_path
from unsure.dataset.work import ShardWorker
from unsure.measures import aleatoric, epistemic, total
from unsure.run import load_run

N, SHARD = 20, 8


def _explain(run, out, *extra):
    return main(["explain-dataset", "--run", str(run), "--limit", str(N), "--shard-size", str(SHARD),
                 "--batch-size", "5", "--methods", "ua-backprop,grad", "--targets", "total,epistemic",
                 "--out", str(out), "--no-progress", *extra])


def test_table_and_maps_match_direct_computation(run, tmp_path):
    out = tmp_path / "ex"
    assert _explain(run, out) == 0
    table = pq.read_table(out / "table.parquet")
    assert table.column_names == list(COLUMNS)
    t = {c: table.column(c).to_numpy() for c in COLUMNS if c != "map_file"}
    d = load("digits", "test", limit=N)
    assert t["index"].tolist() == list(range(N))
    assert t["label"].tolist() == d.y.tolist()
    post = load_run(run)
    with torch.no_grad():
        z = post.draw(torch.Generator().manual_seed(0))(d.x)  # [S,N,K], all images at once
    assert t["prediction"].tolist() == z.softmax(-1).mean(0).argmax(-1).tolist()
    for name, fn in (("total", total), ("aleatoric", aleatoric), ("epistemic", epistemic)):
        np.testing.assert_allclose(t[name], fn(z).double().numpy(), rtol=1e-5, atol=1e-7)
    assert t["shard"].tolist() == [i // SHARD for i in range(N)]
    assert t["map_row"].tolist() == [i % SHARD for i in range(N)]
    files = table.column("map_file").to_pylist()
    assert sorted(set(files)) == [map_file(s) for s in range(3)]
    for s in range(3):
        maps = load_file(str(out / map_file(s)))
        assert set(maps) == {"ua-backprop|total", "ua-backprop|epistemic", "grad|total", "grad|epistemic"}
        a, b = s * SHARD, min(N, (s + 1) * SHARD)
        # UA-Backprop is complete: each map sums to the row's uncertainty
        np.testing.assert_allclose(maps["ua-backprop|epistemic"].sum((1, 2)), t["epistemic"][a:b], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(maps["ua-backprop|total"].sum((1, 2)), t["total"][a:b], rtol=1e-4, atol=1e-6)
        want = unsure.attribute(post, d.x[a:b], method="grad", target="total").maps.numpy()
        np.testing.assert_allclose(maps["grad|total"], want, rtol=1e-5, atol=1e-7)
    row = {"map_file": files[13], "map_row": int(t["map_row"][13])}
    assert np.array_equal(read_map(out, row, "grad|epistemic"), load_file(str(out / files[13]))["grad|epistemic"][5])


def test_rerun_skips_finished_shards_and_redoes_missing_ones(run, tmp_path):
    out = tmp_path / "ex"
    assert _explain(run, out) == 0
    table = (out / "table.parquet").read_bytes()
    maps = {s: (out / map_file(s)).read_bytes() for s in range(3)}
    stamps = {s: os.stat(out / map_file(s)).st_mtime_ns for s in range(3)}
    part_path(out, 1).unlink()  # shard 1 unfinished: its map file alone does not count
    (out / "maps" / ".shard-00002.safetensors.tmp").write_bytes(b"half")  # a killed write
    assert _explain(run, out) == 0
    assert os.stat(out / map_file(0)).st_mtime_ns == stamps[0]
    assert os.stat(out / map_file(2)).st_mtime_ns == stamps[2]
    assert os.stat(out / map_file(1)).st_mtime_ns != stamps[1]  # redone
    assert (out / map_file(1)).read_bytes() == maps[1]  # the same bytes again
    assert (out / "table.parquet").read_bytes() == table


def test_shards_do_not_depend_on_order_or_process(run, tmp_path):
    """What makes engines agree: a shard's bytes depend on the job and the shard only."""
    d = load("digits", "test", limit=N)
    job = Job(run=str(run), data="digits", limit=N, methods="smoothgrad:samples=3", targets=("epistemic",),
              shard_size=SHARD, keys=("smoothgrad:samples=3|epistemic",))
    a, b = tmp_path / "a", tmp_path / "b"
    w = ShardWorker(job, a)
    for s in (0, 1):
        w.run_shard(s, d.x[s * SHARD:(s + 1) * SHARD], d.y[s * SHARD:(s + 1) * SHARD], np.arange(s * SHARD, (s + 1) * SHARD))
    w2 = ShardWorker(job, b)
    torch.manual_seed(123)  # the global RNG must not matter either
    for s in (1, 0):
        w2.run_shard(s, d.x[s * SHARD:(s + 1) * SHARD], d.y[s * SHARD:(s + 1) * SHARD], np.arange(s * SHARD, (s + 1) * SHARD))
    for s in (0, 1):
        assert (a / map_file(s)).read_bytes() == (b / map_file(s)).read_bytes()
    m0, m1 = load_file(str(a / map_file(0))), load_file(str(a / map_file(1)))
    assert not np.array_equal(m0["smoothgrad:samples=3|epistemic"], m1["smoothgrad:samples=3|epistemic"])


def test_another_job_in_the_same_folder_is_refused(run, tmp_path, capsys):
    out = tmp_path / "ex"
    assert _explain(run, out) == 0
    assert _explain(run, out, "--seed", "1") == 2
    assert "holds another job (differs in seed)" in capsys.readouterr().err


@pytest.mark.parametrize("extra,msg", [(["--methods", "nope"], "unknown method"),
                                       (["--n", "0"], "--n must be >= 1"),
                                       (["--target", "bogus"], "bogus"),
                                       (["--device", "cuda:0"], "CUDA is not available")])
def test_bad_input_is_one_line_exit_2(run, tmp_path, capsys, extra, msg):
    if extra[0] == "--device" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    rc = main(["explain-dataset", "--run", str(run), "--out", str(tmp_path / "x"), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and err.count("\n") == 1, err


def test_own_model_spec_gives_the_same_table_as_its_run_folder(run, tmp_path, monkeypatch):
    """``--model FILE.py:factory --weights FILE`` (issue 14): the workers import the factory and
    load the weights; the result equals the same networks loaded from the run folder."""
    from safetensors.torch import save_file

    post = load_run(run)
    (tmp_path / "mine.py").write_text(
        "import unsure\n\n"
        f"def build():\n    post = unsure.load_run({str(run)!r})\n"
        "    for p in post.parameters():\n        p.data.normal_()  # only --weights makes it the run again\n"
        "    return post\n")
    save_file(post.state_dict(), str(tmp_path / "w.safetensors"))
    monkeypatch.chdir(tmp_path)  # relative specs: the job stores absolute paths
    common = ["--data", "digits", "--limit", "6", "--shard-size", "4", "--methods", "ua-backprop",
              "--no-progress"]
    assert main(["explain-dataset", "--model", "mine.py:build", "--weights", "w.safetensors",
                 "--out", "m", *common]) == 0
    assert main(["explain-dataset", "--run", str(run), "--out", "r", *common]) == 0
    a, b = pq.read_table(tmp_path / "m" / "table.parquet"), pq.read_table(tmp_path / "r" / "table.parquet")
    assert a.equals(b)
    for s in range(2):
        ma, mb = load_file(str(tmp_path / "m" / map_file(s))), load_file(str(tmp_path / "r" / map_file(s)))
        assert np.array_equal(ma["ua-backprop|epistemic"], mb["ua-backprop|epistemic"])
    job = Job.from_dict(json.loads((tmp_path / "m" / "manifest.json").read_text())["job"])
    assert job.run is None and job.model == f"{tmp_path / 'mine.py'}:build"
    assert job.weights == str(tmp_path / "w.safetensors")


def test_model_without_data_and_run_with_weights_are_refused(run, tmp_path, capsys):
    (tmp_path / "mine.py").write_text("def build():\n    raise RuntimeError\n")
    assert main(["explain-dataset", "--model", str(tmp_path / "mine.py") + ":build", "--out",
                 str(tmp_path / "x"), "--no-progress"]) == 2
    assert "--model needs --data" in capsys.readouterr().err
    assert main(["explain-dataset", "--run", str(run), "--weights", "w.safetensors", "--out",
                 str(tmp_path / "y"), "--no-progress"]) == 2
    assert "--weights goes with --model" in capsys.readouterr().err
