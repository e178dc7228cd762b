"""Readers for MNIST-format IDX files (``train-images-idx3-ubyte[.gz]`` etc.)."""
from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np

from ..errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def find_file(directory: Path, stem: str) -> Path:
    """``stem`` or ``stem.gz`` in ``directory`` (also accepts MNIST's ``stem`` with '.' for '-')."""
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = directory / name
        if p.is_file():
            return p
    raise DataError(f"missing data file {directory / stem}[.gz]")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file; raises :class:`DataError` naming the file when it is truncated or malformed."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated (header incomplete)")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_DTYPES[data[2]])
    count = math.prod(dims)  # exact: np.prod wraps around in int64 for dimensions like 2**31 each
    need = count * dtype.itemsize
    if len(data) - header < need:
        raise DataError(f"{path} is truncated: expected {need} bytes of data for shape {dims}, "
                        f"found {len(data) - header}")
    return np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)


def load_idx_dir(directory: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N,H,W], labels [N])`` for ``split`` in ``train`` / ``test``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"data directory {directory} does not exist")
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(find_file(directory, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(find_file(directory, f"{prefix}-labels-idx1-ubyte"))
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"IDX files in {directory} disagree: images {x.shape}, labels {y.shape}")
    return x, y
