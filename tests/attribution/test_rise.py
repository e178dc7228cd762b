"""RISE: a slow per-mask, per-image loop with independently built masks, a model whose target only
sees one region, and seeded reproducibility."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from _pathkit import B, images, tiny_ensemble
from unsure.attribution import METHODS, attribute
from unsure.attribution.rise import RISE, rise_masks
from unsure.errors import UnsureError
from unsure.measures import ClassScore, epistemic
from unsure.posteriors import DeepEnsemble

SIDE, REGION = 12, (slice(2, 5), slice(7, 10))


class RegionLogit(nn.Module):
    """Logits ``[a * mean(x over REGION), 0]``: nothing outside REGION matters."""

    def __init__(self, a: float):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))

    def forward(self, x):
        r = x[:, :, REGION[0], REGION[1]].mean((1, 2, 3))
        return torch.stack([self.a * r, torch.zeros_like(r)], -1)


def _region_mask():
    m = torch.zeros(SIDE, SIDE, dtype=torch.bool)
    m[REGION] = True
    return m


def _reference_masks(n, cell, p, H, W, gen, dtype):
    """Masks built one by one from the same draws (grid, row shift, column shift)."""
    grid = (torch.rand((n, cell, cell), generator=gen) < p).to(dtype)
    ch, cw = math.ceil(H / cell), math.ceil(W / cell)
    sy = torch.randint(0, ch, (n,), generator=gen)
    sx = torch.randint(0, cw, (n,), generator=gen)
    out = []
    for i in range(n):
        big = F.interpolate(grid[i][None, None], size=((cell + 1) * ch, (cell + 1) * cw),
                            mode="bilinear", align_corners=False)[0, 0]
        out.append(big[sy[i]:sy[i] + H, sx[i]:sx[i] + W])
    return torch.stack(out)


def test_registered():
    assert METHODS.get("rise") is RISE


@pytest.mark.parametrize("target", ["epistemic", ClassScore(None, "prob")])
def test_matches_slow_reference_loop(target):
    post, x, n, cell, p = tiny_ensemble(), images(), 40, 3, 0.4
    res = attribute(post, x, "rise", target, masks=n, cell=cell, p=p, mask_batch=7,
                    generator=torch.Generator().manual_seed(4))
    masks = _reference_masks(n, cell, p, 8, 8, torch.Generator().manual_seed(4), x.dtype)
    with torch.no_grad():
        idx = torch.softmax(torch.stack([m(x) for m in post.members]), -1).mean(0).argmax(-1)
        ref = torch.zeros(B, 8, 8, dtype=x.dtype)
        for b in range(B):
            for i in range(n):
                z = torch.stack([m(x[b:b + 1] * masks[i]) for m in post.members])  # [S,1,K]
                if isinstance(target, ClassScore):
                    f = torch.softmax(z, -1).mean(0)[0, idx[b]]
                else:
                    f = epistemic(z)[0]
                ref[b] += f * masks[i]
    torch.testing.assert_close(res.maps, ref / (n * p))
    assert res.raw is None and res.meta["f_input"].shape == (B,)


def test_masks_shape_range_and_keep_rate():
    m = rise_masks(400, 4, 0.3, (10, 14), torch.Generator().manual_seed(0))
    assert m.shape == (400, 10, 14)
    assert m.min() >= 0 and m.max() <= 1 + 1e-6  # bilinear weights sum to 1 up to rounding
    assert m.mean().item() == pytest.approx(0.3, abs=0.03)
    torch.testing.assert_close(m, _reference_masks(400, 4, 0.3, 10, 14, torch.Generator().manual_seed(0),
                                                   torch.float32))


@pytest.mark.parametrize("target", ["epistemic", ClassScore(0, "logit")])
def test_map_is_highest_on_the_region_the_target_depends_on(target):
    """Class logit 0 of one member, or epistemic uncertainty of two members that disagree more
    the brighter REGION is: either way RISE must light up REGION."""
    post = DeepEnsemble([RegionLogit(6.0), RegionLogit(-6.0)]) if target == "epistemic" \
        else DeepEnsemble([RegionLogit(6.0)])
    x = 0.5 + 0.5 * torch.rand(2, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(1))
    maps = attribute(post, x, "rise", target, masks=1000, cell=6, p=0.5,
                     generator=torch.Generator().manual_seed(2)).maps
    inside = _region_mask()
    for b in range(2):
        peak = divmod(int(maps[b].argmax()), SIDE)
        assert inside[peak], f"peak at {peak}"
        assert maps[b][inside].mean() > maps[b][~inside].mean() + 3 * maps[b][~inside].std()


def test_seeded_reproducible_and_independent_of_mask_batch():
    post, x = tiny_ensemble(), images()
    run = lambda seed, mb: attribute(post, x, "rise", "epistemic", masks=30, cell=4, mask_batch=mb,
                                     generator=torch.Generator().manual_seed(seed)).maps
    a = run(0, 30)
    torch.testing.assert_close(run(0, 30), a, rtol=0, atol=0)
    torch.testing.assert_close(run(0, 4), a)
    assert not torch.allclose(run(1, 30), a)


def test_input_unchanged_and_bad_options():
    post, x = tiny_ensemble(), images()
    x0 = x.clone()
    attribute(post, x, "rise", "epistemic", masks=5, cell=2)
    torch.testing.assert_close(x, x0, rtol=0, atol=0)
    for opts, match in [({"masks": 0}, "masks"), ({"cell": 0}, "cell"), ({"p": 0.0}, "p"),
                        ({"p": 1.5}, "p"), ({"mask_batch": -1}, "mask_batch")]:
        with pytest.raises(UnsureError, match=match):
            RISE(**opts)
