"""Last-layer Laplace: GGN/KFAC, marginal likelihood and samples against slow float64 references."""
import inspect
import math

import pytest
import torch
from torch.autograd.functional import hessian, jacobian

from unsure.attribution._trace import record_bias_layers
from unsure.errors import UnsureError
from unsure.measures.entropy import epistemic
from unsure.models import ARCHS, PaperCNN
from unsure.posteriors import POSTERIORS, LastLayerLaplace
from unsure.run import load_run, save_run
from unsure.training.fitters import fit_laplace

K, F, N = 5, 6, 23  # distinct sizes: D = K * (F + 1) = 35
ARCH = {"in_channels": 1, "num_classes": K, "image_size": 8, "filters": 3, "hidden": F}


def _data(n=N, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, K, (n,), generator=g)


def _net():
    torch.manual_seed(1)
    net = PaperCNN(**ARCH).double().eval()
    with torch.no_grad():  # a head with confident, varied outputs
        net.head.weight.mul_(4.0)
    return net


def _fitted(hessian="full", samples=4):
    x, y = _data()
    post = LastLayerLaplace(_net(), samples=samples, hessian=hessian)
    return post.fit_laplace(x, y, batch_size=7), x, y  # 7: several uneven batches


def _reference_terms(net, x, y):
    """Per example: J_n [K,D] (jacobian of the logits in theta), H_n [K,K] (Hessian of the
    cross-entropy in the logits), phi_n [P]."""
    with torch.no_grad():
        h = net.features(x)
    theta = torch.cat([net.head.weight, net.head.bias[:, None]], 1).detach().flatten()
    out = []
    for hn, yn in zip(h, y):
        phi = torch.cat([hn, hn.new_ones(1)])
        J = jacobian(lambda t: t.reshape(K, F + 1) @ phi, theta)  # [K,D]
        z = theta.reshape(K, F + 1) @ phi
        H = hessian(lambda f: torch.nn.functional.cross_entropy(f[None], yn[None]), z)  # [K,K]
        out.append((J, H, phi))
    return theta, out


def _map_terms(net, x, y):
    """``log p(D | theta*)`` and theta* ``[D]`` straight from the network."""
    with torch.no_grad():
        loglik = -torch.nn.functional.cross_entropy(net(x), y, reduction="sum")
    return loglik, torch.cat([net.head.weight, net.head.bias[:, None]], 1).detach().flatten()


def _naive_lml(loglik, theta, ggn, delta):
    """log p(D|theta*) + log N(theta*; 0, I/delta) + D/2 log 2pi - 1/2 log det(GGN + delta I)."""
    D = theta.numel()
    scale = torch.tensor(delta, dtype=torch.float64) ** -0.5  # a float64 tensor: a Python float would be float32
    prior = torch.distributions.Normal(torch.zeros_like(theta), scale).log_prob(theta).sum()
    logdet = torch.logdet(ggn + delta * torch.eye(D, dtype=torch.float64))
    return loglik + prior + 0.5 * D * math.log(2 * math.pi) - 0.5 * logdet


def test_registered():
    assert POSTERIORS.get("laplace") is LastLayerLaplace


def test_full_ggn_matches_per_example_jacobians():
    post, x, y = _fitted("full")
    _, terms = _reference_terms(post.net, x, y)
    ref = sum(J.T @ H @ J for J, H, _ in terms)
    torch.testing.assert_close(post.ggn(), ref, rtol=1e-9, atol=1e-10)


def test_kfac_matches_kronecker_of_summed_factors():
    post, x, y = _fitted("kfac")
    _, terms = _reference_terms(post.net, x, y)
    G = sum(H for _, H, _ in terms)
    A = sum(torch.outer(phi, phi) for _, _, phi in terms)
    torch.testing.assert_close(post.ggn(), torch.kron(G, A) / N, rtol=1e-9, atol=1e-10)
    assert post.ggn().shape == (K * (F + 1), K * (F + 1))


@pytest.mark.parametrize("hessian", ["full", "kfac"])
def test_log_marginal_likelihood_matches_dense_formula(hessian):
    post, x, y = _fitted(hessian)
    for delta in (0.03, 1.0, 25.0):
        torch.testing.assert_close(post.log_marginal_likelihood(delta),
                                   _naive_lml(*_map_terms(post.net, x, y), post.ggn(), delta), rtol=1e-9, atol=1e-8)
    many = post.log_marginal_likelihood(torch.tensor([0.03, 25.0], dtype=torch.float64))
    torch.testing.assert_close(many[1], post.log_marginal_likelihood(25.0))


@pytest.mark.parametrize("hessian", ["full", "kfac"])
def test_prior_precision_is_the_argmax_of_a_dense_grid(hessian):
    post, x, y = _fitted(hessian)
    chosen = post.optimize_prior_precision()
    assert float(post.prior_precision) == chosen
    ggn, (loglik, theta) = post.ggn(), _map_terms(post.net, x, y)
    grid = torch.arange(-3.0, 3.0001, 0.01, dtype=torch.float64)
    vals = torch.stack([_naive_lml(loglik, theta, ggn, float(10 ** t)) for t in grid])
    best = float(grid[vals.argmax()])
    assert -3 < best < 3  # the optimum is interior, so the check below is meaningful
    assert abs(math.log10(chosen) - best) <= 0.011
    assert post.log_marginal_likelihood() >= vals.max() - 1e-9


@pytest.mark.parametrize("hessian", ["full", "kfac"])
def test_sample_covariance_is_the_inverse_posterior_precision(hessian):
    post, _, _ = _fitted(hessian)
    post.prior_precision.fill_(0.7)
    W, b = post.sample_heads(40000, torch.Generator().manual_seed(3))
    theta = torch.cat([W, b[..., None]], -1).flatten(1).double()  # [n,K,P] -> [n,D]
    cov = torch.linalg.inv(post.ggn() + 0.7 * torch.eye(theta.shape[1], dtype=torch.float64))
    se = cov.diag().max().sqrt() / 200  # standard error of a mean of 40,000 samples
    torch.testing.assert_close(theta.mean(0), post.theta_map().flatten(), atol=4.5 * se, rtol=0)
    emp = torch.cov(theta.T)
    assert (emp - cov).abs().max() < 0.05 * cov.diag().max()


def test_draws_reproducible_with_seeded_generator():
    post, x, _ = _fitted()
    post.prior_precision.fill_(1.0)
    a = post.sample_logits(x, torch.Generator().manual_seed(5))
    b = post.sample_logits(x, torch.Generator().manual_seed(5))
    c = post.sample_logits(x, torch.Generator().manual_seed(6))
    assert a.shape == (4, N, K)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


def test_members_agree_with_the_batched_draw_and_hooks_see_each_head():
    post, x, _ = _fitted(samples=3)
    draw = post.draw(torch.Generator().manual_seed(0))
    torch.testing.assert_close(draw(x), torch.stack([m(x) for m in draw.members]), rtol=1e-12, atol=1e-12)
    assert draw.feature_layers == [post.net.relu2] * 3
    with record_bias_layers(draw) as rec:
        for m, member in enumerate(draw.members):
            rec.member = m
            member(x)
    for m, records in enumerate(rec.records):
        mods = [r.module for r in records]
        assert mods == [post.net.conv1, post.net.conv2, post.net.fc1, draw.members[m].head]


def test_zero_covariance_gives_the_map_and_no_epistemic_uncertainty():
    post, x, _ = _fitted(samples=3)
    post.prior_precision.fill_(float("inf"))
    z = post.sample_logits(x, torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = post.net(x)
    for s in range(3):
        torch.testing.assert_close(z[s], ref, rtol=0, atol=1e-12)
    one = LastLayerLaplace(post.net, samples=1, hessian="full")
    one.load_state_dict(post.state_dict())
    one.prior_precision.fill_(1.0)
    assert one.sample_logits(x).shape == (1, N, K)
    torch.testing.assert_close(epistemic(one.sample_logits(x)), torch.zeros(N, dtype=torch.float64))


@pytest.mark.parametrize("hessian", ["full", "kfac"])
def test_save_load_round_trip(tmp_path, hessian):
    post, x, _ = _fitted(hessian)
    post.optimize_prior_precision()
    post.float()
    save_run(tmp_path / "r", post, {"arch": "paper-cnn", "arch_options": ARCH})
    back = load_run(tmp_path / "r")
    assert isinstance(back, LastLayerLaplace) and back.hessian.value == hessian and back.num_samples == 4
    assert float(back.prior_precision) == float(post.prior_precision)
    xf = x.float()
    torch.testing.assert_close(back.sample_logits(xf, torch.Generator().manual_seed(2)),
                               post.sample_logits(xf, torch.Generator().manual_seed(2)), rtol=0, atol=0)


def test_bad_options_fail_before_training():
    with pytest.raises(UnsureError, match="hessian"):
        LastLayerLaplace(_net(), hessian="diag")
    with pytest.raises(UnsureError, match="kfac"):
        LastLayerLaplace(PaperCNN(1, 10, 8, hidden=512), hessian="full")
    assert LastLayerLaplace(PaperCNN(1, 10, 8, hidden=512)).hessian.value == "kfac"  # D = 5130: KFAC by default
    assert LastLayerLaplace(PaperCNN(1, 10, 8)).hessian.value == "full"  # D = 1290
    with pytest.raises(UnsureError, match="features"):
        LastLayerLaplace(torch.nn.Linear(3, 2))


def test_fit_trains_and_tunes():
    from unsure.training import TrainConfig

    x, y = _data(40)
    post = fit_laplace(lambda: PaperCNN(**ARCH), x.float(), y, TrainConfig(epochs=2, progress=False),
                       samples=3, hessian="kfac")
    assert post.n_data.item() == 40 and post.train_info["prior_precision"] > 0
    assert math.isfinite(post.train_info["log_marglik"])
    assert post.sample_logits(x[:5].float()).shape == (3, 5, K)


def test_train_run_end_to_end(tmp_path):
    from unsure.training.run import train_run

    import json

    train_run(data="digits", out=str(tmp_path / "run"), posterior="laplace", samples=5, limit=200,
              epochs=1, progress=False)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["posterior"] == {"posterior": "laplace", "samples": 5, "hessian": "full"}
    assert cfg["train_info"]["prior_precision"] > 0
    back = load_run(tmp_path / "run")
    assert back.num_samples == 5 and back.n_data.item() == 200


@pytest.mark.parametrize("arch", ARCHS.names())
def test_every_architecture_fits(arch):
    cls = ARCHS.get(arch)
    opts = {"width": 0.125} if "width" in inspect.signature(cls).parameters else {}
    net = cls(in_channels=1, num_classes=3, image_size=12, **opts).eval()
    x, y = torch.rand(6, 1, 12, 12), torch.randint(0, 3, (6,))
    post = LastLayerLaplace(net, samples=2, hessian="kfac").fit_laplace(x, y)
    post.optimize_prior_precision()
    post.prior_precision.fill_(float("inf"))
    with torch.no_grad():
        torch.testing.assert_close(post.sample_logits(x)[0], net(x))
