"""UA-Backprop (variant ``class``) with a reference *distribution* and the ``joint`` grouping, and
the step-3 helpers both use (references, the pixel distribution, channel shares).

- reference distribution: a '+'-joined mixture of references ("blur@1+blur@2+blur@4+black+mean",
  :data:`MIX`); each group's relevance is the mean over the references of ``relu(T_j)``
  (``combine="mean-of-relu"``) or ``relu(mean_j T_j)`` (``"relu-of-mean"``), ``T_j`` the group's
  exact signed gradient times ``x - x0_j`` (or, with ``path="ig"`` and the joint grouping, the
  integrated gradients from ``x0_j``): an Expected-Gradients-style average;
- ``noise@SIGMA`` in a mixture: the reference ``x + eps``, ``eps ~ N(0, SIGMA^2)`` per pixel, taken
  in expectation: ``E relu(g * (x - (x + eps))) = |g| SIGMA / sqrt(2 pi)`` (clipping to [0, 1]
  ignored), the first-order effect of noising a pixel; ``combine="mean-of-scaled-relu"`` divides
  each reference's relu'd term by its maximum over the image first, so every reference weighs the
  same in the ranking whatever its scale;
- grouping ``class``: the groups are the class terms ``a_k`` (as the default); ``joint``: one group,
  ``U`` itself, whose exact gradient keeps every cancellation across classes and members.

The map is ``sum_groups term * rtilde(r_group)`` with ``rtilde`` the floor-free pixel distribution,
so it sums to ``U`` exactly whatever the references (tests/attribution/test_ua_backprop_mixture.py).
The test's substitute is never an input: the references are fixed by the options.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures import decompose
from ..ops.blur import gaussian_blur_many
from ..posteriors import Draw
from ._trace import GraphForward, draw_gradients

def reference_image(x: Tensor, reference: str, blur_sigma: float) -> Tensor:
    """The reference ``x0`` of the inputgrad and ig paths: ``0`` (black), ``1`` (white), the
    image's channel mean (mean) or the blurred image ``G_sigma x`` (blur, or ``blur@SIGMA``; the
    blur of the blurring test, reflect padding)."""
    if reference == "black":
        return torch.zeros_like(x)
    if reference == "white":
        return torch.ones_like(x)
    if reference == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    if reference.startswith("noise@"):
        raise UnsureError("ua-backprop: a 'noise@SIGMA' reference has no single image; it belongs to "
                          "variant 'class' with path 'inputgrad' (an expected first-order effect)")
    if reference.startswith("blur@"):
        blur_sigma = float(reference[5:])
    return gaussian_blur_many(x, [blur_sigma])[0]  # [1,B,C,H,W] -> [B,C,H,W]


def reference_images(x: Tensor, items: list[str], blur_sigma: float) -> list[Tensor]:
    """:func:`reference_image` of every item, the blurred ones from one
    :func:`~unsure.ops.blur.gaussian_blur_many` call over all their sigmas (the same numbers as one
    call per sigma: each sigma keeps its own kernel radius, tests/attribution/test_ua_mixture_refs.py;
    at small images one call per sigma cost the default 14% of its time)."""
    sig = [float(t[5:]) if t.startswith("blur@") else float(blur_sigma) for t in items
           if t == "blur" or t.startswith("blur@")]
    blurred = iter(gaussian_blur_many(x, sig) if len(sig) > 1 else [])  # [G,B,C,H,W]
    return [next(blurred) if len(sig) > 1 and (t == "blur" or t.startswith("blur@"))
            else reference_image(x, t, blur_sigma) for t in items]


def pixel_distribution(r: Tensor, T2: float, floor: bool = True) -> Tensor:
    """Spec step 3 post-processing: ``softmax over pixels of (r / max r) / T2``: ``[J,B,H,W]``.

    Dividing by ``max r`` **(decision)** makes ``T2`` mean the same for every path; an all-zero
    ``r`` gives the uniform distribution. ``floor=False`` (variant ``class``) uses
    ``exp(r / max r / T2) - 1`` instead, so zero relevance gets exactly zero.
    """
    J, B, H, W = r.shape
    flat = r.reshape(J, B, H * W)  # [J,B,H,W] -> [J,B,HW]
    scale = flat.abs().amax(-1, keepdim=True).clamp_min(torch.finfo(r.dtype).tiny)
    v = flat / scale  # in [0, 1], max 1 unless r == 0
    if floor:
        return torch.softmax(v / T2, dim=-1).reshape(J, B, H, W)  # -> [J,B,H,W]
    # exp((v-1)/T2) - exp(-1/T2) = (exp(v/T2) - 1) * exp(-1/T2), without overflow
    e = torch.exp((v - 1) / T2) - torch.exp(torch.tensor(-1 / T2, dtype=r.dtype))
    e = e.clamp_min(0)
    tot = e.sum(-1, keepdim=True)
    out = torch.where(tot > 0, e / tot.clamp_min(torch.finfo(r.dtype).tiny),
                      torch.full_like(e, 1 / (H * W)))
    return out.reshape(J, B, H, W)  # [J,B,HW] -> [J,B,H,W]


def _channel_share(rc: Tensor) -> Tensor:
    """Each channel's share of a pixel's relevance ``[J,B,C,H,W]`` (uniform where it is 0)."""
    tot = rc.sum(2, keepdim=True)
    return torch.where(tot > 0, rc / tot.clamp_min(torch.finfo(rc.dtype).tiny),
                       torch.full_like(rc, 1 / rc.shape[2]))


def reference_items(reference: str) -> list[str]:
    """``"blur@1+blur@2+black+mean"`` -> its items, each checked (a one-line UnsureError)."""
    items = [u for t in str(reference).split("+")
             for u in (MIX.split("+") if t.strip() == "mix" else [t.strip()])]
    for t in items:
        ok = t in ("black", "white", "blur", "mean")
        for prefix in ("blur@", "noise@"):
            if t.startswith(prefix):
                try:
                    ok = float(t[len(prefix):]) > 0
                except ValueError:
                    ok = False
        if not ok:
            raise UnsureError("ua-backprop reference must be 'auto', 'black', 'white', 'mean', 'blur', "
                              f"'blur@SIGMA', 'noise@SIGMA' or a '+'-joined mixture of them, got {reference!r}")
    return items


#: how a reference mixture's terms are combined (module docstring)
COMBINES = ("mean-of-relu", "relu-of-mean", "mean-of-scaled-relu")

#: ``reference="mix"``: the reference distribution of the robust variant (docs/ua-backprop.md).
MIX = "blur@1+blur@2+blur@4+black+mean"


def mixture_maps(method, x: Tensor, z: Tensor, a_k: Tensor, D: Tensor, draw: Draw, st: dict,
                 kind: str, graph: GraphForward | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The maps of ``method`` (a ``UABackprop``, variant ``class``) with a reference distribution
    and/or the joint grouping (module docstring).

    Parameters
    ----------
    x : ``[B,C,H,W]``; z : ``[S,B,K]`` logits of ``draw``
    a_k, D : class terms ``[B,K]`` and their logit Jacobian ``[K,S,B,K]`` (``class_terms``)
    st : the resolved settings (path, T2, reference, blur_sigma)
    kind : "total", "aleatoric" or "epistemic"
    graph : the kept forward of ``x`` that gave ``z`` (``_trace.graph_forward``): the inputgrad
        path's one backward runs through it instead of a new forward

    Returns
    -------
    ``(maps [B,H,W], raw [B,C,H,W], kept_logits [B])``; ``maps.sum((1, 2)) == sum_k a_k == U``
    """
    joint = method.grouping == "joint"
    path = st["path"]
    if path != "inputgrad" and not (joint and path == "ig"):
        raise UnsureError("ua-backprop: a '+'-joined reference mixture or grouping='joint' needs "
                          "path='inputgrad' (or 'ig' with grouping='joint')")
    if not method.normalise:
        raise UnsureError("ua-backprop: a reference mixture or grouping='joint' needs normalise=True")
    items = reference_items(st["reference"])
    noise = [float(t[6:]) for t in items if t.startswith("noise@")]
    refs = reference_images(x, [t for t in items if not t.startswith("noise@")], st["blur_sigma"])
    if noise and path == "ig":
        raise UnsureError("ua-backprop: 'noise@SIGMA' references need path='inputgrad'")
    if path == "ig":  # IG of U from every reference (midpoint rule, ``steps`` points)
        ts = [_joint_ig(draw, x, ref, kind, method.steps) for ref in refs]  # each [1,B,C,H,W]
    elif joint:  # one group, U itself: d U / dx = sum_i (d U / d z_i) dz_i / dx, one backward
        dU_dz = D.sum(0)  # [K,S,B,K] -> [S,B,K]
        g_all = draw_gradients(draw, x, dU_dz[None], graph=graph)  # [1,B,C,H,W], all members at once
    else:  # exact d a_k / dx through every member: rows k with cotangents D[k] = d a_k / d z
        g_all = draw_gradients(draw, x, D, graph=graph)  # [K,B,C,H,W]
    stacked = None  # the image references' terms in one tensor [R,K,B,C,H,W] (fewer small ops)
    if path != "ig":
        with torch.no_grad():
            if refs:  # term j = g * (x - ref_j), each [K,B,C,H,W] ([1,...] joint)
                stacked = g_all.unsqueeze(0) * (x.unsqueeze(0) - torch.stack(refs)).unsqueeze(1)
            ts = [] if stacked is None else list(stacked.unbind(0))
            # E relu(-g eps) = |g| sigma / sqrt(2 pi); its signed mean E(-g eps) is 0
            ts += [_NoiseTerm(g_all.abs() * (s / math.sqrt(2 * math.pi))) for s in noise]
    with torch.no_grad():
        if method.combine == "relu-of-mean":
            ts, stacked = [sum(t.signed() if isinstance(t, _NoiseTerm) else t for t in ts) / len(ts)], None
        scaled = method.combine == "mean-of-scaled-relu"  # each reference's term / its max over the image
        tiny = torch.finfo(x.dtype).tiny
        if stacked is not None:  # the same numbers as the per-term lines below, in one tensor
            ps = stacked.clamp_min(0)
            if scaled:
                ps = ps / ps.flatten(3).amax(-1)[..., None, None, None].clamp_min(tiny)
            pos, rest = list(ps.unbind(0)), ts[len(refs):]  # rest: the noise terms
        else:
            pos, rest = [], ts
        more = [t.relu() if isinstance(t, _NoiseTerm) else t.clamp_min(0) for t in rest]
        if scaled:
            more = [p / p.flatten(2).amax(-1)[..., None, None, None].clamp_min(tiny) for p in more]
        pos += more
        rc = sum(pos) / len(pos)
        r = rc.mean(2)  # [K,B,H,W]
        none = r.flatten(2).amax(-1) <= 0  # [K,B] a group whose term nothing raises: |T|
        if bool(none.any()):
            absc = sum(t.relu() if isinstance(t, _NoiseTerm) else t.abs() for t in ts) / len(ts)
            r = torch.where(none[..., None, None], absc.mean(2), r)
            rc = torch.where(none[..., None, None, None], absc, rc)
        rt = pixel_distribution(r, st["T2"], floor=False)  # [K,B,H,W] ([1,B,H,W] joint)
        w = a_k.sum(1, keepdim=True) if joint else a_k  # [B,K], or [B,1] = U
        maps = torch.einsum("bk,kbhw->bhw", w, rt)
        # = einsum("bk,kbhw,kbchw->bchw", w, rt, share) to the bit (the contraction order
        # opt_einsum picks), without finding that order again on every call
        raw = torch.einsum("kbhw,kbchw->bchw", w.T[:, :, None, None] * rt, _channel_share(rc))
    return maps, raw, torch.full((x.shape[0],), z.shape[-1] * len(draw), device=x.device)


class _NoiseTerm:
    """A noise reference's term in expectation: ``relu`` gives ``E relu(T) = |g| sigma / sqrt(2 pi)``,
    ``signed`` gives ``E T = 0``."""

    def __init__(self, expected_relu: Tensor):
        self.expected_relu = expected_relu

    def relu(self) -> Tensor:
        return self.expected_relu

    def signed(self) -> Tensor:
        return torch.zeros_like(self.expected_relu)


def _joint_ig(draw: Draw, x: Tensor, ref: Tensor, kind: str, steps: int) -> Tensor:
    """Integrated gradients of ``U`` (the sum of the ``kind`` decomposition's terms) from ``ref``
    to ``x``, midpoint rule with ``steps`` points: ``[1,B,C,H,W]``."""
    acc = torch.zeros_like(x)
    for i in range(steps):
        a = (i + 0.5) / steps
        pt = (ref + a * (x - ref)).detach().requires_grad_(True)
        with torch.enable_grad():
            u = decompose(draw(pt), kind).sum((0, 2))  # [S,B,K] -> [B]
            (g,) = torch.autograd.grad(u.sum(), pt)
        acc += g.detach()
    return (acc / steps * (x - ref)).unsqueeze(0)
