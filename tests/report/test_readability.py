"""Report readability: display-only contrast stated under clipped maps (numbers exact), a table of
contents, a sortable summary table, and the maps saved as .npy beside their PNGs."""
import re

import numpy as np
import torch
from _reportkit import make_report

from unsure.report import render, write_report
from unsure.report.check import problems
from unsure.report.overlay import Scale, colorize, contrast_scale, scale_for


def test_contrast_clips_at_the_percentile_and_keeps_vmax():
    m = torch.zeros(10, 10)
    m[0, 0], m[0, 1:] = 100.0, 1.0  # one bright pixel, a faint row
    s = contrast_scale(m, False, percentile=95.0)
    assert s.vmax == 100.0 and s.clipped and s.top == float(torch.quantile(m.flatten(), 0.95))
    rgb, strength = colorize(m, s)
    assert strength[0, 1] == 1.0 and strength[0, 0] == 1.0  # the faint row now saturates too
    _, plain = colorize(m, scale_for(m, False))
    assert plain[0, 1] == 0.01
    flat = torch.ones(4, 4)  # nothing to clip: the plain scale
    assert contrast_scale(flat, False) == scale_for(flat, False)
    assert not Scale(False, 2.0).clipped and Scale(False, 2.0).top == 2.0


def test_clip_is_stated_under_the_map_and_max_sum_stay_exact():
    r = make_report()
    key = next(iter(r.scales))
    mp = r.items[0].maps[key]
    s = contrast_scale(mp, r.scales[key][0].signed, percentile=50.0)
    r.scales[key][0] = s
    text = render(r)
    assert problems(text) == []
    if s.clipped:
        assert "colours clipped at p50" in text
    assert "Contrast (display only)" in text


def test_toc_and_sortable_summary_table():
    r = make_report()
    text = render(r)
    assert problems(text) == []
    assert '<nav class="toc" id="contents">' in text and 'href="#summary"' in text and 'href="#img-0"' in text
    table = re.search(r'<section id="summary">.*?</section>', text, re.S).group(0)
    assert 'class="sortable"' in table and table.count("<tr>") == len(r.items) + 1
    assert "<script>" in text and "http" not in text.split("<script>")[1].split("</script>")[0]


def test_maps_saved_as_npy_beside_pngs(tmp_path):
    r = make_report()
    write_report(r, tmp_path / "out")
    d = tmp_path / "out" / "overlays"
    npys = sorted(d.glob("*.npy"))
    assert len(npys) == sum(len(it.maps) for it in r.items)
    for p in npys:
        assert p.with_suffix(".png").is_file()
    it = r.items[0]
    (m, t), mp = next(iter(it.maps.items()))
    hits = [p for p in npys if p.name.startswith("00-") and p.name.endswith(f"__{t}.npy") and m in p.name]
    np.testing.assert_array_equal(np.load(hits[0]), mp.numpy())
