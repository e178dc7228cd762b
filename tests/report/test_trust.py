"""The report's "which map to trust": the substitute panel per image, its verdict, and fractions
of at least a few pixels on small images."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from unsure.report.trust import MIN_PIXELS, effective_fraction, run_panel


def test_small_images_get_at_least_a_few_pixels():
    assert effective_fraction(0.02, 8, 8) == MIN_PIXELS / 64  # 2% of 64 would be one pixel
    assert effective_fraction(0.02, 28, 28) == 0.02  # 16 pixels: unchanged
    assert effective_fraction(0.1, 8, 8) == 0.1
    assert effective_fraction(0.02, 1, 2) == 1.0


class OnePixel(nn.Module):
    """Logits ``[w * x[0,0], 0]``: two such members with w = +-8 disagree only through pixel (0,0)."""

    def __init__(self, w: float):
        super().__init__()
        self.w = w

    def forward(self, x):
        a = self.w * x[:, 0, 0, 0]
        return torch.stack([a, torch.zeros_like(a)], -1)


def test_the_map_on_the_uncertain_pixel_is_trusted():
    from unsure.posteriors import DeepEnsemble

    post = DeepEnsemble([OnePixel(8.0), OnePixel(-8.0)])
    x = torch.full((2, 1, 8, 8), 0.2)
    x[:, 0, 0, 0] = 0.9
    good = torch.zeros(2, 8, 8)
    good[:, 0, 0] = 1.0
    bad = torch.zeros(2, 8, 8)
    bad[:, 7, 7] = 1.0
    draw = post.draw(torch.Generator().manual_seed(0))
    p = run_panel(post, x, {"good": good, "bad": bad}, draw, "epistemic", fractions=(0.02,),
                  sigmas=(1.0, 2.0), progress=False)
    assert p.fractions == ["0.0625"] and p.pixels == {"0.0625": 4}
    assert set(p.per_image["good"]) == {"blur", "zero", "mean", "noise", "road"}
    for i in range(2):
        scores = p.image_mean(i)
        assert scores["bad"] == pytest.approx(0.0, abs=1e-6)  # the other corner changes nothing
        assert scores["good"] > 0.5  # zero and mean fill remove most of it
        assert p.verdict(scores).startswith("Trust good here:") and "substitute panel" in p.verdict(scores)
    zero = p.per_image["good"]["zero"][0]
    assert zero == pytest.approx(1.0)  # x00 -> 0: both members agree exactly
    assert p.verdict({"a": 0.0, "b": 0.0}).startswith("No map to trust here")
    assert "a and b (tied)" in p.verdict({"a": 0.4, "b": 0.4, "c": 0.1})
