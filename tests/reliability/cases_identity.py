"""Identity by content and integrity (rows of docs/reliability.md): damaged or swapped weights,
schema versions, data files that moved or changed, explain-dataset jobs resumed on other inputs.

Like every case file, only public entry points are used, so each case runs against older code
(and fails there)."""
from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import torch

from _reliakit import api_error, case

S = "Identity and integrity of runs, data and jobs"


def _explain(env, run, *extra, match="", out=None):
    return env.one_line("explain", "--run", run, "--n", "1", "--methods", "grad", "--out", out or env.tmp / "rep",
                        "--no-progress", "--device", "cpu", *extra, match=match)


def _explained(env, run, *extra, out=None) -> dict:
    """``explain`` succeeds; its results.json."""
    out = out or env.tmp / "rep"
    rc, err = env.cli("explain", "--run", run, "--n", "1", "--methods", "grad", "--out", out, "--no-progress",
                      "--device", "cpu", *extra)
    assert rc == 0, err
    return json.loads((Path(out) / "results.json").read_text())


def set_weight(path: Path, value: float) -> None:
    """Overwrite the first float32 number of the first float32 tensor inside a safetensors file's
    data (its header, with names, shapes and offsets, stays valid)."""
    raw = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    name = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
    at = 8 + n + header[name]["data_offsets"][0]
    raw[at:at + 4] = struct.pack("<f", value)
    path.write_bytes(bytes(raw))


def _other_ensemble(seed: int):
    import unsure
    from unsure.models import PaperCNN

    torch.manual_seed(seed)
    return unsure.DeepEnsemble([PaperCNN(1, 10, 8) for _ in range(2)])


def _tiny_config() -> dict:
    return {"data": "digits", "arch": "paper-cnn",
            "arch_options": {"in_channels": 1, "num_classes": 10, "image_size": 8}}


def _job(env, run, out, *extra):
    return ["explain-dataset", "--run", run, "--out", out, "--limit", "4", "--shard-size", "2",
            "--methods", "grad", "--no-progress", *extra]


def _stopped_job(env, run, *extra) -> Path:
    """An explain-dataset job that finished shard 0 of 2 and was stopped before shard 1."""
    out = env.tmp / "job"
    rc, err = env.cli(*_job(env, run, out, *extra))
    assert rc == 0, err
    (out / "table.parquet").unlink()
    (out / "parts" / "shard-00001.parquet").unlink()
    return out


def _digits_npz(env, name="d.npz", seed=0) -> Path:
    """An npz of 8x8 uint8 images with 10 classes (what the tiny run takes)."""
    rng = np.random.default_rng(seed)
    path = env.tmp / name
    np.savez(path, x=rng.integers(0, 256, (40, 8, 8), dtype=np.uint8), y=np.arange(40) % 10)
    return path


@case(S, "weight-2e37", "a run whose weights.safetensors has one weight changed to 2.3e37 inside the "
      "tensor data (the header intact)", "one-line error: the tensor data do not match the checksum written "
      "with them")
def _(env):
    run = env.run_copy(lambda c: None)
    set_weight(run / "weights.safetensors", 2.3e37)
    _explain(env, run, match="checksum")


@case(S, "weights-swapped", "a run folder whose weights.safetensors was replaced by another run's "
      "(same architecture, valid file)", "one-line error: not the weights saved with this config")
def _(env):
    from unsure.run import save_run

    other = save_run(env.tmp / "other-run", _other_ensemble(1), _tiny_config())
    run = env.run_copy(lambda c: None)
    shutil.copyfile(other / "weights.safetensors", run / "weights.safetensors")
    _explain(env, run, match="not the weights")


@case(S, "schema-999", "a run config with `schema_version: 999` (a newer unsure's)",
      "one-line error: newer than this unsure reads")
def _(env):
    _explain(env, env.run_copy(lambda c: c.update(schema_version=999)), match="schema_version 999")


@case(S, "schema-str", 'a run config with `schema_version: "one"`', "one-line error")
def _(env):
    _explain(env, env.run_copy(lambda c: c.update(schema_version="one")), match="schema_version")


@case(S, "vae-schema-999", "a VAE folder whose config has `schema_version: 999`", "one-line UnsureError")
def _(env):
    from unsure.models.vae import VAE, load_vae, save_vae

    path = save_vae(env.tmp / "vae", VAE(in_channels=1, image_size=8, latent=2, hidden=(16,)))
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**cfg, "schema_version": 999}))
    api_error(lambda: load_vae(path), match="schema_version 999")


@case(S, "vae-weight-2e37", "a VAE folder whose weights.safetensors has one weight changed to 2.3e37",
      "one-line UnsureError (the checksum)")
def _(env):
    from unsure.models.vae import VAE, load_vae, save_vae

    path = save_vae(env.tmp / "vae", VAE(in_channels=1, image_size=8, latent=2, hidden=(16,)))
    set_weight(path / "weights.safetensors", 2.3e37)
    api_error(lambda: load_vae(path), match="checksum")


@case(S, "manifest-schema", "an explain-dataset folder whose manifest has `schema_version: 999` or "
      '`"one"`, resumed', "one-line error, the folder untouched")
def _(env):
    out = _stopped_job(env, env.run)
    manifest = json.loads((out / "manifest.json").read_text())
    for bad in (999, "one"):
        (out / "manifest.json").write_text(json.dumps({**manifest, "schema_version": bad}))
        env.one_line(*_job(env, env.run, out), match="schema_version")
        assert not (out / "parts" / "shard-00001.parquet").exists()


@case(S, "job-retrained", "an explain-dataset job stopped half-way, its run folder re-trained "
      "(`--force`, other weights), then resumed", "one-line error: the model's weights changed since the "
      "job started (it used to finish with exit 0, most rows from the old model); the finished shards are kept")
def _(env):
    from unsure.run import save_run

    run = env.run_copy(lambda c: None)
    out = _stopped_job(env, run)
    kept = sorted(p.name for p in out.rglob("*"))
    save_run(run, _other_ensemble(7), _tiny_config(), overwrite=True)  # what train --force does
    env.one_line(*_job(env, run, out), match="weights")
    assert sorted(p.name for p in out.rglob("*")) == kept


@case(S, "job-data-changed", "an explain-dataset job on `--data npz:FILE` stopped half-way, FILE "
      "replaced by other images, then resumed", "one-line error: the data file changed since the job started")
def _(env):
    path = _digits_npz(env)
    out = _stopped_job(env, env.run, "--data", f"npz:{path}")
    _digits_npz(env, seed=1)
    env.one_line(*_job(env, env.run, out, "--data", f"npz:{path}"), match="data file")


@case(S, "npz-relative", "`explain --run /abs/run` from another folder, for a run trained on "
      "`npz:data/x.npz` (a relative path) when that folder has its own `data/x.npz`",
      "reads the file the run was trained on: the run config stores the path absolute, with its hash")
def _(env):
    (env.tmp / "a" / "data").mkdir(parents=True)
    (env.tmp / "b" / "data").mkdir(parents=True)
    x = env.images(n=60, size=8)
    np.savez(env.tmp / "a" / "data" / "x.npz", x=x, y=env.labels(60))
    np.savez(env.tmp / "b" / "data" / "x.npz", x=env.images(n=60, size=12), y=env.labels(60))  # other images
    env.mp.chdir(env.tmp / "a")
    rc, err = env.train("npz:data/x.npz", env.tmp / "run")
    assert rc == 0, err
    env.mp.chdir(env.tmp / "b")
    results = _explained(env, env.tmp / "run", out=env.tmp / "rep")
    trained_on = f"npz:{env.tmp / 'a' / 'data' / 'x.npz'}"
    assert results["settings"]["data"] == trained_on
    assert results["identity"]["data"]["spec"] == trained_on


@case(S, "data-changed", "`explain --run RUN` (the run's own data) after the run's npz file was "
      "replaced by other images", "one-line error naming the file that changed (`--data` explains it anyway)")
def _(env):
    path = _digits_npz(env)
    rc, err = env.train(f"npz:{path}", env.tmp / "run")
    assert rc == 0, err
    _digits_npz(env, seed=1)
    _explain(env, env.tmp / "run", match="changed since")
    _explained(env, env.tmp / "run", "--data", f"npz:{path}", out=env.tmp / "rep2")


@case(S, "settings-data", "`explain --run RUN` and `explain-dataset --run RUN` without `--data`",
      "results.json and manifest.json name the data used (`settings.data`, resolved; it used to be null) "
      "and record the hashes of the weights, the data and the settings (`identity`)")
def _(env):
    results = _explained(env, env.run)
    out = env.tmp / "job"
    rc, err = env.cli(*_job(env, env.run, out))
    assert rc == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    for payload in (results, manifest):
        assert payload["settings"]["data"] == "digits"
        ident = payload["identity"]
        assert ident["weights"].startswith("sha256:") and ident["settings"].startswith("sha256:")
        assert ident["data"]["spec"] == "digits"
    assert results["identity"]["weights"] == manifest["identity"]["weights"]
    assert os.path.isabs(manifest["job"]["run"])
