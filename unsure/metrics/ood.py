"""Out-of-distribution detection by an uncertainty score: AUROC of in- vs out-of-distribution.

:func:`auroc` is the probability that a random out-of-distribution image scores higher than a
random in-distribution one (ties count one half), i.e. the Mann-Whitney U statistic divided by
``n_in * n_out`` (Hanley & McNeil 1982), computed from average ranks so that tied scores (e.g. a
vacuity of exactly 1) are handled as scikit-learn's ``roc_auc_score`` handles them. 0.5 is chance,
1 a perfect detector, below 0.5 a score that is *lower* out of distribution.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsureError
from .base import register_metric


def _average_ranks(v: Tensor) -> Tensor:
    """Ranks 1..N of ``v [N]`` with ties given their mean rank (float64)."""
    order = torch.argsort(v, stable=True)
    sorted_v = v[order]
    ranks = torch.empty_like(v, dtype=torch.float64)
    # group equal values: each group's mean of positions (1-based)
    _, inverse, counts = torch.unique_consecutive(sorted_v, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()  # last 1-based position of each group
    mean_rank = ends - (counts.double() - 1) / 2
    ranks[order] = mean_rank[inverse]
    return ranks


def auroc(score_in: Tensor, score_out: Tensor) -> float:
    """AUROC of ``score`` separating out-of-distribution (positive) from in-distribution images.

    Parameters
    ----------
    score_in : ``[N_in]`` scores (e.g. vacuity) of in-distribution images
    score_out : ``[N_out]`` scores of out-of-distribution images

    Returns
    -------
    float in [0, 1]
    """
    a, b = score_in.detach().double().reshape(-1).cpu(), score_out.detach().double().reshape(-1).cpu()
    if len(a) == 0 or len(b) == 0:
        raise UnsureError(f"AUROC needs scores of both groups, got {len(a)} in and {len(b)} out")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise UnsureError("AUROC scores must be finite")
    ranks = _average_ranks(torch.cat([a, b]))
    u = ranks[len(a):].sum() - len(b) * (len(b) + 1) / 2  # Mann-Whitney U of the OOD group
    return float(u / (len(a) * len(b)))


register_metric("ood-auroc", True, "uncertainty",
                "AUROC of an uncertainty score for out- vs in-distribution images", auroc)
