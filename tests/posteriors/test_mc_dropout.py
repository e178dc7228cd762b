"""MC dropout: frozen masks per draw, hooks that never outlive a member call, save/load."""
import json

import pytest
import torch
from torch import nn

import unsure
from unsure.errors import UnsureError
from unsure.measures import epistemic
from unsure.models import PaperCNN
from unsure.posteriors import POSTERIORS, MCDropout
from unsure.posteriors.mc_dropout import dropout_modules
from unsure.run import load_run, save_run
from unsure.training.fitters import fit_mc_dropout


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def all_hooks(net):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in net.modules())


@pytest.fixture
def post():
    return MCDropout(PaperCNN(1, 7, 12, filters=4, hidden=16), samples=3)


def test_registered_and_exported():
    assert POSTERIORS.get("mc-dropout") is MCDropout and unsure.MCDropout is MCDropout


def test_shapes_and_same_generator_same_members(post):
    x = torch.rand(5, 1, 12, 12)
    z = post.sample_logits(x, gen(1))
    assert z.shape == (3, 5, 7)  # [S,B,K]
    torch.testing.assert_close(post.sample_logits(x, gen(1)), z, rtol=0, atol=0)
    d = post.draw(gen(1))
    torch.testing.assert_close(d(x), d(x), rtol=0, atol=0)  # a member is deterministic
    assert not torch.allclose(post.sample_logits(x, gen(2)), z)


def test_members_differ_and_masks_are_scaled_bernoulli(post):
    x = torch.rand(4, 1, 12, 12)
    d = post.draw(gen(0))
    z = d(x)
    assert not torch.allclose(z[0], z[1]) and not torch.allclose(z[1], z[2])
    m0 = d.members[0]
    assert m0._masks, "masks are created on the first call"
    for (idx, call, shape, *_), m in m0._masks.items():
        assert shape[0] == 1  # one mask shared by every image of the batch
        p = dropout_modules(post.net)[idx].p
        assert set(m.unique().tolist()) <= {0.0, 1 / (1 - p)}


def test_dropout_active_only_through_masks(post):
    """With the masks, the member differs from the eval-mode net; draws leave the net in eval."""
    x = torch.rand(2, 1, 12, 12)
    d = post.draw(gen(0))
    assert not post.net.training
    with torch.no_grad():
        plain = post.net(x)
    assert not torch.allclose(d.members[0](x), plain)


def test_batched_equals_per_example(post):
    x = torch.rand(5, 1, 12, 12)
    d = post.draw(gen(3))
    whole = d(x)
    single = torch.cat([d(x[i:i + 1]) for i in range(5)], dim=1)
    torch.testing.assert_close(whole, single)


def test_member_equals_explicit_masked_network(post):
    """Functional check: the member is the network with each dropout replaced by its fixed mask."""
    net = post.net
    x = torch.rand(3, 1, 12, 12)
    d = post.draw(gen(4))
    mem = d.members[1]
    z = mem(x)
    m1 = mem._masks[(0, 0, (1, 4, 4, 4), x.device, x.dtype)]
    m2 = mem._masks[(1, 0, (1, 16), x.device, x.dtype)]
    h = net.pool(net.relu2(net.conv2(net.relu1(net.conv1(x))))) * m1
    ref = net.fc2(net.relu3(net.fc1(h.flatten(1))) * m2)
    torch.testing.assert_close(z, ref)


def test_forward_and_backward_use_the_same_mask():
    """The autograd input gradient of a member matches its central finite differences (float64)."""
    post = MCDropout(PaperCNN(1, 7, 12, filters=4, hidden=16).double(), samples=2)
    d = post.draw(gen(5))
    x = torch.rand(2, 1, 12, 12, dtype=torch.float64, requires_grad=True)
    for mem in d.members:
        g, = torch.autograd.grad(mem(x)[:, 2].sum(), x)
        v = torch.randn_like(x)
        eps = 1e-6
        with torch.no_grad():
            fd = (mem(x + eps * v)[:, 2].sum() - mem(x - eps * v)[:, 2].sum()) / (2 * eps)
        torch.testing.assert_close((g * v).sum(), fd, rtol=1e-5, atol=1e-7)
    assert all_hooks(post.net) == 0


def test_no_hooks_left_even_after_an_error(post):
    before = all_hooks(post.net)
    d = post.draw(gen(0))
    d(torch.rand(2, 1, 12, 12))
    assert all_hooks(post.net) == before == 0
    with pytest.raises(RuntimeError):
        d.members[0](torch.rand(2, 3, 12, 12))  # wrong channel count fails inside the net
    assert all_hooks(post.net) == 0


def test_training_mode_restored_after_member_call(post):
    d = post.draw(gen(0))
    post.net.train()
    x = torch.rand(2, 1, 12, 12)
    torch.testing.assert_close(d.members[0](x), d.members[0](x))  # own dropout stays off
    assert post.net.training


def test_one_sample_has_zero_epistemic():
    post = MCDropout(PaperCNN(1, 7, 12, filters=4, hidden=16), samples=1)
    z = post.sample_logits(torch.rand(4, 1, 12, 12), gen(0))
    assert z.shape[0] == 1
    assert torch.equal(epistemic(z), torch.zeros(4))


def test_draw_points_at_the_net(post):
    d = post.draw(gen(0))
    assert len(d) == 3 and all(m is post.net for m in d.modules)
    assert all(f is post.net.feature_layer for f in d.feature_layers)


def test_channel_dropout_masks_whole_channels():
    net = nn.Sequential(nn.Conv2d(1, 6, 3), nn.Dropout2d(0.5), nn.Flatten(), nn.Linear(6 * 6 * 6, 3))
    post = MCDropout(net, samples=2)
    mem = post.draw(gen(0)).members[0]
    mem(torch.rand(2, 1, 8, 8))
    (mask,) = mem._masks.values()
    assert mask.shape == (1, 6, 1, 1)


def test_errors():
    with pytest.raises(UnsureError, match="nn.Dropout"):
        MCDropout(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    with pytest.raises(UnsureError, match="at least 1 sample"):
        MCDropout(PaperCNN(1, 3, 8), samples=0)
    with pytest.raises(UnsureError, match="AlphaDropout"):
        MCDropout(nn.Sequential(nn.AlphaDropout(0.1), nn.Dropout(0.1)))
    from unsure.models import LeNet5
    from unsure.training import TrainConfig
    with pytest.raises(UnsureError, match="nn.Dropout"):  # refused before training
        fit_mc_dropout(lambda: LeNet5(1, 3, 12, dropout=0), torch.rand(4, 1, 12, 12),
                       torch.tensor([0, 1, 2, 0]), TrainConfig(epochs=1, progress=False))


def test_config_state_dict_round_trip(post, tmp_path):
    x = torch.rand(3, 1, 12, 12)
    cfg = post.config()
    assert cfg == {"posterior": "mc-dropout", "samples": 3}
    back = MCDropout.from_config(json.loads(json.dumps(cfg)), lambda: PaperCNN(1, 7, 12, filters=4, hidden=16))
    back.load_state_dict(post.state_dict())
    torch.testing.assert_close(back.sample_logits(x, gen(9)), post.sample_logits(x, gen(9)))
    # and through a run directory
    arch_options = {"in_channels": 1, "num_classes": 7, "image_size": 12, "filters": 4, "hidden": 16}
    save_run(tmp_path / "r", post, {"arch": "paper-cnn", "arch_options": arch_options})
    loaded = load_run(tmp_path / "r")
    assert isinstance(loaded, MCDropout) and loaded.num_samples == 3
    torch.testing.assert_close(loaded.sample_logits(x, gen(9)), post.sample_logits(x, gen(9)))


def test_uncertainty_is_finite(post):
    u = unsure.uncertainty(post, torch.rand(4, 1, 12, 12), gen(0))
    assert all(torch.isfinite(v).all() and v.shape == (4,) for v in u.values())
    assert (u["epistemic"] >= -1e-6).all()


def test_unsure_train_mc_dropout(tmp_path):
    from unsure.cli.main import main

    out = tmp_path / "run"
    rc = main(["train", "--data", "digits", "--posterior", "mc-dropout", "--samples", "4",
               "--limit", "200", "--epochs", "1", "--out", str(out), "--no-progress"])
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["posterior"] == {"posterior": "mc-dropout", "samples": 4}
    assert cfg["splits"]["train"] == 200 and "seconds" in cfg["train_info"]
    post = load_run(out)
    assert isinstance(post, MCDropout) and post.num_samples == 4
    assert post.sample_logits(torch.rand(2, 1, 8, 8), gen(0)).shape == (4, 2, 10)
