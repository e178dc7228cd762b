"""The map view of the report draws every pixel in a colour of its colour bar: zero is the bar's
zero colour, and a large map is shown as block means (each still a colour of the bar)."""
import numpy as np
import torch

from unsure.report.overlay import _lut, contrast_scale, heatmap, is_signed, shrink


def _colours(img):
    return {tuple(c) for c in np.asarray(img).reshape(-1, 3)}


def test_zero_is_the_bars_zero_and_every_colour_is_on_the_bar():
    m = torch.zeros(8, 8)
    m[2, 3], m[5, 5] = 1.0, 0.25
    img = np.asarray(heatmap(m, contrast_scale(m, False)))
    f = img.shape[0] // 8
    assert tuple(img[0, 0]) == tuple(_lut("inferno")[0])  # a zero pixel: the bar's 0 (black)
    assert tuple(img[2 * f, 3 * f]) == tuple(_lut("inferno")[255])
    assert _colours(img) <= {tuple(c) for c in _lut("inferno")}
    s = m - 0.5 * (m > 0.5).float() * 2  # a signed map: 0 is the middle (white) of RdBu_r
    s[0, 1] = -0.7
    assert is_signed(s)
    img = np.asarray(heatmap(s, contrast_scale(s, True)))
    assert tuple(img[0, 0]) == tuple(_lut("RdBu_r")[128])
    assert _colours(img) <= {tuple(c) for c in _lut("RdBu_r")}


def test_large_maps_are_shown_as_block_means():
    m = torch.rand(224, 224, generator=torch.Generator().manual_seed(0))
    small = shrink(m)
    assert small.shape == (112, 112)
    torch.testing.assert_close(small[3, 4], m[6:8, 8:10].double().mean())
    assert shrink(torch.rand(3, 224, 224)).shape == (3, 112, 112)
    assert shrink(m[:28, :28]) is not None and shrink(m[:28, :28]).shape == (28, 28)  # small: unchanged
    img = heatmap(m, contrast_scale(m, False))
    assert img.size == (224, 224)  # 112 block means, each drawn 2x2, each a colour of the bar
    a = np.asarray(img)
    assert (a[0::2, 0::2] == a[1::2, 1::2]).all()
    assert _colours(img) <= {tuple(c) for c in _lut("inferno")}
