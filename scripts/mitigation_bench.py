"""Run ``unsure bench mitigation`` with the paper's Grad baseline available.

The library registers no plain gradient method yet (``unsure methods`` lists none named ``grad``);
until it does, this script registers ``grad`` = ``|dU/dx|`` averaged over channels (the paper's
Grad baseline for uncertainty attribution) and then runs the CLI with the given arguments:

    OMP_NUM_THREADS=1 .venv/bin/python scripts/mitigation_bench.py --run runs/fmnist-ens5 ...
"""
from __future__ import annotations

import sys

import torch

from unsure.attribution import METHODS, Attribution, Method
from unsure.cli.main import main

if "grad" not in METHODS:

    @METHODS.register("grad", "Grad: |d target / d x|, channel mean (script fallback)")
    class Grad(Method):
        name = "grad"

        def _attribute(self, x, target, ctx):
            x = x.detach().requires_grad_(True)
            with torch.enable_grad():
                u = target(ctx.draw(x))  # [S,B,K] -> [B]
                (g,) = torch.autograd.grad(u.sum(), x)  # images are independent: sum gives per-image grads
            raw = g.abs()  # [B,C,H,W]
            return Attribution(raw.mean(1), raw, {})


if __name__ == "__main__":
    sys.exit(main(["bench", "mitigation", *sys.argv[1:]]))
