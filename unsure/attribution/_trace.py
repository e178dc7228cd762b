"""Layer recording and batched per-logit gradients, shared by FullGrad, UA-Backprop and others.

``record_bias_layers`` hooks every layer that adds a bias (Conv, Linear, BatchNorm in eval mode)
inside a draw's modules and records its output tensor ``h_l`` with its effective bias ``b_l``,
separately for each member. The hook hands the network a clone of ``h_l``, so an in-place operation
after the layer (``out += identity``, ``F.relu(out, inplace=True)``, an in-place ReLU module) never
overwrites the recorded tensor and ``grad_{h_l} f`` is the gradient at the layer's own output.
With those, FullGrad's exact decomposition

    f(x) = sum(grad_x f * x) + sum_l sum(grad_{h_l} f * b_l)

holds for piecewise-linear networks (Srinivas & Fleuret 2019).

``per_logit_gradients`` gives, for every member m, the gradients of all K logits with respect to
the input (and the recorded layer outputs) in one batched backward pass per member
(``torch.autograd.grad(..., is_grads_batched=True)``): no Python loop over classes.
"""
from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import Tensor, nn

from ..posteriors.base import Draw

BIAS_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def effective_bias(module: nn.Module) -> Tensor | None:
    """The bias a layer adds to its output, shaped to broadcast against it (channel axis 1).

    Batch-norm in eval mode: ``beta - mu * gamma / sqrt(var + eps)`` (METHODS.md, FullGrad).
    """
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        if module.training and module.track_running_stats:
            raise RuntimeError("FullGrad needs batch-norm in eval mode")
        if module.running_mean is None:
            return None
        gamma = module.weight if module.affine else torch.ones_like(module.running_mean)
        beta = module.bias if module.affine else torch.zeros_like(module.running_mean)
        return beta - module.running_mean * gamma / torch.sqrt(module.running_var + module.eps)
    bias = getattr(module, "bias", None)
    return bias if isinstance(bias, Tensor) else None


@dataclass
class LayerRecord:
    """One call of a bias layer: its output ``h`` and effective bias ``b`` (broadcast on dim 1)."""

    module: nn.Module
    output: Tensor
    bias: Tensor

    def bias_view(self) -> Tensor:
        """``b`` reshaped to broadcast against ``h [B, C, *spatial]``."""
        return self.bias.reshape(1, -1, *([1] * (self.output.ndim - 2)))

    @property
    def spatial(self) -> bool:
        return self.output.ndim >= 4


@dataclass
class Recorder:
    """Records per member: ``records[m]`` lists the bias-layer calls of member m in order."""

    records: list[list[LayerRecord]] = field(default_factory=list)
    member: int = 0

    def add(self, rec: LayerRecord) -> None:
        while len(self.records) <= self.member:
            self.records.append([])
        self.records[self.member].append(rec)


@contextlib.contextmanager
def no_inplace(modules: list[nn.Module]) -> Iterator[None]:
    """Temporarily switch off ``inplace`` (e.g. ``nn.ReLU(inplace=True)``) so a recorded activation
    (Grad-CAM's) is not overwritten before its gradient is taken. Always restored."""
    changed = []
    try:
        for root in modules:
            for mod in root.modules():
                if getattr(mod, "inplace", False) is True:
                    mod.inplace = False
                    changed.append(mod)
        yield
    finally:
        for mod in changed:
            mod.inplace = True


@contextlib.contextmanager
def record_bias_layers(draw: Draw) -> Iterator[Recorder]:
    """Hook every bias layer in ``draw.modules``; hooks are removed on exit, even on errors.

    Each hooked layer's output is recorded and replaced by a clone in the forward pass (memory: one
    extra copy of every bias layer's output while the graph lives)."""
    rec = Recorder()
    handles = []

    def hook(module: nn.Module, _inp, out):
        if not isinstance(out, Tensor):
            return None
        b = effective_bias(module)
        if b is None:
            return None
        rec.add(LayerRecord(module, out, b))
        # the network continues with a copy: an in-place op downstream (a residual ``out +=``, a
        # functional in-place ReLU) would otherwise rewrite the recorded h_l and its grad_fn, so
        # its gradient would be taken after that op (wrong for anything but an addition)
        return out.clone()

    seen: set[int] = set()
    try:
        for root in draw.modules:
            for mod in root.modules():
                if isinstance(mod, BIAS_LAYERS) and id(mod) not in seen:
                    seen.add(id(mod))
                    handles.append(mod.register_forward_hook(hook))
        yield rec
    finally:
        for h in handles:
            h.remove()


@dataclass
class MemberGradients:
    """Gradients of all K logits of one member.

    Attributes
    ----------
    logits : ``[B, K]`` (detached)
    input_grad : ``[K, B, C, H, W]``, ``d z_j / d x`` for each logit j
    layers : recorded bias layers of this member (empty unless requested)
    layer_grads : ``[K, B, C_l, ...]`` per layer, ``d z_j / d h_l``
    """

    logits: Tensor
    input_grad: Tensor
    layers: list[LayerRecord]
    layer_grads: list[Tensor]


def _eye_cotangents(z: Tensor, classes: Tensor | None) -> Tensor:
    """One-hot cotangents ``[J, B, K]`` selecting logit j for every image (``classes [J]``), or
    logit ``classes[j, b]`` for image b (``classes [J, B]``: per-image rows)."""
    B, K = z.shape
    eye = torch.eye(K, dtype=z.dtype, device=z.device)
    if classes is not None and classes.ndim == 2:
        return eye[classes]  # [J,B] -> [J,B,K]
    if classes is not None:
        eye = eye[classes]
    return eye[:, None, :].expand(eye.shape[0], B, K)  # [J,K] -> [J,B,K]


def per_logit_gradients(draw: Draw, x: Tensor, with_layers: bool = False,
                        classes: Tensor | None = None,
                        cotangents: Tensor | None = None) -> list[MemberGradients]:
    """For each member, the gradients of its logits w.r.t. ``x`` (and the bias layers' outputs).

    Parameters
    ----------
    draw : a frozen posterior draw with S members
    x : ``[B, C, H, W]``
    with_layers : also return ``d z_j / d h_l`` for every bias layer (FullGrad path)
    classes : optional ``[J]`` subset of logits to differentiate (default: all K), or ``[J, B]``
        per-image logits (row j differentiates logit ``classes[j, b]`` of image b)
    cotangents : optional ``[J, B, K]`` cotangents instead of one-hot ones: row j is the gradient
        of ``sum_k cotangents[j, b, k] z_k(b)`` (e.g. a class term's chain rule through the logits)

    Returns
    -------
    list of S :class:`MemberGradients`, gradients stacked ``[J, B, ...]`` over the logits.
    """
    x = x.detach().requires_grad_(True)
    out: list[MemberGradients] = []
    ctx = record_bias_layers(draw) if with_layers else contextlib.nullcontext(Recorder())
    with ctx as rec:
        for m, member in enumerate(draw.members):
            rec.member = m
            with torch.enable_grad():
                z = member(x)  # [B,K]
                layers = rec.records[m] if with_layers and m < len(rec.records) else []
                inputs = [x] + [r.output for r in layers]
                grads = torch.autograd.grad(
                    z, inputs, grad_outputs=_eye_cotangents(z, classes) if cotangents is None
                    else cotangents.to(z.dtype),
                    is_grads_batched=True, allow_unused=True,
                )
            J = (len(cotangents) if cotangents is not None else
                 z.shape[-1] if classes is None else len(classes))
            # allow_unused: a logit that does not depend on a layer (or on x) has zero gradient
            grads = [torch.zeros((J, *i.shape), dtype=i.dtype, device=i.device) if g is None else g
                     for g, i in zip(grads, inputs)]
            out.append(MemberGradients(z.detach(), grads[0], layers, grads[1:]))
    return out


@dataclass
class GraphForward:
    """A forward of the whole draw whose graph is kept for one later backward
    (:func:`draw_gradients` ``graph=``): ``x`` (requires grad) and its logits ``z [S,B,K]``. A method
    whose backward cotangents depend on the logits (UA-Backprop: ``d U / d z``) then reads them from
    ``z.detach()`` instead of running a separate no-grad forward."""

    x: Tensor
    z: Tensor
    used: bool = False
    #: members whose graph is kept (the first ``kept``; the rest ran without grad, their logits
    #: are in ``z`` without a graph); ``None``: all
    kept: int | None = None


#: per-member bytes of one image's module outputs (``unsure.batching.bytes_per_image``), per first
#: module of a draw and image shape: an architecture's, so fresh draws of one posterior share it
_GRAPH_BYTES: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def graph_forward(draw: Draw, x: Tensor) -> GraphForward | None:
    """``x -> GraphForward`` when the graph of all members for ``x`` fits the attribution memory
    budget (:mod:`unsure.batching`): ``bytes_per_image x B <= budget``, every module output of
    every member for the chunk, an upper bound of what the graph holds (at the speed grid's
    ResNet-18 points the floor, which holds the same graph, peaks at 0.6x it:
    docs/results/speed-scale.md); ``None`` otherwise (the caller then runs a no-grad forward and
    :func:`draw_gradients` its own forward, one member's graph at a time).

    Partly kept: when the whole graph does not fit but the graphs of the first ``m`` members do
    (``1 <= m < S``, a plain :class:`Draw` whose members are called one by one), those ``m`` run
    with their graph kept and the rest without grad; :func:`draw_gradients` then backpropagates
    the kept members at once and runs the rest one at a time (a second forward for ``S - m``
    members instead of all ``S``)."""
    from ..batching import budget, bytes_per_image

    kept = None
    if draw.modules:
        root = draw.modules[0]
        key = (len(draw), len(draw.modules), tuple(x.shape[1:]), x.dtype, x.device)
        cache = _GRAPH_BYTES.setdefault(root, {})
        if key not in cache:
            cache[key] = bytes_per_image(draw, x[:1])
        if cache[key] * x.shape[0] > budget(x.device):
            per_member = cache[key] * x.shape[0] / max(1, len(draw))
            kept = int(budget(x.device) // max(per_member, 1))
            if type(draw) is not Draw or not 1 <= kept < len(draw):
                return None
    xr = x.detach().requires_grad_(True)
    if kept is None:
        with torch.enable_grad():
            z = draw(xr)  # [S,B,K] with its graph
        return GraphForward(xr, z)
    with torch.enable_grad():
        zk = Draw(draw.members[:kept], draw.modules)(xr)  # [m,B,K] with its graph
    with torch.no_grad():
        zr = Draw(draw.members[kept:], draw.modules)(xr.detach())  # [S-m,B,K]
    return GraphForward(xr, torch.cat([zk, zr]), kept=kept)


def draw_gradients(draw: Draw, x: Tensor, cotangents: Tensor, graph: GraphForward | None = None) -> Tensor:
    """Rows of gradients through all members at once: row j is ``d/dx sum_{m,k} cotangents[j,m,b,k]
    z_k^m(x_b)``, for ``cotangents [J,S,B,K]``; returns ``[J,B,C,H,W]``.

    One forward of the whole draw (one ``vmap`` pass for an ensemble of one architecture,
    ``posteriors.one_pass``; the member loop otherwise) and one batched backward, instead of a
    backward per member whose results are summed afterwards (the same numbers up to rounding).
    ``graph``: a :func:`graph_forward` of these images, whose graph the backward uses instead of a
    new forward (once: it is freed by the backward).
    """
    cot = cotangents
    fresh = graph is None or graph.used
    if not fresh and graph.x.shape != x.shape:
        raise ValueError("draw_gradients: graph= is a forward of other images")
    x = x.detach().requires_grad_(True) if fresh else graph.x

    def grad(z: Tensor, c: Tensor, retain: bool = False) -> Tensor | None:  # [J,...] rows
        c = c.to(z.dtype)
        if len(c) == 1:  # one row needs no batching
            (g,) = torch.autograd.grad(z, x, grad_outputs=c[0], allow_unused=True, retain_graph=retain)
            return None if g is None else g[None]
        (g,) = torch.autograd.grad(z, x, grad_outputs=c, is_grads_batched=True, allow_unused=True,
                                   retain_graph=retain)
        return g

    def rows_of(z: Tensor, c: Tensor, rows: int) -> Tensor:  # [J,...] in chunks of ``rows``
        chunks = c.split(rows)
        return torch.cat([_zero_if_none(grad(z, ci, retain=i < len(chunks) - 1), len(ci), x)
                          for i, ci in enumerate(chunks)])

    with torch.enable_grad():
        if not fresh:  # the kept graph of every member: one backward (it frees the graph)
            graph.used = True
            g = rows_of(graph.z, cot, row_chunk(draw, x, len(cot), members=len(draw)))
            if graph.kept is None:
                return g
            # partly kept: the rows above reach the kept members only (the rest of z has no
            # graph); the others one at a time, as below
            rows = row_chunk(draw, x, len(cot), members=1)
            for m in range(graph.kept, len(draw)):
                zm = Draw([draw.members[m]], draw.modules)(x)[0]  # [B,K]
                g = g + rows_of(zm, cot[:, m], rows)
            return g
        z = draw.fast(x) if draw.fast is not None else None  # [S,B,K], or None: the loop
        if z is not None:  # every member's row gradients at once
            return rows_of(z, cot, row_chunk(draw, x, len(cot), members=len(draw)))
        # member by member (one member's graph alive at a time), summed
        acc = None
        rows = row_chunk(draw, x, len(cot), members=1)
        for m, f in enumerate(draw.members):
            zm = Draw([f], draw.modules)(x)[0]  # [B,K]
            g = rows_of(zm, cot[:, m], rows)
            acc = g if acc is None else acc + g
    return acc


def row_chunk(draw: Draw, x: Tensor, J: int, members: int = 1) -> int:
    """Backward rows per batched backward so that the rows' activation gradients of ``members``
    members fit the attribution memory budget (``unsure.batching``): a batched backward over J rows
    holds J copies of every activation's gradient, which at K = 1000 classes and large images
    would not fit. All J when they fit (or J is 1)."""
    if J <= 1:
        return J
    from ..batching import budget

    per_row = member_bytes(draw, x) * x.shape[0] * members
    return int(max(1, min(J, budget(x.device) // max(per_row, 1))))


def member_bytes(draw: Draw, x: Tensor) -> float:
    """Bytes of one image's module outputs per member of ``draw`` (``unsure.batching.bytes_per_image``
    over the members), kept on the draw per image shape."""
    from ..batching import bytes_per_image

    key = (tuple(x.shape[1:]), x.dtype, x.device)
    cache = draw.__dict__.setdefault("_row_bytes", {})
    if key not in cache:  # one image through every member, outputs summed; per member
        cache[key] = bytes_per_image(draw, x[:1]) / max(1, len(draw))
    return cache[key]


def nodes_in_budget(draw: Draw, x: Tensor, most: int) -> int:
    """Path nodes (or reference draws) per forward/backward pass for images ``x [B,C,H,W]``: at most
    ``most`` (a method's ``internal_batch // B``), and no more than let every member's module
    outputs for ``nodes x B`` images fit the attribution memory budget (:mod:`unsure.batching`),
    at least 1. At ResNet-18 3x64x64 with 5 members, 50 Expected-Gradients draws of one image at
    once peaked at 4.48e+03 MiB, and IG's 100 nodes took ~173 floors instead of 70
    (docs/results/speed-scale.md, "Path methods at 64x64")."""
    from ..batching import budget

    per_node = member_bytes(draw, x) * max(1, len(draw)) * x.shape[0]
    return int(max(1, min(most, budget(x.device) // max(per_node, 1))))


def _zero_if_none(g: Tensor | None, J: int, x: Tensor) -> Tensor:
    return torch.zeros((J, *x.shape), dtype=x.dtype, device=x.device) if g is None else g.detach()
