"""Colour maps and overlays: the scale is what the legend says it is."""
import numpy as np
import torch
from matplotlib import colormaps

from unsure.report.overlay import (DIVERGING, SEQUENTIAL, Scale, colorbar, colorize, image_rgb, is_signed,
                                   overlay, picture, scale_for)


def test_is_signed_ignores_rounding_noise():
    assert not is_signed(torch.tensor([[0.0, 1.0, 2.0]]))
    assert not is_signed(torch.tensor([[-1e-12, 1.0]]))  # float noise on a non-negative map
    assert is_signed(torch.tensor([[-0.1, 1.0]]))
    assert not is_signed(torch.zeros(2, 3))


def test_scale_is_max_abs_and_symmetric_when_signed():
    m = torch.tensor([[-3.0, 1.0], [0.5, 2.0]])
    s = scale_for(m, signed=True)
    assert (s.vmin, s.vmax, s.cmap) == (-3.0, 3.0, DIVERGING)
    s = scale_for(m.clamp_min(0), signed=False)
    assert (s.vmin, s.vmax, s.cmap) == (0.0, 2.0, SEQUENTIAL)
    assert scale_for(torch.zeros(2, 2), False).vmax == 1.0  # an all-zero map draws, no division by 0


def test_colorize_uses_the_stated_ends_of_the_colour_map():
    lut = lambda name, t: (np.array(colormaps[name](t)[:3]) * 255).round()
    m = torch.tensor([[-2.0, 0.0, 2.0]])
    rgb, strength = colorize(m, Scale(True, 2.0))
    np.testing.assert_allclose(rgb[0, 0], lut(DIVERGING, 0.0), atol=1)  # -max: left end
    np.testing.assert_allclose(rgb[0, 2], lut(DIVERGING, 1.0), atol=1)  # +max: right end
    np.testing.assert_allclose(rgb[0, 1], lut(DIVERGING, 0.5), atol=1)  # 0: the middle
    np.testing.assert_allclose(strength, [[1.0, 0.0, 1.0]])
    rgb, _ = colorize(torch.tensor([[0.0, 4.0]]), Scale(False, 4.0))
    np.testing.assert_allclose(rgb[0, 0], lut(SEQUENTIAL, 0.0), atol=1)
    np.testing.assert_allclose(rgb[0, 1], lut(SEQUENTIAL, 1.0), atol=1)


def test_overlay_keeps_pixels_square_and_shows_the_image_where_the_map_is_zero():
    img = torch.zeros(1, 8, 8)
    img[0, :, :4] = 1.0  # left half white
    ov = np.asarray(overlay(img, torch.zeros(8, 8), Scale(False, 1.0)))
    assert ov.shape == (168, 168, 3)  # 8 px x 21
    assert ov[:, :84].mean() > ov[:, 84:].mean() + 100  # the image shows through
    hot = torch.zeros(8, 8)
    hot[0, 0] = 1.0
    ov = np.asarray(overlay(torch.zeros(1, 8, 8), hot, Scale(False, 1.0)))
    assert (ov[:21, :21] == ov[0, 0]).all() and not (ov[0, 0] == ov[-1, -1]).all()


def test_picture_and_colour_images():
    rgb = image_rgb(torch.rand(3, 5, 5))
    assert rgb.shape == (5, 5, 3) and rgb.dtype == np.uint8
    assert picture(torch.rand(1, 28, 28)).size == (168, 168)  # 28 px x 6
    bar = np.asarray(colorbar(SEQUENTIAL, width=64, height=4))
    assert bar.shape == (4, 64, 3) and not (bar[0, 0] == bar[0, -1]).all()
