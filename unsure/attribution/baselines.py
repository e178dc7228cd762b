"""References (baselines) for path methods and Expected Gradients.

The baselines of Sturmfels, Lundberg & Lee, "Visualizing the Impact of Feature Attribution
Baselines" (Distill 2020), for images ``x [B,C,H,W]`` with pixel range ``[lo, hi]``:

- ``black``: all ``lo``; ``white``: all ``hi``;
- ``max-distance``: per feature the range end farther from ``x`` (the farthest image in L1);
- ``blur``: ``G_sigma * x``, Gaussian blur (Distill: sigma = 20 on 224-px images; default scaled
  linearly to the image side, **decision**);
- ``uniform``: ``U(lo, hi)`` per feature;
- ``gaussian``: ``clip(x + N(0, sigma^2), lo, hi)`` (Distill: sigma = 1 for the [0,1]-range images,
  **decision**: sigma is in units of ``hi - lo``);
- ``training-data``: a training image drawn uniformly (with replacement) from ``data [N,C,H,W]``.

Random baselines use the caller's ``generator``.
"""
from __future__ import annotations

from enum import Enum

import torch
from torch import Tensor

from ..errors import UnsureError
from ..ops.blur import gaussian_blur


class Baseline(str, Enum):
    """Names of the built-in baselines (CLI strings and enum members are interchangeable)."""

    BLACK = "black"
    WHITE = "white"
    MAX_DISTANCE = "max-distance"
    BLUR = "blur"
    UNIFORM = "uniform"
    GAUSSIAN = "gaussian"
    TRAINING_DATA = "training-data"


RANDOM_BASELINES = {Baseline.UNIFORM, Baseline.GAUSSIAN, Baseline.TRAINING_DATA}


def scaled_sigma(sigma_224: float, x: Tensor) -> float:
    """A blur sigma given for 224-px ImageNet images, scaled linearly to the side of ``x``."""
    return sigma_224 * max(x.shape[-2:]) / 224.0


def parse_baseline(name: str | Baseline) -> Baseline:
    try:
        return Baseline(str(getattr(name, "value", name)).lower().replace("_", "-"))
    except ValueError:
        known = ", ".join(b.value for b in Baseline)
        raise UnsureError(f"unknown baseline {name!r}; known: {known}") from None


def _rand(shape, x: Tensor, generator: torch.Generator | None, normal: bool = False) -> Tensor:
    """Random numbers drawn on the generator's device, then moved to ``x``'s device and dtype."""
    dev = generator.device if generator is not None else x.device
    fn = torch.randn if normal else torch.rand
    return fn(shape, generator=generator, device=dev, dtype=x.dtype).to(x.device)


def sample_baselines(name: str | Baseline, x: Tensor, n: int = 1, *,
                     generator: torch.Generator | None = None, data: Tensor | None = None,
                     value_range: tuple[float, float] = (0.0, 1.0), blur_sigma: float | None = None,
                     gaussian_sigma: float = 1.0) -> Tensor:
    """Draw ``n`` baselines per image.

    Parameters
    ----------
    name : a :class:`Baseline` name
    x : images ``[B,C,H,W]``
    n : baselines per image
    data : training images ``[N,C,H,W]`` (``training-data`` only)
    value_range : valid pixel range ``(lo, hi)``
    blur_sigma : blur baseline sigma (default ``20 * side / 224``)
    gaussian_sigma : std of the gaussian baseline, in units of ``hi - lo``

    Returns
    -------
    ``[n,B,C,H,W]``
    """
    kind = parse_baseline(name)
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise UnsureError(f"value_range must be (lo, hi) with hi > lo, got {value_range}")
    if not isinstance(n, int) or n < 1:
        raise UnsureError(f"the number of baselines must be a positive int, got {n!r}")
    shape = (n, *x.shape)
    if kind is Baseline.BLACK:
        return torch.full(shape, lo, dtype=x.dtype, device=x.device)
    if kind is Baseline.WHITE:
        return torch.full(shape, hi, dtype=x.dtype, device=x.device)
    if kind is Baseline.MAX_DISTANCE:
        far = torch.where(x < 0.5 * (lo + hi), hi, lo).to(x.dtype)
        return far.expand(shape).clone()
    if kind is Baseline.BLUR:
        sigma = scaled_sigma(20.0, x) if blur_sigma is None else blur_sigma
        return gaussian_blur(x, sigma).expand(shape).clone()
    if kind is Baseline.UNIFORM:
        return lo + (hi - lo) * _rand(shape, x, generator)
    if kind is Baseline.GAUSSIAN:
        if gaussian_sigma < 0:
            raise UnsureError(f"gaussian_sigma must be >= 0, got {gaussian_sigma}")
        noise = _rand(shape, x, generator, normal=True) * (gaussian_sigma * (hi - lo))
        return (x + noise).clamp(lo, hi)  # x broadcasts over the leading n axis
    # training data
    if not isinstance(data, Tensor) or data.ndim != 4 or data.shape[1:] != x.shape[1:]:
        got = tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__
        raise UnsureError("the training-data baseline needs data=Tensor[N,C,H,W] with C,H,W = "
                          f"{tuple(x.shape[1:])}, got {got}")
    dev = generator.device if generator is not None else x.device
    idx = torch.randint(0, data.shape[0], (n * x.shape[0],), generator=generator, device=dev)
    return data[idx.to(data.device)].to(x.device, x.dtype).reshape(shape)


def make_reference(reference: str | Baseline | float | Tensor, x: Tensor, *,
                   generator: torch.Generator | None = None, **options) -> Tensor:
    """One reference per image, ``[B,C,H,W]``, for a straight-line path.

    ``reference`` is a :class:`Baseline` name (random ones are drawn once with ``generator``), a
    number (a constant image) or a tensor broadcastable to ``x`` (``[C,H,W]``, ``[1,C,H,W]`` or
    ``[B,C,H,W]``). ``options`` go to :func:`sample_baselines`.
    """
    if isinstance(reference, Tensor):
        try:
            return torch.broadcast_to(reference.to(x.device, x.dtype), x.shape).clone()
        except RuntimeError:
            raise UnsureError(f"reference of shape {tuple(reference.shape)} does not broadcast to "
                              f"the images {tuple(x.shape)}") from None
    if isinstance(reference, (int, float)) and not isinstance(reference, bool):
        return torch.full_like(x, float(reference))
    if isinstance(reference, (str, Baseline)):
        return sample_baselines(reference, x, 1, generator=generator, **options)[0]
    raise UnsureError(f"reference must be a baseline name, a number or a tensor, "
                      f"got {type(reference).__name__}")
