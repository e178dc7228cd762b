"""``unsure bench properties``: every method's maps scored on every property (``unsure.score``),
and how far the properties agree (Schiller et al. 2026, "No Single Metric Tells the Whole Story").

For the ``--n`` most uncertain images each method's maps of ``--target`` are scored by every scorer
that applies (:data:`unsure.score.SCORERS`); the scorers that re-run the method (repeatability,
input stability, rank improvement) run on the first ``--method-n`` of them. Agreement is the
Spearman correlation between two metrics, each oriented so that higher is better:

- across methods: over the methods' mean values;
- across images: over the images, per method, then averaged over the methods (a method whose values
  are constant over the images for a metric is left out of that pair's mean).

With ``--groundtruth`` (a run trained on ``unsure bench groundtruth`` data) the images are instead
those with a valid planted cause of ``--target`` (:func:`groundtruth_task`), and the ground-truth
localisation scores against the cause masks (gt-rank, gt-mass, gt-auroc, gt-pointing) join the
properties and the agreement matrices.

Writes ``properties.json`` (values per method and image, both agreement matrices), ``properties.md``
and ``properties.png`` (the two agreement heat maps); with ``--groundtruth`` also
``groundtruth-images.npy`` and ``groundtruth-masks.npy`` (the scored images and their masks).
"""
from __future__ import annotations

import argparse
import math
import time
import warnings
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from ..attribution.base import make_method
from ..errors import UnsureError
from ..metrics._maps import spearman
from ..metrics.base import header, metric_info
from ..score import SCORERS, ScoreOptions, score
from ..user_model import run_posterior
from ._suite import (SuiteOptions, attribute_all, available_methods, config_of, figure, finish, options_from_args,
                     select, suite_arguments)
from .base import BENCHES, Bench, BenchResult, markdown_table

if TYPE_CHECKING:
    from ..groundtruth.tasks import Task


def _oriented(name: str, v: torch.Tensor) -> torch.Tensor:
    return v if metric_info(name).higher_is_better else -v


def _rho(a: torch.Tensor, b: torch.Tensor) -> float:
    ok = ~(a.isnan() | b.isnan())
    a, b = a[ok].double(), b[ok].double()
    if len(a) < 3 or a.max() == a.min() or b.max() == b.min():
        return float("nan")
    return float(spearman(a[None], b[None])[0])


def agreement(per_method: dict[str, dict[str, list[float]]], names: list[str]) -> dict[str, list[list[float]]]:
    """``{"across_methods": M x M, "across_images": M x M}`` Spearman matrices (module docstring)."""
    methods = list(per_method)
    mean = {k: torch.tensor([float(torch.tensor(per_method[m][k], dtype=torch.float64).nanmean())
                             for m in methods]) for k in names}
    across_m = [[_rho(_oriented(a, mean[a]), _oriented(b, mean[b])) for b in names] for a in names]
    across_i = []
    for a in names:
        row = []
        for b in names:
            rs = [_rho(_oriented(a, torch.tensor(per_method[m][a], dtype=torch.float64)),
                       _oriented(b, torch.tensor(per_method[m][b], dtype=torch.float64))) for m in methods]
            rs = [r for r in rs if not math.isnan(r)]
            row.append(sum(rs) / len(rs) if rs else float("nan"))
        across_i.append(row)
    return {"across_methods": across_m, "across_images": across_i}


def off_diagonal_mean(mat: list[list[float]]) -> float:
    vals = [v for i, r in enumerate(mat) for j, v in enumerate(r) if i != j and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def summarise(results: dict, skipped: dict, intro: str) -> tuple[list[str], dict, dict, str]:
    """``(metric names, agreement, ranking, markdown)`` of scored ``results`` (``{method: {"mean",
    "per_image", ...}}``); shared by the bench and ``scripts/properties_merge.py``."""
    names = list(next(iter(results.values()))["mean"])
    agree = agreement({k: v["per_image"] for k, v in results.items()}, names)
    labels = list(results)
    rank = {k: sorted(labels, key=lambda lab: metric_info(k).sort_key(results[lab]["mean"][k])) for k in names}
    rows = [[lab] + [results[lab]["mean"][k] for k in names] for lab in labels]
    md = intro + "\n\n" + markdown_table(["method"] + [header(k) for k in names], rows)
    md += "\nBest method per property:\n\n" + markdown_table(
        ["property", "best", "value"], [[header(k), rank[k][0], results[rank[k][0]]["mean"][k]] for k in names])
    for key in ("across_methods", "across_images"):
        md += (f"\nSpearman agreement {key.replace('_', ' ')} (oriented: higher is better for both; "
               f"mean off-diagonal {off_diagonal_mean(agree[key]):.3f}):\n\n"
               + markdown_table(["metric"] + names, [[a] + agree[key][i] for i, a in enumerate(names)], ".2f"))
    if skipped:
        md += "\nNot scored: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + "\n"
    return names, agree, rank, md


def properties_benchmark(posterior, data: str, methods, opts: SuiteOptions, method_n: int = 20,
                         options: ScoreOptions | None = None, causes: Task | None = None) -> BenchResult:
    """Scores of every method on every property, and the agreement matrices.

    ``causes``: images with known causes and their masks (:class:`unsure.groundtruth.tasks.Task`,
    e.g. from :func:`groundtruth_task`) to score instead of the ``opts.n`` most uncertain images of
    ``data``; the ground-truth scores (gt-rank, gt-mass, gt-auroc, gt-pointing) join the others."""
    from ..metrics.conveyance import has_reference

    options = options or ScoreOptions(batch_size=None)
    if causes is None:
        specs, draw, idx, x = select(posterior, data, methods, opts)
        masks = None
    else:
        specs, draw = available_methods(methods), posterior.draw(opts.generator())
        idx, x, masks = causes.image, causes.x.to(posterior.device), causes.masks
    maps, seconds = attribute_all(posterior, x, specs, opts.target, draw, opts)
    base = [n for n, (_, needs, _) in SCORERS.items()
            if needs in ("maps", "posterior") or (needs == "reference" and has_reference(posterior))
            or (needs == "masks" and masks is not None)]
    rerun = [n for n, (_, needs, _) in SCORERS.items() if needs == "method"] if method_n > 0 else []
    m = min(method_n, len(x))
    results, skipped = {}, {}
    for spec in tqdm(specs, desc="properties", disable=not opts.progress, leave=False):
        if spec.label not in maps:
            continue
        t0 = time.perf_counter()
        try:
            s = score(posterior, x, maps[spec.label], opts.target, base, options=options, seed=opts.seed,
                      masks=masks)
            per = {k: v.tolist() for k, v in s.per_image.items()}
            if rerun:
                r = score(posterior, x[:m], maps[spec.label][:m], opts.target, rerun, options=options,
                          seed=opts.seed, method=make_method(spec.name, **spec.options))
                per.update({k: v.tolist() + [float("nan")] * (len(x) - m) for k, v in r.per_image.items()})
        except UnsureError as e:
            warnings.warn(f"method {spec.label!r} not scored: {e}", stacklevel=2)
            skipped[spec.label] = str(e)
            continue
        means = {k: float(torch.tensor(v, dtype=torch.float64).nanmean()) for k, v in per.items()}
        results[spec.label] = {"mean": means, "per_image": per, "seconds_per_image": seconds[spec.label],
                               "score_seconds": time.perf_counter() - t0}
    if not results:
        raise UnsureError("no method could be scored")
    which = (f"{len(x)} most uncertain images" if causes is None else
             f"{len(x)} images with a valid {opts.target} cause (ground truth)")
    names, agree, rank, md = summarise(results, skipped, f"Properties of {opts.target} maps on {data} "
                                       f"({opts.split}), {which} (re-run metrics on the first {m}); means over images.")
    extra_cfg = {} if causes is None else {"groundtruth": {"causes": list(causes.cause)}}
    cfg = config_of("properties", posterior, data, specs, opts, method_n=m, images=idx.tolist(),
                    score_options={k: v for k, v in vars(options).items() if k != "ood_value"}, **extra_cfg)
    extra = {"agreement": agree, "metrics": names, "ranking": rank, "skipped": skipped}
    files = {"properties.png": lambda p: heat_maps(p, names, agree)}
    if causes is not None:  # the scored images and their masks, for 'unsure score --images ... --masks ...'
        files["groundtruth-images.npy"] = lambda p: _save_npy(p, x.cpu().numpy())
        files["groundtruth-masks.npy"] = lambda p: _save_npy(p, masks.cpu().numpy())
    return BenchResult(results, md, cfg, files, extra)


def _save_npy(path, array) -> None:
    import numpy as np

    with open(path, "wb") as f:  # a file object: np.save would add ".npy" to a temporary name
        np.save(f, array)


def groundtruth_task(posterior, base: str, opts: SuiteOptions) -> "Task":
    """The images of ``opts.split`` with a valid cause of ``opts.target`` (aleatoric, epistemic or
    total) and their masks, made as ``unsure bench groundtruth`` makes them with its default design:
    ``opts.n`` base images (seed ``opts.seed``), each with a single-cause and a both-cause version;
    the causes the validity check keeps, under the draw the bench uses."""
    from ..groundtruth.cache import partner_for
    from ..groundtruth.generate import Design
    from ..groundtruth.images import cause_images
    from ..groundtruth.tasks import TARGETS, tasks

    if opts.target not in TARGETS:
        raise UnsureError(f"--groundtruth scores maps of {', '.join(TARGETS)} (the causes planted), "
                          f"got --target {opts.target!r}")
    draw = posterior.draw(opts.generator())
    design = Design(partner=partner_for(getattr(posterior, "run_config", None) or {}, None))
    ci = cause_images(posterior, draw, base, opts.split, opts.n, opts.seed, design)
    task = tasks(ci.cs, ci.validity)[opts.target]
    if len(task) == 0:
        raise UnsureError(f"no valid {opts.target} cause among the {opts.n} images: is the run trained "
                          "on ground-truth data ('unsure bench groundtruth')?")
    task.image = ci.pick[task.image]  # indices in the split, as the bench records its images
    return task


def heat_maps(path, names: list[str], agree: dict) -> None:
    """The two agreement matrices side by side, one colour bar on the right."""
    plt, fig, axes = figure(2, width=6.4, height=6.2)
    fig.subplots_adjust(left=0.13, right=0.9, bottom=0.27, top=0.9, wspace=0.45)
    for ax, key in zip(axes, ("across_methods", "across_images")):
        im = ax.imshow(agree[key], vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_title(f"Spearman {key.replace('_', ' ')}\n(mean off-diag. {off_diagonal_mean(agree[key]):.2f})",
                     fontsize=9)
        for i, row in enumerate(agree[key]):
            for j, v in enumerate(row):
                if not math.isnan(v):
                    ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=5)
    fig.colorbar(im, cax=fig.add_axes([0.92, 0.35, 0.012, 0.45]))
    fig.savefig(path, dpi=110, bbox_inches="tight")  # not _suite.save: tight_layout would move the bar
    plt.close(fig)


@BENCHES.register("properties", "every map scored on every property (Schiller et al. 2026) and their agreement")
class PropertiesBench(Bench):
    name = "properties"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        suite_arguments(p, "properties", "epistemic", 100)
        p.add_argument("--method-n", type=int, default=20,
                       help="images for the metrics that re-run the method (0: skip them)")
        p.add_argument("--repeats", type=int, default=3, help="repeatability re-runs")
        p.add_argument("--positions", type=int, default=8, help="OOD patches per image (rank improvement)")
        p.add_argument("--sigmas", default=None,
                       help="blurring-test blur grid, comma-separated (default: the full grid 0.2, 0.4, ..., 20)")
        p.add_argument("--patch", type=int, default=None, help="OOD patch side (default round(H/7): 4 on 28x28, 1 on 8x8)")
        p.add_argument("--groundtruth", action="store_true",
                       help="score images with planted causes instead (a run trained on 'unsure bench groundtruth' "
                            "data; --target aleatoric, epistemic or total): --n base images, each with a single- "
                            "and a both-cause version, the valid causes scored; adds gt-rank, gt-mass, gt-auroc, "
                            "gt-pointing against the cause masks")

    def main(self, args: argparse.Namespace) -> int:
        if args.method_n < 0:
            raise UnsureError(f"--method-n must be >= 0, got {args.method_n}")
        post, data = run_posterior(args)
        opts = options_from_args(args)
        try:
            sigmas = None if args.sigmas is None else tuple(float(v) for v in args.sigmas.split(","))
        except ValueError as e:
            raise UnsureError(f"--sigmas must be comma-separated numbers, got {args.sigmas!r}") from e
        so = ScoreOptions(repeats=args.repeats, positions=args.positions, patch=args.patch, sigmas=sigmas)
        causes = None
        if args.groundtruth:
            from ..groundtruth.cache import base_of_run

            data = args.data or base_of_run(getattr(post, "run_config", None) or {})
            if not data:
                raise UnsureError("--groundtruth: name the base data set with --data (the run was not trained "
                                  "on data that 'unsure bench groundtruth' generated)")
            causes = groundtruth_task(post, data, opts)
        return finish(args, self.name, properties_benchmark(post, data, args.methods, opts, args.method_n, so, causes))
