"""``unsure bench ablation``: top-k and centre-of-mass ablation curves (Distill 2020).

For each method, the target of the selected images while (a) the top-k pixels of its map or (b) a
growing box around its centre of mass is ablated by mean imputation and by blur. AUCs are mean
target values over the curve (lower is better). Writes ``ablation.json``, ``ablation.md`` and
``ablation.png``.
"""
from __future__ import annotations

import argparse

from tqdm.auto import tqdm

from ..metrics.ablation import centre_ablation, topk_ablation
from ..user_model import run_posterior
from ._suite import (SuiteOptions, attribute_all, config_of, finish, line_plot, options_from_args, select,
                     suite_arguments)
from .base import BENCHES, Bench, BenchResult, markdown_table

KINDS = ("topk", "centre")


def ablation_benchmark(posterior, data: str, methods, opts: SuiteOptions, hows=("mean", "blur"),
                       steps: int = 20, max_fraction: float = 0.5) -> BenchResult:
    """Top-k (up to ``max_fraction`` of the pixels) and centre-of-mass ablation of every method."""
    specs, draw, idx, x = select(posterior, data, methods, opts)
    maps, seconds = attribute_all(posterior, x, specs, opts.target, draw, opts)
    results = {}
    for label, m in tqdm(maps.items(), desc="ablation", disable=not opts.progress, leave=False):
        results[label] = {"seconds_per_image": seconds[label]}
        for how in hows:
            tk = topk_ablation(posterior, x, m, opts.target, how=how, steps=steps, max_fraction=max_fraction,
                               draw=draw, generator=opts.generator(5))
            ce = centre_ablation(posterior, x, m, opts.target, how=how, draw=draw)
            for kind, r in (("topk", tk), ("centre", ce)):
                results[label][f"{kind}-{how}"] = {"auc": r.mean_auc, "fractions": r.fractions.tolist(),
                                                   "curve": r.mean_curve.tolist()}
    cols = [(k, h) for k in KINDS for h in hows]
    rows = [[lab] + [v[f"{k}-{h}"]["auc"] for k, h in cols] for lab, v in results.items()]
    md = (f"Ablation of {opts.target} maps on {data} ({opts.split}), {len(idx)} images: mean "
          f"{opts.target} over the curve (lower is better; top-k up to {max_fraction:.0%} of the pixels).\n\n"
          + markdown_table(["method"] + [f"{k}-{h} ↓" for k, h in cols], rows))
    cfg = config_of("ablation", posterior, data, specs, opts, hows=list(hows), steps=steps,
                    max_fraction=max_fraction, images=idx.tolist())
    panels = lambda: [(f"{k} ablation ({h})", "share of pixels ablated", f"mean {opts.target}",  # noqa: E731
                       {lab: (v[f"{k}-{h}"]["fractions"], v[f"{k}-{h}"]["curve"]) for lab, v in results.items()})
                      for k, h in cols]
    return BenchResult(results, md, cfg, {"ablation.png": lambda p: line_plot(p, panels())})


@BENCHES.register("ablation", "top-k and centre-of-mass ablation curves, mean or blur (Distill 2020)")
class AblationBench(Bench):
    name = "ablation"
    suite_run = staticmethod(ablation_benchmark)
    suite_order = 5

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        suite_arguments(p, "suite", "epistemic", 100)
        p.add_argument("--how", default="mean,blur", help="ablation: mean, blur")
        p.add_argument("--steps", type=int, default=20, help="ablation steps")
        p.add_argument("--max-fraction", type=float, default=0.5, help="share of the pixels ablated at the last step")

    def main(self, args: argparse.Namespace) -> int:
        post, data = run_posterior(args)
        hows = tuple(t.strip() for t in args.how.split(",") if t.strip())
        out = ablation_benchmark(post, data, args.methods, options_from_args(args), hows, args.steps,
                                 args.max_fraction)
        return finish(args, self.name, out)
