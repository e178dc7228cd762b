"""Complexity and effective complexity of a map (Bhatt, Weller & Moura, IJCAI 2020; Schiller et al.
2026, "No Single Metric Tells the Whole Story", Sec. 3, "compactness").

With ``p_i = |a_i| / sum_j |a_j|`` over the ``D`` features of one image:

- complexity ``= -sum_i p_i log p_i`` (nats): 0 for a one-hot map, ``log D`` for a uniform one;
- effective complexity ``= #{i : p_i > eps}`` with ``eps = 1/D`` (Schiller et al.'s default).

Lower is better for both (a compact explanation). **(decision)** The authors normalise by
``|sum_i a_i|`` and call ``scipy.stats.entropy`` on the signed map, which is NaN or -inf for a map with
negative entries; we normalise the absolute values (the two agree on non-negative maps, the case
their fixtures test). An all-zero map fails (their code returns 0, the best possible score).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._maps import check_nonzero, flat_maps
from .base import register_metric


def _shares(maps: Tensor) -> Tensor:
    a = check_nonzero(flat_maps(maps)).abs()  # [B,D]
    return a / a.sum(1, keepdim=True)


def complexity(maps: Tensor) -> Tensor:
    """Entropy (nats) of the normalised absolute map, per image.

    Parameters
    ----------
    maps : ``[B,H,W]`` or ``[B,C,H,W]`` (every entry is a feature)

    Returns
    -------
    ``[B]`` float64, in ``[0, log D]``
    """
    p = _shares(maps)
    return -torch.special.xlogy(p, p).sum(1)


def effective_complexity(maps: Tensor, eps: float | None = None) -> Tensor:
    """Number of features whose share ``|a_i| / sum |a|`` exceeds ``eps`` (default ``1/D``), per image.

    Returns
    -------
    ``[B]`` float64 counts
    """
    p = _shares(maps)
    eps = 1.0 / p.shape[1] if eps is None else float(eps)
    return (p > eps).sum(1).double()


register_metric("complexity", False, "both", "entropy of the normalised |map| (Bhatt et al. 2020)", complexity)
register_metric("effective-complexity", False, "both",
                "features holding more than 1/D of the normalised |map|", effective_complexity)
