"""Shared plumbing of the evaluation-suite benches (anomaly, insertion, sic-aic, localization,
ablation, sanity, rotation): one options dataclass, method look-up (unknown names refused),
attribution of every method under one frozen draw, outputs and plots.

Every bench module exposes ``NAME_benchmark(posterior, data, methods, opts) -> BenchResult`` for
programmatic callers (``unsure bench all``) and a :class:`~unsure.bench.base.Bench` for the CLI.
"""
from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..attribution import METHODS, make_method
from ..attribution.spec import MethodSpec, parse_method
from ..errors import UnsureError
from ..flags import batch_size_argument, invocation, methods_argument, split_argument
from ..posteriors import Draw, Posterior
from .base import BenchResult, common_arguments, output_dir, write_result


@dataclass
class SuiteOptions:
    """Options shared by the suite's benches (CLI flags of the same names).

    n : images evaluated; target : what the maps explain (measure name or class target);
    seed : seeds the draw, the methods and the metric; batch_size : images per attribution chunk;
    split : data split evaluated; progress : tqdm bars.
    """

    n: int = 100
    target: str = "epistemic"
    seed: int = 0
    batch_size: int = 50
    split: str = "test"
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + offset)


SuiteOutput = BenchResult  # the suite's name for it


def available_methods(methods: str | list[str] | list[MethodSpec]) -> list[MethodSpec]:
    """Method specs (``NAME[:key=value...]``); an unregistered name raises :class:`UnsureError`
    with the known ones (exit 2 on the command line, as every command does)."""
    if isinstance(methods, str):
        methods = [t.strip() for t in methods.split(",") if t.strip()]
    specs = [m if isinstance(m, MethodSpec) else parse_method(m) for m in methods]
    for spec in specs:
        METHODS.get(spec.name)  # unknown names fail here, listing the known ones
    if not specs:
        raise UnsureError("no methods given")
    return specs


def attribute_all(posterior: Posterior, x: Tensor, specs: list[MethodSpec], target, draw: Draw,
                  opts: SuiteOptions) -> tuple[dict[str, Tensor], dict[str, float]]:
    """Maps ``[B,H,W]`` (CPU) of every method, same draw and seed; seconds per image. A method that
    rejects the posterior or target (:class:`UnsureError`) is skipped with a warning."""
    maps, seconds = {}, {}
    for spec in tqdm(specs, desc="methods", disable=not opts.progress, leave=False):
        try:
            method = make_method(spec.name, **spec.options)
            t0 = time.perf_counter()
            att = method.attribute(posterior, x, target, draw=draw, batch_size=opts.batch_size,
                                   generator=opts.generator(1))
        except UnsureError as e:
            warnings.warn(f"method {spec.label!r} skipped: {e}", stacklevel=2)
            continue
        seconds[spec.label] = (time.perf_counter() - t0) / len(x)
        maps[spec.label] = att.maps.detach().cpu()
    return maps, seconds


def suite_arguments(p: argparse.ArgumentParser, methods: str, target: str, n: int) -> None:  # methods: a flags.COMMAND_METHODS key
    """The CLI flags of :class:`SuiteOptions` plus ``--methods`` (and the common ones)."""
    common_arguments(p)
    methods_argument(p, methods)
    p.add_argument("--target", default=target, help="what the maps explain: epistemic, total, class, class:N, ...")
    p.add_argument("--n", type=int, default=n, help="number of images")
    split_argument(p, train=False)
    batch_size_argument(p)


def options_from_args(args: argparse.Namespace) -> SuiteOptions:
    from ..measures import resolve_target

    if args.n < 1:
        raise UnsureError(f"--n must be positive, got {args.n}")
    resolve_target(args.target)  # an unknown measure or class fails here, in one line, before any work
    return SuiteOptions(n=args.n, target=args.target, seed=args.seed, batch_size=args.batch_size,
                        split=args.split, progress=not args.no_progress)


def config_of(name: str, posterior: Posterior, data: str, specs: list[MethodSpec],
              opts: SuiteOptions, **extra) -> dict[str, Any]:
    """The ``config`` block of a result: seeds, options, methods, posterior and data."""
    cfg = {"bench": name, "data": data, "methods": [s.label for s in specs],
           "posterior": posterior.config(), "device": str(posterior.device)}
    cfg.update({k: v for k, v in asdict(opts).items() if k != "extra"})
    cfg.update(opts.extra)
    cfg.update(extra)
    return cfg


def finish(args: argparse.Namespace, name: str, out: BenchResult) -> int:
    """Write ``NAME.json``, ``NAME.md`` and the plots into ``--out``; print the table."""
    folder = output_dir(args, name)
    out.config.setdefault("run", getattr(args, "run", None))
    write_result(folder, name, out, getattr(args, "json", None), invocation(args))
    print(out.markdown)
    print(f"wrote {folder}/{name}.json, {name}.md" + "".join(f", {f}" for f in out.plots))
    return 0


def figure(ncols: int = 1, width: float = 5.0, height: float = 3.8):
    """A matplotlib figure with the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return plt, fig, axes[0]


def save(plt, fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def line_plot(path: Path, panels: list[tuple[str, str, str, dict[str, tuple[list, list]]]]) -> None:
    """One panel per ``(title, xlabel, ylabel, {label: (xs, ys)})``."""
    plt, fig, axes = figure(len(panels))
    for ax, (title, xl, yl, series) in zip(axes, panels):
        for label, (xs, ys) in series.items():
            ax.plot(xs, ys, label=label)
        ax.set_title(title)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=8)
    save(plt, fig, path)


def bar_plot(path: Path, panels: list[tuple[str, dict[str, float]]]) -> None:
    """One bar panel per ``(title, {label: value})``."""
    plt, fig, axes = figure(len(panels))
    for ax, (title, vals) in zip(axes, panels):
        ax.bar(list(vals), list(vals.values()), color="tab:blue")
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
        ax.grid(alpha=0.3, axis="y")
    save(plt, fig, path)


def select_images(draw: Draw, x: Tensor, n: int, target) -> Tensor:
    """Indices of the images to evaluate: the ``n`` with the largest ``target`` when it is an
    uncertainty measure (the paper's "most uncertain" selection), else the first ``n``."""
    from ..measures import MEASURES
    from ..measures.selection import most_uncertain

    if isinstance(target, str) and target in MEASURES:
        return most_uncertain(draw, x, n, target)
    return torch.arange(min(n, len(x)))


def load_split(data: str, split: str):
    from ..data import load

    return load(data, split)


class Selection(NamedTuple):
    """The first steps most suite benches share (:func:`select`)."""

    specs: list[MethodSpec]  # the registered methods asked for
    draw: Draw  # one seeded draw (``opts.generator()``) for every method and metric
    idx: Tensor  # [n] indices of the evaluated images in the split
    x: Tensor  # [n,C,H,W] those images, on the posterior's device


def select(posterior: Posterior, data: str, methods, opts: SuiteOptions) -> Selection:
    """Method specs, one seeded draw, and the ``opts.n`` images of ``opts.split`` chosen by
    :func:`select_images` (the most uncertain by ``opts.target`` when it is a measure)."""
    specs = available_methods(methods)
    d = load_split(data, opts.split)
    draw = posterior.draw(opts.generator())
    idx = select_images(draw, d.x, opts.n, opts.target)
    return Selection(specs, draw, idx, d.x[idx].to(posterior.device))
