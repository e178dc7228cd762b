"""Evidential posterior: Sensoy et al.'s loss against a slow float64 reference, KL annealing,
log(alpha) logits with S = 1, vacuity from alpha, training and ``unsure train``."""
import copy
import json
import math

import pytest
import torch
from scipy.special import digamma
from torch import nn

import unsure
from unsure.measures import aleatoric, dissonance, epistemic, total, vacuity
from unsure.models import PaperCNN
from unsure.posteriors import POSTERIORS, Evidential
from unsure.run import load_run, save_run
from unsure.training import TrainConfig
from unsure.training.fitters import fit_evidential
from unsure.training.evidential import (DEFAULT_RECIPE, annealing_coefficient, evidential_mse_loss,
                                        kl_dirichlet_uniform)


def kl_dirichlet_ref(a, b):
    """KL(Dir(a) || Dir(b)) for lists, by hand (e.g. Penny 2001)."""
    sa, sb = sum(a), sum(b)
    out = math.lgamma(sa) - sum(math.lgamma(ai) for ai in a)
    out -= math.lgamma(sb) - sum(math.lgamma(bi) for bi in b)
    out += sum((ai - bi) * (digamma(ai) - digamma(sa)) for ai, bi in zip(a, b))
    return out


def loss_ref(out_row, label, epoch, annealing=10):
    """One example's loss, term by term in Python floats (METHODS.md, Posteriors / Evidential)."""
    K = len(out_row)
    alpha = [max(o, 0.0) + 1.0 for o in out_row]
    S = sum(alpha)
    y = [1.0 if k == label else 0.0 for k in range(K)]
    risk = 0.0
    for k in range(K):
        p = alpha[k] / S
        risk += (y[k] - p) ** 2 + p * (1 - p) / (S + 1)
    alpha_tilde = [y[k] + (1 - y[k]) * alpha[k] for k in range(K)]
    return risk + min(1.0, epoch / annealing) * kl_dirichlet_ref(alpha_tilde, [1.0] * K)


def test_registered_and_exported():
    assert POSTERIORS.get("evidential") is Evidential and unsure.Evidential is Evidential


def test_kl_matches_hand_reference_and_torch_distributions():
    alpha = torch.rand(5, 7, dtype=torch.float64) * 10 + 0.5
    ref = torch.tensor([kl_dirichlet_ref(a.tolist(), [1.0] * 7) for a in alpha], dtype=torch.float64)
    torch.testing.assert_close(kl_dirichlet_uniform(alpha), ref, rtol=1e-10, atol=1e-12)
    D = torch.distributions
    peer = D.kl_divergence(D.Dirichlet(alpha), D.Dirichlet(torch.ones_like(alpha)))
    torch.testing.assert_close(kl_dirichlet_uniform(alpha), peer, rtol=1e-10, atol=1e-12)
    assert kl_dirichlet_uniform(torch.ones(2, 3, dtype=torch.float64)).abs().max() < 1e-12


@pytest.mark.parametrize("epoch", [0, 3, 10, 25])
def test_loss_matches_reference_float64(epoch):
    out = torch.randn(5, 7, dtype=torch.float64) * 4  # some negative (no evidence), some large
    y = torch.tensor([0, 6, 3, 3, 1])
    ref = [loss_ref(o.tolist(), int(l), epoch) for o, l in zip(out, y)]
    per = evidential_mse_loss(out, y, epoch, reduction="none")
    torch.testing.assert_close(per, torch.tensor(ref, dtype=torch.float64), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(evidential_mse_loss(out, y, epoch), per.mean())


def test_kl_annealing_coefficient():
    assert [annealing_coefficient(e) for e in (0, 1, 5, 10, 11, 100)] == [0.0, 0.1, 0.5, 1.0, 1.0, 1.0]
    assert annealing_coefficient(2, annealing_epochs=4) == 0.5
    out = torch.randn(4, 5, dtype=torch.float64) * 3
    y = torch.tensor([1, 0, 4, 2])
    risk = evidential_mse_loss(out, y, 0, reduction="none")  # epoch 0: no KL term
    full = evidential_mse_loss(out, y, 10, reduction="none")
    half = evidential_mse_loss(out, y, 5, reduction="none")
    torch.testing.assert_close(half, (risk + full) / 2)


def test_loss_gradient_is_finite_at_zero_evidence():
    out = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    evidential_mse_loss(out, torch.tensor([0, 1, 2]), 10).backward()
    assert torch.isfinite(out.grad).all()


class Fixed(nn.Module):
    """A 'network' that returns given outputs, to check the posterior's arithmetic."""

    def __init__(self, out):
        super().__init__()
        self.out = nn.Parameter(out)

    def forward(self, x):
        return self.out[: len(x)]


def test_logits_are_log_alpha_with_one_sample():
    out = torch.tensor([[3.0, -1.0, 0.0], [-2.0, -2.0, -2.0], [1e4, 1e4, 0.0]])
    post = Evidential(Fixed(out))
    z = post.sample_logits(torch.rand(3, 1, 4, 4))
    assert z.shape == (1, 3, 3) and post.num_samples == 1 and len(post.draw()) == 1
    alpha = out.clamp_min(0) + 1
    torch.testing.assert_close(z[0], alpha.log())
    torch.testing.assert_close(post.alpha(torch.rand(3, 1, 4, 4)), alpha)
    torch.testing.assert_close(torch.softmax(z, -1)[0], alpha / alpha.sum(-1, keepdim=True))  # phat
    # vacuity K / S from alpha; no evidence -> vacuity 1, dissonance 0
    torch.testing.assert_close(vacuity(z), 3 / alpha.sum(-1))
    assert vacuity(z)[1].item() == pytest.approx(1.0) and dissonance(z)[1].item() == pytest.approx(0.0)
    for fn in (total, aleatoric, epistemic, vacuity, dissonance):
        assert torch.isfinite(fn(z)).all(), fn.__name__
    assert torch.equal(epistemic(z), torch.zeros(3))  # S = 1


def test_real_net_measures_and_uncertainty_have_no_nan():
    post = Evidential(PaperCNN(1, 6, 10, filters=4, hidden=8))
    x = torch.rand(4, 1, 10, 10)
    z = post.sample_logits(x)
    with torch.no_grad():
        alpha = torch.relu(post.net(x)) + 1
    torch.testing.assert_close(vacuity(z), 6 / alpha.sum(-1))
    u = unsure.uncertainty(post, x)
    assert all(torch.isfinite(v).all() for v in u.values())
    assert torch.equal(u["epistemic"], torch.zeros(4))
    assert torch.isfinite(dissonance(z)).all()
    d = post.draw()
    assert d.modules == [post.net] and d.feature_layers == [post.net.feature_layer]


def test_config_round_trip(tmp_path):
    post = Evidential(PaperCNN(1, 6, 10, filters=4, hidden=8), annealing_epochs=7)
    assert post.config() == {"posterior": "evidential", "annealing_epochs": 7, "evidence": "relu",
                             "loss": "mse", "kl_weight": 1.0}
    assert set(post.state_dict()) == {f"net.{k}" for k in post.net.state_dict()}
    opts = {"in_channels": 1, "num_classes": 6, "image_size": 10, "filters": 4, "hidden": 8}
    save_run(tmp_path / "r", post, {"arch": "paper-cnn", "arch_options": opts})
    back = load_run(tmp_path / "r")
    assert isinstance(back, Evidential) and back.annealing_epochs == 7
    x = torch.rand(3, 1, 10, 10)
    torch.testing.assert_close(back.sample_logits(x), post.sample_logits(x))


def test_fit_decreases_the_loss():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 10, 10)
    y = (x[:, 0, :5].mean((1, 2)) > x[:, 0, 5:].mean((1, 2))).long()  # a learnable rule
    net0 = PaperCNN(1, 2, 10, filters=4, hidden=16).eval()
    with torch.no_grad():
        before = evidential_mse_loss(net0(x), y, epoch=10).item()
    post = fit_evidential(lambda: copy.deepcopy(net0), x, y,
                          TrainConfig(epochs=5, batch_size=16, lr=1e-2, progress=False),
                          generator=torch.Generator().manual_seed(0),
                          evidence="relu", loss="mse", kl_weight=1.0, annealing_epochs=10)  # the paper's
    with torch.no_grad():
        after = evidential_mse_loss(post.net(x), y, epoch=10).item()
    assert after < before
    assert len(post.train_info["losses"]) == 5 and post.train_info["seconds"] > 0


def test_unsure_train_evidential(tmp_path):
    from unsure.cli.main import main

    out = tmp_path / "run"
    rc = main(["train", "--data", "digits", "--posterior", "evidential", "--limit", "200",
               "--epochs", "1", "--out", str(out), "--no-progress"])
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["posterior"] == {"posterior": "evidential", **DEFAULT_RECIPE}
    assert all(math.isfinite(v) for v in cfg["metrics"].values())
    post = load_run(out)
    assert isinstance(post, Evidential)
    z = post.sample_logits(torch.rand(3, 1, 8, 8))
    assert z.shape == (1, 3, 10) and (z >= 0).all()  # log(alpha) >= 0


def test_train_run_rejects_samples_for_evidential(tmp_path):
    from unsure.errors import UnsureError
    from unsure.training.run import train_run

    with pytest.raises(UnsureError, match="takes no --samples"):
        train_run(data="digits", out=str(tmp_path / "r"), posterior="evidential", samples=3,
                  limit=50, epochs=1, progress=False)
