"""MC DropConnect (Wan et al. 2013, "Regularization of Neural Networks using DropConnect"; used as
a posterior by Mobiny et al. 2021 and by Schiller et al. 2026): one network trained with DropConnect;
at inference S weight masks give S members.

**Where the masks sit.** On the ``weight`` of the chosen layers only (``nn.Linear`` or
``nn.Conv1d/2d/3d``; default: the last ``nn.Linear`` of the network in registration order, its
classification head, as the authors' ``layers_to_perturb=1``); biases are never masked. A mask has
the weight's shape, entries ``Bernoulli(1-p) / (1-p)`` (drop rate ``p``, default 0.5, Wan et al.'s
rate), so the expected weight of a member is the trained weight and ``Var[m] = p / (1-p)``. One
mask per member and layer, shared by every image of a batch (a member's output for one image does
not depend on the rest of the batch).

A draw *freezes* the S masks, so a member is a deterministic function; each mask is seeded from
(member seed, layer index) on a CPU generator, so the same generator state gives the same members
on any device. A member runs the network through :func:`torch.func.functional_call` with
``weight * mask`` swapped in for its call (no copy of the module, no hooks), in eval mode: the
network's own dropout is off, and hooks on its layers fire once per member call.

Training (:func:`unsure.training.fitters.fit_dropconnect`) uses :func:`train_logits`: a fresh
mask per minibatch and layer, same scaling, with the network's own ``nn.Dropout`` modules switched
off, so DropConnect is the only noise (the authors' DropConnect CNN has no dropout).
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import UnsureError
from .base import POSTERIORS, Draw, ModelFactory, Posterior
from .mc_dropout import _eval_mode

_MASKABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant: spreads (member, layer) over seeds


def dropconnect_layers(net: nn.Module, layers: Sequence[str] | str | None = None) -> list[str]:
    """Names of the modules whose weights are masked: ``layers`` (module paths, a list or a
    comma-separated string) checked against ``net``, or the last ``nn.Linear`` when ``None``."""
    named = dict(net.named_modules())
    if layers is None:
        linear = [n for n, m in named.items() if isinstance(m, nn.Linear)]
        if not linear:
            raise UnsureError(f"DropConnect masks the last nn.Linear by default; {type(net).__name__} "
                              f"has none: name the layers, e.g. layers=['conv2']")
        return [linear[-1]]
    if isinstance(layers, str):
        layers = [t.strip() for t in layers.split(",") if t.strip()]
    if isinstance(layers, (bytes, dict)) or not all(isinstance(n, str) for n in layers):
        raise UnsureError(f"DropConnect layers must be module names, got {layers!r}")
    names = list(layers)
    if not names:
        raise UnsureError("DropConnect needs at least one layer")
    if len(set(names)) != len(names):
        raise UnsureError(f"DropConnect layers listed twice: {names}")
    for n in names:
        if n not in named:
            known = [k for k, m in named.items() if isinstance(m, _MASKABLE)]
            raise UnsureError(f"{type(net).__name__} has no module {n!r}; its Linear/Conv layers: {known}")
        if not isinstance(named[n], _MASKABLE):
            raise UnsureError(f"DropConnect masks nn.Linear / nn.Conv weights; {n!r} is a "
                              f"{type(named[n]).__name__}")
    return names


def check_rate(p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise UnsureError(f"DropConnect drop rate p must be a number in [0, 1), got {p!r}")
    return float(p)


def weight_key(name: str) -> str:
    """The ``functional_call`` key of module ``name``'s weight (``""`` is the network itself)."""
    return f"{name}.weight" if name else "weight"


def bernoulli_mask(shape, p: float, generator: torch.Generator | None) -> Tensor:
    """``Bernoulli(1-p) / (1-p)`` entries of ``shape`` (CPU float64: exact scale for float64 nets)."""
    keep = 1.0 - p
    return torch.bernoulli(torch.full(tuple(shape), keep, dtype=torch.float64), generator=generator) / keep


def masked_parameters(net: nn.Module, layers: list[str], masks: list[Tensor]) -> dict[str, Tensor]:
    """``{name.weight: weight * mask}`` for ``functional_call``; weights are read now, so gradients
    reach them."""
    mods = dict(net.named_modules())
    out = {}
    for name, m in zip(layers, masks):
        w = mods[name].weight
        out[weight_key(name)] = w * m.to(device=w.device, dtype=w.dtype)  # [*W] * [*W]
    return out


@contextlib.contextmanager
def dropout_off(net: nn.Module) -> Iterator[None]:
    """The network's own dropout modules in eval mode for the duration (training with DropConnect
    only); their modes are restored on exit."""
    drops = [m for m in net.modules() if isinstance(m, _DROPOUTS)]
    was = [m.training for m in drops]
    try:
        for m in drops:
            m.eval()
        yield
    finally:
        for m, w in zip(drops, was):
            m.train(w)


def train_logits(net: nn.Module, layers: list[str], p: float, x: Tensor,
                 generator: torch.Generator | None) -> Tensor:
    """One training forward ``x [B,C,H,W] -> [B,K]`` with a fresh mask per layer (own dropout off)."""
    mods = dict(net.named_modules())
    masks = [bernoulli_mask(mods[n].weight.shape, p, generator) for n in layers]
    with dropout_off(net):
        return functional_call(net, masked_parameters(net, layers, masks), (x,))


class DropConnectMember:
    """One frozen DropConnect member: ``x [B,C,H,W] -> logits [B,K]``, deterministic.

    Parameters
    ----------
    net : the trained network
    layers : names of its masked layers (:func:`dropconnect_layers`)
    p : drop rate
    seed : this member's mask seed
    """

    def __init__(self, net: nn.Module, layers: list[str], p: float, seed: int):
        self.net = net
        self.layers = layers
        self.seed = int(seed)
        mods = dict(net.named_modules())
        self.masks = []  # one [*W] mask per layer, CPU float64
        for i, n in enumerate(layers):
            g = torch.Generator().manual_seed((self.seed + _MIX * (i + 1)) % (2**63 - 1))
            self.masks.append(bernoulli_mask(mods[n].weight.shape, p, g))

    def __call__(self, x: Tensor) -> Tensor:
        with _eval_mode(self.net):
            return functional_call(self.net, masked_parameters(self.net, self.layers, self.masks), (x,))


@POSTERIORS.register("dropconnect", "MC DropConnect: one net, S frozen Bernoulli masks on the weights of chosen layers")
class DropConnect(Posterior):
    """MC-DropConnect posterior over any ``nn.Module``.

    ``unsure.DropConnect(net, p=0.5, layers=None, samples=20)``: ``layers`` are module names
    (default: the last ``nn.Linear``); :meth:`draw` freezes ``samples`` masks from its generator
    (the same generator state gives the same members). A draw's ``modules`` is ``[net] * S``.
    """

    name = "dropconnect"

    def __init__(self, net: nn.Module, p: float = 0.5, layers: Sequence[str] | str | None = None,
                 samples: int = 20):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise UnsureError(f"DropConnect needs an nn.Module, got {type(net).__name__}")
        if isinstance(samples, bool) or int(samples) < 1:
            raise UnsureError(f"DropConnect needs at least 1 sample, got {samples}")
        self.p = check_rate(p)
        self.layers = dropconnect_layers(net, layers)
        self.net = net
        self.samples = int(samples)
        self.train_info = {}

    @property
    def num_samples(self) -> int:
        return self.samples

    def draw(self, generator: torch.Generator | None = None) -> Draw:
        self.net.eval()
        seeds = torch.randint(0, 2**62, (self.samples,), generator=generator).tolist()
        members = [DropConnectMember(self.net, self.layers, self.p, s) for s in seeds]
        return Draw.of_one_net(self.net, members)

    def config(self) -> dict:
        return {"posterior": self.name, "samples": self.samples, "p": self.p, "layers": list(self.layers)}

    @classmethod
    def from_config(cls, config: dict, make_model: ModelFactory) -> "DropConnect":
        return cls(make_model(), p=config.get("p", 0.5), layers=config.get("layers"),
                   samples=int(config.get("samples", 20)))
