"""Command-line parsing shared by the benches and the CLI."""
from __future__ import annotations

from ..errors import UnsureError
from ..notes import unique


def parse_floats(text: str, what: str) -> list[float]:
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UnsureError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not vals:
        raise UnsureError(f"no {what} given")
    return unique(vals, what, key=lambda v: f"{v:g}")
