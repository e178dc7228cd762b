"""Wrappers whose forward returns the estimators stacked along the batch, ``[S*B, K]``
(torch-uncertainty's ``deep_ensembles``, ``mc_dropout``, packed / batch / masked ensembles).

torch-uncertainty documents the output of its wrappers as ``(N x B, C)``, estimator-major
(``torch.cat`` over estimators, or ``einops.repeat(x, "b ... -> (m b) ...")`` for MC dropout on the
batch), so ``[S*B,K] -> [S,B,K]`` is ``reshape(S, B, K)``. ``S`` is ``num_estimators`` (given, or the
wrapper's attribute).

A wrapper that keeps its members (``core_models``, a deep ensemble) becomes a
:class:`DeepEnsemble` of them, so per-member methods and layer hooks see each network. Any other
wrapper is run whole, frozen per draw by a seeded RNG (:mod:`.function`): its MC-dropout masks
are then the same on every call of one draw. With MC dropout on the batch, an image's mask
depends on its position in the batch; explain one batch at a time to keep it fixed.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..errors import UnsureError
from .ensemble import DeepEnsemble
from .function import FunctionPosterior


def is_stacked_estimators(obj) -> bool:
    """An ``nn.Module`` with an integer ``num_estimators`` (torch-uncertainty's convention)."""
    n = getattr(obj, "num_estimators", None)
    return isinstance(obj, nn.Module) and isinstance(n, int) and not isinstance(n, bool)


class StackedEstimators(FunctionPosterior):
    """``wrapper(x) [S*B,K] -> [S,B,K]`` as a posterior.

    Parameters
    ----------
    wrapper : the module; it must stay in eval mode (torch-uncertainty's MC-dropout wrapper keeps
        its dropout layers active in eval mode, which is what gives S different estimators)
    num_estimators : S (default: ``wrapper.num_estimators``)
    """

    name = "stacked"

    def __init__(self, wrapper: nn.Module, num_estimators: int | None = None):
        S = num_estimators if num_estimators is not None else getattr(wrapper, "num_estimators", None)
        if not isinstance(S, int) or S < 1:
            raise UnsureError(f"{type(wrapper).__name__} has no num_estimators; pass num_estimators=S "
                              f"(its forward returns [S*B,K])")
        label = type(wrapper).__name__

        def unstack(x: Tensor) -> Tensor:
            out = wrapper(x)
            if not isinstance(out, Tensor):
                return out  # refused with a clear message by check_joint_output
            B = x.shape[0]
            if out.ndim != 2 or out.shape[0] != S * B:
                raise UnsureError(f"{label} returned {tuple(out.shape)} for {B} image(s); "
                                  f"expected [S*B,K] = [{S * B}, K] with num_estimators S = {S}")
            return out.reshape(S, B, out.shape[1])  # estimator-major: [S*B,K] -> [S,B,K]

        super().__init__(unstack, samples=S, modules=[wrapper], name=label)


def as_stacked(wrapper: nn.Module, num_estimators: int | None = None, wrap=lambda m: m):
    """A :class:`DeepEnsemble` of ``wrapper.core_models`` when it keeps them (and their number is
    S), else a :class:`StackedEstimators`; ``wrap`` is applied to each network (preprocessing)."""
    members = getattr(wrapper, "core_models", None)
    S = num_estimators if num_estimators is not None else getattr(wrapper, "num_estimators", None)
    if isinstance(members, nn.ModuleList) and len(members) == S:
        return DeepEnsemble([wrap(m) for m in members])
    if S is None:
        raise UnsureError(f"{type(wrapper).__name__} has no num_estimators; pass num_estimators=S")
    return StackedEstimators(wrap(wrapper), S)
