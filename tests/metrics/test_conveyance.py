import itertools

import pytest
import torch
from torch import nn

import unsure
from unsure.errors import UnsureError
from unsure.metrics import conveyance_similarity, dropout_reference


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
