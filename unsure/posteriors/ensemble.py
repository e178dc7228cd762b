"""Deep ensemble: M independently trained networks (Lakshminarayanan et al. 2017; paper: M = 5)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import POSTERIORS, Draw, ModelFactory, Posterior, as_module_list, find_feature_layer


@POSTERIORS.register("ensemble", "deep ensemble of independently trained networks")
class DeepEnsemble(Posterior):
    """A deep ensemble over any ``nn.Module`` members mapping ``[B,C,H,W] -> [B,K]`` logits.

    ``unsure.DeepEnsemble([net1, net2, ...])`` works on any user models. A one-member ensemble is
    allowed: its epistemic uncertainty is exactly 0.
    """

    name = "ensemble"

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        self.members = as_module_list(members, "DeepEnsemble")
        self.train_info = {}

    @property
    def num_samples(self) -> int:
        return len(self.members)

    def draw(self, generator: torch.Generator | None = None) -> Draw:
        for m in self.members:
            m.eval()
        return Draw(
            members=list(self.members),
            modules=list(self.members),
            feature_layers=[find_feature_layer(m) for m in self.members],
        )

    def config(self) -> dict:
        return {"posterior": self.name, "members": len(self.members)}

    @classmethod
    def from_config(cls, config: dict, make_model: ModelFactory) -> "DeepEnsemble":
        return cls([make_model() for _ in range(int(config["members"]))])
