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
from ..training.classifier import TrainConfig, fit
from ._noise import _check_sigma, calibrate, noise_factors, perturbed_parameters
from .base import POSTERIORS, Draw, ModelFactory, Posterior, find_feature_layer

CALIBRATION_FALLBACK = 1000  # training images used for sigma when no validation split is given


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
        return Draw(members=members, modules=[self.net] * self.samples,
                    feature_layers=[find_feature_layer(self.net)] * self.samples)

    def config(self) -> dict:
        return {"posterior": self.name, "sigma": self.sigma, "samples": self.samples}

    @classmethod
    def from_config(cls, config: dict, make_model: ModelFactory) -> "WeightNoise":
        try:
            return cls(make_model(), sigma=float(config["sigma"]), samples=int(config["samples"]))
        except KeyError as e:
            raise UnsureError(f"weight-noise config lacks {e.args[0]!r}") from None

    @classmethod
    def fit(cls, make_model: ModelFactory, x: Tensor, y: Tensor, cfg: TrainConfig, *,
            x_val: Tensor | None = None, y_val: Tensor | None = None,
            generator: torch.Generator | None = None, samples: int = 10,
            sigma: float | None = None, **unknown) -> "WeightNoise":
        """Train one network, then choose sigma on ``(x_val, y_val)`` unless ``sigma`` is given.

        Without a validation split, sigma is calibrated on the first
        ``CALIBRATION_FALLBACK`` (1000) training images (their accuracy is optimistic, so the
        5 % drop is measured from a higher ``ACC(0)``). Calibration uses 3 seeded noise draws per
        level; its result goes into ``train_info["calibration"]``.
        """
        if unknown:
            raise UnsureError(f"weight-noise has no option(s) {sorted(unknown)}; options: samples, sigma")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise UnsureError(f"weight-noise samples must be a positive int, got {samples!r}")
        if sigma is not None:
            sigma = _check_sigma(sigma)
        if (x_val is None) != (y_val is None):
            raise UnsureError("pass both x_val and y_val, or neither")
        gen = generator or torch.Generator().manual_seed(0)
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        net = make_model()
        log = fit(net, x, y, cfg, generator=gen, desc="weight-noise net")
        info: dict = {"seconds_per_member": [log.seconds]}
        if sigma is None:
            if x_val is None or len(x_val) == 0:
                x_val, y_val = x[:CALIBRATION_FALLBACK], y[:CALIBRATION_FALLBACK]
                info["calibration_data"] = "train"
            else:
                info["calibration_data"] = "val"
            cal = calibrate(net, x_val, y_val, 0.05, draws=3, generator=gen,
                            batch_size=max(cfg.batch_size, 256))
            sigma = cal.sigma
            info["calibration"] = cal.as_dict()
        post = cls(net, sigma=sigma, samples=samples)
        post.train_info = info
        return post
