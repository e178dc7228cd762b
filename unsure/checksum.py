"""Weights files with a checksum of their tensor data: written at save, checked at load.

A safetensors header describes each tensor (name, dtype, shape, offsets) but says nothing about
the bytes, so a flipped exponent inside the data (one weight becoming 2.3e37) loads without a
word. :func:`save_weights` computes a SHA-256 over every tensor (name, dtype, shape, then its raw
bytes, in name order) and stores it in the header's metadata as ``unsure_sha256``;
:func:`load_weights` recomputes it from the tensors it read and refuses a mismatch in one line.

A file written before checksums existed (no ``unsure_sha256``) still loads: its digest is
computed and returned (it identifies the weights, e.g. for an explain-dataset job) but there is
nothing to compare it with. The cost on a 5-member ResNet-18 ensemble is measured by
``python scripts/checksum_cost.py`` (docs/reliability.md).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from .errors import UnsureError

KEY = "unsure_sha256"  # the header metadata entry holding the digest


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """``"sha256:HEX"`` of a state dict: each tensor's name, dtype and shape, then its bytes, in
    name order (so the same tensors give the same digest however the file orders them)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach()
        h.update(f"{name}\0{str(t.dtype).removeprefix('torch.')}\0{list(t.shape)}\0".encode())
        flat = t.cpu().contiguous().reshape(-1)
        if flat.numel():
            h.update(memoryview(flat.view(torch.uint8).numpy()))  # raw bytes, no copy
    return "sha256:" + h.hexdigest()


def save_weights(state: dict[str, torch.Tensor], path: str | os.PathLike,
                 metadata: dict[str, str] | None = None) -> str:
    """Write ``state`` as safetensors with its digest in the header; returns the digest."""
    from safetensors.torch import save_file

    digest = state_digest(state)
    save_file(state, str(path), metadata={**(metadata or {}), KEY: digest})
    return digest


def read_digest(path: str | os.PathLike) -> str | None:
    """The digest a file's header records (``None`` for a file written before checksums); reads
    only the header."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get(KEY)
    except (SafetensorError, OSError, ValueError) as e:
        raise UnsureError(f"cannot read {path}: {e}") from None


def load_weights(path: str | os.PathLike, what: str = "") -> tuple[dict[str, torch.Tensor], str]:
    """Read a safetensors file and check its tensors against the digest in its header.

    Returns ``(state, digest)``; the digest is the recomputed one (for an old file without a
    recorded digest too).

    Raises
    ------
    UnsureError : the file cannot be read, or its tensor data do not match the recorded digest
        (damaged after it was written)
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    label = f"{what}{' ' if what else ''}{path}"
    try:
        with safe_open(str(path), framework="pt") as f:
            recorded = (f.metadata() or {}).get(KEY)
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UnsureError(f"cannot read {label}: {e}") from None
    digest = state_digest(state)
    if recorded is not None and recorded != digest:
        raise UnsureError(f"{label} is damaged: its tensor data do not match the checksum written "
                          f"with it ({recorded[:19]}... recorded, {digest[:19]}... now); restore or "
                          f"re-create the file")
    return state, digest


def weights_digest(path: str | os.PathLike) -> str:
    """The digest of a weights file: the recorded one (header only; :func:`load_weights` checks
    it when the file is loaded), else computed from its tensors (a file from before checksums)."""
    return read_digest(path) or load_weights(path)[1]
