"""MC dropout (Gal & Ghahramani 2016): one network trained with dropout; at inference S dropout
masks give S members (METHODS.md, "Posteriors / MC dropout").

A draw *freezes* the S masks, so a member is a deterministic function: the same member gives the
same logits on every call, and a forward and its backward use the same mask (the mask is a
constant in the autograd graph). For every dropout module the mask has shape ``[1, *F]`` (``F`` the
module's feature shape; ``[1, C, 1, 1]`` for ``Dropout2d``), entries ``Bernoulli(1-p) / (1-p)``,
shared by every image of a batch, so a member's output for one image does not depend on the rest
of the batch. Masks are sized lazily, on a member's first call with a given input shape; each is
seeded from (member seed, dropout module, call index), so it does not depend on call order.

The masks are applied by forward hooks that a member installs around its own call and always
removes (``with`` block), with the network in eval mode; no hook outlives a member call.

Samples in one pass (``MCDropout(net, samples, batched=...)``): the S members can run as one
forward of the images repeated S times (``[S*B, ...]``), each dropout's output multiplied by the
S members' own masks (the same mask tensors, so the same numbers as the member loop up to float
rounding). ``batched="auto"`` (default) takes it on accelerators and, on the CPU, for calls of
fewer than :data:`CPU_BATCHED_BELOW` images; ``True`` always, ``False`` never. On the CPU (paper
CNN, 5 and 20 samples, ``scripts/one_pass_speed.py --posterior mc-dropout``,
docs/results/engine-speed.md) it is 1.3-1.8x faster than the loop with 2 images per call and
0.8-1.1x with 16; a network with forward hooks of its own (layer recording) always
takes the loop, so its hooks see each member's call.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn

from ..errors import UnsureError
from .base import POSTERIORS, Draw, ModelFactory, Posterior

_ELEMENTWISE = (nn.Dropout,)
_CHANNELWISE = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_UNSUPPORTED = (nn.AlphaDropout, nn.FeatureAlphaDropout)
#: ``batched="auto"`` on the CPU: one forward of S*B images only for calls of fewer images than
#: this (the measured batch where the loop caught up; module docstring)
CPU_BATCHED_BELOW = 16
_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant: spreads (member, module, call) over seeds


def dropout_modules(net: nn.Module) -> list[nn.Module]:
    """The dropout modules of ``net`` in registration order (each listed once)."""
    found = []
    for name, mod in net.named_modules():
        if isinstance(mod, _UNSUPPORTED):
            raise UnsureError(f"MC dropout does not support {type(mod).__name__} (module {name!r})")
        if isinstance(mod, _ELEMENTWISE + _CHANNELWISE):
            found.append(mod)
    return found


@contextlib.contextmanager
def _eval_mode(net: nn.Module) -> Iterator[None]:
    """Eval mode for the duration of a member call (dropout off, batch-norm frozen); restored."""
    was = net.training
    net.eval()
    try:
        yield
    finally:
        net.train(was)


class DropoutMember:
    """One frozen MC-dropout member: ``x [B,C,H,W] -> logits [B,K]``, deterministic.

    Parameters
    ----------
    net : the trained network
    dropouts : its dropout modules (from :func:`dropout_modules`)
    seed : this member's mask seed
    """

    def __init__(self, net: nn.Module, dropouts: list[nn.Module], seed: int):
        self.net = net
        self.dropouts = dropouts
        self.seed = int(seed)
        self._masks: dict[tuple, Tensor] = {}  # (module, call, shape, device, dtype) -> mask
        self._calls: list[int] = []

    def mask(self, d: int, call: int, out: Tensor) -> Tensor:
        """The frozen mask ``[1, *F]`` of dropout module ``d`` at its ``call``-th use in a forward."""
        mod = self.dropouts[d]
        if isinstance(mod, _CHANNELWISE):
            shape = (1, out.shape[1], *([1] * (out.ndim - 2)))  # one value per channel
        else:
            shape = (1, *out.shape[1:])
        key = (d, call, shape, out.device, out.dtype)
        m = self._masks.get(key)
        if m is None:
            # a CPU generator per (member, module, call): the same masks on any device, any order
            seed = (self.seed + _MIX * (d + 1) + 7919 * call) % (2**63 - 1)
            g = torch.Generator().manual_seed(seed)
            keep = 1.0 - float(mod.p)
            if keep <= 0.0:
                m = torch.zeros(shape)
            else:
                m = torch.bernoulli(torch.full(shape, keep), generator=g) / keep
            m = m.to(device=out.device, dtype=out.dtype)
            self._masks[key] = m
        return m

    def _hook(self, d: int):
        def hook(_module, _inp, out):
            call = self._calls[d]
            self._calls[d] += 1
            return out * self.mask(d, call, out)  # [B,*F] * [1,*F]
        return hook

    @contextlib.contextmanager
    def hooked(self) -> Iterator[None]:
        """Install the mask hooks (net in eval mode); always removed on exit."""
        handles = []
        self._calls = [0] * len(self.dropouts)
        try:
            with _eval_mode(self.net):
                for d, mod in enumerate(self.dropouts):
                    handles.append(mod.register_forward_hook(self._hook(d)))
                yield
        finally:
            for h in handles:
                h.remove()

    def __call__(self, x: Tensor) -> Tensor:
        with self.hooked():
            return self.net(x)


class BatchedMembers:
    """All members of one MC-dropout draw in one forward of ``[S*B, ...]`` (module docstring);
    returns ``None`` (the draw then loops over the members) where that is not taken."""

    def __init__(self, post: "MCDropout", members: list[DropoutMember]):
        self.post, self.members = post, members

    def __call__(self, x: Tensor) -> Tensor | None:
        mode = getattr(self.post, "batched", "auto")
        if mode not in ("auto", True, False):
            raise UnsureError(f"MCDropout batched must be 'auto', True or False, got {mode!r}")
        net = self.post.net
        if mode is False or len(self.members) < 2 or (
                mode == "auto" and x.device.type == "cpu" and x.shape[0] >= CPU_BATCHED_BELOW) \
                or any(m._forward_hooks or m._forward_pre_hooks for m in net.modules()):
            return None
        S, B = len(self.members), x.shape[0]
        dropouts = self.members[0].dropouts
        calls = [0] * len(dropouts)

        def hook(d: int):
            def apply(_module, _inp, out):
                call = calls[d]
                calls[d] += 1
                masks = torch.stack([m.mask(d, call, out[:B]) for m in self.members])  # [S,1,*F]
                return (out.reshape(S, B, *out.shape[1:]) * masks).reshape(out.shape)
            return apply

        handles = []
        try:
            with _eval_mode(net):
                handles = [mod.register_forward_hook(hook(d)) for d, mod in enumerate(dropouts)]
                xs = x.unsqueeze(0).expand(S, *x.shape).reshape(S * B, *x.shape[1:])  # member-major
                z = net(xs)
        finally:
            for h in handles:
                h.remove()
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[0] != S * B:
            return None  # not logits [S*B,K]: the member loop says what is wrong
        return z.reshape(S, B, z.shape[1])


@POSTERIORS.register("mc-dropout", "MC dropout: one net, S frozen dropout masks")
class MCDropout(Posterior):
    """MC-dropout posterior over any ``nn.Module`` with at least one ``nn.Dropout`` layer.

    ``unsure.MCDropout(net, samples=20)``; :meth:`draw` freezes ``samples`` masks from its
    generator (the same generator state gives the same members).
    """

    name = "mc-dropout"

    def __init__(self, net: nn.Module, samples: int = 20, batched: bool | str = "auto"):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise UnsureError(f"MCDropout needs an nn.Module, got {type(net).__name__}")
        if int(samples) < 1:
            raise UnsureError(f"MC dropout needs at least 1 sample, got {samples}")
        if not dropout_modules(net):
            raise UnsureError(f"MC dropout needs a network with nn.Dropout layers; "
                              f"{type(net).__name__} has none (functional dropout, such as timm "
                              f"ResNets' drop_rate in forward_head, is not seen: add an nn.Dropout, "
                              f"e.g. net.fc = nn.Sequential(nn.Dropout(p), net.fc))")
        self.net = net
        self.samples = int(samples)
        self.batched = batched
        self.train_info = {}

    @property
    def num_samples(self) -> int:
        return self.samples

    def draw(self, generator: torch.Generator | None = None) -> Draw:
        self.net.eval()
        dropouts = dropout_modules(self.net)
        seeds = torch.randint(0, 2**62, (self.samples,), generator=generator).tolist()
        members = [DropoutMember(self.net, dropouts, s) for s in seeds]
        return Draw.of_one_net(self.net, members, fast=BatchedMembers(self, members))

    def config(self) -> dict:
        return {"posterior": self.name, "samples": self.samples}

    @classmethod
    def from_config(cls, config: dict, make_model: ModelFactory) -> "MCDropout":
        return cls(make_model(), samples=int(config.get("samples", 20)))
