"""Bad run folders, models, inputs and targets through the CLI and the API (rows of docs/reliability.md)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from _reliakit import api_error, case

S = "Runs, models and the Python API"


def _explain(env, run, *extra, match=""):
    return env.one_line("explain", "--run", run, "--n", "1", "--methods", "grad", "--out", env.tmp / "rep",
                        "--no-progress", *extra, match=match)


@case(S, "members-huge", "a run config with `members: 100000`",
      "one-line error from the weights file's header, before any model is built")
def _(env):
    from unsure.models import PaperCNN

    run = env.run_copy(lambda c: c["posterior"].update(members=100000))
    built = []
    init = PaperCNN.__init__

    def counting(self, *a, **k):
        built.append(1)
        if len(built) > 10:
            raise AssertionError("built more than 10 models for a 2-member run")
        init(self, *a, **k)

    env.mp.setattr(PaperCNN, "__init__", counting)
    _explain(env, run, match="members")


@case(S, "members-str", 'a run config with `members: "two"`', "one-line error")
def _(env):
    _explain(env, env.run_copy(lambda c: c["posterior"].update(members="two")), match="members")


@case(S, "members-missing", "a run config without `members`", "one-line error")
def _(env):
    _explain(env, env.run_copy(lambda c: c["posterior"].pop("members")), match="members")


@case(S, "image-size", "a run config with a wrong `image_size`", "one-line error naming the tensor that does not fit")
def _(env):
    _explain(env, env.run_copy(lambda c: c["arch_options"].update(image_size=28)), match="does not match")


@case(S, "data-channels", "a 1-channel run explained on 3-channel data (`explain --data`)", "one-line error")
def _(env):
    x = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    spec = env.npz(x=x, y=np.arange(20) % 2)
    _explain(env, env.run, "--data", spec, match="[1, 8, 8]")


@case(S, "data-size", "an 8x8 run explained on 12x12 data (`explain --data`)", "one-line error")
def _(env):
    x = np.random.default_rng(0).integers(0, 256, (20, 12, 12), dtype=np.uint8)
    _explain(env, env.run, "--data", env.npz(x=x, y=np.arange(20) % 2), match="[1, 8, 8]")


def _net(k=10):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, k))


@case(S, "api-range", "`unsure.attribute` on images outside [0, 1]", "one-line UnsureError (the error text promises [0, 1])")
def _(env):
    import unsure

    api_error(lambda: unsure.attribute([_net()], torch.rand(2, 1, 8, 8) * 255, "grad"), match="[0,1]")


@case(S, "api-range-uncertainty", "`unsure.uncertainty` on images outside [0, 1]", "one-line UnsureError")
def _(env):
    import unsure

    api_error(lambda: unsure.uncertainty([_net()], torch.rand(2, 1, 8, 8) - 0.5), match="[0,1]")


@case(S, "api-dtype", "float64 images for a float32 model", "one-line UnsureError naming the dtype")
def _(env):
    import unsure

    api_error(lambda: unsure.attribute([_net()], torch.rand(2, 1, 8, 8, dtype=torch.float64), "ua-backprop"),
              match="float64")


@case(S, "api-channels", "3-channel images for a 1-channel model", "one-line UnsureError")
def _(env):
    import unsure

    api_error(lambda: unsure.attribute([_net()], torch.rand(2, 3, 8, 8), "grad"), match="cannot take input")


@case(S, "members-k", "ensemble members with different numbers of classes", "one-line UnsureError")
def _(env):
    import unsure

    api_error(lambda: unsure.uncertainty([_net(10), _net(3)], torch.rand(2, 1, 8, 8)), match="different shapes")


@case(S, "rise-target-shape", "RISE with a target returning [B, 1] instead of [B]", "one-line UnsureError")
def _(env):
    import unsure

    api_error(lambda: unsure.attribute([_net(), _net()], torch.rand(2, 1, 8, 8), "rise",
                                       lambda z: z.softmax(-1).mean(0)[:, :1], masks=20), match="[B=2]")


@case(S, "target-nan", "a target returning NaN", "one-line UnsureError, not NaN maps")
def _(env):
    import unsure

    api_error(lambda: unsure.attribute([_net(), _net()], torch.rand(2, 1, 8, 8), "grad",
                                       lambda z: z.sum((0, 2)) * float("nan")), match="NaN")


@case(S, "train-mode", "`unsure.uncertainty` / `unsure.attribute` on the user's modules in train mode",
      "the modules are back in train mode afterwards")
def _(env):
    import unsure

    nets = [_net(), _net()]
    for n in nets:
        n.train()
    unsure.uncertainty(nets, torch.rand(2, 1, 8, 8))
    unsure.attribute(nets, torch.rand(2, 1, 8, 8), "grad")
    assert all(m.training for n in nets for m in n.modules())


@case(S, "weights-corrupt", "a run whose weights.safetensors is damaged", "one-line error")
def _(env):
    run = env.run_copy(lambda c: None)
    (run / "weights.safetensors").write_bytes(b"\x00" * 64)
    _explain(env, run, match="cannot read")


@case(S, "config-not-json", "a run whose config.json is not JSON", "one-line error")
def _(env):
    run = env.run_copy(lambda c: None)
    (run / "config.json").write_text("{members: 2")
    _explain(env, run, match="not valid JSON")


@case(S, "in-channels-str", 'a run config with `in_channels: "one"`', "one-line error")
def _(env):
    _explain(env, env.run_copy(lambda c: c["arch_options"].update(in_channels="one")), match="in_channels")


@case(S, "api-single-image", "`unsure.attribute` on one image [C, H, W] without a batch axis",
      "one-line UnsureError that says to add x[None]")
def _(env):
    import unsure

    api_error(lambda: unsure.attribute([_net()], torch.rand(1, 8, 8), "grad"), match="x[None]")


@case(S, "npz-nan-pixels", "float images with a NaN pixel", "one-line error")
def _(env):
    x = env.images(dtype=np.float32, hi=1.0)
    x[0, 0, 0] = np.nan
    env.train_refused(env.npz(x=x, y=env.labels()), match="NaN")
