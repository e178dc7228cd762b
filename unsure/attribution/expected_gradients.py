"""Expected Gradients (Erion et al. 2021; Sturmfels et al., Distill 2020).

``A = mean_j (x - x'_j) * g(x'_j + alpha_j (x - x'_j))`` with ``x'_j ~ D`` a baseline distribution
(:mod:`unsure.attribution.baselines`) and ``alpha_j ~ U(0,1)``: a Monte-Carlo estimate of IG
averaged over references. ``sum(A)`` estimates ``f(x) - E f(x')``; ``completeness_delta`` reports
``|sum(A) - (f(x) - mean_j f(x'_j))|`` (only zero in expectation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures.targets import Target
from .base import METHODS, Attribution, Context, Method
from .baselines import parse_baseline, sample_baselines
from .integrators import value_and_grad
from ._trace import nodes_in_budget
from .path_methods import BaselineOptions, finish, path_target


def expected_gradients(fn: Callable[[Tensor], Tensor], x: Tensor, refs: Tensor, alphas: Tensor,
                       chunk: int = 64) -> tuple[Tensor, Tensor]:
    """Expected Gradients for given draws.

    Parameters
    ----------
    fn : ``[m,C,H,W] -> [m]``, differentiable
    x : images ``[B,C,H,W]``
    refs : baselines ``[N,B,C,H,W]``
    alphas : ``[N,B]`` in ``[0,1]``
    chunk : draws per forward/backward pass (memory: ``chunk * B`` images)

    Returns
    -------
    attribution ``[B,C,H,W]`` and ``mean_j f(x'_j)`` ``[B]``
    """
    N = refs.shape[0]
    if refs.shape[1:] != x.shape or alphas.shape != (N, x.shape[0]):
        raise UnsureError(f"expected refs [N,B,C,H,W] and alphas [N,B] for x {tuple(x.shape)}, got "
                          f"{tuple(refs.shape)} and {tuple(alphas.shape)}")
    attr = torch.zeros_like(x)
    f_ref = x.new_zeros(x.shape[0])
    for s in range(0, N, chunk):
        r, a = refs[s:s + chunk], alphas[s:s + chunk, :, None, None, None]  # a: [n,B,1,1,1]
        _, g = value_and_grad(fn, r + a * (x - r))
        attr = attr + ((x - r) * g).sum(0)
        with torch.no_grad():
            f_ref = f_ref + fn(r.reshape(-1, *x.shape[1:])).reshape(r.shape[:2]).sum(0)  # [n*B] -> [n,B]
    return attr / N, f_ref / N


@METHODS.register("expected-gradients", "Expected Gradients: IG averaged over random baselines and alphas")
@dataclass(kw_only=True, eq=False)
class ExpectedGradients(BaselineOptions, Method):
    """Expected Gradients over ``samples`` (50) draws of a baseline distribution.

    Parameters
    ----------
    baseline : ``black``, ``white``, ``max-distance``, ``blur``, ``uniform``, ``gaussian`` or
        ``training-data`` (needs ``data=Tensor[N,C,H,W]``, or a data spec such as
        ``"fashion-mnist"`` whose training split is loaded)
    samples : number of (baseline, alpha) draws per image
    internal_batch : images x draws per forward/backward pass (fewer where their module outputs
        would not fit the attribution memory budget: ``_trace.nodes_in_budget``)
    absolute : ``maps = sum_c |raw|`` instead of the signed ``sum_c raw``
    (and :class:`~unsure.attribution.path_methods.BaselineOptions`)

    Draws use ``generator``: first the baselines ``[N,B,...]`` (uniform/gaussian noise or training
    indices), then the alphas ``[N,B]``.
    """

    name: ClassVar[str] = "expected-gradients"
    complete: ClassVar[bool] = False  # complete only in expectation over the baselines
    stochastic: ClassVar[bool] = True  # the alphas are random whatever the baseline
    baseline: str = "black"
    samples: int = 50
    internal_batch: int = 256
    absolute: bool = False

    def __post_init__(self):
        self.baseline = parse_baseline(self.baseline).value
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise UnsureError(f"samples must be a positive int, got {self.samples!r}")
        if not (isinstance(self.internal_batch, int) and self.internal_batch >= 1):
            raise UnsureError(f"internal_batch must be a positive int, got {self.internal_batch!r}")
        if isinstance(self.data, str):  # a data spec (CLI: expected-gradients:baseline=training-data:data=SPEC)
            from ..data import load

            self.data_spec, self.data = self.data, load(self.data, "train").x  # the spec is recorded in options()
        if self.baseline == "training-data" and self.data is None:
            raise UnsureError("baseline='training-data' needs data=Tensor[N,C,H,W] of training images "
                              "or a data spec, e.g. data='fashion-mnist' (its training split)")

    def draws(self, x: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Baselines ``[N,B,C,H,W]`` and alphas ``[N,B]``, in that order from ``generator``."""
        refs = sample_baselines(self.baseline, x, self.samples, generator=generator,
                                value_range=self.value_range, blur_sigma=self.blur_sigma,
                                gaussian_sigma=self.gaussian_sigma, data=self.data)
        dev = generator.device if generator is not None else x.device
        alphas = torch.rand((self.samples, x.shape[0]), generator=generator, device=dev,
                            dtype=x.dtype).to(x.device)
        return refs, alphas

    def _attribute(self, x: Tensor, target: Target, ctx: Context) -> Attribution:
        fn = path_target(target, ctx.draw, x)
        refs, alphas = self.draws(x, ctx.generator)
        chunk = nodes_in_budget(ctx.draw, x, max(1, self.internal_batch // x.shape[0]))  # memory budget
        attr, f_ref = expected_gradients(fn, x, refs, alphas, chunk)
        with torch.no_grad():
            f_x = fn(x)
        delta = (attr.flatten(1).sum(1) - (f_x - f_ref)).abs()
        meta = {"completeness_delta": delta, "f_input": f_x, "f_reference": f_ref}
        return Attribution(finish(attr, self.absolute), attr, meta)
