"""Subcommands of ``unsure``. Each is a small object with ``name``, ``help``, ``add_arguments``
and ``run``; ``COMMANDS`` lists them in help order."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Callable

from ..errors import UnsureError
from ..flags import out_arguments
from ..run import resolve_device


@dataclass
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


# ---- train ---------------------------------------------------------------------------------
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="data spec: fashion-mnist, digits, idx:DIR, cifar10:DIR, ...")
    p.add_argument("--posterior", default="ensemble", help="posterior name (see 'unsure posteriors')")
    p.add_argument("--arch", default="paper-cnn", help="architecture (see 'unsure archs')")
    p.add_argument("--members", type=int, default=5, help="ensemble members (ensemble only)")
    p.add_argument("--samples", type=int, default=None, help="posterior samples S (sampling posteriors)")
    p.add_argument("--evidence", choices=["relu", "softplus", "exp"], default=None,
                   help="evidential only: evidence function (default: the chosen recipe, exp)")
    p.add_argument("--evidential-loss", choices=["mse", "log", "digamma"], default=None,
                   help="evidential only: data term of Sensoy et al.'s loss (default: digamma)")
    p.add_argument("--kl-weight", type=float, default=None,
                   help="evidential only: weight of the KL term once annealed (default: 0.01)")
    p.add_argument("--annealing-epochs", type=int, default=None,
                   help="evidential only: epochs over which the KL weight ramps up from 0 (0: none; default 10)")
    p.add_argument("--drop-rate", type=float, default=None,
                   help="dropconnect only: drop rate p of the weight masks (default 0.5)")
    p.add_argument("--dropconnect-layers", default=None,
                   help="dropconnect only: comma-separated module names whose weights are masked "
                        "(default: the last nn.Linear)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs")
    p.add_argument("--batch-size", type=int, default=128, help="training minibatch size")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam", help="optimiser")
    p.add_argument("--milestones", default="", help="epochs at which the learning rate drops 10x, e.g. 6,8 (default: none)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--subset-seed", type=int, default=None,
                   help="with --limit: a seeded random N images instead of the first N (the subset "
                        "'unsure bench mitigation --subset-seed' trains on)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation and minibatch order")
    p.add_argument("--soft-labels", action="store_true",
                   help="train on the data's label distributions (npz:FILE arrays p_train / p) instead of its labels")
    p.add_argument("--max-classes", type=int, default=None,
                   help="allow more than 1000 classes (K is the largest label + 1)")
    p.add_argument("--device", default="auto", help="auto (cuda when available, default), cpu, cuda or cuda:N")
    out_arguments(p, "run directory to create", required=True,
                  force_help="replace an existing run directory (only a folder unsure wrote)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _milestones(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise UnsureError(f"--milestones must be comma-separated epochs, got {text!r}") from None


# train flags that are options of one posterior's fitting function: flag dest -> option name
POSTERIOR_FLAGS = {"evidence": "evidence", "evidential_loss": "loss", "kl_weight": "kl_weight",
                   "annealing_epochs": "annealing_epochs", "drop_rate": "p", "dropconnect_layers": "layers"}


def _train(args: argparse.Namespace) -> int:
    from ..training.run import train_run

    extra = {opt: getattr(args, dest) for dest, opt in POSTERIOR_FLAGS.items()
             if getattr(args, dest, None) is not None}
    cfg = train_run(data=args.data, posterior=args.posterior, arch=args.arch, members=args.members,
                    samples=args.samples, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    optimizer=args.optimizer, milestones=_milestones(args.milestones), limit=args.limit,
                    subset_seed=args.subset_seed, seed=args.seed,
                    device=str(resolve_device(args.device)), out=args.out, force=args.force,
                    progress=not args.no_progress, command=getattr(args, "_command", None), extra=extra,
                    soft_labels=args.soft_labels,
                    **({} if args.max_classes is None else {"max_classes": args.max_classes}))
    m = cfg["metrics"]
    print(f"saved {args.out}: test accuracy {m['accuracy']:.4f}, NLL {m['nll']:.4f}, ECE {m['ece']:.4f}")
    return 0


# ---- listings ------------------------------------------------------------------------------
def _no_args(p: argparse.ArgumentParser) -> None:
    pass


def _json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the listing as JSON")


def _listing(registry_getter: Callable):
    def run(args: argparse.Namespace) -> int:
        reg = registry_getter()
        if getattr(args, "json", False):
            print(json.dumps([{"name": e.name, "summary": e.summary} for e in reg], indent=2))
        else:
            print(reg.table())
        return 0
    return run


def _methods_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--options", action="store_true",
                   help="also list each method's options (NAME:key=value) with their types, allowed "
                        "values, defaults and descriptions")
    _json_arg(p)


def _list_methods(args: argparse.Namespace) -> int:
    from ..attribution.spec import describe_methods, options_table

    if args.json:  # always with the options: a program reading it wants them
        print(json.dumps(describe_methods(), indent=2))
    else:
        print(options_table() if args.options else _methods().table())
    return 0


def _methods():
    from ..attribution import METHODS
    return METHODS


def _measures():
    from ..measures import MEASURES
    return MEASURES


def _posteriors():
    from ..posteriors import POSTERIORS
    return POSTERIORS


def _archs():
    from ..models import ARCHS
    return ARCHS


def _bench_args(p: argparse.ArgumentParser) -> None:
    from ..bench import BENCHES

    sub = p.add_subparsers(dest="bench", metavar="NAME")
    sub.required = True
    for entry in BENCHES:
        bench = entry.obj()
        sp = sub.add_parser(entry.name, help=entry.summary, description=entry.summary)
        bench.add_arguments(sp)
        sp.set_defaults(_bench=bench)


def _bench(args: argparse.Namespace) -> int:
    from ..outputs import check_bench_dir, check_out_file

    if not getattr(args, "merge", None):  # before any work (a merge checks its own --out)
        check_bench_dir(args.out or f"bench-out/{args.bench}", args.bench, force=args.force)
    if getattr(args, "json", None):
        check_out_file(args.json, "--json")
    return args._bench.main(args)


COMMANDS: list[Command] = [
    Command("train", "train a posterior and save it as a run directory", _train_args, _train),
    Command("bench", "run a benchmark (see 'unsure bench -h')", _bench_args, _bench),
    Command("methods", "list attribution methods (--options: with their options)", _methods_args, _list_methods),
    Command("measures", "list uncertainty measures (attribution targets)", _json_arg, _listing(_measures)),
    Command("posteriors", "list posteriors", _json_arg, _listing(_posteriors)),
    Command("archs", "list architectures", _json_arg, _listing(_archs)),
]


def register(cmd: Command) -> Command:
    """Add a command (used by modules that provide demo / explain)."""
    COMMANDS.append(cmd)
    return cmd
