"""One flag vocabulary across every command (issue 26, point 5): ``--n`` counts images,
``--target`` is the one spelling, ``--device`` defaults to auto, an attribution ``--batch-size``
defaults to auto (a memory budget), and the listings print JSON and option descriptions."""
from __future__ import annotations

import argparse
import json

import pytest
import torch
from torch import nn

import unsure
from unsure import batching
from unsure.cli.main import build_parser, main

#: commands whose --batch-size is a training minibatch or a forward-pass chunk, not an attribution chunk
NOT_ATTRIBUTION = {"train", "train-vae", "bench mitigation", "bench ood"}
#: --limit is the number of training images, and only there
TRAINING_LIMIT = {"train", "train-vae", "demo"}


def _commands():
    p = build_parser()
    cmds = p._subparsers._group_actions[0].choices
    benches = cmds["bench"]._subparsers._group_actions[0].choices
    return [*((k, v) for k, v in cmds.items() if k != "bench"), *(("bench " + k, v) for k, v in benches.items())]


def _visible(sp):
    return {o: a for a in sp._actions if a.help != argparse.SUPPRESS for o in a.option_strings}


def test_one_spelling_per_flag():
    seen = 0
    for name, sp in _commands():
        flags = _visible(sp)
        assert "--targets" not in flags and "--top" not in flags and "--n-images" not in flags, name
        if "--limit" in flags:
            assert name in TRAINING_LIMIT, f"{name}: --limit is for training images; image counts are --n"
        if "--device" in flags:
            assert flags["--device"].default == "auto", name
            seen += 1
        if "--batch-size" in flags and name not in NOT_ATTRIBUTION:
            assert flags["--batch-size"].default == "auto", name
    assert seen >= 15


def test_old_spellings_still_work(capsys):
    p = build_parser()
    a = p.parse_args(["explain-dataset", "--run", "r", "--out", "o", "--limit", "5", "--targets", "all"])
    assert (a.n, a.target) == (5, "all")
    err = capsys.readouterr().err
    assert "--limit is deprecated; use --n" in err and "--targets is deprecated; use --target" in err


def test_batch_size_flag_parses_auto_and_refuses_zero(capsys):
    p = build_parser()
    assert p.parse_args(["bench", "blurring", "--run", "r", "--batch-size", "auto"]).batch_size == "auto"
    assert p.parse_args(["bench", "blurring", "--run", "r", "--batch-size", "7"]).batch_size == 7
    with pytest.raises(SystemExit) as e:
        p.parse_args(["explain", "--run", "r", "--out", "o", "--batch-size", "0"])
    assert e.value.code == 2 and "must be >= 1 or 'auto'" in capsys.readouterr().err


def test_auto_batch_size_divides_the_budget(monkeypatch):
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 10))
            for _ in range(2)]
    post = unsure.as_posterior(nets)
    x = torch.rand(300, 1, 8, 8)
    draw = post.draw()
    # input 64 floats; per member conv 256 + relu 256 + flatten 256 + linear 10 floats
    per = 4 * (64 + 2 * (256 * 3 + 10))
    assert batching.bytes_per_image(draw, x) == per
    monkeypatch.setattr(batching, "CPU_BUDGET", batching.OVERHEAD * per * 37 + 5)
    assert batching.auto_batch_size(draw, x) == 37
    assert batching.auto_batch_size(draw, x[:10]) == 10  # never more than the images
    monkeypatch.setattr(batching, "CPU_BUDGET", 1)
    assert batching.auto_batch_size(draw, x) == 1
    a = unsure.attribute(post, x[:6], method="grad", batch_size="auto")
    torch.testing.assert_close(a.maps, unsure.attribute(post, x[:6], method="grad", batch_size=2).maps)


def test_methods_json_and_options_have_descriptions(capsys):
    assert main(["methods", "--json"]) == 0
    listing = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert {"default", "ua-backprop-class", "ua-backprop", "grad"} <= set(listing)
    opts = {o["name"]: o for o in listing["default"]["options"]}
    assert opts["grouping"]["default"] == "joint" and opts["reference"]["default"] == "mix+noise@0.3"
    assert '"mix"' in opts["reference"]["description"]  # where users look for what mix is
    assert listing["grad"]["options"][0] == {"name": "reduce", "type": "one of max, mean", "required": False,
                                             "default": "max", "description": '"max" (default) or "mean" over the channels'}
    assert main(["methods", "--options"]) == 0
    text = capsys.readouterr().out
    assert "    reduce: one of max, mean = 'max'\n        \"max\" (default) or \"mean\" over the channels" in text
    for listing_cmd in ("measures", "posteriors", "archs"):
        assert main([listing_cmd, "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert rows and all(set(r) == {"name", "summary"} for r in rows)


def test_bytes_per_image_counts_a_shared_trunk_once():
    """A last-layer Laplace draw runs its trunk once (its members hold that trunk as a submodule):
    counted once, whatever S. Explicit count: input 64 floats; conv 256 + relu 256 + flatten 256."""
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten())
            self.head = nn.Linear(4 * 64, 10)

        def features(self, x):
            return self.body(x)

        def forward(self, x):
            return self.head(self.features(x))

    x = torch.rand(3, 1, 8, 8)
    for S in (1, 5):
        post = unsure.LastLayerLaplace(Net(), samples=S)
        post.fit_laplace(x, torch.tensor([0, 1, 2]))
        assert batching.bytes_per_image(post.draw(), x) == 4 * (64 + 3 * 256)
