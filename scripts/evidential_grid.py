"""Choose the evidential recipe on the VALIDATION split: a small grid of evidence function x loss x
KL weight x annealing, each trained on a seeded training subset for a few epochs, scored on the
validation split (never test), next to a softmax network of the same architecture and budget.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/evidential_grid.py --data fashion-mnist --arch lenet \
        --limit 10000 --epochs 4 --out /work/runs/evidential-grid-fmnist-lenet.json

Prints one markdown row per setting (``val accuracy, NLL, ECE``) as it goes and writes all of them,
with the settings, to ``--out`` (JSON). ``--evidence`` / ``--losses`` / ``--kl-weights`` /
``--annealing`` are comma-separated lists whose product is the grid.
"""
from __future__ import annotations

import argparse
import itertools
import json
import time

import torch

from unsure.data import load
from unsure.evaluate import predictive_metrics
from unsure.run import model_factory
from unsure.training import TrainConfig
from unsure.training.fitters import fit_ensemble, fit_evidential


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--arch", default="lenet")
    p.add_argument("--limit", type=int, default=10000, help="training images (seeded subset)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--milestones", default="", help="learning-rate drops, e.g. 3")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--evidence", default="relu,softplus,exp")
    p.add_argument("--losses", default="mse,log,digamma")
    p.add_argument("--kl-weights", default="1,0.01")
    p.add_argument("--annealing", default="10", help="annealing epochs")
    p.add_argument("--no-softmax", action="store_true", help="skip the softmax reference")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    tr = load(args.data, "train", seed=args.seed, limit=args.limit, subset_seed=args.seed)
    va = load(args.data, "val", seed=args.seed)
    C, H, _ = tr.x.shape[1:]
    make = model_factory(args.arch, {"in_channels": C, "num_classes": int(tr.y.max()) + 1, "image_size": H})
    ms = tuple(int(t) for t in args.milestones.split(",") if t.strip())
    cfg = TrainConfig(epochs=args.epochs, lr=args.lr, milestones=ms, progress=False)
    rows = []

    def score(post, setting):
        m = predictive_metrics(post, va.x, va.y, generator=torch.Generator().manual_seed(0))
        rows.append({**setting, **{f"val_{k}": v for k, v in m.items()}, "seconds": time.perf_counter() - t0})
        print(f"| {' | '.join(str(v) for v in setting.values())} | {m['accuracy']:.4f} | {m['nll']:.4f} "
              f"| {m['ece']:.4f} |", flush=True)

    print(f"{args.data} {args.arch}: {len(tr.y)} training images, {args.epochs} epochs, {len(va.y)} val images")
    if not args.no_softmax:
        t0 = time.perf_counter()
        score(fit_ensemble(make, tr.x, tr.y, cfg, generator=torch.Generator().manual_seed(args.seed), members=1),
              {"evidence": "softmax", "loss": "ce", "kl_weight": "-", "annealing_epochs": "-"})
    grid = itertools.product(args.evidence.split(","), args.losses.split(","),
                             [float(w) for w in args.kl_weights.split(",")],
                             [int(a) for a in args.annealing.split(",")])
    for ev, loss, w, ann in grid:
        t0 = time.perf_counter()
        post = fit_evidential(make, tr.x, tr.y, cfg, generator=torch.Generator().manual_seed(args.seed),
                              evidence=ev, loss=loss, kl_weight=w, annealing_epochs=ann)
        score(post, {"evidence": ev, "loss": loss, "kl_weight": w, "annealing_epochs": ann})
    with open(args.out, "w") as f:
        json.dump({"args": vars(args), "train_images": len(tr.y), "val_images": len(va.y), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
