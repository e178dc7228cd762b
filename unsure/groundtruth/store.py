"""Files of the ground-truth benchmark: the generated training data (an ``npz:`` data spec any
``unsure train`` reads) and cause sets with their masks.

``train.npz`` holds ``x_train``/``y_train`` (the base training split, aleatoric cause planted)
and ``x_test``/``y_test`` (the base test split, planted the same way, for the run's accuracy),
images as uint8 (a 1/255 rounding, far below the 0.05 mask threshold), and ``p_train``/``p_test``,
the label distributions the labels were drawn from (``unsure train --soft-labels``).
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data import load
from ..errors import DataError
from ..outputs import atomic_write
from .generate import CauseSet, Design, training_set


def to_uint8(x: Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def write_training_data(base: str, folder: Path, design: Design, seed: int = 0) -> Path:
    """Generate ``folder/train.npz`` (and ``train.json``, the settings) from the data spec
    ``base``; returns the npz path. Seeds: ``seed`` (train) and ``seed + 1`` (test)."""
    folder.mkdir(parents=True, exist_ok=True)
    tr, te = load(base, "train"), load(base, "test")
    K = int(max(tr.y.max(), te.y.max())) + 1
    a = training_set(tr.x, tr.y, design, torch.Generator().manual_seed(seed), K)
    b = training_set(te.x, te.y, design, torch.Generator().manual_seed(seed + 1), K, extra=(tr.x, tr.y))
    path = folder / "train.npz"
    tmp = folder / "train.tmp.npz"
    np.savez(tmp, x_train=to_uint8(a.x), y_train=a.y.numpy(), p_train=a.probs.numpy(),
             x_test=to_uint8(b.x), y_test=b.y.numpy(), p_test=b.probs.numpy())
    tmp.replace(path)
    meta = {"base": base, "seed": seed, "design": asdict(design), "classes": K,
            "planted": {"train": int(a.planted.sum()), "test": int(b.planted.sum())},
            "controls": {"train": int(a.controls.sum()), "test": int(b.controls.sum())},
            "images": {"train": len(a.y), "test": len(b.y)}, "label_distributions": True}
    atomic_write(folder / "train.json", json.dumps(meta, indent=2) + "\n")
    return path


def save_causes(cs: CauseSet, path: Path, meta: dict) -> None:
    """A cause set as an npz (tensors as arrays) plus ``meta`` as JSON in the key ``meta``."""
    arrays = {k: v.numpy() for k, v in cs.tensors().items()}
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays, meta=np.array(json.dumps({**meta, "kinds": list(cs.kinds)})))
    tmp.replace(path)


def load_causes(path: Path) -> tuple[CauseSet, dict]:
    """Read what :func:`save_causes` wrote."""
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            t = {k: torch.from_numpy(f[k]) for k in f.files if k != "meta"}
    except Exception as e:
        raise DataError(f"cannot read the cause set {path}: {type(e).__name__}: {e}") from None
    return CauseSet(**t, kinds=tuple(meta["kinds"])), meta
