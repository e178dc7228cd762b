"""Output folders: checked before any work, written atomically, replaced only when they are ours.

Every folder unsure writes (a run, a VAE, a report, a bench output) holds a marker file
``.unsure-output`` (JSON: ``kind``, ``unsure_version``). The one overwrite rule of every command
(``--out`` / ``--force``, :mod:`unsure.flags`): ``--force`` replaces an existing folder (a bench:
its result in the folder, :func:`check_bench_dir`) only when it carries that marker, or when it
is a folder an earlier unsure version wrote (see :func:`owned_by_unsure`); anything else is a
user's folder and is refused with one line. Without ``--force`` an existing output is refused.

Writes go to a hidden temporary sibling that is fsynced and renamed into place, so a folder
appears whole or not at all. SIGINT and SIGTERM during the write raise an exception inside
:func:`atomic_dir`, whose cleanup removes the temporary folder; nothing is left behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import uuid
from pathlib import Path
from typing import Iterator

from .errors import UnsureError

MARKER = ".unsure-output"
# The layout of every JSON file unsure writes (docs/outputs.md); each carries it as
# ``schema_version``, next to ``command`` and ``settings`` (:func:`stamped`). Bumped when a
# documented key changes meaning or goes away; new keys do not bump it.
SCHEMA_VERSION = 1
KINDS = ("run", "vae", "report", "bench")
# what earlier versions (no marker) wrote into each kind of folder: such a folder is ours too
LEGACY = {
    "run": {"config.json", "weights.safetensors"},
    "vae": {"config.json", "weights.safetensors"},
    "report": {"index.html", "results.json", "overlays", "blurring.png"},
}


def marker_text(kind: str) -> str:
    from ._version import __version__

    return json.dumps({"kind": kind, "unsure_version": __version__}) + "\n"


def stamped(payload: dict, command: str | None = None, settings: dict | None = None) -> dict:
    """``payload`` led by the keys every JSON output carries: ``schema_version`` (int),
    ``command`` (the command line that made it; ``None`` from the Python API) and ``settings``
    (the options it ran with, defaults filled in). Keys already in ``payload`` win."""
    return {"schema_version": SCHEMA_VERSION, "command": command, "settings": dict(settings or {}), **payload}


def read_marker(folder: Path) -> dict | None:
    """The marker of ``folder`` (``None`` when it has none or it is unreadable)."""
    try:
        m = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def owned_by_unsure(folder: Path, kind: str) -> bool:
    """True when ``folder`` holds unsure's own output of ``kind``: it carries the marker of that
    kind, or (written before markers existed) it holds only the files such a folder holds and
    all of the required ones (a run: ``config.json`` and ``weights.safetensors``)."""
    folder = Path(folder)
    m = read_marker(folder)
    if m is not None:
        return m.get("kind") == kind
    names = {p.name for p in folder.iterdir()}
    legacy = LEGACY.get(kind)
    if legacy is None or not names:
        return False
    required = {"config.json", "weights.safetensors"} if kind in ("run", "vae") else {"index.html"}
    return required <= names and names <= legacy


def check_out_dir(out: str | os.PathLike, kind: str, *, replace: bool,
                  flag: str = "--force") -> Path:
    """Check that ``out`` can become an output folder of ``kind``, before any expensive work.

    ``replace``: an existing folder may be replaced (``--force``, or a command that always
    rewrites its report). An empty existing folder is always fine.

    Raises
    ------
    UnsureError : ``out`` is a file, lies under a file, cannot be created or written, exists and
        ``replace`` is false, or exists and is not unsure's own output of ``kind``
    """
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    out = Path(out)
    what = "run directory" if kind == "run" else f"{kind} folder"
    if out.exists() and not out.is_dir():
        raise UnsureError(f"{what} {out} is an existing file, not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        if not owned_by_unsure(out, kind):
            raise UnsureError(f"{out} exists and does not hold unsure's {kind} output "
                              f"(no {MARKER} marker); refusing to replace it: choose another --out")
        if not replace:
            raise UnsureError(f"{what} {out} already exists (pass {flag} to replace it)")
    _check_parent_writable(out)
    return out


def _legacy_bench(folder: Path) -> bool:
    """A bench folder written before markers existed: it holds a result ``NAME.json`` with
    ``results`` and ``config`` (what :func:`unsure.bench.base.write_outputs` writes)."""
    for p in folder.glob("*.json"):
        try:
            payload = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(payload, dict) and {"results", "config"} <= set(payload):
            return True
    return False


def check_bench_dir(out: str | os.PathLike, name: str, *, force: bool) -> Path:
    """The overwrite rule for a bench's ``--out`` (a folder filled file by file, which several
    benches may share): an existing non-empty folder must be unsure's bench output (marker, or a
    result JSON of an earlier version), and a result ``NAME.json`` already in it is replaced only
    with ``force``. Other files in the folder are kept.

    Raises
    ------
    UnsureError : as :func:`check_fill_dir`, or the folder is not unsure's, or it already holds
        ``NAME.json`` and ``force`` is false
    """
    out = check_fill_dir(out, "bench output folder")
    if out.is_dir() and any(out.iterdir()):
        m = read_marker(out)
        if (m.get("kind") != "bench") if m is not None else not _legacy_bench(out):
            raise UnsureError(f"{out} exists and does not hold unsure's bench output "
                              f"(no {MARKER} marker); refusing to write into it: choose another --out")
        if (out / f"{name}.json").exists() and not force:
            raise UnsureError(f"bench folder {out} already holds {name}.json (pass --force to replace it)")
    return out


def check_fill_dir(out: str | os.PathLike, what: str = "output folder") -> Path:
    """Check a folder that is filled file by file (bench outputs): it may exist (its other files
    are kept), but must not be a file, lie under a file or be unwritable."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UnsureError(f"{what} {out} is an existing file, not a folder; choose another --out")
    _check_parent_writable(out / "x" if out.is_dir() else out)
    return out


def check_out_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Check that a single output file (``--json``, ``--screenshot``) can be written."""
    path = Path(path)
    if path.is_dir():
        raise UnsureError(f"{what} {path} is a folder; give a file name")
    _check_parent_writable(path)
    return path


def _check_parent_writable(out: Path) -> None:
    """The nearest existing ancestor of ``out`` must be a writable folder (not a file, not /proc)."""
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UnsureError(f"cannot create {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or _is_virtual(parent):
        raise UnsureError(f"cannot create {out}: {parent} is not writable")


def _is_virtual(p: Path) -> bool:
    """``/proc`` and ``/sys`` accept ``access(W_OK)`` for root but cannot hold files."""
    parts = p.resolve().parts
    return len(parts) > 1 and parts[1] in ("proc", "sys")


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGTERM into an exception while inside (SIGINT already raises KeyboardInterrupt),
    so ``finally`` blocks run; only in the main thread, where Python delivers signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, raise_)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def fsync_tree(root: Path) -> None:
    """fsync every file under ``root`` and the folders themselves (data on disk before rename)."""
    for dirpath, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(Path(dirpath))


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, kind: str, *, replace: bool, flag: str = "--force") -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it becomes ``out`` (with the marker).

    The temporary folder is a hidden sibling created with the process's umask (not 0700). On an
    exception, SIGINT or SIGTERM it is removed and ``out`` is untouched. An existing ``out`` is
    replaced only after :func:`check_out_dir` accepts it.
    """
    out = Path(os.path.abspath(check_out_dir(out, kind, replace=replace, flag=flag)))  # "." has no name
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    with _signals_raise():
        try:
            os.mkdir(tmp)  # mode 0o777 & ~umask, like any folder the user makes
            yield tmp
            (tmp / MARKER).write_text(marker_text(kind))
            fsync_tree(tmp)
            check_out_dir(out, kind, replace=replace, flag=flag)  # nothing appeared meanwhile
            if out.exists():
                os.replace(out, old)
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out)
            _fsync_dir(out.parent)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists() and not out.exists():  # the swap was interrupted: put the old one back
                os.replace(old, out)


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write one file atomically: a temporary sibling, fsync, rename."""
    path = Path(os.path.abspath(check_out_file(path)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    with _signals_raise():
        try:
            with open(tmp, "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
    return path


def mark(folder: str | os.PathLike, kind: str) -> None:
    """Write the marker into a folder that is filled file by file (bench outputs)."""
    folder = Path(folder)
    if read_marker(folder) is None:
        atomic_write(folder / MARKER, marker_text(kind))
