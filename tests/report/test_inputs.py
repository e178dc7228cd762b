"""A user's image files become the model's input: channels, size, range; clear errors."""
import numpy as np
import pytest
import torch
from PIL import Image

from unsure.errors import DataError
from unsure.report import load_images
from unsure.report.model import ReportWarning


def _save(path, arr, mode):
    Image.fromarray(arr, mode).save(path)
    return path


def test_grey_png_of_the_right_size_is_read_exactly(tmp_path):
    arr = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    x = load_images([_save(tmp_path / "a.png", arr, "L")], channels=1, size=8)
    assert x.shape == (1, 1, 8, 8) and x.dtype == torch.float32
    torch.testing.assert_close(x[0, 0], torch.from_numpy(arr).float() / 255)


def test_colour_and_grey_convert_to_the_runs_channels(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    p = _save(tmp_path / "red.png", rgb, "RGB")
    grey = load_images([p], channels=1, size=8)
    assert grey.shape == (1, 1, 8, 8)
    assert abs(float(grey.mean()) - 0.299) < 0.01  # ITU-R 601 luminance of red
    col = load_images([_save(tmp_path / "g.png", np.full((8, 8), 128, np.uint8), "L")], channels=3, size=8)
    assert col.shape == (1, 3, 8, 8) and torch.allclose(col[0, 0], col[0, 2])


def test_wrong_size_is_resized_with_a_warning(tmp_path):
    p = _save(tmp_path / "big.png", np.full((40, 30), 200, np.uint8), "L")
    with pytest.warns(ReportWarning, match=r"big.png is 30x40 pixels; resized to the model's 28x28"):
        x = load_images([p], channels=1, size=28)
    assert x.shape == (1, 1, 28, 28)
    torch.testing.assert_close(x, torch.full_like(x, 200 / 255))


def test_jpeg_and_alpha(tmp_path):
    p = tmp_path / "a.jpg"
    Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(p)
    assert load_images([p], 1, 8).min() > 0.95
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 255  # white but fully transparent -> black ground
    assert load_images([_save(tmp_path / "t.png", rgba, "RGBA")], 1, 8).max() == 0


def test_missing_and_unreadable_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_images([tmp_path / "nope.png"], 1, 8)
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(DataError, match="cannot read"):
        load_images([bad], 1, 8)
