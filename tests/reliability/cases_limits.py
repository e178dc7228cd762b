"""The last tracebacks and the missing limits of issue 27 (rows of docs/reliability.md): each bad
input gets one line and exit 2, through the public CLI or API."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import torch

from _reliakit import api_error, case

T = "Tracebacks that became one line"
L = "Limits and duplicates"
GRAD = ("--n", "1", "--methods", "grad", "--no-progress")


def _run_cli(env, *argv) -> subprocess.CompletedProcess:
    """The CLI in a fresh process (argv may hold bytes: paths that are not UTF-8)."""
    return subprocess.run([sys.executable, "-m", "unsure.cli.main", *argv], capture_output=True, timeout=300,
                          cwd=env.tmp, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
                                            "OMP_NUM_THREADS": "1"})


def _one_line_process(r: subprocess.CompletedProcess, match: str = "") -> None:
    err = r.stderr.decode("utf-8", "replace")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert r.returncode == 2 and "Traceback" not in err, (r.returncode, err[-800:])
    errors = [ln for ln in lines if ln.startswith("unsure: error:")]
    # exactly one error line (as _reliakit's one_line); anything else is unsure's own warnings
    assert len(errors) == 1 and match in errors[0], lines
    assert all(ln.startswith("unsure: ") for ln in lines), lines


@case(T, "seed-huge", "`--seed` beyond 64 bits or negative (`explain`, `bench`, `explain-dataset`, `train`), or "
      "a method's or replacement's `seed=` (`random:seed=2**64`, `noise:seed=-2**70`)",
      "one-line error: seeds lie in [0, 2**63 - 1]")
def _(env):
    for seed in (str(10**30), str(2**64), "-1"):
        env.one_line("explain", "--run", env.run, "--out", env.tmp / "r", "--seed", seed, *GRAD, match="--seed")
        env.one_line("explain-dataset", "--run", env.run, "--out", env.tmp / "d", "--limit", "2", "--methods", "grad",
                     "--seed", seed, "--no-progress", match="--seed")
        env.one_line("bench", "blurring", "--run", env.run, "--n", "2", "--seed", seed, "--out", env.tmp / "b",
                     "--no-progress", match="--seed")
    env.train_refused("digits", "--subset-seed", str(2**70), "--limit", "10", match="--subset-seed")
    env.one_line("explain", "--run", env.run, "--out", env.tmp / "r", "--n", "1", "--methods", f"random:seed={2**64}",
                 "--no-progress", match="seed")
    env.one_line("bench", "blurring", "--run", env.run, "--n", "2", "--methods", "grad", "--replacements",
                 f"noise:seed={-2**70}", "--out", env.tmp / "b", "--no-progress", match="seed")


@case(T, "device-meta", "`--device meta` (or `cpu:3`, `cuda:99`): a device that cannot run the model",
      "one-line error before any work")
def _(env):
    for dev in ("meta", "cpu:3", "cuda:99"):
        env.one_line("explain", "--run", env.run, "--out", env.tmp / "r", "--device", dev, *GRAD, match=dev)
        env.one_line("explain-dataset", "--run", env.run, "--out", env.tmp / "d", "--limit", "2",
                     "--methods", "grad", "--device", dev, "--no-progress", match=dev)
        env.train_refused("digits", "--device", dev, match=dev)
    assert not (env.tmp / "d").exists()


@case(T, "dataset-out-file", "`explain-dataset --out FILE` (an existing file, or a path under one)",
      "one-line error before any work")
def _(env):
    f = env.tmp / "table.txt"
    f.write_text("mine")
    for out in (f, f / "sub"):
        env.one_line("explain-dataset", "--run", env.run, "--out", out, "--limit", "2", "--methods", "grad",
                     "--no-progress", match="file")
    assert f.read_text() == "mine"


NO_GRAD_MODEL = """
import torch
from torch import nn

class Frozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 3)

    def forward(self, x):
        with torch.no_grad():
            return self.fc(x.flatten(1))

class Decorated(Frozen):
    @torch.no_grad()
    def forward(self, x):
        return self.fc(x.flatten(1))

class Inference(Frozen):
    def forward(self, x):
        with torch.inference_mode():
            return self.fc(x.flatten(1))
"""


@case(T, "model-no-grad", "a user's `--model` whose forward runs under `torch.no_grad` (a `with` block, the "
      "decorator) or `torch.inference_mode`",
      "one-line error for every gradient method, saying what to change; gradient-free methods still run")
def _(env):
    (env.tmp / "frozen.py").write_text(NO_GRAD_MODEL)
    spec = npz_images(env, 8)
    for model in ("Frozen", "Decorated", "Inference"):
        for method in ("grad", "ig:steps=4", "ua-backprop", "smoothgrad:samples=2", "inputgrad", "fullgrad"):
            env.one_line("explain", "--model", f"{env.tmp / 'frozen.py'}:{model}", "--data", spec, "--n", "1",
                         "--methods", method, "--target", "total", "--out", env.tmp / "r", "--no-progress",
                         match="torch.no_grad")
    rc, err = env.cli("explain", "--model", f"{env.tmp / 'frozen.py'}:Frozen", "--data", spec, "--n", "1",
                      "--methods", "rise:masks=20", "--target", "total", "--out", env.tmp / "r", "--no-progress")
    assert rc == 0, err


def npz_images(env, size: int, n: int = 30, name: str = "d.npz") -> str:
    return env.npz(name, x=env.images(n, size), y=env.labels(n))


@case(T, "png-bomb", "`explain --images` of a decompression-bomb PNG (more pixels than PIL's safety limit)",
      "one-line error; the file is not decoded")
def _(env):
    from PIL import Image

    env.mp.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the same check as PIL's 89 M pixels, on a small file
    for side, name in ((64, "bomb.png"), (40, "half-bomb.png")):  # > 2x the limit: error; > 1x: PIL warns
        Image.new("L", (side, side)).save(env.tmp / name)
        env.one_line("explain", "--run", env.run, "--images", env.tmp / name, "--methods", "grad",
                     "--out", env.tmp / "r", "--no-progress", match="too large")


@case(T, "images-1x1", "training on 1x1 (or 2x2) images", "one-line error before training: the architecture "
      "cannot take images that small")
def _(env):
    for size, arch in ((1, "paper-cnn"), (2, "lenet"), (1, "mitigation-cnn")):
        spec = npz_images(env, size, name=f"s{size}{arch}.npz")
        env.train_refused(spec, "--arch", arch, match=arch)


@case(T, "idx-overflow", "IDX files whose header dimensions multiply past 2**63 (2**31 x 2**31 x 2**31)",
      "one-line error: the file is shorter than its header says")
def _(env):
    d = env.tmp / "idx"
    d.mkdir()
    for name, dims in (("train-images-idx3-ubyte", (2**31, 2**31, 2**31)),
                       ("train-labels-idx1-ubyte", (2**32 - 1,)), ("t10k-images-idx3-ubyte", (2**32 - 1,) * 3)):
        (d / name).write_bytes(bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + bytes(64))
    env.train_refused(f"idx:{d}", match="truncated")


@case(T, "api-generator-type", "`generator=` that is not a `torch.Generator` (a seed, a NumPy generator) in "
      "`unsure.attribute`, `unsure.uncertainty`, a posterior's `draw`, `blurring_test`",
      "one-line UnsureError that says how to make a generator")
def _(env):
    import unsure
    from unsure.metrics import blurring_test
    from unsure.models import PaperCNN

    post = unsure.DeepEnsemble([PaperCNN(1, 3, 8) for _ in range(2)])
    x = torch.rand(2, 1, 8, 8)
    for g in (0, np.random.default_rng(0), "seed"):
        api_error(lambda: unsure.attribute(post, x, "grad", generator=g), match="torch.Generator")
        api_error(lambda: unsure.uncertainty(post, x, g), match="torch.Generator")
        api_error(lambda: post.draw(g), match="torch.Generator")
        api_error(lambda: blurring_test(post, x, torch.rand(2, 8, 8), generator=g), match="torch.Generator")


@case(T, "broken-pipe", "`unsure methods --options | head -1`, `unsure archs | head -1` (the reader closes the pipe)",
      "one-line error, exit 2, no BrokenPipeError traceback")
def _(env):
    for argv in (("methods", "--options"), ("archs",)):
        p = subprocess.Popen([sys.executable, "-m", "unsure.cli.main", *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=env.tmp,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        p.stdout.close()  # the reader is gone before the first line
        err = p.stderr.read()
        p.stderr.close()
        _one_line_process(subprocess.CompletedProcess(p.args, p.wait(), b"", err), match="pipe")


@case(T, "out-not-utf8", "an `--out` or `--json` path, or a data file's name, that is not valid UTF-8 (`$'r\\xff'`)",
      "one-line error (an output path before any work, nothing created)")
def _(env):
    data = os.fsdecode(os.fsencode(env.tmp) + b"/x\xff.npz")
    np.savez(data, x=env.images(20), y=env.labels(20))
    for argv in (("explain", "--run", str(env.run), "--out", b"r\xff", *GRAD),
                 ("bench", "blurring", "--run", str(env.run), "--n", "2", "--out", b"b\xff", "--no-progress"),
                 ("bench", "blurring", "--run", str(env.run), "--n", "2", "--out", "b", "--json", b"j\xff.json",
                  "--no-progress"),
                 ("explain", "--run", str(env.run), "--data", b"npz:x\xff.npz", "--out", "r", *GRAD)):
        _one_line_process(_run_cli(env, *argv), match="UTF-8")
    assert sorted(os.listdir(os.fsencode(env.tmp))) == [b"x\xff.npz"]


@case(L, "count-cap", "`--methods ig:steps=1000000000`, `rise:masks=10**9`, `train --members 10**6` or "
      "`--epochs 10**9`: a count that would run for days", "one-line error before any work: counts are capped "
      "at 10000; every command's `--max-count N` raises the cap")
def _(env):
    env.one_line("explain", "--run", env.run, "--out", env.tmp / "r", "--n", "1", "--methods", "ig:steps=20",
                 "--max-count", "10", "--no-progress", match="cap of 10")
    for m in ("ig:steps=1000000000", "rise:masks=1000000000", "smoothgrad:samples=100000"):
        env.one_line("explain", "--run", env.run, "--out", env.tmp / "r", "--n", "1", "--methods", m,
                     "--no-progress", match="--max-count")
        env.one_line("bench", "blurring", "--run", env.run, "--n", "2", "--methods", m, "--out", env.tmp / "b",
                     "--no-progress", match="--max-count")
    env.train_refused("digits", "--members", str(10**6), match="--members")
    env.train_refused("digits", "--epochs", str(10**9), match="--epochs")
    rc, err = env.cli("explain", "--run", env.run, "--out", env.tmp / "r", "--n", "1", "--methods", "ig:steps=12",
                      "--max-count", "12", "--no-progress")
    assert rc == 0, err


@case(L, "duplicates", "`--methods grad,grad`, `--target epistemic,epistemic`, `--fractions 0.1,0.1`",
      "each duplicate computed once, with a one-line note")
def _(env):
    rc, err = env.cli("explain", "--run", env.run, "--out", env.tmp / "r", "--n", "1", "--methods", "grad,inputgrad,grad",
                      "--target", "epistemic,epistemic", "--no-progress")
    assert rc == 0, err
    notes = [ln for ln in err if ln.startswith("unsure: note:")]
    assert len(notes) == 2 and "grad is given twice" in notes[0] and "epistemic" in notes[1], err
    overlays = sorted(p.name.split("__", 1)[1] for p in (env.tmp / "r" / "overlays").glob("*__*.png"))
    assert overlays == ["grad__epistemic.png", "inputgrad__epistemic.png"], overlays
    rc, err = env.cli("bench", "blurring", "--run", env.run, "--n", "2", "--methods", "grad", "--replacements", "blur",
                      "--fractions", "0.1,0.2,0.1", "--out", env.tmp / "b", "--no-progress")
    assert rc == 0, err
    assert json.loads((env.tmp / "b" / "blurring.json").read_text())["config"]["fractions"] == [0.1, 0.2]
    assert any("0.1 is given twice" in ln for ln in err), err
