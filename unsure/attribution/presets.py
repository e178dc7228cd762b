"""Named UA-Backprop settings, and the ``--methods`` default of every command, in one place.

- ``default``: what ``unsure.attribute(post, x)`` runs without ``method=`` (:data:`DEFAULT_OPTIONS`
  of :mod:`unsure.attribution.base`: the joint grouping and the ``mix+noise`` reference
  distribution, the validation panel's choice, docs/results/blurring-panel.md).
- ``ua-backprop-class``: UA-Backprop's class variant with its own defaults (class grouping, blur
  reference), the old meaning of a bare ``ua-backprop``.
- ``ua-backprop``: the general method, every option settable (``ua-backprop:variant=paper``).
  Bare, without options, it still runs the class variant, with a deprecation line, since
  "ua-backprop" used to name two different settings.

Both presets are :class:`~unsure.attribution.ua_backprop.UABackprop` with other constructor
defaults, so every option of ``ua-backprop`` also works on them (``default:combine=mean-of-relu``).
"""
from __future__ import annotations

import functools
import inspect

from .base import DEFAULT_OPTIONS, METHODS
from .names import DeprecatedName, bare_name_note, warn_bare_name  # noqa: F401  (re-exported)
from .ua_backprop import UABackprop

def _preset(cls_name: str, name: str, defaults: dict, doc: str) -> type:
    """A subclass of :class:`UABackprop` whose constructor has other defaults (and the same
    signature otherwise, so ``unsure methods --options`` and option checks see them)."""
    base_init = UABackprop.__init__
    sig = inspect.signature(base_init)
    sig = sig.replace(parameters=[p.replace(default=defaults.get(p.name, p.default))
                                  for p in sig.parameters.values()])

    @functools.wraps(base_init)
    def __init__(self, *args, **kwargs):
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        base_init(*bound.args, **bound.kwargs)

    __init__.__signature__ = sig
    return type(cls_name, (UABackprop,), {"__init__": __init__, "name": name, "__doc__": doc})


DefaultMethod = METHODS.register(
    "default", "the default: UA-Backprop, joint grouping, mix+noise reference distribution "
               "(the validation panel's choice)")(_preset(
    "DefaultMethod", "default", DEFAULT_OPTIONS,
    "UA-Backprop with the defaults chosen on the validation panel (docs/results/blurring-panel.md)."))

ClassVariant = METHODS.register(
    "ua-backprop-class", "UA-Backprop's class variant with its own defaults (class grouping, "
                         "blur reference); the old bare 'ua-backprop'")(_preset(
    "ClassVariant", "ua-backprop-class", {},
    "UA-Backprop's class variant with its own defaults (class grouping, blur reference)."))
