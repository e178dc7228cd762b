"""Paths, the Gaussian blur, baselines and the streaming integrators."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from _pathkit import Quadratic, images
from unsure.ops.blur import gaussian_blur, gaussian_blur_dsigma
from unsure.attribution.baselines import make_reference, sample_baselines
from unsure.attribution.integrators import IDGI, Riemann, integrate, value_and_grad
from unsure.attribution.paths import BlurPath, GuidedPath, StraightLine
from unsure.errors import UnsureError


@pytest.mark.parametrize("sigma", [0.0, 0.05, 0.3, 1.7, 5.0, 12.0])
def test_blur_matches_scipy(sigma):
    x = images(2)
    ours = gaussian_blur(x, sigma)
    ref = np.stack([ndimage.gaussian_filter(xi.permute(1, 2, 0).numpy(), sigma=[sigma, sigma, 0],
                                            mode="constant") for xi in x])  # HWC, as PAIR blurs
    np.testing.assert_allclose(ours.permute(0, 2, 3, 1).numpy(), ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("sigma", [0.4, 1.3, 3.0])
def test_blur_analytic_derivative(sigma):
    x, h = images(2), 1e-6
    central = (gaussian_blur(x, sigma + h) - gaussian_blur(x, sigma - h)) / (2 * h)
    torch.testing.assert_close(gaussian_blur_dsigma(x, sigma), central, rtol=1e-6, atol=1e-8)
    assert torch.equal(gaussian_blur_dsigma(x, 0.0), torch.zeros_like(x))


def test_baselines():
    x = images(4)
    gen = torch.Generator().manual_seed(1)
    assert torch.equal(sample_baselines("black", x, 2)[1], torch.zeros_like(x))
    assert torch.equal(sample_baselines("white", x, 1)[0], torch.ones_like(x))
    far = sample_baselines("max-distance", x)[0]
    assert torch.equal(far, (x < 0.5).double())  # the range end farther from each feature
    assert torch.allclose((far - x).abs(), torch.maximum(x, 1 - x))
    assert torch.equal(sample_baselines("blur", x, blur_sigma=1.0)[0], gaussian_blur(x, 1.0))
    u = sample_baselines("uniform", x, 3, generator=gen, value_range=(-1, 2))
    assert u.shape == (3, *x.shape) and u.min() >= -1 and u.max() <= 2 and u.std() > 0.5
    g = sample_baselines("gaussian", x, 3, generator=gen, gaussian_sigma=0.1)
    assert g.min() >= 0 and g.max() <= 1 and 0.05 < (g - x).std() < 0.1
    data = torch.rand(6, *x.shape[1:], dtype=x.dtype)
    d = sample_baselines("training-data", x, 5, generator=gen, data=data)
    assert all(any(torch.equal(di, row) for row in data) for di in d.flatten(0, 1))
    # same generator seed, same draws
    a = sample_baselines("uniform", x, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, sample_baselines("uniform", x, 2, generator=torch.Generator().manual_seed(3)))
    with pytest.raises(UnsureError, match="training-data"):
        sample_baselines("training-data", x)
    with pytest.raises(UnsureError, match="unknown baseline"):
        sample_baselines("grey", x)
    with pytest.raises(UnsureError, match="broadcast"):
        make_reference(torch.zeros(2, 2), x)
    assert torch.equal(make_reference(0.5, x), torch.full_like(x, 0.5))


def _all_nodes(path, x, steps, chunk, grad=None):
    walk, out = path.walk(x, steps, chunk), []
    nodes = next(walk)
    while True:
        out.append(nodes)
        g = torch.zeros_like(nodes.points) if grad is None else grad(nodes.points)
        try:
            nodes = walk.send(g)
        except StopIteration:
            return out


def test_straight_line_nodes():
    x, ref = images(2), torch.full((2, 3, 8, 8), 0.2, dtype=torch.float64)
    chunks = _all_nodes(StraightLine(ref), x, 10, 4)
    assert [c.points.shape[0] for c in chunks] == [4, 4, 3]
    pts = torch.cat([c.points for c in chunks])
    assert torch.equal(pts[0], ref) and torch.equal(pts[-1], x)
    torch.testing.assert_close(pts[3], ref + 0.3 * (x - ref))
    deltas = torch.cat([c.deltas for c in chunks])
    torch.testing.assert_close(deltas[:-1].sum(0), x - ref)
    assert torch.equal(deltas[-1], torch.zeros_like(x))


def test_blur_path_nodes():
    x = images(2)
    path = BlurPath(sigma_max=2.0)
    pts = torch.cat([c.points for c in _all_nodes(path, x, 8, 3)])
    assert torch.equal(pts[0], gaussian_blur(x, 2.0)) and torch.equal(pts[-1], x)
    auto = BlurPath()
    assert auto.sigma_of(torch.zeros(1, 1, 224, 224)) == 50.0  # paper's ImageNet setting
    assert auto.sigma_of(torch.zeros(1, 1, 28, 28)) == pytest.approx(6.25)  # scaled to the side
    with pytest.raises(UnsureError):
        BlurPath(derivative="spline")


def test_guided_path_schedule():
    """Every node t keeps each feature within max_dist of alpha = t/T (after its lagging features
    were pulled up) and meets the L1 target L1_total * (1 - t/T); the path ends at x."""
    q = Quadratic(3 * 8 * 8)
    x, T, md = images(3), 10, 0.05
    ref = torch.zeros_like(x)
    grad = lambda p: q.grad(p.flatten(2)).reshape(p.shape)  # noqa: E731
    pts = torch.cat([c.points for c in _all_nodes(GuidedPath(ref, 0.25, md), x, T, 1, grad)])
    assert pts.shape[0] == T + 1 and torch.equal(pts[-1], x) and torch.equal(pts[0], ref)
    l1_total = (x - ref).abs().flatten(1).sum(1)
    for t in range(1, T):
        a = ((pts[t] - ref) / (x - ref)).flatten(1)
        assert a.min() >= t / T - md - 1e-12 and a.max() <= t / T + md + 1e-12
        l1 = (pts[t] - x).abs().flatten(1).sum(1)
        torch.testing.assert_close(l1, l1_total * (1 - t / T), rtol=1e-9, atol=1e-9)
    with pytest.raises(UnsureError, match="fraction"):
        GuidedPath(fraction=0)


@pytest.mark.parametrize("integrator", ["riemann", "idgi"])
@pytest.mark.parametrize("make", [lambda: StraightLine(0.1), lambda: BlurPath(1.5),
                                  lambda: GuidedPath(0.1)])
def test_streaming_does_not_change_the_result(integrator, make):
    q = Quadratic(3 * 8 * 8, seed=2)
    fn = lambda z: q(z)[:, 0]  # noqa: E731
    x = images(2)
    one = integrate(make(), x, fn, 9, integrator, chunk=100)
    for chunk in (1, 4):
        other = integrate(make(), x, fn, 9, integrator, chunk=chunk)
        torch.testing.assert_close(other.attr, one.attr, rtol=1e-12, atol=1e-14)


def test_integrators_by_hand():
    """Two segments written out: Riemann and IDGI (including a zero gradient, which adds 0)."""
    from unsure.attribution.paths import Nodes
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]], dtype=torch.float64).reshape(3, 1, 1, 1, 2)
    g = torch.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float64).reshape(3, 1, 1, 1, 2)
    f = torch.tensor([[0.0], [5.0], [7.0]], dtype=torch.float64)
    r = Riemann("start")
    r.update(Nodes(z, None), f, g)
    torch.testing.assert_close(r.attr.flatten(), torch.tensor([3.0, 0.0], dtype=torch.float64))
    i = IDGI("start")
    i.update(Nodes(z[:2], None), f[:2], g[:2])
    i.update(Nodes(z[2:], None), f[2:], g[2:])
    # segment 0: g=(3,4), df=5 -> (9/25, 16/25)*5; segment 1: g=0 adds 0
    torch.testing.assert_close(i.attr.flatten(), torch.tensor([1.8, 3.2], dtype=torch.float64))
    e = IDGI("end")
    e.update(Nodes(z, None), f, g)  # segment 0 uses g at z_1 (zero), segment 1 g at z_2
    torch.testing.assert_close(e.attr.flatten(), torch.tensor([1.0, 1.0], dtype=torch.float64))


def test_value_and_grad_checks_target_shape():
    with pytest.raises(UnsureError, match="one value per image"):
        value_and_grad(lambda p: p.sum(), torch.zeros(2, 3, 1, 2, 2))
