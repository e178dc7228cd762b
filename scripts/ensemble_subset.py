"""Save a sub-ensemble of a trained ensemble run as its own run directory, with its test metrics.

Used for the "Ensemble-1" row of docs/ua-backprop.md (paper Table 12) and the per-member accuracies
of docs/results/posteriors.md:

    .venv/bin/python scripts/ensemble_subset.py runs/fmnist-ens5 runs/fmnist-ens1 --members 0
"""
from __future__ import annotations

import argparse
import json

import torch

import unsure
from unsure.data import load
from unsure.evaluate import predictive_metrics
from unsure.posteriors import DeepEnsemble
from unsure.run import read_config, save_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("out")
    p.add_argument("--members", default="0", help="comma-separated member indices to keep")
    p.add_argument("--force", action="store_true")
    args = p.parse_args()
    post = unsure.load_run(args.run)
    if not isinstance(post, DeepEnsemble):
        raise SystemExit(f"{args.run} is a {post.name} run, not an ensemble")
    keep = [int(i) for i in args.members.split(",")]
    sub = DeepEnsemble([post.members[i] for i in keep])
    cfg = read_config(args.run)
    te = load(cfg["data"], "test")
    metrics = predictive_metrics(sub, te.x, te.y, generator=torch.Generator().manual_seed(0))
    new = {k: v for k, v in cfg.items() if k not in ("posterior", "created", "metrics")}
    new |= {"metrics": metrics, "subset_of": args.run, "members_kept": keep}
    save_run(args.out, sub, new, overwrite=args.force)
    print(json.dumps({"out": args.out, "members": keep, **metrics}))


if __name__ == "__main__":
    main()
