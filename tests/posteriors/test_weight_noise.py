"""Weight-noise posterior and the accuracy-drop heuristic (spec/METHODS.md, "Weight noise")."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from unsure.errors import UnsureError
from unsure.measures import epistemic
from unsure.posteriors import POSTERIORS, WeightNoise
from unsure.posteriors._noise import calibrate, calibrate_sigma, perturbed
from unsure.training import TrainConfig
from unsure.training.classifier import fit
from unsure.training.fitters import fit_weight_noise

K, SIDE = 3, 6


def toy_data(n: int = 600, seed: int = 0):
    """K classes of 1x6x6 images: class k brightens row band k (two rows), plus noise."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, K, (n,), generator=gen)
    x = 0.3 * torch.rand(n, 1, SIDE, SIDE, generator=gen)
    for k in range(K):
        x[y == k, :, 2 * k:2 * k + 2, :] += 0.7
    return x, y


def tiny_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 16), nn.ReLU(), nn.Linear(16, K))


@pytest.fixture(scope="module")
def trained():
    x, y = toy_data()
    net = tiny_net()
    fit(net, x, y, TrainConfig(epochs=8, batch_size=64, lr=1e-2, progress=False),
        generator=torch.Generator().manual_seed(1))
    return net, x, y


def _state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_registered():
    assert POSTERIORS.get("weight-noise") is WeightNoise


def test_draws_reproducible_and_seed_dependent(trained):
    net, x, _ = trained
    post = WeightNoise(net, sigma=0.2, samples=4)
    a = post.sample_logits(x[:5], torch.Generator().manual_seed(3))
    b = post.sample_logits(x[:5], torch.Generator().manual_seed(3))
    c = post.sample_logits(x[:5], torch.Generator().manual_seed(4))
    assert a.shape == (4, 5, K)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    assert not torch.allclose(a[0], a[1])  # members differ


def test_member_is_multiplicative_noise_on_every_parameter(trained):
    """Member m = the net with p * (1 + sigma * eps), eps drawn member by member, parameter by
    parameter in named_parameters() order (a slow explicit copy as reference)."""
    import copy

    net, x, _ = trained
    sigma, S = 0.3, 3
    draw = WeightNoise(net, sigma, S).draw(torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)
    for m in range(S):
        ref = copy.deepcopy(net)
        with torch.no_grad():
            for p in ref.parameters():
                p.mul_(1 + sigma * torch.randn(p.shape, generator=gen))
        torch.testing.assert_close(draw.members[m](x[:7]), ref(x[:7]))


def test_sigma_zero_identical_members_zero_epistemic(trained):
    net, x, _ = trained
    logits = WeightNoise(net, sigma=0.0, samples=5).sample_logits(x[:6], torch.Generator().manual_seed(0))
    for s in range(1, 5):
        torch.testing.assert_close(logits[s], logits[0], rtol=0, atol=0)
    torch.testing.assert_close(logits[0], net(x[:6]))
    torch.testing.assert_close(epistemic(logits), torch.zeros(6), rtol=0, atol=1e-6)


def test_parameters_restored_after_draw_and_backward(trained):
    net, x, _ = trained
    before = _state(net)
    post = WeightNoise(net, sigma=0.5, samples=3)
    xr = x[:4].clone().requires_grad_(True)
    epistemic(post.draw(torch.Generator().manual_seed(0))(xr)).sum().backward()
    assert xr.grad is not None and xr.grad.abs().sum() > 0
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    net.zero_grad(set_to_none=True)


def test_perturbed_restores_even_on_exception(trained):
    net, x, _ = trained
    before = _state(net)
    with pytest.raises(RuntimeError, match="boom"):
        with perturbed([net, net], 0.5, torch.Generator().manual_seed(0)):
            assert not torch.equal(net[1].weight, before["1.weight"])
            raise RuntimeError("boom")
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_hooks_fire_once_per_member_with_that_members_parameters(trained):
    """Draw.modules = [net] * S: a hook registered once on a layer fires once per member call and
    sees the member's perturbed bias."""
    from unsure.attribution._trace import per_logit_gradients

    net, x, _ = trained
    draw = WeightNoise(net, sigma=0.3, samples=3).draw(torch.Generator().manual_seed(2))
    grads = per_logit_gradients(draw, x[:2], with_layers=True)
    assert len(grads) == 3
    for m, g in enumerate(grads):
        assert len(g.layers) == 2  # the two Linear layers, once each
        expected_bias = net[3].bias * draw.members[m].factors["3.bias"]
        torch.testing.assert_close(g.layers[1].bias.reshape(-1), expected_bias)


def _reference_ad(net, x, y, sigma, seeds):
    """AD(sigma) by an explicit loop: perturbed copies with the seeds calibrate draws."""
    acc0 = (net(x).argmax(-1) == y).float().mean().item()
    accs = []
    for seed in seeds:
        gen = torch.Generator().manual_seed(seed)
        params = {n: p * (1 + sigma * torch.randn(p.shape, generator=gen)) for n, p in net.named_parameters()}
        accs.append((functional_call(net, params, (x,)).argmax(-1) == y).float().mean().item())
    acc = sum(accs) / len(accs)
    return 1 - (acc - 1 / K) / (acc0 - 1 / K)


def test_calibrate_lands_on_five_percent_drop(trained):
    net, x, y = trained
    before = _state(net)
    # calibrate's first use of the generator: one seed per noise draw
    seeds = [int(s) for s in torch.randint(0, 2**62, (3,), generator=torch.Generator().manual_seed(11))]
    cal = calibrate(net, x, y, 0.05, draws=3, tol=0.01, generator=torch.Generator().manual_seed(11))
    assert cal.acc0 > 0.9
    assert abs(cal.accuracy_drop - 0.05) <= 0.01, cal
    with torch.no_grad():
        ref = _reference_ad(net, x, y, cal.sigma, seeds)
    assert ref == pytest.approx(cal.accuracy_drop, abs=1e-9)
    assert calibrate_sigma(net, x, y, generator=torch.Generator().manual_seed(11)) == cal.sigma
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    assert not net.training


def test_calibrate_rejects_chance_model():
    x, y = toy_data(60)
    net = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, K))
    with torch.no_grad():
        net[1].weight.zero_()
        net[1].bias.copy_(torch.tensor([0.0, 0.0, 1.0]))
    y = torch.zeros_like(y)  # always predicts class 2, labels all 0: accuracy 0
    with pytest.raises(UnsureError, match="not above chance"):
        calibrate(net, x, y)


def test_config_state_dict_round_trip(trained):
    net, x, _ = trained
    post = WeightNoise(net, sigma=0.123, samples=4)
    cfg = post.config()
    assert cfg == {"posterior": "weight-noise", "sigma": 0.123, "samples": 4}
    back = POSTERIORS.get(cfg["posterior"]).from_config(cfg, lambda: tiny_net(seed=99))
    back.load_state_dict(post.state_dict())
    torch.testing.assert_close(back.sample_logits(x[:5], torch.Generator().manual_seed(7)),
                               post.sample_logits(x[:5], torch.Generator().manual_seed(7)), rtol=0, atol=0)
    with pytest.raises(UnsureError, match="sigma"):
        WeightNoise.from_config({"posterior": "weight-noise", "samples": 2}, tiny_net)


def test_save_and_load_run(tmp_path):
    from unsure.run import load_run, model_factory, save_run

    arch_options = {"in_channels": 1, "num_classes": K, "image_size": 8, "filters": 2, "hidden": 4}
    post = WeightNoise(model_factory("paper-cnn", arch_options)(), sigma=0.05, samples=2)
    save_run(tmp_path / "run", post, {"arch": "paper-cnn", "arch_options": arch_options})
    back = load_run(tmp_path / "run")
    assert isinstance(back, WeightNoise) and back.sigma == 0.05 and back.num_samples == 2
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(back.sample_logits(x, torch.Generator().manual_seed(0)),
                               post.sample_logits(x, torch.Generator().manual_seed(0)))


def test_fit_tiny_dataset_calibrates_sigma():
    x, y = toy_data(240, seed=1)
    xv, yv = toy_data(150, seed=2)
    cfg = TrainConfig(epochs=6, batch_size=32, lr=1e-2, progress=False)
    post = fit_weight_noise(tiny_net, x, y, cfg, x_val=xv, y_val=yv,
                            generator=torch.Generator().manual_seed(0), samples=3)
    assert post.num_samples == 3 and post.sigma > 0
    cal = post.train_info["calibration"]
    assert cal["sigma"] == post.sigma and post.train_info["calibration_data"] == "val"
    assert abs(cal["accuracy_drop"] - 0.05) <= 0.02
    assert post.sample_logits(xv[:4]).shape == (3, 4, K)
    # without validation data: a training slice; an explicit sigma skips calibration
    post2 = fit_weight_noise(tiny_net, x, y, cfg, generator=torch.Generator().manual_seed(0))
    assert post2.train_info["calibration_data"] == "train" and post2.num_samples == 10
    post3 = fit_weight_noise(tiny_net, x, y, cfg, sigma=0.2, samples=2)
    assert post3.sigma == 0.2 and "calibration" not in post3.train_info


@pytest.mark.parametrize("kwargs, match", [
    ({"samples": 0}, "samples"), ({"sigma": -1.0}, "sigma"), ({"members": 3}, "no option"),
])
def test_fit_rejects_bad_options(kwargs, match):
    x, y = toy_data(20)
    with pytest.raises(UnsureError, match=match):
        fit_weight_noise(tiny_net, x, y, TrainConfig(epochs=1, progress=False), **kwargs)


def test_constructor_errors():
    with pytest.raises(UnsureError, match="sigma"):
        WeightNoise(tiny_net(), sigma=float("nan"))
    with pytest.raises(UnsureError, match="samples"):
        WeightNoise(tiny_net(), sigma=0.1, samples=0)
