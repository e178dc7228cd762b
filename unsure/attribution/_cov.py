"""What the Cov family shares (Bley, Lapuschkin, Samek & Montavon, "Explaining predictive
uncertainty by exposing second-order effects", Pattern Recognition 2025, arXiv 2401.17441, Sec. 3;
``docs/methods/cov-gi.md``): the target's output weights ``W``, the two forms of the covariance
explanation and the members' per-output explanations.

With member explanations ``R_s[k,i]`` of the outputs ``y_s[k]`` (gradient x input, integrated
gradients, LRP or Shapley values), ``Sigma_s[k] = sum_i R_s[k,i]`` and deviations from the member
mean ``dR_s``, ``dSigma_s``, the second-order explanation is ``C[i,j] = mean_s dR_s[:,i]^T W dR_s[:,j]``
(the paper's Eq. 6 summed over outputs with weights ``W``) and

- ``form="marg"``: ``map_i = sum_j C[i,j] = mean_s dR_s[:,i]^T W dSigma_s``, summing to
  ``U2 = mean_s dSigma_s^T W dSigma_s`` (the paper's marginal heatmap, the code's ``R_marg``)
- ``form="diag"``: ``map_i = C[i,i]`` (the code's ``R_diag``)
"""
from __future__ import annotations

from enum import Enum

import numpy as np
import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures import epistemic
from ..measures.targets import ClassScore, Target
from ..posteriors import Draw


class Form(str, Enum):
    """How the covariance matrix ``C [D,D]`` becomes one value per input element."""

    MARG = "marg"  # row sums: sum_j C[i,j] (sums to the explained uncertainty)
    DIAG = "diag"  # C[i,i]


#: the spellings cov-gi had before the family shared one vocabulary
ALIASES = {"marginal": "marg", "diagonal": "diag"}


def parse_form(value, method: str) -> Form:
    text = str(getattr(value, "value", value)).lower()
    try:
        return Form(ALIASES.get(text, text))
    except ValueError:
        raise UnsureError(f"{method}: form must be one of marg, diag, got {value!r}") from None


def weights(target: Target, draw: Draw, x: Tensor, method: str = "cov-gi") -> tuple[str, Tensor, Tensor]:
    """What a Cov method explains for ``target`` at ``x [B,C,H,W]``.

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
        elif isinstance(target.cls, Tensor):
            idx = target.cls.to(z.device).long()
            if ((idx < 0) | (idx >= K)).any():
                raise UnsureError(f"class indices out of range for K={K} classes")
        elif 0 <= target.cls < K:
            idx = torch.full((B,), target.cls, dtype=torch.long, device=z.device)
        else:
            raise UnsureError(f"class index {target.cls} out of range for K={K} classes")
        W = torch.zeros(B, K, K, dtype=z.dtype, device=z.device)
        W[torch.arange(B), idx, idx] = 1.0
        exact = y.gather(-1, idx[None, :, None].expand(S, B, 1))[..., 0].var(0, correction=0)  # [S,B] -> [B]
        return target.kind, W, exact
    name = getattr(target, "__name__", type(target).__name__)
    raise UnsureError(f"{method} explains a variance across members: use target 'epistemic' (second "
                      f"order mutual information) or a class score (class:N, class-logit:N, "
                      f"class), not {name!r}")


def used_outputs(W: Tensor) -> list[int]:
    """The outputs ``k`` with a nonzero weight for some image: only their explanations are needed."""
    return [k for k in range(W.shape[-1]) if bool((W[:, k] != 0).any())]


def member_outputs(draw: Draw, x: Tensor, output: str) -> Tensor:
    """``y [S,B,K]``: member logits or probabilities."""
    z = torch.stack([m(x) for m in draw.members], 0)  # [S,B,K]
    return torch.softmax(z, -1) if output == "prob" else z


def member_gradients(draw: Draw, points: Tensor, output: str, used: list[int]) -> Tensor:
    """``[S,K',n,C,H,W]``: the gradient of every member's outputs ``used`` at ``points [n,C,H,W]``,
    one batched backward pass per member (``is_grads_batched``; the images are independent)."""
    z = points.detach().requires_grad_(True)
    rows = []
    for m in draw.members:
        with torch.enable_grad():
            y = m(z)  # [n,K]
            y = torch.softmax(y, -1) if output == "prob" else y
            eye = torch.eye(y.shape[-1], dtype=y.dtype, device=y.device)[used]  # [K',K]
            (g,) = torch.autograd.grad(y, z, eye[:, None, :].expand(len(used), *y.shape).contiguous(),
                                       is_grads_batched=True)
        rows.append(g)
    return torch.stack(rows)  # [S,K',n,C,H,W]


def cov_reduce(R: Tensor, W: Tensor, form: Form) -> tuple[Tensor, Tensor]:
    """The covariance explanation of member explanations ``R [S,K',B,*D]`` with weights
    ``W [B,K',K']`` (population covariance over the S members, as the authors' ``np.cov(bias=True)``).

    Returns
    -------
    raw ``[B,*D]`` (``sum_j C[i,j]`` or ``C[i,i]``), ``U2 [B] = mean_s dSigma_s^T W dSigma_s``
    """
    S = R.shape[0]
    dR = R - R.mean(0, keepdim=True)  # [S,K',B,*D]
    dsig = dR.flatten(3).sum(-1)  # [S,K',B]
    second = torch.einsum("skb,bkl,slb->b", dsig, W, dsig) / S
    if form == Form.MARG:
        c = torch.einsum("bkl,slb->skb", W, dsig)  # c_s = W dSigma_s
        raw = torch.einsum("skb...,skb->b...", dR, c) / S
    else:
        raw = torch.einsum("skb...,bkl,slb...->b...", dR, W, dR) / S
    return raw, second


def gauss_legendre(steps: int, dtype, device) -> tuple[Tensor, Tensor]:
    """Nodes in (0, 1) and weights summing to 1 of the ``steps``-point Gauss-Legendre rule (Captum's
    default IG integrator, which the authors' CovIG used with 50 steps)."""
    nodes, w = np.polynomial.legendre.leggauss(steps)
    return (torch.as_tensor((nodes + 1) / 2, dtype=dtype, device=device),
            torch.as_tensor(w / 2, dtype=dtype, device=device))
