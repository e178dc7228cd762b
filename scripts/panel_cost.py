"""What the substitute panel (``unsure bench blurring``, 5 substitutes) costs per image at large
sizes, and what dominates: the attribution, or the perturbation forwards of each substitute; and
the seconds per test step for several forward-chunk sizes (``unsure.metrics.perturbation.forward_batch``).

    OMP_NUM_THREADS=1 python scripts/panel_cost.py --arch paper-cnn --channels 3 --size 224 \\
        [--members 5] [--steps 2,4] [--chunks 1,2,4,8] [--out docs/results/speed-scale/panel-224]

The models are random-weight ensembles (``unsure.bench.speed_grid.random_posterior``: the cost
does not depend on the weights). A full test at 3x224x224 (5% of the pixels: 2509 steps) does not
fit a CPU session, so each substitute's test is run to ``n`` = each of ``--steps`` removed pixels:
the slope between the two runs is the seconds per step (``G_r`` forwards of every member, one per
draw of the substitute), the intercept the substitute's preparation (blurred copies, noise draws,
ROAD's solve). The full test's time is projected as ``intercept + 2509 x slope`` (the 2% and 5%
fractions share one sequence of steps). CPU seconds of this process (``time.process_time``) on the
CPU, synchronised wall seconds on a GPU (``--device cuda``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from unsure.attribution import make_method
from unsure.attribution.spec import parse_methods
from unsure.bench.base import environment, markdown_table
from unsure.bench.speed_grid import GridPoint, random_posterior
from unsure.metrics.blurring import blurring_test, n_pixels
from unsure.metrics.perturbation import forward_batch
from unsure.metrics.replacements import PANEL

SIGMAS = [0.2, 0.4, 0.6, 1.0, 1.6, 2.4, 3.6, 5.0, 8.0, 12.0, 20.0]  # the panel pages' grid


DEVICE = torch.device("cpu")


def cpu_time(fn) -> float:
    """CPU seconds of this process on the CPU (a shared machine), synchronised wall seconds on a GPU."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize(DEVICE)
        return time.perf_counter() - t
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="paper-cnn")
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--methods", default="default,grad", help="attributions timed")
    ap.add_argument("--steps", default="2,4", help="two test lengths n (removed pixels) for the slope")
    ap.add_argument("--chunks", default="1,2,4,8", help="forward-chunk sizes timed on the whole panel")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--no-substitutes", action="store_true", help="skip the per-substitute runs (chunks only)")
    ap.add_argument("--out", default=None, help="folder for panel-cost.json / panel-cost.md")
    a = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(a.device)
    torch.manual_seed(0)
    H = W = a.size
    p = GridPoint(a.arch, a.channels, a.size, a.classes, a.members, 1, 1)
    x = torch.rand(1, a.channels, H, W, generator=torch.Generator().manual_seed(0)).to(DEVICE)
    post = random_posterior(p, x, 10.0, seed=0)
    n_lo, n_hi = (int(v) for v in a.steps.split(","))
    n_full = n_pixels(0.05, H, W)
    default_chunk = forward_batch(None, DEVICE, x.shape)
    res = {"attribution": {}, "substitutes": {}, "chunks": {}, "n_full": n_full, "default_chunk": default_chunk}

    maps = None
    for spec in parse_methods(a.methods):
        m = make_method(spec.name, **spec.options)
        m.attribute(post, x, "epistemic")  # warm-up
        out = []
        res["attribution"][spec.label] = cpu_time(lambda: out.append(m.attribute(post, x, "epistemic").maps))
        maps = out[0] if maps is None else maps

    def test(n: int, replacement: str, chunk: int | None) -> float:
        f = (n + 0.25) / (H * W)  # n_pixels rounds to n
        return cpu_time(lambda: blurring_test(post, x, maps, fraction=f, sigmas=SIGMAS, batch_size=chunk,
                                              replacement=replacement, generator=torch.Generator().manual_seed(0)))

    test(1, ",".join(PANEL), None)  # warm-up
    for r in [] if a.no_substitutes else [*PANEL, ",".join(PANEL)]:
        lo, hi = test(n_lo, r, None), test(n_hi, r, None)
        slope = max(hi - lo, 0.0) / (n_hi - n_lo)
        fixed = max(lo - n_lo * slope, 0.0)
        res["substitutes"][r] = {"seconds_n_lo": lo, "seconds_n_hi": hi, "seconds_per_step": slope,
                                 "fixed_seconds": fixed, "projected_seconds": fixed + n_full * slope}
    for c in (int(v) for v in a.chunks.split(",")):
        res["chunks"][str(c)] = test(n_hi, ",".join(PANEL), c) / n_hi

    first = next(iter(res["attribution"].values()))  # the first method's attribution
    rows = [[f"attribution, {k}", v, v / first] for k, v in res["attribution"].items()]
    rows += [[f"test, substitute {r}" if "," not in r else "test, whole panel (one batched pass)",
              v["projected_seconds"], v["projected_seconds"] / first]
             for r, v in res["substitutes"].items()]
    srows = [[r, v["seconds_per_step"], v["fixed_seconds"], v["projected_seconds"]] for r, v in res["substitutes"].items()]
    crows = [[c, s, "yes" if int(c) == default_chunk else ""] for c, s in res["chunks"].items()]
    md = (f"Panel cost on one image {a.channels}x{H}x{W}, random-weight ensemble of {a.members} `{a.arch}` "
          f"({a.classes} classes) on {DEVICE}, {torch.get_num_threads()} thread(s), sigmas {SIGMAS}; "
          f"{'wall' if DEVICE.type == 'cuda' else 'CPU'} seconds of this process. Full test = 5% of the pixels = {n_full} steps, projected from n = {n_lo} and "
          f"{n_hi}.\n\n"
          + markdown_table(["part", "CPU s / image", f"x attribution ({next(iter(res['attribution']))})"],
                           rows, ".4g")
          + "\nPer substitute (each alone):\n\n"
          + markdown_table(["substitute", "s / step", "fixed s", "projected s (full test)"], srows, ".4g")
          + "\nWhole panel, seconds per step by forward chunk (images per forward):\n\n"
          + markdown_table(["chunk", "s / step", "the default for this size"], crows, ".4g"))
    print(md)
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "panel-cost.json").write_text(json.dumps({"results": res, "config": vars(a),
                                                         "environment": environment()}, indent=2) + "\n")
        (out / "panel-cost.md").write_text(md)


if __name__ == "__main__":
    main()
