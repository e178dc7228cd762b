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
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
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


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("argv", [["bench", "blurring", "--engine", "ray"], ["bench", "all", "--engine", "ray"],
                                  ["explain-dataset", "--engine", "ray"]])
def test_ray_engines_refuse_cuda_here_with_one_line_before_ray_starts(argv, run, tmp_path, capsys):
    rc = main(argv + ["--run", str(run), "--device", "cuda", "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "CUDA is not available" in err and err.count("\n") == 1, err


def test_train_passes_the_resolved_device(monkeypatch, tmp_path):
    import unsure.training.run as trainmod

    seen = {}

    def fake_train_run(**kw):
        seen.update(kw)
        return {"metrics": {"accuracy": 1.0, "nll": 0.0, "ece": 0.0}}

    monkeypatch.setattr(trainmod, "train_run", fake_train_run)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["train", "--data", "digits", "--device", "auto", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0
    assert seen["device"] == "cpu"


def test_blurring_ray_actors_get_the_posteriors_device_and_hold_the_posterior_there(run, monkeypatch):
    """The Ray path of ``bench blurring`` without Ray: ``map_actors`` replaced by one in-process
    actor fed the same one-row batches; the actor resolves the device the driver used through
    ``unsure.run.resolve_device`` and the values equal the local engine's."""
    import numpy as np

    import unsure.bench.blurring_engine as be
    import unsure.run as runmod
    from unsure.attribution.spec import parse_methods
    from unsure.data import load
    from unsure.engine import Engine
    from unsure.run import load_run

    seen, actors = [], []
    real = runmod.resolve_device
    monkeypatch.setattr(runmod, "resolve_device", lambda name: seen.append(name) or real(name))

    def in_process(items, cls, kwargs, engine):
        actor = cls(**kwargs)
        actors.append(actor)
        for it in items:
            out = actor({k: np.asarray([v]) for k, v in it.items()})
            yield {k: v[0] for k, v in out.items()}

    monkeypatch.setattr(be, "map_actors", in_process)
    post = load_run(run, device=real("auto"))
    x = load("digits", "test", limit=4).x
    args = dict(methods=parse_methods("grad,random"), fractions=[0.05], replacements="blur", seed=1,
                sigmas=[1.0], chunk_size=2, progress=False)
    got = be.run_panel(post, x, engine=Engine("ray", workers=2), source={"run": str(run), "model": None,
                                                                         "weights": None, "data": "digits"}, **args)
    want = be.run_panel(post, x, **args)
    assert seen == [str(post.device)] and len(actors) == 1
    assert all(p.device == post.device for p in actors[0].worker.post.parameters())
    assert got["by_replacement"] == want["by_replacement"] and got["curves"] == want["curves"]
