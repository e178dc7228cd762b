"""Files that appear together or not at all: a bench's JSON, markdown and plots.

A bench fills a folder file by file (other benches' files there are kept), so it cannot swap
the folder whole like a run. Instead each file of a :func:`file_group` is written to a hidden
temporary name beside its destination (same folder, so the rename is atomic; the suffix is kept,
so matplotlib still sees ``.png``). When the block ends, all of them are renamed into place with
SIGINT and SIGTERM held back (:func:`unsure.signals.signals_held`); when it fails or is
interrupted, the temporary files are removed and nothing of the group appears: never a JSON
without its plots.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterator

from .outputs import check_out_file, umask_mode
from .signals import signals_held, signals_raise


class FileGroup:
    """Hands out temporary paths (:meth:`path`) and renames them into place at :meth:`commit`."""

    def __init__(self) -> None:
        self.pending: list[tuple[Path, Path]] = []  # (temporary, destination)

    def path(self, dest: str | os.PathLike) -> Path:
        """Where to write the file that becomes ``dest`` (its folder is created)."""
        dest = Path(os.path.abspath(check_out_file(dest)))
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{dest.name}")
        self.pending.append((tmp, dest))
        return tmp

    def write(self, dest: str | os.PathLike, data: bytes | str) -> Path:
        tmp = self.path(dest)
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return Path(dest)

    def commit(self) -> None:
        """Rename every written file into place (a path handed out but never written is skipped:
        a plot that had nothing to draw)."""
        self.pending = [(t, d) for t, d in self.pending if t.is_file()]
        for tmp, _ in self.pending:
            umask_mode(tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        with signals_held():
            for tmp, dest in self.pending:
                os.replace(tmp, dest)
        self.pending = []

    def discard(self) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
        self.pending = []


@contextlib.contextmanager
def file_group() -> Iterator[FileGroup]:
    """Write files through the yielded :class:`FileGroup`; they all appear when the block ends."""
    g = FileGroup()
    with signals_raise():
        try:
            yield g
            g.commit()
        finally:
            g.discard()
