"""``unsure bench blurring``: the blurring test (paper Sec. 5.2.1) for several methods in one run.

``--target`` picks the uncertainty that is explained and blurred away (default epistemic, the
paper's; "total" for a single network, whose epistemic uncertainty is 0, paper Table 12).

``--replacements`` (default: the whole panel ``blur,zero,mean,noise,road``, ``metrics.replacements``)
names what a removed pixel becomes; every substitute of a step goes through one batched forward.

Writes ``blurring.json`` = ``{"results": {METHOD: {"0.02": {"murr", "auc", "murr_per_image",
"auc_per_image"}, ...}}, "by_replacement": {R: {METHOD: {"0.02": {"murr", "auc", "n_max"}}}}, "panel": {METHOD: {"0.02":
{"murr", "auc", "mean_rank", "mean_rank_auc"}}}, "config": ...}`` (per-image values only in
``results``): ``results`` is the ``blur`` substitute (the
paper's test; the first substitute when blur is not in the panel), ``panel`` the means over the
substitutes (``bench.panel``); ``config.image_indices`` names the images of the split,
``config.replacements`` the substitutes' settings and seeds, ``config.test_seconds_per_image`` the
cost of the test. ``blurring.md``: the blur table with every method paired image by image against
the first one (median difference, share of images won, Wilcoxon signed-rank p), then the panel
table, each substitute's winner, one table and one paired table per substitute;
``blurring.png``: median URR curves (blur), ``blurring-panel.png``: one row per substitute.
"""
from __future__ import annotations

import argparse

import torch

from ..data import load
from ..engine import engine_from_args
from ..errors import UnsureError
from ..metrics.blurring import MEASURE_NAMES
from ..attribution.spec import MethodSpec, parse_methods
from ..measures.selection import most_uncertain
from ..metrics.blurring_plot import plot_curves
from ..user_model import run_posterior
from ._suite import SuiteOptions
from .base import BENCHES, Bench, BenchResult, common_arguments, markdown_table, output_dir, write_result
from ..flags import batch_size_argument, deprecated_alias, invocation, methods_argument, split_argument
from .blurring_engine import add_blurring_engine_arguments, run_panel, source_of
from .common import parse_floats
from .panel import check_measure_nonzero, panel_benchmark, panel_markdown, panel_scores  # noqa: F401


BATCH_SIZE = 25  # images per attribution chunk (--batch-size; bench all uses it too)
FRACTIONS = "0.02,0.05"  # shares of the pixels removed (--fractions here and in bench all)


def blurring_benchmark(posterior, x, methods: list[MethodSpec], fractions: list[float],
                       seed: int = 0, batch_size: int = BATCH_SIZE, progress: bool = True, sigmas=None,
                       target: str = "epistemic", engine=None, source=None, chunk_size=None):
    """Attribute the ``target`` uncertainty of ``x`` (default epistemic) with every method and run
    the blurring test on that uncertainty (substitute ``blur``), on ``engine`` (default local; see
    :func:`unsure.bench.blurring_engine.run_panel` for ``engine``, ``source`` and ``chunk_size``).

    Returns ``(results, curves, seconds)``: ``results[label][str(fraction)] = {"murr", "auc",
    "n_max", "murr_per_image", "auc_per_image"}`` (medians and the per-image lists),
    ``curves[label][str(fraction)]`` the median URR curve, ``seconds[label]`` per image.
    Raises :class:`UnsureError` when ``target`` is 0 on every image.
    """
    run = run_panel(posterior, x, methods, fractions, "blur", seed, batch_size, progress, sigmas, target,
                    engine=engine, source=source, chunk_size=chunk_size)
    return run["by_replacement"]["blur"], run["curves"]["blur"], run["seconds"]


def paired_comparison(results: dict, fractions: list[float]) -> list[list]:
    """Every method against the first one, image by image: for each fraction and score, the median
    paired difference (first - other; > 0 favours the first for MURR, < 0 for AUC-URR), the share
    of images where the first is better, and the two-sided Wilcoxon signed-rank p (pairs with
    equal scores dropped; p = 1 when all are equal)."""
    from scipy.stats import wilcoxon

    labels = list(results)
    rows = []
    for other in labels[1:]:
        row = [f"{labels[0]} vs {other}"]
        for f in fractions:
            for k, sign in (("murr", 1.0), ("auc", -1.0)):
                a = torch.tensor(results[labels[0]][str(f)][f"{k}_per_image"], dtype=torch.float64)
                b = torch.tensor(results[other][str(f)][f"{k}_per_image"], dtype=torch.float64)
                d = a - b
                won = float((sign * d > 0).double().mean()) if len(d) else float("nan")
                nz = d[d != 0]
                p = float(wilcoxon(nz.numpy()).pvalue) if len(nz) else 1.0
                row.append(f"{float(d.median()):+.3f} / {won:.0%} / {p:.2g}")
        rows.append(row)
    return rows


def _medians_only(tree):
    """``tree`` without the per-image lists (keeps the JSON small: the paired tests are in the
    markdown, and ``results`` keeps blur's per-image values)."""
    if isinstance(tree, dict):
        return {k: _medians_only(x) for k, x in tree.items() if not k.endswith("_per_image")}
    return tree


def blurring_suite(posterior, data: str, methods: str, opts: SuiteOptions,
                   fractions: list[float] | None = None, sigmas=None, engine=None, source=None,
                   chunk_size=None) -> BenchResult:
    """The blurring test as ``unsure bench all`` runs it: the ``blur`` substitute only (the
    paper's test), the ``opts.n`` images of ``opts.split`` with the largest ``opts.target``,
    every method paired against the first one."""
    fractions = parse_floats(FRACTIONS, "fractions") if fractions is None else list(fractions)
    specs = parse_methods(methods)
    d = load(data, opts.split)
    idx = most_uncertain(posterior.draw(torch.Generator().manual_seed(opts.seed)), d.x, opts.n, opts.target)
    results, curves, seconds = blurring_benchmark(posterior, d.x[idx].to(posterior.device), specs, fractions,
                                                  opts.seed, BATCH_SIZE, opts.progress, sigmas, opts.target,
                                                  engine, source, chunk_size)
    rows = [[m] + [results[m][str(f)][k] for f in fractions for k in ("murr", "auc")] for m in results]
    header = ["method"] + [f"{k} @{f:g}" for f in fractions for k in ("MURR ↑", "AUC-URR ↓")]
    md = f"Blurring away the {opts.target} uncertainty of the {len(idx)} {opts.split} images with the most.\n\n"
    md += markdown_table(header, rows)
    if len(results) > 1:
        md += ("\nPaired, first method vs each other: median difference / share of images where the first "
               "is better / Wilcoxon p.\n\n" + markdown_table(
                   ["pair"] + [f"{k} @{f:g}" for f in fractions for k in ("MURR", "AUC-URR")],
                   paired_comparison(results, fractions)))
    config = {"data": data, "target": opts.target, "top": len(idx), "image_indices": idx.tolist(),
              "fractions": fractions, "seed": opts.seed, "seconds_per_image": seconds,
              "sigmas": sigmas or "spec", "chunk_size": chunk_size,
              **({"engine": engine.describe()} if engine is not None else {})}
    return BenchResult(results, md, config, {"blurring.png": lambda path: plot_curves(curves, fractions, path)})


@BENCHES.register("blurring", "blurring test: MURR / AUC-URR of uncertainty maps (paper Sec. 5.2.1)")
class BlurringBench(Bench):
    name = "blurring"
    suite_run = staticmethod(blurring_suite)
    suite_options = ("fractions", "sigmas", "engine", "source", "chunk_size")
    suite_order = 0

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        common_arguments(p)
        methods_argument(p, "blurring")
        p.add_argument("--target", default="epistemic", choices=list(MEASURE_NAMES),
                       help="uncertainty to explain and blur away (default epistemic, the paper's; "
                            "total for a single network)")
        p.add_argument("--n", type=int, default=100, help="the N images with the largest --target")
        deprecated_alias(p, "--top", "--n", "n", type=int)
        split_argument(p, train=False)
        p.add_argument("--fractions", default=FRACTIONS, help="shares of the pixels removed")
        batch_size_argument(p)
        p.add_argument("--sigmas", default=None,
                       help="blur grid as comma-separated values (default: the spec's 0.2, 0.4, ..., 20)")
        p.add_argument("--replacements", default="blur,zero,mean,noise,road",
                       help="what a removed pixel becomes, comma-separated NAME[:key=value...] "
                            "('blur' alone is the paper's test)")
        add_blurring_engine_arguments(p)

    def main(self, args: argparse.Namespace) -> int:
        post, data = run_posterior(args)
        methods = parse_methods(args.methods)
        fractions = parse_floats(args.fractions, "fractions")
        d = load(data, args.split)
        draw = post.draw(torch.Generator().manual_seed(args.seed))
        idx = most_uncertain(draw, d.x, args.n, args.target)
        x = d.x[idx].to(post.device)
        sigmas = None if args.sigmas is None else parse_floats(args.sigmas, "sigmas")
        engine = engine_from_args(args)
        run = run_panel(post, x, methods, fractions, args.replacements, args.seed, args.batch_size,
                        not args.no_progress, sigmas, args.target, draw, engine=engine,
                        source=source_of(args, data), chunk_size=args.chunk_size)
        by_rep = run["by_replacement"]
        first = "blur" if "blur" in by_rep else next(iter(by_rep))
        results, curves = by_rep[first], run["curves"][first]
        panel = panel_scores(by_rep, fractions)
        out = output_dir(args, "blurring")
        config = {"run": args.run, "model": getattr(args, "model", None), "data": data, "split": args.split, "target": args.target,
                  "top": len(idx), "image_indices": idx.tolist(),
                  "fractions": fractions, "methods": [m.label for m in methods], "seed": args.seed,
                  "seconds_per_image": run["seconds"], "test_seconds_per_image": run["test_seconds"],
                  "device": str(post.device), "replacements": run["replacements"],
                  "results_replacement": first, "engine": engine.describe(), "chunk_size": args.chunk_size,
                  "sigmas": "0.2,0.4,...,20 (spec)" if sigmas is None else sigmas}
        rows = [[m] + [results[m][str(f)][k] for f in fractions for k in ("murr", "auc")]
                for m in results]
        header = ["method"] + [f"{k} @{f:g}" for f in fractions for k in ("MURR ↑", "AUC-URR ↓")]
        md = (f"Blurring test of {args.target} uncertainty on {data} ({args.split}): maps of the "
              f"{args.target} uncertainty, the {len(idx)} images with the largest {args.target} "
              f"uncertainty; medians over images. Substitute `{first}`.\n\n" + markdown_table(header, rows))
        if len(results) > 1:
            header = ["pair"] + [f"{k} @{f:g}" for f in fractions for k in ("MURR", "AUC-URR")]
            md += ("\nPaired over the same images, first method vs each other: median difference "
                   "(first - other) / share of images where the first is better / Wilcoxon p.\n\n"
                   + markdown_table(header, paired_comparison(results, fractions)))
        if len(by_rep) > 1:
            md += "\n" + panel_markdown(by_rep, panel, fractions, paired_comparison)
        plots = {"blurring.png": lambda path: plot_curves(curves, fractions, path)}
        if len(by_rep) > 1:
            plots["blurring-panel.png"] = lambda path: plot_curves(curves, fractions, path, rows=run["curves"])
        result = BenchResult(results, md, config, plots,
                             extra={"by_replacement": _medians_only(by_rep), "panel": _medians_only(panel)})
        write_result(out, "blurring", result, args.json, invocation(args))
        print(md)
        print(f"wrote {out}/blurring.json, blurring.md, blurring.png")
        return 0

