"""The ``unsure`` command line. Errors in the user's input print one line and exit with code 2."""
from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import warnings

from .._version import __version__
from ..errors import UnsureError, UnsureWarning
from ..flags import Parser
from . import commands
from .checks import check_args
from . import demo, explain, explain_dataset  # noqa: F401  (register demo, explain, explain-dataset)
from . import train_vae  # noqa: F401  (registers train-vae)


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


@contextlib.contextmanager
def one_line_warnings():
    """Each :class:`UnsureWarning` (an old spelling, a default changed for the model) is printed
    once as ``unsure: warning: ...`` on stderr, not as Python's two-line warning."""
    seen: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("always", UnsureWarning)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if not issubclass(category, UnsureWarning):
                return shown(message, category, filename, lineno, file, line)
            if str(message) not in seen:
                seen.add(str(message))
                print(f"unsure: warning: {message}", file=sys.stderr, flush=True)

        warnings.showwarning = show  # restored by catch_warnings
        yield


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    args._command = shlex.join(["unsure", *argv])  # recorded in every JSON output (unsure.flags.invocation)
    try:
        with one_line_warnings():
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
