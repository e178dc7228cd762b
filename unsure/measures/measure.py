"""The registered uncertainty measures: one :class:`Measure` per name, in ``MEASURES``.

A measure is resolved once from its name (``MEASURES.get("epistemic")``); everything that needs to
know about it reads the object: its function ``[S,B,K] -> [B]`` (what ``resolve_target`` returns),
and, for the entropy measures, its per-probability terms ``[S,B,K] -> [S,B,K]`` (paper Eq. 4), the
start of UA-Backprop. Command-line choices and report columns come from :func:`decomposable`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import Tensor

from ..errors import UnsureError
from ..registry import Registry
from .entropy import aleatoric, aleatoric_terms, epistemic, epistemic_terms, total, total_terms
from .evidential import dissonance, vacuity


@dataclass(frozen=True)
class Measure:
    """An uncertainty measure.

    Attributes
    ----------
    name : the registered name ("epistemic", ...)
    fn : ``logits [S,B,K] -> [B]``
    summary : one line for ``unsure measures``
    terms : ``logits [S,B,K] -> a [S,B,K]`` with ``a.sum((0, 2)) == fn(logits)``, or ``None`` when
        the measure is not a sum of per-probability terms (then UA-Backprop cannot explain it)
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    summary: str
    terms: Callable[[Tensor], Tensor] | None = None

    def __call__(self, logits: Tensor) -> Tensor:
        return self.fn(logits)

    @property
    def __name__(self) -> str:  # for metadata, like the plain functions
        return self.name


MEASURES: Registry[Measure] = Registry("measure")
_ORDER: list[str] = []  # registration order: total, aleatoric, epistemic first (help texts, reports)


def register_measure(name: str, fn: Callable[[Tensor], Tensor], summary: str,
                     terms: Callable[[Tensor], Tensor] | None = None) -> Measure:
    """Register ``fn`` as the measure ``name`` and return its :class:`Measure`."""
    m = Measure(name, fn, summary, terms)
    MEASURES.register(name, summary)(m)
    _ORDER.append(m.name)
    return m


def decomposable() -> tuple[str, ...]:
    """Names of the measures with per-probability terms, in registration order
    (``("total", "aleatoric", "epistemic")``): what UA-Backprop and the blurring test explain."""
    return tuple(n for n in _ORDER if MEASURES.get(n).terms is not None)


def measure_of(target) -> Measure | None:
    """The registered :class:`Measure` of a name, a :class:`Measure` or a measure's function
    (``None`` for any other target)."""
    if isinstance(target, Measure):
        return target
    if isinstance(target, str):
        return MEASURES.get(target) if target in MEASURES else None
    return next((e.obj for e in MEASURES if e.obj.fn is target), None)


def resolve_measure(measure, what: str = "measure") -> tuple[Callable[[Tensor], Tensor], str]:
    """The one resolver of "which uncertainty" for tests that blur it away: the name of a measure
    with per-probability terms (:func:`decomposable`) or any ``[S,B,K] -> [B]`` callable ->
    ``(callable, name)``. ``what`` names the caller's parameter in the error."""
    if isinstance(measure, str):
        names = decomposable()
        if measure not in names:
            raise UnsureError(f"{what} must be one of {list(names)} or a "
                              f"callable [S,B,K] -> [B], got {measure!r}")
        return MEASURES.get(measure).fn, measure
    if not callable(measure):
        raise UnsureError(f"{what} must be a name or a callable [S,B,K] -> [B], got "
                          f"{type(measure).__name__}")
    return measure, getattr(measure, "__name__", type(measure).__name__)


def decompose(logits: Tensor, kind: str | Measure) -> Tensor:
    """Per-probability terms ``a(p_k^m)`` of paper Eq. 4 of the measure ``kind``: ``[S,B,K] -> [S,B,K]``.

    ``a.sum((0, 2))`` equals the chosen uncertainty exactly (see :mod:`unsure.measures.entropy`).
    """
    m = measure_of(kind)
    if m is None or m.terms is None:
        raise UnsureError(f"no per-probability decomposition for {getattr(kind, '__name__', kind)!r}; "
                          f"use {', '.join(decomposable()[:-1])} or {decomposable()[-1]}")
    return m.terms(logits)


register_measure("total", total, "entropy of the mean prediction H(pbar)", total_terms)
register_measure("aleatoric", aleatoric, "expected entropy mean_m H(p^m)", aleatoric_terms)
register_measure("epistemic", epistemic, "mutual information H(pbar) - mean_m H(p^m)", epistemic_terms)
register_measure("vacuity", vacuity, "evidential vacuity K / sum(alpha)")
register_measure("dissonance", dissonance, "evidential dissonance of the Dirichlet beliefs")
