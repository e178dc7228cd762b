"""``res.plot()`` / ``unsure.show(x, res)``: rendered to a file and checked on the axes' data,
colour limits and the pixels of the saved PNG."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

import unsure  # noqa: E402


@pytest.fixture
def ens():
    torch.manual_seed(0)
    return [nn.Sequential(nn.Flatten(), nn.Linear(64, 10)) for _ in range(3)]


@pytest.fixture
def x():
    return torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))


def _map_images(fig):
    """The AxesImage of each "map" panel (the one with a colour bar), in row order."""
    return [ax.images[0] for ax in fig.axes if ax.get_title().startswith(("default", "inputgrad", "grad"))]


def test_plot_draws_image_map_and_overlay_with_faithful_colours(ens, x, tmp_path):
    import matplotlib.pyplot as plt

    res = unsure.attribute(ens, x)  # non-negative UA-Backprop maps of the epistemic uncertainty
    fig = res.plot(path=tmp_path / "m.png")  # the explained images are kept in the result
    maps = _map_images(fig)
    assert len(maps) == 3 and len(fig.axes) == 3 * 3 + 3  # 3 rows x (image, map, overlay) + 3 colour bars
    for i, im in enumerate(maps):
        np.testing.assert_array_equal(im.get_array(), res.maps[i].numpy())
        assert im.get_cmap().name == "inferno" and im.get_clim() == (0.0, float(res.maps[i].max()))
        assert f"{float(res.maps[i].double().sum()):.3g}" in im.axes.get_title()
    png = np.asarray(Image.open(tmp_path / "m.png").convert("RGB"))
    assert png.shape[0] > 200 and png.std() > 20  # drawn, not blank
    plt.close(fig)


def test_signed_maps_get_a_symmetric_diverging_scale(ens, x, tmp_path):
    import matplotlib.pyplot as plt

    res = unsure.attribute(ens, x, method="inputgrad", target=unsure.ClassScore(3))
    assert (res.maps < 0).any()
    fig = unsure.show(x, res, index=[1], overlay=False)
    (im,) = _map_images(fig)
    top = float(res.maps[1].abs().max())
    assert im.get_cmap().name == "RdBu_r" and im.get_clim() == (-top, top)
    # zero is drawn white: the colour of 0 on this scale
    assert np.allclose(im.cmap(im.norm(0.0))[:3], matplotlib.colormaps["RdBu_r"](0.5)[:3])
    assert len(fig.axes) == 2 + 1
    plt.close(fig)


def test_show_refuses_images_that_do_not_match(ens, x):
    res = unsure.attribute(ens, x)
    with pytest.raises(unsure.UnsureError, match="does not match the maps"):
        unsure.show(x[:2], res)
    with pytest.raises(unsure.UnsureError, match="out of range"):
        unsure.show(x, res, index=5)


def test_a_one_sample_note_becomes_the_title(x):
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="S = 1"):
        res = unsure.attribute(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), x)
    fig = res.plot()
    assert "S = 1" in fig._suptitle.get_text() and res.meta["target"] == "total"
    plt.close(fig)
