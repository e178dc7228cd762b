"""The report: one static, self-contained HTML page (images as base64 data URIs; no server,
network, external CSS, JavaScript or fonts) plus the overlays as PNG files beside it.

The page reads on a phone and on a wide screen: a viewport meta tag and CSS grids whose columns
shrink to fit. Colours: :mod:`unsure.report.overlay` (each map on its own scale, stated on it;
a display-only contrast clip, stated under each map). A table of contents and a summary table of
the explained images lead the page; one small inline script (no network) sorts that table when
a column head is clicked, and the page reads the same without it. ``write_report`` saves each map
as ``.npy`` (the exact values) next to its PNG overlay.
"""
from __future__ import annotations

import html
import math
import re
import time
from pathlib import Path

import numpy as np

from .model import MEASURE_TEXT, Item, Report
from .overlay import DIVERGING, POOL_SIDE, SEQUENTIAL, Scale, colorbar, data_uri, heatmap, overlay, picture, png_bytes
from .panel_html import card_panel, panel_section, untested

CSS = """
:root{--bg:#fafafa;--fg:#1d1d1f;--muted:#5f6368;--card:#fff;--line:#dcdcdc;--accent:#b3261e}
@media (prefers-color-scheme:dark){:root{--bg:#141416;--fg:#ececec;--muted:#a0a0a6;--card:#1f1f23;--line:#36363b;--accent:#ff8a80}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header,main,footer{max-width:1400px;margin:0 auto;padding:0 16px}
header{padding-top:24px}
h1{font-size:1.6rem;margin:0 0 .3em}h2{font-size:1.25rem;margin:1.6em 0 .5em}h3{font-size:1.05rem;margin:0}
p.lead{color:var(--muted);margin:.2em 0 1em;max-width:70ch}
section{margin-bottom:8px}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,150px),1fr));gap:8px;margin:0}
.facts div{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 12px}
.facts dt{color:var(--muted);font-size:.8rem}.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.legend{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,300px),1fr));gap:12px}
.bar{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.bar img{display:block;width:100%;height:14px;image-rendering:pixelated}
.ticks{display:flex;justify-content:space-between;font-size:.8rem;color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,560px),1fr));gap:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px}
.card-head{display:grid;grid-template-columns:minmax(90px,150px) 1fr;gap:12px;align-items:start;margin-bottom:10px}
figure{margin:0}
img.px{display:block;width:100%;height:auto;image-rendering:pixelated;border-radius:4px}
.numbers{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 10px;font-size:.9rem;align-items:center}
.numbers dt{color:var(--muted)}.numbers dd{margin:0;font-variant-numeric:tabular-nums}
meter{width:100%;max-width:140px;height:10px;vertical-align:middle}
.grid{display:grid;grid-template-columns:minmax(3.2em,auto) repeat(var(--cols),minmax(0,1fr));gap:6px;align-items:center}
.grid .colhead,.grid .rowhead{font-size:.8rem;color:var(--muted);overflow-wrap:anywhere}
.grid .colhead{text-align:center;font-weight:600}
.grid .rowhead{writing-mode:vertical-rl;transform:rotate(180deg);text-align:center;justify-self:center}
.grid figcaption{font-size:.72rem;color:var(--muted);text-align:center;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
table{border-collapse:collapse;font-size:.9rem;background:var(--card)}
th,td{border:1px solid var(--line);padding:4px 10px;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}
.curves{max-width:100%;height:auto;background:#fff;border-radius:6px}
pre{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}
.notes{border-left:4px solid var(--accent);padding:4px 12px;background:var(--card)}
footer{color:var(--muted);font-size:.8rem;padding-bottom:24px;margin-top:24px}
nav.toc ol{margin:.2em 0;padding-left:1.4em;columns:2 18em}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:2px}
p.trust{font-weight:600;margin:.3em 0}table.panel{font-size:.8rem}tr.best th,tr.best td{background:rgba(120,200,120,.18)}
table.sortable th{cursor:pointer}table.sortable th[aria-sort]::after{content:" ↕";color:var(--muted)}
"""

SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function(t){
  t.querySelectorAll("thead th").forEach(function(th,i){th.setAttribute("aria-sort","none");
    th.addEventListener("click",function(){var b=t.tBodies[0],rows=Array.from(b.rows),
      asc=th.getAttribute("aria-sort")!=="ascending";
      rows.sort(function(r,s){var x=r.cells[i].dataset.v||r.cells[i].textContent,
        y=s.cells[i].dataset.v||s.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);
        var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?c:-c;});
      t.querySelectorAll("thead th").forEach(function(h){h.setAttribute("aria-sort","none");});
      th.setAttribute("aria-sort",asc?"ascending":"descending");rows.forEach(function(r){b.appendChild(r);});});});});
"""

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return _SLUG.sub("-", text).strip("-") or "x"


def file_stem(name: str) -> str:
    """``"shoe.png"`` -> ``"shoe"``, ``"test #12"`` -> ``"test-12"``: overlay file names."""
    p = Path(name)
    return slug(p.stem if p.suffix.lower() in IMAGE_SUFFIXES else name)


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: float) -> str:
    """Short, honest numbers: 3 significant digits, scientific when tiny."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    return f"{v:.3g}" if abs(v) >= 1e-3 else f"{v:.2e}"


def _img(src: str, alt: str, cls: str = "px") -> str:
    return f'<img class="{cls}" src="{src}" alt="{_e(alt)}">'


def _facts(pairs: dict) -> str:
    cells = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in pairs.items())
    return f'<dl class="facts">{cells}</dl>'


def _legend(report: Report) -> str:
    used = {s.cmap for scales in report.scales.values() for s in scales}
    bars = []
    if SEQUENTIAL in used:
        bars.append(f'<div class="bar"><h3>Non-negative maps ({SEQUENTIAL})</h3>'
                    f'{_img(data_uri(colorbar(SEQUENTIAL)), f"colour bar {SEQUENTIAL}, 0 to max", "")}'
                    '<div class="ticks"><span>0</span><span>max / 2</span><span>max</span></div>'
                    '<p>Brighter = more of the explained quantity comes from that pixel.</p></div>')
    if DIVERGING in used:
        bars.append(f'<div class="bar"><h3>Signed maps ({DIVERGING})</h3>'
                    f'{_img(data_uri(colorbar(DIVERGING)), f"colour bar {DIVERGING}, -max to +max", "")}'
                    '<div class="ticks"><span>−max</span><span>0</span><span>+max</span></div>'
                    '<p>Red pixels add to the explained quantity, blue pixels take away from it; '
                    'white is zero.</p></div>')
    scale = ("<p>Scale: every map has its own scale, from 0 (or −max) to <b>max</b> = its largest "
             "|value|, printed under it as <b>max</b>; <b>Σ</b> is the sum of the map. For a complete "
             "method such as UA-Backprop, Σ equals the uncertainty of the image. Each map is shown twice: "
             "left, the map alone, every pixel in exactly the colour of the bar (zero is the bar's zero "
             "colour); right, the same colours over a grey copy of the image, fading where the map is weak "
             "(so there the image shows through), to see where on the image they fall. A map larger than "
             f"{POOL_SIDE} pixels is shown as the means of blocks of its pixels. Contrast (display only): where a map's colours "
             "saturate below its max, the clip is printed under it (\"colours clipped at p99 = v\": "
             "pixels above the 99th percentile of |map| get the end colour); max, Σ and the saved "
             "<code>overlays/*.npy</code> arrays are the exact map.</p>")
    measures = "".join(f"<li><b>{_e(t)}</b>: {_e(MEASURE_TEXT.get(t, t))}</li>" for t in report.targets)
    return (f'<section id="legend"><h2>How to read the maps</h2><div class="legend">{"".join(bars)}</div>'
            f"{scale}<ul>{measures}</ul></section>")


def _numbers(report: Report, item: Item) -> str:
    K = item.probs.numel()
    top = float(item.probs.max())
    rows = [("prediction", f"{report.class_name(item.prediction)}, p = {top:.2f}")]
    if item.label is not None:
        ok = "✓" if item.label == item.prediction else "✗"
        rows.append(("true class", f"{report.class_name(item.label)} {ok}"))
    cells = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    hi = math.log(K)
    for name in ("total", "aleatoric", "epistemic"):
        if name in item.uncertainty:
            u = item.uncertainty[name]
            cells += (f"<dt>{name}</dt><dd>{_fmt(u)} nats "
                      f'<meter min="0" max="{hi:.4f}" value="{max(u, 0):.6f}" '
                      f'title="{name} uncertainty, out of ln K = {hi:.3f}">{_fmt(u)}</meter></dd>')
    return f'<dl class="numbers">{cells}</dl>'


def _card(report: Report, i: int, item: Item) -> str:
    head = (f'<div class="card-head"><figure>{_img(data_uri(picture(item.image)), f"input image {item.name}")}'
            f"</figure>{_numbers(report, item)}</div>")
    cells = ['<div></div>'] + [f'<div class="colhead">{_e(m)}</div>' for m in report.methods]
    for t in report.targets:
        cells.append(f'<div class="rowhead">{_e(t)}</div>')
        for m in report.methods:
            mp = item.maps.get((m, t))
            if mp is None:
                cells.append("<div></div>")
                continue
            s: Scale = report.scales[(m, t)][i]
            alt = f"{m} map of the {t} uncertainty of {item.name}"
            cap = f"max {_e(_fmt(s.vmax))}<br>Σ {_e(_fmt(float(mp.double().sum())))}"
            if s.clipped:
                cap += f"<br>colours clipped at p{s.percentile:g} = {_e(_fmt(s.top))}"
            cells.append(f'<figure><div class="pair">{_img(data_uri(heatmap(mp, s)), alt)}'
                         f'{_img(data_uri(overlay(item.image, mp, s)), alt + ", over the image")}</div>'
                         f"<figcaption>{cap}</figcaption></figure>")
    grid = f'<div class="grid" style="--cols:{len(report.methods)}">{"".join(cells)}</div>'
    return (f'<article class="card" id="img-{i}"><h3>{_e(item.name)}</h3>{head}{card_panel(report, i)}'
            f"{grid}</article>")


def _summary(report: Report) -> str:
    """One row per explained image: prediction, its probability, true class and uncertainties."""
    names = [n for n in ("total", "aleatoric", "epistemic") if any(n in it.uncertainty for it in report.items)]
    labelled = any(it.label is not None for it in report.items)  # no column for the user's own images
    head = "".join(f"<th>{h}</th>" for h in ["#", "image", "prediction", "p",
                                              *(["true class"] if labelled else []), *names])
    rows = ""
    for i, it in enumerate(report.items):
        pred, p = report.class_name(it.prediction), float(it.probs.max())
        true = "" if it.label is None else report.class_name(it.label) + (" ✓" if it.label == it.prediction else " ✗")
        us = "".join(f'<td class="num" data-v="{it.uncertainty[n]:.9g}">{_e(_fmt(it.uncertainty[n]))}</td>'
                     if n in it.uncertainty else "<td></td>" for n in names)
        rows += (f'<tr><td class="num" data-v="{i}">{i}</td><td><a href="#img-{i}">{_e(it.name)}</a></td>'
                 f'<td>{_e(pred)}</td><td class="num" data-v="{p:.9g}">{p:.2f}</td>'
                 + (f"<td>{_e(true)}</td>" if labelled else "") + f"{us}</tr>")
    return (f'<section id="summary"><h2>Summary of the explained images</h2><p>Click a column head to '
            f'sort; uncertainties in nats.</p><div class="scroll"><table class="sortable"><thead><tr>{head}'
            f"</tr></thead><tbody>{rows}</tbody></table></div></section>")


def _toc(report: Report) -> str:
    parts = [("model", "Model"), ("summary", "Summary of the explained images"), ("legend", "How to read the maps"),
             ("images", "Explained images")] + ([("blurring", "Which map to trust")] if report.blurring is not None else []) \
        + [("settings", "Settings"), ("reproduce", "Reproduce")]
    items = "".join(f'<li><a href="#{k}">{_e(t)}</a></li>' for k, t in parts)
    imgs = "".join(f'<li><a href="#img-{i}">{_e(it.name)}</a></li>' for i, it in enumerate(report.items))
    return (f'<nav class="toc" id="contents"><h2>Contents</h2><ol>{items}</ol>'
            f'<details><summary>{len(report.items)} images</summary><ol start="0">{imgs}</ol></details></nav>')


def render(report: Report) -> str:
    """The page as a string."""
    from .._version import __version__

    model = _facts(report.model) if report.model else ""
    notes = ("" if not report.notes else '<aside class="notes"><h2>Notes</h2><ul>'
             + "".join(f"<li>{_e(n)}</li>" for n in report.notes) + "</ul></aside>")
    settings = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in report.settings.items())
    cards = "".join(_card(report, i, it) for i, it in enumerate(report.items))
    stamp = time.strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(report.title)}</title>
<style>{CSS}</style>
</head>
<body>
<header><h1>{_e(report.title)}</h1><p class="lead">{_e(report.intro)}</p></header>
<main>
{_toc(report)}
<section id="model"><h2>Model</h2>{model}</section>
{notes}
{_summary(report)}
{_legend(report)}
<section id="images"><h2>Explained images</h2>{untested(report)}<div class="cards">{cards}</div></section>
{panel_section(report)}
<section id="settings"><h2>Settings</h2><div class="scroll"><table><tbody>{settings}</tbody></table></div></section>
<section id="reproduce"><h2>Reproduce</h2><p>Run this in the repository (after <code>make install</code>):</p>
<pre><code>{_e(report.command)}</code></pre></section>
</main>
<footer>Made by unsure {_e(__version__)} on {_e(stamp)}. A static page: it loads nothing from the network.</footer>
<script>{SORT_JS}</script>
</body>
</html>
"""


def write_report(report: Report, out: str | Path, overlays: bool = True) -> Path:
    """Write ``out/index.html`` and, with ``overlays``, ``out/overlays/*.png`` (one per image, method
    and target, plus the input images), the maps' exact values as ``out/overlays/*.npy`` ``[H,W]``
    beside their PNGs, and ``out/blurring.png``; returns the HTML path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if overlays:
        d = out / "overlays"
        d.mkdir(exist_ok=True)
        for i, it in enumerate(report.items):
            stem = f"{i:02d}-{file_stem(it.name)}"
            (d / f"{stem}.png").write_bytes(png_bytes(picture(it.image)))
            for (m, t), mp in it.maps.items():
                img = overlay(it.image, mp, report.scales[(m, t)][i])
                (d / f"{stem}__{slug(m)}__{t}.png").write_bytes(png_bytes(img))
                np.save(d / f"{stem}__{slug(m)}__{t}.npy", mp.detach().cpu().numpy())  # exact values
        if report.blurring is not None and report.blurring.curves_png is not None:
            (out / "blurring.png").write_bytes(report.blurring.curves_png)
    path = out / "index.html"
    path.write_text(render(report), encoding="utf-8")
    return path
