"""One-line notes on stderr (``unsure: note: ...``) and the duplicate rule that uses them.

A note tells the user about something unsure did for them that changes nothing they asked for:
a duplicate in a list (``--methods grad,grad``, ``--fractions 0.1,0.1``) is computed once, and
a stale lock is taken over. Errors are :class:`unsure.errors.UnsureError` instead.
"""
from __future__ import annotations

import contextlib
import sys
import warnings
from typing import Callable, Hashable, Iterable, Iterator, TypeVar

T = TypeVar("T")


def note(message: str) -> None:
    print(f"unsure: note: {message}", file=sys.stderr, flush=True)


def unique(items: Iterable[T], what: str, key: Callable[[T], Hashable] = lambda v: v) -> list[T]:
    """``items`` without repeats (first kept, order kept); each repeat gets one note naming it
    and ``what`` (e.g. ``--methods``)."""
    seen, out = set(), []
    for item in items:
        k = key(item)
        if k in seen:
            note(f"{k} is given twice in {what}; it is computed once")
            continue
        seen.add(k)
        out.append(item)
    return out


@contextlib.contextmanager
def warning_lines(category: type[Warning], notes: list[str] | None = None) -> Iterator[list[str]]:
    """Print each warning of ``category`` raised inside once, as one ``unsure: warning: ...`` line
    on stderr as it happens (not Python's two-line warning), and keep its text in ``notes`` (the
    report lists them); other warnings are shown as usual."""
    seen = [] if notes is None else notes
    with warnings.catch_warnings():
        warnings.simplefilter("always", category)
        shown = warnings.showwarning

        def show(message, cat, filename, lineno, file=None, line=None):
            if not issubclass(cat, category):
                return shown(message, cat, filename, lineno, file, line)
            if str(message) not in seen:
                seen.append(str(message))
                print(f"unsure: warning: {message}", file=sys.stderr, flush=True)

        warnings.showwarning = show  # restored by catch_warnings
        yield seen
