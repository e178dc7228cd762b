"""The evidential (Dirichlet) training losses of Sensoy, Kaplan & Kandemir, "Evidential Deep
Learning to Quantify Classification Uncertainty", NeurIPS 2018 (Eqs. 3-5 and the KL term of
Eq. 9), as in METHODS.md "Posteriors / Evidential".

With evidence ``e = evidence(out)`` (:mod:`unsure.posteriors.evidential`: relu, softplus or exp),
``alpha = e + 1``, ``S = sum_k alpha_k`` and ``phat = alpha / S``, the loss of one example with
one-hot label ``y`` is a data term plus the annealed KL term:

    mse:      sum_k (y_k - phat_k)^2 + phat_k (1 - phat_k) / (S + 1)          (Eq. 5)
    log:      sum_k y_k (log S - log alpha_k)                                   (Eq. 3, type II ML)
    digamma:  sum_k y_k (psi(S) - psi(alpha_k))                                 (Eq. 4, expected CE)
    + kl_weight * min(1, epoch / annealing_epochs) * KL(Dir(alpha_tilde) || Dir(1))   (Eq. 9)

with ``alpha_tilde = y + (1 - y) * alpha`` (the evidence of the true class removed). ``epoch``
counts from 0 as in the authors' code (``global_step / annealing_step``), so the first epoch has
no KL term; ``annealing_epochs = 0`` applies the full weight from the start. The paper's setting
is ReLU evidence, MSE, weight 1 over 10 epochs (:func:`evidential_mse_loss`).
"""
from __future__ import annotations

from enum import Enum

import torch
from torch import Tensor

from ..errors import UnsureError
from ..posteriors.evidential import EvidenceFn, to_alpha


class EvidentialLoss(str, Enum):
    """The data term of the evidential loss (module docstring)."""

    MSE = "mse"
    LOG = "log"
    DIGAMMA = "digamma"


def loss_kind(name: str | EvidentialLoss) -> EvidentialLoss:
    """The :class:`EvidentialLoss` named ``name`` (one-line error listing the choices)."""
    try:
        return EvidentialLoss(str(getattr(name, "value", name)).lower())
    except ValueError:
        raise UnsureError(f"unknown evidential loss {name!r}; use one of "
                          f"{', '.join(e.value for e in EvidentialLoss)}") from None


def evidence_to_alpha(out: Tensor) -> Tensor:
    """Dirichlet parameters ``alpha = relu(out) + 1``: ``[B,K] -> [B,K]`` (the paper's evidence)."""
    return to_alpha(out, EvidenceFn.RELU)


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


def data_term(alpha: Tensor, onehot: Tensor, loss: str | EvidentialLoss) -> Tensor:
    """The data term ``[B,K], [B,K] -> [B]`` of ``loss`` (module docstring)."""
    kind = loss_kind(loss)
    S = alpha.sum(-1, keepdim=True)  # [B,1]
    if kind is EvidentialLoss.MSE:
        phat = alpha / S
        return ((onehot - phat) ** 2 + phat * (1 - phat) / (S + 1)).sum(-1)  # [B,K] -> [B]
    if kind is EvidentialLoss.LOG:
        return (onehot * (torch.log(S) - torch.log(alpha))).sum(-1)
    return (onehot * (torch.digamma(S) - torch.digamma(alpha))).sum(-1)


def evidential_loss(out: Tensor, y: Tensor, epoch: int, *, evidence: str | EvidenceFn = "relu",
                    loss: str | EvidentialLoss = "mse", kl_weight: float = 1.0,
                    annealing_epochs: int = 10, reduction: str = "mean") -> Tensor:
    """Sensoy et al.'s evidential loss with a chosen evidence function and data term.

    Parameters
    ----------
    out : ``[B,K]`` raw network outputs (before the evidence function)
    y : ``[B]`` integer labels
    epoch : the current epoch, counted from 0 (KL annealing)
    evidence : ``relu`` | ``softplus`` | ``exp``
    loss : ``mse`` | ``log`` | ``digamma``
    kl_weight : the KL term's weight once annealed (1 in the paper)
    annealing_epochs : epochs over which the KL weight ramps up linearly from 0
    reduction : ``"mean"`` (a scalar) or ``"none"`` (``[B]``)
    """
    if not kl_weight >= 0:
        raise UnsureError(f"kl_weight must be >= 0, got {kl_weight}")
    alpha = to_alpha(out, evidence)  # [B,K]
    onehot = torch.nn.functional.one_hot(y, alpha.shape[-1]).to(alpha.dtype)  # [B] -> [B,K]
    per = data_term(alpha, onehot, loss)
    coef = kl_weight * annealing_coefficient(epoch, annealing_epochs)
    if coef > 0:
        per = per + coef * kl_dirichlet_uniform(onehot + (1 - onehot) * alpha)
    return per.mean() if reduction == "mean" else per


def evidential_mse_loss(out: Tensor, y: Tensor, epoch: int, annealing_epochs: int = 10,
                        reduction: str = "mean") -> Tensor:
    """The paper's loss: ReLU evidence, MSE Bayes risk, KL weight 1 (see :func:`evidential_loss`)."""
    return evidential_loss(out, y, epoch, evidence="relu", loss="mse", kl_weight=1.0,
                           annealing_epochs=annealing_epochs, reduction=reduction)


# The recipe ``unsure train --posterior evidential`` uses unless told otherwise; chosen on the
# validation split (docs/results/posteriors.md, "Evidential recipe").
DEFAULT_RECIPE = {"evidence": "exp", "loss": "digamma", "kl_weight": 0.01, "annealing_epochs": 10}
