"""Which uncertainty a posterior can explain: a one-sample posterior (a single network, an
evidential network: ``S = 1``) has epistemic uncertainty 0 (one member cannot disagree with
itself) and aleatoric uncertainty equal to the total, so its epistemic maps are blank.

``default_target`` picks what ``unsure.attribute`` and ``unsure explain`` explain when the user
did not say: epistemic for ``S > 1``, total (with a one-line note) for ``S = 1``.
``check_target`` refuses an explicit epistemic or aleatoric target for ``S = 1`` in one line.
"""
from __future__ import annotations

from ..errors import UnsureError, UnsureWarning
from .entropy import aleatoric, epistemic

#: targets that need at least two samples to mean anything
NEEDS_SAMPLES = {"epistemic": epistemic, "aleatoric": aleatoric}


class OneSampleNote(UnsureWarning):
    """The default target became ``total`` because the posterior has one sample."""


def one_sample_note(what: str = "the posterior") -> str:
    return (f"{what} gives one sample per input (S = 1, e.g. a single network), so its epistemic "
            f"uncertainty is 0 and its aleatoric equals its total: explaining the total uncertainty "
            f"(use an ensemble, MC dropout or Laplace for epistemic maps)")


def needs_samples(target) -> str | None:
    """``"epistemic"`` / ``"aleatoric"`` when ``target`` is one of them (by name or function)."""
    for name, fn in NEEDS_SAMPLES.items():
        if target is fn or (isinstance(target, str) and target.strip().lower() == name):
            return name
    return None


def check_target(target, samples: int | None, evidential: bool = False) -> None:
    """One-line :class:`UnsureError` when a one-sample posterior is asked for ``target``
    epistemic or aleatoric (``samples=None``: unknown, nothing checked)."""
    name = needs_samples(target)
    if samples == 1 and name is not None:
        hint = " or 'vacuity' (the evidential network's epistemic measure)" if evidential else ""
        raise UnsureError(f"target {name!r}: the posterior gives one sample per input (S = 1), so its "
                          f"epistemic uncertainty is 0 and its aleatoric equals the total; explain "
                          f"target 'total'{hint}, or use a posterior with several samples "
                          f"(an ensemble, MC dropout, Laplace)")


def default_target(samples: int | None) -> tuple[str, str | None]:
    """``(target, note)``: ``("epistemic", None)``, or ``("total", note)`` for ``samples == 1``."""
    if samples == 1:
        return "total", one_sample_note()
    return "epistemic", None


def samples_of(posterior) -> int | None:
    """``posterior.num_samples``, or ``None`` when it is known only after a call (a function)."""
    try:
        return int(posterior.num_samples)
    except (UnsureError, AttributeError, TypeError, NotImplementedError):
        return None
