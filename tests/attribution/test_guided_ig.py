"""Guided IG (Kapishnikov et al. 2021) against an explicit per-image reference of Algorithm 1 and
against analytic models (linear: exact; quadratic: exact path integral of the produced path).
PAIR saliency's Guided IG cannot run as an oracle (np.quantile(interpolation=) is gone in numpy 2)."""
import numpy as np
import pytest
import torch

from _pathkit import LOGIT0, Quadratic, images, tiny_ensemble
from unsure.attribution import attribute
from unsure.attribution.paths import GuidedPath

N = 3 * 8 * 8


def guided_reference(x, x0, grad, T, fraction, max_dist):
    """Algorithm 1 for one image, in numpy, one feature selection at a time.

    Returns the nodes ``[T+1, N]`` and the Riemann attribution ``sum_t g(z_t) (z_{t+1} - z_t)``.
    """
    diff = x - x0
    l1_total = np.abs(diff).sum()
    cur, nodes, attr = x0.copy(), [x0.copy()], np.zeros_like(x)
    for t in range(T):
        g = grad(cur)
        alpha = (t + 1) / T
        lo, hi = max(alpha - max_dist, 0), min(alpha + max_dist, 1)
        x_lo, x_hi, target = x0 + lo * diff, x0 + hi * diff, l1_total * (1 - alpha)
        new = cur.copy()
        for _ in range(1000):
            a = np.where(diff != 0, (new - x0) / np.where(diff != 0, diff, 1), hi)
            new[a < lo] = x_lo[a < lo]  # catch up with the schedule
            l1 = np.abs(new - x).sum()
            if np.isclose(l1, target, rtol=1e-9, atol=1e-9):
                break
            ag = np.abs(g)
            ag[new == x_hi] = np.inf  # already as far as this step allows
            thr = np.quantile(ag, fraction, method="lower")
            sel = (ag <= thr) & np.isfinite(ag)
            l1_sel = np.abs(new - x_hi)[sel].sum()
            gamma = (l1 - target) / l1_sel if l1_sel > 0 else np.inf
            if gamma > 1:
                new[sel] = x_hi[sel]
            else:
                new[sel] = new[sel] + gamma * (x_hi[sel] - new[sel])
                break
        if t == T - 1:
            new = x.copy()
        attr += g * (new - cur)
        cur = new
        nodes.append(cur.copy())
    return np.stack(nodes), attr


def _setup(seed=0, b=3):
    q = Quadratic(N, seed=seed)
    x = images(b, seed=seed)
    ref = torch.rand(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(seed + 7)) * 0.3
    ref[:, :, :2] = x[:, :, :2]  # features where x == x' (never move)
    return q, x, ref


@pytest.mark.parametrize("T,fraction,max_dist", [(12, 0.25, 0.02), (7, 0.1, 0.1), (5, 0.5, 0.0)])
def test_matches_per_image_reference(T, fraction, max_dist):
    q, x, ref = _setup()
    a = attribute([q], x, "guided-ig", LOGIT0, steps=T, reference=ref, fraction=fraction,
                  max_dist=max_dist)
    grad = lambda z: q.grad(torch.from_numpy(z)).numpy()  # noqa: E731
    for b in range(x.shape[0]):
        _, attr = guided_reference(x[b].flatten().numpy(), ref[b].flatten().numpy(), grad, T,
                                   fraction, max_dist)
        np.testing.assert_allclose(a.raw[b].flatten().numpy(), attr, rtol=1e-10, atol=1e-12)


def _walk(path, x, T, grad):
    walk = path.walk(x, T, 1)
    nodes, pts = next(walk), []
    while True:
        pts.append(nodes.points[0])
        try:
            nodes = walk.send(grad(nodes.points))
        except StopIteration:
            return torch.stack(pts)  # [T+1,B,C,H,W]


def test_quadratic_exact_path_integral():
    """On f = z'Qz/2 + b'z the exact integral over a segment d from z is (g(z) + Q d / 2) * d per
    feature. Summed over the guided path it is f(x) - f(x'), and the Riemann sum misses exactly
    sum_t (Q d_t / 2) * d_t."""
    q, x, ref = _setup(seed=1, b=2)
    T = 10
    grad = lambda p: q.grad(p.flatten(2)).reshape(p.shape)  # noqa: E731
    pts = _walk(GuidedPath(ref), x, T, grad).flatten(2)  # [T+1,B,N]
    d = pts[1:] - pts[:-1]
    g = q.grad(pts[:-1])
    exact = ((g + 0.5 * d @ q.Q) * d).sum(0)  # [B,N] exact per-feature path integral
    f = lambda z: q(z.reshape(-1, 3, 8, 8))[:, 0]  # noqa: E731
    torch.testing.assert_close(exact.sum(1), f(x) - f(ref), rtol=1e-12, atol=1e-12)
    a = attribute([q], x, "guided-ig", LOGIT0, steps=T, reference=ref)
    riemann_gap = (0.5 * (d @ q.Q) * d).sum(0)
    torch.testing.assert_close(a.raw.flatten(1) + riemann_gap, exact, rtol=1e-10, atol=1e-12)
    # the guided path is not the straight line: its Riemann sum differs from IG's
    ig = attribute([q], x, "ig", LOGIT0, steps=T, reference=ref)
    assert (ig.raw - a.raw).abs().max() > 1e-3


def test_batched_equals_per_image_and_completeness_converges():
    post, x = tiny_ensemble(), images(3)
    full = attribute(post, x, "guided-ig", LOGIT0, steps=8)
    for b in range(3):
        one = attribute(post, x[b:b + 1], "guided-ig", LOGIT0, steps=8)
        torch.testing.assert_close(one.raw[0], full.raw[b], rtol=1e-12, atol=1e-14)
    errs = [attribute(post, x, "guided-ig", LOGIT0, steps=T).meta["completeness_delta"].max().item()
            for T in (4, 16, 64)]
    assert errs[2] < errs[1] < errs[0] and errs[2] < 2e-2, errs
