"""Identity by content (unsure/identity.py, unsure/schema.py): hashes of data and settings, data
specs stored resolved, the run's data checked, schema versions, and runs saved before any of it."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import unsure
from unsure.bench.base import source_identity
from unsure.checksum import state_digest
from unsure.errors import UnsureError
from unsure.identity import (check_run_data, data_identity, path_sha256, resolve_spec, result_identity,
                             settings_sha256)
from unsure.models import PaperCNN
from unsure.outputs import SCHEMA_VERSION
from unsure.run import load_run, read_config, save_run
from unsure.schema import check_schema

CONFIG = {"arch": "paper-cnn", "arch_options": {"in_channels": 1, "num_classes": 3, "image_size": 8}}


def _npz(path, seed=0):
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.integers(0, 256, (12, 8, 8), dtype=np.uint8), y=np.arange(12) % 3)
    return path


def _ensemble(seed=0):
    torch.manual_seed(seed)
    return unsure.DeepEnsemble([PaperCNN(1, 3, 8) for _ in range(2)])


def test_resolve_spec_makes_file_and_folder_specs_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_spec("npz:data/x.npz") == f"npz:{tmp_path}/data/x.npz"
    assert resolve_spec("IDX:mnist") == f"idx:{tmp_path}/mnist"
    assert resolve_spec("cifar10:/abs/c") == "cifar10:/abs/c"
    assert resolve_spec("digits") == "digits" and resolve_spec("fashion-mnist") == "fashion-mnist"
    assert resolve_spec(resolve_spec("npz:x.npz")) == resolve_spec("npz:x.npz")


def test_path_sha256_of_a_file_is_its_sha256(tmp_path):
    p = _npz(tmp_path / "x.npz")
    assert path_sha256(p) == "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()


def test_path_sha256_of_a_folder_follows_contents_and_names_not_hidden_files(tmp_path):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "a").write_bytes(b"one")
    (d / "sub" / "b").write_bytes(b"two")
    first = path_sha256(d)
    (d / ".DS_Store").write_bytes(b"finder")
    assert path_sha256(d) == first
    (d / "sub" / "b").write_bytes(b"twO")
    assert path_sha256(d) != first
    (d / "sub" / "b").write_bytes(b"two")
    (d / "sub" / "b").rename(d / "sub" / "c")
    assert path_sha256(d) != first


def test_data_identity(tmp_path):
    p = _npz(tmp_path / "x.npz")
    assert data_identity(f"npz:{p}") == {"spec": f"npz:{p}", "sha256": path_sha256(p)}
    assert data_identity("digits") == {"spec": "digits", "sha256": None}  # bundled with scikit-learn


def test_settings_hash_ignores_key_order_but_not_values():
    assert settings_sha256({"a": 1, "b": [2]}) == settings_sha256({"b": [2], "a": 1})
    assert settings_sha256({"a": 1}) != settings_sha256({"a": 2})


def test_a_saved_run_records_its_identity_and_loads_with_the_weights_digest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _npz(tmp_path / "x.npz")
    post = _ensemble()
    run = save_run(tmp_path / "run", post, {**CONFIG, "data": "npz:x.npz", "settings": {"seed": 0}})
    cfg = read_config(run)
    assert cfg["data"] == f"npz:{tmp_path}/x.npz"
    assert cfg["identity"] == {"weights": state_digest(post.state_dict()),
                               "data": {"spec": cfg["data"], "sha256": path_sha256(tmp_path / "x.npz")},
                               "settings": settings_sha256({"seed": 0})}
    assert load_run(run).weights_sha256 == cfg["identity"]["weights"]


def test_a_run_saved_before_identities_loads_unchecked(tmp_path, monkeypatch):
    """What older versions wrote: no checksum in the weights, no identity, a relative data path.
    It loads; its data is read as before (relative to the current folder), nothing is compared."""
    monkeypatch.chdir(tmp_path)
    _npz(tmp_path / "x.npz")
    post = _ensemble()
    run = tmp_path / "old-run"
    run.mkdir()
    state = {k: v.contiguous() for k, v in post.state_dict().items()}
    save_file(state, str(run / "weights.safetensors"))  # no metadata
    cfg = {**CONFIG, "data": "npz:x.npz", "posterior": post.config()}
    (run / "config.json").write_text(json.dumps(cfg))
    loaded = load_run(run)
    assert loaded.weights_sha256 == state_digest(state)  # computed, for job identities
    assert check_run_data(read_config(run), run) == "npz:x.npz"
    _npz(tmp_path / "x.npz", seed=1)  # changed: nothing recorded to compare with
    assert check_run_data(read_config(run), run) == "npz:x.npz"


def test_check_run_data_refuses_a_changed_or_missing_file(tmp_path):
    p = _npz(tmp_path / "x.npz")
    cfg = {"data": f"npz:{p}", "identity": {"data": data_identity(f"npz:{p}")}}
    assert check_run_data(cfg, "RUN") == f"npz:{p}"
    _npz(p, seed=1)
    with pytest.raises(UnsureError, match="changed since run RUN"):
        check_run_data(cfg, "RUN")
    p.unlink()
    with pytest.raises(UnsureError, match="is gone"):
        check_run_data(cfg, "RUN")


def test_result_identity_of_image_files(tmp_path):
    f = tmp_path / "a.png"
    f.write_bytes(b"png")
    ident = result_identity(None, None, {}, [str(f)])
    assert ident["data"] == {"spec": None, "files": {str(f): path_sha256(f)}} and ident["weights"] is None


def test_bench_identity_from_its_options(tmp_path):
    p = _npz(tmp_path / "x.npz")
    run = save_run(tmp_path / "run", _ensemble(), {**CONFIG, "data": f"npz:{p}"})
    ident = source_identity({"run": str(run), "data": None})
    assert ident["weights"] == read_config(run)["identity"]["weights"]
    assert ident["data"] == data_identity(f"npz:{p}")
    assert source_identity({"run": str(tmp_path / "gone")}) is None
    assert source_identity({})["weights"] is None


@pytest.mark.parametrize("version", [999, SCHEMA_VERSION + 1, "one", "1", 1.0, True, None, 0, -1])
def test_schema_version_newer_or_not_a_whole_number_is_refused(version):
    with pytest.raises(UnsureError, match="schema_version") as e:
        check_schema({"schema_version": version}, "f.json")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("payload", [{"schema_version": SCHEMA_VERSION}, {"schema_version": 1}, {}, []])
def test_schema_version_of_this_or_an_older_unsure_loads(payload):
    check_schema(payload, "f.json")  # no error; a file without the key predates versions
