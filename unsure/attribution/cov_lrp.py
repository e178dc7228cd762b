"""CovLRP (Bley, Lapuschkin, Samek & Montavon, Pattern Recognition 2025, arXiv 2401.17441, Sec. 3
with LRP as the first-order explanation; the paper's main method): the covariance, across the S
members, of each member output's LRP relevance ``R_s[k]``, computed with the generalized LRP-gamma
rule in every ``Linear`` / ``Conv2d`` layer and LRP-0 in each member's output layer
(:mod:`~unsure.attribution._lrp`; the rules of zennit's ``Gamma``, which the authors' code uses).
LRP relevance is gradient x input through the rule-modified backward pass, so the forms, weights
and fast marginal computation are CovGI's (:mod:`~unsure.attribution.cov_gi`). The relevance
absorbed by biases is lost, so the marginal map sums to ``U2`` of the conserved part.
``docs/methods/cov-lrp.md``.
"""
from __future__ import annotations

from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import Target
from .base import METHODS, Attribution, Context
from ._cov import Form
from ._lrp import lrp_rules
from .cov_gi import CovGI


@METHODS.register("cov-lrp", "CovLRP: covariance of the members' LRP-gamma relevances (second-order uncertainty)")
class CovLRP(CovGI):
    """CovLRP for a variance target.

    Parameters
    ----------
    form : ``"marg"`` (default; sums to ``U2``) or ``"diag"``
    gamma : LRP-gamma of the hidden ``Linear`` / ``Conv2d`` layers (0.1, the authors' value for
        their CNNs; 0.2 for their MLPs); 0 gives LRP-0 everywhere
    gamma_out : gamma of each member's output layer (0, the authors')
    epsilon : the denominators' stabilizer (1e-6, zennit's default)

    Returns
    -------
    As ``cov-gi`` (maps, raw ``[B,C,H,W]``, ``second_order``, ``exact``, ``completeness_delta``).
    Other layers (ReLU, pooling, batch-norm) pass the gradient unchanged; a model with batch-norm
    is best canonized first (zennit's canonizers), which this method does not do.
    """

    name = "cov-lrp"

    def __init__(self, form: str | Form = Form.MARG, gamma: float = 0.1, gamma_out: float = 0.0,
                 epsilon: float = 1e-6):
        super().__init__(form)
        for opt, v in (("gamma", gamma), ("gamma_out", gamma_out), ("epsilon", epsilon)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise UnsureError(f"cov-lrp: {opt} must be a number >= 0, got {v!r}")
        self.gamma, self.gamma_out, self.epsilon = float(gamma), float(gamma_out), float(epsilon)

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        with lrp_rules(ctx.draw, x, self.gamma, self.gamma_out, self.epsilon):
            return super()._attribute(x, target, ctx)
