import itertools

import pytest
import torch
from torch import nn

import unsure
from unsure.errors import UnsureError
from unsure.metrics import conveyance_similarity, covariance_reference, dropconnect_reference, dropout_reference


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.ReLU(), nn.Dropout(0.3), nn.Linear(3, 4)).double()


@pytest.mark.parametrize("explainer", ["inputgrad", "grad"])
def test_reference_is_the_exact_variance_over_every_mask(explainer):
    """Input x gradient of a ReLU net whose dropout follows its last ReLU is linear in the masks, so
    the first-order reference is the exact variance: enumerate the 2^3 masks with their probabilities."""
    net = _net()
    x = torch.rand(3, 1, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = dropout_reference(unsure.MCDropout(net, samples=4), x, explainer)
    net.eval()
    c = net(x).argmax(1)
    vals, ws = [], []
    for bits in itertools.product([0, 1], repeat=3):
        m = torch.tensor(bits, dtype=torch.float64) / 0.7
        xi = x.clone().requires_grad_(True)
        out = net[4](net[2](net[1](net[0](xi))) * m)
        g, = torch.autograd.grad(out.gather(1, c[:, None]).sum(), xi)
        vals.append((g * xi if explainer == "inputgrad" else g).detach())
        ws.append(float(torch.tensor([0.7 if b else 0.3 for b in bits]).prod()))
    V = torch.stack(vals)
    w = torch.tensor(ws, dtype=torch.float64)[:, None, None, None, None]
    var = (((V - (V * w).sum(0)) ** 2) * w).sum(0).sum(1)  # [B,1,H,W] -> [B,H,W]
    assert var.abs().max() > 0
    torch.testing.assert_close(ref, var)


def test_the_reference_has_similarity_one_with_itself():
    x = torch.rand(2, 1, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ref = dropout_reference(unsure.MCDropout(_net(), samples=4), x)
    s = conveyance_similarity(ref * 3.0, ref)
    torch.testing.assert_close(s["spearman"], torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(s["cosine"], torch.ones(2, dtype=torch.float64))


def test_needs_mc_dropout():
    post = unsure.DeepEnsemble([nn.Sequential(nn.Flatten(), nn.Linear(12, 4))])
    with pytest.raises(UnsureError, match="MC-dropout"):
        dropout_reference(post, torch.rand(1, 1, 3, 4))


# ---- DropConnect -------------------------------------------------------------------------------
def _enumerated_variance(net, layer, p, x, c, explainer):
    """Exact variance over every Bernoulli(1-p)/(1-p) mask of ``layer``'s weight (class ``c`` fixed),
    by running the network with each masked weight swapped in."""
    w0 = layer.weight.detach().clone()
    vals, ws = [], []
    try:
        for bits in itertools.product([0, 1], repeat=w0.numel()):
            b = torch.tensor(bits, dtype=torch.float64).reshape(w0.shape)
            with torch.no_grad():
                layer.weight.copy_(w0 * b / (1 - p))
            xi = x.clone().requires_grad_(True)
            g, = torch.autograd.grad(net(xi).gather(1, c[:, None]).sum(), xi)
            vals.append((g * xi if explainer == "inputgrad" else g).detach())
            ws.append((1 - p) ** int(b.sum()) * p ** int(b.numel() - b.sum()))
    finally:
        with torch.no_grad():
            layer.weight.copy_(w0)
    V = torch.stack(vals)
    w = torch.tensor(ws, dtype=torch.float64)[:, None, None, None, None]
    assert abs(float(w.sum()) - 1) < 1e-12
    return (((V - (V * w).sum(0)) ** 2) * w).sum(0).sum(1)  # [B,1,H,W] -> [B,H,W]


@pytest.mark.parametrize("explainer", ["inputgrad", "grad"])
def test_dropconnect_reference_is_the_exact_variance_on_the_head(explainer):
    """Masks on the head of a ReLU net: the map of the predicted class is linear in them, so the
    reference is the exact variance over all 2^6 masks of the 3x2 head."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    x = torch.rand(3, 1, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    post = unsure.DropConnect(net, p=0.3, samples=4)
    assert post.layers == ["3"]
    ref = dropconnect_reference(post, x, explainer)
    c = net(x).argmax(1)
    var = _enumerated_variance(net, net[3], 0.3, x, c, explainer)
    assert var.abs().max() > 0
    torch.testing.assert_close(ref, var)
    torch.testing.assert_close(dropconnect_reference(post, x, explainer, chunk=5), ref)  # 12 = 5 + 5 + 2


def test_dropconnect_reference_on_a_first_layer_of_a_linear_net():
    """A linear net's input x gradient is linear in the first layer's masks too: exact over 2^8 masks."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.Linear(2, 3)).double()
    x = torch.rand(2, 1, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    ref = dropconnect_reference(unsure.DropConnect(net, p=0.6, layers=["1"]), x)
    var = _enumerated_variance(net, net[1], 0.6, x, net(x).argmax(1), "inputgrad")
    torch.testing.assert_close(ref, var)


def test_dropconnect_reference_matches_the_posteriors_own_members():
    """Monte Carlo over the posterior's own draws: the sample variance of the members' maps is
    within 5 of its standard errors (from the samples' fourth moments) of the reference."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    x = torch.rand(2, 1, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    S = 4000
    post = unsure.DropConnect(net, p=0.5, samples=S)
    ref = dropconnect_reference(post, x)
    c = net(x).argmax(1)
    maps = []
    for mem in post.draw(torch.Generator().manual_seed(0)).members:
        xi = x.clone().requires_grad_(True)
        g, = torch.autograd.grad(mem(xi).gather(1, c[:, None]).sum(), xi)
        maps.append((g * xi).detach().sum(1))  # [B,H,W]
    M = torch.stack(maps)  # [S,B,H,W]
    d = M - M.mean(0)
    var = d.pow(2).mean(0)
    se = ((d.pow(4).mean(0) - var ** 2) / S).sqrt()
    assert (ref > 0).all()
    assert ((var - ref).abs() <= 5 * se + 1e-12).all()


def test_dropconnect_reference_has_similarity_one_with_itself_and_scores():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.ReLU(), nn.Linear(3, 4)).double()
    post = unsure.DropConnect(net, p=0.5, samples=4)
    x = torch.rand(2, 1, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ref = dropconnect_reference(post, x)
    s = conveyance_similarity(ref * 3.0, ref)
    torch.testing.assert_close(s["spearman"], torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(s["cosine"], torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(covariance_reference(post, x), ref)
    # unsure.score runs the conveyance scorer on a DropConnect posterior by default
    sc = unsure.score(post, x, ref.float(), "epistemic", metrics=None)
    torch.testing.assert_close(sc.per_image["conveyance-spearman"], torch.ones(2, dtype=torch.float64))


def test_dropconnect_reference_needs_dropconnect():
    post = unsure.DeepEnsemble([nn.Sequential(nn.Flatten(), nn.Linear(12, 4))])
    with pytest.raises(UnsureError, match="DropConnect posterior"):
        dropconnect_reference(post, torch.rand(1, 1, 3, 4))
    with pytest.raises(UnsureError, match="MC-dropout or DropConnect"):
        covariance_reference(post, torch.rand(1, 1, 3, 4))
