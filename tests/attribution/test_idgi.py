"""IDGI (Yang et al. 2023) on every path: exact completeness at any step count, an explicit-loop
reference, and the analytic cases (linear model, zero gradients)."""
import pytest
import torch

from _pathkit import LOGIT0, Linear, Scalar, images, member_fn, tiny_ensemble
from unsure.attribution import attribute
from unsure.ops.blur import gaussian_blur


@pytest.mark.parametrize("steps", [4, 16, 100])
@pytest.mark.parametrize("method", ["idgi-ig", "idgi-blur-ig", "idgi-guided-ig"])
def test_exact_completeness(method, steps):
    post, x = tiny_ensemble(), images(2)
    a = attribute(post, x, method, LOGIT0, steps=steps)
    gap = a.meta["f_input"] - a.meta["f_reference"]
    assert gap.abs().min() > 1e-2  # a real change to explain
    torch.testing.assert_close(a.raw.flatten(1).sum(1), gap, rtol=0, atol=1e-10)
    assert a.meta["completeness_delta"].max() < 1e-10
    # the reference really is the path's start: black for IG/GIG, the blurred image for Blur IG
    ref = gaussian_blur(x, 50 * 8 / 224) if method == "idgi-blur-ig" else torch.zeros_like(x)
    torch.testing.assert_close(a.meta["f_reference"], member_fn(post)(ref), rtol=1e-12, atol=1e-12)


def _idgi_loop(fn, nodes, grad_at_start):
    """Yang et al. Algorithm 1 written out: one segment at a time."""
    attr = torch.zeros_like(nodes[0])
    for j in range(len(nodes) - 1):
        z = nodes[j] if grad_at_start else nodes[j + 1]
        zz = z.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(zz[None]).sum(), zz)
        df = (fn(nodes[j + 1][None]) - fn(nodes[j][None])).item()
        if g.norm() > 0:
            attr += g * g / (g * g).sum() * df
    return attr


def test_idgi_matches_loop_reference():
    post, x, T = tiny_ensemble(), images(2), 6
    fn = member_fn(post)
    ig = attribute(post, x, "idgi-ig", LOGIT0, steps=T, internal_batch=5).raw
    smax = 1.2
    blur = attribute(post, x, "idgi-blur-ig", LOGIT0, steps=T, sigma_max=smax).raw
    for b in range(2):
        line = [x[b] * j / T for j in range(T + 1)]
        torch.testing.assert_close(ig[b], _idgi_loop(fn, line, True), rtol=1e-10, atol=1e-13)
        # blur nodes from the most blurred (sigma_max) to x; the gradient at the less blurred end
        bl = [gaussian_blur(x[b:b + 1], (T - j) * smax / T)[0] for j in range(T + 1)]
        torch.testing.assert_close(blur[b], _idgi_loop(fn, bl, False), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("method", ["idgi-ig", "idgi-guided-ig", "idgi-blur-ig"])
def test_linear_model(method):
    """A constant gradient w gives A = w^2 / ||w||^2 * (f(x) - f(x')) on every path."""
    lin = Linear(3 * 8 * 8)
    x = images(2)
    a = attribute([lin], x, method, LOGIT0, steps=5)
    w2 = (lin.w ** 2 / (lin.w ** 2).sum()).reshape(3, 8, 8)
    gap = a.meta["f_input"] - a.meta["f_reference"]
    torch.testing.assert_close(a.raw, w2 * gap[:, None, None, None], rtol=1e-12, atol=1e-14)


def test_zero_gradient_steps_add_nothing():
    """f(x) = 1 - ReLU(1 - x1) (x2 unused): the gradient vanishes past x1 = 1, where f is flat."""
    model = Scalar(lambda z: 1 - torch.relu(1 - z[:, 0]))
    x = torch.tensor([3.0, 5.0], dtype=torch.float64).reshape(1, 1, 1, 2)
    a = attribute([model], x, "idgi-ig", LOGIT0, steps=7)
    assert torch.isfinite(a.raw).all()
    torch.testing.assert_close(a.raw.flatten(), torch.tensor([1.0, 0.0], dtype=torch.float64),
                               rtol=0, atol=1e-14)


def test_auto_steps_stops_at_once():
    """IDGI is complete at any step count: steps="auto" stops at the first try (16)."""
    post, x = tiny_ensemble(), images(2)
    a = attribute(post, x, "idgi-ig", LOGIT0, steps="auto", tol=1e-8)
    assert a.meta["steps"].tolist() == [16, 16]
