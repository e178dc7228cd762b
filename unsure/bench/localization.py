"""``unsure bench localization``: ROC-AUC, best-threshold F1 and MAE of maps against ground truth.

Two tasks (``--task``):

- ``anomaly`` (default; uncertainty maps): the ground truth is the pasted square of the anomaly
  benchmark (:mod:`unsure.metrics.anomaly`), images with the largest rise of ``--target``;
- ``decoy`` (class-score maps, Distill 2020): a posterior of the run's architecture and kind is
  trained for ``--epochs`` on the decoy version of the training set (a corner patch encodes the
  class) and its maps of the predicted class are scored against the patch.

Writes ``localization.json``, ``localization.md`` and ``localization.png``.
"""
from __future__ import annotations

import argparse
import inspect

import torch
from tqdm.auto import tqdm

from ..errors import UnsureError
from ..metrics.anomaly import make_anomalies, select_most_increased
from ..metrics.base import header
from ..metrics.localization import localization_scores, make_decoy
from ..user_model import run_posterior
from ._suite import (SuiteOptions, attribute_all, available_methods, bar_plot, config_of,
                     finish, load_split, options_from_args, suite_arguments)
from .anomaly import default_patch
from .base import BENCHES, Bench, BenchResult, markdown_table


def train_decoy_posterior(posterior, x, y, epochs: int, seed: int, progress: bool):
    """A fresh posterior like ``posterior`` (from its ``run_config``) trained on decoy images."""
    from ..posteriors import POSTERIORS
    from ..run import model_factory
    from ..training import TrainConfig
    from ..training.fitters import FITTERS

    cfg = getattr(posterior, "run_config", None)
    if not cfg or "arch" not in cfg or "posterior" not in cfg:
        raise UnsureError("the decoy task retrains the posterior, so it needs a run made by 'unsure train' "
                          "(a built-in architecture); pass decoy_posterior= instead")
    pcfg = dict(cfg["posterior"])
    name = pcfg.pop("posterior")
    POSTERIORS.get(name)  # unknown names fail here, with the list of posteriors
    fit_fn = FITTERS.get(name)
    params = inspect.signature(fit_fn).parameters
    options = {k: v for k, v in pcfg.items() if k in params and k not in ("x", "y", "cfg")}
    torch.manual_seed(seed)
    post = fit_fn(model_factory(cfg["arch"], cfg.get("arch_options", {})), x, y,
                  TrainConfig(epochs=epochs, progress=progress),
                  generator=torch.Generator().manual_seed(seed), **options)
    return post.to(posterior.device).eval()


def decoy_reliance(post, x, y, size: int, num_classes: int, generator: torch.Generator,
                   n: int = 2000) -> dict[str, float]:
    """Test accuracy of the decoy-trained posterior with the patch encoding the true class, a
    shuffled class, and no patch: how much the model reads the patch, without which the decoy
    task has no ground truth (a model that ignores the patch has nothing there to find)."""
    from ..evaluate import predictive_metrics

    x, y = x[:n], y[:n]
    shuffled = y[torch.randperm(len(y), generator=generator)]
    images = {"true patch": make_decoy(x, y, size, num_classes=num_classes)[0],
              "shuffled patch": make_decoy(x, shuffled, size, num_classes=num_classes)[0],
              "no patch": x}
    return {k: predictive_metrics(post, v.to(post.device), y.to(post.device),
                                  generator=torch.Generator().manual_seed(0))["accuracy"]
            for k, v in images.items()}


def localization_benchmark(posterior, data: str, methods, opts: SuiteOptions, task: str = "anomaly",
                           patch: int | None = None, decoy_size: int | None = None, epochs: int = 2,
                           decoy_posterior=None) -> BenchResult:
    """Localisation scores of every method's maps against the task's ground-truth masks."""
    specs = available_methods(methods)
    te = load_split(data, opts.split)
    H = te.x.shape[2]
    extra: dict = {"task": task}
    if task == "anomaly":
        tr = load_split(data, "train")
        patch = patch or default_patch(H)
        x_anom, boxes = make_anomalies(te.x[:2000], tr.x, patch, opts.generator(2))
        post = posterior
        draw = post.draw(opts.generator())
        sel = select_most_increased(post, te.x[:2000], x_anom, opts.n, draw, opts.target)
        x, b = x_anom[sel], boxes[sel]
        rows_ = torch.arange(H)[None, :, None]
        cols_ = torch.arange(te.x.shape[3])[None, None, :]
        masks = ((rows_ >= b[:, 0, None, None]) & (rows_ < b[:, 2, None, None])
                 & (cols_ >= b[:, 1, None, None]) & (cols_ < b[:, 3, None, None]))  # [n,H,W]
        extra.update(patch=patch, selected=sel.tolist())
    elif task == "decoy":
        size = decoy_size or max(2, round(4 * H / 28))  # >= 2 px: a 1-px corner is barely seen by an unpadded conv
        tr = load_split(data, "train")
        K = int(max(tr.y.max(), te.y.max())) + 1
        post = decoy_posterior
        if post is None:
            xd_tr, _ = make_decoy(tr.x, tr.y, size, num_classes=K)
            post = train_decoy_posterior(posterior, xd_tr, tr.y, epochs, opts.seed, opts.progress)
        x, masks = make_decoy(te.x[:opts.n], te.y[:opts.n], size, num_classes=K)
        draw = post.draw(opts.generator())
        extra.update(decoy_size=size, epochs=epochs,
                     decoy_accuracy=decoy_reliance(post, te.x, te.y, size, K, opts.generator(3)))
    else:
        raise UnsureError(f"task must be 'anomaly' or 'decoy', got {task!r}")
    x = x.to(post.device)
    maps, seconds = attribute_all(post, x, specs, opts.target, draw, opts)
    results = {}
    for label, m in tqdm(maps.items(), desc="localization", disable=not opts.progress, leave=False):
        r = localization_scores(m, masks)
        results[label] = {"loc-auc": r.summary()["auc"], "loc-f1": r.summary()["f1"],
                          "loc-mae": r.summary()["mae"], "images": len(r.kept), "skipped": r.skipped,
                          "seconds_per_image": seconds[label]}
    rows = [[k, v["loc-auc"], v["loc-f1"], v["loc-mae"], v["images"], v["skipped"]] for k, v in results.items()]
    md = (f"Localisation ({task}) of {opts.target} maps on {data} ({opts.split}); means over images "
          f"(images with an empty or full mask skipped).\n\n"
          + markdown_table(["method", header("loc-auc"), header("loc-f1"), header("loc-mae"), "images",
                            "skipped"], rows))
    if "decoy_accuracy" in extra:
        acc = extra["decoy_accuracy"]
        md += (f"\nDecoy model, test accuracy with the patch = true class {acc['true patch']:.3f}, "
               f"shuffled patch {acc['shuffled patch']:.3f}, no patch {acc['no patch']:.3f}: the model "
               + ("relies on the patch, so the maps should find it.\n"
                  if acc["true patch"] - acc["shuffled patch"] > 0.2 else
                  "hardly relies on the patch, so the patch is a weak ground truth here.\n"))
    cfg = config_of("localization", post, data, specs, opts, **extra)
    plots = {"localization.png": lambda p: bar_plot(p, [
        (f"{k} {header(k)[-1]}", {lab: v[k] for lab, v in results.items()}) for k in ("loc-auc", "loc-f1", "loc-mae")])}
    return BenchResult(results, md, cfg, plots)


@BENCHES.register("localization", "ROC-AUC / F1 / MAE of maps vs ground truth (anomaly patches or decoy)")
class LocalizationBench(Bench):
    name = "localization"
    suite_run = staticmethod(localization_benchmark)
    suite_n = 200
    suite_order = 4

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        suite_arguments(p, "suite", "epistemic", 200)
        p.add_argument("--task", default="anomaly", choices=["anomaly", "decoy"],
                       help="anomaly: a pasted patch; decoy: a patch the model was trained to use")
        p.add_argument("--patch", type=int, default=None, help="anomaly side (default 10 on 28x28, scaled)")
        p.add_argument("--decoy-size", type=int, default=None, help="decoy patch side (default 4 on 28x28, scaled)")
        p.add_argument("--epochs", type=int, default=2, help="training epochs on decoy data")

    def main(self, args: argparse.Namespace) -> int:
        post, data = run_posterior(args)
        out = localization_benchmark(post, data, args.methods, options_from_args(args), args.task,
                                     args.patch, args.decoy_size, args.epochs)
        return finish(args, self.name, out)
