"""An explain-dataset job is identified by the content of its inputs (unsure/dataset/job.py):
the manifest records them, a changed input is refused before and while the job runs, and folders
written before identities existed still resume."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import unsure
from unsure.checksum import state_digest
from unsure.dataset import Job, run_local
from unsure.dataset.job import MANIFEST, job_inputs, part_path, prepare
from unsure.dataset.work import ShardWorker
from unsure.errors import UnsureError
from unsure.identity import data_identity, settings_sha256
from unsure.models import PaperCNN
from unsure.run import save_run


def _run(path, seed=0):
    torch.manual_seed(seed)
    post = unsure.DeepEnsemble([PaperCNN(1, 10, 8) for _ in range(2)])
    save_run(path, post, {"data": "digits", "arch": "paper-cnn",
                          "arch_options": {"in_channels": 1, "num_classes": 10, "image_size": 8}},
             overwrite=path.exists())
    return path, post


def _job(run, data="digits"):
    return Job(run=str(run), data=data, limit=4, methods="grad", shard_size=2, keys=("grad|epistemic",))


def test_job_inputs_are_the_weights_data_and_settings(tmp_path):
    run, post = _run(tmp_path / "run")
    job = _job(run)
    assert job_inputs(job) == {"weights": state_digest(post.state_dict()), "data": data_identity("digits"),
                               "settings": settings_sha256(job.to_dict())}


def test_job_data_spec_is_stored_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _job(tmp_path, data="npz:d.npz").data == f"npz:{tmp_path}/d.npz"


def test_a_run_replaced_while_the_job_runs_is_refused_by_the_worker(tmp_path):
    run, _ = _run(tmp_path / "run")
    out = tmp_path / "out"
    inputs = prepare(out, _job(run))
    _run(run, seed=1)  # re-trained between the job's check and its worker's load
    with pytest.raises(UnsureError, match="changed after this job checked"):
        ShardWorker(_job(run), out, inputs=inputs)
    # no shard was computed, so nothing can mix: the job starts afresh on the new weights
    # (a job with finished shards is refused instead: the reliability row job-retrained)
    table = run_local(_job(run), out, progress=False)
    assert table.is_file()
    assert json.loads((out / MANIFEST).read_text())["identity"]["weights"] == job_inputs(_job(run))["weights"]


def test_a_manifest_written_before_identities_resumes_with_a_warning(tmp_path, monkeypatch, capsys):
    """Older versions wrote no ``identity`` and stored the data spec as typed (relative)."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (30, 8, 8), dtype=np.uint8), y=np.arange(30) % 10)
    run, _ = _run(tmp_path / "run")
    out = tmp_path / "out"
    run_local(_job(run, "npz:d.npz"), out, progress=False)
    manifest = json.loads((out / MANIFEST).read_text())
    del manifest["identity"]
    manifest["job"]["data"] = "npz:d.npz"
    (out / MANIFEST).write_text(json.dumps(manifest))
    part_path(out, 1).unlink()
    capsys.readouterr()
    table = run_local(_job(run, "npz:d.npz"), out, progress=False)
    assert table.is_file() and part_path(out, 1).is_file()
    assert "without checking" in capsys.readouterr().err
    assert "identity" not in json.loads((out / MANIFEST).read_text())  # not claimed afterwards


def test_a_part_computed_from_other_inputs_is_never_joined(tmp_path):
    """Parts carry the hash of their inputs; a part of another model's job copied into the folder
    is refused when the table is joined."""
    import shutil

    run_a, _ = _run(tmp_path / "a")
    run_b, _ = _run(tmp_path / "b", seed=1)
    out_a, out_b = tmp_path / "out-a", tmp_path / "out-b"
    run_local(_job(run_a), out_a, progress=False)
    run_local(_job(run_b), out_b, progress=False)
    (out_a / "table.parquet").unlink()
    shutil.copyfile(part_path(out_b, 1), part_path(out_a, 1))
    with pytest.raises(UnsureError, match="computed from other inputs"):
        run_local(_job(run_a), out_a, progress=False)
    assert not (out_a / "table.parquet").exists()
