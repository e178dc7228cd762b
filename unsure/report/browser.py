"""Look at a report the way a person does: headless Chromium (Debian's ``chromium``).

Used by the tests (is the page blank? does every image load?) and to make the screenshot in
``docs/img/report.png``. Runs as root need ``--no-sandbox``.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import UnsureError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# appended to a copy of the page: after "load", list the images that did not decode
_PROBE = ('<script>window.addEventListener("load",function(){var b=[],im=document.images;'
          'for(var i=0;i<im.length;i++){if(!(im[i].complete&&im[i].naturalWidth>0))b.push(im[i].alt||im[i].src.slice(0,60))}'
          'var p=document.createElement("pre");p.id="unsure-probe";'
          'var o=document.documentElement.scrollWidth-window.innerWidth;'
          'p.textContent="UNSURE-PROBE "+JSON.stringify({n:im.length,broken:b,overflow:o});'
          'document.body.appendChild(p)});</script>')


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or ``None`` ($UNSURE_CHROMIUM overrides)."""
    env = os.environ.get("UNSURE_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for n in NAMES:
        p = shutil.which(n)
        if p:
            return p
    return None


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    exe = find_chromium()
    if exe is None:
        raise UnsureError("no Chromium found: install Debian's 'chromium' package (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="unsure-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", "--mute-audio",
               f"--user-data-dir={profile}", *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "HOME": profile})
        except subprocess.TimeoutExpired:
            raise UnsureError(f"Chromium took longer than {timeout:.0f} s") from None


def screenshot(page: str | Path, png: str | Path, width: int = 1280, height: int = 2400,
               timeout: float = 90) -> Path:
    """Render ``page`` (an HTML file) at ``width`` x ``height`` CSS pixels and save a PNG screenshot."""
    page, png = Path(page).resolve(), Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    if png.exists():
        png.unlink()
    proc = _run([f"--screenshot={png}", f"--window-size={width},{height}",
                 "--virtual-time-budget=5000", page.as_uri()], timeout)
    if not png.is_file():
        raise UnsureError(f"Chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    return png


def image_status(page: str | Path, width: int = 1280, timeout: float = 90) -> dict:
    """Load ``page`` in Chromium, ``width`` CSS pixels wide, and report ``{"n": images on the
    page, "broken": [alt, ...], "overflow": px of horizontal scrolling}`` (an image is broken
    unless ``img.complete and img.naturalWidth > 0`` after the load event)."""
    page = Path(page).resolve()
    text = page.read_text(encoding="utf-8")
    probe = text.replace("</body>", _PROBE + "</body>", 1)
    # the copy sits beside the page so relative image paths resolve the same way
    fd, tmp = tempfile.mkstemp(suffix=".html", prefix=".probe-", dir=page.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(probe)
        proc = _run([f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom",
                     Path(tmp).as_uri()], timeout)
    finally:
        os.unlink(tmp)
    m = re.search(r"UNSURE-PROBE (\{.*?\})</pre>", proc.stdout)
    if not m:
        raise UnsureError(f"the page did not report its images (exit {proc.returncode}): "
                          f"{proc.stderr.strip()[-300:]}")
    return json.loads(html.unescape(m.group(1)))  # --dump-dom escapes the text
