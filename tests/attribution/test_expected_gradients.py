"""Expected Gradients: Captum's GradientShap with the same draws, an explicit loop over the
same draws for every baseline, the linear case and agreement with IG in the limit."""
import numpy as np
import pytest
import torch

from _pathkit import LOGIT0, Linear, images, member_fn, tiny_ensemble
from unsure.attribution import attribute, make_method
from unsure.attribution.expected_gradients import expected_gradients
from unsure.errors import UnsureError

BASELINES = ["black", "white", "max-distance", "blur", "uniform", "gaussian", "training-data"]


def _data(n=6):
    return torch.rand(n, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(9))


def test_matches_captum_gradient_shap():
    """GradientShap with stdevs=0 is Expected Gradients over its baseline set. Captum draws, with
    numpy's global RNG, first the baseline indices then the alphas for the expanded batch (image b,
    sample j at row b*N + j); we replay the same draws."""
    GradientShap = pytest.importorskip("captum.attr").GradientShap

    post, x, data, n = tiny_ensemble(), images(), _data(), 8
    fn = member_fn(post)
    np.random.seed(123)
    theirs = GradientShap(fn).attribute(x, baselines=data, n_samples=n, stdevs=0.0)
    np.random.seed(123)
    idx = np.random.choice(data.shape[0], n * x.shape[0])
    alpha = np.random.uniform(0.0, 1.0, n * x.shape[0])
    refs = data[torch.from_numpy(idx)].reshape(x.shape[0], n, *x.shape[1:]).transpose(0, 1)  # [B,N] -> [N,B]
    alphas = torch.from_numpy(alpha).reshape(x.shape[0], n).T
    ours, _ = expected_gradients(fn, x, refs, alphas, chunk=3)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


def _loop_reference(fn, x, refs, alphas):
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):
        for j in range(refs.shape[0]):
            z = (refs[j, b] + alphas[j, b] * (x[b] - refs[j, b]))[None].requires_grad_(True)
            (g,) = torch.autograd.grad(fn(z).sum(), z)
            out[b] += (x[b] - refs[j, b]) * g[0] / refs.shape[0]
    return out


@pytest.mark.parametrize("baseline", BASELINES)
def test_matches_loop_reference(baseline):
    post, x, n = tiny_ensemble(), images(3), 4
    kw = {"data": _data()} if baseline == "training-data" else {}
    a = attribute(post, x, "expected-gradients", LOGIT0, baseline=baseline, samples=n,
                  generator=torch.Generator().manual_seed(1), internal_batch=7, **kw)
    refs, alphas = make_method("expected-gradients", baseline=baseline, samples=n, **kw).draws(
        x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.raw, _loop_reference(member_fn(post), x, refs, alphas),
                               rtol=1e-10, atol=1e-13)
    assert a.maps.shape == (3, 8, 8) and a.meta["completeness_delta"].shape == (3,)


def test_linear_model():
    """For f = w.x + c: EG = w * (x - mean_j x'_j) whatever the alphas."""
    lin, x, data = Linear(3 * 8 * 8), images(2), _data()
    m = make_method("expected-gradients", baseline="training-data", samples=5, data=data)
    refs, _ = m.draws(x, torch.Generator().manual_seed(2))
    a = m.attribute([lin], x, LOGIT0, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a.raw, lin.w.reshape(3, 8, 8) * (x - refs.mean(0)), rtol=1e-12, atol=1e-12)
    assert a.meta["completeness_delta"].max() < 1e-12  # exact for a linear f


def test_black_baseline_approaches_ig():
    """With a constant baseline EG is IG with random alphas: it converges to IG."""
    post, x = tiny_ensemble(), images(2)
    eg = attribute(post, x, "expected-gradients", LOGIT0, samples=1500,
                   generator=torch.Generator().manual_seed(0)).raw
    ig = attribute(post, x, "ig", LOGIT0, steps=200).raw
    assert (eg - ig).norm() / ig.norm() < 0.1


def test_reproducible_and_options():
    post, x = tiny_ensemble(), images(2)
    run = lambda s: attribute(post, x, "expected-gradients", LOGIT0, baseline="uniform",  # noqa: E731
                              samples=3, generator=torch.Generator().manual_seed(s)).raw
    assert torch.equal(run(4), run(4)) and not torch.equal(run(4), run(5))
    with pytest.raises(UnsureError, match="data="):
        make_method("expected-gradients", baseline="training-data")
    with pytest.raises(UnsureError, match="unknown baseline"):
        make_method("expected-gradients", baseline="zeros")
    with pytest.raises(UnsureError, match="samples"):
        make_method("expected-gradients", samples=0)


def test_training_data_baseline_accepts_a_data_spec():
    from unsure.attribution import make_method
    from unsure.data import load

    m = make_method("expected-gradients", baseline="training-data", data="digits", samples=3)
    assert torch.equal(m.data, load("digits", "train").x)
    assert m.options()["data_spec"] == "digits"
