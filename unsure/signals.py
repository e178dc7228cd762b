"""SIGINT and SIGTERM as exceptions, and short stretches where they wait.

A command is stopped by SIGINT (Ctrl-C) or SIGTERM (``kill``, a scheduler's time limit). Both
raise :class:`Interrupted` inside :func:`signals_raise`, so ``finally`` blocks remove temporary
files and the CLI prints one line (``unsure: interrupted by SIGTERM``, exit 128 + the signal).
:func:`signals_held` delays them over a few renames that must happen together (a bench's files
appearing as a group); the signal is raised once the renames are done.
Signals reach Python only in the main thread; elsewhere both are no-ops.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM turned into an exception; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Inside, SIGINT and SIGTERM raise :class:`Interrupted` (handlers restored on exit)."""
    if not _main_thread():
        yield
        return

    def raise_(signum, frame):
        raise Interrupted(signum)

    old = {s: signal.signal(s, raise_) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Inside, SIGINT and SIGTERM are recorded, not acted on; the first one is raised as
    :class:`Interrupted` when the block has finished."""
    if not _main_thread():
        yield
        return
    got: list[int] = []
    old = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if got:
        raise Interrupted(got[0])
