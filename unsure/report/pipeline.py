"""From a posterior and images to a :class:`~unsure.report.model.Report`: uncertainty numbers,
attribution maps for every method x target, and optionally the blurring test. Shared by
``unsure demo`` and ``unsure explain``.
"""
from __future__ import annotations

import time
from typing import Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..attribution import make_method
from ..attribution.spec import MethodSpec, parse_methods
from ..errors import UnsureError
from ..notes import unique
from ..measures import MEASURES, decomposable
from ..metrics.blurring import SIGMAS
from ..posteriors import Posterior
from .model import Item, Report
from .trust import run_panel
from .overlay import contrast_scale, is_signed

UNCERTAINTIES = decomposable()  # total, aleatoric, epistemic
DEMO_SIGMAS = SIGMAS[9::10]  # 2, 4, ..., 20: a coarse grid so the demo stays fast
CLASS_NAMES = {
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


def class_names(data: str | None, K: int) -> list[str] | None:
    """Names of the classes of a data spec (``None``: show class numbers)."""
    names = CLASS_NAMES.get((data or "").split(":")[0].lower())
    return names if names is not None and len(names) == K else None


def choose_methods(wanted: str) -> list[MethodSpec]:
    """Parse ``NAME[:k=v],...``; an unregistered name raises :class:`UnsureError` listing the
    known ones (exit 2 on the command line; it used to be replaced by a spare baseline with only a
    warning)."""
    return parse_methods(wanted)


def check_targets(targets: Sequence[str]) -> list[str]:
    """Validate target names early (one clear error before any work)."""
    from ..measures import resolve_target

    if not targets:
        raise UnsureError("no targets given")
    targets = unique(targets, "the targets")
    for t in targets:
        resolve_target(t)
    return targets


@torch.no_grad()
def predict(draw, x: Tensor, batch_size: int = 256) -> tuple[Tensor, dict[str, Tensor]]:
    """Mean probabilities ``[B,K]`` and the three uncertainties ``{name: [B]}`` under one draw."""
    probs, unc = [], {k: [] for k in UNCERTAINTIES}
    for s in range(0, len(x), batch_size):
        z = draw(x[s:s + batch_size])  # [S,b,K]
        probs.append(torch.softmax(z, -1).mean(0).cpu())  # [S,b,K] -> [b,K]
        for name in UNCERTAINTIES:
            unc[name].append(MEASURES.get(name)(z).cpu())
    return torch.cat(probs), {k: torch.cat(v) for k, v in unc.items()}


def explain_maps(posterior: Posterior, x: Tensor, methods: list[MethodSpec], targets: list[str],
                 draw, seed: int = 0, batch_size: int = 16,
                 progress: bool = True) -> tuple[dict[tuple[str, str], Tensor], dict[str, float]]:
    """Maps ``{(method label, target): [B,H,W]}`` on CPU, and seconds per image per method."""
    maps, seconds = {}, {}
    jobs = [(m, t) for m in methods for t in targets]
    for spec, t in tqdm(jobs, desc="explaining", disable=not progress, unit="map set"):
        method = make_method(spec.name, **spec.options)
        t0 = time.perf_counter()
        att = method.attribute(posterior, x, t, draw=draw, batch_size=batch_size,
                               generator=torch.Generator().manual_seed(seed))
        seconds[spec.label] = seconds.get(spec.label, 0.0) + (time.perf_counter() - t0) / len(x)
        maps[(spec.label, t)] = att.maps.detach().float().cpu()
    return maps, seconds


def test_target(targets: Sequence[str]) -> str:
    """The target the blurring test scores: epistemic when explained, else the first of total /
    aleatoric (a one-sample posterior explains total)."""
    for t in ("epistemic", *targets):
        if t in targets and t in UNCERTAINTIES:
            return t
    raise UnsureError("the blurring test needs an uncertainty target (total, aleatoric or epistemic)")


def build_report(posterior: Posterior, x: Tensor, names: list[str], *, methods: list[MethodSpec],
                 targets: list[str], labels: Tensor | None = None, data: str | None = None,
                 seed: int = 0, batch_size: int = 16, blurring: bool = False,
                 fractions: Sequence[float] = (0.02,), sigmas: Sequence[float] = DEMO_SIGMAS,
                 progress: bool = True, title: str = "Where does the uncertainty come from?",
                 intro: str = "") -> tuple[Report, dict]:
    """Explain ``x [B,C,H,W]`` and assemble the report.

    Returns ``(report, results)``; ``results`` is JSON-ready (per-image numbers, map sums, timings).
    ``blurring``: the blurring test with the substitute panel (:mod:`unsure.report.trust`) of the
    maps of the first uncertainty target (epistemic when it is explained), which says per image
    which map to trust.
    """
    tested = test_target(targets) if blurring else None
    draw = posterior.draw(torch.Generator().manual_seed(seed))
    x = x.to(posterior.device)
    probs, unc = predict(draw, x)
    maps, seconds = explain_maps(posterior, x, methods, targets, draw, seed, batch_size, progress)
    labels_m = [m.label for m in methods]
    scales = {}
    for key, mp in maps.items():
        signed = is_signed(mp)  # one colour map per method x target, so rows are comparable
        scales[key] = [contrast_scale(mp[i], signed) for i in range(len(mp))]
    items = [Item(names[i], x[i].cpu(), probs[i], {k: float(v[i]) for k, v in unc.items()},
                  {k: mp[i] for k, mp in maps.items()},
                  None if labels is None else int(labels[i])) for i in range(len(x))]
    blur = None
    if blurring:
        blur = run_panel(posterior, x, {m: maps[(m, tested)] for m in labels_m}, draw, tested,
                         fractions, sigmas, seed=seed, progress=progress)
    report = Report(title=title, intro=intro, items=items, methods=labels_m, targets=list(targets),
                    scales=scales, class_names=class_names(data, probs.shape[1]), blurring=blur)
    results = {
        "images": [{"name": it.name, "prediction": it.prediction, "label": it.label,
                    "probability": float(it.probs.max()), "uncertainty": it.uncertainty,
                    "map_sums": {f"{m}/{t}": float(mp.double().sum()) for (m, t), mp in it.maps.items()},
                    **({} if blur is None else {"panel_murr": blur.image_mean(i), "trust": blur.verdict(blur.image_mean(i))})}
                   for i, it in enumerate(items)],
        "seconds_per_image": seconds,
        "blurring": None if blur is None else blur.results,
        "panel": None if blur is None else {"target": blur.target, "pixels": blur.pixels,
                                            "substitutes": list(blur.substitutes), "per_image": blur.per_image,
                                            "by_substitute": blur.by_substitute, "trust": blur.verdict(blur.overall())},
    }
    return report, results
