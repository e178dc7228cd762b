"""The default's fixed costs made cheaper without changing a number (issue 28,
docs/results/speed-scale.md): the blur references of a mixture in one ``gaussian_blur_many`` call,
its kernels cached, a draw's weights key read from the modules' own dicts, and ``keep_modes``
setting only the modes that changed. Each against an independent reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from unsure.attribution.ua_mixture import reference_image, reference_images
from unsure.modes import keep_modes
from unsure.ops.blur import gaussian_blur_many
from unsure.posteriors.base import _state_tensors


@pytest.mark.parametrize("shape", [(3, 1, 8, 8), (2, 3, 32, 32), (1, 2, 5, 7)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_blur_of_many_sigmas_is_each_sigma_alone(shape, dtype):
    x = torch.rand(*shape, dtype=dtype, generator=torch.Generator().manual_seed(0))
    sig = [1.0, 2.0, 4.0]
    many = gaussian_blur_many(x, sig)
    alone = torch.stack([gaussian_blur_many(x, [s])[0] for s in sig])
    assert torch.equal(many, alone)  # to the bit: each sigma keeps its own kernel radius
    assert many.dtype == dtype
    # a second call (the kernels now cached) gives the same, and a float64 call after a float32 one
    # gets float64 kernels
    assert torch.equal(gaussian_blur_many(x, sig), many)


def test_blur_of_many_sigmas_against_scipy():
    """Independent reference: scipy's mirror padding (torch's 'reflect'), radius ceil(3 sigma)
    (``truncate=3`` gives int(3 sigma + 0.5), the same radius at these sigmas) on a 32x32 image,
    where no radius is clipped."""
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    got = gaussian_blur_many(x, [1.0, 2.0, 4.0])
    for g, s in enumerate([1.0, 2.0, 4.0]):
        want = gaussian_filter(x.numpy(), sigma=[0, 0, s, s], mode="mirror", truncate=3.0)
        np.testing.assert_allclose(got[g].numpy(), want, rtol=1e-12, atol=1e-14)


def test_reference_images_are_the_per_item_references():
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    items = ["blur@1", "black", "blur@2", "mean", "blur@4", "blur", "white"]
    got = reference_images(x, items, 0.5)
    want = [reference_image(x, t, 0.5) for t in items]
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert torch.equal(a, b)
    one = reference_images(x, ["blur@2", "black"], 0.5)  # a single blur: no batching needed
    assert torch.equal(one[0], reference_image(x, "blur@2", 0.5))


class _Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
        self.b = self.a[0]  # a shared submodule: its weights once in parameters()
        self.register_buffer("scale", torch.ones(1))
        self.register_buffer("tmp", torch.zeros(1), persistent=False)
        self.fc = nn.Linear(3, 2, bias=False)


def test_state_tensors_are_parameters_and_buffers():
    m = _Shared()
    want = {id(t) for t in [*m.parameters(), *m.buffers()]}
    got = _state_tensors(m)
    assert {id(t) for t in got} == want
    assert len(got) == len(want)  # each module once


def test_keep_modes_restores_every_mode_also_after_an_error():
    m = _Shared()
    m.train()
    m.a[1].eval()
    before = [mm.training for mm in m.modules()]
    with pytest.raises(RuntimeError):
        with keep_modes(m):
            m.eval()
            m.a[1].train()
            raise RuntimeError("boom")
    assert [mm.training for mm in m.modules()] == before
    with keep_modes(m):
        pass  # nothing changed: nothing set
    assert [mm.training for mm in m.modules()] == before


def test_state_tensors_of_several_roots_visit_a_shared_module_once():
    m = _Shared()
    holder = nn.Sequential(m.a, nn.Linear(2, 2))  # holds m.a, as a Laplace member holds the trunk
    got = _state_tensors(m, holder)
    want = {id(t) for r in (m, holder) for t in [*r.parameters(), *r.buffers()]}
    assert {id(t) for t in got} == want and len(got) == len(want)
