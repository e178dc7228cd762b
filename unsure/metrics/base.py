"""Metric metadata: every metric value a report shows declares its direction and what it applies to.

``METRICS`` maps a value's name (``"insertion-auc"``, ``"ada"``, ...) to a :class:`MetricInfo`, so a
report sorts methods and draws arrows without special cases (Quantus' metric metadata, CONVENTIONS.md
"Names the CLI can list"). Each metric file registers its values with :func:`register_metric`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from ..errors import UnsureError
from ..registry import Registry

APPLIES_TO = ("uncertainty", "class", "both")


@dataclass(frozen=True)
class MetricInfo:
    """What a metric value means.

    Attributes
    ----------
    name : registry name, e.g. ``"deletion-auc"``
    higher_is_better : direction used to sort and to draw the arrow
    applies_to : ``"uncertainty"`` (maps of an uncertainty measure), ``"class"`` (class-score maps)
        or ``"both"``
    summary : one line for ``unsure metrics`` and report captions
    function : the library function computing it (``None`` for values read off a result)
    """

    name: str
    higher_is_better: bool
    applies_to: str
    summary: str
    function: Callable | None = None

    def __post_init__(self):
        if self.applies_to not in APPLIES_TO:
            raise UnsureError(f"metric {self.name!r}: applies_to must be one of {APPLIES_TO}, "
                              f"got {self.applies_to!r}")

    @property
    def arrow(self) -> str:
        """``"↑"`` when higher is better, else ``"↓"``."""
        return "↑" if self.higher_is_better else "↓"

    def best(self, values: Iterable[float]) -> float:
        """The best of ``values`` in this metric's direction."""
        vals = list(values)
        return max(vals) if self.higher_is_better else min(vals)

    def sort_key(self, value: float) -> float:
        """Ascending sort on this key puts the best value first."""
        return -value if self.higher_is_better else value


METRICS: Registry = Registry("metric")


def register_metric(name: str, higher_is_better: bool, applies_to: str, summary: str,
                    function: Callable | None = None) -> MetricInfo:
    """Create and register a :class:`MetricInfo`; returns it."""
    info = MetricInfo(name, higher_is_better, applies_to, summary, function)
    METRICS.register(name, summary)(info)
    return info


def metric_info(name: str) -> MetricInfo:
    """The :class:`MetricInfo` of a registered value (an unknown name lists the known ones)."""
    return METRICS.get(name)


def header(name: str) -> str:
    """Column header with its arrow, e.g. ``"deletion-auc ↓"``."""
    return f"{name} {metric_info(name).arrow}"
