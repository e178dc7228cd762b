"""Deep ensemble: M independently trained networks (Lakshminarayanan et al. 2017; paper: M = 5)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..errors import UnsureError
from .base import POSTERIORS, Draw, ModelFactory, Posterior, as_module_list, find_feature_layer
from .one_pass import MODES, OnePass, stackable, worth_it


@POSTERIORS.register("ensemble", "deep ensemble of independently trained networks")
class DeepEnsemble(Posterior):
    """A deep ensemble over any ``nn.Module`` members mapping ``[B,C,H,W] -> [B,K]`` logits.

    ``unsure.DeepEnsemble([net1, net2, ...])`` works on any user models. A one-member ensemble is
    allowed: its epistemic uncertainty is exactly 0.

    ``one_pass`` (the switch; an attribute, settable afterwards): ``"auto"`` (default) runs
    members of one architecture in one ``torch.func.vmap`` pass where that is faster
    (:func:`unsure.posteriors.one_pass.worth_it`), ``True`` whenever they share one architecture,
    ``False`` always member by member. The results are the same up to float rounding; members of
    different architectures, or networks with forward hooks, always take the loop.
    """

    name = "ensemble"

    def __init__(self, members: Sequence[nn.Module], one_pass: bool | str = "auto"):
        super().__init__()
        self.members = as_module_list(members, "DeepEnsemble")
        self.train_info = {}
        self.one_pass = one_pass
        self._stacked: OnePass | None = None  # the stacked weights, reused while the members' are unchanged

    def __getstate__(self):  # the stacked copy (a vmapped closure) is rebuilt, not pickled
        state = super().__getstate__() if hasattr(super(), "__getstate__") else dict(self.__dict__)
        state = dict(state)
        state["_stacked"] = None
        state.pop("_one_pass_shapes", None)
        return state

    def _fast(self, x):
        """All members in one pass, or ``None`` to let the draw loop over them."""
        mode = getattr(self, "one_pass", "auto")
        if mode not in MODES:
            raise UnsureError(f"DeepEnsemble one_pass must be 'auto', True or False, got {mode!r}")
        members = list(self.members)
        if mode is False:
            return None
        shape = (tuple(x.shape[1:]), x.device, x.dtype)
        decided = self.__dict__.setdefault("_one_pass_shapes", {})  # shape -> take the one pass?
        if shape not in decided:
            decided[shape] = mode is True or worth_it(members[0], x)
        if not decided[shape] or stackable(members) is not None:
            return None
        stacked = getattr(self, "_stacked", None)
        if stacked is None or not stacked.current():
            stacked = self._stacked = OnePass(members)
        try:
            return stacked(x)
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception:  # vmap cannot run this model on x: the loop runs it (or says why not)
            if mode is True:
                raise
            decided[shape] = False
            return None

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
            fast=self._fast,
        )

    def config(self) -> dict:
        return {"posterior": self.name, "members": len(self.members)}

    @classmethod
    def from_config(cls, config: dict, make_model: ModelFactory) -> "DeepEnsemble":
        return cls([make_model() for _ in range(int(config["members"]))])
