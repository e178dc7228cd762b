"""Tiny float64 models shared by the path-method tests (IG, Blur IG, Guided IG, IDGI, EG)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from unsure.measures import ClassScore
from unsure.posteriors import DeepEnsemble

S, B, K, C, H, W = 3, 5, 7, 3, 8, 8
LOGIT0 = ClassScore(0, "logit")  # f = mean over members of logit 0


def tiny_net(seed: int, k: int = K) -> nn.Module:
    """A smooth 2-conv net on 3x8x8 images (softplus: the Riemann error shrinks with the steps)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(C, 4, 3, padding=1), nn.Softplus(), nn.Conv2d(4, 4, 3, padding=1), nn.Softplus(),
        nn.Flatten(), nn.Linear(4 * H * W, k),
    ).double().eval()
    with torch.no_grad():  # 4x the default init: f changes by O(1) along a curved path
        for p in net.parameters():
            p.mul_(4)
    return net


def tiny_ensemble(s: int = S) -> DeepEnsemble:
    return DeepEnsemble([tiny_net(10 + i) for i in range(s)])


def images(b: int = B, seed: int = 0) -> Tensor:
    return torch.rand(b, C, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


class Scalar(nn.Module):
    """Wraps a scalar function of the flattened image as logits ``[B,2] = (f(x), 0)``."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        f = self.fn(x.flatten(1))
        return torch.stack([f, torch.zeros_like(f)], -1)


class Linear(Scalar):
    def __init__(self, n: int, seed: int = 0):
        self.w = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        super().__init__(lambda z: z @ self.w + 0.3)


class Quadratic(Scalar):
    """``f(z) = 0.5 z^T Q z + b^T z``, gradient ``Q z + b``."""

    def __init__(self, n: int, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        a = torch.randn(n, n, dtype=torch.float64, generator=gen)
        self.Q = (a + a.T) / 2
        self.b = torch.randn(n, dtype=torch.float64, generator=gen)
        super().__init__(lambda z: 0.5 * ((z @ self.Q) * z).sum(-1) + z @ self.b)

    def grad(self, z: Tensor) -> Tensor:
        return z @ self.Q + self.b


def member_fn(posterior, target=LOGIT0):
    """``f(x [m,C,H,W]) -> [m]`` through a fresh draw (for reference implementations)."""
    draw = posterior.draw()
    return lambda x: target(draw(x))
