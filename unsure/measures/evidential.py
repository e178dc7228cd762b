"""Evidential (Dirichlet) uncertainty: vacuity and dissonance (Sensoy et al. 2018; Josang's
subjective logic), as in METHODS.md "Posteriors / Evidential".

Evidential posteriors return ``log(alpha)`` as their "logits" ``[S,B,K]`` (S = 1), so that
``softmax(logits) = alpha / sum(alpha)`` is the Dirichlet mean and the entropy measures apply
unchanged; these measures read ``alpha = exp(logits)``, averaged over S.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..validate import check_logits


def _alpha(logits: Tensor) -> Tensor:
    """``[S,B,K] -> alpha [B,K]``."""
    check_logits(logits)
    return logits.exp().mean(dim=0)


def vacuity(logits: Tensor) -> Tensor:
    """Evidential vacuity ``K / sum(alpha)``: ``[S,B,K] -> [B]``."""
    alpha = _alpha(logits)
    return alpha.shape[-1] / alpha.sum(-1)


def dissonance(logits: Tensor) -> Tensor:
    """Evidential dissonance ``sum_k b_k sum_{j!=k} b_j Bal(b_j,b_k) / sum_{j!=k} b_j``: ``[S,B,K] -> [B]``."""
    alpha = _alpha(logits)
    b = (alpha - 1).clamp_min(0) / alpha.sum(-1, keepdim=True)  # beliefs [B,K]
    bj = b.unsqueeze(-2)  # [B,1,K] (j along last axis)
    bk = b.unsqueeze(-1)  # [B,K,1]
    denom = (bj + bk).clamp_min(1e-12)
    bal = 1 - (bj - bk).abs() / denom  # [B,K,K]
    off = 1 - torch.eye(b.shape[-1], dtype=b.dtype, device=b.device)
    num = (bj * bal * off).sum(-1)  # [B,K]
    den = (bj * off).sum(-1).clamp_min(1e-12)  # [B,K]
    return (bk.squeeze(-1) * num / den).sum(-1)
