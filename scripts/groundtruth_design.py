"""Validity of the ground truth on the VALIDATION split for a grid of test-time design choices
(epistemic patch size, kinds, the validity threshold): how docs/results/groundtruth.md chose
them. Forward passes only (no maps). Usage:

    python scripts/groundtruth_design.py --run RUN --data fashion-mnist --n 300 \
        --epistemic-shares 0.3,0.36,0.45 --min-rises 0.02,0.05,0.1 [--json FILE]
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace

import torch

from unsure.bench.groundtruth import default_other
from unsure.data import load
from unsure.groundtruth import Design, cause_set
from unsure.groundtruth.cache import partner_for
from unsure.groundtruth.validity import NEAR, check_validity, decide
from unsure.run import load_run


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--epistemic-shares", default="0.36")
    p.add_argument("--min-rises", default="0.05")
    p.add_argument("--test-weights", default="0.5")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compares", default="nats,ratio")
    p.add_argument("--partner", default=None, help="blend partners: 'any' other class or the fixed pair 'paired' "
                                                  "(default: as the run was trained)")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    post = load_run(a.run)
    a.partner = partner_for(post.run_config, a.partner)
    d = load(a.data, "val")
    pick = torch.randperm(len(d.y), generator=torch.Generator().manual_seed(a.seed))[:a.n]
    other = load(default_other(a.data), "train").x[:2000]
    draw = post.draw(torch.Generator().manual_seed(a.seed))
    K = int(post.run_config["arch_options"]["num_classes"])
    rows = []
    for es in (float(v) for v in a.epistemic_shares.split(",")):
        for tw in (float(v) for v in a.test_weights.split(",")):
            design = replace(Design(), epistemic_share=es, test_weight=tw, partner=a.partner)
            cs = cause_set(d.x[pick], d.y[pick], design, torch.Generator().manual_seed(a.seed + 1), other, K)
            u = check_validity(draw, cs).u  # the forward passes once; the rules below reuse them
            for mr, cmp in ((float(v), c) for v in a.min_rises.split(",") for c in a.compares.split(",")):
                v = decide(u, mr, NEAR, cmp)
                sh = v.shares(cs.kind, cs.kinds)
                rows.append({"epistemic_share": es, "test_weight": tw, "min_rise": mr, "compare": cmp,
                             **{k: round(e["share"], 3) for k, e in sh.items()}})
                print(json.dumps(rows[-1]))
            u = {k: {m: round(float(x.mean()), 3) for m, x in uu.items()} for k, uu in v.u.items()}
            print(json.dumps({"epistemic_share": es, "test_weight": tw, "mean_uncertainty": u}))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"run": a.run, "data": a.data, "n": a.n, "partner": a.partner, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    from unsure.errors import UnsureError

    try:
        main()
    except UnsureError as e:
        raise SystemExit(f"groundtruth_design: {e}") from None
