"""Checks that run before any training: settings, data shapes, labels (one line each)."""
from __future__ import annotations

import math
from typing import Any

from ..data import Data
from ..data.labels import MAX_CLASSES, check_classes
from ..errors import DataError, UnsureError


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UnsureError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise UnsureError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_settings(*, epochs: int, batch_size: int, lr: float, members: int,
                   samples: int | None, limit: int | None) -> None:
    """Training settings, before the data is read."""
    positive_int(epochs, "--epochs")
    positive_int(batch_size, "--batch-size")
    positive_float(lr, "--lr")
    positive_int(members, "--members")
    if samples is not None:
        positive_int(samples, "--samples")
    if limit is not None:
        positive_int(limit, "--limit")


def check_data(data: str, tr: Data, va: Data, te: Data, max_classes: int = MAX_CLASSES) -> int:
    """Shapes and labels of the three splits; returns K. Everything that would fail (or train the
    wrong model) after minutes of training fails here, before it."""
    for name, d in (("train", tr), ("val", va), ("test", te)):
        if len(d.y) == 0:
            raise DataError(f"{data} ({name}) holds no images")
    if te.x.shape[1:] != tr.x.shape[1:]:
        raise DataError(f"{data}: test images are {list(te.x.shape[1:])} [C,H,W] but training images "
                        f"are {list(tr.x.shape[1:])}; both splits need the same size and channels")
    K = check_classes(tr.y, te.y, max_classes=max_classes, where=data)
    return K


def check_arch_fits(arch: str, make_model, x) -> None:
    """One untrained network of ``arch`` takes one image of ``x [N,C,H,W]``: images too small for
    its convolutions and poolings (1x1, 2x2, ...) fail here in one line, before training."""
    import torch

    try:
        with torch.no_grad():
            make_model()(x[:1].float())
    except torch.cuda.OutOfMemoryError:
        raise
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UnsureError(f"architecture {arch!r} cannot take {list(x.shape[1:])} [C,H,W] images "
                          f"(too small?): {first}") from None
