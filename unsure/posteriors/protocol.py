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
from .function import FunctionPosterior, _closure_modules
from .laplace_torch import LaplaceTorch, is_laplace_torch
from .preprocess import Preprocessed, as_preprocess
from .stacked import as_stacked, is_stacked_estimators


def _describe(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__name__


def as_posterior(obj: Any, *, samples: int | None = None, num_estimators: int | None = None,
                 preprocess=None) -> Posterior:
    """Turn a model into a :class:`Posterior` (see the module docstring for what is accepted).

    Parameters
    ----------
    obj : the model
    samples : S for posteriors that sample weights (laplace-torch; default 20)
    num_estimators : S for a stacked-estimator wrapper (default: its ``num_estimators``)
    preprocess : ``(mean, std)`` or a callable run on the images inside every member
        (:mod:`.preprocess`), so that methods, references and metrics stay in pixel space

    Raises
    ------
    UnsureError : one line naming what was passed and what is accepted
    """
    pre = None if preprocess is None else as_preprocess(preprocess)
    wrap = (lambda m: m) if pre is None else (lambda m: Preprocessed(m, pre))
    if isinstance(obj, Posterior):
        if pre is not None:
            raise UnsureError(f"preprocess= cannot be added to a ready {type(obj).__name__}; build it on "
                              f"unsure.Preprocessed(net, preprocess) instead")
        return obj
    if is_laplace_torch(obj):
        return LaplaceTorch(obj, samples=20 if samples is None else samples, preprocess=pre)
    if num_estimators is not None or is_stacked_estimators(obj):
        if not isinstance(obj, nn.Module):
            raise UnsureError(f"num_estimators is for a stacked-estimator nn.Module, got {_describe(obj)}")
        return as_stacked(obj, num_estimators, wrap)
    if callable(getattr(obj, "sample_logits", None)):
        fn = obj.sample_logits if pre is None else (lambda x, generator=None: obj.sample_logits(pre(x), generator))
        return FunctionPosterior(fn, modules=[obj] if isinstance(obj, nn.Module) else (),
                                 name=type(obj).__name__, takes_generator=True)
    if isinstance(obj, nn.Module) and not isinstance(obj, nn.ModuleList):
        return DeepEnsemble([wrap(obj)])
    if isinstance(obj, (list, tuple, nn.ModuleList)):
        items = list(obj)
        if not items:
            raise UnsureError("as_posterior got an empty list; pass one or more nn.Module members")
        bad = [(i, _describe(m)) for i, m in enumerate(items) if not isinstance(m, nn.Module)]
        if bad:
            i, what = bad[0]
            raise UnsureError(f"as_posterior got a list whose item {i} is a {what}, not an nn.Module; "
                              f"a list is read as an ensemble of networks")
        return DeepEnsemble([wrap(m) for m in items])
    if callable(obj):
        name = getattr(obj, "__name__", type(obj).__name__)
        if pre is None:
            return FunctionPosterior(obj, name=name)
        return FunctionPosterior(lambda x: obj(pre(x)), modules=_closure_modules(obj), name=name)
    raise UnsureError(f"as_posterior cannot use a {_describe(obj)}; pass a Posterior, an nn.Module, a "
                      f"list of nn.Module (ensemble), a callable x -> logits [S,B,K], an object with "
                      f"sample_logits(x, generator), a fitted laplace-torch Laplace or a "
                      f"torch-uncertainty style wrapper")
