"""All members of one architecture in one pass (``torch.func``): ``stack_module_state`` stacks the
members' parameters and buffers along a new leading axis, ``functional_call`` runs one copy of the
architecture with them, and ``vmap`` maps that over the members, so ``x [B,C,H,W] -> [S,B,K]`` is
one call (convolutions become grouped convolutions over the members) instead of a Python loop.
The result is an ordinary differentiable function of ``x``: ``torch.autograd.grad`` of
``draw(x)`` with cotangents ``[S,B,K]`` (or ``[J,S,B,K]`` with ``is_grads_batched``) gives the
summed gradients of all members in one backward pass.

When the loop is kept (:func:`stackable` says why not): members of different architectures
(types, parameter names or shapes), members that are not ``nn.Module`` objects, networks with
forward hooks (layer recording for FullGrad / Grad-CAM, the memory probe of
``unsure.batching``: their hooks must see each member's own call) and networks in training mode.
A model that ``vmap`` cannot run (data-dependent Python control flow, ``.item()``) falls back to
the loop on its first call.

``mode`` (the switch, on :class:`~unsure.posteriors.ensemble.DeepEnsemble` as ``one_pass=``):
``"auto"`` one pass when stackable and :func:`worth_it` (on accelerators), ``True`` one pass whenever stackable,
``False`` always the loop.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

MODES = ("auto", True, False)

def _has_hooks(mod: nn.Module) -> bool:
    return any(bool(m._forward_hooks) or bool(m._forward_pre_hooks) or bool(m._backward_hooks)
               for m in mod.modules())


def stackable(members: Sequence) -> str | None:
    """``None`` when ``members`` can run in one pass, else the reason (one phrase)."""
    if len(members) < 2:
        return "one member"
    if not all(isinstance(m, nn.Module) for m in members):
        return "members are not nn.Module objects"
    first = members[0]
    sig = [(n, tuple(t.shape), t.dtype) for n, t in [*first.named_parameters(), *first.named_buffers()]]
    types = [type(m) for m in first.modules()]
    for m in members:
        if m.training or any(s.training for s in m.modules()):
            return "a member is in training mode"
        if _has_hooks(m):
            return "a member has forward hooks"
        if m is not first and ([type(s) for s in m.modules()] != types or
                               [(n, tuple(t.shape), t.dtype) for n, t in
                                [*m.named_parameters(), *m.named_buffers()]] != sig):
            return "members differ in architecture"
    return None


def macs_per_image(net: nn.Module, x: Tensor) -> int:
    """Multiply-adds of the conv and linear layers of ``net`` for one image like ``x[:1]``."""
    total = [0]

    def hook(mod, _inp, out):
        if isinstance(out, Tensor):
            positions = out[0].numel() // max(1, out.shape[1]) if out.ndim > 2 else 1
            total[0] += mod.weight.numel() * positions

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]
    try:
        with torch.no_grad():
            net(x[:1])
    finally:
        for h in handles:
            h.remove()
    return total[0]


def worth_it(net: nn.Module, x: Tensor) -> bool:
    """The ``"auto"`` rule: one pass on accelerators, the loop on the CPU.

    On the CPU (torch 2.13, ``scripts/one_pass_speed.py``, docs/results/engine-speed.md) the
    grouped convolutions ``vmap`` makes are no faster than the member loop: 0.7-0.9x for the
    paper CNN at 1x28x28 with batches of 16 (0.9-1.2x with batches of 2) and 0.8-1.0x for a
    ResNet-18 (width 0.5) at 3x32x32 with batches of 4. No accelerator was available to measure.
    """
    return x.device.type != "cpu"


def _state_key(members: Sequence[nn.Module]) -> tuple:
    return tuple((t.data_ptr(), t._version, t.device) for m in members
                 for t in [*m.parameters(), *m.buffers()])


class OnePass:
    """``x [B,C,H,W] -> [S,B,K]`` for same-architecture members via ``vmap`` (module docstring).

    The stacked weights are a copy, made on construction; :meth:`current` says whether the
    members' tensors are still the ones copied (same storage, not modified in place since).
    """

    def __init__(self, members: Sequence[nn.Module]):
        self.members = list(members)
        self.key = _state_key(self.members)
        with torch.no_grad():
            params, buffers = stack_module_state(self.members)
        self.params = {k: v.detach() for k, v in params.items()}
        self.buffers = {k: v.detach() for k, v in buffers.items()}
        base = copy.deepcopy(self.members[0]).to("meta")
        base.eval()

        def one(p, b, x):
            return functional_call(base, (p, b), (x,))

        self._fn = vmap(one, in_dims=(0, 0, None))

    def current(self) -> bool:
        return _state_key(self.members) == self.key

    def __call__(self, x: Tensor) -> Tensor:
        return self._fn(self.params, self.buffers, x)
