"""Join the members of several ensemble runs (same data, architecture and recipe, different
seeds) into one ensemble run, with its test metrics: how the ground-truth page trained its
5-member Fashion-MNIST ensemble as five parallel one-member trainings on a shared CPU.

    .venv/bin/python scripts/ensemble_join.py runs/m0 runs/m1 runs/m2 runs/m3 runs/m4 --out runs/ens5
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
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--force", action="store_true")
    args = p.parse_args()
    cfgs = [read_config(r) for r in args.runs]
    for key in ("data", "arch", "arch_options"):
        if any(c[key] != cfgs[0][key] for c in cfgs):
            raise SystemExit(f"the runs differ in {key}; only runs of the same data and architecture join")
    members = []
    for r in args.runs:
        post = unsure.load_run(r)
        if not isinstance(post, DeepEnsemble):
            raise SystemExit(f"{r} is a {post.name} run, not an ensemble")
        members += list(post.members)
    ens = DeepEnsemble(members)
    te = load(cfgs[0]["data"], "test")
    metrics = predictive_metrics(ens, te.x, te.y, generator=torch.Generator().manual_seed(0))
    new = {k: v for k, v in cfgs[0].items() if k not in ("posterior", "created", "metrics", "command", "settings")}
    new |= {"metrics": metrics, "joined_from": args.runs, "seeds": [c["seed"] for c in cfgs],
            "train_seconds": [c.get("train_seconds") for c in cfgs],
            "member_metrics": [c.get("metrics") for c in cfgs]}
    save_run(args.out, ens, new, overwrite=args.force)
    print(json.dumps({"out": args.out, "members": len(members), **metrics}))


if __name__ == "__main__":
    main()
