"""Pixel values to float in [0, 1], decided by the array's declared type, never guessed.

=================  =====================================================================
dtype              read as
=================  =====================================================================
``uint8``          ``x / 255``
``uint16``         ``x / 65535`` (16-bit images)
``bool``           0 or 1
float              as is; must already lie in [0, 1] (else refused: divide it yourself)
other integers     refused: ``int64`` 0..16 and 0..255 look alike, so the scale is ambiguous
=================  =====================================================================
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import DataError

SCALES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def to_unit_float(x: np.ndarray, where: str) -> torch.Tensor:
    """``x`` (any shape) as float32 in [0, 1] by its dtype (table above).

    Raises
    ------
    DataError : float values outside [0, 1] or NaN/inf, an integer type other than uint8/uint16,
        or a non-numeric array
    """
    x = np.asarray(x)
    dt = x.dtype.newbyteorder("=") if x.dtype.byteorder not in ("=", "|") else x.dtype
    if x.size == 0:
        raise DataError(f"{where} holds no images (shape {x.shape})")
    if dt == np.bool_:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if dt in SCALES:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).div_(SCALES[dt])
    if np.issubdtype(dt, np.integer):
        lo, hi = int(x.min()), int(x.max())
        raise DataError(f"{where}: images of integer type {dt} (values {lo}..{hi}) have no declared "
                        f"scale; store uint8 (0..255), uint16 (0..65535) or float in [0, 1]")
    if not np.issubdtype(dt, np.floating):
        raise DataError(f"{where}: images must be numeric, got dtype {x.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if not torch.isfinite(t).all():
        raise DataError(f"{where} contains NaN/inf pixel values")
    lo, hi = float(t.min()), float(t.max())
    if lo < 0.0 or hi > 1.0:
        raise DataError(f"{where}: float images must lie in [0, 1], got values in [{lo:g}, {hi:g}]; "
                        f"scale them (e.g. x / 255) or store uint8")
    return t
