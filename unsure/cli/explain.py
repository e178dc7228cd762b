"""``unsure explain``: explain a trained run's uncertainty on data-set images or the user's own
image files; writes PNG overlays, ``results.json`` and the HTML report ``OUT/index.html``."""
from __future__ import annotations

import argparse
import json
import shlex
import warnings
from pathlib import Path

import torch

from ..errors import UnsureError
from ..flags import (batch_size_argument, deprecated_alias, invocation, methods_argument, out_arguments,
                     split_argument)
from ..identity import check_run_data, resolve_spec, result_identity
from ..outputs import stamped
from ..measures import decomposable
from ..run import resolve_device
from .commands import Command, register

ALL_TARGETS = decomposable()  # "all": total, aleatoric, epistemic


def user_warnings(notes: list[str]):
    """Print each :class:`ReportWarning` raised inside as one ``unsure: warning: ...`` line on
    stderr as it happens, and keep it in ``notes`` (the report lists them)."""
    from ..notes import warning_lines
    from ..report.model import ReportWarning

    return warning_lines(ReportWarning, notes)


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
    from .source import add_source_arguments

    add_source_arguments(p, "run directory made by 'unsure train', 'unsure demo' or unsure.save_run")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", default=None,
                     help="explain images of this data spec (default: the run's data; with --model: required, "
                          "or --images with --image-shape)")
    src.add_argument("--images", nargs="+", default=None, metavar="FILE",
                     help="explain these image files (PNG, JPEG, ...); resized and converted to the model's input")
    methods_argument(p, "explain")  # "default", the default of unsure.attribute
    deprecated_alias(p, "--method", "--methods", "methods")
    p.add_argument("--target", default=None,
                   help="what to explain: total, aleatoric, epistemic, a comma list, 'all', or class:N "
                        "(default: epistemic; total for a one-sample posterior such as a single network)")
    out_arguments(p, "output folder for index.html, overlays/ and results.json", required=True,
                  force_help="replace an existing report folder (only one unsure wrote)")
    p.add_argument("--n", type=int, default=8, help="with --data: explain the N most uncertain images")
    p.add_argument("--index", type=int, nargs="+", default=None, metavar="I",
                   help="with --data: explain these image indices instead")
    split_argument(p)
    p.add_argument("--pool", type=int, default=2000,
                   help="with --data: look for the most uncertain among the first POOL images (0: all)")
    p.add_argument("--image-shape", default=None, metavar="C,H,W",
                   help="with --model and --images: the model's input channels and size, e.g. 3,32,32")
    p.add_argument("--invert", action="store_true",
                   help="with --images: invert the files (dark object on light ground -> MNIST style)")
    p.add_argument("--blurring", action="store_true",
                   help="also run the blurring test with the substitute panel (blur, zero, mean, noise, road) "
                        "of the maps, which says per image which map to trust")
    batch_size_argument(p)
    p.add_argument("--device", default="auto", help="auto (cuda when available, default), cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0, help="seeds the posterior draw and the methods")
    p.add_argument("--screenshot", default=None, metavar="PNG", help="also save a Chromium screenshot of the page")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def one_sample_targets(post, asked: str | None, targets: list[str]) -> list[str]:
    """The targets to explain once the posterior is known: for a one-sample posterior (S = 1) the
    default (no ``--target``) and ``all`` become ``total`` with a note (a :class:`ReportWarning`);
    an explicit epistemic or aleatoric target is a one-line error."""
    from ..measures.one_sample import check_target, one_sample_note, samples_of
    from ..posteriors import Evidential
    from ..report.model import ReportWarning

    samples = samples_of(post)
    if samples == 1 and (asked is None or asked.strip() == "all"):
        warnings.warn(one_sample_note("the model"), ReportWarning, stacklevel=2)
        return ["total"]
    for t in targets:
        check_target(t, samples, isinstance(post, Evidential))
    return targets


def select_images(post, data: str, split: str, n: int, index: list[int] | None, pool: int,
                  target: str, seed: int, progress: bool = False):
    """Images ``[B,C,H,W]``, labels ``[B]``, names and the model's :class:`Accuracy` on the first
    ``pool`` images, from a data spec: ``index`` or the ``n`` most uncertain (by ``target`` if it
    is a measure, else epistemic; total for a one-sample posterior) among the first ``pool``.
    A near-chance accuracy is a :class:`ReportWarning`."""
    from ..data import load
    from ..measures import MEASURES
    from ..measures.one_sample import default_target, samples_of
    from ..report.accuracy import Accuracy, scan, warn_if_near_chance

    d = load(data, split)
    opts = getattr(post, "run_config", {}).get("arch_options", {})
    want = [opts.get("in_channels"), opts.get("image_size"), opts.get("image_size")]
    if None not in want and list(d.x.shape[1:]) != want:
        raise UnsureError(f"the run's model takes [C,H,W] = {want} images but {data} ({split}) has "
                          f"{list(d.x.shape[1:])}; explain it on the data it was trained on")
    if index is not None:
        bad = [i for i in index if not 0 <= i < len(d.y)]
        if bad:
            raise UnsureError(f"--index {bad[0]} out of range: {data} ({split}) has {len(d.y)} images")
    elif n < 1:
        raise UnsureError(f"--n must be >= 1, got {n}")
    m = len(d.y) if pool <= 0 else min(pool, len(d.y))
    draw = post.draw(torch.Generator().manual_seed(seed))
    rank_by = target if target in MEASURES else default_target(samples_of(post))[0]
    u, right, K = scan(draw, d.x[:m], d.y[:m], MEASURES.get(rank_by), progress=progress)
    acc = Accuracy(int(right.sum()), m, K, f"the first {m} {data} {split} images")
    warn_if_near_chance(acc)
    idx = torch.tensor(index, dtype=torch.long) if index is not None else u.topk(min(n, m)).indices
    names = [f"{split} #{int(i)}" for i in idx]
    return d.x[idx], d.y[idx], names, acc


def save_report(report, results: dict, out: str, replace: bool = False) -> Path:
    """Write the report and ``results.json`` into a fresh folder that replaces ``out`` whole
    (old overlays never survive next to a new report; an existing report only with ``replace``,
    i.e. ``--force``); returns the path of ``index.html``."""
    from ..outputs import atomic_dir
    from ..report import write_report

    with atomic_dir(out, "report", replace=replace) as tmp:
        write_report(report, tmp)
        (tmp / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return Path(out) / "index.html"
def image_shape(text: str | None, cfg: dict) -> tuple[int, tuple[int, int]]:
    """``(C, (H, W))`` for image files: ``--image-shape C,H,W`` or the run's architecture options."""
    if text:
        try:
            C, H, W = (int(t) for t in text.split(","))
        except ValueError:
            raise UnsureError(f"--image-shape must be C,H,W (e.g. 3,32,32), got {text!r}") from None
        if C not in (1, 3) or H < 1 or W < 1:
            raise UnsureError(f"--image-shape: 1 or 3 channels and a positive size, got {text!r}")
        return C, (H, W)
    opts = cfg.get("arch_options", {})
    size = int(opts.get("image_size", 28))
    return int(opts.get("in_channels", 1)), (size, size)


def run_explain(args: argparse.Namespace) -> int:
    from ..attribution.spec import parse_methods
    from ..outputs import check_out_dir, check_out_file
    from ..report import build_report, load_images
    from .source import posterior_from_args, source_label

    notes: list[str] = []
    check_out_dir(args.out, "report", replace=args.force)  # before any work: a user's folder is refused
    if args.screenshot:
        check_out_file(args.screenshot, "--screenshot")
    with user_warnings(notes):
        methods = parse_methods(args.methods)  # unknown names fail before any work
        targets = parse_targets(args.target or "epistemic")
        if args.blurring and not set(targets) & set(ALL_TARGETS):
            raise UnsureError("--blurring tests uncertainty maps: add total, aleatoric or epistemic to --target")
        if args.model and not (args.data or (args.images and args.image_shape)):
            raise UnsureError("--model needs --data SPEC (digits, fashion-mnist, cifar10:DIR, ...), or "
                              "--images FILE ... with --image-shape C,H,W")
        post = posterior_from_args(args, resolve_device(args.device))
        cfg = post.run_config
        targets = one_sample_targets(post, args.target, targets)
        # the run's data after checking its file is the one it was trained on (unsure.identity)
        data = args.data or (None if args.images else check_run_data(cfg, args.run))
        acc = None
        if args.images:
            C, H = image_shape(args.image_shape, cfg)
            x = load_images(args.images, C, H)
            if args.invert:
                x = 1 - x
            labels, names = None, [Path(f).name for f in args.images]
        else:
            if not data:
                raise UnsureError("the run does not name its data; pass --data SPEC or --images FILE ...")
            x, labels, names, acc = select_images(post, data, args.split, args.n, args.index, args.pool,
                                                  targets[0], args.seed, not args.no_progress)
        report, results = build_report(post, x, names, methods=methods, targets=targets, labels=labels,
                                       data=cfg.get("data") or data, seed=args.seed, batch_size=args.batch_size,
                                       blurring=args.blurring, progress=not args.no_progress,
                                       title="Where does the uncertainty come from?",
                                       intro=f"{', '.join(m.label for m in methods)} explanations of the "
                                             f"{', '.join(targets)} uncertainty of {len(names)} image(s).")
    m = cfg.get("metrics", {})
    report.model = {"run" if args.run else "model": args.run or args.model,
                    "trained on": cfg.get("data") or "not recorded in the run" if args.run
                    else "not known (your model: unsure did not train it)",
                    "posterior": f"{cfg.get('posterior', {}).get('posterior', type(post).__name__)}, "
                                 f"{post.num_samples} samples",
                    "test accuracy": f"{m['accuracy']:.3f}" if "accuracy" in m
                    else "not measured" + ("" if acc is not None else " (give --data to measure it)")}
    if acc is not None:
        report.model["accuracy on --data"] = acc.text()
        results["accuracy"] = {"value": acc.value, "correct": acc.correct, "n": acc.n, "chance": acc.chance,
                               "near_chance": acc.near_chance, "images": acc.where}
    report.settings = {"source": source_label(args), "images": "files: " + " ".join(args.images) if args.images
                       else f"{data} ({args.split}), " + (f"indices {args.index}" if args.index else
                                                        f"{args.n} most uncertain of the first {args.pool or 'all'}"),
                       "methods": ", ".join(m.label for m in methods), "targets": ", ".join(targets),
                       "seed": args.seed, "device": str(post.device)}
    report.command = command_line("explain", {
        "run": args.run, "model": args.model, "weights": args.weights, "data": args.data,
        "images": args.images, "image_shape": args.image_shape, "methods": args.methods,
        "target": args.target, "out": args.out, "n": None if args.images or args.index else args.n,
        "index": args.index, "split": None if args.split == "test" else args.split,
        "invert": args.invert, "blurring": args.blurring, "seed": args.seed})
    report.notes = notes
    results["command"] = report.command
    results["notes"] = notes
    settings = {**invocation(args)["settings"], "data": resolve_spec(data) if data else None}  # as used
    results["identity"] = result_identity(post, data, settings, args.images)
    results = stamped(results, settings=settings)  # schema_version, settings
    page = save_report(report, results, args.out, replace=args.force)
    print(f"wrote {page} ({len(names)} image(s), {len(methods)} method(s), {len(targets)} target(s))")
    if args.screenshot:
        from ..outputs import add_to_marker
        from ..report.browser import screenshot

        print(f"wrote {screenshot(page, args.screenshot)}")
        add_to_marker(args.out, args.screenshot)  # inside the report: replaced with it
    return 0


COMMAND = register(Command("explain", "explain a run's uncertainty on data-set images or your own image "
                                      "files; writes an HTML report", _add_arguments, run_explain))
