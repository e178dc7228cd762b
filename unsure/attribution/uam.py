"""Uncertainty Activation Maps (UAM; "Visualizing Uncertainty: Spatial Maps of Missing and
Conflicting Evidence in Deep Learning", arXiv 2606.15767, 2026): vacuity and dissonance maps of an
evidential network built from FullGrad (Srinivas & Fleuret 2019) maps of the per-class evidence,
combined with belief weights. ``docs/methods/uam.md``.

The paper's text available to us gives the recipe (per-class FullGrad maps aggregated with
belief weights, Subjective Logic's vacuity and dissonance) but not its equations, so the weights
here are **our reconstruction**: the magnitude of the target's derivative with respect to each
member's class logit, ``w_{s,k} = |dU / dz_{s,k}|``. For vacuity of a Dirichlet with logits
``z_k = log alpha_k`` this is ``u alpha_k / S_alpha = u (b_k + 1 / S_alpha)``: the belief (plus
the prior share) of each class, scaled by the vacuity -- a belief-weighted combination -- and the
weights sum to ``u`` exactly. The same rule serves any target (dissonance, an ensemble's epistemic
uncertainty, a class score), so UAM runs wherever FullGrad does.

    map = sum_{s,k} w_{s,k} M_{s,k}            (complete=False)
    map = sum_{s,k} a_{s,k} M_{s,k} / sum(M_{s,k}),  a_{s,k} = U w_{s,k} / sum w   (complete=True)

``M_{s,k}`` is FullGrad's saliency map of ``z_{s,k}`` (:func:`~unsure.attribution.fullgrad_maps.
fullgrad_map`: ``psi``-normalised input-gradient and spatial bias-gradient terms). With
``complete=True`` the map is a UA-Backprop-style decomposition: the class terms ``a_{s,k}`` sum to
``U``, each is spread by a pixel distribution, so ``sum(map) = U(x)`` exactly; for vacuity the
class terms are ``u alpha_k / S_alpha``, i.e. ``u = sum_k u alpha_k / S_alpha`` split by class.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import Target
from .base import METHODS, Attribution, Context, Method
from .fullgrad import _check_eval
from .fullgrad_maps import fullgrad_map
from .smoothgrad import freeze_class
from ._trace import per_logit_gradients


def logit_weights(target: Target, draw, x: Tensor) -> tuple[Tensor, Tensor]:
    """``U [B]`` and ``w [S,B,K] = |dU / dz|`` at the member logits ``z = draw(x)``."""
    with torch.no_grad():
        z = draw(x)  # [S,B,K]
    z = z.detach().requires_grad_(True)
    with torch.enable_grad():
        U = target(z)
        (g,) = torch.autograd.grad(U.sum(), z)  # images are independent: row b of U depends on z[:, b]
    return U.detach(), g.abs()


@METHODS.register("uam", "UAM: belief-weighted per-class FullGrad maps (evidential vacuity / dissonance)")
class UAM(Method):
    """Uncertainty Activation Map of any target (made for ``vacuity`` and ``dissonance`` of an
    :class:`~unsure.posteriors.Evidential` posterior).

    Parameters
    ----------
    complete : ``False`` (default): ``sum_{s,k} w_{s,k} M_{s,k}``; ``True``: each class map made a
        pixel distribution and weighted by ``U w / sum(w)``, so the map sums to ``U(x)`` exactly

    Returns
    -------
    maps ``[B,H,W]`` (``>= 0`` unless ``complete`` and ``U(x) < 0``); raw ``None``; meta ``f_input [B]``
    (``U(x)``), ``weight_sum [B]``
    (``sum w``, equal to ``U`` for vacuity), ``completeness_delta [B] = |sum(map) - U|`` (0 with
    ``complete=True``). Cost: one forward and one batched backward pass per member (all K logits).
    """

    name = "uam"

    def __init__(self, complete: bool = False):
        if not isinstance(complete, bool):
            raise UnsureError(f"uam: complete must be a bool, got {complete!r}")
        self.complete = complete

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        _check_eval(ctx.draw)
        target = freeze_class(target, ctx.draw, x)  # a predicted-class target: the class at x
        U, w = logit_weights(target, ctx.draw, x)  # [B], [S,B,K]
        grads = per_logit_gradients(ctx.draw, x, with_layers=True)
        B = x.shape[0]
        maps = torch.zeros(B, *x.shape[2:], dtype=x.dtype, device=x.device)
        S, K = w.shape[0], w.shape[2]
        wsum = w.sum((0, 2))  # [B]
        with torch.no_grad():
            for s, mg in enumerate(grads):
                M = fullgrad_map(mg.input_grad, x, mg.layers, mg.layer_grads)  # [K,B,H,W]
                if self.complete:
                    tot = M.flatten(2).sum(-1)[..., None, None]  # [K,B,1,1]
                    M = torch.where(tot > 0, M / tot.clamp_min(torch.finfo(x.dtype).tiny),
                                    torch.full_like(M, 1.0 / M[0, 0].numel()))
                    a = U[:, None] * w[s] / wsum.clamp_min(torch.finfo(x.dtype).tiny)[:, None]  # [B,K]
                    a = torch.where(wsum[:, None] > 0, a, U[:, None] / (S * K))  # no gradient: equal shares
                else:
                    a = w[s]  # [B,K]
                maps = maps + torch.einsum("bk,kbhw->bhw", a, M)
        delta = (maps.flatten(1).sum(1) - U).abs()
        return Attribution(maps, None, {"f_input": U, "weight_sum": wsum, "completeness_delta": delta})
