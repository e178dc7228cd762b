"""Static checks of a report page with the standard library's ``html.parser``: balanced tags,
alt text on every image, nothing loaded from the network, a viewport and a title.

``problems(text)`` returns human-readable findings (empty when the page is fine); the tests and
``write_report`` callers use it, and it needs no browser.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
URL_ATTRS = {"src", "href", "srcset", "action", "poster", "data", "formaction", "background"}
EXTERNAL = re.compile(r"(^|[\s,(\"'])(https?:)?//", re.I)


class _Checker(HTMLParser):
    def __init__(self, base: Path | None):
        super().__init__(convert_charrefs=True)
        self.base = base
        self.stack: list[tuple[str, int]] = []
        self.found: list[str] = []
        self.ids: set[str] = set()
        self.images = 0
        self.viewport = False
        self.title = ""
        self.lang = False
        self._in: str | None = None

    def _where(self) -> str:
        return f"line {self.getpos()[0]}"

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = bool(a.get("lang"))
        if tag == "meta" and a.get("name") == "viewport" and "width=device-width" in (a.get("content") or ""):
            self.viewport = True
        if "id" in a:
            if a["id"] in self.ids:
                self.found.append(f"duplicate id {a['id']!r} ({self._where()})")
            self.ids.add(a["id"])
        for k, v in attrs:
            if k in URL_ATTRS and v and EXTERNAL.search(v) and not v.startswith("data:"):
                self.found.append(f"<{tag} {k}> loads {v[:60]!r} from the network ({self._where()})")
        if tag == "script" and a.get("src"):
            self.found.append(f"<script src> loads code ({self._where()})")
        if tag == "link" and "stylesheet" in (a.get("rel") or ""):
            self.found.append(f"<link rel=stylesheet> loads a style sheet ({self._where()})")
        if tag == "img":
            self.images += 1
            if not (a.get("alt") or "").strip():
                self.found.append(f"<img> without alt text ({self._where()})")
            src = a.get("src") or ""
            if not src:
                self.found.append(f"<img> without src ({self._where()})")
            elif (self.base is not None and not src.startswith("data:")
                  and not EXTERNAL.search(src) and not (self.base / src).is_file()):
                self.found.append(f"<img src={src!r}> does not exist ({self._where()})")
        if tag in ("style", "title"):
            self._in = tag
        if tag not in VOID:
            self.stack.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        self._in = None
        if tag in VOID:
            self.found.append(f"end tag </{tag}> of a void element ({self._where()})")
            return
        if not self.stack or self.stack[-1][0] != tag:
            top = self.stack[-1] if self.stack else ("nothing", 0)
            self.found.append(f"</{tag}> closes <{top[0]}> opened on line {top[1]} ({self._where()})")
            if any(t == tag for t, _ in self.stack):
                while self.stack and self.stack[-1][0] != tag:
                    self.stack.pop()
                self.stack.pop()
            return
        self.stack.pop()

    def handle_data(self, data):
        if self._in == "style" and (re.search(r"url\(\s*['\"]?(https?:)?//", data) or "@import" in data):
            self.found.append("the style sheet loads something from the network")
        if self._in == "title":
            self.title += data


def problems(text: str, base: str | Path | None = None) -> list[str]:
    """Findings about the page ``text`` (``[]`` if none).

    Parameters
    ----------
    text : the HTML
    base : the page's folder; when given, relative image paths must exist there
    """
    c = _Checker(None if base is None else Path(base))
    if not text.lstrip().lower().startswith("<!doctype html>"):
        c.found.append("missing <!DOCTYPE html>")
    c.feed(text)
    c.close()
    c.found += [f"<{t}> opened on line {line} is never closed" for t, line in c.stack]
    if not c.viewport:
        c.found.append("no <meta name=viewport content=width=device-width ...> (phones zoom out)")
    if not c.title.strip():
        c.found.append("no <title>")
    if not c.lang:
        c.found.append("<html> has no lang attribute")
    return c.found


def image_count(text: str) -> int:
    """Number of ``<img>`` elements on the page."""
    c = _Checker(None)
    c.feed(text)
    return c.images
