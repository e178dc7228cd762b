"""Class labels: integers in [0, K), checked where they are read and before any training.

K is taken from the data (the largest label + 1) and capped (``MAX_CLASSES``, raised with
``--max-classes``) so that one stray label cannot make a model with a million outputs.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import DataError, UnsureError

MAX_CLASSES = 1000


def labels_from_array(y: np.ndarray, where: str) -> torch.Tensor:
    """``y`` as int64 ``[N]``: integer-valued, finite, non-negative class indices.

    A ``[N, 1]`` column is accepted; a ``[N, K]`` one-hot (or probability) matrix is refused
    with the fix in the message.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        raise DataError(f"{where}: labels have shape {y.shape}; expected class indices [N] "
                        f"(one-hot labels? use y.argmax(1))")
    if y.ndim != 1:
        raise DataError(f"{where}: labels must be a 1-D array [N] of class indices, got shape {y.shape}")
    if y.dtype == np.bool_ or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise DataError(f"{where}: labels must be integer class indices, got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all():
            raise DataError(f"{where}: labels contain NaN/inf")
        if (y != np.round(y)).any():
            bad = y[y != np.round(y)][0]
            raise DataError(f"{where}: labels must be whole numbers (class indices), found {bad:g}")
    if len(y) and y.min() < 0:
        raise DataError(f"{where}: labels must be >= 0, found {y.min():g}")
    return torch.from_numpy(y.astype(np.int64))


def check_classes(y_train: torch.Tensor, y_other: torch.Tensor | None = None, *,
                  max_classes: int = MAX_CLASSES, where: str = "data") -> int:
    """K for training on labels ``y_train [N]`` (``y_other``: the test labels, also in [0, K)).

    Refuses a single-class training set, K above ``max_classes``, and labels that leave most of
    [0, K) empty (one outlier label such as 200 in a 10-class set).
    """
    if not isinstance(max_classes, int) or max_classes < 2:
        raise UnsureError(f"--max-classes must be an integer >= 2, got {max_classes!r}")
    ys = [y_train] + ([y_other] if y_other is not None and len(y_other) else [])
    K = int(max(int(y.max()) for y in ys)) + 1
    present = torch.unique(y_train)
    if len(present) < 2:
        raise DataError(f"{where}: the training labels hold a single class ({int(present[0])}); "
                        f"a classifier needs at least 2")
    if K > max_classes:
        raise DataError(f"{where}: the largest label is {K - 1}, so K = {K} classes, above the limit "
                        f"of {max_classes} (pass --max-classes to allow more)")
    empty = K - len(present)
    if empty > K // 2:
        counts = torch.bincount(y_train, minlength=K)
        rare = [int(c) for c in torch.nonzero(counts).flatten() if counts[c] <= max(1, len(y_train) // 1000)]
        raise DataError(f"{where}: labels span 0..{K - 1} but only {len(present)} classes have training "
                        f"images ({empty} empty)" + (f"; rare label(s) {rare[:3]} look like outliers" if rare else ""))
    return K
