"""CovShapley (Bley, Lapuschkin, Samek & Montavon, Pattern Recognition 2025, arXiv 2401.17441,
Sec. 3 with Shapley values as the first-order explanation): the covariance, across the S members,
of the Shapley values ``R_s[k,p]`` of every member output ``y_s[k]`` over the patches ``p`` of an
image (the players and estimator of :mod:`~unsure.attribution.shapley`: permutation sampling with
a substitute image). Shapley values are efficient, ``Sigma_s[k] = sum_p R_s[k,p] = y_s[k](x) -
y_s[k](x')`` exactly for every number of permutations, so the marginal map sums to ``U2 = mean_s
dSigma_s^T W dSigma_s`` exactly. Forms and weights: :mod:`~unsure.attribution._cov`;
``docs/methods/cov-shapley.md``.

**(decision)** One set of permutations serves every member and output: each coalition image is
evaluated once through all members, so the cost is that of ``shapley`` (the authors' code draws
fresh permutations per member and output, S*K times the cost, and adds sampling noise to the
covariance).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..measures.targets import Target
from .base import METHODS, Attribution, Context, Method
from ._cov import Form, cov_reduce, member_outputs, parse_form, used_outputs, weights
from .shapley import (CELLS, draw_permutations, patch_labels, permutation_shapley, set_sampling_options,
                      substitute_image)


@METHODS.register("cov-shapley", "CovShapley: covariance of the members' patch Shapley values (second-order uncertainty)")
class CovShapley(Method):
    """CovShapley for a variance target.

    Parameters
    ----------
    form : ``"marg"`` (default; sums to ``U2`` exactly) or ``"diag"``
    samples, patch, antithetic, eval_batch, blur_sigma : as ``shapley`` (64 permutations, at most
        8 x 8 patches, antithetic pairs)
    substitute : a removed patch becomes ``"zero"`` (default; the authors' zero baseline),
        ``"mean"`` or ``"blur"``

    Returns
    -------
    maps ``[B,H,W]``: each patch's ``sum_j C[p,j]`` (marg) or ``C[p,p]`` (diag) spread uniformly
    over its pixels, so the map sums to the patch-level total; raw ``None``; meta
    ``second_order [B]`` (``U2``), ``exact [B]`` (the class score's member variance at x, or the
    mutual information), ``completeness_delta [B] = |sum(map) - exact|``, ``patch``.
    Cost: ``N (P - 1) + 2`` forward passes of all members per image, as ``shapley``.
    """

    name = "cov-shapley"
    complete = False
    stochastic = True

    def __init__(self, form: str | Form = Form.MARG, samples: int = 64, patch: int | None = None,
                 substitute: str = "zero", blur_sigma: float = 2.0, antithetic: bool = True,
                 eval_batch: int = 256):
        self.form = parse_form(form, self.name).value
        set_sampling_options(self, "cov-shapley", samples, patch, substitute, blur_sigma, antithetic, eval_batch)

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        B, C, H, W = x.shape
        output, Wt, exact = weights(target, ctx.draw, x, self.name)
        used = used_outputs(Wt)
        patch = self.patch or math.ceil(max(H, W) / CELLS)
        labels = patch_labels((H, W), patch, x.device)
        P = int(labels.max()) + 1
        perms = draw_permutations(self.samples, P, self.antithetic, ctx.generator)
        sub = substitute_image(x, self.substitute, self.blur_sigma)

        def outputs(z: Tensor) -> Tensor:  # [n,C,H,W] -> [n, S*K']: every member's used outputs
            y = member_outputs(ctx.draw, z, output)[:, :, used]  # [S,n,K']
            return y.permute(1, 0, 2).reshape(z.shape[0], -1)

        phi, _, _ = permutation_shapley(outputs, x, sub, labels, perms, self.eval_batch)  # [B,P,S*K']
        S = len(ctx.draw.members)
        R = phi.reshape(B, P, S, len(used)).permute(2, 3, 0, 1)  # [B,P,S,K'] -> [S,K',B,P]
        vals, second = cov_reduce(R, Wt[:, used][:, :, used], Form(self.form))  # [B,P]
        count = torch.bincount(labels.reshape(-1), minlength=P).to(x.dtype)  # pixels per patch
        maps = (vals / count)[:, labels]  # [B,P] -> [B,H,W]
        delta = (maps.flatten(1).sum(1) - exact).abs()
        return Attribution(maps, None, {"second_order": second, "exact": exact,
                                        "completeness_delta": delta, "patch_values": vals, "patch": patch})
