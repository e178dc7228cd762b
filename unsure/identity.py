"""Identity by content: what a run, a job and a result were made from, as hashes.

A run's ``config.json``, an explain-dataset manifest and a result JSON carry an ``identity``
object::

    {"weights": "sha256:...",                       # unsure.checksum.state_digest of the tensors
     "data": {"spec": "npz:/abs/x.npz", "sha256": "sha256:..."},
     "settings": "sha256:..."}                      # canonical JSON of the settings

Data specs are stored resolved: a file or folder spec (``npz:``, ``idx:``, ``cifar10:``, ...)
gets an absolute path, so ``explain --run /abs/run`` reads the same file from any folder, and
the file's (or the folder's files') SHA-256 tells when it changed since. Built-in data sets
without a file of ours to hash (``digits``) have ``sha256: null``.

Files written before identities existed have none: they load as before, and nothing is compared
(:func:`check_run_data` returns the run's spec unchecked, an old job resumes unchecked).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .errors import UnsureError

PATH_SCHEMES = ("npz", "idx", "cifar10", "cifar100", "svhn")  # the argument is a file or a folder
CHUNK = 1 << 20


def resolve_spec(spec: str) -> str:
    """``npz:data/x.npz`` -> ``npz:/abs/data/x.npz`` (relative to the current folder); other
    specs unchanged."""
    if not isinstance(spec, str):
        return spec
    scheme, sep, arg = spec.partition(":")
    if sep and arg and scheme.lower() in PATH_SCHEMES:
        return f"{scheme.lower()}:{os.path.abspath(arg)}"
    return spec


def source_path(spec: str) -> Path | None:
    """The file or folder a data spec reads (``None`` for a bundled data set)."""
    scheme, _, arg = spec.partition(":")
    scheme = scheme.lower()
    if scheme in PATH_SCHEMES and arg:
        return Path(arg)
    if scheme == "fashion-mnist":
        from .data.load import fashion_mnist_dir

        return fashion_mnist_dir()
    return None


def _update_file(h, path: Path) -> None:
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)


def path_sha256(path: str | os.PathLike) -> str:
    """``"sha256:HEX"`` of a file, or of a folder's files (relative names and contents, in name
    order, hidden files left out)."""
    path = Path(path)
    h = hashlib.sha256()
    try:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            for p in files:
                h.update(f"{p.relative_to(path).as_posix()}\0{p.stat().st_size}\0".encode())
                _update_file(h, p)
        else:
            _update_file(h, path)
    except OSError as e:
        raise UnsureError(f"cannot read {path} to hash it: {e}") from None
    return "sha256:" + h.hexdigest()


def data_identity(spec: str) -> dict[str, Any]:
    """``{"spec": resolved spec, "sha256": hash of its file(s) or None}``."""
    spec = resolve_spec(spec)
    src = source_path(spec)
    return {"spec": spec, "sha256": path_sha256(src) if src is not None and src.exists() else None}


def settings_sha256(settings: Any) -> str:
    """``"sha256:HEX"`` of ``settings`` as canonical JSON (sorted keys)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def identity(weights: str | None, data: dict | None, settings: Any) -> dict[str, Any]:
    return {"weights": weights, "data": data, "settings": settings_sha256(settings)}


def short(digest: Any) -> str:
    """The first 12 hex digits of a digest, for messages."""
    return "none" if digest is None else str(digest).removeprefix("sha256:")[:12]


def recorded(cfg: Any, key: str) -> Any:
    """``cfg["identity"][key]``, or ``None`` when the file records none (written before
    identities, or not an object)."""
    ident = cfg.get("identity") if isinstance(cfg, dict) else None
    return ident.get(key) if isinstance(ident, dict) else None


def check_run_data(cfg: dict, where: str | os.PathLike) -> str | None:
    """The data spec a run was trained on, after checking that its file is still the one the run
    recorded (a run without a recorded hash, or without data, is returned unchecked).

    Raises
    ------
    UnsureError : the file is gone or its content changed since the run was trained
    """
    spec = cfg.get("data") if isinstance(cfg, dict) else None
    rec = recorded(cfg, "data")
    if not isinstance(rec, dict) or not rec.get("sha256") or not isinstance(spec, str):
        return spec
    src = source_path(spec)
    if src is None:
        return spec
    if not src.exists():
        raise UnsureError(f"{src}, the data run {where} was trained on, is gone; pass --data SPEC")
    now = path_sha256(src)
    if now != rec["sha256"]:
        raise UnsureError(f"{src} changed since run {where} was trained on it (sha256 "
                          f"{short(rec['sha256'])} then, {short(now)} now); pass --data SPEC to use it anyway")
    return spec


def result_identity(post, data: str | None, settings: Any, images: list[str] | None = None) -> dict[str, Any]:
    """The ``identity`` of a result made with ``post`` (its ``weights_sha256``, set when it was
    loaded) on the data spec ``data`` or the image files ``images``, with ``settings``."""
    if images:
        data_id: dict | None = {"spec": None, "files": {os.path.abspath(f): path_sha256(f) for f in images}}
    else:
        data_id = data_identity(data) if data else None
    return identity(getattr(post, "weights_sha256", None), data_id, settings)

