"""String-name registries: methods, measures, posteriors, metrics and architectures.

``Registry.register`` is a decorator; ``Registry.get`` raises an :class:`UnsureError` that lists the
known names, so a typo on the CLI gets a useful one-line answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import UnsureError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    summary: str


class Registry(Generic[T]):
    """A name -> object table with one-line summaries (shown by ``unsure methods`` etc.)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, summary: str = "") -> Callable[[T], T]:
        key = name.lower()

        def deco(obj: T) -> T:
            if key in self._entries:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            doc = summary or (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]
            self._entries[key] = Entry(key, obj, doc)
            return obj

        return deco

    def get(self, name: str) -> T:
        if not isinstance(name, str):
            raise UnsureError(f"{self.kind} name must be a string, got {type(name).__name__}")
        key = name.lower().replace("_", "-")
        if key not in self._entries:
            key = name.lower()
        if key not in self._entries:
            known = ", ".join(sorted(self._entries)) or "(none registered)"
            raise UnsureError(f"unknown {self.kind} {name!r}; known: {known}")
        return self._entries[key].obj

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def table(self) -> str:
        """Aligned ``name  summary`` lines for the CLI."""
        width = max((len(e.name) for e in self), default=0)
        return "\n".join(f"{e.name.ljust(width)}  {e.summary}" for e in self)


def describe(obj: Any) -> str:
    return (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]


E = TypeVar("E")


def enum_choice(kind: type[E], name: Any, what: str) -> E:
    """The member of the string enum ``kind`` named ``name`` (case-insensitive; a member passes
    through), or a one-line :class:`UnsureError` naming ``what`` and listing the choices."""
    try:
        return kind(str(getattr(name, "value", name)).lower())
    except ValueError:
        raise UnsureError(f"unknown {what} {name!r}; use one of {', '.join(e.value for e in kind)}") from None
