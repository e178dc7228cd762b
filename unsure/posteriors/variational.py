"""Mean-field variational inference: Bayes by Backprop (Blundell et al. 2015) with the local
reparameterisation trick (Kingma et al. 2015).

Any architecture is converted by :func:`to_bayesian`: its ``nn.Conv2d``/``nn.Linear`` layers become
Gaussian layers ``q(w) = N(mu, softplus(rho)^2)`` with the same shapes, prior ``N(0, prior_sigma^2)``.
Training minimises the negative ELBO per training example,

    L = mean_batch NLL + beta(epoch) * KL(q || p) / N,

``beta = min(1, (epoch + 1) / kl_anneal_epochs)`` (linear KL warm-up; ``kl_anneal_epochs=0``: always
1), with one local-reparameterisation sample per example. Means start at the architecture's
usual initialisation and every ``sigma`` at ``init_sigma = 1e-2``: small enough that the network
starts as an ordinary, trainable one (pre-activation noise a few per cent of its scale), large
enough to matter within a usual budget: Adam moves ``rho`` by about one learning rate per step
whatever the gradient's size, so the variances stay near their start for hundreds of steps.

A draw samples S weight sets (weights, not LRT activations) from the generator; each member is an
ordinary deterministic copy of the architecture holding one sample (:func:`sample_network`), so
layer hooks and ``feature_layer`` work exactly as for an ensemble member.
"""
from __future__ import annotations


import torch
from torch import Tensor, nn

from ..errors import UnsureError
from ._bayes_layers import bayes_layers, sample_network, to_bayesian, total_kl
from .base import POSTERIORS, Draw, ModelFactory, Posterior, find_feature_layer


@POSTERIORS.register("variational", "mean-field Gaussian weights (Bayes by Backprop, local reparameterisation)")
class MeanFieldVI(Posterior):
    """A mean-field Gaussian posterior over all conv/linear weights and biases.

    Parameters
    ----------
    net : a network converted by :func:`unsure.posteriors._bayes_layers.to_bayesian`
    samples : S, members per draw
    """

    name = "variational"

    def __init__(self, net: nn.Module, samples: int = 20):
        super().__init__()
        layers = bayes_layers(net)
        if not layers:
            raise UnsureError(f"{type(net).__name__} has no variational layers; convert it with to_bayesian")
        if samples < 1:
            raise UnsureError(f"variational needs samples >= 1, got {samples}")
        self.net = net
        self.samples = int(samples)
        self.prior_sigma = layers[0].prior_sigma
        self.init_sigma = layers[0].init_sigma
        self.train_info = {}

    @property
    def num_samples(self) -> int:
        return self.samples

    def kl(self) -> Tensor:
        """``KL(q || p)`` over all Gaussian layers (a scalar)."""
        return total_kl(self.net)

    def draw(self, generator: torch.Generator | None = None) -> Draw:
        nets = [sample_network(self.net, generator) for _ in range(self.samples)]
        return Draw(members=nets, modules=nets, feature_layers=[find_feature_layer(n) for n in nets])

    def config(self) -> dict:
        return {"posterior": self.name, "samples": self.samples, "prior_sigma": self.prior_sigma,
                "init_sigma": self.init_sigma}

    @classmethod
    def from_config(cls, config: dict, make_model: ModelFactory) -> "MeanFieldVI":
        net = to_bayesian(make_model(), float(config.get("prior_sigma", 1.0)), float(config.get("init_sigma", 1e-2)))
        return cls(net, samples=int(config.get("samples", 20)))
