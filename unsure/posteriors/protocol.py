"""``unsure.as_posterior``: the one door through which a user's model comes in.

The posterior protocol is a single method, ``sample_logits(x, generator=None) -> [S,B,K]``
(logit samples, differentiable in ``x``). :func:`as_posterior` accepts, in this order:

======================================================  =========================================
what is passed                                          becomes
======================================================  =========================================
a :class:`Posterior`                                    itself
a fitted laplace-torch ``Laplace`` object               :class:`LaplaceTorch` (weight samples)
a module with ``num_estimators`` whose forward stacks   :class:`StackedEstimators` (``[S*B,K]``
the estimators (torch-uncertainty wrappers)             -> ``[S,B,K]``; with
                                                        ``core_models``: their DeepEnsemble)
any object with ``sample_logits(x, generator)``         :class:`FunctionPosterior`
one ``nn.Module`` ``x -> [B,K]``                        a one-member :class:`DeepEnsemble` (S = 1)
a list / tuple of ``nn.Module``                         a :class:`DeepEnsemble`
a callable ``x -> [S,B,K]``                             :class:`FunctionPosterior`
======================================================  =========================================

Nothing here imports laplace-torch or torch-uncertainty: they are recognised by their attributes.
Outputs that are tuples, dicts or probabilities are refused with a message saying how to fix the
model (:func:`~unsure.posteriors.base.check_member_output`): probabilities are *refused*, not
converted, since a silent ``log`` would hide a model that was meant to give logits.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import UnsureError
from .base import Posterior
from .ensemble import DeepEnsemble
from .function import FunctionPosterior
from .laplace_torch import LaplaceTorch, is_laplace_torch
from .stacked import as_stacked, is_stacked_estimators


def _describe(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__name__


def as_posterior(obj: Any, *, samples: int | None = None, num_estimators: int | None = None) -> Posterior:
    """Turn a model into a :class:`Posterior` (see the module docstring for what is accepted).

    Parameters
    ----------
    obj : the model
    samples : S for posteriors that sample weights (laplace-torch; default 20)
    num_estimators : S for a stacked-estimator wrapper (default: its ``num_estimators``)

    Raises
    ------
    UnsureError : one line naming what was passed and what is accepted
    """
    if isinstance(obj, Posterior):
        return obj
    if is_laplace_torch(obj):
        return LaplaceTorch(obj, samples=20 if samples is None else samples)
    if num_estimators is not None or is_stacked_estimators(obj):
        if not isinstance(obj, nn.Module):
            raise UnsureError(f"num_estimators is for a stacked-estimator nn.Module, got {_describe(obj)}")
        return as_stacked(obj, num_estimators)
    if callable(getattr(obj, "sample_logits", None)):
        return FunctionPosterior(obj.sample_logits, modules=[obj] if isinstance(obj, nn.Module) else (),
                                 name=type(obj).__name__, takes_generator=True)
    if isinstance(obj, nn.Module) and not isinstance(obj, nn.ModuleList):
        return DeepEnsemble([obj])
    if isinstance(obj, (list, tuple, nn.ModuleList)):
        items = list(obj)
        if not items:
            raise UnsureError("as_posterior got an empty list; pass one or more nn.Module members")
        bad = [(i, _describe(m)) for i, m in enumerate(items) if not isinstance(m, nn.Module)]
        if bad:
            i, what = bad[0]
            raise UnsureError(f"as_posterior got a list whose item {i} is a {what}, not an nn.Module; "
                              f"a list is read as an ensemble of networks")
        return DeepEnsemble(items)
    if callable(obj):
        return FunctionPosterior(obj, name=getattr(obj, "__name__", type(obj).__name__))
    raise UnsureError(f"as_posterior cannot use a {_describe(obj)}; pass a Posterior, an nn.Module, a "
                      f"list of nn.Module (ensemble), a callable x -> logits [S,B,K], an object with "
                      f"sample_logits(x, generator), a fitted laplace-torch Laplace or a "
                      f"torch-uncertainty style wrapper")
