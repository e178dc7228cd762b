"""Mean-field Gaussian layers for Bayes by Backprop (Blundell et al. 2015) with the local
reparameterisation trick (Kingma, Salimans & Welling 2015).

Every weight and bias ``w`` has ``q(w) = N(mu, sigma^2)``, ``sigma = softplus(rho)``, and the prior
``p(w) = N(0, prior_sigma^2)``. :meth:`BayesLayer.kl` is the analytic

    KL(q || p) = sum [ log(prior_sigma / sigma) + (sigma^2 + mu^2) / (2 prior_sigma^2) - 1/2 ].

Forward passes:

* training mode: local reparameterisation. The pre-activation of a linear/conv layer is Gaussian
  given its input ``x``, ``N(mu_W * x + mu_b, sigma_W^2 * x^2 + sigma_b^2)`` (``*`` the layer's
  linear map), so one output sample per example is drawn (global torch RNG) instead of one weight
  sample per batch: lower-variance gradients at the cost of one extra linear map.
* eval mode: the mean network (``w = mu``), deterministic.
* a posterior *member* is an ordinary ``nn.Conv2d``/``nn.Linear`` with one sampled weight set
  (:meth:`BayesLayer.sampled`, :func:`sample_network`), so one member is one network.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as Fn
from torch import Tensor, nn

from ..errors import UnsureError

_EPS = 1e-16  # keeps sqrt differentiable where an LRT variance is exactly 0


def inverse_softplus(sigma: float) -> float:
    """``rho`` with ``softplus(rho) = sigma``."""
    if not sigma > 0:
        raise UnsureError(f"a posterior standard deviation must be > 0, got {sigma}")
    return sigma + math.log(-math.expm1(-sigma))


def gaussian_kl(mu: Tensor, sigma: Tensor, prior_sigma: float) -> Tensor:
    """``sum KL(N(mu, sigma^2) || N(0, prior_sigma^2))`` over all entries (a scalar)."""
    return (math.log(prior_sigma) - torch.log(sigma)
            + (sigma.square() + mu.square()) / (2 * prior_sigma ** 2) - 0.5).sum()


class BayesLayer(nn.Module):
    """Shared parameters and KL of a mean-field Gaussian layer; subclasses give the linear map."""

    weight_mu: nn.Parameter
    weight_rho: nn.Parameter
    bias_mu: nn.Parameter | None
    bias_rho: nn.Parameter | None

    def _init_parameters(self, weight_shape: tuple[int, ...], bias: bool, prior_sigma: float,
                         init_sigma: float) -> None:
        if not prior_sigma > 0:
            raise UnsureError(f"prior_sigma must be > 0, got {prior_sigma}")
        self.prior_sigma = float(prior_sigma)
        self.init_sigma = float(init_sigma)
        self.weight_mu = nn.Parameter(torch.empty(weight_shape))
        self.weight_rho = nn.Parameter(torch.empty(weight_shape))
        out = weight_shape[0]
        if bias:
            self.bias_mu = nn.Parameter(torch.empty(out))
            self.bias_rho = nn.Parameter(torch.empty(out))
        else:
            self.register_parameter("bias_mu", None)
            self.register_parameter("bias_rho", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Means as PyTorch initialises ``nn.Linear``/``nn.Conv2d``; ``sigma = init_sigma``."""
        nn.init.kaiming_uniform_(self.weight_mu, a=math.sqrt(5))
        nn.init.constant_(self.weight_rho, inverse_softplus(self.init_sigma))
        if self.bias_mu is not None:
            fan_in = self.weight_mu[0].numel()
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias_mu, -bound, bound)
            nn.init.constant_(self.bias_rho, inverse_softplus(self.init_sigma))

    def load_means(self, module: nn.Module) -> None:
        """Start the means at a deterministic layer's weights (same shapes)."""
        with torch.no_grad():
            self.weight_mu.copy_(module.weight)
            if self.bias_mu is not None:
                self.bias_mu.copy_(module.bias)

    @property
    def weight_sigma(self) -> Tensor:
        return Fn.softplus(self.weight_rho)

    @property
    def bias_sigma(self) -> Tensor | None:
        return None if self.bias_rho is None else Fn.softplus(self.bias_rho)

    def kl(self) -> Tensor:
        """Analytic ``KL(q || p)`` summed over this layer's weights and biases."""
        kl = gaussian_kl(self.weight_mu, self.weight_sigma, self.prior_sigma)
        if self.bias_mu is not None:
            kl = kl + gaussian_kl(self.bias_mu, self.bias_sigma, self.prior_sigma)
        return kl

    def sample_weights(self, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        """One weight set ``(W, b)`` from ``q`` (``b`` is ``None`` without a bias), no gradient."""
        def draw(mu: Tensor, sigma: Tensor) -> Tensor:
            gdev = generator.device if generator is not None else mu.device
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=gdev).to(mu.device)
            return (mu + sigma * eps).detach()

        with torch.no_grad():
            w = draw(self.weight_mu, self.weight_sigma)
            b = None if self.bias_mu is None else draw(self.bias_mu, self.bias_sigma)
        return w, b

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return self._map(x, self.weight_mu, self.bias_mu)
        mean = self._map(x, self.weight_mu, self.bias_mu)
        bias_var = None if self.bias_mu is None else self.bias_sigma.square()
        var = self._map(x.square(), self.weight_sigma.square(), bias_var)
        return mean + torch.sqrt(var + _EPS) * torch.randn_like(mean)

    def _map(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def sampled(self, generator: torch.Generator | None = None) -> nn.Module:
        """A deterministic layer of the original type holding one weight sample."""
        raise NotImplementedError  # pragma: no cover


class BayesLinear(BayesLayer):
    """Mean-field Gaussian ``nn.Linear``: ``[*, F_in] -> [*, F_out]``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 prior_sigma: float = 1.0, init_sigma: float = 1e-2):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._init_parameters((out_features, in_features), bias, prior_sigma, init_sigma)

    def _map(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return Fn.linear(x, weight, bias)

    def sampled(self, generator: torch.Generator | None = None) -> nn.Linear:
        w, b = self.sample_weights(generator)
        out = torch.nn.utils.skip_init(nn.Linear, self.in_features, self.out_features, bias=b is not None,
                                       device=w.device, dtype=w.dtype)
        return _fill(out, w, b)

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, bias={self.bias_mu is not None}, "
                f"prior_sigma={self.prior_sigma}")


class BayesConv2d(BayesLayer):
    """Mean-field Gaussian ``nn.Conv2d`` (zero padding): ``[B, C_in, H, W] -> [B, C_out, H', W']``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, *, prior_sigma: float = 1.0,
                 init_sigma: float = 1e-2):
        super().__init__()
        pair = nn.modules.utils._pair
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation = pair(kernel_size), pair(stride), pair(dilation)
        self.padding = padding if isinstance(padding, str) else pair(padding)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self._init_parameters(shape, bias, prior_sigma, init_sigma)

    def _map(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return Fn.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def sampled(self, generator: torch.Generator | None = None) -> nn.Conv2d:
        w, b = self.sample_weights(generator)
        out = torch.nn.utils.skip_init(nn.Conv2d, self.in_channels, self.out_channels, self.kernel_size,
                                       stride=self.stride, padding=self.padding, dilation=self.dilation,
                                       groups=self.groups, bias=b is not None, device=w.device, dtype=w.dtype)
        return _fill(out, w, b)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, prior_sigma={self.prior_sigma}")


def _fill(layer: nn.Module, w: Tensor, b: Tensor | None) -> nn.Module:
    with torch.no_grad():
        layer.weight.copy_(w)
        if b is not None:
            layer.bias.copy_(b)
    return layer.requires_grad_(False)


def to_bayesian(model: nn.Module, prior_sigma: float = 1.0, init_sigma: float = 1e-2) -> nn.Module:
    """Replace every ``nn.Linear`` and ``nn.Conv2d`` of ``model`` (in place; returned) by its
    mean-field Gaussian version with the same shapes, means starting at the current weights.

    Other layers (ReLU, pooling, dropout, batch-norm) stay deterministic, so every architecture
    converts and keeps its ``feature_layer``/``features``/``head`` structure.
    """
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                new = BayesLinear(child.in_features, child.out_features, child.bias is not None,
                                  prior_sigma=prior_sigma, init_sigma=init_sigma)
            elif isinstance(child, nn.Conv2d):
                if child.padding_mode != "zeros":
                    raise UnsureError(f"variational layers support zero padding only; {name!r} uses "
                                      f"padding_mode={child.padding_mode!r}")
                new = BayesConv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                  child.padding, child.dilation, child.groups, child.bias is not None,
                                  prior_sigma=prior_sigma, init_sigma=init_sigma)
            else:
                continue
            new.load_means(child)
            setattr(parent, name, new.to(device=child.weight.device, dtype=child.weight.dtype))
    return model


def bayes_layers(model: nn.Module) -> list[BayesLayer]:
    """The Gaussian layers of ``model`` in registration order."""
    return [m for m in model.modules() if isinstance(m, BayesLayer)]


def total_kl(model: nn.Module) -> Tensor:
    """``KL(q || p)`` summed over every Gaussian layer of ``model``."""
    layers = bayes_layers(model)
    if not layers:
        raise UnsureError(f"{type(model).__name__} has no variational layers (convert it with to_bayesian)")
    return sum((m.kl() for m in layers), torch.zeros((), device=layers[0].weight_mu.device))


def sample_network(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """A deterministic copy of a converted ``model`` with one weight sample (eval mode, no
    gradients): every Gaussian layer becomes a plain ``nn.Linear``/``nn.Conv2d``. Layers are
    sampled in registration order from ``generator``, so equal seeds give equal networks."""
    clone = copy.deepcopy(model)
    for p in clone.parameters():
        p.grad = None  # training leftovers: not worth copying S times
    for parent in list(clone.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, BayesLayer):
                setattr(parent, name, child.sampled(generator))
    return clone.requires_grad_(False).eval()
