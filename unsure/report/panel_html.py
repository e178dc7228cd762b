"""The report's "which map to trust" parts: per image, a small table of every method's MURR under
every substitute and one plain verdict line; for the whole page, the panel section (means over
the images per substitute, the verdict over the images, the curves). Data: :class:`~.trust.Panel`.
"""
from __future__ import annotations

import html

from .model import Report
from .overlay import data_uri


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _pct(v: float) -> str:
    return f"{v:.0%}"


def card_panel(report: Report, i: int) -> str:
    """The per-image scores and verdict, or "" when the report ran no test."""
    p = report.blurring
    if p is None:
        return ""
    means = p.image_mean(i)
    best = set(p.best(means))
    head = "".join(f"<th>{_e(s)}</th>" for s in p.substitutes)
    rows = ""
    for m, subs in p.per_image.items():
        cells = "".join(f'<td class="num">{_pct(subs[s][i])}</td>' for s in p.substitutes)
        mark = ' class="best"' if m in best and means[m] > 0 else ""
        rows += f"<tr{mark}><th>{_e(m)}</th>{cells}<td class=\"num\"><b>{_pct(means[m])}</b></td></tr>"
    return (f'<p class="trust">{_e(p.verdict(means))}</p>'
            f'<details><summary>Scores on this image (MURR: share of the {_e(p.target)} uncertainty removed, '
            f'higher is better)</summary><div class="scroll"><table class="panel"><thead><tr><th>method</th>'
            f"{head}<th>mean</th></tr></thead><tbody>{rows}</tbody></table></div></details>")


def untested(report: Report) -> str:
    """With several methods and no test, say that the page cannot tell which map to trust."""
    if report.blurring is not None or len(report.methods) < 2:
        return ""
    return ('<p class="trust">Which map to trust is not tested on this page: rerun with '
            '<code>--blurring</code> (the blurring test with five substitutes scores every map, per image).</p>')


def panel_section(report: Report) -> str:
    """The page's test section: medians over the images per substitute, their mean, the verdict."""
    p = report.blurring
    if p is None:
        return ""
    f = p.fractions[0]
    overall = p.overall()
    best = set(p.best(overall))
    head = "".join(f"<th>{_e(s)}</th>" for s in p.substitutes)
    rows = ""
    for m in p.results:
        cells = "".join(f'<td class="num">{p.by_substitute[s][m][f]["murr"]:.3f}</td>' for s in p.substitutes)
        b0, b1 = ("<b>", "</b>") if m in best else ("", "")
        rows += f'<tr><th>{_e(m)}</th>{cells}<td class="num">{b0}{overall[m]:.3f}{b1}</td></tr>'
    more = ""
    if len(p.fractions) > 1:
        more = "<p>Panel means at the other fractions: " + "; ".join(
            f"{float(k):.1%} ({p.pixels[k]} pixels): " + ", ".join(f"{m} {r[k]['murr']:.3f}" for m, r in p.results.items())
            for k in p.fractions[1:]) + ".</p>"
    curves = ("" if p.curves_png is None else
              f'<p><img class="curves" src="{data_uri(p.curves_png)}" alt="median uncertainty reduction rate '
              f'curves of the blurring test, blur substitute"></p>')
    return (f'<section id="blurring"><h2>Which map to trust: the blurring test with five substitutes</h2>'
            f'<p class="trust">Over these {p.n_images} images: {_e(p.verdict(overall))}</p>'
            f"<p>Each map's top {p.pixels[f]} pixels ({float(f):.1%} of the image; at least 4 on small "
            f"images) are replaced, most important first, and the {_e(p.target)} uncertainty is measured "
            f"again. MURR (higher is better) is the share of it removed at the end (UA-Backprop paper, "
            f"Sec. 5.2.1). A method whose reference matches the substitute is favoured by it, so the map "
            f"to trust is the one with the best <b>mean over the substitutes</b>: blur (the paper's), zero, "
            f"each image's mean, noise and ROAD's neighbour imputation. Medians over the images:</p>"
            f'<div class="scroll"><table><thead><tr><th>method</th>{head}<th>mean</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></div>{more}{curves}</section>")
