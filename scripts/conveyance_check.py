"""The closed-form conveyance reference of a run against Monte Carlo over the posterior's own members.

    python scripts/conveyance_check.py /work/runs/prop-digits-dc --n 100 --samples 20,1000

For the ``--n`` most epistemically uncertain test images (one draw seeded by ``--seed``),
the empirical variance over S members of the explainer's map of the predicted class (the authors'
"empirical" uncertainty attribution) is compared with the closed-form reference
(:func:`unsure.metrics.conveyance.covariance_reference`) by Spearman and cosine, per image; printed
as means. Where the reference is exact (DropConnect on the head of a ReLU net), the similarity goes
to 1 as S grows; with the posterior's own S it is what the authors' empirical attribution scores.
"""
from __future__ import annotations

import argparse

import torch

from unsure.data import load
from unsure.measures import epistemic
from unsure.metrics.conveyance import conveyance_similarity, covariance_reference
from unsure.run import load_run


def member_variance(post, x: torch.Tensor, c: torch.Tensor, samples: int, explainer: str, seed: int) -> torch.Tensor:
    """``[B,H,W]`` variance over ``samples`` members of the map of class ``c`` (channels summed)."""
    post.samples = samples
    draw = post.draw(torch.Generator().manual_seed(seed))
    maps = []
    for mem in draw.members:
        xi = x.clone().requires_grad_(True)
        g, = torch.autograd.grad(mem(xi).gather(1, c[:, None]).sum(), xi)
        maps.append((g * xi if explainer == "inputgrad" else g).detach().double().sum(1))  # [B,H,W]
    M = torch.stack(maps)  # [S,B,H,W]
    return M.var(0, unbiased=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--samples", default="20,1000")
    p.add_argument("--explainer", default="inputgrad")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    post = load_run(args.run)
    data = post.run_config["data"]
    te = load(data, "test")
    with torch.no_grad():
        u = epistemic(post.sample_logits(te.x, torch.Generator().manual_seed(args.seed)))
        idx = u.argsort(descending=True)[:args.n]
        x = te.x[idx]
        c = post.net(x).argmax(1)
    ref = covariance_reference(post, x, args.explainer)
    print(f"{args.run}: {len(x)} most uncertain test images, explainer {args.explainer}")
    print("| S | Spearman | cosine |\n|---|---|---|")
    for s in (int(t) for t in args.samples.split(",")):
        sim = conveyance_similarity(member_variance(post, x, c, s, args.explainer, args.seed), ref)
        print(f"| {s} | {float(sim['spearman'].nanmean()):.3f} | {float(sim['cosine'].nanmean()):.3f} |")


if __name__ == "__main__":
    main()
