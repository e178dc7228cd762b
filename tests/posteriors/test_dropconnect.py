"""MC DropConnect: frozen Bernoulli weight masks per draw, the expected weights, save/load, training."""
import json

import pytest
import torch
from torch import nn

import unsure
from unsure.errors import UnsureError
from unsure.models import PaperCNN
from unsure.posteriors import POSTERIORS, DropConnect
from unsure.posteriors.dropconnect import dropout_off, train_logits
from unsure.run import load_run, save_run
from unsure.training import TrainConfig
from unsure.training.fitters import fit_dropconnect


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def small_cnn():
    torch.manual_seed(0)
    return PaperCNN(1, 7, 12, filters=4, hidden=16)


@pytest.fixture
def post():
    return DropConnect(small_cnn(), p=0.5, samples=3)


def test_registered_exported_and_listed(capsys):
    from unsure.cli.main import main

    assert POSTERIORS.get("dropconnect") is DropConnect and unsure.DropConnect is DropConnect
    assert main(["posteriors"]) == 0
    assert "dropconnect" in capsys.readouterr().out


def test_default_layer_is_the_last_linear_and_biases_stay(post):
    assert post.layers == ["fc2"]
    x = torch.rand(4, 1, 12, 12)
    mem = post.draw(gen(0)).members[0]
    (mask,) = mem.masks
    assert mask.shape == post.net.fc2.weight.shape
    # the member is the network with fc2's weight (only) multiplied by the mask
    net = post.net
    with torch.no_grad():
        h = net.features(x)
        ref = torch.nn.functional.linear(h, net.fc2.weight * mask.float(), net.fc2.bias)
        torch.testing.assert_close(mem(x), ref)


def test_same_generator_same_members_and_draws_differ(post):
    x = torch.rand(5, 1, 12, 12)
    z = post.sample_logits(x, gen(1))
    assert z.shape == (3, 5, 7)  # [S,B,K]
    torch.testing.assert_close(post.sample_logits(x, gen(1)), z, rtol=0, atol=0)
    d = post.draw(gen(1))
    torch.testing.assert_close(d(x), d(x), rtol=0, atol=0)  # a member is deterministic
    assert not torch.allclose(post.sample_logits(x, gen(2)), z)
    assert not torch.allclose(z[0], z[1]) and not torch.allclose(z[1], z[2])  # the S members differ


def test_masks_are_scaled_bernoulli():
    post = DropConnect(nn.Sequential(nn.Flatten(), nn.Linear(40, 50)), p=0.3, samples=20)
    masks = torch.stack([m.masks[0] for m in post.draw(gen(0)).members])  # [S,50,40]
    assert set(masks.unique().tolist()) <= {0.0, 1 / 0.7}
    n = masks.numel()
    dropped = float((masks == 0).double().mean())
    assert abs(dropped - 0.3) < 5 * (0.3 * 0.7 / n) ** 0.5  # 5 binomial standard errors


def test_mean_of_many_members_is_the_expected_weight():
    """A linear layer's effective weights, read off each member on the unit inputs, average to the
    trained weights (E[m] = 1), within 5 standard errors ``|w| sqrt(p/(1-p) / S)``."""
    torch.manual_seed(0)
    p, S = 0.4, 3000
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 3)).double()
    post = DropConnect(net, p=p, samples=S)
    basis = torch.eye(6, dtype=torch.float64).reshape(6, 1, 2, 3)  # e_j as images
    with torch.no_grad():
        z = post.sample_logits(basis, gen(0))  # [S,6,3]: member s at e_j = W_s[:, j] + b
        w_members = (z - net[1].bias).transpose(1, 2)  # [S,3,6]
    w = net[1].weight.detach()
    se = w.abs() * (p / (1 - p) / S) ** 0.5
    assert ((w_members.mean(0) - w).abs() <= 5 * se + 1e-12).all()
    assert (w_members.std(0) > 0).all()  # and the members do vary


def test_input_gradient_goes_through_the_masked_weight():
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 3)).double()
    post = DropConnect(net, p=0.5, samples=2)
    d = post.draw(gen(3))
    x = torch.rand(2, 1, 2, 3, dtype=torch.float64, requires_grad=True)
    for mem in d.members:
        g, = torch.autograd.grad(mem(x)[:, 1].sum(), x)
        expect = (net[1].weight * mem.masks[0].double())[1].reshape(1, 2, 3).expand(2, 1, 2, 3)
        torch.testing.assert_close(g, expect)


def test_batched_equals_per_example_and_hooks_fire_once_per_member(post):
    x = torch.rand(5, 1, 12, 12)
    d = post.draw(gen(3))
    whole = d(x)
    single = torch.cat([d(x[i:i + 1]) for i in range(5)], dim=1)
    torch.testing.assert_close(whole, single)
    calls = []
    h = post.net.relu2.register_forward_hook(lambda *a: calls.append(1))
    try:
        d(x)
    finally:
        h.remove()
    assert len(calls) == post.num_samples
    assert all(m is post.net for m in d.modules) and d.feature_layers[0] is post.net.feature_layer


def test_chosen_layers_and_eval_mode(post):
    net = small_cnn()
    p2 = DropConnect(net, p=0.2, layers="conv2, fc1", samples=2)
    assert p2.layers == ["conv2", "fc1"]
    mem = p2.draw(gen(0)).members[0]
    assert [m.shape for m in mem.masks] == [net.conv2.weight.shape, net.fc1.weight.shape]
    net.train()
    x = torch.rand(2, 1, 12, 12)
    torch.testing.assert_close(mem(x), mem(x))  # the net's own dropout stays off in a member
    assert net.training  # and the caller's mode is restored


def test_config_state_dict_round_trip(post, tmp_path):
    x = torch.rand(3, 1, 12, 12)
    cfg = post.config()
    assert cfg == {"posterior": "dropconnect", "samples": 3, "p": 0.5, "layers": ["fc2"]}
    back = DropConnect.from_config(json.loads(json.dumps(cfg)), lambda: PaperCNN(1, 7, 12, filters=4, hidden=16))
    back.load_state_dict(post.state_dict())
    torch.testing.assert_close(back.sample_logits(x, gen(9)), post.sample_logits(x, gen(9)))
    arch_options = {"in_channels": 1, "num_classes": 7, "image_size": 12, "filters": 4, "hidden": 16}
    save_run(tmp_path / "r", post, {"arch": "paper-cnn", "arch_options": arch_options})
    loaded = load_run(tmp_path / "r")
    assert isinstance(loaded, DropConnect) and loaded.num_samples == 3 and loaded.layers == ["fc2"]
    assert loaded.weights_sha256  # the checksum was checked on load
    torch.testing.assert_close(loaded.sample_logits(x, gen(9)), post.sample_logits(x, gen(9)))


def test_training_forward_masks_weights_with_dropout_off():
    net = small_cnn()
    net.train()
    x = torch.rand(3, 1, 12, 12)
    a = train_logits(net, ["fc2"], 0.5, x, gen(1))
    torch.testing.assert_close(train_logits(net, ["fc2"], 0.5, x, gen(1)), a)  # seeded, own dropout off
    assert not torch.allclose(train_logits(net, ["fc2"], 0.5, x, gen(2)), a)
    assert net.training and net.drop1.training  # modes restored
    with dropout_off(net):
        assert not net.drop1.training and net.training
    assert net.drop1.training


def test_fit_records_losses_and_p0_is_the_plain_net():
    x, y = torch.rand(16, 1, 12, 12), torch.arange(16) % 7
    cfg = TrainConfig(epochs=1, batch_size=8, progress=False)
    post = fit_dropconnect(lambda: PaperCNN(1, 7, 12, filters=4, hidden=16), x, y, cfg, samples=2, p=0.0)
    assert len(post.train_info["losses"]) == 1 and not post.net.training
    with torch.no_grad():
        z = post.sample_logits(x[:4], gen(0))
        torch.testing.assert_close(z[0], post.net(x[:4]))  # p = 0: every mask is 1
        torch.testing.assert_close(z[1], z[0])


def test_errors():
    with pytest.raises(UnsureError, match="drop rate"):
        DropConnect(small_cnn(), p=1.0)
    with pytest.raises(UnsureError, match="no module 'fc9'"):
        DropConnect(small_cnn(), layers=["fc9"])
    with pytest.raises(UnsureError, match="is a ReLU"):
        DropConnect(small_cnn(), layers="relu1")
    with pytest.raises(UnsureError, match="has none"):
        DropConnect(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()))
    with pytest.raises(UnsureError, match="at least 1 sample"):
        DropConnect(small_cnn(), samples=0)
    with pytest.raises(UnsureError, match="drop rate"):  # refused before training
        fit_dropconnect(small_cnn, torch.rand(4, 1, 12, 12), torch.tensor([0, 1, 2, 0]),
                        TrainConfig(epochs=1, progress=False), p=-0.1)


def test_unsure_train_dropconnect(tmp_path, capsys):
    from unsure.cli.main import main

    out = tmp_path / "run"
    rc = main(["train", "--data", "digits", "--posterior", "dropconnect", "--samples", "4", "--drop-rate", "0.3",
               "--dropconnect-layers", "fc1,fc2", "--limit", "200", "--epochs", "1", "--out", str(out),
               "--no-progress", "--device", "cpu"])
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["posterior"] == {"posterior": "dropconnect", "samples": 4, "p": 0.3, "layers": ["fc1", "fc2"]}
    assert cfg["splits"]["train"] == 200 and "seconds" in cfg["train_info"]
    post = load_run(out)
    assert isinstance(post, DropConnect) and post.num_samples == 4 and post.p == 0.3
    assert post.sample_logits(torch.rand(2, 1, 8, 8), gen(0)).shape == (4, 2, 10)
    capsys.readouterr()
    rc = main(["train", "--data", "digits", "--posterior", "mc-dropout", "--drop-rate", "0.3", "--limit", "50",
               "--epochs", "1", "--out", str(tmp_path / "r2"), "--no-progress", "--device", "cpu"])
    assert rc != 0 and "takes no option 'p'" in capsys.readouterr().err  # a dropconnect flag elsewhere
