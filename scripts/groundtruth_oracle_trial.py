"""Oracle (issue 24, sixth session): can the validity rule and the construction pass 80% of the
causes at all, for an ensemble that reacts to the patches as the textbook says? NOT a recipe for
the benchmark: these members are *shown the test's own patch kinds in training*, which the
benchmark's definition of an epistemic cause rules out. It is an upper bound that says whether
the shortfall lies in the posterior or in the rule and construction.

The members are trained together on one random subset of the generated training data (its label
distributions), and on a patched copy of ``--patched-share`` of each batch: the benchmark's own
epistemic kinds (``unsure.groundtruth.epistemic.paste``) in a patch of the bench's side at a
random place. On a patched image member ``i``'s target is ``(1 - alpha) p + alpha onehot(c_i)``
with ``p`` the image's own label distribution and ``c_i = (argmax p + 1 + i) mod K``: each member
sure of its own wrong class, so the members disagree (epistemic) while each keeps the image's
own ambiguity (a blend stays two-way inside every member: aleatoric). Validity on the VALIDATION
split with the bench's design and rule. Usage:

    python scripts/groundtruth_oracle_trial.py --data npz:/work/runs/gt-paired/data/train.npz --json FILE
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
from unsure.groundtruth.epistemic import KINDS, paste
from unsure.groundtruth.images import cause_images
from unsure.groundtruth.regions import random_boxes, sides
from unsure.models.registry import ARCHS
from unsure.posteriors import DeepEnsemble
from unsure.training.classifier import TrainConfig, fit

from groundtruth_prior_trial import Joint, emit, test_accuracy  # the same folder (python puts it on sys.path)


def oracle_loss(alpha: float, share: float, side: int, other: torch.Tensor, generator: torch.Generator):
    def loss_fn(model, xb, yb, epoch):
        n, K = len(xb), yb.shape[1]
        sel = (torch.rand(n, generator=generator) < share).nonzero().squeeze(1)
        xp = None
        if len(sel):
            boxes = random_boxes(len(sel), xb.shape[-1], side, generator)
            kinds = [KINDS[int(k)] for k in torch.randint(0, len(KINDS), (len(sel),), generator=generator)]
            xp = paste(xb[sel], boxes, kinds, generator, other)
            own = yb[sel].argmax(1)  # [m]
        total = 0.0
        for i, m in enumerate(model.members):
            total = total + nn.functional.cross_entropy(m(xb), yb)
            if xp is not None:
                target = (1 - alpha) * yb[sel] + alpha * nn.functional.one_hot((own + 1 + i) % K, K).to(yb.dtype)
                total = total + share * nn.functional.cross_entropy(m(xp), target)
        return total
    return loss_fn


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--base", default="fashion-mnist")
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit", type=int, default=30000)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--patched-share", type=float, default=0.3)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    trained = json.loads(Path(a.data.removeprefix("npz:")).with_name("train.json").read_text())["design"]
    design = Design(partner=training_fields(trained)["partner"], aleatoric_share=trained["aleatoric_share"])
    t0 = time.perf_counter()
    tr = load(a.data, "train", seed=0, limit=a.limit, subset_seed=a.seed)
    target = label_distribution(a.data, "train", seed=0, limit=a.limit, subset_seed=a.seed)
    opts = {"in_channels": tr.x.shape[1], "num_classes": target.shape[1], "image_size": tr.x.shape[-1]}
    nets = []
    for i in range(a.members):
        torch.manual_seed(1000 * (a.seed + i) + 1)
        nets.append(ARCHS.get("paper-cnn")(**opts))
    other = load("digits", "train").x[:2000]
    _, side = sides(tr.x.shape[-1], design.aleatoric_share, design.epistemic_share)
    cfg = TrainConfig(epochs=a.epochs, milestones=(a.epochs - 1,) if a.epochs > 2 else (), progress=False)
    joint = Joint(nets)
    fit(joint, tr.x, target, cfg, loss_fn=oracle_loss(a.alpha, a.patched_share, side, other,
                                                      torch.Generator().manual_seed(a.seed + 7)),
        generator=torch.Generator().manual_seed(a.seed))
    post = DeepEnsemble([m.eval() for m in joint.members])
    draw = post.draw(torch.Generator().manual_seed(0))
    ci = cause_images(post, draw, a.base, "val", a.n, 0, design)
    v = ci.validity
    acc = test_accuracy(draw, a.data)
    out = {"alpha": a.alpha, "patched_share": a.patched_share, "members": a.members, "epochs": a.epochs,
           "limit": a.limit, "test_accuracy_5000": round(acc, 4), "seconds": round(time.perf_counter() - t0),
           "validity": {k: round(e["share"], 3) for k, e in v.shares(ci.cs.kind, ci.cs.kinds).items()},
           "mean_uncertainty": {k: {m: round(float(x.mean()), 3) for m, x in uu.items()} for k, uu in v.u.items()}}
    emit(out, a.json)


if __name__ == "__main__":
    main()
