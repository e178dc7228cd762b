"""Method specs from the command line: ``NAME[:key=value[:key=value...]]``, e.g.
``ua-backprop:variant=paper``. Shared by the benches, the report pipeline and the CLI."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UnsureError
from .base import METHODS


@dataclass
class MethodSpec:
    """``NAME[:key=value[:key=value...]]`` from the command line, e.g. ``ua-backprop:variant=paper``."""

    label: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_method(item: str) -> MethodSpec:
    """One ``NAME[:key=value...]`` -> :class:`MethodSpec` (the name is not checked)."""
    name, *opts = item.split(":")
    options = {}
    for o in opts:
        if "=" not in o:
            raise UnsureError(f"bad method option {o!r} in {item!r}; use NAME:key=value")
        k, v = o.split("=", 1)
        options[k.strip()] = _value(v.strip())
    return MethodSpec(item, name, options)


def parse_methods(text: str) -> list[MethodSpec]:
    """``"ua-backprop,grad,ua-backprop:variant=paper"`` -> method specs (names checked)."""
    specs = []
    for item in [t.strip() for t in text.split(",") if t.strip()]:
        spec = parse_method(item)
        METHODS.get(spec.name)  # unknown names fail here with the list of known ones
        specs.append(spec)
    if not specs:
        raise UnsureError("no methods given")
    return specs
