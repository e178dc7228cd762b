"""Label distributions ("soft labels"): per training image, the probability of every class.

Where a data set knows how ambiguous each image is (CIFAR-10H's human votes, or the ground-truth
benchmark's blended regions, whose label is the partner's class with probability ``w``), a model
trained on the distribution learns that ambiguity directly, instead of memorising one drawn
label per image. They come with ``npz:FILE`` data: arrays ``p_train`` / ``p_test`` (next to
``x_train`` / ``y_train``) or ``p`` (next to ``x`` / ``y``), ``[N, K]``, non-negative, each row
summing to 1. :func:`label_distribution` returns them in the order of :func:`unsure.data.load`
for the same split, seed, limit and subset seed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .load import VAL_FRACTION, _held_out, parse_spec, split_indices

ROW_SUM_TOLERANCE = 1e-3  # float32 files written from float64 sums


def label_distribution(spec: str, split: str = "train", *, seed: int = 0, val_fraction: float = VAL_FRACTION,
                       limit: int | None = None, subset_seed: int | None = None) -> torch.Tensor:
    """``[N, K]`` float32 label distributions of ``spec``'s ``split``, aligned with ``load``."""
    scheme, arg = parse_spec(spec)
    if scheme != "npz":
        raise DataError(f"label distributions come with npz:FILE data (arrays p_train/p_test or p); {spec} has none")
    part = "test" if split == "test" else "train"
    path = Path(arg)
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            key = f"p_{part}" if f"p_{part}" in keys else ("p" if "p" in keys and f"x_{part}" not in keys else None)
            if key is None:
                raise DataError(f"{path} holds no label distributions for its {part} part "
                                f"(an array p_{part}, or p next to x / y); found {sorted(keys)}")
            p = np.asarray(f[key])
            held_out = key == "p" and "x_test" not in keys  # the loader's seeded test share of x / y
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"cannot read {path}: {type(e).__name__}: {e}") from None
    where = f"{path} ({key})"
    if p.ndim != 2 or p.shape[1] < 2 or not np.issubdtype(p.dtype, np.floating):
        raise DataError(f"{where} must be a float array [N, K] with K >= 2 classes; got {p.dtype} {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise DataError(f"{where} holds negative or non-finite probabilities")
    sums = p.sum(1, dtype=np.float64)
    worst = int(np.abs(sums - 1).argmax())
    if abs(sums[worst] - 1) > ROW_SUM_TOLERANCE:
        raise DataError(f"{where}: row {worst} sums to {sums[worst]:.6g}, not 1")
    if held_out:
        test, train = _held_out(len(p))
        p = p[(test if part == "test" else train).numpy()]
    idx = split_indices(len(p), split, spec, seed=seed, val_fraction=val_fraction, limit=limit,
                        subset_seed=subset_seed)
    return torch.from_numpy(p.astype(np.float32))[idx].contiguous()
