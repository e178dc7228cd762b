"""One writer per output folder: a lock file beside it, held while a command writes.

``OUT``'s lock is the hidden file ``.OUT.unsure-lock`` in OUT's parent folder (beside, not
inside: a run or report folder is swapped whole when it is written). A command holds it from
its first check of ``--out`` to its last write, so a second ``train``, ``explain``, ``bench``
or ``explain-dataset`` aimed at the same folder is refused in one line while the first runs.

The lock is an ``flock`` on that file, which the kernel releases when its process ends, however
it ends. The file also holds the holder's process id, for the refusal message; a file left by a
process that was killed (``kill -9``, a crash) is not locked, so the next command takes it over
and says so. Locks are re-entrant within a process (``train`` holds its folder's lock, then
``save_run`` takes it again to write). Folders created only to hold the lock are removed with it
when they are still empty, so a refused command leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from .errors import UnsureError
from .notes import note

try:
    import fcntl
except ImportError:  # Windows: an exclusively created file and the holder's process id
    fcntl = None

_HELD: dict[str, int] = {}  # lock path -> depth, in this process


def lock_path(out: str | os.PathLike) -> Path:
    """The lock file of output folder ``out`` (a sibling of its real location)."""
    real = Path(os.path.realpath(out))
    if real.parent == real:
        raise UnsureError(f"cannot write into {out}: choose a folder below it")
    return real.with_name(f".{real.name}.unsure-lock")


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would end the process there: assume it runs (remove a stale lock by hand)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _make_parents(folder: Path) -> list[Path]:
    """``mkdir -p folder``; returns the folders it created, outermost first."""
    made = []
    for p in reversed([folder, *folder.parents]):
        if not p.exists():
            try:
                os.mkdir(p)
            except FileExistsError:
                continue
            except OSError as e:
                raise UnsureError(f"cannot create {p}: {e.strerror}") from None
            made.append(p)
    return made


@contextlib.contextmanager
def output_lock(out: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of output folder ``out`` inside the block.

    Check the path first (:func:`unsure.outputs.check_path`: not under a file, not in /proc,
    valid UTF-8), so that a bad ``--out`` is refused before any folder is made for the lock.

    Raises
    ------
    UnsureError : another running process holds it, or it cannot be created
    """
    path = lock_path(out)
    key = str(path)
    if key in _HELD:  # this process holds it already
        _HELD[key] += 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    made = _make_parents(path.parent)
    fd = None
    try:
        fd = _acquire(path, out)
        _HELD[key] = 1
        try:
            yield path
        finally:
            del _HELD[key]
            try:
                os.unlink(path)  # still ours: we hold the flock, and _acquire checked the inode
            except OSError:
                pass
    finally:
        if fd is not None:
            os.close(fd)
        for p in reversed(made):  # created only for this lock: remove them again while empty
            try:
                os.rmdir(p)
            except OSError:
                break


def _acquire(path: Path, out) -> int:
    """Open ``path``, take its flock and write our pid; retried when the file was replaced
    under us (the holder unlinked it while we waited to open it)."""
    for _ in range(20):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise UnsureError(f"cannot lock {out}: cannot create {path}: {e.strerror}") from None
        try:
            _lock(fd, path)
        except BlockingIOError:
            pid = _holder(fd)
            os.close(fd)
            who = f"process {pid}" if pid else "another process"
            raise UnsureError(f"{out} is being written by {who} (lock {path}); wait for it to finish "
                              "or choose another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the file we locked was unlinked by its last holder: lock the new one
            os.close(fd)
            continue
        old = _holder(fd)
        if old is not None and old != os.getpid() and not _alive(old):
            note(f"took over the lock of {out} left by process {old}, which is no longer running")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd
    raise UnsureError(f"cannot lock {out}: {path} keeps changing; is another unsure writing there?")


def _lock(fd: int, path: Path) -> None:
    """Take the lock on ``fd`` or raise ``BlockingIOError``. Without ``flock`` (Windows) the
    file's process id decides: a live holder other than us blocks; a dead one is taken over."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    pid = _holder(fd)
    if pid is not None and pid != os.getpid() and _alive(pid):
        raise BlockingIOError(pid)
