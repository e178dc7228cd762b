"""Attention formulas against loop references (float64), lambda = 0 exactness, hook removal."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from unsure.errors import UnsureError
from unsure.mitigation import AttendedNet, attention_weights, latent_attention, normalise_map, pack, scale
from unsure.models import ARCHS


# ---------------------------------------------------------------- slow, obviously-correct references
def ref_mhat(m):
    """Softmax over all pixels of one map [H][W] (lists), then min-max to [0, 1]."""
    flat = [v for row in m for v in row]
    z = sum(math.exp(v) for v in flat)
    soft = [math.exp(v) / z for v in flat]
    lo, hi = min(soft), max(soft)
    W = len(m[0])
    out = [(s - lo) / (hi - lo) if hi > lo else 0.0 for s in soft]
    return [out[i * W:(i + 1) * W] for i in range(len(m))]


def ref_xhat(img):
    """Channel mean of one image [C][H][W], min-max to [0, 1]."""
    C, H, W = len(img), len(img[0]), len(img[0][0])
    mean = [[sum(img[c][i][j] for c in range(C)) / C for j in range(W)] for i in range(H)]
    flat = [v for row in mean for v in row]
    lo, hi = min(flat), max(flat)
    return [[(v - lo) / (hi - lo) if hi > lo else 0.0 for v in row] for row in mean]


def ref_attention(maps, x, kind):
    out = []
    for m, img in zip(maps.tolist(), x.tolist()):
        mh, xh = ref_mhat(m), ref_xhat(img)
        out.append([[{"map": a, "inverse": 1 - a, "inverse-input": (1 - a) * b}[kind]
                     for a, b in zip(ra, rb)] for ra, rb in zip(mh, xh)])
    return torch.tensor(out, dtype=torch.float64)


def ref_bilinear(a, h, w):
    """PyTorch's bilinear resize with align_corners=False, one [H][W] map, by loops."""
    H, W = len(a), len(a[0])

    def src(d, n_in, n_out):
        s = max((d + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(int(s), n_in - 1)
        i1 = i0 + 1 if i0 < n_in - 1 else i0
        return i0, i1, s - i0

    out = [[0.0] * w for _ in range(h)]
    for i in range(h):
        y0, y1, wy = src(i, H, h)
        for j in range(w):
            x0, x1, wx = src(j, W, w)
            out[i][j] = ((1 - wy) * ((1 - wx) * a[y0][x0] + wx * a[y0][x1])
                         + wy * ((1 - wx) * a[y1][x0] + wx * a[y1][x1]))
    return out


# ---------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("kind", ["map", "inverse", "inverse-input"])
def test_formulas_match_loop_reference(kind):
    g = torch.Generator().manual_seed(1)
    maps = torch.rand(3, 5, 4, generator=g, dtype=torch.float64) * 3  # B=3, H=5, W=4 (non-square)
    x = torch.rand(3, 2, 5, 4, generator=g, dtype=torch.float64)  # C=2
    A = attention_weights(maps, x, kind)
    assert A.dtype == torch.float64 and A.shape == (3, 5, 4)
    assert torch.allclose(A, ref_attention(maps, x, kind), atol=1e-12, rtol=0)


def test_hand_built_maps_known_values():
    maps = torch.zeros(2, 3, 3, dtype=torch.float64)
    maps[0, 1, 2] = 5.0  # one hot pixel
    maps[1] = 7.0  # constant map: no information -> Mhat = 0
    x = torch.zeros(2, 1, 3, 3, dtype=torch.float64)
    x[:, 0, 0, 0] = 2.0  # one bright pixel -> xhat is one-hot there
    mhat = normalise_map(maps)
    expect = torch.zeros(2, 3, 3, dtype=torch.float64)
    expect[0, 1, 2] = 1.0
    assert torch.equal(mhat, expect)
    assert torch.equal(attention_weights(maps, x, "inverse"), 1 - expect)
    inv_in = attention_weights(maps, x, "inverse-input")
    assert inv_in[0, 0, 0] == 1.0 and inv_in[1, 0, 0] == 1.0 and inv_in.sum() == 2.0


def test_scale_matches_loop_bilinear():
    g = torch.Generator().manual_seed(2)
    A = torch.rand(2, 7, 6, generator=g, dtype=torch.float64)
    F = torch.rand(2, 3, 4, 5, generator=g, dtype=torch.float64)  # [B,C,h,w], h != w
    out = scale(F, A, 0.7)
    ref = torch.stack([torch.tensor(ref_bilinear(a.tolist(), 4, 5), dtype=torch.float64) for a in A])
    assert torch.allclose(out, (1 + 0.7 * ref[:, None]) * F, atol=1e-12, rtol=0)


def test_latent_attention_rescales_the_last_conv_features():
    torch.manual_seed(0)
    net = ARCHS.get("mitigation-cnn")(in_channels=2, num_classes=7, image_size=10).double().eval()
    x = torch.rand(5, 2, 10, 10, dtype=torch.float64)
    A = torch.rand(5, 10, 10, dtype=torch.float64)
    lam = 0.4
    # by hand: F [5,32,6,6] scaled with A resized by the loop reference, then the rest of the net
    F = net.relu2(net.conv2(net.relu1(net.conv1(x))))
    Ar = torch.stack([torch.tensor(ref_bilinear(a.tolist(), 6, 6), dtype=torch.float64) for a in A])
    h = net.drop1(net.pool((1 + lam * Ar[:, None]) * F)).flatten(1)
    expect = net.fc3(net.relu4(net.fc2(net.drop2(net.relu3(net.fc1(h))))))
    out = AttendedNet(net, lam, "latent", channels=2)(pack(x, A))
    assert torch.allclose(out, expect, atol=1e-12, rtol=0)
    out_in = AttendedNet(net, lam, "input", channels=2)(pack(x, A))
    assert torch.allclose(out_in, net((1 + lam * A[:, None]) * x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("space", ["latent", "input"])
def test_lambda_zero_is_exactly_the_plain_model(space):
    torch.manual_seed(0)
    net = ARCHS.get("mitigation-cnn")(in_channels=1, num_classes=10, image_size=12).eval()
    x = torch.rand(4, 1, 12, 12)
    A = torch.rand(4, 12, 12)
    xa = pack(x, A)
    before = xa.clone()
    assert torch.equal(AttendedNet(net, 0.0, space, 1)(xa), net(x))
    assert torch.equal(xa, before)  # input not modified in place
    assert not net.feature_layer._forward_hooks


class Exploding(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.act = nn.ReLU()

    @property
    def feature_layer(self):
        return self.act

    def forward(self, x):
        self.act(self.conv(x))
        raise RuntimeError("boom")


def test_hook_removed_after_exception():
    net = Exploding()
    with pytest.raises(RuntimeError, match="boom"):
        AttendedNet(net, 0.5, "latent", 1)(pack(torch.rand(2, 1, 6, 6), torch.rand(2, 6, 6)))
    assert not net.act._forward_hooks
    with pytest.raises(KeyError):
        with latent_attention(net.act, torch.rand(2, 6, 6), 0.5):
            assert len(net.act._forward_hooks) == 1
            raise KeyError("x")
    assert not net.act._forward_hooks


def test_clear_errors():
    x, m = torch.rand(2, 1, 4, 4), torch.rand(2, 4, 4)
    with pytest.raises(UnsureError, match="attention"):
        attention_weights(m, x, "nope")
    with pytest.raises(UnsureError, match=r"\[B,H,W\]"):
        attention_weights(torch.rand(2, 3, 4), x)
    with pytest.raises(UnsureError, match="NaN"):
        attention_weights(torch.full((2, 4, 4), float("nan")), x)
    net = ARCHS.get("mitigation-cnn")(image_size=8)
    with pytest.raises(UnsureError, match="space"):
        AttendedNet(net, 0.2, "middle")
    with pytest.raises(UnsureError, match=">= 0"):
        AttendedNet(net, -1.0)
    with pytest.raises(UnsureError, match=r"\[B,2,H,W\]"):
        AttendedNet(net, 0.2)(torch.rand(2, 1, 8, 8))


def test_fitted_temperature_minimises_held_out_nll_and_keeps_predictions():
    from unsure.mitigation import RetrainConfig, evaluate, fit_temperature, retrain

    g = torch.Generator().manual_seed(0)
    x = torch.rand(60, 1, 8, 8, generator=g)
    y = (x.mean((1, 2, 3)) > x.mean()).long()  # learnable, so the net grows over-confident
    A = torch.zeros(60, 8, 8)
    net, _ = retrain(x[:40], y[:40], A[:40], RetrainConfig(lam=0.0, epochs=30, batch_size=8, lr=0.05),
                     seed=0, num_classes=2)
    xv, yv, Av = x[40:], y[40:], A[40:]
    T = fit_temperature(net, xv, yv, Av)
    at = {t: evaluate(net, xv, yv, Av, temperature=t) for t in (0.5, 1.0, 2.0, 4.0, T)}
    # on the images it was fitted on, no temperature of the grid beats it; accuracy never moves
    assert all(at[T]["nll"] <= m["nll"] + 1e-9 for m in at.values())
    assert len({m["accuracy"] for m in at.values()}) == 1
    with pytest.raises(UnsureError, match="temperature"):
        evaluate(net, xv, yv, Av, temperature=0.0)
