"""Mean-field variational posterior: KL, local reparameterisation, conversion, draws, training."""
import inspect
import json

import pytest
import torch
from torch import nn

from unsure.errors import UnsureError
from unsure.models import ARCHS, PaperCNN
from unsure.posteriors import POSTERIORS, MeanFieldVI
from unsure.posteriors._bayes_layers import (BayesConv2d, BayesLayer, BayesLinear, bayes_layers,
                                             inverse_softplus, sample_network, to_bayesian, total_kl)
from unsure.run import load_run, save_run
from unsure.training import TrainConfig
from unsure.training.fitters import fit_variational

K = 5
ARCH = {"in_channels": 1, "num_classes": K, "image_size": 8, "filters": 3, "hidden": 6}


def _randomise(layer: BayesLayer, seed=0, lo=0.05, hi=0.5):
    """Means ~ N(0,1), sigmas uniform in [lo, hi]: far from the tiny initial ones."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mu, rho in ((layer.weight_mu, layer.weight_rho), (layer.bias_mu, layer.bias_rho)):
            mu.copy_(torch.randn(mu.shape, generator=g))
            sig = lo + (hi - lo) * torch.rand(rho.shape, generator=g, dtype=torch.float64)
            rho.copy_(torch.log(torch.expm1(sig)))  # inverse softplus
    return layer


def _arch(name, **kw):
    cls = ARCHS.get(name)
    opts = {"width": 0.125} if "width" in inspect.signature(cls).parameters else {}
    return cls(in_channels=1, num_classes=K, image_size=12, **opts, **kw)


def test_registered():
    assert POSTERIORS.get("variational") is MeanFieldVI


@pytest.mark.parametrize("make", [lambda: BayesLinear(7, 4, prior_sigma=0.3),
                                  lambda: BayesConv2d(2, 3, 3, prior_sigma=2.0)])
def test_kl_matches_torch_distributions(make):
    layer = _randomise(make().double())
    q_w = torch.distributions.Normal(layer.weight_mu, layer.weight_sigma)
    q_b = torch.distributions.Normal(layer.bias_mu, layer.bias_sigma)
    p = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64),
                                   torch.tensor(layer.prior_sigma, dtype=torch.float64))
    ref = torch.distributions.kl_divergence(q_w, p).sum() + torch.distributions.kl_divergence(q_b, p).sum()
    torch.testing.assert_close(layer.kl(), ref, rtol=1e-12, atol=1e-12)


def test_inverse_softplus_and_initial_sigma():
    assert abs(torch.nn.functional.softplus(torch.tensor(inverse_softplus(0.01), dtype=torch.float64)) - 0.01) < 1e-15
    layer = BayesLinear(3, 2)
    torch.testing.assert_close(layer.weight_sigma, torch.full((2, 3), 0.01))
    with pytest.raises(UnsureError):
        inverse_softplus(0.0)


@pytest.mark.parametrize("make, x_shape", [(lambda: BayesLinear(6, 5), (3, 6)),
                                           (lambda: BayesConv2d(2, 3, 3, padding=1), (2, 2, 4, 4))])
def test_local_reparameterisation_matches_weight_samples(make, x_shape):
    """LRT outputs and outputs of sampled weights have the same mean and variance per unit."""
    layer = _randomise(make().double(), seed=1)
    x = torch.randn(x_shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    M = 4000
    mean = layer._map(x, layer.weight_mu, layer.bias_mu).detach()
    var = layer._map(x.square(), layer.weight_sigma.square(), layer.bias_sigma.square()).detach()
    layer.train()
    with torch.no_grad():
        torch.manual_seed(3)
        lrt = layer(x.repeat(M, *[1] * (x.ndim - 1))).reshape(M, *mean.shape)  # [M*B,...] -> [M,B,...]
        gen = torch.Generator().manual_seed(4)
        mc = torch.stack([layer._map(x, *layer.sample_weights(gen)) for _ in range(M)])
    for out in (lrt, mc):
        se_mean = (var / M).sqrt()
        assert ((out.mean(0) - mean).abs() / se_mean).max() < 4.5
        se_var = var * (2 / (M - 1)) ** 0.5  # Gaussian outputs: Var of the sample variance
        assert ((out.var(0) - var).abs() / se_var).max() < 4.5
    layer.eval()
    torch.testing.assert_close(layer(x), mean)  # eval mode: the mean network


@pytest.mark.parametrize("arch", ARCHS.names())
def test_conversion_preserves_every_architecture(arch):
    torch.manual_seed(0)
    net = _arch(arch).eval()
    x = torch.rand(2, 1, 12, 12)
    with torch.no_grad():
        ref = net(x)
    shapes = {k: v.shape for k, v in net.state_dict().items()}
    n_layers = sum(isinstance(m, (nn.Linear, nn.Conv2d)) for m in net.modules())
    bnet = to_bayesian(net, prior_sigma=0.5).eval()
    assert len(bayes_layers(bnet)) == n_layers
    assert not any(isinstance(m, (nn.Linear, nn.Conv2d)) for m in bnet.modules())
    with torch.no_grad():
        torch.testing.assert_close(bnet(x), ref)  # means start at the weights
        member = sample_network(bnet, torch.Generator().manual_seed(0))
        assert member(x).shape == ref.shape
    assert {k: v.shape for k, v in member.state_dict().items()} == shapes  # one member = one network
    assert not any(isinstance(m, BayesLayer) for m in member.modules())
    assert member.feature_layer is not None and not member.training
    assert torch.isfinite(total_kl(bnet))


def _posterior(samples=3):
    torch.manual_seed(0)
    return MeanFieldVI(to_bayesian(PaperCNN(**ARCH), init_sigma=0.05), samples=samples)


def test_draws_are_reproducible_and_members_deterministic():
    post = _posterior()
    x = torch.rand(4, 1, 8, 8)
    a = post.sample_logits(x, torch.Generator().manual_seed(5))
    b = post.sample_logits(x, torch.Generator().manual_seed(5))
    c = post.sample_logits(x, torch.Generator().manual_seed(6))
    assert a.shape == (3, 4, K)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    draw = post.draw(torch.Generator().manual_seed(0))
    assert draw.modules == draw.members and len({id(m) for m in draw.members}) == 3
    assert draw.feature_layers == [m.relu2 for m in draw.members]
    with torch.no_grad():
        torch.testing.assert_close(draw.members[0](x), draw.members[0](x), rtol=0, atol=0)
        assert not torch.allclose(draw.members[0](x), draw.members[1](x))
    assert post.net.conv1.weight_mu.requires_grad  # the posterior itself is untouched


def test_fit_lowers_the_loss():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 8, 8, generator=g)
    y = (x.mean((1, 2, 3)) > x.mean()).long()  # learnable: bright vs dark
    post = fit_variational(lambda: PaperCNN(1, 2, 8, filters=4, hidden=8), x, y,
                           TrainConfig(epochs=15, batch_size=16, lr=1e-2, progress=False),
                           samples=4, prior_sigma=1.0)
    losses = post.train_info["losses"]  # the negative ELBO per example, same objective every epoch
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < losses[0] - 1.0
    assert post.train_info["kl_per_example"] > 0
    assert post.sample_logits(x[:3]).shape == (4, 3, 2)


def test_bad_options():
    with pytest.raises(UnsureError, match="no variational layers"):
        MeanFieldVI(PaperCNN(**ARCH))
    with pytest.raises(UnsureError, match="prior_sigma"):
        to_bayesian(PaperCNN(**ARCH), prior_sigma=0.0)
    with pytest.raises(UnsureError, match="kl_anneal"):
        fit_variational(lambda: PaperCNN(**ARCH), torch.rand(2, 1, 8, 8), torch.zeros(2, dtype=torch.long),
                        TrainConfig(epochs=1, progress=False), kl_anneal_epochs=-1)


def test_save_load_round_trip(tmp_path):
    post = _posterior()
    save_run(tmp_path / "r", post, {"arch": "paper-cnn", "arch_options": ARCH})
    back = load_run(tmp_path / "r")
    assert isinstance(back, MeanFieldVI) and back.num_samples == 3 and back.init_sigma == 0.05
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(back.sample_logits(x, torch.Generator().manual_seed(2)),
                               post.sample_logits(x, torch.Generator().manual_seed(2)), rtol=0, atol=0)


def test_train_run_end_to_end(tmp_path):
    from unsure.training.run import train_run

    train_run(data="digits", out=str(tmp_path / "run"), posterior="variational", samples=4, limit=200,
              epochs=1, progress=False)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["posterior"] == {"posterior": "variational", "samples": 4, "prior_sigma": 1.0, "init_sigma": 0.01}
    back = load_run(tmp_path / "run")
    assert back.num_samples == 4 and back.sample_logits(torch.rand(2, 1, 8, 8)).shape == (4, 2, 10)
