"""Method specs from the command line: ``NAME[:key=value[:key=value...]]``, e.g.
``ua-backprop:variant=paper``. Shared by the benches, the report pipeline and the CLI."""
from __future__ import annotations

import enum
import typing
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnsureError
from ..notes import unique
from .base import METHODS, check_options
from .names import MethodSpec, _value, parse_method, warn_bare_name  # noqa: F401  (re-exported)


def parse_methods(text: str) -> list[MethodSpec]:
    """``"ua-backprop,grad,ua-backprop:variant=paper"`` -> method specs (names checked)."""
    specs = []
    for item in unique([t.strip() for t in text.split(",") if t.strip()], "--methods"):
        spec = parse_method(item)
        METHODS.get(spec.name)  # unknown names fail here with the list of known ones
        check_options(spec.name, spec.options)  # and unknown options
        warn_bare_name(spec.name, spec.options)
        specs.append(spec)
    if not specs:
        raise UnsureError("no methods given")
    return specs


def method_options(name: str) -> list[tuple[str, str, Any]]:
    """``(option, type, default)`` of every option a registered method takes (the keyword
    arguments of its constructor, which ``NAME:key=value`` sets); a required option has the
    default ``inspect.Parameter.empty``."""
    import inspect

    cls = METHODS.get(name)
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # drop self
    except (TypeError, ValueError):
        return []
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that does not evaluate: show it as written
        hints = {}
    out = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        ann = p.annotation
        enums = [t for t in typing.get_args(hints.get(p.name)) + (hints.get(p.name),)
                 if isinstance(t, type) and issubclass(t, enum.Enum)]
        if enums:  # a str Enum option: its CLI strings
            ann = "one of " + ", ".join(str(e.value) for e in enums[0])
        elif ann is p.empty:
            ann = type(p.default).__name__ if p.default not in (p.empty, None) else "any"
        elif not isinstance(ann, str):
            ann = getattr(ann, "__name__", str(ann))
        default = getattr(p.default, "value", p.default)  # a str Enum member -> its CLI string
        out.append((p.name, ann, default))
    return out


def option_docs(cls: type) -> dict[str, str]:
    """``{option: description}`` from the numpy-style ``Parameters`` section of the first class in
    ``cls``'s MRO that documents it (a preset inherits its base's), joined into one line each."""
    import inspect
    import re

    docs: dict[str, str] = {}
    for klass in cls.__mro__:
        own: dict[str, list[str]] = {}
        name = None
        for line in inspect.cleandoc(klass.__dict__.get("__doc__") or "").splitlines():
            m = re.match(r"^(\w+)\s*:\s*(.*)$", line)
            if m:
                name = m.group(1)
                own.setdefault(name, []).append(m.group(2).strip())
            elif name and line.startswith(" ") and line.strip():
                own[name].append(line.strip())
            else:
                name = None
        for k, parts in own.items():
            if k not in docs and " ".join(parts).strip():
                docs[k] = " ".join(p for p in parts if p)
    return docs


def describe_methods() -> list[dict]:
    """Every registered method with its options: ``[{"name", "summary", "options": [{"name",
    "type", "default", "required", "description"}]}]`` (``unsure methods --json``)."""
    import inspect

    out = []
    for entry in METHODS:
        docs = option_docs(entry.obj)
        opts = []
        for opt, ann, default in method_options(entry.name):
            required = default is inspect.Parameter.empty
            opts.append({"name": opt, "type": ann, "required": required,
                         "default": None if required else (default if isinstance(default, (int, float, str, bool, type(None)))
                                                            else repr(default)),
                         "description": docs.get(opt, "")})
        out.append({"name": entry.name, "summary": entry.summary, "options": opts})
    return out


def options_table(width: int = 100) -> str:
    """Every registered method with its options, types, defaults and descriptions
    (``unsure methods --options``)."""
    import textwrap

    lines = []
    for m in describe_methods():
        lines.append(f"{m['name']}  {m['summary']}")
        for o in m["options"]:
            shown = "(required)" if o["required"] else f"= {o['default']!r}"
            lines.append(f"    {o['name']}: {o['type']} {shown}")
            if o["description"]:
                lines += textwrap.wrap(o["description"], width, initial_indent=" " * 8, subsequent_indent=" " * 8,
                                       break_on_hyphens=False, break_long_words=False)
        if not m["options"]:
            lines.append("    (no options)")
    return "\n".join(lines)
