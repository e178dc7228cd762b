"""CovGI (Bley, Lapuschkin, Samek & Montavon, "Explaining predictive uncertainty by exposing
second-order effects", Pattern Recognition 2025, arXiv 2401.17441): the uncertainty of a posterior
explained through the covariance, across its S members, of the members' first-order
(gradient x input) explanations. Definitions and equations: ``docs/methods/cov-gi.md``.

With member outputs ``y_s [K]`` (logits, or probabilities), their gradient x input explanations
``R_s[k,i] = x_i d y_s[k] / d x_i`` and ``Sigma_s[k] = sum_i R_s[k,i]``, CovGI explains the
second-order uncertainty ``U2 = mean_s dSigma_s^T W dSigma_s`` (``d`` = deviation from the member
mean) through the covariance matrix ``C[i,j] = mean_s dR_s[:,i]^T W dR_s[:,j]``:

- ``form="marg"`` (the paper's marginal heatmap): ``map_i = sum_j C[i,j]``, so ``sum_i map_i = U2``
- ``form="diag"``: ``map_i = C[i,i]`` (the features' own second-order effects only)

(``reduce="marginal"|"diagonal"``, the old spelling, still works.) The shared parts of the Cov
family (weights, forms) live in :mod:`~unsure.attribution._cov`.

``W`` comes from the target: a class score of class k (``class:k``, ``class-logit:k``, predicted
class) gives ``W = e_k e_k^T``, i.e. the paper's ``Var_s y_s[k]`` (population variance, as the
authors' ``np.cov(bias=True)``); ``epistemic`` gives ``W = (diag(pbar) - pbar pbar^T) / 2`` on the
logits, the second-order expansion of the mutual information (our extension). For a bias-free
linear (or positively homogeneous ReLU) member ``Sigma_s = y_s`` and ``U2`` is that variance.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import Target
from .base import METHODS, Attribution, Context, Method
from ._cov import (Form, cov_reduce, member_gradients, member_outputs, parse_form, used_outputs,
                   weights)

__all__ = ["CovGI", "Form", "gi_sums", "member_outputs", "weights"]


def gi_sums(y: Tensor, x: Tensor) -> Tensor:
    """``Sigma [S,B,K] = J_s x``, the gradient x input sum of every member output.

    A Jacobian-vector product by the double-backward trick: ``g(v) = sum_s J_s^T v_s`` is linear
    in ``v``, so ``d <g(v), x> / d v_s = J_s x`` (two backward passes for all S*K outputs).
    """
    v = torch.zeros_like(y, requires_grad=True)
    (g,) = torch.autograd.grad(y, x, v, create_graph=True)
    (jx,) = torch.autograd.grad(g, v, x, retain_graph=True)
    return jx.detach()


@METHODS.register("cov-gi", "CovGI: covariance of the members' gradient x input (second-order uncertainty)")
class CovGI(Method):
    """CovGI for a variance target (Bley et al. 2025, Eqs. 6-8 with gradient x input).

    Parameters
    ----------
    form : ``"marg"`` (default; the paper's marginal heatmap, sums to ``U2``) or ``"diag"``
    reduce : the old name of ``form`` (``"marginal"`` / ``"diagonal"``); overrides ``form`` if given

    Returns
    -------
    maps ``[B,H,W]`` = ``sum_c raw``; raw ``[B,C,H,W]`` the reduced covariance per input element;
    meta ``second_order [B]`` (``U2``), ``exact [B]`` (what ``U2`` approximates: the class score's
    member variance or the mutual information), ``completeness_delta [B] = |sum(map) - exact|``.

    Targets: ``epistemic`` or a class score; others raise :class:`~unsure.errors.UnsureError`.
    Cost: one forward and three backward passes of all members (marg), one batched backward pass
    per member over the outputs with a nonzero weight (diag).
    """

    name = "cov-gi"
    complete = False  # sum(map) = U2, which equals the variance only for bias-free homogeneous nets

    def __init__(self, form: str | Form = Form.MARG, reduce: str | None = None):
        self.form = parse_form(form if reduce is None else reduce, self.name).value

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        output, W, exact = weights(target, ctx.draw, x, self.name)
        xg = x.detach().requires_grad_(True)
        if self.form == Form.MARG:
            with torch.enable_grad():
                y = member_outputs(ctx.draw, xg, output)  # [S,B,K]
                S = y.shape[0]
                dsig = gi_sums(y, xg)
                dsig = dsig - dsig.mean(0, keepdim=True)  # [S,B,K], deviation from the member mean
                second = torch.einsum("sbk,bkl,sbl->b", dsig, W, dsig) / S
                # sum_j C[i,j] = mean_s dR_s[:,i]^T W dSigma_s = mean_s R_s[:,i]^T c_s, c_s = W dSigma_s
                # (mean_s c_s = 0 removes the member-mean of R): one backward pass with weights c / S
                c = torch.einsum("bkl,sbl->sbk", W, dsig) / S
                (g,) = torch.autograd.grad(y, xg, c)
            raw = (g * x).detach()
        else:
            used = used_outputs(W)
            R = member_gradients(ctx.draw, x, output, used) * x  # [S,K',B,C,H,W], gradient x input
            raw, second = cov_reduce(R, W[:, used][:, :, used], Form.DIAG)
        maps = raw.sum(1)  # [B,C,H,W] -> [B,H,W]
        delta = (maps.flatten(1).sum(1) - exact).abs()
        return Attribution(maps, raw, {"second_order": second.detach(), "exact": exact,
                                       "completeness_delta": delta})
