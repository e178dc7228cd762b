"""Evidential recipe options: evidence functions, the log / digamma / MSE data terms of Sensoy et
al. (Eqs. 3-5) against float64 references, the KL weight, old configs, and ``unsure train`` flags."""
import json
import math

import pytest
import torch
from scipy.special import digamma
from torch import nn

from unsure.errors import UnsureError
from unsure.models import PaperCNN
from unsure.posteriors import Evidential
from unsure.posteriors.evidential import EXP_CLAMP, log_alpha, to_alpha
from unsure.run import load_run, save_run
from unsure.training.evidential import evidential_loss, evidential_mse_loss, kl_dirichlet_uniform

from test_evidential_posterior import Fixed  # a "network" returning given outputs


def alpha_ref(o, evidence):
    if evidence == "relu":
        return max(o, 0.0) + 1.0
    if evidence == "softplus":
        return math.log1p(math.exp(o)) + 1.0
    return math.exp(min(max(o, -EXP_CLAMP), EXP_CLAMP)) + 1.0


def data_ref(alpha, label, loss):
    S = sum(alpha)
    if loss == "log":
        return math.log(S) - math.log(alpha[label])
    if loss == "digamma":
        return float(digamma(S) - digamma(alpha[label]))
    return sum(((k == label) - a / S) ** 2 + (a / S) * (1 - a / S) / (S + 1) for k, a in enumerate(alpha))


@pytest.mark.parametrize("evidence", ["relu", "softplus", "exp"])
def test_alpha_and_log_alpha_match_reference(evidence):
    out = torch.tensor([[-30.0, -1.0, 0.0, 0.5, 3.0, 12.0, 40.0]], dtype=torch.float64)
    ref = torch.tensor([[alpha_ref(o, evidence) for o in out[0].tolist()]], dtype=torch.float64)
    torch.testing.assert_close(to_alpha(out, evidence), ref, rtol=1e-12, atol=0)
    torch.testing.assert_close(log_alpha(out, evidence), ref.log(), rtol=1e-12, atol=1e-15)
    assert (log_alpha(out, evidence) >= 0).all()


@pytest.mark.parametrize("loss", ["mse", "log", "digamma"])
@pytest.mark.parametrize("evidence", ["relu", "exp"])
def test_loss_matches_reference_with_kl_weight(loss, evidence):
    out = torch.randn(5, 7, dtype=torch.float64) * 4
    y = torch.tensor([0, 6, 3, 3, 1])
    got = evidential_loss(out, y, 5, evidence=evidence, loss=loss, kl_weight=0.3, annealing_epochs=10,
                          reduction="none")
    ref = []
    for o, l in zip(out.tolist(), y.tolist()):
        a = [alpha_ref(v, evidence) for v in o]
        at = torch.tensor([[1.0 if k == l else ak for k, ak in enumerate(a)]], dtype=torch.float64)
        ref.append(data_ref(a, l, loss) + 0.3 * 0.5 * float(kl_dirichlet_uniform(at)))
    torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64), rtol=1e-10, atol=1e-12)


def test_paper_loss_is_the_relu_mse_weight_one_case():
    out = torch.randn(4, 5, dtype=torch.float64) * 3
    y = torch.tensor([1, 0, 4, 2])
    torch.testing.assert_close(evidential_mse_loss(out, y, 4, reduction="none"),
                               evidential_loss(out, y, 4, reduction="none"))
    no_kl = evidential_loss(out, y, 4, kl_weight=0.0, reduction="none")
    torch.testing.assert_close(no_kl, evidential_loss(out, y, 0, reduction="none"))


def test_exp_evidence_gradient_finite_for_huge_outputs():
    out = torch.tensor([[1e6, -1e6, 0.0]], dtype=torch.float64, requires_grad=True)
    evidential_loss(out, torch.tensor([0]), 10, evidence="exp", loss="digamma").backward()
    assert torch.isfinite(out.grad).all()


def test_bad_names_fail_in_one_line():
    out, y = torch.randn(2, 3), torch.tensor([0, 1])
    with pytest.raises(UnsureError, match="unknown evidential loss"):
        evidential_loss(out, y, 0, loss="ce")
    with pytest.raises(UnsureError, match="unknown evidence function"):
        Evidential(nn.Linear(3, 3), evidence="sigmoid")


def test_posterior_uses_its_evidence_function():
    out = torch.tensor([[3.0, -1.0, 0.0], [-2.0, 5.0, 1.0]])
    post = Evidential(Fixed(out), evidence="exp")
    torch.testing.assert_close(post.alpha(torch.rand(2, 1, 4, 4)), out.exp() + 1)


def test_old_config_without_recipe_keys_loads_as_relu_mse(tmp_path):
    opts = {"in_channels": 1, "num_classes": 6, "image_size": 10, "filters": 4, "hidden": 8}
    post = Evidential(PaperCNN(**opts).eval())
    save_run(tmp_path / "r", post, {"arch": "paper-cnn", "arch_options": opts})
    cfg_path = tmp_path / "r" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["posterior"] = {"posterior": "evidential", "annealing_epochs": 10}  # as saved before the options
    cfg_path.write_text(json.dumps(cfg))
    back = load_run(tmp_path / "r")
    assert (back.evidence.value, back.loss, back.kl_weight) == ("relu", "mse", 1.0)
    x = torch.rand(3, 1, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(back.alpha(x), torch.relu(post.net(x)) + 1)


def test_train_flags_are_recorded_and_refused_for_other_posteriors(tmp_path):
    from unsure.cli.main import main

    out = tmp_path / "run"
    rc = main(["train", "--data", "digits", "--posterior", "evidential", "--limit", "100", "--epochs", "1",
               "--evidence", "softplus", "--evidential-loss", "log", "--kl-weight", "0.5",
               "--annealing-epochs", "3", "--out", str(out), "--no-progress"])
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["posterior"] == {"posterior": "evidential", "annealing_epochs": 3, "evidence": "softplus",
                                "loss": "log", "kl_weight": 0.5}
    assert load_run(out).evidence.value == "softplus"
    rc = main(["train", "--data", "digits", "--posterior", "ensemble", "--members", "1", "--limit", "50",
               "--epochs", "1", "--kl-weight", "0.5", "--out", str(tmp_path / "e"), "--no-progress"])
    assert rc == 2 and not (tmp_path / "e").exists()


def test_fit_with_the_default_recipe_decreases_its_loss():
    import copy

    from unsure.training import TrainConfig
    from unsure.training.evidential import DEFAULT_RECIPE
    from unsure.training.fitters import fit_evidential

    torch.manual_seed(0)
    x = torch.rand(64, 1, 10, 10)
    y = (x[:, 0, :5].mean((1, 2)) > x[:, 0, 5:].mean((1, 2))).long()
    net0 = PaperCNN(1, 2, 10, filters=4, hidden=16).eval()
    late = 10 * max(1, DEFAULT_RECIPE["annealing_epochs"])  # full KL weight
    with torch.no_grad():
        before = evidential_loss(net0(x), y, late, **DEFAULT_RECIPE).item()
    post = fit_evidential(lambda: copy.deepcopy(net0), x, y,
                          TrainConfig(epochs=5, batch_size=16, lr=1e-2, progress=False),
                          generator=torch.Generator().manual_seed(0))
    assert post.config() == {"posterior": "evidential", **DEFAULT_RECIPE}
    with torch.no_grad():
        after = evidential_loss(post.net(x), y, late, **DEFAULT_RECIPE).item()
    assert after < before
