"""``unsure demo``: train (or reuse) a small deep ensemble, explain the test images it is least
sure about with UA-Backprop and two gradient baselines for total, aleatoric and epistemic
uncertainty, run the blurring test, and write ``demo-report/index.html``.

Budget (measured on a 2-core CPU, one thread, shared machine): one Paper-CNN member and one
epoch on 15,000 Fashion-MNIST images take about 45 s, evaluating 5 members on the 10,000 test
images about 75 s, the rest about 1 min, so the default demo finishes in well under 10 minutes.
The run is cached in ``runs/demo-<data>`` and reused while its settings match.
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

from ..errors import DataError, UnsureError
from ..flags import deprecated_alias, invocation, methods_argument, out_arguments, split_argument
from ..outputs import stamped
from ..run import resolve_device
from .commands import Command, register
from .explain import ALL_TARGETS, command_line, save_report, select_images, user_warnings

DEFAULT_LIMIT = 15000
EPOCHS = {"digits": 10}  # default epochs per data set (1 otherwise): 8x8 digits train in seconds


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None,
                   help="data spec (default: fashion-mnist, or digits when Fashion-MNIST is not installed)")
    out_arguments(p, "report folder", default="demo-report",
                  force_help="replace an existing report folder (only one unsure wrote)")
    p.add_argument("--members", type=int, default=5, help="ensemble members")
    p.add_argument("--epochs", type=int, default=None, help="epochs per member (default 1; 10 on digits)")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                   help="training images per member (0: all)")
    p.add_argument("--n", type=int, default=8, help="explain the N most uncertain images of --split")
    deprecated_alias(p, "--n-images", "--n", "n", type=int)
    split_argument(p)
    p.add_argument("--pool", type=int, default=2000,
                   help="look for them among the first POOL images of the split (0: all)")
    methods_argument(p, "demo")
    p.add_argument("--fractions", default="0.02", help="blurring-test pixel fractions")
    p.add_argument("--retrain", action="store_true", help="train again even if a cached run matches")
    p.add_argument("--runs", default="runs", help="where cached runs live")
    p.add_argument("--seed", type=int, default=0, help="seeds training, the draw and the methods")
    p.add_argument("--device", default="auto", help="auto (cuda when available, default), cpu, cuda or cuda:N")
    p.add_argument("--screenshot", default=None, metavar="PNG",
                   help="also save a headless-Chromium screenshot of the report (e.g. docs/img/report.png)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def default_data() -> str:
    """``fashion-mnist`` when it is installed, else ``digits`` (with a warning)."""
    from ..data.load import fashion_mnist_dir
    from ..report.model import ReportWarning

    try:
        fashion_mnist_dir()
        return "fashion-mnist"
    except DataError as e:
        warnings.warn(f"{e}; using scikit-learn's 8x8 digits instead", ReportWarning, stacklevel=2)
        return "digits"


def run_key(cfg: dict) -> dict:
    """The settings that identify a cached demo run (with the hash of its data file)."""
    from ..identity import recorded

    train = cfg.get("train", {})
    data_id = recorded(cfg, "data")
    return {"data": cfg.get("data"), "data_sha256": data_id.get("sha256") if isinstance(data_id, dict) else None,
            "arch": cfg.get("arch"), "seed": cfg.get("seed"), "limit": cfg.get("limit"), "epochs": train.get("epochs"),
            "members": train.get("options", {}).get("members")}


def cached_run(run_dir: Path, key: dict, retrain: bool, train, say=print) -> tuple[Path, bool]:
    """Reuse ``run_dir`` when its settings equal ``key`` (and not ``retrain``), else call
    ``train(force)``; returns ``(run_dir, reused)``. A folder there that is not a run is left
    alone (an error), so the demo never deletes a user's files."""
    from ..run import CONFIG, read_config

    if run_dir.exists():
        if not (run_dir / CONFIG).is_file():
            raise UnsureError(f"{run_dir} exists but is not a run directory; move it away or pass --runs DIR")
        try:
            old = run_key(read_config(run_dir))
        except UnsureError:
            old = None
        if old == key and not retrain:
            say(f"reusing the cached run {run_dir} (same settings; --retrain trains again)")
            return run_dir, True
        say(f"retraining {run_dir}: " + ("--retrain given" if retrain else "its settings differ"))
    train(force=run_dir.exists())
    return run_dir, False


def run_demo(args: argparse.Namespace) -> int:
    from ..bench.common import parse_floats
    from ..identity import data_identity, identity
    from ..report import build_report, choose_methods
    from ..report.html import slug
    from ..run import load_run
    from ..training.run import train_run

    from ..outputs import check_out_dir, check_out_file

    t_start = time.perf_counter()
    notes: list[str] = []
    progress = not args.no_progress
    check_out_dir(args.out, "report", replace=args.force)  # before training: a user's folder is refused
    if args.screenshot:
        check_out_file(args.screenshot, "--screenshot")
    for name in ("members", "n"):
        if getattr(args, name) < 1:
            raise UnsureError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    with user_warnings(notes):
        data = args.data or default_data()
        epochs = args.epochs if args.epochs is not None else EPOCHS.get(data, 1)
        limit = args.limit or None
        methods = choose_methods(args.methods)
        fractions = parse_floats(args.fractions, "fractions")
        device = str(resolve_device(args.device))
        data_id = data_identity(data)  # the resolved spec and its file's hash: a changed file retrains
        key = {"data": data_id["spec"], "data_sha256": data_id["sha256"], "arch": "paper-cnn",
               "seed": args.seed, "limit": limit,
               "epochs": epochs, "members": args.members}
        run_dir = Path(args.runs) / f"demo-{slug(data)}"

        def train(force: bool) -> None:
            print(f"[1/3] training {args.members} members x {epochs} epoch(s) on "
                  f"{'all' if limit is None else f'at most {limit:,}'} {data} training images, then evaluating on its test split")
            train_run(data=data, out=str(run_dir), members=args.members, epochs=epochs, limit=limit,
                      seed=args.seed, device=device, force=force, progress=progress)

        t0 = time.perf_counter()
        run_dir, reused = cached_run(run_dir, key, args.retrain, train)
        t_train = time.perf_counter() - t0
        post = load_run(run_dir, device=device)
        cfg = post.run_config
        print(f"[2/3] finding the {args.n} most uncertain {args.split} images and explaining them")
        x, labels, names, acc = select_images(post, data, args.split, args.n, None, args.pool,
                                              "epistemic", args.seed, progress)
        t0 = time.perf_counter()
        report, results = build_report(
            post, x, names, methods=methods, targets=list(ALL_TARGETS), labels=labels, data=data,
            seed=args.seed, blurring=True, fractions=fractions, progress=progress,
            title=f"Where does the uncertainty come from? A deep ensemble on {data}",
            intro=(f"A {args.members}-member deep ensemble trained on {data} is unsure about some {args.split} "
                   f"images. For the {len(names)} with the highest epistemic uncertainty, the maps show "
                   f"which pixels the total, aleatoric (data noise) and epistemic (disagreement) "
                   f"uncertainty come from, by {', '.join(m.label for m in methods)}; the blurring test "
                   f"with five substitutes says, per image, which map to trust."))
        t_explain = time.perf_counter() - t0
    print("[3/3] writing the report")
    m = cfg.get("metrics", {})
    report.model = {"data": data, "model": f"{args.members} x paper-cnn (deep ensemble)",
                    "training": f"{epochs} epoch(s) on {cfg.get('splits', {}).get('train', '?'):,} images",
                    "test accuracy": f"{m.get('accuracy', float('nan')):.3f}",
                    "test NLL / ECE": f"{m.get('nll', float('nan')):.3f} / {m.get('ece', float('nan')):.3f}",
                    "accuracy on the explained split": acc.text(),
                    "run": f"{run_dir}" + (" (cached)" if reused else "")}
    secs = results["seconds_per_image"]
    report.settings = {
        "data": data, "members": args.members, "epochs": epochs, "training images": limit or "all",
        "images explained": f"the {len(names)} most epistemically uncertain of the first "
                            f"{args.pool or 'all'} {args.split} images",
        "methods": ", ".join(report.methods), "targets": ", ".join(ALL_TARGETS),
        "blurring fractions": ", ".join(f"{f:g}" for f in fractions),
        "seed": args.seed, "device": device,
        "training time": f"{cfg.get('train_seconds', 0):.0f} s" + (" (earlier, cached)" if reused else ""),
        "explaining + blurring time": f"{t_explain:.1f} s (" + ", ".join(f"{k} {v:.2f} s/image" for k, v in secs.items()) + ")",
        "full benchmark": f"unsure bench blurring --run {run_dir} --n 100",
    }
    report.command = command_line("demo", {
        "data": data, "out": args.out, "members": args.members, "epochs": epochs, "limit": args.limit,
        "n": args.n, "split": None if args.split == "test" else args.split, "pool": args.pool, "methods": args.methods,
        "fractions": args.fractions, "seed": args.seed, "runs": None if args.runs == "runs" else args.runs})
    report.notes = notes
    results |= {"command": report.command, "notes": notes, "run": str(run_dir), "reused_run": reused,
                "seconds": {"training": t_train, "explaining": t_explain,
                            "total": time.perf_counter() - t_start}}
    settings = {**invocation(args)["settings"], "data": data_id["spec"]}  # the data as used
    results["identity"] = identity(post.weights_sha256, data_id, settings)
    results = stamped(results, settings=settings)  # schema_version, settings
    page = save_report(report, results, args.out, replace=args.force)
    if args.screenshot:
        from ..outputs import add_to_marker
        from ..report.browser import screenshot

        print(f"wrote {screenshot(page, args.screenshot)}")
        add_to_marker(args.out, args.screenshot)  # inside the report: replaced with it
    print(f"wrote {page} in {time.perf_counter() - t_start:.0f} s; open it in a browser")
    return 0


COMMAND = register(Command("demo", "train (or reuse) a small ensemble, explain its most uncertain "
                                   "test images and write demo-report/index.html", _add_arguments, run_demo))
