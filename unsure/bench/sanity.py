"""``unsure bench sanity``: cascading model-parameter randomisation (Adebayo et al. 2018).

For each method, its maps of ``--target`` on the selected images are compared with the maps after
re-initialising the top 1, 2, ... layers of every network of the posterior (on copies). Spearman
rank correlation and SSIM per layer; lower means the method depends on the learned parameters.
Writes ``sanity.json``, ``sanity.md`` (mean over layers and at the full cascade) and ``sanity.png``.
"""
from __future__ import annotations

import argparse

from tqdm.auto import tqdm

from ..attribution import make_method
from ..errors import UnsureError
from ..metrics.base import header
from ..metrics.sanity import model_randomisation
from ..user_model import run_posterior
from ._suite import (SuiteOptions, config_of, finish, line_plot, options_from_args, select, suite_arguments)
from .base import BENCHES, Bench, BenchResult, markdown_table


def sanity_benchmark(posterior, data: str, methods, opts: SuiteOptions, absolute: bool = True) -> BenchResult:
    """Spearman and SSIM per randomised layer for every method."""
    import warnings

    specs, draw, idx, x = select(posterior, data, methods, opts)
    results = {}
    for spec in tqdm(specs, desc="sanity", disable=not opts.progress, leave=False):
        method = make_method(spec.name, **spec.options)

        def explain(post, xx, method=method):
            return method.attribute(post, xx, opts.target, draw=post.draw(opts.generator()),
                                    batch_size=opts.batch_size, generator=opts.generator(1)).maps

        try:
            r = model_randomisation(posterior, x, explain, absolute=absolute, generator=opts.generator(6))
        except UnsureError as e:
            warnings.warn(f"method {spec.label!r} skipped: {e}", stacklevel=2)
            continue
        results[spec.label] = {"layers": r.layers, "spearman": r.spearman.mean(1).tolist(),
                               "ssim": r.ssim.mean(1).tolist(),
                               "randomisation-spearman": float(r.spearman.mean()),
                               "randomisation-ssim": float(r.ssim.mean()),
                               "spearman_full": float(r.spearman[-1].mean()), "ssim_full": float(r.ssim[-1].mean())}
    rows = [[k, v["randomisation-spearman"], v["randomisation-ssim"], v["spearman_full"], v["ssim_full"]]
            for k, v in results.items()]
    md = (f"Cascading randomisation of {opts.target} maps on {data} ({opts.split}), {len(idx)} images; "
          f"{'|map|' if absolute else 'signed map'} Spearman, SSIM of min-max maps; mean over layers and "
          f"after all layers.\n\n" + markdown_table(
              ["method", header("randomisation-spearman"), header("randomisation-ssim"),
               "spearman, all layers ↓", "ssim, all layers ↓"], rows))
    cfg = config_of("sanity", posterior, data, specs, opts, absolute=absolute, images=idx.tolist())

    def panels():
        out = []
        for key in ("spearman", "ssim"):
            out.append((f"{key} vs randomised layers", "layers randomised (top down)", key,
                        {k: (list(range(1, len(v[key]) + 1)), v[key]) for k, v in results.items()}))
        return out

    return BenchResult(results, md, cfg, {"sanity.png": lambda p: line_plot(p, panels())})


@BENCHES.register("sanity", "cascading model-parameter randomisation: Spearman and SSIM (Adebayo 2018)")
class SanityBench(Bench):
    name = "sanity"
    suite_run = staticmethod(sanity_benchmark)
    suite_n = 20
    suite_order = 6

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        suite_arguments(p, "sanity", "epistemic", 20)
        p.add_argument("--signed", action="store_true", help="rank-correlate signed maps instead of |maps|")

    def main(self, args: argparse.Namespace) -> int:
        post, data = run_posterior(args)
        out = sanity_benchmark(post, data, args.methods, options_from_args(args), not args.signed)
        return finish(args, self.name, out)
