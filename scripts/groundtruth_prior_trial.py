"""Trials of the posterior and the training data (issue 24, fourth and fifth sessions) with one
short recipe: trains ``--members`` members on the generated data's label distributions and prints
the validity shares on the VALIDATION split, with the bench's design and rule (the aleatoric
region as the data's ``train.json`` says; the patch sides ``--epistemic-shares``).
``--prior-scale``: randomized prior functions (Osband et al. 2018), each member
``net(x) + beta * prior(x)`` with ``prior`` a frozen, randomly initialised copy of the
architecture, ``beta`` set so the prior's logits have that standard deviation on the training
images (0: a plain member); ``--dropout``: the paper CNN's dropout rate (its default 0.5);
``--archs``: member architectures taken by turns; ``--diversity LAMBDA``: the members trained
together on one random subset, with ``LAMBDA`` times the mean squared cosine between their
input gradients of the loss added (local independence training, Ross et al. 2020; 0: together,
no penalty). Usage:

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
from unsure.groundtruth.cache import training_fields
from unsure.groundtruth.images import cause_images
from unsure.models.registry import ARCHS
from unsure.posteriors import DeepEnsemble
from unsure.training.classifier import TrainConfig, fit


class Joint(nn.Module):
    """Members trained together (one optimiser, the same batches)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)


def diversity_loss(lam: float, on: str = "all"):
    """``loss_fn`` for :func:`fit` on a :class:`Joint`: the members' cross-entropies plus ``lam``
    times the mean over member pairs and images of the squared cosine of their input gradients
    (over every image, ``on="all"``, or only those with a one-hot target, ``on="clean"``: the
    blends' ambiguity is left for the members to agree on)."""
    def loss_fn(model, xb, yb, epoch):
        xb = xb.detach().requires_grad_(lam > 0)
        losses, grads = [], []
        for m in model.members:
            per_image = nn.functional.cross_entropy(m(xb), yb, reduction="none")  # [b]
            losses.append(per_image.mean())
            if lam > 0:
                g = torch.autograd.grad(per_image.sum(), xb, create_graph=True)[0].flatten(1)  # [b,D]
                grads.append(nn.functional.normalize(g, dim=1))
        total = sum(losses)
        if lam > 0:
            pairs = [(i, j) for i in range(len(grads)) for j in range(i + 1, len(grads))]
            if on == "all":
                total = total + lam * sum((grads[i] * grads[j]).sum(1).pow(2).mean() for i, j in pairs) / len(pairs)
            else:
                keep = (yb.max(1).values > 0.999).float()  # [b] one-hot targets
                cos2 = sum((grads[i] * grads[j]).sum(1).pow(2) for i, j in pairs) / len(pairs)  # [b]
                total = total + lam * (cos2 * keep).sum() / keep.sum().clamp_min(1)
        return total
    return loss_fn


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
    p.add_argument("--diversity", type=float, default=None,
                   help="train the members together with this input-gradient diversity weight (0: together, no penalty)")
    p.add_argument("--diversity-on", default="all", choices=("all", "clean"),
                   help="the images the diversity penalty is taken over: all, or those with a one-hot target")
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
        if a.diversity is None:
            fit(net, tr.x, target, cfg, generator=torch.Generator().manual_seed(a.seed + i))
        nets.append(net.eval())
    if a.diversity is not None:  # together, on the first member's subset
        tr = load(a.data, "train", seed=0, limit=a.limit, subset_seed=a.seed)
        target = label_distribution(a.data, "train", seed=0, limit=a.limit, subset_seed=a.seed)
        joint = Joint(nets)
        fit(joint, tr.x, target, cfg, loss_fn=diversity_loss(a.diversity, a.diversity_on), generator=torch.Generator().manual_seed(a.seed))
        nets = [m.eval() for m in joint.members]
    post = DeepEnsemble(nets)
    draw = post.draw(torch.Generator().manual_seed(0))
    rows = []
    for share in (float(e) for e in a.epistemic_shares.split(",")):
        # as the bench makes them, with the aleatoric region the model was trained on
        design = Design(partner=training_fields(trained)["partner"], aleatoric_share=trained["aleatoric_share"],
                        epistemic_share=share)
        ci = cause_images(post, draw, a.base, "val", a.n, 0, design)
        cs, v = ci.cs, ci.validity
        rows.append({"epistemic_share": share,
                     "validity": {k: round(e["share"], 3) for k, e in v.shares(cs.kind, cs.kinds).items()},
                     "mean_uncertainty": {k: {m: round(float(x.mean()), 3) for m, x in uu.items()} for k, uu in v.u.items()}})
    acc = test_accuracy(draw, a.data)
    out = {"archs": a.archs, "diversity": a.diversity, "diversity_on": a.diversity_on, "prior_scale": a.prior_scale, "dropout": a.dropout, "members": a.members, "epochs": a.epochs, "limit": a.limit,
           "test_accuracy_5000": round(acc, 4), "seconds": round(time.perf_counter() - t0),
           "training_design": trained, **(rows[0] if len(rows) == 1 else {"rows": rows})}
    emit(out, a.json)


def test_accuracy(draw, data: str, n: int = 5000) -> float:
    """The ensemble's accuracy on the first ``n`` images of the generated test split."""
    te = load(data, "test")
    with torch.no_grad():
        return float((draw(te.x[:n]).softmax(-1).mean(0).argmax(-1) == te.y[:n]).double().mean())


def emit(out: dict, path: str | None) -> None:
    """Print ``out`` as one JSON line, and write it indented to ``path`` when given."""
    print(json.dumps(out))
    if path:
        with open(path, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
