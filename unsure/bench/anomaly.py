"""``unsure bench anomaly``: anomaly-patch localisation (paper Appendix C; METHODS.md).

A random square of each test image is replaced by the same square of a random training image; the
``--n`` images whose epistemic uncertainty rose most are kept; each method's map of the target
(default: epistemic) is scored by IoU of its best window with the true square and by ADA.
Patch side: ``--patch`` (default 10 on 28x28, scaled to the image side: 3 on 8x8).
Writes ``anomaly.json``, ``anomaly.md`` and ``anomaly.png`` (ADA and mean IoU per method).
"""
from __future__ import annotations

import argparse

from tqdm.auto import tqdm

from ..metrics.anomaly import anomaly_localisation, make_anomalies, select_most_increased
from ..metrics.base import header
from ..user_model import run_posterior
from ._suite import (SuiteOptions, attribute_all, available_methods, bar_plot, config_of,
                     finish, load_split, options_from_args, suite_arguments)
from .base import BENCHES, Bench, BenchResult, markdown_table


def default_patch(H: int) -> int:
    """The paper's 10 px on 28x28, scaled to the image side."""
    return max(1, min(H, round(10 * H / 28)))


def anomaly_benchmark(posterior, data: str, methods, opts: SuiteOptions,
                      patch: int | None = None, pool: int = 2000) -> BenchResult:
    """Run the anomaly benchmark; ``pool`` test images are corrupted, the ``opts.n`` with the
    largest rise of ``opts.target`` are explained."""
    specs = available_methods(methods)
    te, tr = load_split(data, opts.split), load_split(data, "train")
    x_test = te.x[:pool]
    patch = patch or default_patch(x_test.shape[2])
    x_anom, boxes = make_anomalies(x_test, tr.x, patch, opts.generator(2))
    draw = posterior.draw(opts.generator())
    sel = select_most_increased(posterior, x_test, x_anom, opts.n, draw, opts.target)
    x = x_anom[sel].to(posterior.device)
    maps, seconds = attribute_all(posterior, x, specs, opts.target, draw, opts)
    results = {}
    for label, m in tqdm(maps.items(), desc="anomaly", disable=not opts.progress, leave=False):
        r = anomaly_localisation(m, boxes[sel], patch)
        results[label] = {"ada": r.ada, "anomaly-iou": r.mean_iou, "iou": r.iou.tolist(),
                          "seconds_per_image": seconds[label]}
    rows = [[k, v["ada"], v["anomaly-iou"]] for k, v in results.items()]
    md = (f"Anomaly-patch localisation on {data} ({opts.split}): {patch}x{patch} patches, the "
          f"{len(sel)} images whose {opts.target} rose most (of {len(x_test)}).\n\n"
          + markdown_table(["method", header("ada"), header("anomaly-iou")], rows))
    cfg = config_of("anomaly", posterior, data, specs, opts, patch=patch, pool=len(x_test),
                    selected=sel.tolist(), boxes=boxes[sel].tolist())
    plots = {"anomaly.png": lambda p: bar_plot(p, [("ADA (IoU > 0.5) ↑", {k: v["ada"] for k, v in results.items()}),
                                                   ("mean IoU ↑", {k: v["anomaly-iou"] for k, v in results.items()})])}
    return BenchResult(results, md, cfg, plots)


@BENCHES.register("anomaly", "anomaly-patch localisation: ADA and IoU of uncertainty maps (paper App. C)")
class AnomalyBench(Bench):
    name = "anomaly"
    suite_run = staticmethod(anomaly_benchmark)
    suite_n = 200
    suite_order = 1

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        suite_arguments(p, "suite", "epistemic", 200)
        p.add_argument("--patch", type=int, default=None, help="patch side (default 10 on 28x28, scaled)")
        p.add_argument("--pool", type=int, default=2000, help="test images corrupted before selection")

    def main(self, args: argparse.Namespace) -> int:
        post, data = run_posterior(args)
        out = anomaly_benchmark(post, data, args.methods, options_from_args(args), args.patch, args.pool)
        return finish(args, self.name, out)
