"""``unsure.data.load(spec, split)``: float images in [0, 1] ``[N,C,H,W]`` and int64 labels ``[N]``.

Specs: ``fashion-mnist`` (Debian's ``dataset-fashion-mnist`` or ``$UNSURE_DATA``), ``idx:DIR``,
``cifar10:DIR``, ``cifar100:DIR``, ``svhn:DIR``, ``digits`` (scikit-learn's 8x8 set), ``npz:FILE``
(arrays ``x`` and ``y``). Splits: ``train``, ``val`` (carved from train, seeded) and ``test``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch

from ..errors import DataError, UnsureError
from ..registry import Registry
from .idx import load_idx_dir
from .labels import labels_from_array
from .pixels import to_unit_float

FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)
SPLITS = ("train", "val", "test")
VAL_FRACTION = 1 / 12  # 5,000 of Fashion-MNIST's 60,000 training images

# scheme -> loader(arg, part) with part in {"train", "test"}: (x float32 [N,C,H,W] in [0,1], y int64 [N])
LOADERS: Registry = Registry("data scheme")


class Data(NamedTuple):
    x: torch.Tensor  # [N,C,H,W] float32 in [0,1]
    y: torch.Tensor  # [N] int64


def fashion_mnist_dir() -> Path:
    env = os.environ.get("UNSURE_DATA")
    candidates = [Path(env) / "fashion-mnist", Path(env)] if env else []
    candidates += [Path(d) for d in FASHION_DIRS]
    for d in candidates:
        if (d / "train-images-idx3-ubyte.gz").is_file() or (d / "train-images-idx3-ubyte").is_file():
            return d
    raise DataError("Fashion-MNIST not found: install Debian's package (apt-get install "
                    "dataset-fashion-mnist) or point UNSURE_DATA at a folder with its IDX files")


def _from_idx(x: np.ndarray, y: np.ndarray, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    t = to_unit_float(x, where)  # by the IDX type code: uint8 /255, float must be in [0,1]
    return (t[:, None] if t.ndim == 3 else t), labels_from_array(y, where)  # [N,H,W] -> [N,1,H,W]


@LOADERS.register("fashion-mnist", "Fashion-MNIST (Debian dataset-fashion-mnist or $UNSURE_DATA)")
def _fashion(arg: str, part: str):
    d = fashion_mnist_dir()
    return _from_idx(*load_idx_dir(d, part), str(d))


@LOADERS.register("idx", "idx:DIR, MNIST-format IDX files (train-images-idx3-ubyte[.gz], ...)")
def _idx(arg: str, part: str):
    if not arg:
        raise UnsureError("idx data needs a folder: idx:DIR")
    return _from_idx(*load_idx_dir(arg, part), arg)


@LOADERS.register("digits", "scikit-learn's bundled 8x8 digits (1,797 images; 20% held out as test)")
def _digits(arg: str, part: str):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]  # [N,8,8] -> [N,1,8,8]
    y = torch.from_numpy(d.target.astype(np.int64))
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(1234))
    n_test = len(y) // 5
    idx = perm[:n_test] if part == "test" else perm[n_test:]
    return x[idx], y[idx]


NPZ_TEST_FRACTION = 0.2  # an npz without x_test / y_test: this seeded share of x / y is the test split
NPZ_TEST_SEED = 1234


@LOADERS.register("npz", "npz:FILE with arrays x [N,H,W] / [N,H,W,C] / [N,C,H,W] and y [N] "
                         "(or x_train/y_train + x_test/y_test; else 20% of x/y, seeded, is held out as test)")
def _npz(arg: str, part: str):
    path = Path(arg)
    if not path.is_file():
        raise DataError(f"missing data file {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            xk = f"x_{part}" if f"x_{part}" in keys else "x"
            yk = f"y_{part}" if f"y_{part}" in keys else "y"
            if xk not in keys or yk not in keys:
                raise DataError(f"{path} must hold arrays 'x' and 'y' (or x_train/y_train, x_test/y_test); found {sorted(keys)}")
            x, y = f[xk], f[yk]
            held_out = xk == "x" and "x_test" not in keys
    except DataError:
        raise
    except Exception as e:  # zipfile.BadZipFile, pickle refused, truncated member, ...
        raise DataError(f"cannot read {path}: {type(e).__name__}: {e}") from None
    where = f"{path} ({xk}, {yk})"
    labels = labels_from_array(y, where)
    if len(np.asarray(x)) != len(labels):
        raise DataError(f"{where}: {len(np.asarray(x))} images but {len(labels)} labels")
    images = normalise_images(x, where)
    if held_out:  # a seeded, disjoint test split carved from x / y (recorded by test_split())
        test, train = _held_out(len(labels))
        idx = test if part == "test" else train
        images, labels = images[idx], labels[idx]
    return images, labels


def _held_out(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(NPZ_TEST_SEED))
    n_test = max(1, int(round(n * NPZ_TEST_FRACTION))) if n > 1 else 0
    return perm[:n_test].sort().values, perm[n_test:].sort().values


def test_split(spec: str) -> str:
    """How the test split of ``spec`` is made (recorded in every run's config)."""
    scheme, arg = parse_spec(spec)
    if scheme == "digits":
        return "held out: a seeded 20% of scikit-learn's digits (seed 1234)"
    if scheme == "npz":
        try:
            with np.load(arg, allow_pickle=False) as f:
                if "x_test" in f.files:
                    return "the file's x_test / y_test"
        except Exception:
            return "unknown"
        return (f"held out: a seeded {NPZ_TEST_FRACTION:.0%} of x / y (seed {NPZ_TEST_SEED}), "
                f"disjoint from training")
    return "the data set's own test split"


def normalise_images(x: np.ndarray, where: str) -> torch.Tensor:
    """Any of ``[N,H,W]``, ``[N,H,W,C]`` (C in 1, 3), ``[N,C,H,W]`` -> float ``[N,C,H,W]`` in [0,1],
    scaled by the array's dtype (:func:`unsure.data.pixels.to_unit_float`; never guessed)."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # [N,H,W,C] -> [N,C,H,W]
    if x.ndim != 4:
        raise DataError(f"images in {where} must be [N,H,W], [N,H,W,C] or [N,C,H,W]; got {x.shape}")
    return to_unit_float(x, where)


def _split_train_val(n: int, seed: int, val_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(round(n * val_fraction)))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def parse_spec(spec: str) -> tuple[str, str]:
    if not isinstance(spec, str) or not spec:
        raise UnsureError(f"data spec must be a non-empty string, got {spec!r}")
    scheme, _, arg = spec.partition(":")
    LOADERS.get(scheme)  # raises with the list of schemes
    return scheme.lower(), arg


def subset_order(n: int, subset_seed: int) -> torch.Tensor:
    """The seeded order in which a subset of ``n`` images is drawn: its first N entries are the
    N-image subset, so smaller subsets are prefixes of larger ones. ``load(..., subset_seed=)``
    and ``unsure bench mitigation --subset-seed`` draw the same images."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(subset_seed))


def split_indices(n: int, split: str, spec: str, *, seed: int = 0, val_fraction: float = VAL_FRACTION,
                  limit: int | None = None, subset_seed: int | None = None) -> torch.Tensor:
    """Which of the ``n`` images of the file part (``train`` for ``train``/``val``, ``test``)
    :func:`load` returns, in its order; shared with :func:`unsure.data.soft.label_distribution`
    so that label distributions line up with the images."""
    idx = torch.arange(n)
    if split != "test":
        tr, va = _split_train_val(n, seed, val_fraction)
        idx = tr if split == "train" else va
    if limit is not None:
        if subset_seed is not None:
            if limit > len(idx):
                raise UnsureError(f"cannot draw {limit} images from the {len(idx)} of {spec} ({split})")
            idx = idx[subset_order(len(idx), subset_seed)[:limit]]
        else:
            idx = idx[:limit]
    return idx


def load(spec: str, split: str = "train", *, seed: int = 0, val_fraction: float = VAL_FRACTION,
         limit: int | None = None, subset_seed: int | None = None) -> Data:
    """Load a data set split as ``Data(x [N,C,H,W] float in [0,1], y [N] int64)``.

    ``val`` is a seeded ``val_fraction`` of the training set and ``train`` is the rest, so the
    two never overlap. ``limit`` keeps the first N images of the split, or with ``subset_seed``
    a seeded random N (see :func:`subset_order`).
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UnsureError(f"limit must be a positive number of images, got {limit!r}")
    if subset_seed is not None and limit is None:
        raise UnsureError("a subset seed needs a limit (how many images to draw)")
    if split not in SPLITS:
        raise UnsureError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    scheme, arg = parse_spec(spec)
    loader: Callable = LOADERS.get(scheme)
    x, y = loader(arg, "test" if split == "test" else "train")
    idx = split_indices(len(y), split, spec, seed=seed, val_fraction=val_fraction, limit=limit,
                        subset_seed=subset_seed)
    x, y = x[idx], y[idx]
    if len(y) == 0 or x.shape[0] == 0:
        raise DataError(f"{spec} ({split}) holds no images")
    if x.shape[0] != len(y):
        raise DataError(f"{spec} ({split}): {x.shape[0]} images but {len(y)} labels")
    if not torch.isfinite(x).all():
        raise DataError(f"{spec} ({split}) contains NaN/inf pixel values")
    return Data(x.contiguous(), y.contiguous())


def num_classes(spec: str) -> int:
    """Number of classes K of a data set (from its labels)."""
    d = load(spec, "test")
    return int(d.y.max()) + 1
