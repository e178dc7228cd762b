"""Method names and specs without the registry: ``NAME[:key=value...]`` parsed into a
:class:`MethodSpec`, and the deprecation line of a bare ``ua-backprop`` (imported by
:mod:`.base`, so it imports nothing of the attribution package)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnsureError, UnsureWarning


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



class DeprecatedName(UnsureWarning, FutureWarning):
    """An old spelling that still works (shown once per call as ``unsure: warning: ...``)."""


def bare_name_note(name: str) -> str:
    return (f"method {name!r} alone is deprecated: it runs UA-Backprop's class variant, now named "
            f"'ua-backprop-class'; the default method (joint grouping, mix+noise references) is "
            f"'default'")


def warn_bare_name(name: str, options: dict) -> None:
    """The deprecation line for a bare ``ua-backprop`` (no options)."""
    if name.lower() == "ua-backprop" and not options:
        warnings.warn(bare_name_note(name), DeprecatedName, stacklevel=4)
