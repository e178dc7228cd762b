"""``unsure.score``: score any maps (from unsure, Captum or your own code) on every property.

The properties (Schiller et al. 2026, "No Single Metric Tells the Whole Story"; METHODS.md,
"Properties"), each a registered metric with its direction (``unsure metrics``):

============================  =============================================  ==================
value                         what it needs                                  file
============================  =============================================  ==================
complexity, effective-compl.  the maps                                       metrics/complexity
flipping-auc                  posterior                                      metrics/feature_flipping
murr, auc-urr                 posterior (blurring test, 2% of the pixels)    metrics/blurring
insertion-auc, deletion-auc   posterior                                      metrics/insertion_deletion
conveyance-spearman / -cosine an MC-dropout or DropConnect posterior          metrics/conveyance
repeatability-cosine / -sp.   ``method`` (re-run with fresh draws / seeds)   metrics/repeatability
input-stability               ``method``                                     metrics/input_stability
rank-improvement, top-rank-s. ``method``                                     metrics/rank_improvement
gt-rank, -mass, -auroc, -pt.  ``masks`` of a known cause (ground truth)      metrics/groundtruth
============================  =============================================  ==================

A scorer is one function in :data:`SCORERS` (``name -> (Context) -> {value: [B]}``); another
property plugs in with :func:`register_scorer`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from .errors import UnsureError
from .metrics import _maps
from .metrics.base import metric_info
from .validate import check_images


@dataclass
class ScoreOptions:
    """Settings shared by the scorers (one place, not repeated kwargs).

    fraction, sigmas : blurring test share of pixels and blur grid (``None``: the test's full grid);
    steps : insertion / deletion steps
    flip_replacement, flip_sigma, flip_interval : feature flipping infill and step
    repeats : repeatability re-runs; ris_n, ris_std, ris_tol : input-stability copies, noise, tolerance
    positions, patch, ood_strategy, ood_value : rank improvement (``patch`` default: ``round(H / 7)``,
        4 on 28x28 as the authors, 1 on 8x8); explainer : conveyance reference
    batch_size : images per forward pass (``None``: the machinery's default)
    """

    fraction: float = 0.02
    sigmas: tuple[float, ...] | None = None
    steps: int = 50
    flip_replacement: Any = "blur"
    flip_sigma: float = 1.0
    flip_interval: int | None = None
    repeats: int = 3
    ris_n: int = 10
    ris_std: float = 0.05
    ris_tol: float = 0.05
    positions: int = 8
    patch: int | None = None
    ood_strategy: str = "patch"
    ood_value: Tensor | None = None
    explainer: str = "inputgrad"
    batch_size: int | None = None


@dataclass
class Context:
    """What a scorer gets: the posterior, one frozen draw, images ``x [B,C,H,W]``, maps ``[B,H,W]``."""

    posterior: Any
    draw: Any
    x: Tensor
    maps: Tensor
    target: Any
    explain: Callable[[Tensor, torch.Generator], Tensor] | None
    options: ScoreOptions
    seed: int
    masks: Tensor | None = None  # [B,H,W] bool: a known cause per image (ground-truth scorer)


@dataclass
class Scores:
    """``per_image[value] [B]`` (float64, NaN where a value is undefined for an image) and
    ``summary[value]`` (the mean over the images where it is defined)."""

    per_image: dict[str, Tensor]
    summary: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not self.summary:
            self.summary = {k: float(v[~v.isnan()].mean()) if (~v.isnan()).any() else float("nan")
                            for k, v in self.per_image.items()}


Scorer = Callable[[Context], dict[str, Tensor]]
#: scorer name -> (function, needs: "maps" | "posterior" | "method" | "reference" | "masks", values it returns)
SCORERS: dict[str, tuple[Scorer, str, tuple[str, ...]]] = {}


def register_scorer(name: str, needs: str, values: tuple[str, ...]):
    """Register ``fn(ctx) -> {value: [B]}``; every value must be a registered metric (its direction)."""
    for v in values:
        metric_info(v)

    def deco(fn: Scorer) -> Scorer:
        SCORERS[name] = (fn, needs, values)
        return fn
    return deco


@register_scorer("complexity", "maps", ("complexity", "effective-complexity"))
def _complexity(c: Context):
    from .metrics.complexity import complexity, effective_complexity
    return {"complexity": complexity(c.maps), "effective-complexity": effective_complexity(c.maps)}


@register_scorer("flipping", "posterior", ("flipping-auc",))
def _flipping(c: Context):
    from .metrics.feature_flipping import feature_flipping
    o = c.options
    r = feature_flipping(c.posterior, c.x, c.maps, c.target, replacement=o.flip_replacement,
                         blur_sigma=o.flip_sigma, interval=o.flip_interval, draw=c.draw,
                         generator=torch.Generator().manual_seed(c.seed), batch_size=o.batch_size)
    return {"flipping-auc": r.auc}


@register_scorer("blurring", "posterior", ("murr", "auc-urr"))
def _blurring(c: Context):
    from .metrics.blurring import blurring_test
    r = blurring_test(c.posterior, c.x, c.maps, c.options.fraction, c.options.sigmas, draw=c.draw,
                      measure=c.target, generator=torch.Generator().manual_seed(c.seed), batch_size=c.options.batch_size)
    return {"murr": r.murr_per_image.double(), "auc-urr": r.auc_per_image.double()}


@register_scorer("insertion-deletion", "posterior", ("insertion-auc", "deletion-auc"))
def _insertion(c: Context):
    from .metrics.insertion_deletion import deletion_curve, insertion_curve
    kw = dict(steps=c.options.steps, draw=c.draw, batch_size=c.options.batch_size)
    ins = insertion_curve(c.posterior, c.x, c.maps, c.target, generator=torch.Generator().manual_seed(c.seed), **kw)
    dele = deletion_curve(c.posterior, c.x, c.maps, c.target, generator=torch.Generator().manual_seed(c.seed), **kw)
    return {"insertion-auc": ins.auc.double(), "deletion-auc": dele.auc.double()}


@register_scorer("groundtruth", "masks", ("gt-rank", "gt-mass", "gt-auroc", "gt-pointing"))
def _groundtruth(c: Context):
    from .metrics.groundtruth import groundtruth_scores
    r = groundtruth_scores(c.maps, c.masks, c.seed)
    return {"gt-rank": r.rank, "gt-mass": r.mass, "gt-auroc": r.auroc, "gt-pointing": r.pointing}


@register_scorer("conveyance", "reference", ("conveyance-spearman", "conveyance-cosine"))
def _conveyance(c: Context):
    from .metrics.conveyance import conveyance_similarity, covariance_reference
    ref = covariance_reference(c.posterior, c.x, c.options.explainer)
    s = conveyance_similarity(c.maps, ref)
    return {"conveyance-spearman": s["spearman"], "conveyance-cosine": s["cosine"]}


@register_scorer("repeatability", "method", ("repeatability-cosine", "repeatability-spearman"))
def _repeatability(c: Context):
    from .metrics.repeatability import repeatability
    r = repeatability(c.explain, c.x, c.maps, c.options.repeats, seed=1000 + c.seed)
    return {"repeatability-cosine": r["cosine"], "repeatability-spearman": r["spearman"]}


@register_scorer("input-stability", "method", ("input-stability",))
def _ris(c: Context):
    from .measures import resolve_target
    from .metrics.input_stability import relative_input_stability
    fn = resolve_target(c.target)
    o = c.options
    u = lambda z: torch.cat([fn(c.draw(z[s:s + 256])) for s in range(0, len(z), 256)])  # noqa: E731
    return {"input-stability": relative_input_stability(
        c.explain, u, c.x, c.maps, o.ris_n, o.ris_std, o.ris_tol, torch.Generator().manual_seed(c.seed))}


@register_scorer("rank-improvement", "method", ("rank-improvement", "top-rank-share"))
def _rank(c: Context):
    from .metrics.rank_improvement import rank_improvement
    o = c.options
    patch = o.patch if o.patch is not None else max(1, round(c.x.shape[2] / 7))
    r = rank_improvement(c.explain, c.x, c.maps, o.positions, patch, o.ood_strategy, o.ood_value,
                         torch.Generator().manual_seed(c.seed))
    return {"rank-improvement": r["rank-improvement"], "top-rank-share": r["top-rank-share"]}


def scorer_names() -> list[str]:
    return list(SCORERS)


def _bind_method(method, posterior, target, batch_size):
    """A method name / spec / object / callable -> ``explain(x, generator) -> maps [B,H,W]``."""
    if method is None or callable(method) and not hasattr(method, "attribute"):
        return method
    from .attribution.base import make_method
    from .attribution.spec import parse_method

    m = method
    if isinstance(method, str):
        spec = parse_method(method)
        m = make_method(spec.name, **spec.options)

    def explain(x: Tensor, generator: torch.Generator) -> Tensor:
        return m.attribute(posterior, x, target, draw=posterior.draw(generator), generator=generator,
                           batch_size=batch_size).maps.detach()
    return explain


def as_pixel_maps(maps, x: Tensor) -> Tensor:
    """Maps ``[B,H,W]``, ``[B,C,H,W]`` (channels summed) or numpy -> checked ``[B,H,W]`` float tensor."""
    if not isinstance(maps, Tensor):
        try:
            maps = torch.as_tensor(maps)
        except Exception as e:  # noqa: BLE001
            raise UnsureError(f"maps must be an array [B,H,W] or [B,C,H,W], got {type(maps).__name__}") from e
    B, C, H, W = x.shape
    if maps.ndim == 4 and tuple(maps.shape) == (B, C, H, W):
        maps = maps.sum(1)  # [B,C,H,W] -> [B,H,W], as Captum's multi-channel maps are read per pixel
    if tuple(maps.shape) != (B, H, W):
        raise UnsureError(f"maps must have shape [B,H,W]=[{B},{H},{W}] or [B,C,H,W]=[{B},{C},{H},{W}], "
                          f"got {tuple(maps.shape)}")
    _maps.flat_maps(maps)  # finite
    return maps.detach().float()


def score(posterior, x: Tensor, maps, target="epistemic", metrics: str | list[str] | None = None, *,
          method=None, options: ScoreOptions | None = None, seed: int = 0, masks=None) -> Scores:
    """Score ``maps`` of ``x`` on every property.

    Parameters
    ----------
    posterior : anything :func:`unsure.as_posterior` accepts
    x : ``[B,C,H,W]`` images in ``[0, 1]``
    maps : ``[B,H,W]`` or ``[B,C,H,W]`` (channels summed), tensor or array; higher = more important
    target : what the maps explain (measure name, class target or callable ``[S,B,K] -> [B]``)
    metrics : scorer names (:data:`SCORERS`, a comma-separated string or a list); default: every scorer
        that applies (the ``method`` ones only with ``method``, conveyance only for MC dropout and DropConnect)
    method : the method that made the maps, to re-run it (repeatability, input stability, rank
        improvement): a name of ``unsure methods`` (with options), a method object, or a callable
        ``(x, generator) -> maps [B,H,W]``
    options : :class:`ScoreOptions`
    seed : seeds the draw and every scorer
    masks : ``[B,H,W]`` bool, the pixels of a known cause of each image's uncertainty (e.g. the
        ground-truth benchmark's ``mask_aleatoric`` / ``mask_epistemic``): adds the ground-truth
        localisation scores ``gt-rank``, ``gt-mass``, ``gt-auroc``, ``gt-pointing`` (METHODS.md)

    Returns
    -------
    :class:`Scores`
    """
    from .metrics.conveyance import has_reference
    from .posteriors.protocol import as_posterior

    check_images(x)
    post = as_posterior(posterior)
    x = x.to(post.device)
    pm = as_pixel_maps(maps, x)
    opts = options or ScoreOptions()
    has_ref = has_reference(post)  # MC dropout or DropConnect: a closed-form covariance reference
    if masks is not None:
        masks = torch.as_tensor(masks)
        if masks.dtype != torch.bool:
            raise UnsureError(f"masks must be a bool array [B,H,W] (True: a pixel of the cause), got dtype "
                              f"{str(masks.dtype).replace('torch.', '')}")
        if tuple(masks.shape) != tuple(pm.shape):
            raise UnsureError(f"masks must have the maps' shape [B,H,W]={list(pm.shape)}, got {list(masks.shape)}")
        masks = masks.to(pm.device)
    if metrics is None:
        names = [n for n, (_, needs, _) in SCORERS.items()
                 if needs in ("maps", "posterior") or (needs == "method" and method is not None)
                 or (needs == "reference" and has_ref) or (needs == "masks" and masks is not None)]
    else:
        names = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else list(metrics)
        unknown = [n for n in names if n not in SCORERS]
        if unknown:
            raise UnsureError(f"unknown metric(s) {unknown}; known: {', '.join(SCORERS)}")
        for n in names:
            needs = SCORERS[n][1]
            if needs == "method" and method is None:
                raise UnsureError(f"metric {n!r} re-runs the method: pass method=")
            if needs == "masks" and masks is None:
                raise UnsureError(f"metric {n!r} scores maps against known causes: pass masks=")
            if needs == "reference" and not has_ref:
                raise UnsureError(f"metric {n!r} needs an MC-dropout or DropConnect posterior, got "
                                  f"{type(post).__name__}")
    if any(SCORERS[n][1] not in ("maps", "masks") for n in names):
        _maps.check_ordered(_maps.flat_maps(pm))  # every other property orders the features
    ctx = Context(post, post.draw(torch.Generator().manual_seed(seed)), x, pm, target,
                  _bind_method(method, post, target, opts.batch_size), opts, seed, masks)
    per: dict[str, Tensor] = {}
    for n in names:
        for k, v in SCORERS[n][0](ctx).items():
            per[k] = v.detach().double().cpu()
    return Scores(per, meta={"metrics": names, "target": str(target), "seed": seed, "images": len(x)})
