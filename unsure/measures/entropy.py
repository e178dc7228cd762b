"""Entropy-based uncertainty of logit samples (UA-Backprop paper, Eq. 2-4).

With ``p^m = softmax(z^m)`` for samples m = 1..S and ``pbar = mean_m p^m``:

- total      ``U_t = H(pbar)``
- aleatoric  ``U_a = mean_m H(p^m)``
- epistemic  ``U_e = U_t - U_a`` (mutual information)

Each is also a sum of per-probability terms ``a(p_k^m)`` (paper Eq. 4), returned by
:func:`total_terms`, :func:`aleatoric_terms` and :func:`epistemic_terms` (registered with their
measures, see :func:`unsure.measures.measure.decompose`); UA-Backprop starts from those terms.
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
    non-negative terms, so it is >= 0 up to rounding and exactly 0 for one sample.
    """
    return epistemic_terms(logits).sum(dim=(0, 2))


# ---- per-probability terms a(p_k^m), paper Eq. 4: [S,B,K] -> [S,B,K], a.sum((0, 2)) = U ---------
def _terms(logits: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
    """``(p, log p [S,B,K], log pbar [1,B,K], S)``."""
    p, pbar = _probs(logits)
    logp = torch.log(p.clamp_min(EPS))
    logpbar = torch.log(pbar.clamp_min(EPS)).unsqueeze(0)  # [B,K] -> [1,B,K]
    return p, logp, logpbar, logits.shape[0]


def total_terms(logits: Tensor) -> Tensor:
    """``a = -(1/S) p_k^m log pbar_k``."""
    p, _, logpbar, S = _terms(logits)
    return -p * logpbar / S


def aleatoric_terms(logits: Tensor) -> Tensor:
    """``a = -(1/S) p_k^m log p_k^m``."""
    p, logp, _, S = _terms(logits)
    return -p * logp / S


def epistemic_terms(logits: Tensor) -> Tensor:
    """``a = (1/S) p_k^m (log p_k^m - log pbar_k)`` (a single term may be negative)."""
    p, logp, logpbar, S = _terms(logits)
    return p * (logp - logpbar) / S
