"""``--device`` plumbing, tested on CPU: every command and bench takes it, resolves it through
one function (``auto`` -> cpu without CUDA, cuda refused with one line), and puts the posterior
(and so the data it is fed) on the resolved device."""
from __future__ import annotations

import argparse

import pytest
import torch

from unsure.bench import BENCHES
from unsure.cli import commands
from unsure.cli.main import build_parser, main
from unsure.errors import UnsureError
from unsure.training.run import train_run

NEED_DEVICE = ("train", "explain", "explain-dataset", "demo")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    train_run(data="digits", members=2, epochs=1, out=str(out), progress=False)
    return out


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    acts = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(acts[0].choices) if acts else {}


def test_auto_resolves_to_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert commands.resolve_device("auto") == torch.device("cpu")
    assert commands.resolve_device("cpu") == torch.device("cpu")
    for name in ("cuda", "cuda:1"):
        with pytest.raises(UnsureError, match="CUDA is not available"):
            commands.resolve_device(name)
    with pytest.raises(UnsureError, match="unknown device"):
        commands.resolve_device("tpu")


def test_auto_and_cuda_n_resolve_to_cuda_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert commands.resolve_device("auto") == torch.device("cuda")
    assert commands.resolve_device("cuda:1") == torch.device("cuda", 1)


def test_every_command_that_computes_and_every_bench_takes_device():
    subs = _subparsers(build_parser())
    for name in NEED_DEVICE:
        assert any("--device" in a.option_strings for a in subs[name]._actions), name
    benches = _subparsers(subs["bench"])
    assert set(benches) == set(BENCHES.names())
    for name, p in benches.items():
        assert any("--device" in a.option_strings for a in p._actions), name


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("bench", sorted(BENCHES.names()))
def test_every_bench_refuses_cuda_here_with_one_line(bench, run, tmp_path, capsys):
    """Each bench resolves --device before any work (no traceback from deep inside torch)."""
    p = _subparsers(_subparsers(build_parser())["bench"])[bench]
    argv = ["bench", bench, "--device", "cuda", "--out", str(tmp_path / "o"), "--no-progress"]
    if any("--run" in a.option_strings for a in p._actions):
        argv += ["--run", str(run)]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and "CUDA is not available" in err and err.count("\n") == 1, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("cmd", ["train", "explain", "explain-dataset"])
def test_commands_refuse_cuda_here_with_one_line(cmd, run, tmp_path, capsys):
    argv = {"train": ["train", "--data", "digits", "--out", str(tmp_path / "r")],
            "explain": ["explain", "--run", str(run), "--out", str(tmp_path / "e")],
            "explain-dataset": ["explain-dataset", "--run", str(run), "--out", str(tmp_path / "d")]}[cmd]
    rc = main(argv + ["--device", "cuda", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "CUDA is not available" in err and err.count("\n") == 1, err


def test_explain_dataset_worker_holds_the_posterior_on_the_resolved_device(run, tmp_path, monkeypatch):
    from unsure.dataset import Job
    from unsure.dataset.work import ShardWorker

    import unsure.run as runmod

    seen = []
    real = runmod.resolve_device
    monkeypatch.setattr(runmod, "resolve_device", lambda name: seen.append(name) or real(name))
    job = Job(run=str(run), data="digits", limit=4, keys=("ua-backprop|epistemic",))
    w = ShardWorker(job, tmp_path, device="auto")
    assert seen == ["auto"]
    assert w.post.device == real("auto")
    assert all(p.device == w.post.device for p in w.post.parameters())
