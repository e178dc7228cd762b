"""What a report shows, as plain data: filled by :mod:`unsure.report.pipeline`, drawn by
:mod:`unsure.report.html`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import Tensor

from ..errors import UnsureWarning
from .overlay import Scale

if TYPE_CHECKING:
    from .trust import Panel



class ReportWarning(UnsureWarning):
    """Something the report's reader should know (a resized image, a missing method); the CLI
    prints it as one line and the page lists it under "Notes"."""


MEASURE_TEXT = {
    "total": "total uncertainty: entropy of the mean prediction, H(p̄)",
    "aleatoric": "aleatoric uncertainty: mean entropy of the members, E_m H(p^m) (noise in the data)",
    "epistemic": "epistemic uncertainty: mutual information H(p̄) − E_m H(p^m) (the members disagree)",
}


@dataclass
class Item:
    """One explained image.

    Attributes
    ----------
    name : shown as its title (a file name or ``test #123``)
    image : ``[C,H,W]`` in [0, 1]
    probs : ``[K]`` mean predictive probabilities
    uncertainty : ``{"total": u, "aleatoric": u, "epistemic": u}`` in nats
    maps : ``{(method label, target): [H,W]}``
    label : the true class, when known
    """

    name: str
    image: Tensor
    probs: Tensor
    uncertainty: dict[str, float]
    maps: dict[tuple[str, str], Tensor]
    label: int | None = None

    @property
    def prediction(self) -> int:
        return int(self.probs.argmax())


@dataclass
class Report:
    """Everything on the page.

    Attributes
    ----------
    items : the explained images
    methods, targets : column and row order of the map grids
    scales : ``{(method label, target): [Scale per item]}``
    class_names : ``K`` names, or ``None`` (classes shown as numbers)
    model : run summary (``run``, ``data``, ``members``, ``accuracy``, ...)
    settings : key -> value, shown as a table
    command : the exact command that reproduces the page
    notes : warnings raised while building it (resized images, missing methods, ...)
    """

    title: str
    items: list[Item]
    methods: list[str]
    targets: list[str]
    scales: dict[tuple[str, str], list[Scale]]
    class_names: list[str] | None = None
    model: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    notes: list[str] = field(default_factory=list)
    blurring: "Panel | None" = None  # the blurring test with the substitute panel (report.trust)
    intro: str = ""

    def class_name(self, k: int | None) -> str:
        if k is None:
            return "unknown"
        if self.class_names and 0 <= k < len(self.class_names):
            return f"{self.class_names[k]} ({k})"
        return str(k)
