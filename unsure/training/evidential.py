"""The evidential (Dirichlet) training loss of Sensoy, Kaplan & Kandemir, "Evidential Deep Learning
to Quantify Classification Uncertainty", NeurIPS 2018 (Eq. 5 and the KL term of Eq. 9), as in
METHODS.md "Posteriors / Evidential".

With evidence ``e = relu(out)``, ``alpha = e + 1``, ``S = sum_k alpha_k`` and
``phat = alpha / S``, the loss of one example with one-hot label ``y`` is

    sum_k (y_k - phat_k)^2 + phat_k (1 - phat_k) / (S + 1)                 (MSE Bayes risk, Eq. 5)
    + min(1, epoch / annealing_epochs) * KL(Dir(alpha_tilde) || Dir(1))   (Eq. 9)

with ``alpha_tilde = y + (1 - y) * alpha`` (the evidence of the true class removed). ``epoch``
counts from 0 as in the authors' code (``global_step / annealing_step``), so the first epoch has
no KL term; the default ``annealing_epochs = 10`` is the paper's.
"""
from __future__ import annotations

import torch
from torch import Tensor


def evidence_to_alpha(out: Tensor) -> Tensor:
    """Dirichlet parameters ``alpha = relu(out) + 1``: ``[B,K] -> [B,K]``."""
    return torch.relu(out) + 1


def kl_dirichlet_uniform(alpha: Tensor) -> Tensor:
    """``KL(Dir(alpha) || Dir(1, ..., 1))``: ``[B,K] -> [B]``.

    ``= ln Gamma(S) - sum_k ln Gamma(alpha_k) - ln Gamma(K) + sum_k (alpha_k - 1)(psi(alpha_k) - psi(S))``
    with ``S = sum_k alpha_k`` (``ln Gamma(1) = 0`` removes the uniform Dirichlet's own terms).
    """
    K = alpha.shape[-1]
    S = alpha.sum(-1)
    lgamma_k = torch.lgamma(torch.tensor(float(K), dtype=alpha.dtype, device=alpha.device))
    log_norm = torch.lgamma(S) - torch.lgamma(alpha).sum(-1) - lgamma_k
    return log_norm + ((alpha - 1) * (torch.digamma(alpha) - torch.digamma(S).unsqueeze(-1))).sum(-1)


def annealing_coefficient(epoch: int, annealing_epochs: int = 10) -> float:
    """``min(1, epoch / annealing_epochs)``, the weight of the KL term (``epoch`` from 0)."""
    if annealing_epochs <= 0:
        return 1.0
    return min(1.0, epoch / annealing_epochs)


def evidential_mse_loss(out: Tensor, y: Tensor, epoch: int, annealing_epochs: int = 10,
                        reduction: str = "mean") -> Tensor:
    """Sensoy et al.'s MSE evidential loss.

    Parameters
    ----------
    out : ``[B,K]`` raw network outputs (evidence before the ReLU)
    y : ``[B]`` integer labels
    epoch : the current epoch, counted from 0 (KL annealing)
    reduction : ``"mean"`` (a scalar) or ``"none"`` (``[B]``)
    """
    alpha = evidence_to_alpha(out)  # [B,K]
    onehot = torch.nn.functional.one_hot(y, alpha.shape[-1]).to(alpha.dtype)  # [B] -> [B,K]
    S = alpha.sum(-1, keepdim=True)  # [B,1]
    phat = alpha / S
    risk = ((onehot - phat) ** 2 + phat * (1 - phat) / (S + 1)).sum(-1)  # [B,K] -> [B]
    alpha_tilde = onehot + (1 - onehot) * alpha
    loss = risk + annealing_coefficient(epoch, annealing_epochs) * kl_dirichlet_uniform(alpha_tilde)
    return loss.mean() if reduction == "mean" else loss
