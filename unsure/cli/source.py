"""``--run DIR`` or ``--model SPEC [--weights FILE]``: where a command gets its posterior."""
from __future__ import annotations

import argparse

from ..errors import UnsureError


def add_source_arguments(p: argparse.ArgumentParser, run_help: str = "run directory made by 'unsure train' "
                         "or unsure.save_run") -> None:
    """The mutually exclusive, required ``--run`` / ``--model`` pair and ``--weights``."""
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--run", default=None, help=run_help)
    g.add_argument("--model", default=None, metavar="SPEC",
                   help="your model: path/to/file.py:factory or package.module:factory; factory() returns "
                        "a network, a list of networks, a callable x -> [S,B,K] logits, a fitted "
                        "laplace-torch Laplace, ... (runs that code); needs --data")
    p.add_argument("--weights", default=None, metavar="FILE.safetensors",
                   help="with --model: load these weights into what the factory returns")


def posterior_from_args(args: argparse.Namespace, device):
    """The posterior of ``--run`` or ``--model``; ``post.run_config`` holds the run's config
    (for ``--model``: the spec and weights)."""
    from ..run import load_run
    from ..user_model import model_posterior

    if getattr(args, "weights", None) and not getattr(args, "model", None):
        raise UnsureError("--weights goes with --model (a run folder has its own weights)")
    if getattr(args, "model", None):
        return model_posterior(args.model, args.weights, device=device)
    return load_run(args.run, device=device)


def source_label(args: argparse.Namespace) -> str:
    """``--run DIR`` or ``--model SPEC`` as given, for reports and 'reproduce' lines."""
    if getattr(args, "model", None):
        return f"--model {args.model}" + (f" --weights {args.weights}" if args.weights else "")
    return f"--run {args.run}"
