"""Output folders: checked before any work, written atomically, replaced only when they are ours.

Every folder unsure writes (a run, a VAE, a report, a bench output) holds a marker file
``.unsure-output`` (JSON: ``kind``, ``unsure_version`` and, in a folder written whole, ``files``:
every path unsure wrote into it). The one overwrite rule of every command (``--out`` /
``--force``, :mod:`unsure.flags`): ``--force`` replaces an existing folder only when it carries
the marker of the same kind and holds nothing but the files the marker lists; a folder without
the marker (also one written by an unsure from before markers) is a user's folder, and a marked
folder that holds a file unsure did not write (a user's notes put inside a run) is refused with
one line naming that file, so nothing of the user's is ever deleted. A bench folder is filled,
not replaced (:func:`check_bench_dir`). Without ``--force`` an existing output is refused.

Writes go to a hidden temporary sibling that is fsynced and renamed into place, so a folder
appears whole or not at all. SIGINT and SIGTERM during the write raise an exception inside
:func:`atomic_dir`, whose cleanup removes the temporary folder; nothing is left behind. A
symlinked ``--out`` is written where the link points (the link stays). One writer at a time:
:func:`atomic_dir` holds the folder's lock (:mod:`unsure.output_lock`). Every file and folder
gets the mode the process's umask gives (0644 / 0755 under umask 022).
"""
from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

from .errors import UnsureError
from .output_lock import output_lock
from .signals import signals_raise

MARKER = ".unsure-output"
# The layout of every JSON file unsure writes (docs/outputs.md); each carries it as
# ``schema_version``, next to ``command`` and ``settings`` (:func:`stamped`). Bumped when a
# documented key changes meaning or goes away; new keys do not bump it.
SCHEMA_VERSION = 1
KINDS = ("run", "vae", "report", "bench")
# a marker of unsure 0.1.0 lists no files: what that version wrote into each kind of folder
UNLISTED = {
    "run": ("config.json", "weights.safetensors"),
    "vae": ("config.json", "weights.safetensors"),
    "report": ("index.html", "results.json", "blurring.png", "overlays", "overlays/*.png", "overlays/*.npy"),
}


def marker_text(kind: str, files: list[str] | None = None) -> str:
    from ._version import __version__

    m = {"kind": kind, "unsure_version": __version__}
    if files is not None:
        m["files"] = files
    return json.dumps(m) + "\n"


def _entries(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (links not followed), as sorted relative paths."""
    out = []
    for dirpath, dirs, files in os.walk(folder):
        rel = Path(dirpath).relative_to(folder)
        out += [(rel / n).as_posix() for n in dirs + files]
    return sorted(out)


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


def foreign_files(folder: Path, kind: str) -> list[str] | None:
    """What in ``folder`` unsure did not write: ``None`` when it is not unsure's output of
    ``kind`` at all (no marker of that kind), else the paths its marker does not list (a marker
    of unsure 0.1.0 lists none: the files that version writes, :data:`UNLISTED`)."""
    folder = Path(folder)
    m = read_marker(folder)
    if m is None or m.get("kind") != kind:
        return None
    listed = set(m["files"]) if isinstance(m.get("files"), list) else None
    ours = (lambda p: p in listed) if listed is not None else \
        (lambda p: any(fnmatch.fnmatchcase(p, pat) for pat in UNLISTED.get(kind, ())))
    return [p for p in _entries(folder) if p != MARKER and not ours(p)]


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
    out = check_path(Path(out))
    what = "run directory" if kind == "run" else f"{kind} folder"
    if out.exists() and not out.is_dir():
        raise UnsureError(f"{what} {out} is an existing file, not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        foreign = foreign_files(out, kind)
        if foreign is None:
            raise UnsureError(f"{out} exists and does not hold unsure's {kind} output "
                              f"(no {MARKER} marker); refusing to replace it: choose another --out")
        if not replace:
            raise UnsureError(f"{what} {out} already exists (pass {flag} to replace it)")
        if foreign:
            raise UnsureError(f"{out} holds {len(foreign)} file(s) unsure did not write ({foreign[0]}"
                              f"{', ...' if len(foreign) > 1 else ''}); refusing to replace it: move "
                              "them out or choose another --out")
    return out


def _legacy_bench(folder: Path) -> bool:
    """A bench folder written before markers existed: it holds nothing but what benches write
    (``NAME.json`` with ``results`` and ``config``, ``NAME.md``, PNG plots, sub-folders of the
    same) and at least one such JSON. A folder with any other file is a user's."""
    found = False
    for rel in _entries(folder):
        p = folder / rel
        if p.is_symlink():
            return False
        if p.is_dir() or rel.endswith((".md", ".png")):
            continue
        if not rel.endswith(".json"):
            return False
        try:
            payload = json.loads(p.read_text())
        except (OSError, ValueError):
            return False
        if not (isinstance(payload, dict) and {"results", "config"} <= set(payload)):
            return False
        found = True
    return found


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
    out = check_path(Path(out))
    if out.exists() and not out.is_dir():
        raise UnsureError(f"{what} {out} is an existing file, not a folder; choose another --out")
    _check_parent_writable(out / "x" if out.is_dir() else out)
    return out


def check_out_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Check that a single output file (``--json``, ``--screenshot``) can be written."""
    path = check_path(Path(path))
    if path.is_dir():
        raise UnsureError(f"{what} {path} is a folder; give a file name")
    return path


def check_path(out: Path) -> Path:
    """``out`` can be created: its name is valid UTF-8 (it is written into JSON and printed),
    and its nearest existing ancestor is a writable folder (not a file, not /proc)."""
    try:
        str(out).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(out).decode("utf-8", "backslashreplace")
        raise UnsureError(f"the path {shown} is not valid UTF-8; choose a UTF-8 name") from None
    _check_parent_writable(out)
    return out


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


def umask() -> int:
    """The process's umask (read without changing it where /proc tells it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def umask_mode(path: str | os.PathLike) -> None:
    """Give ``path`` the mode a new file (0666) or folder (0777) gets under the umask: libraries
    that write 0600 (safetensors, ``mkstemp``) must not make one output's files differ."""
    base = 0o777 if os.path.isdir(path) else 0o666
    os.chmod(path, base & ~umask())


def fsync_tree(root: Path) -> None:
    """fsync every file under ``root`` and the folders themselves (data on disk before rename);
    every file gets the umask's mode (:func:`umask_mode`)."""
    for dirpath, _, files in os.walk(root):
        for f in files:
            umask_mode(os.path.join(dirpath, f))
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
    """Yield a fresh temporary folder; on success it becomes ``out`` (with the marker, which
    lists every file written).

    The temporary folder is a hidden sibling created with the process's umask (not 0700). On an
    exception, SIGINT or SIGTERM it is removed and ``out`` is untouched. An existing ``out`` is
    replaced only after :func:`check_out_dir` accepts it; a symlink ``out`` is followed (its
    target is replaced, the link kept). The folder's lock is held throughout.
    """
    check_out_dir(out, kind, replace=replace, flag=flag)
    out = Path(os.path.realpath(out))  # "." has no name; a link's target is what is replaced
    with output_lock(out), signals_raise():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        try:
            os.mkdir(tmp)  # mode 0o777 & ~umask, like any folder the user makes
            yield tmp
            (tmp / MARKER).write_text(marker_text(kind, _entries(tmp)))
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
    with signals_raise():
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


def add_to_marker(folder: str | os.PathLike, path: str | os.PathLike) -> None:
    """List ``path`` in the marker of ``folder`` when it lies inside (a ``--screenshot`` saved
    into the report it shows is unsure's too, so ``--force`` may replace it)."""
    folder, path = Path(os.path.realpath(folder)), Path(os.path.realpath(path))
    m = read_marker(folder)
    if m is None or not isinstance(m.get("files"), list) or folder not in path.parents:
        return
    rel = path.relative_to(folder)
    new = {*m["files"], rel.as_posix(), *(p.as_posix() for p in rel.parents if p != Path("."))}
    atomic_write(folder / MARKER, marker_text(m["kind"], sorted(new)))


@contextlib.contextmanager
def discard_if_empty(out: str | os.PathLike) -> Iterator[None]:
    """When the block fails, remove ``out`` if it did not exist before and now holds nothing but
    the marker (and empty folders): a bench that failed before writing a result leaves nothing."""
    out = Path(out)
    existed = out.exists() or out.is_symlink()
    try:
        yield
    except BaseException:
        if not existed and out.is_dir() and not out.is_symlink() and \
                all(p.is_dir() or p.relative_to(out).as_posix() == MARKER for p in out.rglob("*")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def mark(folder: str | os.PathLike, kind: str) -> None:
    """Write the marker into a folder that is filled file by file (bench outputs)."""
    folder = Path(folder)
    if read_marker(folder) is None:
        atomic_write(folder / MARKER, marker_text(kind))
