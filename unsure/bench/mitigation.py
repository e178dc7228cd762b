"""``unsure bench mitigation``: retraining with attribution maps as attention (paper Sec. 5.2.2).

For every training size, seed and setting (target x method x attention x space x lambda) a fresh
``mitigation-cnn`` is trained on a seeded subset of the training split and evaluated (ACC, NLL)
on the test split (or ``--eval-split val``), with the evaluation images' own maps as attention.
"No attention" (lambda = 0) is trained once per (size, seed) and is always in the table. Within a
seed every setting shares the initialisation and minibatch order, so differences are paired.

Controls: ``random`` (a random map) and ``constant`` (every pixel equal; with ``inverse`` the
features are scaled by ``1 + lambda`` everywhere) carry no information about the image, so a map
that helps only as much as they do helps through the attention layer, not through what it shows.
They are trained once per setting (they do not depend on the target), and every other row gets
its paired difference to them.

The experiment itself lives in :mod:`unsure.mitigation.experiment`, its summaries and merging in
:mod:`unsure.mitigation.summary`, its plots in :mod:`unsure.mitigation.plots`; this module is the
command line and the markdown table.

Writes ``mitigation.json`` (one record per training), ``mitigation.md`` (mean +- std over seeds)
and ``mitigation.png`` (accuracy vs lambda), plus ``mitigation-sizes.png`` (paired ΔACC and ΔNLL
vs training size) when a setting was run at two sizes or more. With ``--calibration-size N`` the
table also holds the test NLL after temperature scaling (fitted on N validation images). A
no-attention model under twice chance accuracy (the recipe does not train on the data) is flagged
in the table and on stderr.

``--merge DIR1,DIR2,... --out DIR`` pools earlier results instead (paired by seed, refused when
their recipe, evaluation set or run differ) and writes the same files; nothing is trained.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import UnsureError
from ..flags import invocation, methods_argument, split_argument
from ..mitigation.attention import Attention, Space, _enum
from ..mitigation.experiment import CONTROLS, Experiment, parse_mitigation_methods, run_experiment
from ..mitigation.plots import plot, plot_sizes
from ..mitigation.summary import merge_results, stalled_baselines, summarise
from ..file_group import file_group
from ..outputs import check_bench_dir
from ..schema import check_schema
from ..user_model import run_posterior
from .base import BENCHES, Bench, common_arguments, markdown_table, output_dir, write_outputs
from .common import parse_floats


def _list(text: str, what: str, cast=str) -> list:
    vals = [t.strip() for t in str(text).split(",") if t.strip()]
    if not vals:
        raise UnsureError(f"no {what} given")
    try:
        return [cast(v) for v in vals]
    except ValueError:
        raise UnsureError(f"{what} must be a comma-separated list, got {text!r}") from None


def markdown(rows: list[dict]) -> str:
    header = ["train size", "target", "space", "method", "attention", "λ", "seeds",
              "ACC % ↑", "NLL ↓", "ΔACC pts vs none", "ΔNLL vs none"]
    calibrated = any("nll_ts_mean" in r for r in rows)
    if calibrated:
        header += ["NLL T-scaled ↓", "ΔNLL T-scaled vs none"]
    controls = [c for c in CONTROLS if any(c in r.get("vs", {}) for r in rows)]
    for c in controls:
        header += [f"ΔACC pts vs {c}", f"ΔNLL vs {c}"] + ([f"ΔNLL T-scaled vs {c}"] if calibrated else [])
    body = []
    for r in rows:
        line = [r["train_size"], r["target"], r["space"], r["method"], r["attention"], f"{r['lam']:g}",
                r["seeds"], f"{100 * r['acc_mean']:.2f} ± {100 * r['acc_std']:.2f}",
                f"{r['nll_mean']:.3f} ± {r['nll_std']:.3f}",
                f"{100 * r['dacc_mean']:+.2f} ± {100 * r['dacc_std']:.2f}",
                f"{r['dnll_mean']:+.3f} ± {r['dnll_std']:.3f}"]
        if calibrated:
            line += ([f"{r['nll_ts_mean']:.3f} ± {r['nll_ts_std']:.3f}",
                      f"{r['dnll_ts_mean']:+.3f} ± {r['dnll_ts_std']:.3f}"] if "nll_ts_mean" in r else ["-", "-"])
        for c in controls:
            d = r.get("vs", {}).get(c)
            line += ([f"{100 * d['acc_mean']:+.2f} ± {100 * d['acc_std']:.2f}",
                      f"{d['nll_mean']:+.3f} ± {d['nll_std']:.3f}"] if d else ["-", "-"])
            if calibrated:
                line += [f"{d['nll_ts_mean']:+.3f} ± {d['nll_ts_std']:.3f}" if d and "nll_ts_mean" in d else "-"]
        body.append(line)
    return markdown_table(header, body)


def write(out: Path, rows: list[dict], records: list[dict], config: dict, md: str, json_path=None,
          args: argparse.Namespace | None = None) -> list[str]:
    """``mitigation.json``, ``mitigation.md``, ``mitigation.png`` (and ``mitigation-sizes.png``
    when a setting ran at two sizes or more) into ``out``; returns the file names written."""
    with file_group() as g:  # all files or none
        write_outputs(out, "mitigation", {"records": records, "summary": rows}, config, md, json_path,
                      invocation=invocation(args), group=g)
        plot(rows, g.path(out / "mitigation.png"))
        sized = plot_sizes(rows, g.path(out / "mitigation-sizes.png"))
    return ["mitigation.json", "mitigation.md", "mitigation.png"] + (["mitigation-sizes.png"] if sized else [])


def merge(args: argparse.Namespace) -> int:
    """``--merge DIR1,DIR2,...``: pool earlier results into ``--out`` (nothing is trained)."""
    if not args.out:
        raise UnsureError("--merge needs --out DIR")
    paths = [Path(p) / "mitigation.json" if Path(p).is_dir() else Path(p) for p in _list(args.merge, "--merge results")]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UnsureError(f"no mitigation results at {', '.join(missing)}")
    # an in-place merge (--out one of the inputs) rewrites the result it reads: no --force needed
    in_place = any(p.parent.resolve() == Path(args.out).resolve() for p in paths)
    check_bench_dir(args.out, "mitigation", force=args.force or in_place)
    payloads = [json.loads(p.read_text()) for p in paths]
    for p, payload in zip(paths, payloads):
        check_schema(payload, p)  # a result of a newer unsure, or a non-integer version: refused
    records, config = merge_results(payloads)
    rows = summarise(records)
    out = output_dir(args, "mitigation")
    # where the records came from, through earlier merges too (an in-place rerun keeps the records)
    sources = [src for p, pl in zip(paths, payloads) for src in pl["config"].get("merged_from", [str(p)])]
    config["merged_from"] = list(dict.fromkeys(sources))
    md = (f"Records of {', '.join(str(p) for p in paths)}, summarised by `unsure bench mitigation --merge`. "
          f"Uncertainty mitigation on {config['data']}: {config['eval_size']} {config['eval_split']} images, "
          f"{config['epochs']} epochs, batch {config['batch_size']}, SGD lr {config['lr']}, momentum "
          f"{config['momentum']}, gamma {config['gamma']}; mean ± std over "
          f"seeds, Δ = paired difference (same seed).\n\n" + markdown(rows))
    files = write(out, rows, records, config, md, args.json, args)
    print(md)
    print(f"wrote {out}/" + ", ".join(files))
    return 0


@BENCHES.register("mitigation", "retraining with attribution maps as attention: ACC / NLL (paper Sec. 5.2.2)")
class MitigationBench(Bench):
    name = "mitigation"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        common_arguments(p, run_required=False)  # --merge needs no run
        methods_argument(p, "mitigation", "comma-separated NAME[:key=value...]; the controls 'random' and "
                                          "'constant' (every pixel equal) measure the attention layer's own effect")
        p.add_argument("--lambda", dest="lam", default="0.2", help="comma list; 0 is the no-attention baseline")
        p.add_argument("--train-size", default="500", help="comma list of training subset sizes")
        p.add_argument("--attention", default="map", help="comma list of map, inverse, inverse-input")
        p.add_argument("--target", default="epistemic", help="comma list of epistemic, aleatoric, total")
        p.add_argument("--space", default="latent", help="comma list of latent, input")
        p.add_argument("--seeds", type=int, default=3, help="seeds --seed, --seed+1, ...")
        p.add_argument("--epochs", type=int, default=120, help="training epochs of every model")
        p.add_argument("--batch-size", type=int, default=128, help="training minibatch size")
        p.add_argument("--lr", type=float, default=0.05,
                       help="SGD learning rate (0.05: chosen on Fashion-MNIST's validation split; "
                            "8x8 digits train with 0.05 and --batch-size 32)")
        p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
        p.add_argument("--gamma", type=float, default=0.1, help="lr decay at 1/4, 2/4, 3/4 of the epochs")
        split_argument(p, train=False, dest="eval_split", flag="--eval-split")
        p.add_argument("--eval-size", type=int, default=None, help="first N evaluation images (default all)")
        p.add_argument("--subset-seed", type=int, default=0, help="seed of the training-subset permutation")
        p.add_argument("--calibration-size", type=int, default=0,
                       help="also report the test NLL after temperature scaling, the temperature fitted "
                            "on the first N validation images (with their own maps); 0: off")
        p.add_argument("--map-batch-size", type=int, default=50, help="images per attribution chunk of the maps")
        p.add_argument("--cache", default="bench-out/mitigation-cache", help="folder of cached maps")
        p.add_argument("--merge", default=None, metavar="DIR1,DIR2,...",
                       help="pool these earlier results (folders or mitigation.json files) into --out "
                            "instead of training; --run is then not needed")

    def main(self, args: argparse.Namespace) -> int:
        if args.merge:
            return merge(args)
        if not args.run and not getattr(args, "model", None):
            raise UnsureError("bench mitigation needs --run DIR (or --merge DIR1,DIR2 --out DIR)")
        if getattr(args, "model", None):
            raise UnsureError("bench mitigation retrains the run's architecture: it needs --run of "
                              "'unsure train', not --model")
        post, data = run_posterior(args)
        if args.seeds < 1:
            raise UnsureError(f"--seeds must be >= 1, got {args.seeds}")
        exp = Experiment(
            methods=parse_mitigation_methods(args.methods), lambdas=parse_floats(args.lam, "lambda values"),
            train_sizes=_list(args.train_size, "train sizes", int),
            attention=[_enum(Attention, a, "attention").value for a in _list(args.attention, "attention")],
            spaces=[_enum(Space, s, "attention space").value for s in _list(args.space, "spaces")],
            targets=_list(args.target, "targets"), seeds=[args.seed + i for i in range(args.seeds)],
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
            gamma=args.gamma, eval_split=args.eval_split, eval_size=args.eval_size,
            subset_seed=args.subset_seed, calibration_size=args.calibration_size,
            map_batch_size=args.map_batch_size, map_seed=args.seed, cache=args.cache)
        run = run_experiment(post, data, args.run, exp, progress=not args.no_progress)
        rows = summarise(run.records)
        out = output_dir(args, "mitigation")
        md = (f"Uncertainty mitigation on {data}: accuracy / NLL on {run.eval_size} {args.eval_split} images, "
              f"mean ± std over seeds {exp.seeds}; Δ = paired difference to no attention (same seed)"
              + (" or to a control map in the same setting (same seed)"
                 if any(r.get("vs") for r in rows) else "")
              + f". {args.epochs} epochs, batch {args.batch_size}, SGD lr {args.lr}, momentum {args.momentum}, "
              f"gamma {args.gamma}."
              + (f" T-scaled: the test NLL after temperature scaling, each model's temperature fitted on the "
                 f"first {run.calibration_size} validation images with their own maps." if run.calibration_size else "")
              + "\n\n" + markdown(rows))
        K = run.num_classes
        stalled = stalled_baselines(rows, K)
        if stalled:
            warning = (f"WARNING: without attention the model stays under twice chance accuracy "
                       f"({100 * 2 / K:.0f}%) at train size {', '.join(map(str, stalled))}: this recipe does "
                       f"not train on {data}, so the attention gains are meaningless. Try a higher --lr or a "
                       f"smaller --batch-size (checked with --eval-split val).")
            md = f"**{warning}**\n\n" + md
            tqdm.write(warning, file=sys.stderr)
        files = write(out, rows, run.records, run.config, md, args.json, args)
        print(md)
        print(f"wrote {out}/" + ", ".join(files))
        return 0
