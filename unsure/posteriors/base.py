"""The posterior interface: every posterior yields logit samples ``Tensor[S, B, K]``.

A posterior knows no trainer: training one is :mod:`unsure.training.fitters` (``FITTERS``, one
fitting function per registered posterior name), which imports the posteriors, not the reverse.

A posterior is sampled by :meth:`Posterior.draw`, which freezes S deterministic *members*
(ensemble members, fixed MC-dropout masks, Laplace or weight-noise draws). Attribution methods
take one draw and use it for every forward and backward pass of one call, so an integrated-gradient
path or a blurring test always sees the same S members.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Sequence

import torch
from torch import Tensor, nn

from ..errors import UnsureError
from ..registry import Registry
from ..validate import check_images, check_logits

Member = Callable[[Tensor], Tensor]  # x [B,C,H,W] -> logits [B,K], deterministic
ModelFactory = Callable[[], nn.Module]  # builds a fresh network of the run's architecture

POSTERIORS: Registry = Registry("posterior")


@dataclass
class Draw:
    """S frozen members of a posterior.

    Attributes
    ----------
    members : list of callables ``x [B,C,H,W] -> [B,K]``
    modules : the ``nn.Module`` objects the members run, for layer hooks (FullGrad, Grad-CAM).
        Hooks fire once per member call, in member order.
    feature_layers : for each member, the module whose output is its last convolutional feature
        map ``[B,C',h,w]`` (``None`` entries where a member has none).
    """

    members: list[Member]
    modules: list[nn.Module]
    feature_layers: list[nn.Module | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.members)

    def __call__(self, x: Tensor) -> Tensor:
        """``x [B,C,H,W] -> logits [S,B,K]``."""
        return torch.stack([f(x) for f in self.members], dim=0)


class Posterior(nn.Module, abc.ABC):
    """Base class. Subclasses implement :meth:`draw`; ``sample_logits`` validates its output."""

    name: ClassVar[str] = ""
    train_info: dict

    @property
    @abc.abstractmethod
    def num_samples(self) -> int:
        """S, the number of members a draw has."""

    @abc.abstractmethod
    def draw(self, generator: torch.Generator | None = None) -> Draw:
        """Freeze S deterministic members (puts the networks in eval mode)."""

    def sample_logits(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Logit samples ``[S, B, K]`` for images ``x [B, C, H, W]``."""
        check_images(x)
        return check_logits(self.draw(generator)(x), f"{type(self).__name__} logits")

    def forward(self, x: Tensor) -> Tensor:
        return self.sample_logits(x)

    def config(self) -> dict:
        """JSON-able settings needed to rebuild this posterior's structure (before its weights
        are loaded with ``load_state_dict``). Must include ``"posterior": self.name``."""
        return {"posterior": self.name}

    @classmethod
    @abc.abstractmethod
    def from_config(cls, config: dict, make_model: ModelFactory) -> "Posterior":
        """Rebuild the structure saved by :meth:`config` (weights are loaded afterwards)."""

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")


def find_feature_layer(model: nn.Module) -> nn.Module | None:
    """The module producing the last convolutional feature maps of ``model``.

    Uses ``model.feature_layer`` when the model declares one (all of unsure's models do);
    otherwise the last ``nn.Conv2d`` in registration order.
    """
    declared = getattr(model, "feature_layer", None)
    if isinstance(declared, nn.Module):
        return declared
    last = None
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            last = mod
    return last


def as_module_list(models: Sequence[nn.Module], what: str) -> nn.ModuleList:
    if isinstance(models, nn.Module) and not isinstance(models, nn.ModuleList):
        raise UnsureError(f"{what} needs a list of nn.Module members, got a single {type(models).__name__}")
    models = list(models)
    if not models:
        raise UnsureError(f"{what} needs at least one member")
    for i, m in enumerate(models):
        if not isinstance(m, nn.Module):
            raise UnsureError(f"{what} member {i} is a {type(m).__name__}, not an nn.Module")
    return nn.ModuleList(models)
