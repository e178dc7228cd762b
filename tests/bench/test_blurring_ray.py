"""``unsure bench blurring --engine ray`` (and ``bench all --engine ray``) write the same JSON as
``--engine local``: every per-image value and median equal exactly (the same items, seeds and
threads; only the timings and the engine record differ), on a local 2-CPU Ray instance."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install 'unsure[ray]')")

from unsure.cli.main import main  # noqa: E402

TIMINGS = {"seconds_per_image", "test_seconds_per_image", "engine"}
ENGINE_FLAGS = {"engine", "workers", "address", "gpus_per_worker", "cpus_per_worker", "out"}


def _blurring(run, out, *extra):
    assert main(["bench", "blurring", "--run", str(run), "--methods", "inputgrad,random", "--top", "5",
                 "--fractions", "0.05,0.1", "--sigmas", "0.5,2", "--replacements", "blur,noise:n_draws=2",
                 "--chunk-size", "2", "--seed", "3", "--device", "cpu", "--out", str(out), "--no-progress",
                 *extra]) == 0
    return json.loads((out / "blurring.json").read_text())


def _same(a, b, config_skip=TIMINGS):
    """Every value equal; the config equal but for timings and the engine; the recorded settings
    equal but for the engine flags and --out (``command`` records the differing command lines);
    the same weights and data in ``identity`` (its settings hash covers the differing flags)."""
    assert set(a) == set(b)
    values = [k for k in a if k not in ("config", "environment", "command", "settings", "identity")]
    assert "results" in values
    for k in values:
        assert a[k] == b[k], k
    for k in ("weights", "data"):
        assert a["identity"][k] == b["identity"][k] and a["identity"][k] is not None, k
    assert {k: v for k, v in a["settings"].items() if k not in ENGINE_FLAGS} == \
        {k: v for k, v in b["settings"].items() if k not in ENGINE_FLAGS}
    assert {k: v for k, v in a["config"].items() if k not in config_skip} == \
        {k: v for k, v in b["config"].items() if k not in config_skip}


def test_blurring_and_all_on_ray_equal_local(ray_cluster, run, tmp_path):
    local = _blurring(run, tmp_path / "local")
    dist = _blurring(run, tmp_path / "ray", "--engine", "ray", "--workers", "2")
    _same(local, dist)
    assert dist["config"]["engine"]["name"] == "ray" and dist["config"]["engine"]["workers"] == 2
    assert dist["config"]["chunk_size"] == 2 and len(dist["results"]["random"]["0.05"]["murr_per_image"]) == 5
    # bench all: its blurring section runs on Ray, the same JSON as local
    got = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"all-{engine}"
        assert main(["bench", "all", "--run", str(run), "--only", "blurring", "--methods", "random,inputgrad",
                     "--n", "3", "--sigmas", "0.5", "--chunk-size", "2", "--device", "cpu", "--engine", engine,
                     "--out", str(out), "--no-progress"]) == 0
        got[engine] = json.loads((out / "blurring" / "blurring.json").read_text())
    _same(got["local"], got["ray"])
    assert got["ray"]["config"]["engine"]["name"] == "ray"


def test_ray_refuses_bad_pool_settings_in_one_line(run, tmp_path, capsys):
    rc = main(["bench", "blurring", "--run", str(run), "--engine", "ray", "--workers", "0",
               "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "--workers must be >= 1" in err and err.count("\n") == 1
