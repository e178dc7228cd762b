"""Training a posterior: one fitting function per registered posterior name, in ``FITTERS``.

A posterior knows no trainer; this module trains the networks (with :func:`unsure.training.classifier.fit`)
and builds the posterior from them, so ``training`` imports ``posteriors`` and not the reverse.
Every function has the signature
``fit_NAME(make_model, x [N,C,H,W], y [N], cfg, *, x_val=None, y_val=None, generator=None, **options)``
and returns the trained posterior with ``train_info`` (a JSON-able dict) set; ``make_model()``
builds a fresh network of the chosen architecture and ``options`` are posterior-specific (e.g.
``members=5``). :func:`fit_posterior` looks the function up by posterior name.
"""
from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as Fn
from torch import Tensor, nn

from ..errors import UnsureError
from ..posteriors import DeepEnsemble, DropConnect, Evidential, LastLayerLaplace, MCDropout, MeanFieldVI, Posterior, WeightNoise
from ..posteriors._bayes_layers import bayes_layers, to_bayesian, total_kl
from ..posteriors._noise import _check_sigma, calibrate
from ..posteriors.evidential import evidence_fn
from ..posteriors.base import ModelFactory
from ..registry import Registry
from .classifier import TrainConfig, fit
from .evidential import DEFAULT_RECIPE, evidential_loss, loss_kind

FITTERS: Registry[Callable[..., Posterior]] = Registry("posterior trainer")
CALIBRATION_FALLBACK = 1000  # training images used for weight-noise sigma when no validation split is given


def fit_posterior(name: str, make_model: ModelFactory, x: Tensor, y: Tensor, cfg: TrainConfig,
                  **kwargs) -> Posterior:
    """Train the posterior registered as ``name`` (see the module docstring for the arguments)."""
    return FITTERS.get(name)(make_model, x, y, cfg, **kwargs)


@FITTERS.register("ensemble")
def fit_ensemble(make_model: ModelFactory, x: Tensor, y: Tensor, cfg: TrainConfig, *,
                 x_val: Tensor | None = None, y_val: Tensor | None = None,
                 generator: torch.Generator | None = None, members: int = 5) -> DeepEnsemble:
    """Train ``members`` networks from independent random initialisations and data orders."""
    if members < 1:
        raise UnsureError(f"an ensemble needs at least 1 member, got {members}")
    gen = generator or torch.Generator().manual_seed(0)
    nets, seconds = [], []
    for i in range(members):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        net = make_model()
        log = fit(net, x, y, cfg, generator=gen, desc=f"member {i + 1}/{members}")
        nets.append(net)
        seconds.append(log.seconds)
    post = DeepEnsemble(nets)
    post.train_info = {"seconds_per_member": seconds}
    return post


@FITTERS.register("mc-dropout")
def fit_mc_dropout(make_model: ModelFactory, x: Tensor, y: Tensor, cfg: TrainConfig, *,
                   x_val: Tensor | None = None, y_val: Tensor | None = None,
                   generator: torch.Generator | None = None, samples: int = 20) -> MCDropout:
    """Train one network with its own dropout (cross-entropy), then sample ``samples`` masks."""
    gen = generator or torch.Generator().manual_seed(0)
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    net = make_model()
    post = MCDropout(net, samples=samples)  # checks for dropout before spending time on training
    log = fit(net, x, y, cfg, generator=gen, desc="mc-dropout")
    post.train_info = {"seconds": log.seconds, "losses": log.losses}
    return post


@FITTERS.register("dropconnect")
def fit_dropconnect(make_model: ModelFactory, x: Tensor, y: Tensor, cfg: TrainConfig, *,
                    x_val: Tensor | None = None, y_val: Tensor | None = None,
                    generator: torch.Generator | None = None, samples: int = 20, p: float = 0.5,
                    layers: list[str] | str | None = None) -> DropConnect:
    """Train one network with DropConnect (cross-entropy; a fresh weight mask per minibatch on
    ``layers``, default the last ``nn.Linear``, drop rate ``p``; the net's own dropout off), then
    sample ``samples`` masks (:mod:`unsure.posteriors.dropconnect`)."""
    from ..posteriors.dropconnect import train_logits

    gen = generator or torch.Generator().manual_seed(0)
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    net = make_model()
    post = DropConnect(net, p=p, layers=layers, samples=samples)  # checks the options before training
    masks = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))

    def loss_fn(model: nn.Module, xb: Tensor, yb: Tensor, epoch: int) -> Tensor:
        return Fn.cross_entropy(train_logits(model, post.layers, post.p, xb, masks), yb)

    log = fit(net, x, y, cfg, loss_fn=loss_fn, generator=gen, desc="dropconnect")
    post.train_info = {"seconds": log.seconds, "losses": log.losses}
    return post


@FITTERS.register("evidential")
def fit_evidential(make_model: ModelFactory, x: Tensor, y: Tensor, cfg: TrainConfig, *,
                   x_val: Tensor | None = None, y_val: Tensor | None = None,
                   generator: torch.Generator | None = None,
                   evidence: str = DEFAULT_RECIPE["evidence"], loss: str = DEFAULT_RECIPE["loss"],
                   kl_weight: float = DEFAULT_RECIPE["kl_weight"],
                   annealing_epochs: int = DEFAULT_RECIPE["annealing_epochs"]) -> Evidential:
    """Train one network with the evidential loss (:func:`unsure.training.evidential.evidential_loss`):
    ``evidence`` function, data term ``loss``, KL term of weight ``kl_weight`` ramped up over
    ``annealing_epochs``. The defaults are ``DEFAULT_RECIPE``, chosen on the validation split."""
    if isinstance(annealing_epochs, bool) or not isinstance(annealing_epochs, int) or annealing_epochs < 0:
        raise UnsureError(f"annealing_epochs must be an int >= 0, got {annealing_epochs!r}")
    if not (isinstance(kl_weight, (int, float)) and kl_weight >= 0):
        raise UnsureError(f"kl_weight must be a number >= 0, got {kl_weight!r}")
    loss, evidence = loss_kind(loss), evidence_fn(evidence)  # bad names fail before training
    gen = generator or torch.Generator().manual_seed(0)
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    net = make_model()

    def loss_fn(model: nn.Module, xb: Tensor, yb: Tensor, epoch: int) -> Tensor:
        return evidential_loss(model(xb), yb, epoch, evidence=evidence, loss=loss,
                               kl_weight=float(kl_weight), annealing_epochs=annealing_epochs)

    log = fit(net, x, y, cfg, loss_fn=loss_fn, generator=gen, desc="evidential")
    post = Evidential(net, annealing_epochs=annealing_epochs, evidence=evidence.value, loss=loss.value,
                      kl_weight=float(kl_weight))
    post.train_info = {"seconds": log.seconds, "losses": log.losses}
    return post


@FITTERS.register("variational")
def fit_variational(make_model: ModelFactory, x: Tensor, y: Tensor, cfg: TrainConfig, *,
                    x_val: Tensor | None = None, y_val: Tensor | None = None,
                    generator: torch.Generator | None = None, samples: int = 20, prior_sigma: float = 1.0,
                    init_sigma: float = 1e-2, kl_anneal_epochs: int = 0) -> MeanFieldVI:
    """Train by Bayes by Backprop (module docstring); ``N = len(x)``."""
    if kl_anneal_epochs < 0:
        raise UnsureError(f"kl_anneal_epochs must be >= 0, got {kl_anneal_epochs}")
    gen = generator or torch.Generator().manual_seed(0)
    post = MeanFieldVI(to_bayesian(make_model(), prior_sigma, init_sigma), samples=samples)
    n = len(x)

    def loss_fn(model: nn.Module, xb: Tensor, yb: Tensor, epoch: int) -> Tensor:
        beta = 1.0 if kl_anneal_epochs == 0 else min(1.0, (epoch + 1) / kl_anneal_epochs)
        return Fn.cross_entropy(model(xb), yb) + beta * total_kl(model) / n

    log = fit(post.net, x, y, cfg, loss_fn=loss_fn, generator=gen, desc="variational")
    with torch.no_grad():
        kl = float(post.kl())
        sig = torch.cat([m.weight_sigma.flatten() for m in bayes_layers(post.net)])
    post.train_info = {"seconds": log.seconds, "losses": log.losses, "kl_per_example": kl / n,
                       "median_weight_sigma": float(sig.median())}
    return post


@FITTERS.register("weight-noise")
def fit_weight_noise(make_model: ModelFactory, x: Tensor, y: Tensor, cfg: TrainConfig, *,
                     x_val: Tensor | None = None, y_val: Tensor | None = None,
                     generator: torch.Generator | None = None, samples: int = 10,
                     sigma: float | None = None, **unknown) -> WeightNoise:
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
    post = WeightNoise(net, sigma=sigma, samples=samples)
    post.train_info = info
    return post


@FITTERS.register("laplace")
def fit_laplace(make_model: ModelFactory, x: Tensor, y: Tensor, cfg: TrainConfig, *,
                x_val: Tensor | None = None, y_val: Tensor | None = None,
                generator: torch.Generator | None = None, samples: int = 20, hessian: str | None = None,
                prior_precision: float | None = None) -> LastLayerLaplace:
    """Train the MAP network (cross-entropy, ``cfg``), fit the last-layer Laplace on the
    training data and tune the prior precision by marginal likelihood (or fix it with
    ``prior_precision``)."""
    if prior_precision is not None and not prior_precision > 0:
        raise UnsureError(f"laplace prior_precision must be > 0, got {prior_precision}")
    gen = generator or torch.Generator().manual_seed(0)
    net = make_model()
    post = LastLayerLaplace(net, samples=samples, hessian=hessian)  # validates options before training
    log = fit(net, x, y, cfg, generator=gen, desc="laplace MAP")
    post.to(cfg.device)
    t0 = time.perf_counter()
    post.fit_laplace(x, y, batch_size=max(cfg.batch_size, 256), progress=cfg.progress)
    if prior_precision is None:
        post.optimize_prior_precision()
    else:
        post.prior_precision.fill_(float(prior_precision))
    post.train_info = {
        "seconds_map": log.seconds, "seconds_laplace": time.perf_counter() - t0,
        "prior_precision": float(post.prior_precision),
        "log_marglik": float(post.log_marginal_likelihood()), "hessian": post.hessian.value,
    }
    return post
