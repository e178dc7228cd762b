"""laplace-torch models (Daxberger et al. 2021, ``laplace.Laplace(...)`` after ``fit``) as
posteriors, recognised by their attributes: laplace-torch is not imported here.

A draw takes S weight samples ``theta_s ~ N(theta_MAP, P^{-1})`` from the object's own
``sample(S, generator)`` (so its covariance, Hessian structure and prior precision are used as
fitted) and gives the logits of the network with those weights, differentiable in ``x``:

* last-layer Laplace (``subset_of_weights="last_layer"``; ``la.model`` is laplace's
  ``FeatureExtractor`` with ``last_layer`` and ``forward_with_features``): the trunk runs once, its
  features ``phi [B,F]`` (the input of the last ``nn.Linear``, captured by a forward hook that keeps
  the graph, unlike laplace's own detached feature cache) go through the S sampled heads;
* all-weights Laplace (``"all"`` or a subnetwork; ``la.params`` lists the Laplace parameters):
  member ``s`` runs ``torch.func.functional_call(la.model, theta_s)``, the network is not modified.

These are the logits of laplace-torch's ``pred_type="nn"`` predictive
(``la._nn_predictive_samples`` applies a softmax to exactly these), which the tests check.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import UnsureError
from .base import Draw, Posterior, find_feature_layer


def is_laplace_torch(obj) -> bool:
    """A laplace-torch ``BaseLaplace``: ``sample``, ``model``, ``likelihood``, ``prior_precision``."""
    return (callable(getattr(obj, "sample", None)) and isinstance(getattr(obj, "model", None), nn.Module)
            and hasattr(obj, "likelihood") and hasattr(obj, "prior_precision") and not isinstance(obj, nn.Module))


def _split(theta: Tensor, shapes: list[torch.Size]) -> list[Tensor]:
    """``[P] -> [p_1 shape, p_2 shape, ...]`` in ``parameters_to_vector`` order."""
    out, i = [], 0
    for s in shapes:
        n = s.numel()
        out.append(theta[i:i + n].reshape(s))
        i += n
    return out


@contextlib.contextmanager
def _capture_head_input(head: nn.Module) -> Iterator[dict]:
    """Record the input and output of ``head`` during a forward; the hook is always removed."""
    rec: dict = {}

    def hook(_m, inp, out):
        rec["phi"], rec["out"] = inp[0], out

    h = head.register_forward_hook(hook)
    try:
        yield rec
    finally:
        h.remove()


class LastLayerSamplesDraw(Draw):
    """S sampled heads on one trunk: ``draw(x)`` runs the network once."""

    def __init__(self, net: nn.Module, head: nn.Linear, head_name: str, heads: list[list[Tensor]],
                 names: list[str], preprocess=None):
        self.net, self.head, self.heads, self.preprocess = net, head, heads, preprocess
        members = [_FunctionalMember(net, {f"{head_name}.{n}": p for n, p in zip(names, h)}, preprocess)
                   for h in heads]
        self.weight = torch.stack([h[names.index("weight")] for h in heads])  # [S,K,F]
        self.bias = torch.stack([h[names.index("bias")] for h in heads]) if "bias" in names else None  # [S,K]
        super().__init__(members=members, modules=[net] * len(heads),
                         feature_layers=[find_feature_layer(net)] * len(heads))

    def __call__(self, x: Tensor) -> Tensor:
        """``x [B,C,H,W] -> logits [S,B,K]``."""
        with _capture_head_input(self.head) as rec:
            y = self.net(x if self.preprocess is None else self.preprocess(x))
        if rec.get("out") is not y:
            raise UnsureError("last-layer Laplace: the network's output is not its last nn.Linear's "
                              "output (something runs after the head)")
        phi = rec["phi"]  # [B,F]
        z = torch.einsum("bf,skf->sbk", phi, self.weight.to(phi.dtype))
        return z if self.bias is None else z + self.bias.to(phi.dtype)[:, None, :]  # [S,K] -> [S,1,K]


class _FunctionalMember:
    """The network with some parameters replaced: ``x [B,C,H,W] -> [B,K]`` (no in-place change)."""

    def __init__(self, net: nn.Module, params: dict[str, Tensor], preprocess=None):
        self.net, self.params, self.preprocess = net, params, preprocess

    def __call__(self, x: Tensor) -> Tensor:
        return functional_call(self.net, self.params, (x if self.preprocess is None else self.preprocess(x),))


class LaplaceTorch(Posterior):
    """A fitted laplace-torch object as a posterior (module docstring).

    Parameters
    ----------
    la : ``laplace.Laplace(model, "classification", ...)`` after ``la.fit(loader)`` (and, as
        laplace-torch recommends, ``la.optimize_prior_precision()``)
    samples : S, weight samples per draw
    preprocess : run on the images before the network (:mod:`.preprocess`), e.g. the
        normalisation the Laplace was fitted with
    """

    name = "laplace-torch"

    def __init__(self, la, samples: int = 20, preprocess=None):
        super().__init__()
        self.preprocess = preprocess
        if not is_laplace_torch(la):
            raise UnsureError(f"LaplaceTorch needs a laplace-torch Laplace object, got {type(la).__name__}")
        if str(getattr(la.likelihood, "value", la.likelihood)) != "classification":
            raise UnsureError(f"unsure explains classifiers; this Laplace has likelihood {la.likelihood!r}")
        if not isinstance(getattr(la, "mean", None), Tensor):
            raise UnsureError(f"{type(la).__name__} is not fitted yet: call la.fit(train_loader) first")
        if int(samples) < 1:
            raise UnsureError(f"laplace-torch needs samples >= 1, got {samples}")
        self.la = la
        self.samples = int(samples)
        self.train_info = {}
        model = la.model
        head = getattr(model, "last_layer", None)
        self.last_layer = isinstance(head, nn.Linear) and callable(getattr(model, "forward_with_features", None))
        if self.last_layer:
            self.net = model.model  # the user's network inside laplace's FeatureExtractor
            self._head_name = model._last_layer_name
            self._names = [n for n, _ in head.named_parameters()]
            self._shapes = [p.shape for _, p in head.named_parameters()]
        else:
            self.net = model
            by_id = {id(p): n for n, p in model.named_parameters()}
            params = list(getattr(la, "params", []))
            missing = [i for i, p in enumerate(params) if id(p) not in by_id]
            if not params or missing:
                raise UnsureError(f"cannot match the Laplace parameters of {type(la).__name__} to "
                                  f"la.model's named parameters")
            self._names = [by_id[id(p)] for p in params]
            self._shapes = [p.shape for p in params]
        if sum(s.numel() for s in self._shapes) != la.mean.numel():
            raise UnsureError(f"{type(la).__name__}: la.mean has {la.mean.numel()} entries, its "
                              f"parameters {sum(s.numel() for s in self._shapes)}")

    @property
    def num_samples(self) -> int:
        return self.samples

    def sample_weights(self, generator: torch.Generator | None = None) -> Tensor:
        """``[S, P]`` weight samples from laplace-torch's own ``sample``."""
        with torch.no_grad():
            theta = self.la.sample(self.samples, generator=generator)
        return theta.detach().to(self.device)

    def draw(self, generator: torch.Generator | None = None) -> Draw:
        self.net.eval()
        thetas = [_split(t, self._shapes) for t in self.sample_weights(generator)]
        if self.last_layer:
            head = self.la.model.last_layer
            return LastLayerSamplesDraw(self.net, head, self._head_name, thetas, self._names, self.preprocess)
        members = [_FunctionalMember(self.net, dict(zip(self._names, t)), self.preprocess) for t in thetas]
        return Draw.of_one_net(self.net, members)

    def config(self) -> dict:
        return {"posterior": self.name, "samples": self.samples, "last_layer": self.last_layer,
                "laplace_class": type(self.la).__name__}
