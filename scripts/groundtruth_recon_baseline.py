"""How much of CLUE's ground-truth score is the VAE's reconstruction error? Scores the map
``|x - VAE.reconstruct(x)|`` (summed over channels; no model, no uncertainty) on the same valid
cause images as ``unsure bench groundtruth`` builds (same seed, ``--n``, design), next to nothing
else: if it localises the planted causes as well as CLUE, CLUE's win is the VAE's, not the
uncertainty's. docs/results/groundtruth.md section 7a.

    python scripts/groundtruth_recon_baseline.py --run RUN --vae VAE_DIR --n 60 [--json FILE]
"""
from __future__ import annotations

import argparse
import json

import torch

from unsure.groundtruth.cache import base_of_run, partner_for
from unsure.groundtruth.generate import Design
from unsure.groundtruth.images import cause_images
from unsure.groundtruth.score import localisation
from unsure.groundtruth.tasks import tasks
from unsure.models.vae import load_vae
from unsure.run import load_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--vae", required=True)
    p.add_argument("--n", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="test")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    post = load_run(a.run)
    base = base_of_run(post.run_config)
    design = Design(partner=partner_for(post.run_config, None))
    draw = post.draw(torch.Generator().manual_seed(a.seed))
    ci = cause_images(post, draw, base, a.split, a.n, a.seed, design)
    vae = load_vae(a.vae)
    out = {"run": a.run, "vae": a.vae, "n": a.n, "split": a.split, "results": {}}
    for t, task in tasks(ci.cs, ci.validity).items():
        if len(task) == 0:
            continue
        with torch.no_grad():
            err = (task.x - vae.reconstruct(task.x)).abs().sum(1)  # [m,C,H,W] -> [m,H,W]
        res, _, _ = localisation({"reconstruction-error": err}, task, a.seed)
        out["results"][t] = {k: round(v, 3) if isinstance(v, float) else v for k, v in res["reconstruction-error"].items()}
    print(json.dumps(out, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
