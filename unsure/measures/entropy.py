"""Entropy-based uncertainty of logit samples (UA-Backprop paper, Eq. 2-4).

With ``p^m = softmax(z^m)`` for samples m = 1..S and ``pbar = mean_m p^m``:

- total      ``U_t = H(pbar)``
- aleatoric  ``U_a = mean_m H(p^m)``
- epistemic  ``U_e = U_t - U_a`` (mutual information)

Each is also a sum of per-probability terms ``a(p_k^m)`` (paper Eq. 4), returned by
:func:`decompose`; UA-Backprop starts from those terms.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..validate import check_logits

EPS = 1e-12  # clamp inside log (UA_BACKPROP.md, Notation)


def _probs(logits: Tensor) -> tuple[Tensor, Tensor]:
    """``[S,B,K] -> (p [S,B,K], pbar [B,K])``."""
    check_logits(logits)
    p = torch.softmax(logits, dim=-1)
    return p, p.mean(dim=0)


def _xlogy(p: Tensor, q: Tensor) -> Tensor:
    return p * torch.log(q.clamp_min(EPS))


def total(logits: Tensor) -> Tensor:
    """Total predictive uncertainty ``H(pbar)``: ``[S,B,K] -> [B]``."""
    _, pbar = _probs(logits)
    return -_xlogy(pbar, pbar).sum(-1)


def aleatoric(logits: Tensor) -> Tensor:
    """Aleatoric (expected) entropy ``mean_m H(p^m)``: ``[S,B,K] -> [B]``."""
    p, _ = _probs(logits)
    return -_xlogy(p, p).sum(-1).mean(0)


def epistemic(logits: Tensor) -> Tensor:
    """Epistemic uncertainty, the mutual information ``H(pbar) - mean_m H(p^m)``: ``[S,B,K] -> [B]``.

    Computed as ``mean_m KL(p^m || pbar)``, which equals the difference but is a sum of
    non-negative terms, so it is >= 0 up to rounding and exactly 0 for one sample; the rounding
    (float32: about -1e-8) is clamped away so the measure is never negative.
    """
    return decompose(logits, "epistemic").sum(dim=(0, 2)).clamp_min(0.0)


def decompose(logits: Tensor, kind: str) -> Tensor:
    """Per-probability terms ``a(p_k^m)`` of paper Eq. 4: ``[S,B,K] -> [S,B,K]``.

    ``a.sum((0, 2))`` equals the chosen uncertainty exactly.

    - total:      ``a = -(1/S) p_k^m log pbar_k``
    - aleatoric:  ``a = -(1/S) p_k^m log p_k^m``
    - epistemic:  ``a = (1/S) p_k^m (log p_k^m - log pbar_k)`` (a single term may be negative)
    """
    p, pbar = _probs(logits)
    S = logits.shape[0]
    logp = torch.log(p.clamp_min(EPS))
    logpbar = torch.log(pbar.clamp_min(EPS)).unsqueeze(0)  # [B,K] -> [1,B,K]
    if kind == "total":
        return -p * logpbar / S
    if kind == "aleatoric":
        return -p * logp / S
    if kind == "epistemic":
        return p * (logp - logpbar) / S
    from ..errors import UnsureError

    raise UnsureError(f"no per-probability decomposition for {kind!r}; use total, aleatoric or epistemic")
