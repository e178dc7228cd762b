"""``unsure bench speed``: seconds and peak memory per image of attribution methods, measured in
one run on the same device, batch and posterior draw (paper Table 6), with UA-Backprop's ratios to

(a) its floor: a bare forward plus the K per-logit input gradients of every member, batched, with no
    post-processing (``per_logit_gradients``);
(b) Grad (one backward);
(c) IG and Blur IG at 100 steps.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..attribution import make_method
from ..attribution._trace import per_logit_gradients
from ..data import load
from .base import BENCHES, Bench, common_arguments, markdown_table, output_dir, write_outputs
from .common import parse_methods, run_posterior

FLOOR = "floor (forward + K logit gradients per member)"


class PeakMemory:
    """Peak memory of a block, in bytes: CUDA's allocator peak, or on CPU the process's peak
    resident set (VmHWM) after resetting it through ``/proc/self/clear_refs`` (Linux)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = float("nan")

    @staticmethod
    def _status(field: str) -> int | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
                self.base = self._status("VmRSS")
            except OSError:
                self.base = None
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self.base
        elif self.base is not None:
            hwm = self._status("VmHWM")
            self.peak = float("nan") if hwm is None else max(0, hwm - self.base)
        return False


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn, x: torch.Tensor, batch_size: int, device: torch.device, repeats: int):
    """Best-of-``repeats`` seconds per image over all chunks, and peak bytes per image."""
    fn(x[: min(2, len(x))])  # warm-up: first-call allocations and kernel selection
    best, peak = float("inf"), float("nan")
    for _ in range(repeats):
        with PeakMemory(device) as mem:
            _sync(device)
            t0 = time.perf_counter()
            for s in range(0, len(x), batch_size):
                fn(x[s:s + batch_size])
            _sync(device)
            dt = time.perf_counter() - t0
        best = min(best, dt)
        peak = mem.peak
    return best / len(x), peak / min(batch_size, len(x))


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
        common_arguments(p)
        p.add_argument("--methods", default="ua-backprop,grad,ig:steps=100,blur-ig:steps=100")
        p.add_argument("--n", type=int, default=20, help="test images timed")
        p.add_argument("--batch-size", type=int, default=10)
        p.add_argument("--repeats", type=int, default=2, help="best of this many timed runs")
        p.add_argument("--target", default="epistemic")

    def main(self, args: argparse.Namespace) -> int:
        post, data = run_posterior(args)
        methods = parse_methods(args.methods)
        x = load(data, "test", limit=args.n).x.to(post.device)
        res = speed_benchmark(post, x, methods, args.batch_size, args.repeats, args.seed,
                              not args.no_progress, args.target)
        ua = next((k for k in res if k.startswith("ua-backprop")), None)
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
        config = {"run": args.run, "data": data, "n": len(x), "batch_size": args.batch_size,
                  "repeats": args.repeats, "seed": args.seed, "device": str(post.device),
                  "methods": [m.label for m in methods], "target": args.target}
        write_outputs(output_dir(args, "speed"), "speed", {"methods": res, "ratio_to_ua_backprop": ratios},
                      config, md, args.json)
        print(md)
        return 0
