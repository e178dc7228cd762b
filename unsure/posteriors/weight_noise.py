"""Weight noise: NoiseGrad's crude posterior (Bykov et al. 2022; spec/METHODS.md, "Weight noise").

One trained network; a draw is S copies of it whose every parameter (weights and biases, not
buffers) is multiplied element-wise by ``N(1, sigma^2)`` noise. sigma is chosen by the 5 %
accuracy-drop heuristic on validation data (:func:`unsure.posteriors._noise.calibrate`).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import UnsureError
from ._noise import _check_sigma, noise_factors, perturbed_parameters
from .base import POSTERIORS, Draw, ModelFactory, Posterior



class NoisyMember:
    """One weight-noise member: ``x [B,C,H,W] -> [B,K]`` = the network run with parameters
    ``p * factor`` through :func:`torch.func.functional_call` (no copy of the module).

    The factors are fixed at draw time, so the member is deterministic; the parameters are read
    when the member is called, so gradients reach the network's parameters.
    """

    def __init__(self, net: nn.Module, factors: dict[str, Tensor]):
        self.net = net
        self.factors = factors

    def __call__(self, x: Tensor) -> Tensor:
        return functional_call(self.net, perturbed_parameters(self.net, self.factors), (x,))


@POSTERIORS.register("weight-noise", "one network with multiplicative N(1, sigma^2) weight noise (NoiseGrad)")
class WeightNoise(Posterior):
    """S multiplicative weight-noise copies of one network.

    Parameters
    ----------
    net : any ``nn.Module`` mapping ``[B,C,H,W] -> [B,K]`` logits
    sigma : noise level (``0`` gives S identical members, epistemic uncertainty exactly 0)
    samples : S, members per draw

    A draw's ``modules`` is ``[net] * S``: every member runs the one module through
    ``functional_call``, which swaps the perturbed tensors in for the call, so forward hooks on
    ``net``'s layers fire once per member call, in member order, and see that member's parameters
    (e.g. ``layer.bias`` inside a hook is the perturbed bias). Hook users must register a hook
    once per distinct module (as :func:`unsure.attribution._trace.record_bias_layers` does).
    """

    name = "weight-noise"

    def __init__(self, net: nn.Module, sigma: float, samples: int = 10):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise UnsureError(f"WeightNoise needs an nn.Module, got {type(net).__name__}")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise UnsureError(f"weight-noise samples must be a positive int, got {samples!r}")
        self.net = net
        self.sigma = _check_sigma(sigma)
        self.samples = samples
        self.train_info = {}

    @property
    def num_samples(self) -> int:
        return self.samples

    def draw(self, generator: torch.Generator | None = None) -> Draw:
        """S members; noise drawn from ``generator`` member by member, parameter by parameter."""
        self.net.eval()
        members = [NoisyMember(self.net, noise_factors(self.net, self.sigma, generator))
                   for _ in range(self.samples)]
        return Draw.of_one_net(self.net, members)

    def config(self) -> dict:
        return {"posterior": self.name, "sigma": self.sigma, "samples": self.samples}

    @classmethod
    def from_config(cls, config: dict, make_model: ModelFactory) -> "WeightNoise":
        try:
            return cls(make_model(), sigma=float(config["sigma"]), samples=int(config["samples"]))
        except KeyError as e:
            raise UnsureError(f"weight-noise config lacks {e.args[0]!r}") from None
