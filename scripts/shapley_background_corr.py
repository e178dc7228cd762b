"""How much a background set changes Shapley maps (issue 29): per image, the Pearson and Spearman
correlation between the single-reference ``shapley`` map (default: blur substitute) and each
``shapley:background=...`` map, on the N test images with the largest epistemic uncertainty (the
blurring bench's selection), same seed for every method.

    OMP_NUM_THREADS=1 python scripts/shapley_background_corr.py --run runs/digits-ens5 --n 8 \\
        --backgrounds "data:data=digits,panel"

Prints one markdown row per image and background, then the median, min and max per background.
"""
from __future__ import annotations

import argparse

import torch

import unsure
from unsure.data import load
from unsure.measures.selection import most_uncertain
from unsure.run import read_config


def ranks(v: torch.Tensor) -> torch.Tensor:
    """Average ranks (ties share), for Spearman's correlation."""
    order = v.argsort()
    r = torch.empty_like(v)
    r[order] = torch.arange(len(v), dtype=v.dtype)
    for u in v.unique():  # ties: their mean rank
        m = v == u
        if m.sum() > 1:
            r[m] = r[m].mean()
    return r


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/digits-ens5")
    p.add_argument("--data", default=None, help="data spec (default: the run's)")
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--backgrounds", default="data:data=digits,panel",
                   help="comma-separated values of shapley's background option (with its own options after ':')")
    p.add_argument("--reference", default="shapley", help="the single-reference spec compared against")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    post = unsure.load_run(args.run)
    data = args.data or read_config(args.run)["data"]
    d = load(data, "test")
    idx = most_uncertain(post.draw(torch.Generator().manual_seed(args.seed)), d.x, args.n, "epistemic")
    x = d.x[idx]

    def maps(spec: str) -> torch.Tensor:
        res = unsure.attribute(post, x, spec, target="epistemic", generator=torch.Generator().manual_seed(args.seed))
        return res.maps.detach().double().flatten(1)

    ref = maps(args.reference)
    print(f"{args.run}: `{args.reference}` against backgrounds, {len(idx)} most epistemic test images {idx.tolist()}\n")
    print("| background | image | Pearson | Spearman |\n|---|---|---|---|")
    summary = []
    for bg in args.backgrounds.split(","):
        other = maps(f"shapley:background={bg}")
        pr = [pearson(ref[i], other[i]) for i in range(len(idx))]
        sp = [pearson(ranks(ref[i]), ranks(other[i])) for i in range(len(idx))]
        for i in range(len(idx)):
            print(f"| `{bg}` | {int(idx[i])} | {pr[i]:.3f} | {sp[i]:.3f} |")
        t, s = torch.tensor(pr), torch.tensor(sp)
        summary.append(f"| `{bg}` | {t.quantile(0.5):.3f} ({t.min():.3f}-{t.max():.3f}) "
                       f"| {s.quantile(0.5):.3f} ({s.min():.3f}-{s.max():.3f}) |")
    print("\n| background | Pearson median (min-max) | Spearman median (min-max) |\n|---|---|---|")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
