"""Images through the members' first convolution per call of the default and of the floor (issue 28;
docs/results/speed-scale.md, "One forward per call"), and optionally a cProfile of the default.

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/default_forward_count.py paper-cnn:1x28:k10:s5:b16:n16:core
    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/default_forward_count.py paper-cnn:1x8:k10:s5:b8:n8:all --profile

The count excludes the blur references' own convolutions (one input channel, like a grayscale
network's first layer): those are told apart by the call stack (``ops/blur.py``)."""
from __future__ import annotations

import argparse
import cProfile
import pstats
import traceback

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from unsure.attribution import make_method
from unsure.bench.speed_grid import gradient_floor, parse_point, random_posterior


class FirstConv(TorchDispatchMode):
    """Counts the images of every convolution whose weight takes the images' C channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels, self.images, self.calls = channels, 0, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.convolution.default and args[1].shape[1] == self.channels:
            if not any("ops/blur.py" in f.filename for f in traceback.extract_stack()):
                self.images += args[0].shape[0]
                self.calls.append((args[0].shape[0], torch.is_grad_enabled()))
        return func(*args, **(kwargs or {}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("point")
    ap.add_argument("--logit-std", type=float, default=10.0)
    ap.add_argument("--profile", action="store_true", help="cProfile 200 calls of the default")
    a = ap.parse_args()
    p = parse_point(a.point)
    target = "total" if p.samples == 1 else "epistemic"
    x = torch.rand(p.n, p.channels, p.size, p.size, generator=torch.Generator().manual_seed(0))
    post = random_posterior(p, x, a.logit_std, 0)
    draw = post.draw(torch.Generator().manual_seed(0))
    method = make_method("default")
    floor = gradient_floor(draw, target)
    default = lambda xb: method.attribute(post, xb, target, draw=draw,  # noqa: E731
                                          generator=torch.Generator().manual_seed(0))
    for name, fn in (("floor", floor), ("default", default)):
        fn(x[:1].clone())  # a first call, as the bench's warm-up
        with FirstConv(p.channels) as c:
            fn(x[:p.batch].clone())
        print(f"{name}: {c.images} images through the first convolution for {p.batch} images "
              f"(calls [batch, grad]: {c.calls})")
    if a.profile:
        xs = [x[:p.batch].clone() for _ in range(200)]
        pr = cProfile.Profile()
        pr.enable()
        for xb in xs:
            default(xb)
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
