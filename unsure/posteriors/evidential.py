"""Evidential deep learning (Sensoy et al. 2018): one network whose outputs are Dirichlet
evidence, ``alpha = evidence(out) + 1`` (METHODS.md, "Posteriors / Evidential").

The evidence function is one of :class:`EvidenceFn` (Sensoy et al.'s code offers all three):
``relu`` (the paper's, and what a run saved without an ``evidence`` key uses), ``softplus`` and
``exp`` (``exp(clamp(out, -EXP_CLAMP, EXP_CLAMP))``, clamped as in the authors' code so that
``alpha`` and its gradient stay finite).

The posterior has one member (S = 1) that returns ``log(alpha)`` as its "logits" ``[1,B,K]``:
``softmax(log alpha) = alpha / sum(alpha)`` is the Dirichlet mean, so the entropy measures apply
unchanged (epistemic = 0 for S = 1), and ``unsure.measures.vacuity`` / ``dissonance`` recover
``alpha = exp(logits)``. ``log(alpha) >= 0`` is always finite.
"""
from __future__ import annotations

from enum import Enum

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UnsureError
from .base import POSTERIORS, Draw, ModelFactory, Posterior, find_feature_layer

EXP_CLAMP = 10.0  # exp evidence: outputs clamped to [-10, 10] (Sensoy et al.'s code), e <= 2.2e4


class EvidenceFn(str, Enum):
    """How network outputs become non-negative evidence ``e``."""

    RELU = "relu"
    SOFTPLUS = "softplus"
    EXP = "exp"


def evidence_fn(name: str | EvidenceFn) -> EvidenceFn:
    """The :class:`EvidenceFn` named ``name`` (one-line error listing the choices)."""
    try:
        return EvidenceFn(str(getattr(name, "value", name)).lower())
    except ValueError:
        raise UnsureError(f"unknown evidence function {name!r}; use one of "
                          f"{', '.join(e.value for e in EvidenceFn)}") from None


def log_alpha(out: Tensor, evidence: str | EvidenceFn = EvidenceFn.RELU) -> Tensor:
    """``log(alpha) = log(evidence(out) + 1)``: ``[B,K] -> [B,K]``, computed without overflow.

    ``relu``: ``log1p(relu(out))``; ``softplus``: ``log1p(softplus(out))``; ``exp``:
    ``log(exp(c) + 1) = softplus(c)`` with ``c = clamp(out, -EXP_CLAMP, EXP_CLAMP)``.
    """
    ev = evidence_fn(evidence)
    if ev is EvidenceFn.RELU:
        return torch.log1p(torch.relu(out))  # precise near 0
    if ev is EvidenceFn.SOFTPLUS:
        return torch.log1p(F.softplus(out))
    return F.softplus(out.clamp(-EXP_CLAMP, EXP_CLAMP))


def to_alpha(out: Tensor, evidence: str | EvidenceFn = EvidenceFn.RELU) -> Tensor:
    """Dirichlet parameters ``alpha = evidence(out) + 1``: ``[B,K] -> [B,K]``."""
    ev = evidence_fn(evidence)
    if ev is EvidenceFn.RELU:
        return torch.relu(out) + 1
    if ev is EvidenceFn.SOFTPLUS:
        return F.softplus(out) + 1
    return torch.exp(out.clamp(-EXP_CLAMP, EXP_CLAMP)) + 1


class EvidentialMember:
    """``x [B,C,H,W] -> log(alpha) [B,K]`` with ``alpha = evidence(net(x)) + 1``. A plain callable
    that uses (does not own) the network, so the posterior's state dict keys stay ``net.*``."""

    def __init__(self, net: nn.Module, evidence: EvidenceFn = EvidenceFn.RELU):
        self.net = net
        self.evidence = evidence

    def __call__(self, x: Tensor) -> Tensor:
        return log_alpha(self.net(x), self.evidence)


@POSTERIORS.register("evidential", "evidential Dirichlet net (Sensoy et al. 2018), S = 1, log(alpha) logits")
class Evidential(Posterior):
    """Evidential posterior over any network ``[B,C,H,W] -> [B,K]`` (its outputs are evidence).

    ``unsure.Evidential(net, evidence="exp")``; ``draw()`` has one member returning ``log(alpha)``.
    ``loss``, ``kl_weight`` and ``annealing_epochs`` are how the net was trained
    (:mod:`unsure.training.evidential`); they are kept so the run's config records them.
    """

    name = "evidential"

    def __init__(self, net: nn.Module, annealing_epochs: int = 10, evidence: str = "relu",
                 loss: str = "mse", kl_weight: float = 1.0):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise UnsureError(f"Evidential needs an nn.Module, got {type(net).__name__}")
        self.net = net
        self.annealing_epochs = int(annealing_epochs)
        self.evidence = evidence_fn(evidence)
        self.loss = str(getattr(loss, "value", loss))
        self.kl_weight = float(kl_weight)
        self.train_info = {}

    @property
    def num_samples(self) -> int:
        return 1

    def draw(self, generator: torch.Generator | None = None) -> Draw:
        self.net.eval()
        return Draw(members=[EvidentialMember(self.net, self.evidence)], modules=[self.net],
                    feature_layers=[find_feature_layer(self.net)])

    def alpha(self, x: Tensor) -> Tensor:
        """Dirichlet parameters ``[B,K]`` for images ``x [B,C,H,W]``."""
        return self.sample_logits(x)[0].exp()  # [1,B,K] -> [B,K]

    def config(self) -> dict:
        return {"posterior": self.name, "annealing_epochs": self.annealing_epochs,
                "evidence": self.evidence.value, "loss": self.loss, "kl_weight": self.kl_weight}

    @classmethod
    def from_config(cls, config: dict, make_model: ModelFactory) -> "Evidential":
        """Runs saved before the recipe options existed have none of their keys: they were
        trained with ReLU evidence, the MSE loss and KL weight 1, which are the fallbacks."""
        return cls(make_model(), annealing_epochs=int(config.get("annealing_epochs", 10)),
                   evidence=config.get("evidence", "relu"), loss=config.get("loss", "mse"),
                   kl_weight=float(config.get("kl_weight", 1.0)))
