"""Where the default's time goes beyond its floor at one speed-grid point (issue 28;
docs/results/speed-scale.md): CPU microseconds per call of the floor and of the default, and of
the default's stages (each stage's own time, measured by wrapping the function; ``_attribute`` is
the whole method without the checks and the probe of ``Method.attribute``).

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/default_fixed_costs.py paper-cnn:1x8:k10:s5:b8:n8
    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/default_fixed_costs.py paper-cnn:1x28:k10:s50:b4:n4:post=laplace --calls 300

The forward (``graph_forward``) and the backward (``draw_gradients``) are the floor's work; the
other stages are the fixed costs. Wrapping adds a few microseconds per stage.
"""
from __future__ import annotations

import argparse
import collections
import functools
import time

import torch

import unsure.attribution.base as base
import unsure.attribution.ua_backprop as ub
import unsure.attribution.ua_mixture as mx
from unsure.attribution import make_method
from unsure.bench.speed_grid import gradient_floor, grid_draw, parse_point, random_posterior

STAGES = [(base, "probe_once"), (ub.UABackprop, "_attribute"), (ub, "graph_forward"), (ub, "class_terms"),
          (ub, "mixture_maps"), (mx, "reference_images"), (mx, "draw_gradients"), (mx, "pixel_distribution")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("point", help="a speed-grid point (the tier is ignored)")
    ap.add_argument("--calls", type=int, default=1000)
    a = ap.parse_args()
    acc: collections.Counter = collections.Counter()
    for owner, name in STAGES:
        f = getattr(owner, name)

        def timed(*args, _f=f, _name=name, **kw):
            c = time.process_time()
            out = _f(*args, **kw)
            acc[_name] += time.process_time() - c
            return out
        setattr(owner, name, functools.wraps(f)(timed))
    p = parse_point(a.point)
    x = torch.rand(p.batch, p.channels, p.size, p.size, generator=torch.Generator().manual_seed(0))
    post = random_posterior(p, x, 10.0, 0)
    draw = grid_draw(post, p, 0)
    target = "total" if p.samples == 1 else "epistemic"
    method = make_method("default")
    floor = gradient_floor(draw, target)
    default = lambda xb: method.attribute(post, xb, target, draw=draw)  # noqa: E731
    for label, fn in (("floor", floor), ("default", default)):
        fn(x.clone())  # warm-up
        acc.clear()
        xs = [x.clone() for _ in range(a.calls)]  # fresh images per call, as the grid
        c = time.process_time()
        for xb in xs:
            fn(xb)
        total = (time.process_time() - c) / a.calls * 1e6
        stages = ", ".join(f"{k} {v / a.calls * 1e6:.0f}" for k, v in acc.items())
        print(f"{label}: {total:.0f} us per call of {p.batch} images" + (f" ({stages})" if stages else ""))


if __name__ == "__main__":
    main()
