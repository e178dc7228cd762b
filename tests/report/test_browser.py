"""The report as a person sees it: rendered by headless Chromium, not blank, every image loads,
and it fits a phone. ``make test`` installs Debian's chromium when it can (root + apt-get)."""
import numpy as np
import pytest
from _reportkit import make_report
from PIL import Image

from unsure.report import write_report
from unsure.report.browser import find_chromium, image_status, screenshot

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium not installed: 'make test' installs it as root with apt-get; "
           "otherwise run 'apt-get install chromium' (or set UNSURE_CHROMIUM)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    return write_report(make_report(n=4), tmp_path_factory.mktemp("report"))


# a wide screen and a small one (headless --dump-dom windows are at least 500 px wide; the
# screenshot test below goes down to a 390 px phone)
@pytest.mark.parametrize("width", [1280, 500])
def test_every_image_loads_and_nothing_scrolls_sideways(page, width):
    status = image_status(page, width=width)
    assert status == {"n": 4 * (1 + 2 * 2) + 2, "broken": [], "overflow": 0}  # input, 2 maps x 2 views; bars


def test_a_broken_image_is_caught(tmp_path):
    """Negative control for the probe itself."""
    html = tmp_path / "index.html"
    html.write_text("<!DOCTYPE html><html lang=en><head><title>t</title></head><body>"
                    "<img alt='gone' src='missing.png'><img alt='ok' src='ok.png'></body></html>")
    Image.new("RGB", (4, 4), "red").save(tmp_path / "ok.png")
    status = image_status(html)
    assert (status["n"], status["broken"]) == (2, ["gone"])


@pytest.mark.parametrize("width", [1280, 390])  # a wide screen and a phone
def test_screenshot_is_not_blank_and_fits(page, tmp_path, width):
    png = screenshot(page, tmp_path / f"shot-{width}.png", width=width, height=1600)
    a = np.asarray(Image.open(png).convert("RGB")).astype(float)
    assert a.shape[:2] == (1600, width)
    assert a.std() > 20  # a blank page has std ~0; the report has text, colour bars and maps
    # colour, not just grey text: the colour maps were drawn
    assert (np.abs(a[..., 0] - a[..., 2]) > 60).mean() > 0.005
    assert a[:, -4:].std() < 5  # the right margin is plain background: nothing cut off
