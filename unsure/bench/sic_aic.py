"""``unsure bench sic-aic``: performance information curves SIC and AIC (XRAI; PAIR ``pic.py``).

Maps of ``--target`` (default: the predicted class) of the first ``--n`` images; information level
by WebP size and/or MS-SSIM (``--info webp,msssim``). Writes ``sic-aic.json`` (AUCs and median
curves), ``sic-aic.md`` and ``sic-aic.png``.
"""
from __future__ import annotations

import argparse

from tqdm.auto import tqdm

from ..metrics.base import header
from ..metrics.sic_aic import pic_metric
from ..user_model import run_posterior
from ._suite import (SuiteOptions, attribute_all, config_of, finish, line_plot, options_from_args, select,
                     suite_arguments)
from .base import BENCHES, Bench, BenchResult, markdown_table


def sic_aic_benchmark(posterior, data: str, methods, opts: SuiteOptions,
                      infos: tuple[str, ...] = ("webp", "msssim"), normalise: str = "ratio",
                      min_score: float | None = None) -> BenchResult:
    """SIC and AIC AUCs (median curves) of every method, for each information measure."""
    specs, draw, idx, x = select(posterior, data, methods, opts)
    maps, seconds = attribute_all(posterior, x, specs, opts.target, draw, opts)
    results = {}
    for label, m in tqdm(maps.items(), desc="sic/aic", disable=not opts.progress, leave=False):
        results[label] = {"seconds_per_image": seconds[label]}
        for info in infos:
            for kind in ("sic", "aic"):
                r = pic_metric(posterior, x, m, kind, info=info, normalise=normalise, min_score=min_score,
                               draw=draw, generator=opts.generator(4))
                results[label][f"{kind}-{info}"] = {
                    "auc": r.auc, "median_curve": r.median_curve[::10].tolist(),
                    "curve_x": r.curve_x[::10].tolist(), "images": len(r.kept), "skipped": r.skipped}
    cols = [(k, i) for i in infos for k in ("sic", "aic")]
    rows = [[lab] + [v[f"{k}-{i}"]["auc"] for k, i in cols] for lab, v in results.items()]
    md = (f"SIC / AIC of {opts.target} maps on {data} ({opts.split}), {len(idx)} images; AUC of the "
          f"median curve.\n\n" + markdown_table(
              ["method"] + [f"{header(k + '-auc')} ({i})" for k, i in cols], rows))
    cfg = config_of("sic-aic", posterior, data, specs, opts, infos=list(infos), normalise=normalise,
                    min_score=min_score, images=idx.tolist())
    panels = lambda: [(f"{k.upper()} ({i})", "normalised information level", "median score",  # noqa: E731
                       {lab: (v[f"{k}-{i}"]["curve_x"], v[f"{k}-{i}"]["median_curve"])
                        for lab, v in results.items()}) for k, i in cols]
    return BenchResult(results, md, cfg, {"sic-aic.png": lambda p: line_plot(p, panels())})


@BENCHES.register("sic-aic", "softmax / accuracy information curves SIC and AIC (XRAI, PAIR pic.py)")
class SicAicBench(Bench):
    name = "sic-aic"
    suite_run = staticmethod(sic_aic_benchmark)
    suite_target = "class"
    suite_order = 3

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        suite_arguments(p, "sic-aic", "class", 100)
        p.add_argument("--info", default="webp,msssim", help="information measures: webp, msssim")
        p.add_argument("--normalise", default="ratio", choices=["ratio", "pair"],
                       help="ratio: score on the bokeh image / score on the original (XRAI); pair: PAIR's (s - s_blurred) / (s_original - s_blurred)")
        p.add_argument("--min-score", type=float, default=None, help="skip images scoring lower (PAIR: 0.8)")

    def main(self, args: argparse.Namespace) -> int:
        post, data = run_posterior(args)
        infos = tuple(t.strip() for t in args.info.split(",") if t.strip())
        out = sic_aic_benchmark(post, data, args.methods, options_from_args(args), infos,
                                args.normalise, args.min_score)
        return finish(args, self.name, out)
