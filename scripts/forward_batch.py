"""Seconds of the 5-substitute blurring test for several forward-pass chunk sizes, on five
random-weight paper CNNs on 28x28 images (the cost does not depend on the weights), to choose
``unsure.metrics.perturbation.CPU_FORWARD_BATCH``.

    OMP_NUM_THREADS=1 python scripts/forward_batch.py [--images 4] [--sizes 64,128,...]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_ensemble import paper_cnns  # noqa: E402
from unsure.metrics.blurring import blurring_test  # noqa: E402
from unsure.metrics.replacements import PANEL  # noqa: E402
from unsure.posteriors.protocol import as_posterior  # noqa: E402

SIGMAS = [0.2, 0.4, 0.6, 1.0, 1.6, 2.4, 3.6, 5.0, 8.0, 12.0, 20.0]  # the panel pages' grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--sizes", default="32,64,128,256,512,1024,4096", help="chunk sizes to time")
    ap.add_argument("--repeats", type=int, default=2, help="runs per size; the fastest is kept")
    a = ap.parse_args()
    torch.manual_seed(0)
    post = as_posterior(paper_cnns())
    x, maps = torch.rand(a.images, 1, 28, 28), torch.rand(a.images, 28, 28)
    print(f"threads {torch.get_num_threads()}, {a.images} images 28x28, panel {','.join(PANEL)}")
    print("| forward chunk | seconds per image |\n|---|---|")
    for bs in (int(s) for s in a.sizes.split(",")):
        best = float("inf")
        for _ in range(a.repeats):
            t = time.perf_counter()
            blurring_test(post, x, maps, fraction=[0.02, 0.05], sigmas=SIGMAS, batch_size=bs,
                          replacement=",".join(PANEL), generator=torch.Generator().manual_seed(0))
            best = min(best, time.perf_counter() - t)
        print(f"| {bs} | {best / a.images:.2f} |")


if __name__ == "__main__":
    main()
