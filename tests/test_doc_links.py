"""Every relative link and image in README.md and the docs points at a file that exists (after a
result folder moves, e.g. to docs/research/, a stale link fails here)."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def pages() -> list[Path]:
    return [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))


def broken_links(page: Path) -> list[str]:
    """The relative link targets of ``page`` (markdown links and images, outside code blocks)
    that do not exist; ``#anchors``, ``http(s):`` and ``mailto:`` links are not checked."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # commands, not links
    text = re.sub(r"`[^`\n]*`", "", text)
    bad = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = unquote(target.split("#", 1)[0])
        if path and not (page.parent / path).exists():
            bad.append(target)
    return bad


def test_the_checker_finds_a_broken_link(tmp_path):
    page = tmp_path / "p.md"
    (tmp_path / "there.md").write_text("x")
    page.write_text("[ok](there.md) [gone](gone/x.md) ![img](missing.png) [web](https://x.org) "
                    "[anchor](#a) `[code](nope.md)`\n```\n[block](nope2.md)\n```\n")
    assert broken_links(page) == ["gone/x.md", "missing.png"]


def test_every_relative_link_in_the_docs_exists():
    bad = {str(p.relative_to(ROOT)): b for p in pages() if (b := broken_links(p))}
    assert not bad, f"broken relative links: {bad}"
