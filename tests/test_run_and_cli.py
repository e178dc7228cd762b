"""Run directories and the CLI: round trip, atomic writes, one-line errors with exit code 2."""
import json
import subprocess
import sys

import pytest
import torch

import unsure
from unsure.cli.main import main
from unsure.errors import UnsureError
from unsure.models import PaperCNN
from unsure.run import load_run, save_run


def test_save_load_round_trip(tmp_path):
    post = unsure.DeepEnsemble([PaperCNN(1, 10, 8) for _ in range(3)])
    save_run(tmp_path / "r", post, {"arch": "paper-cnn", "arch_options": {"in_channels": 1, "num_classes": 10, "image_size": 8}})
    back = load_run(tmp_path / "r")
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(back.sample_logits(x), post.sample_logits(x))
    with pytest.raises(UnsureError, match="already exists"):
        save_run(tmp_path / "r", post, {})
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    import safetensors.torch

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    post = unsure.DeepEnsemble([PaperCNN(1, 10, 8)])
    with pytest.raises(OSError, match="disk full"):
        save_run(tmp_path / "r", post, {"arch": "paper-cnn"})
    assert list(tmp_path.iterdir()) == []  # neither the run nor a temporary folder


def test_cli_train_writes_run(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--data", "digits", "--members", "2", "--epochs", "3", "--out", str(out), "--no-progress"])
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["posterior"]["members"] == 2 and cfg["data"] == "digits"
    assert set(cfg["metrics"]) == {"accuracy", "nll", "ece"}
    assert cfg["metrics"]["accuracy"] > 0.3  # 3 epochs on digits beat chance (0.1) clearly
    assert len(cfg["train_info"]["seconds_per_member"]) == 2
    assert load_run(out).num_samples == 2


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "nope", "--out", "X"], "unknown data scheme 'nope'"),
    (["train", "--data", "idx:/nonexistent", "--out", "X"], "does not exist"),
    (["train", "--data", "digits", "--posterior", "bayes", "--out", "X"], "unknown posterior 'bayes'"),
    (["bench", "blurring", "--run", "/nonexistent"], "not a run directory"),
])
def test_cli_errors_are_one_line_exit_2(argv, message, tmp_path):
    argv = [a if a != "X" else str(tmp_path / "x") for a in argv]
    proc = subprocess.run([sys.executable, "-m", "unsure.cli.main", *argv], capture_output=True, text=True)
    if argv[0] == "bench" and "invalid choice" in proc.stderr:
        pytest.skip("blurring bench not registered yet")
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_listings(capsys):
    assert main(["measures"]) == 0
    out = capsys.readouterr().out
    assert "epistemic" in out and "vacuity" in out
