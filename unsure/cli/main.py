"""The ``unsure`` command line. Errors in the user's input print one line and exit with code 2."""
from __future__ import annotations

import argparse
import shlex
import sys

from .._version import __version__
from ..errors import UnsureError
from ..flags import Parser
from . import commands
from .checks import check_args
from . import demo, explain, explain_dataset  # noqa: F401  (register demo, explain, explain-dataset)
from . import train_vae  # noqa: F401  (registers train-vae)
from . import score as _score  # noqa: F401  (registers score)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="unsure", description="Explain where a Bayesian deep model's uncertainty comes from.")
    p.add_argument("--version", action="version", version=f"unsure {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for cmd in commands.COMMANDS:
        sp = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(sp)
        sp.set_defaults(_run=cmd.run)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    args._command = shlex.join(["unsure", *argv])  # recorded in every JSON output (unsure.flags.invocation)
    try:
        check_args(args)
        result = args._run(args)
    except UnsureError as e:
        print(f"unsure: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("unsure: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
