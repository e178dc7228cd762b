"""UA-Backprop (Wang, Joshi, Wang & Ji, CVPR 2023), as restated in ``spec/UA_BACKPROP.md``.

An entropy-based uncertainty ``U`` is a sum of per-probability terms ``a(p_k^m)`` (paper Eq. 4,
``measures.decompose``). Step 2 moves each term onto the logits with softmax-normalised Jacobian
coefficients (Eq. 5-8); step 3 spreads each logit's share over the pixels with a relevance
distribution ``rtilde(z_j^m)`` that sums to 1 (Eq. 9-10). Hence ``sum(map) == U`` exactly
(Eq. 11), whatever the temperatures, the path method or the variant.

All K x S relevance maps come from one batched backward pass per member
(``_trace.per_logit_gradients``); there is no Python loop over classes.

``normalise=False`` drops both normalisations (raw ``|J_kj|`` coefficients, raw relevance): the
paper's ablation (Appendix D.7), which loses completeness.
"""
from __future__ import annotations

from enum import Enum

import torch
from torch import Tensor

from ..errors import UnsureError
from ..measures import Measure, decompose, decomposable, measure_of
from ..posteriors import Draw
from ._trace import GraphForward, draw_gradients, graph_forward, per_logit_gradients
from .base import METHODS, Attribution, Context, Method
from .fullgrad_maps import bias_term_map, psi
from .ua_mixture import (COMBINES, MIX, _channel_share, mixture_maps, pixel_distribution,  # noqa: F401
                         reference_image, reference_items)
from .ua_prune import gather_rows, kept_rows, prune_terms  # noqa: F401  (prune_terms: public here)

class Path(str, Enum):
    """How a logit's relevance reaches the pixels (spec step 3)."""

    FULLGRAD = "fullgrad"
    GRAD = "grad"
    INPUTGRAD = "inputgrad"
    IG = "ig"


class Variant(str, Enum):
    """``paper``: exactly the spec.

    ``class`` (ours; evidence in docs/ua-backprop-research.md), complete as well:

    1. terms grouped by class over the members, ``a_k = sum_m a(p_k^m)``; each ``a_k >= 0`` for
       total, aleatoric and epistemic uncertainty (for epistemic by the log-sum inequality), and
       ``sum_k a_k = U`` (:func:`class_terms`);
    2. each ``a_k`` reaches the pixels through its *exact* gradient, a signed combination of all
       members' per-logit gradients (so members' and logits' common parts cancel, as they do in
       ``dU/dx``), keeping the part that raises ``a_k``: ``relu(T)`` instead of ``|T|``;
    3. floor-free pixel distribution ``rtilde ~ exp(r / max r / T2) - 1``: zero relevance gets
       exactly zero. ``T1`` is not used.
    """

    PAPER = "paper"
    CLASS = "class"


# ------------------------------------------------------------------ step 2: probabilities -> logits
def logit_terms(logits: Tensor, a_p: Tensor, T1: float, normalise: bool = True) -> Tensor:
    """Paper Eq. 5-8: ``a(z_j^m) = sum_k w_kj a(p_k^m)``, ``w_kj = softmax_j(|J_kj| / T1)``.

    Parameters
    ----------
    logits : ``[S, B, K]``
    a_p : ``[S, B, K]`` per-probability terms of the uncertainty
    T1 : temperature of the softmax over j
    normalise : False: raw coefficients ``w_kj = |J_kj|`` (ablation, paper Appendix D.7; ``T1``
        unused, the sum is not kept)

    Returns
    -------
    ``[S, B, K]``; with ``normalise``, ``sum over (S, K)`` equals ``a_p``'s, because every row of
    ``w`` sums to 1.
    """
    p = torch.softmax(logits, dim=-1)
    eye = torch.eye(p.shape[-1], dtype=p.dtype, device=p.device)
    jac = p.unsqueeze(-1) * (eye - p.unsqueeze(-2))  # [S,B,K] -> [S,B,K(k),K(j)]
    # rows k sum to 1 over j, or raw |J_kj| without normalisation
    w = torch.softmax(jac.abs() / T1, dim=-1) if normalise else jac.abs()
    return torch.einsum("sbkj,sbk->sbj", w, a_p)


def class_terms(logits: Tensor, kind: str | Measure, rows: bool = True) -> tuple[Tensor, Tensor]:
    """Class-level terms ``a_k = sum_m a(p_k^m)`` and their logit Jacobian (variant ``class``).

    Returns ``(a [B, K], D [K, S, B, K])`` with ``D[k, m, b, j] = d a_k(b) / d z_j^m(b)``, from one
    batched backward over one-hot cotangents. ``rows=False`` (the joint grouping, which needs only
    ``sum_k D[k] = d U / d z``): ``D [1, S, B, K]`` is that sum, from one plain backward of
    ``sum_k a_k = U``; the K rows cost O(K^2) per image and member (at K = 1000, most of the
    default's time: docs/results/speed-scale.md).
    """
    zr = logits.detach().requires_grad_(True)
    with torch.enable_grad():
        a = decompose(zr, kind).sum(0)  # [S,B,K] -> [B,K]
        if not rows:  # images are independent: d sum_b U_b / d z[:, b] = d U_b / d z[:, b]
            (g,) = torch.autograd.grad(a.sum(), zr)  # [S,B,K]
            return a.detach(), g[None]  # [1,S,B,K]
        B, K = a.shape
        eye = torch.eye(K, dtype=a.dtype, device=a.device)[:, None, :].expand(K, B, K)  # [K,B,K]
        (D,) = torch.autograd.grad(a, zr, grad_outputs=eye, is_grads_batched=True)  # [K,S,B,K]
    return a.detach(), D


# ------------------------------------------------------------------ step 3: logits -> pixels

def _path_terms(path: Path, draw: Draw, x: Tensor, classes: Tensor | None, ref: Tensor,
                steps: int, cotangents: Tensor | None = None):
    """Per-logit path terms of a one-member ``draw``: ``(T [J,B,C,H,W], layers, layer_grads)``.

    ``T`` is ``grad``, ``grad * (x - ref)`` (inputgrad; ``grad * x`` for fullgrad) or the IG
    attribution from ``ref``; the bias layers are recorded for the fullgrad path only.
    ``classes`` / ``cotangents``: the rows to differentiate (``per_logit_gradients``).
    """
    if path is Path.IG:
        return _integrated_gradients(draw, x, classes, ref, steps, cotangents=cotangents), [], []
    (g,) = per_logit_gradients(draw, x, with_layers=path is Path.FULLGRAD, classes=classes,
                               cotangents=cotangents)
    if path is Path.GRAD:
        t = g.input_grad
    elif path is Path.FULLGRAD:
        t = g.input_grad * x.unsqueeze(0)
    else:
        t = g.input_grad * (x - ref).unsqueeze(0)
    return t, g.layers, g.layer_grads


def _relevance(path: Path, t: Tensor, layers, layer_grads, directed: bool) -> tuple[Tensor, Tensor | None]:
    """Pixel relevance ``r [J,B,H,W] >= 0`` from path terms ``t [J,B,C,H,W]`` (spec step 3), and
    the per-channel relevance ``[J,B,C,H,W]`` (``None`` for fullgrad)."""
    H, W = t.shape[-2:]
    if path is Path.FULLGRAD:  # t is grad * x; FullGrad's psi per layer
        tt = t.clamp_min(0) if directed else t
        return psi(tt, start_dim=2).sum(2) + bias_term_map(layers, layer_grads, (H, W), directed), None
    rc = t.clamp_min(0) if directed else t.abs()
    return rc.mean(2), rc  # [J,B,C,H,W] -> [J,B,H,W]


def _draw_path_terms(path: Path, draw: Draw, x: Tensor, ref: Tensor, steps: int,
                     cotangents: Tensor, max_images: int = 512, graph: GraphForward | None = None) -> Tensor:
    """Path terms ``[J,B,C,H,W]`` of rows ``cotangents [J,S,B,K]`` through the whole draw
    (``_trace.draw_gradients``; ``graph``: a kept forward of ``x`` to backpropagate through):
    grad, ``grad * (x - ref)`` or IG from ``ref`` (midpoint rule)."""
    if path is Path.GRAD:
        return draw_gradients(draw, x, cotangents, graph=graph)
    if path is Path.INPUTGRAD:
        return draw_gradients(draw, x, cotangents, graph=graph) * (x - ref).unsqueeze(0)
    # rows follow their image along the path: [J,S,B,K] -> [J,S,n*B,K]
    return _midpoint_path(x, ref, steps, max_images,
                          lambda pts, n: draw_gradients(draw, pts, cotangents.repeat(1, 1, n, 1)))


def _midpoint_path(x: Tensor, ref: Tensor, steps: int, max_images: int, grads) -> Tensor:
    """IG from ``ref`` by the midpoint rule, ``[J,B,C,H,W]``: ``grads(points [n*B,C,H,W], n)``
    returns the rows' input gradients ``[J,n*B,C,H,W]`` at ``n`` path points per batched backward."""
    B = x.shape[0]
    alphas = (torch.arange(steps, dtype=x.dtype, device=x.device) + 0.5) / steps
    per = max(1, max_images // B)  # path points per batched backward
    acc = None
    for s in range(0, steps, per):
        a = alphas[s:s + per]
        pts = ref.unsqueeze(0) + a[:, None, None, None, None] * (x - ref).unsqueeze(0)  # [n,B,C,H,W]
        g = grads(pts.reshape(-1, *x.shape[1:]), len(a))  # [J,n*B,C,H,W]
        gsum = g.reshape(len(g), len(a), *x.shape).sum(1)  # [J,n*B,..] -> [J,B,C,H,W]
        acc = gsum if acc is None else acc + gsum
    return acc / steps * (x - ref).unsqueeze(0)


def _integrated_gradients(draw: Draw, x: Tensor, classes: Tensor | None, ref: Tensor,
                          steps: int, max_images: int = 512, cotangents: Tensor | None = None) -> Tensor:
    """Per-logit IG from the reference image ``ref``, midpoint Riemann sum: ``[J,B,C,H,W]``."""
    def grads(pts: Tensor, n: int) -> Tensor:
        # per-image rows follow their image along the path: [J,B(,K)] -> [J,n*B(,K)]
        cls = classes.repeat(1, n) if classes is not None and classes.ndim == 2 else classes
        cot = None if cotangents is None else cotangents.repeat(1, n, 1)
        (g,) = per_logit_gradients(draw, pts, classes=cls, cotangents=cot)
        return g.input_grad  # [J,n*B,C,H,W]

    return _midpoint_path(x, ref, steps, max_images, grads)



#: Settings that ``"auto"`` resolves to, per (variant, image kind); chosen by the blurring test on
#: the validation split of Fashion-MNIST with the 5-member paper-CNN ensemble (docs/ua-backprop.md:
#: blur reference with sigma 2 gave MURR@2% .703 against .643 for the black reference). "colour" is unvalidated
#: (no colour run was measured) and equals "grayscale". ``T1`` is unused by variant ``class``.
DEFAULTS: dict[tuple[str, str], dict] = {
    ("class", "grayscale"): {"path": "inputgrad", "T1": 1.0, "T2": 1.0, "reference": "blur",
                             "blur_sigma": 2.0},
    ("paper", "grayscale"): {"path": "fullgrad", "T1": 1.0, "T2": 0.3, "reference": "black",
                             "blur_sigma": 1.0},
}
DEFAULTS[("class", "colour")] = dict(DEFAULTS[("class", "grayscale")])
DEFAULTS[("paper", "colour")] = dict(DEFAULTS[("paper", "grayscale")])


#: ``prune="auto"`` for the class variant: keep the class terms that carry all but ``MAP_TOLERANCE / 2``
#: of ``U``, so the pruned map is within ``MAP_TOLERANCE * U`` (L1) of the unpruned one: the
#: completeness tolerance of spec/UA_BACKPROP.md ("Properties to test"), not a tuned value.
MAP_TOLERANCE = 1e-5
AUTO_KEEP = 1.0 - MAP_TOLERANCE / 2


@METHODS.register("ua-backprop", "UA-Backprop (Wang et al. CVPR 2023): complete uncertainty maps "
                                 "from per-probability terms, one batched backward per member")
class UABackprop(Method):
    """Uncertainty attribution by backpropagating the terms of an entropy decomposition.

    Parameters
    ----------
    variant : "class" (default; see :class:`Variant`) or "paper" (exactly the spec)
    path : "fullgrad" (the paper's), "grad", "inputgrad" or "ig" (spec step 3)
    T1 : temperature of the Jacobian softmax (step 2; variant "paper" only)
    T2 : temperature of the pixel distribution (step 3)
    prune : "auto" (default), None, or the share of the terms' mass to keep per image (e.g. 0.999;
        spec, Cost). "auto": :data:`AUTO_KEEP` for variant "class" (grouping "class"), whose map
        then differs from the unpruned one by at most ``2 (1 - AUTO_KEEP) U = 1e-5 U`` (sum of
        absolute differences: the class terms are >= 0 and sum to U); no pruning for variant
        "paper" (its terms can be negative, so no such bound holds). A share: of
        ``sum |a(z_j^m)|`` (variant "paper") or of ``sum_k a_k`` (variant "class", whose kept
        class terms are differentiated exactly, one backward row each). The dropped mass is
        spread over the kept terms in proportion, so completeness stays exact.
    reference : reference ``x0`` of the ``ig`` path and of ``inputgrad`` (``grad * (x - x0)``):
        "black" (0; inputgrad is then ``grad * x``), "white" (1), "mean" (the image's channel
        mean), "blur" (``G_blur_sigma x``, the substitute the blurring test puts in) or
        "blur@SIGMA"; variant "class" with the inputgrad path also takes "noise@SIGMA" (the
        expected effect of Gaussian pixel noise) and a reference *distribution*,
        a '+'-joined mixture such as ``"blur@1+blur@2+blur@4+black+mean"`` (= ``"mix"``): each
        class's relevance is then the mean over the references of ``relu(grad a_k * (x - x0))``
        (an Expected-Gradients-style average at the one gradient at ``x``; still exactly complete).
        Ignored by ``grad`` and ``fullgrad``.
    grouping : variant "class" only: "class" (the terms ``a_k``, each with its own pixel
        distribution) or "joint" (one group, ``U`` itself: its exact gradient ``sum_k d a_k / dx``
        keeps the cancellations across classes, and the map is ``U`` times one distribution; the
        class split is then not in the map). Joint takes ``path`` "inputgrad" or "ig".
    combine : with a reference mixture, "mean-of-relu" (mean over the references of the relu'd
        terms), "relu-of-mean" (relu of the mean term; equal to the mean reference for inputgrad)
        or "mean-of-scaled-relu" (each reference's relu'd term divided by its maximum over the
        image first, so that every reference weighs the same whatever its scale)
    blur_sigma : sigma of the "blur" reference, in pixels
    steps : IG steps
    normalise : True (default). False exists **for the ablation only** (paper Appendix D.7: "the
        normalization steps are required to achieve the completeness property"): variant "paper"
        uses the raw coefficients ``|J_kj|`` (no softmax over j) and the raw channel-averaged
        relevance ``r`` (no pixel softmax), ``M = sum_{m,j} a(z_j^m) r(z_j^m)`` with
        ``a(z_j^m) = sum_k |J^m_kj| a(p_k^m)``; variant "class" uses
        ``M = sum_k a_k relu(T_k)`` channel-averaged (no pixel distribution, no ``|T|`` fallback).
        ``T1`` and ``T2`` are unused, the map does not sum to ``U`` (``complete`` is False) and
        ``meta["completeness_delta"]`` reports by how much.

    ``path``, ``T1``, ``T2``, ``reference`` and ``blur_sigma`` default to ``"auto"``: the value of
    :data:`DEFAULTS` for the variant and for grayscale (1 channel) or colour images, picked at call
    time from the images' channel count. ``variant="paper"`` with every other option on "auto" is
    the paper-faithful method (fullgrad path).

    Targets: "total", "aleatoric" or "epistemic" (it needs the per-probability decomposition).
    ``meta``: ``uncertainty [B]``, ``completeness_delta [B]`` (= ``sum(map) - U``), ``kept_logits
    [B]`` (logit terms per image that got a backward pass), ``settings`` (the resolved options).
    """

    name = "ua-backprop"
    complete = True

    def __init__(self, path: str = "auto", T1: float | str = "auto", T2: float | str = "auto",
                 variant: str = "class", prune: float | str | None = "auto", reference: str = "auto",
                 steps: int = 32, blur_sigma: float | str = "auto", normalise: bool = True,
                 grouping: str = "class", combine: str = "mean-of-relu"):
        try:
            self.variant = Variant(variant).value
            self.path = path if path == "auto" else Path(path).value
        except ValueError as e:
            raise UnsureError(f"ua-backprop: {e}; paths: {[p.value for p in Path]} or 'auto', "
                              f"variants: {[v.value for v in Variant]}") from None
        T1, T2, blur_sigma = (v if v == "auto" else _positive(n, v) for n, v in
                              (("T1", T1), ("T2", T2), ("blur_sigma", blur_sigma)))
        if prune == "auto":
            prune = AUTO_KEEP if variant == "class" else None
        elif prune is not None and (isinstance(prune, (str, bool)) or not 0 < prune <= 1):
            raise UnsureError(f"ua-backprop prune must be in (0, 1], 'auto' or None, got {prune!r}")
        if reference != "auto":  # checked, and "mix" spelt out ("mix+noise@0.3" too)
            reference = "+".join(reference_items(reference))
        if not (isinstance(steps, int) and steps >= 1):
            raise UnsureError(f"ua-backprop steps must be a positive int, got {steps!r}")
        if grouping not in ("class", "joint"):
            raise UnsureError(f"ua-backprop grouping must be 'class' or 'joint', got {grouping!r}")
        if combine not in COMBINES:
            raise UnsureError(f"ua-backprop combine must be one of {', '.join(map(repr, COMBINES))}, got {combine!r}")
        if grouping == "joint" and variant != "class":
            raise UnsureError("ua-backprop grouping='joint' belongs to variant 'class'")
        self.grouping, self.combine = grouping, combine
        self.T1, self.T2, self.prune = T1, T2, prune
        self.reference, self.steps, self.blur_sigma = reference, steps, blur_sigma
        if not isinstance(normalise, bool):
            raise UnsureError(f"ua-backprop normalise must be True or False, got {normalise!r}")
        self.normalise = normalise
        if not normalise:
            self.complete = False  # the ablation gives up completeness (shadows the class claim)

    def settings(self, channels: int) -> dict:
        """The settings used for images with ``channels`` channels: every ``"auto"`` replaced by
        :data:`DEFAULTS` ``[(variant, "grayscale" if channels == 1 else "colour")]``."""
        d = DEFAULTS[(self.variant, "grayscale" if channels == 1 else "colour")]
        return {k: d[k] if getattr(self, k) == "auto" else getattr(self, k)
                for k in ("path", "T1", "T2", "reference", "blur_sigma")}

    def _attribute(self, x: Tensor, target, ctx: Context) -> Attribution:
        kind = measure_of(target)  # the registered Measure, with its per-probability terms
        if kind is None or kind.terms is None:
            names = [repr(n) for n in decomposable()]
            raise UnsureError(f"ua-backprop explains {', '.join(names[:-1])} or {names[-1]} uncertainty "
                              f"(it needs their per-probability terms), not {getattr(target, '__name__', target)!r}")
        st = self.settings(x.shape[1])
        # variant class with the grad / inputgrad path backpropagates once through the whole draw at
        # x: its forward (graph kept) gives the logits too, so no separate no-grad forward is run
        graph = (graph_forward(ctx.draw, x) if self.variant == Variant.CLASS
                 and st["path"] in (Path.GRAD.value, Path.INPUTGRAD.value) else None)
        with torch.no_grad():
            z = ctx.draw(x) if graph is None else graph.z.detach()  # [S,B,K]
            U = target(z)  # [B]
        if self.variant == Variant.CLASS:
            maps, raw, kept = self._class_variant(x, z, kind, ctx.draw, st, graph)
        else:
            maps, raw, kept = self._paper(x, z, kind, ctx.draw, st)
        meta = {"uncertainty": U, "completeness_delta": maps.sum((1, 2)) - U, "kept_logits": kept,
                "settings": st}
        return Attribution(maps, raw, meta)

    def _paper(self, x: Tensor, z: Tensor, kind: Measure, draw: Draw, st: dict):
        """Spec steps 1-3: ``M = sum_{m,j} a(z_j^m) rtilde(z_j^m)``."""
        path = Path(st["path"])
        with torch.no_grad():
            a_z = logit_terms(z, decompose(z, kind), st["T1"], self.normalise)  # [S,B,K]
            kept = torch.ones_like(a_z, dtype=torch.bool)
            if self.prune is not None:
                a_z, kept = prune_terms(a_z, self.prune)
        B, C, H, W = x.shape
        ref = reference_image(x, st["reference"], st["blur_sigma"])
        maps = x.new_zeros(B, H, W)
        raw = x.new_zeros(B, C, H, W) if path is not Path.FULLGRAD else None
        for m in range(len(draw)):
            # one member at a time: its own (pruned) logits, one batched backward
            sub = Draw([draw.members[m]], draw.modules)
            # pruned: every image's own kept logits of member m, one backward row each
            classes, valid = (None, None) if self.prune is None else kept_rows(kept[m])  # [R,B]
            if classes is not None and len(classes) == kept.shape[-1] and valid.all():
                classes = None  # nothing pruned in this member: the plain one-hot rows
            if classes is not None and classes.numel() == 0:
                continue
            t, layers, lg = _path_terms(path, sub, x, classes, ref, self.steps)
            with torch.no_grad():
                r, rc = _relevance(path, t.detach(), layers, [g.detach() for g in lg], False)
                # [J,B,H,W], sums to 1 per (j,b); the raw relevance without normalisation
                rt = pixel_distribution(r, st["T2"]) if self.normalise else r
                w = a_z[m] if classes is None else gather_rows(a_z[m], classes, valid)  # [B,K] -> [B,J]
                maps += torch.einsum("bj,jbhw->bhw", w, rt)
                if raw is not None:
                    raw += torch.einsum("bj,jbhw,jbchw->bchw", w, rt, _channel_share(rc))
        return maps, raw, kept.sum((0, 2))

    def _class_variant(self, x: Tensor, z: Tensor, kind: Measure, draw: Draw, st: dict,
                       graph: GraphForward | None = None):
        """Variant ``class``: ``M = sum_k a_k rtilde(relu(grad a_k path term))``; ``graph``: the
        forward of ``x`` that gave ``z``, for the one backward (``_trace.graph_forward``)."""
        path = Path(st["path"])
        items = reference_items(st["reference"])
        # the joint grouping uses only d U / d z = sum_k D[k] (mixture_maps), joint IG not even that
        a_k, D = class_terms(z, kind, rows=self.grouping != "joint")  # [B,K], [K,S,B,K] ([1,S,B,K] joint)
        if len(items) > 1 or self.grouping == "joint" or items[0].startswith("noise@"):
            return mixture_maps(self, x, z, a_k, D, draw, st, kind, graph=graph)
        ref = reference_image(x, st["reference"], st["blur_sigma"])
        return self._class_rows(x, a_k, D, draw, st, ref, graph)

    def _class_rows(self, x: Tensor, a_k: Tensor, D: Tensor, draw: Draw, st: dict, ref: Tensor,
                    graph: GraphForward | None = None):
        """Each class term's path terms straight from one backward row per member whose
        cotangent is ``d a_k / d z^m = D[k, m]`` (the chain rule through the logits, so no
        per-logit gradients are combined afterwards). With ``prune``, only each image's kept
        class terms get a row; a kept class's relevance is the same as without pruning."""
        path = Path(st["path"])
        B, K = a_k.shape
        if self.prune is None:  # every class: rows k = D[k, m]
            w, kept, idx = a_k, torch.ones_like(a_k, dtype=torch.bool), None
        else:
            with torch.no_grad():
                a_p, kept = prune_terms(a_k[None], self.prune)  # [1,B,K]
                kept = kept[0]
                idx, valid = kept_rows(kept)  # [R,B]
                w = gather_rows(a_p[0], idx, valid)  # [B,K] -> [B,R]
        t_all, bias_maps = 0.0, 0.0
        if path is not Path.FULLGRAD:  # all members in one forward, one batched backward
            # [K,S,B,K] -> [R,S,B,K]: row r of image b is the cotangent of its r-th kept class
            cot = D if idx is None else D.gather(0, idx[:, None, :, None].expand(len(idx), *D.shape[1:]))
            t_all = _draw_path_terms(path, draw, x, ref, self.steps, cot, graph=graph)
            return self._class_maps(path, w, t_all, bias_maps, st) + (kept.sum(1) * len(draw),)
        for m in range(len(draw)):
            sub = Draw([draw.members[m]], draw.modules)
            # [K,B,K] -> [R,B,K]: row r of image b is the cotangent of its r-th kept class
            cot = D[:, m] if idx is None else D[:, m].gather(0, idx[:, :, None].expand(len(idx), B, K))
            t, layers, lg = _path_terms(path, sub, x, None, ref, self.steps, cotangents=cot)
            with torch.no_grad():
                t_all = t_all + t.detach()
                if path is Path.FULLGRAD:
                    bias_maps = bias_maps + bias_term_map(layers, [g.detach() for g in lg],
                                                          x.shape[-2:], directed=True)
        return self._class_maps(path, w, t_all, bias_maps, st) + (kept.sum(1) * len(draw),)

    def _class_maps(self, path: Path, a_k: Tensor, t_all: Tensor, bias_maps, st: dict):
        """Maps ``[B,H,W]`` and raw ``[B,C,H,W]`` from class terms ``a_k [B,J]`` and their path
        terms ``t_all [J,B,C,H,W]`` (variant ``class``, step 3)."""
        with torch.no_grad():
            r, rc = _relevance(path, t_all, [], [], directed=True)
            r = r + bias_maps if path is Path.FULLGRAD else r
            if not self.normalise:  # ablation: a_k times its raw relevance, no distribution
                maps = torch.einsum("bk,kbhw->bhw", a_k, r)
                raw = None if rc is None else torch.einsum("bk,kbchw->bchw", a_k, rc) / rc.shape[2]
                return maps, raw
            if path is not Path.FULLGRAD:  # a class whose term nothing raises: fall back to |T|
                none = r.flatten(2).amax(-1) <= 0  # [K,B]
                r = torch.where(none[..., None, None], t_all.abs().mean(2), r)
                rc = torch.where(none[..., None, None, None], t_all.abs(), rc)
            rt = pixel_distribution(r, st["T2"], floor=False)  # [K,B,H,W]
            maps = torch.einsum("bk,kbhw->bhw", a_k, rt)
            raw = None if rc is None else torch.einsum("bk,kbhw,kbchw->bchw", a_k, rt, _channel_share(rc))
        return maps, raw


def _positive(name: str, v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise UnsureError(f"ua-backprop {name} must be a number > 0 or 'auto', got {v!r}") from None
    if not v > 0:
        msg = "temperatures" if name in ("T1", "T2") else name
        raise UnsureError(f"ua-backprop {msg} must be > 0, got {name}={v}")
    return v
