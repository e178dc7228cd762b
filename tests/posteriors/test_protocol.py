"""unsure.as_posterior: what it accepts, what it refuses, and how a joint callable is frozen."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import unsure
from unsure import UnsureError
from unsure.posteriors import DeepEnsemble, FunctionPosterior, Posterior


def cnn(seed: int, K: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, K))


X = torch.rand(5, 1, 8, 8)


def test_modules_lists_and_posteriors():
    a, b, c = cnn(0), cnn(1), cnn(2)
    one = unsure.as_posterior(a)
    assert isinstance(one, DeepEnsemble) and one.num_samples == 1
    ens = unsure.as_posterior([a, b, c])
    torch.testing.assert_close(ens.sample_logits(X), torch.stack([a(X), b(X), c(X)]))
    assert unsure.as_posterior(ens) is ens
    assert unsure.as_posterior(nn.ModuleList([a, b])).num_samples == 2


def test_a_callable_is_a_posterior_with_its_samples():
    nets = [cnn(i) for i in range(3)]

    def my_posterior(x):
        return torch.stack([n(x) for n in nets])  # [S,B,K]

    post = unsure.as_posterior(my_posterior)
    assert isinstance(post, FunctionPosterior)
    torch.testing.assert_close(post.sample_logits(X), my_posterior(X))
    assert post.num_samples == 3
    assert len(post.user_modules) == 3  # found in the closure: hooks and the device see them
    res = unsure.attribute(post, X, method="ua-backprop", target="epistemic")
    ref = unsure.attribute(nets, X, method="ua-backprop", target="epistemic")
    torch.testing.assert_close(res.maps, ref.maps, rtol=1e-5, atol=1e-7)


def test_a_stochastic_callable_is_frozen_per_draw():
    net = cnn(0)

    def noisy(x):  # weight noise from the global RNG, as an ad-hoc posterior would do it
        w = net[3].weight
        zs = [nn.functional.linear(net[:3](x), w + 0.3 * torch.randn_like(w), net[3].bias) for _ in range(4)]
        return torch.stack(zs)

    post = unsure.as_posterior(noisy)
    d = post.draw(torch.Generator().manual_seed(0))
    z = d(X)
    torch.testing.assert_close(d(X), z)
    torch.testing.assert_close(d.members[3](X), z[3])
    assert (post.draw(torch.Generator().manual_seed(1))(X) - z).abs().max() > 1e-3
    state = torch.get_rng_state()
    d(X)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is left alone
    a = unsure.attribute(post, X, method="ig", target="epistemic", steps=8, generator=torch.Generator().manual_seed(0))
    b = unsure.attribute(post, X, method="ig", target="epistemic", steps=8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.maps, b.maps)


class Protocol:
    """Not a Posterior subclass, no fit/from_config: only sample_logits."""

    def __init__(self):
        self.nets = [cnn(0), cnn(1)]

    def sample_logits(self, x, generator=None):
        noise = torch.randn(2, 1, 4, generator=generator)
        return torch.stack([n(x) for n in self.nets]) + noise


def test_an_object_with_sample_logits():
    obj = Protocol()
    post = unsure.as_posterior(obj)
    d = post.draw(torch.Generator().manual_seed(0))
    torch.testing.assert_close(d(X), d(X))
    seed_gen = torch.Generator().manual_seed(d.seed)
    torch.testing.assert_close(d(X), obj.sample_logits(X, seed_gen))


def test_a_minimal_posterior_subclass_needs_no_training_hooks():
    class Mine(Posterior):
        def __init__(self):
            super().__init__()
            self.nets = nn.ModuleList([cnn(0), cnn(1)])

        num_samples = 2

        def draw(self, generator=None):
            return unsure.posteriors.Draw(list(self.nets), list(self.nets))

    post = Mine()
    assert post.sample_logits(X).shape == (2, 5, 4)
    with pytest.raises(UnsureError, match="cannot be rebuilt from a config"):
        Mine.from_config({}, None)


class TupleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = cnn(0)

    def forward(self, x):
        return self.net(x), x.mean()


class DictNet(TupleNet):
    def forward(self, x):
        return {"logits": self.net(x)}


class SoftmaxNet(TupleNet):
    def forward(self, x):
        return torch.softmax(self.net(x), -1)


@pytest.mark.parametrize("model, message", [
    (TupleNet(), r"returned a tuple of 2 items.*model\(x\)\[0\]"),
    (DictNet(), r"returned a dict with keys \['logits'\]"),
    (SoftmaxNet(), r"looks like probabilities.*remove the final softmax"),
    (lambda x: torch.softmax(torch.randn(3, x.shape[0], 4), -1), "looks like probabilities"),
    (lambda x: (torch.randn(3, x.shape[0], 4),), "returned a tuple"),
    (lambda x: torch.randn(x.shape[0], 4), r"\[S,B,K\]"),
    (lambda x: torch.randn(3, x.shape[0] + 1, 4), "samples first"),
])
def test_bad_outputs_get_a_clear_message(model, message):
    with pytest.raises(UnsureError, match=message):
        unsure.as_posterior(model).sample_logits(X)
    with pytest.raises(UnsureError, match=message):
        unsure.attribute(model, X, method="grad")


def test_logits_via_log_of_probabilities_are_accepted():
    soft = SoftmaxNet()
    post = unsure.as_posterior(lambda x: soft(x).clamp_min(1e-12).log()[None])
    torch.testing.assert_close(torch.softmax(post.sample_logits(X), -1)[0], soft(X))


@pytest.mark.parametrize("obj, message", [
    (42, r"cannot use a int"),
    ("net.pt", r"cannot use a str"),
    ([cnn(0), "x"], r"item 1 is a str"),
    ([], "empty list"),
])
def test_unusable_objects_are_named(obj, message):
    with pytest.raises(UnsureError, match=message):
        unsure.as_posterior(obj)


def test_class_targets_per_image_like_captum():
    nets = [cnn(0), cnn(1)]
    cls = torch.tensor([0, 3, 1, 2, 3])
    res = unsure.attribute(nets, X, method="grad", target=cls)
    for b in range(5):  # one image at a time with its own class index
        one = unsure.attribute(nets, X[b:b + 1], method="grad", target=int(cls[b]))
        torch.testing.assert_close(res.maps[b:b + 1], one.maps)
    chunked = unsure.attribute(nets, X, method="ig", target=unsure.ClassScore(cls, "logit"), batch_size=2, steps=8)
    whole = unsure.attribute(nets, X, method="ig", target=unsure.ClassScore(cls, "logit"), steps=8)
    torch.testing.assert_close(chunked.maps, whole.maps)
    with pytest.raises(UnsureError, match="3 entries for 5"):
        unsure.attribute(nets, X, method="grad", target=cls[:3])
    with pytest.raises(UnsureError, match="LongTensor"):
        unsure.attribute(nets, X, method="grad", target=torch.rand(5))
