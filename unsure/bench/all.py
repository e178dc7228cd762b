"""``unsure bench all``: the whole evaluation suite on one run, one markdown report.

Runs the blurring test and the suite benches (anomaly, insertion/deletion, SIC/AIC, localisation,
ablation, sanity, rotation) with their defaults and the same methods, seed and draw settings, each
into ``OUT/NAME/``, then writes ``OUT/report.md`` with every table and plot.
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..attribution.spec import parse_methods
from ..data import load
from ..errors import UnsureError
from ..measures import decomposable
from ..measures.selection import most_uncertain
from ..user_model import run_posterior
from . import ablation, anomaly, insertion, localization, rotation, sanity, sic_aic  # noqa: F401  (register)
from ._suite import SuiteOptions
from .blurring_engine import add_blurring_engine_arguments, source_of
from .base import BENCHES, Bench, common_arguments, output_dir, suite_benches, write_outputs, write_result
from ..engine import Engine, engine_from_args
from .blurring import blurring_benchmark, paired_comparison, plot_curves
from ..user_model import source_label
from .common import parse_floats


def _blurring_section(post, data: str, methods: str, n: int, fractions, seed: int, progress: bool,
                      folder: Path, sigmas=None, target: str = "epistemic", engine=None, source=None,
                      chunk_size=None) -> str:
    from .base import markdown_table

    specs = parse_methods(methods)
    d = load(data, "test")
    idx = most_uncertain(post.draw(torch.Generator().manual_seed(seed)), d.x, n, target)
    results, curves, seconds = blurring_benchmark(post, d.x[idx].to(post.device), specs, fractions,
                                                  seed, 25, progress, sigmas, target, engine, source, chunk_size)
    rows = [[m] + [results[m][str(f)][k] for f in fractions for k in ("murr", "auc")] for m in results]
    header = ["method"] + [f"{k} @{f:g}" for f in fractions for k in ("MURR ↑", "AUC-URR ↓")]
    md = f"Blurring away the {target} uncertainty of the {len(idx)} test images with the most.\n\n"
    md += markdown_table(header, rows)
    if len(results) > 1:
        md += ("\nPaired, first method vs each other: median difference / share of images where the first "
               "is better / Wilcoxon p.\n\n" + markdown_table(
                   ["pair"] + [f"{k} @{f:g}" for f in fractions for k in ("MURR", "AUC-URR")],
                   paired_comparison(results, fractions)))
    folder.mkdir(parents=True, exist_ok=True)
    write_outputs(folder, "blurring", results, {"data": data, "target": target, "top": len(idx),
                                                "image_indices": idx.tolist(), "fractions": fractions,
                                                "seed": seed, "seconds_per_image": seconds,
                                                "engine": (engine or Engine()).describe(), "chunk_size": chunk_size,
                                                "sigmas": sigmas or "spec"}, md)
    plot_curves(curves, fractions, folder / "blurring.png")
    return md + "\n![URR curves](blurring/blurring.png)\n"


@BENCHES.register("all", "the whole evaluation suite on one run, one markdown report")
class AllBench(Bench):
    name = "all"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        common_arguments(p)
        add_blurring_engine_arguments(p)  # the blurring section runs on it; the other benches locally
        p.add_argument("--methods", default="ua-backprop,grad,inputgrad,smoothgrad,ig,blur-ig,random",
                       help="methods for every bench (each bench skips those that do not apply)")
        p.add_argument("--only", default=None, help="comma-separated subset of: blurring," + ",".join(n for n, _ in suite_benches()))
        p.add_argument("--n", type=int, default=None, help="images per bench (default: each bench's own)")
        p.add_argument("--fractions", default="0.02,0.05")
        p.add_argument("--sigmas", default=None, help="blurring test's sigma grid (default: the spec's)")
        p.add_argument("--target", default="epistemic", choices=list(decomposable()),
                       help="uncertainty the uncertainty benches explain (default epistemic; total for a "
                            "single network); class-score benches (SIC/AIC, rotation) are unaffected")

    def main(self, args: argparse.Namespace) -> int:
        engine = engine_from_args(args)
        post, data = run_posterior(args)
        suite = dict(suite_benches())  # name -> bench class, in report order
        names = ["blurring", *suite]
        if args.only:
            names = [n.strip() for n in args.only.split(",") if n.strip()]
            bad = [n for n in names if n != "blurring" and n not in suite]
            if bad:
                raise UnsureError(f"unknown bench(es) {bad}; choose from blurring, {', '.join(suite)}")
        out = output_dir(args, "all")
        progress = not args.no_progress
        sections, seconds = [], {}
        for name in tqdm(names, desc="suite", disable=not progress):
            t0 = time.perf_counter()
            folder = out / name
            if name == "blurring":
                sigmas = None if args.sigmas is None else parse_floats(args.sigmas, "sigmas")
                md = _blurring_section(post, data, args.methods, args.n or 100,
                                       parse_floats(args.fractions, "fractions"), args.seed, progress,
                                       folder, sigmas, args.target, engine, source_of(args, data),
                                       args.chunk_size)
            else:
                bench = suite[name]
                target = "class" if bench.suite_target == "class" else args.target
                opts = SuiteOptions(n=args.n or bench.suite_n, target=target, seed=args.seed, progress=progress)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    res = bench.suite_run(post, data, bench.suite_methods + args.methods, opts)
                write_result(folder, name, res)
                notes = "".join(f"\n> note: {w.message}\n" for w in caught)
                md = res.markdown + notes + "".join(f"\n![{f}]({name}/{f})\n" for f in res.plots)
            seconds[name] = time.perf_counter() - t0
            sections.append(f"## {name}\n\n{md}\n*{seconds[name]:.0f} s*\n")
        cmd = (f"unsure bench all {source_label(args)} --data {data} --methods {args.methods}"
               + (f" --only {args.only}" if args.only else "") + (f" --n {args.n}" if args.n else "")
               + (f" --sigmas {args.sigmas}" if args.sigmas else "") + f" --target {args.target}"
               + (f" --engine ray --workers {args.workers}" if engine.name == "ray" else "")
               + (f" --chunk-size {args.chunk_size}" if args.chunk_size else "")
               + f" --seed {args.seed}")
        report = (f"# Evaluation suite: {args.run or args.model} on {data}\n\nMade by `{cmd}`.\n\n" + "\n".join(sections))
        (out / "report.md").write_text(report)
        write_outputs(out, "all", {"seconds": seconds}, {"run": args.run, "data": data, "benches": names,
                                                         "methods": args.methods, "seed": args.seed,
                                                         "target": args.target})
        print(f"wrote {out}/report.md")
        return 0
