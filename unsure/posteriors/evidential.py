"""Evidential deep learning (Sensoy et al. 2018): one network whose ReLU outputs are Dirichlet
evidence, ``alpha = relu(out) + 1`` (METHODS.md, "Posteriors / Evidential").

The posterior has one member (S = 1) that returns ``log(alpha)`` as its "logits" ``[1,B,K]``:
``softmax(log alpha) = alpha / sum(alpha)`` is the Dirichlet mean, so the entropy measures apply
unchanged (epistemic = 0 for S = 1), and ``unsure.measures.vacuity`` / ``dissonance`` recover
``alpha = exp(logits)``. ``log(alpha) = log1p(relu(out)) >= 0`` is always finite.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import UnsureError
from .base import POSTERIORS, Draw, ModelFactory, Posterior, find_feature_layer


class EvidentialMember:
    """``x [B,C,H,W] -> log(alpha) [B,K]`` with ``alpha = relu(net(x)) + 1``. A plain callable that
    uses (does not own) the network, so the posterior's state dict keys stay ``net.*``."""

    def __init__(self, net: nn.Module):
        self.net = net

    def __call__(self, x: Tensor) -> Tensor:
        return torch.log1p(torch.relu(self.net(x)))  # log(relu(out) + 1), precise near 0


@POSTERIORS.register("evidential", "evidential Dirichlet net (Sensoy et al. 2018), S = 1, log(alpha) logits")
class Evidential(Posterior):
    """Evidential posterior over any network ``[B,C,H,W] -> [B,K]`` (its outputs are evidence).

    ``unsure.Evidential(net)``; ``draw()`` has one member returning ``log(alpha)``.
    """

    name = "evidential"

    def __init__(self, net: nn.Module, annealing_epochs: int = 10):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise UnsureError(f"Evidential needs an nn.Module, got {type(net).__name__}")
        self.net = net
        self.annealing_epochs = int(annealing_epochs)
        self.train_info = {}

    @property
    def num_samples(self) -> int:
        return 1

    def draw(self, generator: torch.Generator | None = None) -> Draw:
        self.net.eval()
        return Draw(members=[EvidentialMember(self.net)], modules=[self.net],
                    feature_layers=[find_feature_layer(self.net)])

    def alpha(self, x: Tensor) -> Tensor:
        """Dirichlet parameters ``[B,K]`` for images ``x [B,C,H,W]``."""
        return self.sample_logits(x)[0].exp()  # [1,B,K] -> [B,K]

    def config(self) -> dict:
        return {"posterior": self.name, "annealing_epochs": self.annealing_epochs}

    @classmethod
    def from_config(cls, config: dict, make_model: ModelFactory) -> "Evidential":
        return cls(make_model(), annealing_epochs=int(config.get("annealing_epochs", 10)))
