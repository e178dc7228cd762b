"""``unsure bench speed --grid``: seconds and peak memory per image over image sizes, channels,
classes K, posterior samples S and batch, on random-weight ensembles (speed needs no data or
training), each method's **ratio to the floor**, and Captum's implementation of the same method on
the same target where Captum has one (:mod:`.speed_captum`).

The floor (issue 28) is what any gradient map of the target costs at least: one forward and one
backward per posterior sample, ``d target(draw(x)) / dx`` with nothing else (:func:`gradient_floor`).
A map that needs T gradients (IG with T steps, SmoothGrad with N noisy copies) costs about T floors.

A grid point is ``ARCH:CxSIZE:kK:sS:bB[:nN][:TIER]``, for instance ``resnet18:3x224:k1000:s50:b1:n1:min``:
an ensemble of S members of the registered architecture ``ARCH`` (``unsure archs``) with random
weights (seeded) on C x SIZE x SIZE uniform images, K classes, attribution chunks of B images,
N images timed, and the methods of ``TIER`` (:data:`TIERS`) unless ``--methods`` names them.
Each member's last layer is rescaled so its logits on the images have standard deviation
``--logit-std``: a random initialisation predicts nearly uniformly, unlike a trained network,
which matters to methods that prune class terms (``large_k``).

A ``:post=NAME`` item picks another posterior of S samples (:data:`POSTERIOR_KINDS`), one random
network instead of S: ``mc-dropout`` (:class:`~unsure.posteriors.MCDropout`; a network without
dropout, such as ResNet-18, gets an ``nn.Dropout(0.5)`` on its head's input, as MCDropout's own
error message advises) or ``laplace`` (:class:`~unsure.posteriors.LastLayerLaplace`, its curvature
fitted on 64 random images with random labels: the cost of a draw does not depend on the
covariance's values). ``--one-pass true|false|auto`` then switches MC dropout's batched draw
(``batched=``) and, for Laplace, ``false`` runs the members one by one (each with its own trunk
forward) instead of the shared trunk and one batched head product.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass

import torch

from ..errors import UnsureError
from ..measures import resolve_target
from ..models import ARCHS
from torch import nn

from ..posteriors import DeepEnsemble, Draw, LastLayerLaplace, MCDropout
from .measure import sync, peak_bytes

FLOOR = "floor"

#: ``:post=NAME`` of a grid point (module docstring); ``ensemble`` is the default and is not written
POSTERIOR_KINDS = ("ensemble", "mc-dropout", "laplace")

#: Methods per tier. ``all``: every complete method and the main baselines (issue 28), at their
#: registered defaults (IG, IDGI and Expected Gradients: 100 steps / 50 draws; SmoothGrad 50
#: copies). ``core``: those that need one backward per sample (or one batched backward). ``min``:
#: the default and Grad, for points where one floor takes seconds.
TIERS = {
    "all": ["default", "ua-backprop-class", "ua-backprop:variant=paper", "idgi-ig", "idgi-blur-ig",
            "idgi-guided-ig", "fullgrad", "grad", "inputgrad", "smoothgrad", "ig", "expected-gradients",
            "gradcam"],
    "core": ["default", "ua-backprop-class", "ua-backprop:variant=paper", "fullgrad", "grad", "inputgrad",
             "gradcam"],
    "min": ["default", "grad"],
}


@dataclass(frozen=True)
class GridPoint:
    arch: str
    channels: int
    size: int
    classes: int
    samples: int
    batch: int
    n: int
    tier: str = "core"
    posterior: str = "ensemble"

    @property
    def label(self) -> str:
        post = "" if self.posterior == "ensemble" else f":post={self.posterior}"
        return (f"{self.arch}:{self.channels}x{self.size}:k{self.classes}:s{self.samples}:"
                f"b{self.batch}:n{self.n}:{self.tier}{post}")


#: The named grids. ``default`` takes about 25 minutes on one thread of a loaded 2-core CPU with
#: ``--repeats 1`` (methods over ``--max-seconds`` are timed on one call); ``quick`` about one minute; ``full`` is the whole product of the issue's axes (sizes 8, 28, 32,
#: 64, 224; channels 1, 3; K 10, 100, 1000; S 1, 5, 50) with every method: hours on a CPU, meant
#: for a GPU.
GRIDS: dict[str, list[str]] = {
    "quick": ["paper-cnn:1x8:k10:s2:b4:n4:core", "paper-cnn:1x28:k100:s5:b4:n4:min"],
    "default": [
        "paper-cnn:1x8:k10:s5:b8:n8:all",
        "paper-cnn:1x28:k10:s5:b8:n8:all",
        "paper-cnn:1x28:k100:s5:b16:n16:core",
        "paper-cnn:1x28:k1000:s5:b16:n16:core",
        "paper-cnn:1x28:k10:s1:b16:n16:core",
        "paper-cnn:1x28:k10:s50:b4:n4:core",
        "paper-cnn:3x32:k10:s5:b16:n16:core",
        "resnet18:3x32:k10:s5:b4:n4:core",
        "resnet18:3x32:k100:s5:b4:n4:core",
        "resnet18:3x64:k10:s5:b2:n2:core",
        "resnet18:3x64:k10:s50:b1:n1:min",
        "resnet18:3x224:k1000:s5:b1:n1:min",
    ],
}
GRIDS["full"] = [f"{a}:{c}x{s}:k{k}:s{m}:b{1 if s == 224 else 4}:n{1 if s == 224 else 4}:all"
                 for a, sizes in (("paper-cnn", (8, 28)), ("resnet18", (32, 64, 224)))
                 for s in sizes for c in (1, 3) for k in (10, 100, 1000) for m in (1, 5, 50)]


def parse_point(text: str) -> GridPoint:
    """``ARCH:CxSIZE:kK:sS:bB[:nN][:TIER][:post=KIND]`` (module docstring) -> :class:`GridPoint`."""
    parts = [p.strip() for p in text.strip().split(":")]
    bad = UnsureError(f"grid point {text!r}: expected ARCH:CxSIZE:kK:sS:bB[:nN][:TIER][:post=KIND], e.g. "
                      f"resnet18:3x32:k10:s5:b4:n4:core")
    if len(parts) < 5:
        raise bad
    arch = parts[0]
    if arch not in ARCHS.names():
        raise UnsureError(f"grid point {text!r}: unknown architecture {arch!r} (unsure archs: "
                          f"{', '.join(ARCHS.names())})")
    try:
        c, s = (int(v) for v in parts[1].lower().split("x"))
    except ValueError:
        raise bad from None
    vals, tier, post = {}, "core", "ensemble"
    for p in parts[2:]:
        if p in TIERS:
            tier = p
        elif p.startswith("post="):
            post = p[5:]
            if post not in POSTERIOR_KINDS:
                raise UnsureError(f"grid point {text!r}: post= must be one of {', '.join(POSTERIOR_KINDS)}, "
                                  f"got {post!r}")
        elif p[:1] in "ksbn" and p[1:].isdigit():
            vals[p[0]] = int(p[1:])
        else:
            raise bad
    if not {"k", "s", "b"} <= set(vals) or min([c, s, *vals.values()]) < 1 or vals["k"] < 2:
        raise bad
    return GridPoint(arch, c, s, vals["k"], vals["s"], vals["b"], vals.get("n", vals["b"]), tier, post)


def parse_grid(text: str) -> list[GridPoint]:
    """A named grid (:data:`GRIDS`) or comma-separated points."""
    names = GRIDS.get(text.strip(), None)
    items = names if names is not None else [t for t in text.split(",") if t.strip()]
    if not items:
        raise UnsureError(f"--grid: give one of {', '.join(GRIDS)} or points ARCH:CxSIZE:kK:sS:bB[:nN][:TIER]")
    return [parse_point(t) for t in items]


def random_posterior(p: GridPoint, x: torch.Tensor, logit_std: float, seed: int,
                     one_pass: str | bool | None = None) -> DeepEnsemble:
    """S seeded random members of ``p.arch``, each head scaled so its logits on ``x`` have std
    ``logit_std``; ``one_pass``: :class:`DeepEnsemble`'s switch between the member loop and one
    ``torch.func`` pass (``None``: its default). ``p.posterior`` ``mc-dropout`` / ``laplace``: one
    such network under that posterior (module docstring; ``one_pass``: MC dropout's ``batched``)."""
    if p.posterior != "ensemble":
        return _one_net_posterior(p, x, logit_std, seed, one_pass)
    nets = [_random_net(p, x, logit_std, (seed * 1000 + i) % 2**63) for i in range(p.samples)]
    if one_pass is None:
        return DeepEnsemble(nets).to(x.device).eval()
    if "one_pass" not in inspect.signature(DeepEnsemble).parameters:
        raise UnsureError("--one-pass: this version of unsure has no one-pass ensembles")
    return DeepEnsemble(nets, one_pass=one_pass).to(x.device).eval()


def _random_net(p: GridPoint, x: torch.Tensor, logit_std: float, seed: int) -> nn.Module:
    """A network of ``p.arch`` with seeded random weights (the global RNG left as it was), its
    head rescaled so its logits on ``x[:8]`` have standard deviation ``logit_std``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ARCHS.get(p.arch)(in_channels=p.channels, num_classes=p.classes, image_size=p.size)
        net = net.to(x.device).eval()
        with torch.no_grad():
            scale = logit_std / net(x[:8]).std().clamp_min(1e-12)
            net.head.weight.mul_(scale)
            net.head.bias.mul_(scale)
    return net


class HeadDropout(nn.Module):
    """``head(dropout(features(x)))``: a network of ``unsure archs`` with an ``nn.Dropout(p)`` on its
    head's input, for MC dropout on an architecture that has none (ResNet-18)."""

    def __init__(self, net: nn.Module, p: float = 0.5):
        super().__init__()
        self.net, self.drop = net, nn.Dropout(p)

    @property
    def head(self) -> nn.Linear:
        return self.net.head

    @property
    def feature_layer(self):
        return getattr(self.net, "feature_layer", None)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.net.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.head(self.features(x))


def _one_net_posterior(p: GridPoint, x: torch.Tensor, logit_std: float, seed: int, one_pass):
    """One seeded random network of ``p.arch`` (head scaled to ``logit_std``) under MC dropout or
    last-layer Laplace with ``p.samples`` samples (module docstring)."""
    from ..posteriors.mc_dropout import dropout_modules

    net = _random_net(p, x, logit_std, seed * 1000 % 2**63)
    with torch.random.fork_rng(devices=[]):
        if p.posterior == "mc-dropout":
            if not dropout_modules(net):
                net = HeadDropout(net).to(x.device).eval()
            return MCDropout(net, samples=p.samples, batched="auto" if one_pass is None else one_pass)
        post = LastLayerLaplace(net, samples=p.samples)
        g = torch.Generator().manual_seed(seed)
        xf = torch.rand(64, p.channels, p.size, p.size, generator=g).to(x.device)
        yf = torch.randint(0, p.classes, (64,), generator=g).to(x.device)
        post.fit_laplace(xf, yf, batch_size=16)
    return post


def grid_draw(post, p: GridPoint, seed: int, one_pass=None):
    """The posterior's draw for grid point ``p``; Laplace with ``one_pass=False`` gets a plain
    :class:`Draw` of the same members, called one by one (each with its own trunk forward)."""
    draw = post.draw(torch.Generator().manual_seed(seed))
    if p.posterior == "laplace" and one_pass is False:
        return Draw(members=list(draw.members), modules=list(draw.modules),
                    feature_layers=list(draw.feature_layers))
    return draw


def gradient_floor(draw, target):
    """``x -> d target(draw(x)).sum() / dx``: one forward and one backward per sample, nothing else."""
    fn = resolve_target(target)

    def run(x: torch.Tensor) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(draw(x)).sum(), x)  # [S,B,K] -> [B] -> scalar
        return g
    return run


def measure(fn, x: torch.Tensor, batch: int, device: torch.device, repeats: int,
            memory: bool = True, cap: float | None = None) -> dict:
    """Best-of-``repeats`` wall and CPU seconds (``time.process_time``, this process only) per image
    over all chunks, and the peak bytes per image of one chunk (a separate, untimed call: the CPU
    profiler slows what it watches). One warm-up call on one image first; when that call says the
    measurement would take more than ``cap`` seconds (``warm-up x N x (repeats + 1)``), its own time
    is returned instead, with ``"capped": True`` and no memory (a first call: an upper bound).

    Every call gets a fresh copy of its images: a draw reuses the logits of its last no-grad call
    on the very same tensor (:meth:`unsure.posteriors.base.Draw.__call__`), which would make a
    repeated call on the same images cheaper than a call on new ones."""
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    fn(x[:1].clone())
    sync(device)
    first_wall, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    if cap is not None and max(first_wall, first_cpu) * len(x) * (repeats + 1) > cap:
        return {"seconds_per_image": first_wall, "cpu_seconds_per_image": first_cpu,
                "peak_bytes_per_image": float("nan"), "capped": True}
    wall = cpu = float("inf")
    for _ in range(repeats):
        xs = [x[s:s + batch].clone() for s in range(0, len(x), batch)]  # fresh images (docstring)
        sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        for xb in xs:
            fn(xb)
        sync(device)
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    chunk = x[:batch].clone()
    mem = peak_bytes(fn, chunk, device) / len(chunk) if memory else float("nan")
    return {"seconds_per_image": wall / len(x), "cpu_seconds_per_image": cpu / len(x),
            "peak_bytes_per_image": mem, "capped": False}


def run_point(p: GridPoint, methods, target: str, logit_std: float, repeats: int, seed: int,
              device: torch.device, captum: bool, memory: bool = True, progress=None,
              one_pass: str | bool | None = None, cap: float | None = None) -> dict:
    """``{"floor": {...}, "methods": {label: {..., "ratio_to_floor", "captum": {...} | None}}}``
    for one grid point; ``methods`` are :class:`~unsure.attribution.spec.MethodSpec`; ``cap``:
    seconds a method's measurement may take (:func:`measure`; the floor is never capped). A
    one-sample point explains ``total`` instead of ``epistemic`` (which is 0 there)."""
    from ..attribution import make_method
    from .speed_captum import NAMES, counterpart

    if p.samples == 1 and target == "epistemic":
        target = "total"  # one sample: no epistemic uncertainty to explain (unsure refuses it)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(p.n, p.channels, p.size, p.size, generator=gen).to(device)  # [N,C,H,W] in [0,1]
    post = random_posterior(p, x, logit_std, seed, one_pass)
    draw = grid_draw(post, p, seed, one_pass)
    with torch.no_grad():
        if p.posterior == "ensemble":
            top = torch.stack([m(x[:8]) for m in post.members]).softmax(-1).amax(-1).mean().item()
        else:
            top = torch.stack([m(x[:8]) for m in draw.members]).softmax(-1).amax(-1).mean().item()
    basis = "cpu_seconds_per_image" if device.type == "cpu" else "seconds_per_image"
    floor = measure(gradient_floor(draw, target), x, p.batch, device, repeats, memory)
    out = {"floor": floor, "mean_top_probability": top, "ratio_basis": basis, "target": target, "methods": {}}
    for spec in methods:
        if progress:
            progress(f"{p.label} {spec.label}")
        method = make_method(spec.name, **spec.options)
        run = lambda xb: method.attribute(post, xb, target, draw=draw,  # noqa: E731
                                          generator=torch.Generator().manual_seed(seed))
        r = measure(run, x, p.batch, device, repeats, memory, cap)
        r["ratio_to_floor"] = r[basis] / floor[basis]
        theirs = counterpart(spec, post, draw, target) if captum else None
        if theirs is not None:
            c = measure(theirs, x, p.batch, device, repeats, memory, cap)
            c["ratio_to_floor"] = c[basis] / floor[basis]
            c["implementation"] = NAMES[spec.name]
            r["captum"] = c
        else:
            r["captum"] = None
        out["methods"][spec.label] = r
    return out


def _s(r: dict, basis: str):
    """Seconds, marked ``~`` when the measurement was capped (one first call: an upper bound)."""
    return f"~{r[basis]:.3g}" if r.get("capped") else r[basis]


def _mib(r: dict):
    return "-" if r.get("capped") else r["peak_bytes_per_image"] / 2**20


def grid_rows(results: dict) -> list[list]:
    """One table row per (point, method), the floor first."""
    rows = []
    for label, res in results.items():
        b = res["ratio_basis"]
        f = res["floor"]
        rows.append([label, "floor (1 forward + 1 backward per sample)", f[b], _mib(f), 1.0, "", "", "", ""])
        for m, r in res["methods"].items():
            c = r["captum"]
            rows.append([label, m, _s(r, b), _mib(r), r["ratio_to_floor"],
                         c["implementation"] if c else "-", _s(c, b) if c else "-",
                         c["ratio_to_floor"] if c else "-", r[b] / c[b] if c else "-"])
    return rows


GRID_HEADER = ["point", "method", "s / image", "peak MiB / image", "x floor", "Captum", "Captum s / image",
               "Captum x floor", "unsure / Captum"]
