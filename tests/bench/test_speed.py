"""``unsure bench speed``: the peak-memory reading and the CLI on a tiny digits run."""
from __future__ import annotations

import json

import pytest
import torch

from unsure import DeepEnsemble
from unsure.bench.measure import peak_bytes
from unsure.cli.main import main
from unsure.models import PaperCNN
from unsure.run import save_run

MiB = 2**20


def _allocates(x):
    a = torch.ones(1024, 1024)  # 4 MiB
    b = torch.ones(2048, 1024)  # 8 MiB: 12 live
    del a  # 8 live
    c = b * 2  # 16 live: the peak
    return float(c.sum())


def test_peak_bytes_on_cpu_counts_freed_and_reused_memory():
    x = torch.zeros(1)
    for _ in range(2):  # the second call reuses pages the first touched: still the same peak
        assert peak_bytes(_allocates, x, torch.device("cpu")) == pytest.approx(16 * MiB, rel=0.01)
    assert peak_bytes(lambda x: x + 0, torch.zeros(256, 1024), torch.device("cpu")) == pytest.approx(MiB, rel=0.01)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("speed") / "run"
    torch.manual_seed(0)
    opts = {"in_channels": 1, "num_classes": 10, "image_size": 8}
    save_run(out, DeepEnsemble([PaperCNN(**opts), PaperCNN(**opts)]),
             {"data": "digits", "arch": "paper-cnn", "arch_options": opts})
    return out


def test_speed_bench_reports_time_memory_and_ratios(run_dir, tmp_path):
    out = tmp_path / "speed"
    assert main(["bench", "speed", "--run", str(run_dir), "--methods", "ua-backprop,grad,ig:steps=20",
                 "--n", "4", "--batch-size", "2", "--repeats", "1", "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "speed.json").read_text())["results"]
    m = res["methods"]
    assert all(v["seconds_per_image"] > 0 and v["peak_bytes_per_image"] > 0 for v in m.values())
    # 20 path steps hold more activations than one gradient
    assert m["ig:steps=20"]["peak_bytes_per_image"] > m["grad"]["peak_bytes_per_image"]
    assert res["ratio_to_ua_backprop"]["ua-backprop"] == 1.0
    assert "peak MiB / image" in (out / "speed.md").read_text()
