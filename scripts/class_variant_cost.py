"""Cost of UA-Backprop's class variant (``ua-backprop-class``: class grouping, blur reference) at many
classes, with and without pruning, against one gradient of the same target (``grad``), on a
random-weight K-class ensemble of paper CNNs (``unsure.bench.large_k.random_ensemble``: each last
layer scaled so the logits have standard deviation ``--logit-std``; top p is the members' mean
top probability).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python scripts/class_variant_cost.py \
        --classes 100,1000 --logit-std 10,20 --prune none,auto,0.999 --n 8 --batch 8

Per row: CPU seconds of this process per image (best of ``--repeats``; the machine is shared), the ratio to ``grad``, the class terms that got
a backward row (mean per image), the completeness error ``max |sum M - U| / max(1, U)`` and the
distance to the unpruned map ``max_b sum |M - M_unpruned| / U``.
"""
from __future__ import annotations

import argparse
import time

import torch

import unsure
from unsure.bench.large_k import random_ensemble


def timed(fn, repeats):
    out, best = None, float("inf")
    for _ in range(repeats):
        t = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", default="100,1000")
    ap.add_argument("--logit-std", default="10,20")
    ap.add_argument("--prune", default="none,auto,0.999")
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--target", default="total")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    print(f"torch threads {torch.get_num_threads()}, {a.members} members, {a.n} images 1x28x28, "
          f"batch {a.batch}, target {a.target}")
    print("| K | logit std | top p | prune | CPU s/img | x grad | kept terms | completeness err | "
          "map distance to unpruned |")
    print("|---|---|---|---|---|---|---|---|---|")
    for K in map(int, a.classes.split(",")):
        for std in map(float, a.logit_std.split(",")):
            torch.manual_seed(0)
            x = torch.rand(a.n, 1, 28, 28)
            post = random_ensemble(K, a.members, x, std, seed=0)
            with torch.no_grad():
                top = torch.softmax(post.draw()(x), -1).amax(-1).mean().item()

            def run(method, **opts):
                maps, U, kept = [], [], []
                for s in range(0, a.n, a.batch):
                    r = unsure.attribute(post, x[s:s + a.batch], method=method, target=a.target, **opts)
                    maps.append(r.maps)
                    U.append(r.meta.get("uncertainty", torch.zeros(len(r.maps))))
                    kept.append(r.meta.get("kept_logits", torch.zeros(len(r.maps))))
                return torch.cat(maps).double(), torch.cat(U).double(), torch.cat(kept).double()

            run("grad")  # warm-up
            t_grad, _ = timed(lambda: run("grad"), a.repeats)
            ref = None
            for p in a.prune.split(","):
                opts = {"prune": None if p == "none" else p if p == "auto" else float(p)}
                t, (M, U, kept) = timed(lambda: run("ua-backprop-class", **opts), a.repeats)
                if ref is None and p == "none":
                    ref = M
                err = ((M.sum((1, 2)) - U).abs() / U.abs().clamp_min(1)).max().item()
                dist = "-" if ref is None else \
                    f"{((M - ref).abs().sum((1, 2)) / U.clamp_min(1e-12)).max().item():.1e}"
                print(f"| {K} | {std:g} | {top:.2f} | {p} | {t / a.n:.4f} | {t / t_grad:.1f} | "
                      f"{kept.mean().item() / a.members:.1f} | {err:.1e} | {dist} |",
                      flush=True)


if __name__ == "__main__":
    main()
