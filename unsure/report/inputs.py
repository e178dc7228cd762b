"""A user's own image files (PNG, JPEG, ...) as a batch the run's model accepts."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import DataError, UnsureError
from .model import ReportWarning


def load_images(paths: Sequence[str | Path], channels: int, size: int | tuple[int, int]) -> Tensor:
    """Read image files as ``[B,C,H,W]`` float in [0, 1] for a model with ``channels`` input
    channels and ``size`` (H, W) pixels.

    Grey and colour files are converted to ``channels`` (1: luminance, 3: RGB; an alpha channel
    is composited on black, like the zero background of MNIST-style data). A file of another
    size is resized (bilinear, aspect ratio not kept) with a warning.

    Raises
    ------
    DataError : a file is missing or is not an image PIL can read
    """
    from PIL import Image, UnidentifiedImageError

    if channels not in (1, 3):
        raise UnsureError(f"can only feed files to models with 1 or 3 input channels, not {channels}")
    H, W = (size, size) if isinstance(size, int) else size
    if not paths:
        raise UnsureError("no image files given")
    out = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise DataError(f"image file {p} does not exist")
        try:
            with warnings.catch_warnings():
                # a file that decompresses to over PIL's MAX_IMAGE_PIXELS (89 M) is refused, not
                # just warned about: a "decompression bomb" would fill the memory
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(p) as im:
                    im.load()
                    img = im.convert("RGBA") if im.mode in ("RGBA", "LA", "P") else im.copy()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise DataError(f"{p} is too large to read safely: {e}") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:  # PIL raises all of these
            raise DataError(f"cannot read {p} as an image: {e}") from None
        if img.mode.startswith("I") or img.mode == "F":  # 16/32-bit grey: scale by the declared type
            out.append(_deep_grey(img, p, channels, (H, W)))
            continue
        if img.mode == "RGBA":  # alpha onto black
            black = Image.new("RGBA", img.size, (0, 0, 0, 255))
            img = Image.alpha_composite(black, img)
        img = img.convert("L" if channels == 1 else "RGB")
        if img.size != (W, H):
            warnings.warn(f"{p.name} is {img.size[0]}x{img.size[1]} pixels; resized to the model's "
                          f"{W}x{H}", ReportWarning, stacklevel=2)
            img = img.resize((W, H), Image.BILINEAR)
        a = np.asarray(img, dtype=np.float32) / 255.0
        t = torch.from_numpy(a.copy())
        out.append(t[None] if t.ndim == 2 else t.permute(2, 0, 1))  # [H,W] -> [1,H,W]; [H,W,3] -> [3,H,W]
    return torch.stack(out)  # [B,C,H,W]


def _deep_grey(img, p: Path, channels: int, size: tuple[int, int]) -> Tensor:
    """A 16-bit (``I;16``) grey image as ``[C,H,W]`` in [0, 1] (``/ 65535``, not saturated to 8
    bits); 32-bit integer or float grey images have no declared range and are refused."""
    from PIL import Image

    H, W = size
    if not img.mode.startswith("I;16"):
        raise DataError(f"{p} is a {img.mode} (32-bit) image with no declared pixel range; "
                        f"save it as 8- or 16-bit")
    a = np.asarray(img, dtype=np.float32) / 65535.0
    t = torch.from_numpy(a.copy())[None]  # [H,W] -> [1,H,W]
    if t.shape[1:] != (H, W):
        warnings.warn(f"{p.name} is {t.shape[2]}x{t.shape[1]} pixels; resized to the model's "
                      f"{W}x{H}", ReportWarning, stacklevel=3)
        t = torch.nn.functional.interpolate(t[None], size=(H, W), mode="bilinear", align_corners=False)[0]
    return t.expand(channels, H, W).clone()
