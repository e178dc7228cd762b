"""One-pass ensembles (``DeepEnsemble(one_pass=True)``, torch.func vmap) against the member loop
(``one_pass=False``): CPU seconds of this process per image for the forward (``draw(x)``, no grad), the gradient of
the total uncertainty (``grad``) and the default method, with random-weight members.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python scripts/one_pass_speed.py \
        --arch paper-cnn,resnet18 --members 5,20 --classes 10,100 --batch 16

Prints one markdown table row per (arch, members, K, what): loop s/img, one-pass s/img, speed-up
(best of ``--repeats`` after one warm-up call), and the largest difference between the two
results.
"""
from __future__ import annotations

import argparse
import time

import torch

import unsure
from unsure.models import PaperCNN, ResNet18
from unsure.posteriors.ensemble import DeepEnsemble
from unsure.posteriors.mc_dropout import MCDropout
from unsure.posteriors.one_pass import macs_per_image


def build(arch: str, members: int, k: int, width: float):
    nets = []
    for s in range(members):
        torch.manual_seed(s)
        if arch == "paper-cnn":
            nets.append(PaperCNN(num_classes=k))
        else:
            nets.append(ResNet18(in_channels=3, num_classes=k, image_size=32, width=width))
    shape = (1, 28, 28) if arch == "paper-cnn" else (3, 32, 32)
    return nets, shape


def timed(fn, repeats: int):
    out = fn()  # warm-up (and the stacked weights)
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="paper-cnn,resnet18")
    ap.add_argument("--members", default="5,20")
    ap.add_argument("--classes", default="10,100")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--width", type=float, default=1.0, help="ResNet-18 width factor")
    ap.add_argument("--what", default="forward,grad,default")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--posterior", default="ensemble", choices=["ensemble", "mc-dropout"],
                    help="mc-dropout: one network (the first member), S samples, batched=True/False")
    a = ap.parse_args()
    print(f"torch threads {torch.get_num_threads()}, batch {a.batch}, ResNet-18 width {a.width}")
    print("| arch | members | K | what | MMAC/img/member | loop s/img | one-pass s/img | speed-up | max diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for arch in a.arch.split(","):
        for S in map(int, a.members.split(",")):
            for K in map(int, a.classes.split(",")):
                nets, shape = build(arch, S, K, a.width)
                torch.manual_seed(0)
                x = torch.rand(a.batch, *shape)
                ens = DeepEnsemble(nets) if a.posterior == "ensemble" else MCDropout(nets[0], S)
                switch = "one_pass" if a.posterior == "ensemble" else "batched"
                macs = macs_per_image(nets[0].eval(), x) / 1e6
                for what in a.what.split(","):
                    res = {}
                    for mode in (False, True):
                        setattr(ens, switch, mode)
                        if what == "forward":
                            def fn():
                                with torch.no_grad():
                                    return ens.draw(torch.Generator().manual_seed(0))(x)
                        else:
                            def fn(what=what):
                                return unsure.attribute(ens, x, method=what, target="total",
                                                        generator=torch.Generator().manual_seed(0)).maps
                        res[mode] = timed(fn, a.repeats)
                    diff = (res[True][1] - res[False][1]).abs().max().item()
                    tl, tf = res[False][0] / a.batch, res[True][0] / a.batch
                    print(f"| {arch}{' MC dropout' if a.posterior != 'ensemble' else ''} | {S} | {K} | {what} | {macs:.1f} | {tl:.5f} | {tf:.5f} | "
                          f"{tl / tf:.2f}x | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
