"""``unsure bench insertion``: insertion and deletion curves (Petsiuk et al. 2018; METHODS.md).

For the ``--n`` selected images (the most uncertain for an uncertainty target, the first ones for a
class target) each method's maps of ``--target`` order the pixels; the insertion curve moves them
from a blurred substrate into the image, the deletion curve sets them to 0. Writes
``insertion.json`` (AUCs per image and mean curves), ``insertion.md`` and ``insertion.png``.
"""
from __future__ import annotations

import argparse

from tqdm.auto import tqdm

from ..metrics.base import header
from ..metrics.insertion_deletion import deletion_curve, insertion_curve
from ..user_model import run_posterior
from ._suite import (SuiteOptions, attribute_all, config_of, finish, line_plot, options_from_args, select,
                     suite_arguments)
from .base import BENCHES, Bench, BenchResult, markdown_table


def insertion_benchmark(posterior, data: str, methods, opts: SuiteOptions, steps: int = 100,
                        blur_sigma: float | None = None) -> BenchResult:
    """Insertion and deletion AUCs of every method's maps of ``opts.target``."""
    specs, draw, idx, x = select(posterior, data, methods, opts)
    maps, seconds = attribute_all(posterior, x, specs, opts.target, draw, opts)
    results, curves = {}, {}
    for label, m in tqdm(maps.items(), desc="insertion/deletion", disable=not opts.progress, leave=False):
        ins = insertion_curve(posterior, x, m, opts.target, steps=steps, blur_sigma=blur_sigma,
                              draw=draw, generator=opts.generator(3))
        dele = deletion_curve(posterior, x, m, opts.target, steps=steps, draw=draw,
                              generator=opts.generator(3))
        results[label] = {"insertion-auc": ins.mean_auc, "deletion-auc": dele.mean_auc,
                          "insertion_auc_per_image": ins.auc.tolist(),
                          "deletion_auc_per_image": dele.auc.tolist(),
                          "insertion_curve": ins.mean_curve.tolist(), "deletion_curve": dele.mean_curve.tolist(),
                          "fractions": ins.fractions.tolist(), "seconds_per_image": seconds[label]}
        curves[label] = results[label]
    rows = [[k, v["insertion-auc"], v["deletion-auc"]] for k, v in results.items()]
    md = (f"Insertion / deletion of {opts.target} maps on {data} ({opts.split}), {len(idx)} images, "
          f"{steps} steps; means over images.\n\n"
          + markdown_table(["method", header("insertion-auc"), header("deletion-auc")], rows))
    cfg = config_of("insertion", posterior, data, specs, opts, steps=steps, blur_sigma=blur_sigma,
                    images=idx.tolist())
    series = lambda key: {k: (v["fractions"], v[key]) for k, v in curves.items()}  # noqa: E731
    plots = {"insertion.png": lambda p: line_plot(p, [
        ("insertion (higher is better)", "share of pixels inserted", f"mean {opts.target}", series("insertion_curve")),
        ("deletion (lower is better)", "share of pixels deleted", f"mean {opts.target}", series("deletion_curve"))])}
    return BenchResult(results, md, cfg, plots)


@BENCHES.register("insertion", "insertion and deletion curves / AUC of any target (Petsiuk et al. 2018)")
class InsertionBench(Bench):
    name = "insertion"
    suite_run = staticmethod(insertion_benchmark)
    suite_order = 2

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        suite_arguments(p, "suite", "epistemic", 100)
        p.add_argument("--steps", type=int, default=100, help="insertion / deletion steps")
        p.add_argument("--blur-sigma", type=float, default=None, help="insertion substrate blur (default H/8)")

    def main(self, args: argparse.Namespace) -> int:
        post, data = run_posterior(args)
        out = insertion_benchmark(post, data, args.methods, options_from_args(args), args.steps, args.blur_sigma)
        return finish(args, self.name, out)
