"""CovIG (Bley, Lapuschkin, Samek & Montavon, Pattern Recognition 2025, arXiv 2401.17441, Sec. 3
with integrated gradients as the first-order explanation): the covariance, across the S members,
of each member output's integrated gradients (Sundararajan et al. 2017, Eq. 1)

    R_s[k] = (x - x') * int_0^1 grad y_s[k](x' + a (x - x')) da

by the ``steps``-point Gauss-Legendre rule (Captum's default, the authors' 50 steps). IG is
complete, ``Sigma_s[k] = sum_i R_s[k,i] = y_s[k](x) - y_s[k](x')`` (up to the quadrature error),
so the marginal map sums to ``U2 = mean_s dSigma_s^T W dSigma_s``: for a class score the member
variance of ``y[k](x) - y[k](x')``. Forms and weights: :mod:`~unsure.attribution._cov`;
``docs/methods/cov-ig.md``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import Target
from .base import METHODS, Attribution, Context, Method
from ._cov import Form, cov_reduce, gauss_legendre, member_gradients, parse_form, used_outputs, weights
from .baselines import RANDOM_BASELINES, make_reference, parse_baseline
from .smoothgrad import check_count


@METHODS.register("cov-ig", "CovIG: covariance of the members' integrated gradients (second-order uncertainty)")
class CovIG(Method):
    """CovIG for a variance target.

    Parameters
    ----------
    form : ``"marg"`` (default; sums to ``U2``) or ``"diag"``
    steps : Gauss-Legendre nodes on the straight path (50, the authors')
    baseline : the reference ``x'``: ``"black"`` (default; the authors' zero baseline), ``"blur"``,
        ``"white"``, ``"max-distance"`` or a number (a constant image)
    blur_sigma : sigma of the ``"blur"`` baseline (default: 20 px at 224 px, scaled)
    internal_batch : path points per backward pass

    Returns
    -------
    maps ``[B,H,W]`` = ``sum_c raw``; raw ``[B,C,H,W]``; meta ``second_order [B]`` (``U2`` from the
    quadrature's own sums), ``exact [B]`` (the class score's member variance at x, or the mutual
    information), ``completeness_delta [B] = |sum(map) - exact|``. Cost: ``steps`` batched backward
    passes per member (over the outputs with a nonzero weight).
    """

    name = "cov-ig"
    complete = False

    def __init__(self, form: str | Form = Form.MARG, steps: int = 50, baseline: str | float = "black",
                 blur_sigma: float | None = None, internal_batch: int = 256):
        self.form = parse_form(form, self.name).value
        self.steps = check_count(steps, "cov-ig steps")
        if isinstance(baseline, str):
            if parse_baseline(baseline) in RANDOM_BASELINES:
                raise UnsureError(f"cov-ig needs a fixed baseline, not the random {baseline!r}")
            baseline = parse_baseline(baseline).value
        self.baseline, self.blur_sigma = baseline, blur_sigma
        self.internal_batch = check_count(internal_batch, "cov-ig internal_batch")

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        output, W, exact = weights(target, ctx.draw, x, self.name)
        used = used_outputs(W)
        ref = make_reference(self.baseline, x, blur_sigma=self.blur_sigma)
        alphas, w = gauss_legendre(self.steps, x.dtype, x.device)
        B = x.shape[0]
        avg = 0.0
        per = max(1, self.internal_batch // B)  # path points per pass
        for s in range(0, self.steps, per):
            a = alphas[s:s + per]
            pts = ref[None] + a[:, None, None, None, None] * (x - ref)[None]  # [m,B,C,H,W]
            g = member_gradients(ctx.draw, pts.reshape(-1, *x.shape[1:]), output, used)  # [S,K',m*B,...]
            g = g.reshape(*g.shape[:2], len(a), *x.shape)  # [S,K',m,B,C,H,W]
            avg = avg + torch.einsum("m,skmb...->skb...", w[s:s + per], g)
        R = avg * (x - ref)  # [S,K',B,C,H,W]
        raw, second = cov_reduce(R.detach(), W[:, used][:, :, used], Form(self.form))
        maps = raw.sum(1)  # [B,C,H,W] -> [B,H,W]
        delta = (maps.flatten(1).sum(1) - exact).abs()
        return Attribution(maps, raw, {"second_order": second, "exact": exact, "completeness_delta": delta})
