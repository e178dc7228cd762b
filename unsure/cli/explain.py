"""``unsure explain``: explain a trained run's uncertainty on data-set images or the user's own
image files; writes PNG overlays, ``results.json`` and the HTML report ``OUT/index.html``."""
from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import warnings
from pathlib import Path

import torch

from ..errors import UnsureError
from ..measures import decomposable
from ..run import resolve_device
from .commands import Command, register

ALL_TARGETS = decomposable()  # "all": total, aleatoric, epistemic


@contextlib.contextmanager
def user_warnings(notes: list[str]):
    """Print each :class:`ReportWarning` raised inside as one ``unsure: warning: ...`` line on
    stderr as it happens, and keep it in ``notes`` (the report lists them)."""
    from ..report.model import ReportWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", ReportWarning)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if not issubclass(category, ReportWarning):
                return shown(message, category, filename, lineno, file, line)
            if str(message) not in notes:
                notes.append(str(message))
                print(f"unsure: warning: {message}", file=sys.stderr, flush=True)

        warnings.showwarning = show  # restored by catch_warnings
        yield


def parse_targets(text: str) -> list[str]:
    """``"epistemic"``, ``"total,aleatoric"`` or ``"all"`` -> names (checked)."""
    from ..report.pipeline import check_targets

    names = [t.strip() for t in text.split(",") if t.strip()]
    return check_targets(list(ALL_TARGETS) if names == ["all"] else names)


def command_line(prog: str, args: dict) -> str:
    """``unsure PROG --key value ...`` for the report's "Reproduce" box (``None``/``False`` left out)."""
    parts = ["unsure", prog]
    for k, v in args.items():
        flag = "--" + k.replace("_", "-")
        if v is None or v is False:
            continue
        if v is True:
            parts.append(flag)
        elif isinstance(v, (list, tuple)):
            parts += [flag, *map(str, v)]
        else:
            parts += [flag, str(v)]
    return shlex.join(parts)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run directory made by 'unsure train' or 'unsure demo'")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", default=None, help="explain images of this data spec (default: the run's data)")
    src.add_argument("--images", nargs="+", default=None, metavar="FILE",
                     help="explain these image files (PNG, JPEG, ...); resized and converted to the model's input")
    p.add_argument("--method", default="ua-backprop",
                   help="method(s), comma-separated NAME[:key=value] (see 'unsure methods'); default ua-backprop")
    p.add_argument("--target", default="epistemic",
                   help="what to explain: total, aleatoric, epistemic, a comma list, 'all', or class:N")
    p.add_argument("--out", required=True, help="output folder for index.html, overlays/ and results.json")
    p.add_argument("--n", type=int, default=8, help="with --data: explain the N most uncertain images")
    p.add_argument("--index", type=int, nargs="+", default=None, metavar="I",
                   help="with --data: explain these image indices instead")
    p.add_argument("--split", default="test", choices=["test", "val", "train"])
    p.add_argument("--pool", type=int, default=2000,
                   help="with --data: look for the most uncertain among the first POOL images (0: all)")
    p.add_argument("--invert", action="store_true",
                   help="with --images: invert the files (dark object on light ground -> MNIST style)")
    p.add_argument("--blurring", action="store_true", help="also run the blurring test of the epistemic maps")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--screenshot", default=None, metavar="PNG", help="also save a Chromium screenshot of the page")
    p.add_argument("--no-progress", action="store_true")


def select_images(post, data: str, split: str, n: int, index: list[int] | None, pool: int,
                  target: str, seed: int, progress: bool = False):
    """Images ``[B,C,H,W]``, labels ``[B]`` and names from a data spec: ``index`` or the ``n``
    most uncertain (by ``target`` if it is a measure, else epistemic) among the first ``pool``."""
    from ..data import load
    from ..measures import MEASURES
    from ..measures.selection import most_uncertain

    d = load(data, split)
    if index is not None:
        bad = [i for i in index if not 0 <= i < len(d.y)]
        if bad:
            raise UnsureError(f"--index {bad[0]} out of range: {data} ({split}) has {len(d.y)} images")
        idx = torch.tensor(index, dtype=torch.long)
    else:
        if n < 1:
            raise UnsureError(f"--n must be >= 1, got {n}")
        m = len(d.y) if pool <= 0 else min(pool, len(d.y))
        draw = post.draw(torch.Generator().manual_seed(seed))
        idx = most_uncertain(draw, d.x[:m], n, target if target in MEASURES else "epistemic",
                             batch_size=250, progress=progress)
    names = [f"{split} #{int(i)}" for i in idx]
    return d.x[idx], d.y[idx], names


def run_explain(args: argparse.Namespace) -> int:
    from ..attribution.spec import parse_methods
    from ..report import build_report, load_images, write_report
    from ..run import load_run

    notes: list[str] = []
    with user_warnings(notes):
        methods = parse_methods(args.method)  # unknown names fail before any work
        targets = parse_targets(args.target)
        if args.blurring and "epistemic" not in targets:
            raise UnsureError("--blurring tests epistemic maps: add epistemic to --target")
        if args.batch_size < 1:
            raise UnsureError(f"--batch-size must be >= 1, got {args.batch_size}")
        post = load_run(args.run, device=resolve_device(args.device))
        cfg = post.run_config
        data = args.data or (None if args.images else cfg.get("data"))
        if args.images:
            opts = cfg.get("arch_options", {})
            x = load_images(args.images, int(opts.get("in_channels", 1)), int(opts.get("image_size", 28)))
            if args.invert:
                x = 1 - x
            labels, names = None, [Path(f).name for f in args.images]
        else:
            if not data:
                raise UnsureError("the run does not name its data; pass --data SPEC or --images FILE ...")
            x, labels, names = select_images(post, data, args.split, args.n, args.index, args.pool,
                                             targets[0], args.seed, not args.no_progress)
        report, results = build_report(post, x, names, methods=methods, targets=targets, labels=labels,
                                       data=cfg.get("data"), seed=args.seed, batch_size=args.batch_size,
                                       blurring=args.blurring, progress=not args.no_progress,
                                       title="Where does the uncertainty come from?",
                                       intro=f"{', '.join(m.label for m in methods)} explanations of the "
                                             f"{', '.join(targets)} uncertainty of {len(names)} image(s).")
    m = cfg.get("metrics", {})
    report.model = {"run": args.run, "trained on": cfg.get("data", "?"),
                    "posterior": f"{cfg.get('posterior', {}).get('posterior', '?')}, "
                                 f"{post.num_samples} samples",
                    "test accuracy": f"{m['accuracy']:.3f}" if "accuracy" in m else "?"}
    report.settings = {"run": args.run, "images": "files: " + " ".join(args.images) if args.images
                       else f"{data} ({args.split}), " + (f"indices {args.index}" if args.index else
                                                        f"{args.n} most uncertain of the first {args.pool or 'all'}"),
                       "methods": ", ".join(m.label for m in methods), "targets": ", ".join(targets),
                       "seed": args.seed, "device": str(post.device)}
    report.command = command_line("explain", {
        "run": args.run, "data": args.data, "images": args.images, "method": args.method,
        "target": args.target, "out": args.out, "n": None if args.images or args.index else args.n,
        "index": args.index, "split": None if args.split == "test" else args.split,
        "invert": args.invert, "blurring": args.blurring, "seed": args.seed})
    report.notes = notes
    page = write_report(report, args.out)
    results["command"] = report.command
    results["notes"] = notes
    (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {page} ({len(names)} image(s), {len(methods)} method(s), {len(targets)} target(s))")
    if args.screenshot:
        from ..report.browser import screenshot

        print(f"wrote {screenshot(page, args.screenshot)}")
    return 0


COMMAND = register(Command("explain", "explain a run's uncertainty on data-set images or your own image "
                                      "files; writes an HTML report", _add_arguments, run_explain))
