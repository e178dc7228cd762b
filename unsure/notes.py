"""One-line notes on stderr (``unsure: note: ...``) and the duplicate rule that uses them.

A note tells the user about something unsure did for them that changes nothing they asked for:
a duplicate in a list (``--methods grad,grad``, ``--fractions 0.1,0.1``) is computed once, and
a stale lock is taken over. Errors are :class:`unsure.errors.UnsureError` instead.
"""
from __future__ import annotations

import sys
from typing import Callable, Hashable, Iterable, TypeVar

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
