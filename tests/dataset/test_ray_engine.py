"""``unsure explain-dataset --engine ray`` writes the same bytes as ``--engine local`` (CPU, same
seed and threads), with 2 actors on a local 2-CPU Ray instance (``ray_cluster`` in tests/conftest.py)."""
from __future__ import annotations

import json

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'unsure[ray]')")

from unsure.cli.main import main  # noqa: E402
from unsure.dataset.job import map_file, part_path  # noqa: E402

N, SHARD = 18, 5


def _explain(run, out, *extra):
    return main(["explain-dataset", "--run", str(run), "--limit", str(N), "--shard-size", str(SHARD),
                 "--batch-size", "3", "--methods", "ua-backprop,smoothgrad:samples=2", "--targets", "all",
                 "--seed", "7", "--out", str(out), "--no-progress", *extra])


def _files(out):
    return sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())


def test_ray_writes_what_local_writes_bit_for_bit_and_resumes(ray_cluster, run, tmp_path):
    local, dist = tmp_path / "local", tmp_path / "ray"
    assert _explain(run, local) == 0
    assert _explain(run, dist, "--engine", "ray", "--workers", "2") == 0
    assert _files(local) == _files(dist)
    assert len([f for f in _files(dist) if f.parts[0] == "maps"]) == 4
    for f in _files(local):
        if f.name == "manifest.json":  # the same job; only the recorded command line and flags differ
            a, b = (json.loads((d / f).read_text()) for d in (local, dist))
            assert {k: v for k, v in a.items() if k not in ("command", "settings")} == \
                   {k: v for k, v in b.items() if k not in ("command", "settings")}
            assert "--engine ray" in b["command"] and b["settings"]["engine"] == "ray"
            continue
        assert (local / f).read_bytes() == (dist / f).read_bytes(), f
    # resume on Ray: one shard lost, redone with the same bytes
    want = (dist / map_file(2)).read_bytes()
    part_path(dist, 2).unlink()
    (dist / map_file(2)).unlink()
    assert _explain(run, dist, "--engine", "ray", "--workers", "1") == 0
    assert (dist / map_file(2)).read_bytes() == want
    assert (dist / "table.parquet").read_bytes() == (local / "table.parquet").read_bytes()
