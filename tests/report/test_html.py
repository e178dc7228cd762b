"""The page is valid, self-contained HTML that says what the reader needs (checked without a browser)."""
import pytest
from _reportkit import make_report

from unsure.report import render, write_report
from unsure.report.check import image_count, problems


def test_rendered_page_has_no_problems(report):
    text = render(report)
    assert problems(text) == []
    # 1 input + 2 maps per image, each as map view and overlay, the two colour bars; no curves PNG
    assert image_count(text) == 3 * (1 + 2 * 2) + 2


def test_page_states_numbers_scale_settings_and_command(report):
    text = render(report)
    for needle in ['name="viewport"', "RdBu_r", "inferno", "−max", "+max", "max / 2",
                   "1.2 nats", "0.3 nats", "true class", "MURR", "mean over the substitutes",
                   "unsure demo --data digits", "Reproduce", "Settings"]:
        assert needle in text, needle
    assert "<b>0.600</b>" in text and "<b>0.200</b>" not in text  # the best panel mean in bold
    # a verdict per image and over the images, naming the test it comes from
    verdict = ("Trust ua-backprop here: 60% of the epistemic uncertainty removed (blurring test with the "
               "substitute panel (blur, zero): mean MURR when the top 4 pixels (6.2%) of each map are "
               "replaced; grad 20%).")
    assert text.count(verdict) == 3 + 1
    # user text is escaped, never markup
    assert "A &lt;test&gt; report" in text and "a note &lt;with&gt; markup &amp; stuff" in text


def test_only_used_colour_maps_get_a_legend():
    r = make_report()
    r.methods = ["ua-backprop"]
    r.scales = {k: v for k, v in r.scales.items() if k[0] == "ua-backprop"}
    for it in r.items:
        it.maps = {k: v for k, v in it.maps.items() if k[0] == "ua-backprop"}
    text = render(r)
    assert "inferno" in text and "RdBu_r" not in text
    assert problems(text) == []


def test_write_report_writes_overlays_beside_the_page(report, tmp_path):
    page = write_report(report, tmp_path / "out")
    assert page == tmp_path / "out" / "index.html"
    pngs = sorted(p.name for p in (tmp_path / "out" / "overlays").glob("*.png"))
    assert len(pngs) == 3 * 3 and "00-test-0__grad__epistemic.png" in pngs
    assert problems(page.read_text(), base=page.parent) == []


@pytest.mark.parametrize("html, finding", [
    ("<!DOCTYPE html><html lang=en><head><meta name=viewport content='width=device-width'><title>t</title>"
     "</head><body><div><p>x</div></body></html>", "closes <p>"),
    ("<!DOCTYPE html><html lang=en><head><meta name=viewport content='width=device-width'><title>t</title>"
     "</head><body><img src='data:image/png;base64,AA'></body></html>", "without alt"),
    ("<!DOCTYPE html><html lang=en><head><meta name=viewport content='width=device-width'><title>t</title>"
     "</head><body><img alt=a src='https://example.com/a.png'></body></html>", "from the network"),
    ("<!DOCTYPE html><html lang=en><head><meta name=viewport content='width=device-width'><title>t</title>"
     "<link rel=stylesheet href='s.css'></head><body></body></html>", "style sheet"),
    ("<!DOCTYPE html><html lang=en><head><title>t</title><style>@import url(//fonts.x/y.css);</style>"
     "</head><body></body></html>", "viewport"),
    ("<!DOCTYPE html><html lang=en><head><meta name=viewport content='width=device-width'><title>t</title>"
     "</head><body><div>", "never closed"),
    ("<html><head></head><body></body></html>", "DOCTYPE"),
])
def test_checker_finds_each_kind_of_problem(html, finding):
    assert any(finding in p for p in problems(html)), problems(html)


def test_checker_finds_missing_local_images(tmp_path):
    html = ("<!DOCTYPE html><html lang=en><head><meta name=viewport content='width=device-width'>"
            "<title>t</title></head><body><img alt=a src='gone.png'></body></html>")
    assert any("does not exist" in p for p in problems(html, base=tmp_path))


def test_a_page_without_the_test_says_how_to_get_it(report):
    report.blurring = None
    text = render(report)
    assert "Which map to trust is not tested on this page: rerun with <code>--blurring</code>" in text
    assert "Trust " not in text and problems(text) == []
    report.methods = report.methods[:1]
    assert "not tested on this page" not in render(report)  # one method: nothing to choose
