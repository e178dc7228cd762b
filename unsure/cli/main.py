"""The ``unsure`` command line. Errors in the user's input print one line and exit with code 2."""
from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
from pathlib import Path

from .._version import __version__
from ..errors import UnsureError, UnsureWarning
from ..flags import Parser
from ..notes import warning_lines
from ..output_lock import output_lock
from ..outputs import check_path, discard_if_empty
from ..signals import Interrupted, signals_raise
from . import commands
from .checks import CAPPED, MAX_COUNT, check_args
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
        _max_count(sp)
    return p


def _max_count(p: argparse.ArgumentParser) -> None:
    """``--max-count N`` on every command that takes a count (the cap of :mod:`.checks`),
    down to each ``bench NAME``."""
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    for a in subs:
        for sp in dict.fromkeys(a.choices.values()):
            _max_count(sp)
    if not subs and any(a.dest in CAPPED or a.dest == "methods" for a in p._actions):
        p.add_argument("--max-count", type=int, default=MAX_COUNT, metavar="N",
                       help="the cap on counts that multiply the work (--members, --epochs, --steps, "
                            "--samples, a method's steps/samples/masks/draws, ...)")


def output_folder(args: argparse.Namespace) -> str | None:
    """The folder a command writes (its ``--out``; a bench's default ``bench-out/NAME``)."""
    if getattr(args, "out", None):
        return args.out
    if getattr(args, "command", None) == "bench":
        return f"bench-out/{args.bench}"
    return None


def one_line_warnings():
    """Each :class:`UnsureWarning` (an old spelling, a default changed for the model) is printed
    once as ``unsure: warning: ...`` on stderr, not as Python's two-line warning."""
    return warning_lines(UnsureWarning)


def main(argv: list[str] | None = None) -> int:
    """Run one command. Its output folder is locked while it runs (:mod:`unsure.output_lock`);
    SIGINT and SIGTERM stop it with one line (exit 128 + the signal) after its temporary files
    are removed; a reader that closes the pipe early (``| head``) gets one line, not a traceback."""
    try:
        with signals_raise(), one_line_warnings():
            result = _run(sys.argv[1:] if argv is None else [str(a) for a in argv])
            sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
    except UnsureError as e:
        print(f"unsure: error: {e}", file=sys.stderr)
        return 2
    except UnicodeEncodeError as e:
        bad = e.object[e.start:e.end] if isinstance(e.object, str) else ""
        if not bad or not all("\udc80" <= ch <= "\udcff" for ch in bad):
            raise  # not a name from the command line: a bug, shown as one
        # a path given on the command line that is not UTF-8 (kept by Python as surrogates)
        print(f"unsure: error: a path or name given is not valid UTF-8 ({bad.encode('utf-8', 'surrogateescape')!r}); "
              "use UTF-8 names", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (``unsure methods --options | head``): no more output to stdout
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("unsure: error: the output pipe was closed before everything was written", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        name = e.name if isinstance(e, Interrupted) else "SIGINT"
        print(f"unsure: interrupted by {name}", file=sys.stderr)
        return 128 + (e.signum if isinstance(e, Interrupted) else signal.SIGINT)
    return int(result or 0)


def _run(argv: list[str]) -> int | None:
    """Parse, check and run one command line (``-h`` too: its text may meet a closed pipe)."""
    args = build_parser().parse_args(argv)
    args._command = shlex.join(["unsure", *argv])  # recorded in every JSON output (unsure.flags.invocation)
    check_args(args)
    out = output_folder(args)
    if out:
        check_path(Path(out))  # a bad --out is one line before a folder is made for its lock
    with output_lock(out) if out else contextlib.nullcontext(), \
            discard_if_empty(out) if out else contextlib.nullcontext():
        return args._run(args)


if __name__ == "__main__":
    sys.exit(main())
