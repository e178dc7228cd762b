"""``unsure bench speed``: seconds and peak memory per image of attribution methods, measured in
one run on the same device, batch and posterior draw (paper Table 6), with UA-Backprop's ratios to

(a) its floor: a bare forward plus the K per-logit input gradients of every member, batched, with no
    post-processing (``per_logit_gradients``);
(b) Grad (one backward);
(c) IG and Blur IG at 100 steps.

With ``--grid`` (or ``--quick``) it needs no run: it times the methods over image sizes, channels,
classes, samples and batch on random-weight ensembles, with each method's ratio to the gradient
floor and Captum's implementation of the same method (:mod:`.speed_grid`, :mod:`.speed_captum`).
"""
from __future__ import annotations

import argparse
import time

import torch
from tqdm.auto import tqdm

from ..attribution import make_method
from ..attribution._trace import per_logit_gradients
from ..attribution.spec import parse_methods
from ..data import load
from ..errors import UnsureError
from ..flags import batch_size_argument, invocation, methods_argument
from ..user_model import run_posterior
from .measure import sync, peak_bytes
from .base import BENCHES, Bench, BenchResult, common_arguments, markdown_table, output_dir, write_result

FLOOR = "floor (forward + K logit gradients per member)"


def time_call(fn, x: torch.Tensor, batch_size: int, device: torch.device, repeats: int):
    """Best-of-``repeats`` seconds per image over all chunks, and the peak bytes per image of one
    chunk (measured in a separate, untimed call: the CPU profiler slows what it watches)."""
    fn(x[: min(2, len(x))])  # warm-up: first-call allocations and kernel selection
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        for s in range(0, len(x), batch_size):
            fn(x[s:s + batch_size])
        sync(device)
        best = min(best, time.perf_counter() - t0)
    chunk = x[:batch_size]
    return best / len(x), peak_bytes(fn, chunk, device) / len(chunk)


def speed_benchmark(posterior, x, methods, batch_size: int, repeats: int = 1, seed: int = 0,
                    progress: bool = True, target: str = "epistemic") -> dict:
    """``{label: {"seconds_per_image", "peak_bytes_per_image"}}`` including the floor."""
    device = posterior.device
    draw = posterior.draw(torch.Generator().manual_seed(seed))
    out = {}
    s, m = time_call(lambda xb: per_logit_gradients(draw, xb), x, batch_size, device, repeats)
    out[FLOOR] = {"seconds_per_image": s, "peak_bytes_per_image": m}
    for spec in tqdm(methods, desc="methods", disable=not progress):
        method = make_method(spec.name, **spec.options)
        run = lambda xb: method.attribute(posterior, xb, target, draw=draw,  # noqa: E731
                                          generator=torch.Generator().manual_seed(seed))
        s, m = time_call(run, x, batch_size, device, repeats)
        out[spec.label] = {"seconds_per_image": s, "peak_bytes_per_image": m}
    return out


@BENCHES.register("speed", "seconds and peak memory per image of attribution methods (paper Table 6)")
class SpeedBench(Bench):
    name = "speed"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        from .speed_grid import GRIDS

        common_arguments(p, run_required=False)
        methods_argument(p, "speed", "methods, comma-separated NAME[:key=value...]; with --grid "
                                     "default: each grid point's tier (all, core or min)")
        p.add_argument("--grid", default=None,
                       help=f"no run needed: time over a grid of random-weight ensembles, one of "
                            f"{', '.join(GRIDS)} (default: about 25 CPU minutes) or comma-separated "
                            f"points ARCH:CxSIZE:kK:sS:bB[:nN][:TIER][:post=mc-dropout|laplace]")
        p.add_argument("--quick", action="store_true", help="--grid quick (about a minute)")
        p.add_argument("--logit-std", type=float, default=10.0,
                       help="with --grid: std of each random member's logits on the images")
        p.add_argument("--no-captum", action="store_true", help="with --grid: skip Captum's implementations")
        p.add_argument("--max-seconds", type=float, default=120.0,
                       help="with --grid: a method whose warm-up call says its measurement would take "
                            "longer is timed on that one call (marked ~); 0: no cap")
        p.add_argument("--one-pass", default=None, help="with --grid: auto, true or false: the ensembles' "
                                                        "member loop (false) or one torch.func pass (true); "
                                                        "MC dropout's batched draw, Laplace's shared trunk; "
                                                        "default: the library's")
        p.add_argument("--n", type=int, default=20, help="test images timed")
        batch_size_argument(p)
        p.add_argument("--repeats", type=int, default=2, help="best of this many timed runs")
        p.add_argument("--target", default="epistemic", help="uncertainty explained")

    def main(self, args: argparse.Namespace) -> int:
        if args.grid or args.quick:
            from .speed_grid_cli import main_grid

            return main_grid(args)
        if not (getattr(args, "run", None) or getattr(args, "model", None)):
            raise UnsureError("bench speed needs --run DIR or --model SPEC, or --grid NAME|POINTS "
                              "(random-weight models, no run)")
        post, data = run_posterior(args)
        methods = parse_methods(args.methods)
        x = load(data, "test", limit=args.n).x.to(post.device)
        from ..batching import resolve_batch_size

        args.batch_size = resolve_batch_size(args.batch_size, post.draw(torch.Generator().manual_seed(args.seed)), x)
        res = speed_benchmark(post, x, methods, args.batch_size, args.repeats, args.seed,
                              not args.no_progress, args.target)
        ua = next((k for k in res if k.split(":")[0] in ("default", "ua-backprop", "ua-backprop-class")), None)
        ratios = {}
        if ua:
            t = res[ua]["seconds_per_image"]
            for k, v in res.items():
                ratios[k] = v["seconds_per_image"] / t  # > 1: slower than UA-Backprop
        rows = [[k, v["seconds_per_image"], v["peak_bytes_per_image"] / 2**20,
                 ratios.get(k, float("nan"))] for k, v in res.items()]
        md = (f"Runtime on {post.device} ({torch.get_num_threads()} threads), {len(x)} {data} test "
              f"images, batch {args.batch_size}, posterior with S={post.num_samples}, target "
              f"{args.target}; best of {args.repeats}.\n\n"
              + markdown_table(["method", "s / image", "peak MiB / image", "time / UA-Backprop"], rows, ".4g"))
        config = {"run": args.run, "model": getattr(args, "model", None), "data": data, "n": len(x), "batch_size": args.batch_size,
                  "repeats": args.repeats, "seed": args.seed, "device": str(post.device),
                  "methods": [m.label for m in methods], "target": args.target}
        write_result(output_dir(args, "speed"), "speed",
                     BenchResult({"methods": res, "ratio_to_ua_backprop": ratios}, md, config), args.json,
                     invocation(args))
        print(md)
        return 0
