"""A posterior from any callable ``x [B,C,H,W] -> logits [S,B,K]`` (or any object's
``sample_logits``), frozen per draw by fixing the random state.

A draw picks one seed from its generator. Every call of the draw runs the callable with the global
torch RNG (CPU and the input's CUDA device) seeded by it, and, for ``sample_logits``, with a fresh
generator seeded by it: a callable whose randomness comes from either (MC dropout in train mode,
``torch.randn`` weight noise, a ``generator`` argument) then gives the same S members on every
call of one draw, as attribution paths need. The RNG state outside the call is restored.

Member ``s`` is ``draw(x)[s]``: methods that differentiate one member at a time run the callable
once per member (S times the cost). Models that expose their members (lists of networks,
torch-uncertainty's deep ensembles) should be passed as such instead.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from ..errors import UnsureError
from ..validate import check_images, check_logits
from .base import Draw, Posterior, find_feature_layer, refuse_probabilities

JointFn = Callable[..., Tensor]  # x [B,C,H,W] (, generator) -> logits [S,B,K]


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Global torch RNG seeded with ``seed`` inside, restored on exit (CPU and ``device``)."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def check_joint_output(z, x: Tensor, what: str, samples: int | None = None,
                       probabilities: bool = True) -> Tensor:
    """``z`` must be logits ``[S,B,K]`` for ``x [B,...]``; tuples, dicts, probabilities refused."""
    if isinstance(z, (tuple, list, dict)):
        kind = "dict" if isinstance(z, dict) else type(z).__name__
        raise UnsureError(f"{what} returned a {kind}, not a logits tensor [S,B,K]; return the logit "
                          f"samples only")
    check_logits(z, f"{what} output")
    if z.shape[1] != x.shape[0]:
        raise UnsureError(f"{what} returned {tuple(z.shape)} for {x.shape[0]} image(s); expected "
                          f"[S,B,K] with B = {x.shape[0]} (samples first)")
    if samples is not None and z.shape[0] != samples:
        raise UnsureError(f"{what} returned S = {z.shape[0]} samples, earlier calls gave {samples}")
    if probabilities:
        refuse_probabilities(z, f"{what} output")
    return z


class JointDraw(Draw):
    """A frozen draw of a joint callable: ``draw(x) -> [S,B,K]``, member ``s`` is ``draw(x)[s]``."""

    def __init__(self, post: "FunctionPosterior", seed: int):
        self.post, self.seed = post, int(seed)
        self.modules = list(post.user_modules)

    def __call__(self, x: Tensor) -> Tensor:
        p = self.post
        dev = x.device
        with seeded(self.seed, dev):
            if p.takes_generator:
                z = p.fn(x, generator=torch.Generator(dev).manual_seed(self.seed))
            else:
                z = p.fn(x)
        z = check_joint_output(z, x, p.label, p.samples, probabilities=not getattr(self, "_checked", False))
        self._checked = True
        p.samples = z.shape[0]
        return z

    def _need_samples(self) -> int:
        if self.post.samples is None:
            raise UnsureError(f"the number of samples of {self.post.label} is known after its first "
                              f"call; pass samples= to as_posterior / FunctionPosterior")
        return self.post.samples

    def prepare(self, x: Tensor) -> None:
        if self.post.samples is None:
            with torch.no_grad():
                self(x[:1])

    @property
    def members(self) -> list[Callable[[Tensor], Tensor]]:
        return [lambda x, s=s: self(x)[s] for s in range(self._need_samples())]

    @property
    def feature_layers(self) -> list[nn.Module | None]:
        layers = [find_feature_layer(m) for m in self.modules]
        return [layers[0] if len(layers) == 1 else None] * self._need_samples()

    def __len__(self) -> int:
        return self._need_samples()


def _closure_modules(fn) -> list[nn.Module]:
    """nn.Modules a function closes over or is bound to (for layer hooks and the device)."""
    found: list[nn.Module] = []
    owner = getattr(fn, "__self__", None)
    cells = [owner] + [c.cell_contents for c in (getattr(fn, "__closure__", None) or ())
                       if _has_contents(c)]
    for v in cells:
        vs = v if isinstance(v, (list, tuple, nn.ModuleList)) else [v]
        found += [m for m in vs if isinstance(m, nn.Module)]
    return list({id(m): m for m in found}.values())


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents
        return True
    except ValueError:  # an empty cell
        return False


class FunctionPosterior(Posterior):
    """A posterior given by a callable ``fn(x) -> [S,B,K]`` (``fn(x, generator=g)`` with
    ``takes_generator``).

    Parameters
    ----------
    fn : the callable; logits, not probabilities
    samples : S if known (default: read from the first call)
    modules : the networks ``fn`` runs, for layer hooks (Grad-CAM, FullGrad) and the device
        (default: the modules ``fn`` closes over or is bound to)
    name : a label for messages
    """

    name = "function"

    def __init__(self, fn: JointFn, samples: int | None = None, modules: Iterable[nn.Module] | None = None,
                 name: str | None = None, takes_generator: bool = False):
        super().__init__()
        if not callable(fn):
            raise UnsureError(f"FunctionPosterior needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.takes_generator = takes_generator
        self.samples = None if samples is None else int(samples)
        mods = list(modules) if modules is not None and list(modules) else _closure_modules(fn)
        self.user_modules = nn.ModuleList(mods)
        self.label = name or getattr(fn, "__name__", type(fn).__name__)
        self.train_info = {}

    @property
    def num_samples(self) -> int:
        if self.samples is None:
            raise UnsureError(f"the number of samples of {self.label} is known after its first call")
        return self.samples

    def draw(self, generator: torch.Generator | None = None) -> JointDraw:
        for m in self.user_modules:
            m.eval()
        return JointDraw(self, int(torch.randint(0, 2**62, (1,), generator=generator)))

    def sample_logits(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_images(x)
        return self.draw(generator)(x)

    def config(self) -> dict:
        return {"posterior": self.name, "samples": self.samples}
