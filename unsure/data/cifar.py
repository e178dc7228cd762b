"""CIFAR-10/100 "python version" batches and SVHN ``.mat`` files, in their standard formats.

CIFAR batches are pickles; pickle can run arbitrary code, so they are read with a restricted
unpickler that only admits the numpy array types those files contain.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, UnsureError
from .load import LOADERS

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"missing data file {path}")
    try:
        with open(path, "rb") as f:
            obj = _SafeUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, OSError) as e:
        raise DataError(f"cannot read {path} as a CIFAR batch: {e}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} is not a CIFAR batch (expected a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_root(arg: str, sub: str) -> Path:
    if not arg:
        raise UnsureError("CIFAR data needs a folder: cifar10:DIR or cifar100:DIR")
    root = Path(arg)
    if (root / sub).is_dir():  # accept the parent of cifar-10-batches-py too
        root = root / sub
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist")
    return root


def _decode(batches: list[dict], label_key: str, where: Path) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for b in batches:
        if "data" not in b or label_key not in b:
            raise DataError(f"CIFAR batch in {where} lacks 'data' or '{label_key}'")
        data = np.asarray(b["data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"CIFAR batch in {where} has data of shape {data.shape}, expected [N, 3072]")
        xs.append(data.reshape(-1, 3, 32, 32))  # rows are R(1024) G(1024) B(1024)
        ys.append(np.asarray(b[label_key], dtype=np.int64))
    x = torch.from_numpy(np.concatenate(xs)).float() / 255.0
    return x, torch.from_numpy(np.concatenate(ys))


@LOADERS.register("cifar10", "cifar10:DIR, CIFAR-10 python batches (data_batch_1..5, test_batch)")
def _cifar10(arg: str, part: str):
    root = _cifar_root(arg, "cifar-10-batches-py")
    names = ["test_batch"] if part == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    return _decode([_unpickle(root / n) for n in names], "labels", root)


@LOADERS.register("cifar100", "cifar100:DIR, CIFAR-100 python files (train, test), fine labels")
def _cifar100(arg: str, part: str):
    root = _cifar_root(arg, "cifar-100-python")
    return _decode([_unpickle(root / ("test" if part == "test" else "train"))], "fine_labels", root)


@LOADERS.register("svhn", "svhn:DIR, SVHN cropped digits (train_32x32.mat, test_32x32.mat)")
def _svhn(arg: str, part: str):
    from scipy.io import loadmat

    if not arg:
        raise UnsureError("SVHN data needs a folder: svhn:DIR")
    path = Path(arg) / f"{'test' if part == 'test' else 'train'}_32x32.mat"
    if not path.is_file():
        raise DataError(f"missing data file {path}")
    try:
        mat = loadmat(str(path))
    except (ValueError, OSError, TypeError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path} lacks the arrays 'X' and 'y'")
    x = np.asarray(mat["X"])
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: X has shape {x.shape}, expected [32, 32, 3, N]")
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1))).float() / 255.0  # [H,W,C,N] -> [N,C,H,W]
    y = np.asarray(mat["y"]).reshape(-1).astype(np.int64)
    y[y == 10] = 0  # SVHN stores the digit 0 as label 10
    return x, torch.from_numpy(y)
