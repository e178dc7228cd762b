"""CovGI (Bley, Lapuschkin, Samek & Montavon, "Explaining predictive uncertainty by exposing
second-order effects", Pattern Recognition 2025, arXiv 2401.17441): the uncertainty of a posterior
explained through the covariance, across its S members, of the members' first-order
(gradient x input) explanations. Definitions and equations: ``docs/methods/cov-gi.md``.

With member outputs ``y_s [K]`` (logits, or probabilities), their gradient x input explanations
``R_s[k,i] = x_i d y_s[k] / d x_i`` and ``Sigma_s[k] = sum_i R_s[k,i]``, CovGI explains the
second-order uncertainty ``U2 = mean_s dSigma_s^T W dSigma_s`` (``d`` = deviation from the member
mean) through the covariance matrix ``C[i,j] = mean_s dR_s[:,i]^T W dR_s[:,j]``:

- ``reduce="marginal"`` (the paper's heatmap): ``map_i = sum_j C[i,j]``, so ``sum_i map_i = U2``
- ``reduce="diagonal"``: ``map_i = C[i,i]`` (the features' own second-order effects only)

``W`` comes from the target: a class score of class k (``class:k``, ``class-logit:k``, predicted
class) gives ``W = e_k e_k^T``, i.e. the paper's ``Var_s y_s[k]`` (population variance, as the
authors' ``np.cov(bias=True)``); ``epistemic`` gives ``W = (diag(pbar) - pbar pbar^T) / 2`` on the
logits, the second-order expansion of the mutual information (our extension). For a bias-free
linear (or positively homogeneous ReLU) member ``Sigma_s = y_s`` and ``U2`` is that variance.
"""
from __future__ import annotations

from enum import Enum

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures import epistemic
from ..measures.targets import ClassScore, Target
from ..posteriors import Draw
from .base import METHODS, Attribution, Context, Method
from .grad import parse_option


class Reduce(str, Enum):
    """How the covariance matrix ``C [D,D]`` becomes one value per input element."""

    MARGINAL = "marginal"  # row sums: sum_j C[i,j] (sums to the explained uncertainty)
    DIAGONAL = "diagonal"  # C[i,i]


def weights(target: Target, draw: Draw, x: Tensor) -> tuple[str, Tensor, Tensor]:
    """What CovGI explains for ``target`` at ``x [B,C,H,W]``.

    Returns
    -------
    output : ``"logit"`` or ``"prob"``, the member outputs ``y_s`` whose explanations are used
    W : ``[B,K,K]`` symmetric weights of ``U2 = mean_s dSigma_s^T W dSigma_s``
    exact : ``[B]`` the uncertainty ``U2`` approximates: ``Var_s y_s[k]`` for a class score, the
        mutual information for ``epistemic``
    """
    with torch.no_grad():
        z = draw(x)  # [S,B,K]
    S, B, K = z.shape
    if target is epistemic:
        pbar = torch.softmax(z, -1).mean(0)  # [B,K]
        W = (torch.diag_embed(pbar) - pbar[:, :, None] * pbar[:, None, :]) / 2  # [B,K,K]
        return "logit", W, epistemic(z)
    if isinstance(target, ClassScore):
        y = torch.softmax(z, -1) if target.kind == "prob" else z
        if target.cls is None:
            idx = torch.softmax(z, -1).mean(0).argmax(-1)  # [B], frozen at x
        elif 0 <= target.cls < K:
            idx = torch.full((B,), target.cls, dtype=torch.long, device=z.device)
        else:
            raise UnsureError(f"class index {target.cls} out of range for K={K} classes")
        W = torch.zeros(B, K, K, dtype=z.dtype, device=z.device)
        W[torch.arange(B), idx, idx] = 1.0
        exact = y.gather(-1, idx[None, :, None].expand(S, B, 1))[..., 0].var(0, correction=0)  # [S,B] -> [B]
        return target.kind, W, exact
    name = getattr(target, "__name__", type(target).__name__)
    raise UnsureError(f"cov-gi explains a variance across members: use target 'epistemic' (second "
                      f"order mutual information) or a class score (class:N, class-logit:N, "
                      f"class), not {name!r}")


def member_outputs(draw: Draw, x: Tensor, output: str) -> Tensor:
    """``y [S,B,K]``: member logits or probabilities (``x`` must require grad)."""
    z = torch.stack([m(x) for m in draw.members], 0)  # [S,B,K]
    return torch.softmax(z, -1) if output == "prob" else z


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
    """CovGI for a variance target (Bley et al. 2025).

    Parameters
    ----------
    reduce : ``"marginal"`` (default; the paper's heatmap, sums to ``U2``) or ``"diagonal"``

    Returns
    -------
    maps ``[B,H,W]`` = ``sum_c raw``; raw ``[B,C,H,W]`` the reduced covariance per input element;
    meta ``second_order [B]`` (``U2``), ``exact [B]`` (what ``U2`` approximates: the class score's
    member variance or the mutual information), ``completeness_delta [B] = |sum(map) - exact|``.

    Targets: ``epistemic`` or a class score; others raise :class:`~unsure.errors.UnsureError`.
    Cost: one forward and three backward passes of all members (marginal), one backward per
    member and output (diagonal).
    """

    name = "cov-gi"
    complete = False  # sum(map) = U2, which equals the variance only for bias-free homogeneous nets

    def __init__(self, reduce: str | Reduce = Reduce.MARGINAL):
        self.reduce = parse_option(Reduce, reduce, self.name, "reduce").value

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        output, W, exact = weights(target, ctx.draw, x)
        xg = x.detach().requires_grad_(True)
        y = member_outputs(ctx.draw, xg, output)  # [S,B,K]
        S = y.shape[0]
        dsig = gi_sums(y, xg)
        dsig = dsig - dsig.mean(0, keepdim=True)  # [S,B,K], deviation from the member mean
        second = torch.einsum("sbk,bkl,sbl->b", dsig, W, dsig) / S
        if self.reduce == Reduce.MARGINAL:
            # sum_j C[i,j] = mean_s dR_s[:,i]^T W dSigma_s = mean_s R_s[:,i]^T c_s, c_s = W dSigma_s
            # (mean_s c_s = 0 removes the member-mean of R): one backward pass with weights c / S
            c = torch.einsum("bkl,sbl->sbk", W, dsig) / S
            (g,) = torch.autograd.grad(y, xg, c)
            raw = (g * x).detach()
        else:
            raw = self._diagonal(y, xg, W)
        maps = raw.sum(1)  # [B,C,H,W] -> [B,H,W]
        delta = (maps.flatten(1).sum(1) - exact).abs()
        return Attribution(maps, raw, {"second_order": second, "exact": exact,
                                       "completeness_delta": delta})

    @staticmethod
    def _diagonal(y: Tensor, xg: Tensor, W: Tensor) -> Tensor:
        """``C[i,i] = mean_s dR_s[:,i]^T W dR_s[:,i]`` from the explanations of every member output
        with a nonzero weight (one backward pass each)."""
        S, B, K = y.shape
        used = [k for k in range(K) if bool((W[:, k] != 0).any())]
        R = torch.zeros(S, len(used), *xg.shape, dtype=xg.dtype, device=xg.device)  # [S,k',B,C,H,W]
        for s in range(S):
            for j, k in enumerate(used):
                (g,) = torch.autograd.grad(y[s, :, k].sum(), xg, retain_graph=True)  # images independent
                R[s, j] = g * xg.detach()
        dR = R - R.mean(0, keepdim=True)
        Wu = W[:, used][:, :, used]  # [B,k',k']
        return torch.einsum("skb...,bkl,slb...->b...", dR, Wu, dR) / S
