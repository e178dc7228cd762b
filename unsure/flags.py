"""The command-line vocabulary every ``unsure`` command shares, in one place.

- :class:`Parser`: errors print one line (``unsure train: error: ...``) and exit with code 2, like
  the commands' own :class:`~unsure.errors.UnsureError`; every help text shows the defaults
  (:class:`HelpFormatter`).
- :func:`methods_argument` (``--methods``), :func:`split_argument` (``--split``, the same choices
  everywhere), :func:`out_arguments` (``--out`` and ``--force``, the overwrite rule of
  :mod:`unsure.outputs`), and :func:`deprecated_alias` for an old spelling that keeps working
  (``explain --method``, ``bench blurring --top``, ``demo --n-images``).
"""
from __future__ import annotations

import argparse
import re
import sys

SPLITS = ("test", "val", "train")

#: ``--methods`` default of each command (``unsure <command>`` or ``unsure bench <name>``): one
#: method where a command explains, a comparison where it ranks methods
COMMAND_METHODS = {
    "explain": "default",
    "explain-dataset": "default",
    "mitigation": "default",
    "demo": "default,grad,inputgrad",
    "blurring": "default,grad,inputgrad,random",
    "speed": "default,grad,ig:steps=100,blur-ig:steps=100",
    "suite": "default,grad,inputgrad,smoothgrad,ig,blur-ig,random",  # anomaly, insertion, localization, ablation, all
    "sanity": "default,grad,inputgrad,smoothgrad,ig,blur-ig,gradcam",
    "sic-aic": "default,grad,inputgrad,smoothgrad,ig,blur-ig,random",  # was ...,xrai: not registered
    "groundtruth": "default,ua-backprop-class,inputgrad,grad,inputgrad:reference=blur:blur_sigma=2,random",
    "properties": "default,grad,inputgrad,smoothgrad,ig,random",
    "rotation": "gradcam",  # a class-score bench: Grad-CAM, the paper's choice there
}



def states_default(text: str, default) -> bool:
    """``text`` says ``default X`` / ``default: X`` / ``default 'X'`` for this default."""
    return re.search(r"default\W{0,3}" + re.escape(str(default)), text) is not None


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to every option's help unless the help already states that
    default (or the default is ``None`` / a flag's ``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (any(action.default is v for v in (None, False, argparse.SUPPRESS)) or not action.option_strings
                or "%(default)" in text or states_default(text, action.default)):
            return text
        return text + " (default: %(default)s)"

    def _split_lines(self, text: str, width: int) -> list[str]:
        """Wrap at spaces only: a method spec (``blur-ig:steps=100``) or a path is never broken
        at a hyphen or inside a word (argparse's own wrapping does both)."""
        import textwrap

        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False) or [""]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line and exit 2; sub-commands inherit it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401  (argparse's hook)
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} -h')\n")


class _Deprecated(argparse.Action):
    """An old spelling of an option: stores into the new option's ``dest`` and says so on stderr."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"unsure: warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def deprecated_alias(p: argparse.ArgumentParser, old: str, new: str, dest: str, **kwargs) -> None:
    """Accept ``old`` as a hidden spelling of ``new`` (same ``dest``; a warning when used)."""
    p.add_argument(old, dest=dest, action=_Deprecated, new=new, default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS, **kwargs)


def methods_argument(p: argparse.ArgumentParser, command: str, help: str = "") -> None:
    """``--methods NAME[:key=value...],...`` (see ``unsure methods --options``); the default is
    ``command``'s entry of :data:`COMMAND_METHODS`, the one table of every command's default
    methods."""
    p.add_argument("--methods", default=COMMAND_METHODS[command],
                   help=help or "methods, comma-separated NAME[:key=value...] (see 'unsure methods --options')")


def _batch_size(text: str):
    from .batching import parse_batch_size
    from .errors import UnsureError

    try:
        return parse_batch_size(text)
    except UnsureError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--batch-size ")) from None


def batch_size_argument(p: argparse.ArgumentParser) -> None:
    """``--batch-size auto|N``: images per attribution chunk; ``auto`` (default) sizes it from a
    memory budget (:mod:`unsure.batching`). Training commands' ``--batch-size`` is the minibatch."""
    p.add_argument("--batch-size", type=_batch_size, default="auto",
                   help="images per attribution chunk, or 'auto': as many as fit a memory budget "
                        "(1 GiB on the CPU, half the free memory of a GPU)")


class _HeldOut(argparse.Action):
    """``--split`` of a command that scores held-out images: ``train`` is refused in one line."""

    def __call__(self, parser, namespace, value, option_string=None):
        if value == "train":
            parser.error(f"{option_string} train: this command scores held-out images; choose test or val")
        setattr(namespace, self.dest, value)


def split_argument(p: argparse.ArgumentParser, train: bool = True, default: str = "test",
                   dest: str = "split", flag: str = "--split") -> None:
    """``--split {test,val,train}``; ``train=False``: a command that refuses the training split."""
    p.add_argument(flag, dest=dest, default=default, choices=SPLITS,
                   **({} if train else {"action": _HeldOut}),
                   help="data split" + ("" if train else " (held-out images only: test or val)"))


def out_arguments(p: argparse.ArgumentParser, help: str, required: bool = False,
                  default: str | None = None, force_help: str | None = None) -> None:
    """``--out`` and ``--force``: an existing folder is replaced (or, for a bench, its results
    overwritten) only with ``--force`` and only when unsure wrote it (see :mod:`unsure.outputs`)."""
    p.add_argument("--out", required=required, default=default, help=help)
    p.add_argument("--force", action="store_true",
                   help=force_help or "replace an existing output (only one unsure wrote; a folder of "
                                      "other files is always refused)")


def _jsonable(v) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_jsonable(x) for x in v)
    return False


def invocation(args: argparse.Namespace | None) -> dict:
    """``{"command", "settings"}`` of a parsed command line, for :func:`unsure.outputs.stamped`:
    the line as typed (``unsure.cli.main`` records it) and every option's value after parsing
    (defaults filled in; private ``_`` entries left out). Empty for ``None`` (the Python API)."""
    if args is None:
        return {"command": None, "settings": {}}
    settings = {k: v for k, v in sorted(vars(args).items()) if not k.startswith("_") and _jsonable(v)}
    return {"command": getattr(args, "_command", None), "settings": settings}
