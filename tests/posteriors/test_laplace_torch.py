"""The laplace-torch adapter against the real package (laplace-torch 0.3, CPU, BackPACK /
curvlinops backends; ``asdl`` is a stand-in, see tests/asdl_stub.py). Reference: laplace-torch's
own ``pred_type="nn"`` predictive with the same generator seed, including its gradient in x
(``enable_backprop=True``)."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import unsure
from unsure import UnsureError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import asdl_stub  # noqa: E402

asdl_stub.install()
laplace = pytest.importorskip("laplace", reason="laplace-torch is not installed (make test installs it)")

S = 4


def small_net(K: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 16), nn.ReLU(),
                         nn.Linear(16, K))


def fitted(subset: str, hessian: str, backprop: bool = False):
    torch.manual_seed(0)
    x, y = torch.rand(40, 1, 8, 8), torch.randint(0, 3, (40,))
    la = laplace.Laplace(small_net(), "classification", subset_of_weights=subset, hessian_structure=hessian,
                         enable_backprop=backprop)
    la.fit(DataLoader(TensorDataset(x, y), batch_size=20))
    la.prior_precision = torch.tensor(5.0)  # fixed: a larger prior keeps samples near the MAP
    return la


CASES = [("last_layer", "full"), ("last_layer", "kron"), ("all", "diag"), ("all", "kron")]


@pytest.mark.parametrize("subset, hessian", CASES)
def test_logits_are_laplace_torch_nn_samples(subset, hessian):
    """Our [S,B,K] logits, softmaxed, equal laplace-torch's own MC samples for the same seed."""
    la = fitted(subset, hessian)
    post = unsure.as_posterior(la, samples=S)
    assert isinstance(post, unsure.LaplaceTorch) and post.last_layer == (subset == "last_layer")
    x = torch.rand(5, 1, 8, 8)
    z = post.sample_logits(x, torch.Generator().manual_seed(3))
    assert z.shape == (S, 5, 3)
    ref = la._nn_predictive_samples(x, n_samples=S, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(torch.softmax(z, -1), ref, rtol=1e-5, atol=1e-6)
    # the samples differ (a posterior, not the MAP S times) and the network is left at the MAP
    assert (z[0] - z[1]).abs().max() > 1e-4
    torch.testing.assert_close(nn.utils.parameters_to_vector(la.model.parameters() if subset == "all"
                                                             else la.model.last_layer.parameters()), la.mean)


@pytest.mark.parametrize("subset, hessian", [("last_layer", "kron"), ("all", "diag")])
def test_gradient_in_x_matches_copies_with_the_sampled_weights(subset, hessian):
    """d/dx of the summed class-1 probabilities equals that of S copies of the network with
    laplace-torch's weight samples written in (plain autograd on each copy).

    Not compared with laplace-torch's ``enable_backprop=True``: its ``pred_type="nn"`` samples swap
    ``param.data`` in place (``vector_to_parameters``), so backward runs with whatever weights the
    parameters hold afterwards (the MAP), not the sample's; its input gradients then differ from
    the sampled networks' (all-weights; last-layer for every sample but the last).
    """
    la = fitted(subset, hessian)
    post = unsure.as_posterior(la, samples=S)
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    z = post.draw(torch.Generator().manual_seed(7))(x)
    (g,) = torch.autograd.grad(torch.softmax(z, -1)[..., 1].sum(), x)
    g_ref = torch.zeros_like(x)
    for theta in la.sample(S, generator=torch.Generator().manual_seed(7)):
        net = copy.deepcopy(la.model.model if subset == "last_layer" else la.model)
        nn.utils.vector_to_parameters(theta, net[-1].parameters() if subset == "last_layer" else net.parameters())
        x2 = x.detach().clone().requires_grad_(True)
        g_ref += torch.autograd.grad(torch.softmax(net(x2), -1)[..., 1].sum(), x2)[0]
    assert g.abs().max() > 0
    torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-7)


def test_members_match_the_joint_draw_and_methods_run():
    la = fitted("last_layer", "kron")
    post = unsure.as_posterior(la, samples=S)
    x = torch.rand(3, 1, 8, 8)
    d = post.draw(torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.stack([m(x) for m in d.members]), d(x), rtol=1e-5, atol=1e-6)
    for method in ("ua-backprop", "ig", "gradcam", "fullgrad"):
        res = unsure.attribute(post, x, method=method, target="epistemic",
                               generator=torch.Generator().manual_seed(0))
        assert res.maps.shape == (3, 8, 8) and torch.isfinite(res.maps).all()
    res = unsure.attribute(post, x, method="ua-backprop", target="epistemic",
                           generator=torch.Generator().manual_seed(0))
    u = unsure.uncertainty(post, x, torch.Generator().manual_seed(0))["epistemic"]
    torch.testing.assert_close(res.maps.sum((1, 2)), u, rtol=1e-4, atol=1e-6)  # completeness


def test_unfitted_and_regression_are_refused():
    la = laplace.Laplace(small_net(), "classification", subset_of_weights="all", hessian_structure="diag")
    if not isinstance(getattr(la, "mean", None), torch.Tensor):
        with pytest.raises(UnsureError, match="fit"):
            unsure.as_posterior(la)
    reg = laplace.Laplace(small_net(1), "regression", subset_of_weights="all", hessian_structure="diag")
    with pytest.raises(UnsureError, match="regression"):
        unsure.as_posterior(reg)
