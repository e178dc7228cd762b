"""The posterior interface: every posterior yields logit samples ``Tensor[S, B, K]``.

The protocol is one method, ``sample_logits(x, generator=None) -> [S,B,K]`` (differentiable in
``x``); :func:`unsure.as_posterior` turns anything that has it, and models of the common
libraries, into a :class:`Posterior`. ``from_config`` is optional: only posteriors that
``unsure train`` builds (and saves by name) need it.
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
from ..validate import check_images, check_logits, checks_generator

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
    #: optional ``x -> [S,B,K]`` that runs all members in one pass, or returns ``None`` to decline
    #: (then the members are called one by one); set by ``DeepEnsemble`` (``posteriors.one_pass``)
    fast: Callable[[Tensor], Tensor | None] | None = None

    def __len__(self) -> int:
        return len(self.members)

    @classmethod
    def of_one_net(cls, net: nn.Module, members: list, **kwargs) -> "Draw":
        """Members that all run the one network ``net`` (masked, noised or resampled copies: MC
        dropout, DropConnect, weight noise, sampled heads): ``net`` and its feature layer once
        per member."""
        n = len(members)
        return cls(members=members, modules=[net] * n, feature_layers=[find_feature_layer(net)] * n, **kwargs)

    def prepare(self, x: Tensor) -> None:
        """Called once with the images before a method uses the draw (a joint callable learns
        its S here); a no-op for draws whose members are known."""

    def __call__(self, x: Tensor) -> Tensor:
        """``x [B,C,H,W] -> logits [S,B,K]``."""
        from .guard import call_member, stack_outputs

        reuse = self._no_grad_reuse(x)
        if reuse is not None:
            return reuse
        out = self._forward(x, call_member, stack_outputs)
        if not torch.is_grad_enabled() and self._hookless():
            self._last = (x, self._key(x), out)  # x held: its storage cannot be reused meanwhile
        return out

    def _hookless(self) -> bool:
        mods = [m for root in {id(r): r for r in self.modules}.values() for m in root.modules()]
        return not any(m._forward_hooks or m._forward_pre_hooks for m in mods)

    def _no_grad_reuse(self, x: Tensor) -> Tensor | None:
        """The logits of the previous call when it ran without grad on the same images (the same
        storage, offset, shape, strides and version, i.e. unchanged) and this one does too: a
        dataset job's prediction pass and its methods' own no-grad passes share one forward.
        Never with forward hooks (they must see the call)."""
        last = getattr(self, "_last", None)
        if last is None or torch.is_grad_enabled() or self._key(x) != last[1] or not self._hookless():
            return None
        return last[2]

    def _key(self, x: Tensor) -> tuple:
        """The images' identity and the networks' weights' (storage and in-place version)."""
        return (_tensor_key(x), tuple([(t.data_ptr(), t._version) for t in _state_tensors(*self.modules)]))

    def _forward(self, x: Tensor, call_member, stack_outputs) -> Tensor:
        out = self.fast(x) if self.fast is not None else None
        if out is not None:
            check_member_output(out[0], x, "member 0", probabilities=not getattr(self, "_checked", False))
            self._checked = True
            return out
        outs = [call_member(f, x, i) for i, f in enumerate(self.members)]  # one-line errors for bad inputs
        check_member_output(outs[0], x, "member 0", probabilities=not getattr(self, "_checked", False))
        self._checked = True  # the probability check runs on a draw's first call only
        return stack_outputs(outs)


def _state_tensors(*roots: nn.Module) -> list[Tensor]:
    """Every parameter and buffer of the ``roots`` and their submodules (each module once, also
    when several roots hold it, as a Laplace draw's members hold the shared trunk), read from the
    modules' own dicts: the tensors of ``[*root.parameters(), *root.buffers()]`` over the roots, in
    another order and without dropping a tensor shared by two modules, at a fraction of the cost
    of torch's generators (which, for a draw's weights key, cost the default 5% of its time at
    small images)."""
    out: list[Tensor] = []
    seen: set[int] = set()
    stack = list(roots)[::-1]
    while stack:
        m = stack.pop()
        if m is None or id(m) in seen:
            continue
        seen.add(id(m))
        for t in m._parameters.values():
            if t is not None:
                out.append(t)
        for t in m._buffers.values():
            if t is not None:
                out.append(t)
        stack.extend(m._modules.values())
    return out


def _tensor_key(x: Tensor) -> tuple:
    return (x.untyped_storage().data_ptr(), x.storage_offset(), tuple(x.shape), x.stride(),
            x._version, x.dtype, x.device)


def check_member_output(out, x: Tensor, what: str, probabilities: bool = True) -> Tensor:
    """One member's output must be logits ``[B,K]``: a tuple, a dict or (with ``probabilities``)
    probabilities get a message that says how to fix the model."""
    if isinstance(out, (tuple, list)):
        raise UnsureError(f"{what} returned a {type(out).__name__} of {len(out)} items, not a logits "
                          f"tensor [B,K]; wrap the model so it returns the logits only, e.g. "
                          f"lambda x: model(x)[0]")
    if isinstance(out, dict):
        raise UnsureError(f"{what} returned a dict with keys {sorted(map(str, out))[:5]}, not a logits "
                          f"tensor [B,K]; wrap the model so it returns the logits, e.g. "
                          f"lambda x: model(x)['logits']")
    if not isinstance(out, Tensor):
        raise UnsureError(f"{what} returned a {type(out).__name__}, not a logits tensor [B,K]")
    if out.ndim != 2 or out.shape[0] != x.shape[0]:
        raise UnsureError(f"{what} returned shape {tuple(out.shape)} for {x.shape[0]} image(s); "
                          f"expected logits [B,K] = [{x.shape[0]}, K]")
    if probabilities:
        refuse_probabilities(out, what)
    return out


def refuse_probabilities(z: Tensor, what: str) -> None:
    """Refuse outputs that are probabilities (every row non-negative and summing to 1, not all
    one-hot): the measures read logits, and softmax(p) of probabilities flattens them toward
    uniform. Refused rather than converted: a silent log would hide a model meant to give logits.
    Exactly one-hot rows (toy models, a saturated logit 1 / 0) are not taken for probabilities."""
    if z.shape[-1] < 2 or z.numel() == 0:
        return
    with torch.no_grad():
        zd = z.detach()
        inside = ((zd > 1e-6) & (zd < 1 - 1e-6)).any()
        if bool(inside) and bool((zd >= 0).all()) and bool(((zd.sum(-1) - 1).abs() < 1e-4).all()):
            raise UnsureError(f"{what} looks like probabilities (non-negative, each row sums to 1); "
                              f"unsure needs logits: remove the final softmax, or wrap the model as "
                              f"lambda x: model(x).clamp_min(1e-12).log()")


class Posterior(nn.Module, abc.ABC):
    """Base class. Subclasses implement :meth:`draw`; ``sample_logits`` validates its output."""

    name: ClassVar[str] = ""
    train_info: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "draw" in cls.__dict__:  # every posterior's draw refuses a generator of the wrong type
            cls.draw = checks_generator(cls.__dict__["draw"])

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
    def from_config(cls, config: dict, make_model: ModelFactory) -> "Posterior":
        """Rebuild the structure saved by :meth:`config` (weights are loaded afterwards).
        Optional: posteriors without it are saved with a factory (:func:`unsure.save_run`)."""
        raise UnsureError(f"{cls.__name__} cannot be rebuilt from a config; save it with "
                          f"unsure.save_run(posterior, dir, factory='module:function')")

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")


def find_feature_layer(model: nn.Module) -> nn.Module | None:
    """The module producing the last convolutional feature maps of ``model``.

    Defaults, in order:

    * ``model.feature_layer`` when the model declares one (all of unsure's models do);
    * ResNets (torchvision, timm, unsure's CIFAR ResNet-18): ``layer4``, the output of the last
      residual stage (after the skip connection and ReLU), as Grad-CAM's authors use;
    * timm models with ``stages`` (ConvNeXt, RegNet, ...): the last stage;
    * otherwise the last ``nn.Conv2d`` in registration order.

    Choose another with ``layer="layer4.1"`` (a module path) in Grad-CAM and FullGrad.
    """
    declared = getattr(model, "feature_layer", None)
    if isinstance(declared, nn.Module):
        return declared
    for name in ("layer4", "stages"):
        sub = getattr(model, name, None)
        if isinstance(sub, nn.Sequential) and len(sub) and name == "stages":
            return sub[-1]
        if isinstance(sub, nn.Module) and name == "layer4":
            return sub
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
