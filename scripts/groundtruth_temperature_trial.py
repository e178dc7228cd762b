"""Trial (issue 24, sixth session): does sharpening each member help validity? Each member's
logits are divided by a temperature ``T`` (``T < 1`` sharpens) before the uncertainties are
taken; a blend of two equally likely classes keeps its two-way ambiguity under sharpening, a
patch's hedge over several unequal classes may not. Validity on the VALIDATION split, with the
bench's design and rule; forward passes only. Usage:

    python scripts/groundtruth_temperature_trial.py --run /work/runs/gt-paired/ens5 \
        --temperatures 1,0.75,0.5,0.35 --json FILE
"""
from __future__ import annotations

import argparse
import json

import torch

from unsure.groundtruth import Design
from unsure.groundtruth.images import cause_images
from unsure.run import load_run


class Tempered:
    """A posterior draw whose logits are divided by ``t`` (the same members, the same draw)."""

    def __init__(self, draw, t: float):
        self.draw, self.t, self.modules = draw, t, draw.modules

    def __call__(self, x):
        return self.draw(x) / self.t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True)
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--partner", default="paired")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--temperatures", default="1,0.75,0.5,0.35")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    post = load_run(a.run)
    draw = post.draw(torch.Generator().manual_seed(0))
    rows = []
    for t in (float(v) for v in a.temperatures.split(",")):
        ci = cause_images(post, Tempered(draw, t), a.data, "val", a.n, 0, Design(partner=a.partner))
        s, u = ci.validity.shares(ci.cs.kind, ci.cs.kinds), ci.validity.u
        rows.append({"temperature": t, "validity": {k: round(s[k]["share"], 3) for k in ("aleatoric", "epistemic", "both", "all")},
                     "mean_uncertainty": {v: {m: round(float(u[v][m].mean()), 3) for m in ("aleatoric", "epistemic")}
                                          for v in ("clean", "aleatoric", "epistemic", "both")}})
        print(json.dumps(rows[-1]), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"run": a.run, "data": a.data, "n": a.n, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
