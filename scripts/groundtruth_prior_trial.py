"""Trials of the posterior and the training data (issue 24, fourth and fifth sessions) with one
short recipe: trains ``--members`` members on the generated data's label distributions and prints
the validity shares on the VALIDATION split, with the bench's design and rule (the aleatoric
region as the data's ``train.json`` says; the patch sides ``--epistemic-shares``).
``--prior-scale``: randomized prior functions (Osband et al. 2018), each member
``net(x) + beta * prior(x)`` with ``prior`` a frozen, randomly initialised copy of the
architecture, ``beta`` set so the prior's logits have that standard deviation on the training
images (0: a plain member); ``--dropout``: the paper CNN's dropout rate (its default 0.5);
``--archs``: member architectures taken by turns. Usage:

    python scripts/groundtruth_prior_trial.py --data npz:/work/runs/gt-paired/data/train.npz \
        --prior-scale 3 --members 3 --epochs 3 --limit 30000 [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from unsure.data import load
from unsure.data.soft import label_distribution
from unsure.groundtruth import Design
from unsure.groundtruth.images import cause_images
from unsure.models.registry import ARCHS
from unsure.posteriors import DeepEnsemble
from unsure.training.classifier import TrainConfig, fit


class WithPrior(nn.Module):
    def __init__(self, net: nn.Module, prior: nn.Module, beta: float):
        super().__init__()
        self.net, self.prior, self.beta = net, prior, beta
        for p in self.prior.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        with torch.no_grad():
            self.prior.eval()
            bias = self.prior(x)
        return self.net(x) + self.beta * bias


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--base", default="fashion-mnist", help="the base data set whose validation split is scored")
    p.add_argument("--prior-scale", type=float, default=0.0)
    p.add_argument("--dropout", type=float, default=0.5, help="the paper CNN's dropout rate (its default 0.5)")
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--archs", default="paper-cnn", help="member architectures, comma-separated, taken by turns")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit", type=int, default=30000)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epistemic-shares", default="0.45", help="patch sides / image side to check (test images only)")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    trained = json.loads(Path(a.data.removeprefix("npz:")).with_name("train.json").read_text())["design"]
    t0 = time.perf_counter()
    nets = []
    for i in range(a.members):
        tr = load(a.data, "train", seed=0, limit=a.limit, subset_seed=a.seed + i)
        target = label_distribution(a.data, "train", seed=0, limit=a.limit, subset_seed=a.seed + i)
        opts = {"in_channels": tr.x.shape[1], "num_classes": target.shape[1], "image_size": tr.x.shape[-1],
                "dropout": a.dropout}
        torch.manual_seed(1000 * (a.seed + i) + 1)
        archs = a.archs.split(",")
        arch = archs[i % len(archs)]
        net = ARCHS.get(arch)(**opts)
        if a.prior_scale > 0:
            prior = ARCHS.get(arch)(**opts).eval()
            with torch.no_grad():
                std = float(prior(tr.x[:2000]).std())
            net = WithPrior(net, prior, a.prior_scale / std)
        cfg = TrainConfig(epochs=a.epochs, milestones=(a.epochs - 1,) if a.epochs > 2 else (), progress=False)
        fit(net, tr.x, target, cfg, generator=torch.Generator().manual_seed(a.seed + i))
        nets.append(net.eval())
    post = DeepEnsemble(nets)
    draw = post.draw(torch.Generator().manual_seed(0))
    rows = []
    for share in (float(e) for e in a.epistemic_shares.split(",")):
        # as the bench makes them, with the aleatoric region the model was trained on
        design = Design(partner="paired", aleatoric_share=trained["aleatoric_share"], epistemic_share=share)
        ci = cause_images(post, draw, a.base, "val", a.n, 0, design)
        cs, v = ci.cs, ci.validity
        rows.append({"epistemic_share": share,
                     "validity": {k: round(e["share"], 3) for k, e in v.shares(cs.kind, cs.kinds).items()},
                     "mean_uncertainty": {k: {m: round(float(x.mean()), 3) for m, x in uu.items()} for k, uu in v.u.items()}})
    te = load(a.data, "test")
    with torch.no_grad():
        acc = float((draw(te.x[:5000]).softmax(-1).mean(0).argmax(-1) == te.y[:5000]).double().mean())
    out = {"archs": a.archs, "prior_scale": a.prior_scale, "dropout": a.dropout, "members": a.members, "epochs": a.epochs, "limit": a.limit,
           "test_accuracy_5000": round(acc, 4), "seconds": round(time.perf_counter() - t0),
           "training_design": trained, **(rows[0] if len(rows) == 1 else {"rows": rows})}
    print(json.dumps(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
