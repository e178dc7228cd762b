"""Which map to trust on a report's images: the blurring (URR) test of every method's maps under
every substitute of the panel (blur, zero, mean, noise, road; :mod:`unsure.metrics.replacements`),
per image and over the images.

One substitute cannot rank methods (a method whose reference matches it wins:
docs/results/blurring-panel.md), so the verdict is the **mean over the substitutes** of the MURR
(the share of the uncertainty removed once the map's top pixels are replaced), per image.

Small images (**decision**): a fraction is raised to at least :data:`MIN_PIXELS` pixels. On 8x8
digits 2% is one pixel, the curve has one step, and every map that puts the same pixel first
ties; four pixels is the fewest at which the order within the top of the map counts at all
while staying a small share of the image (6% of 8x8; 28x28 and larger are unchanged at 2%).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..metrics.blurring import blurring_test, n_pixels
from ..metrics.replacements import PANEL

MIN_PIXELS = 4
TIE = 1e-9  # MURRs closer than this are the same score


def effective_fraction(fraction: float, H: int, W: int, min_pixels: int = MIN_PIXELS) -> float:
    """``fraction``, raised so that it replaces at least ``min_pixels`` pixels of an ``H x W`` image."""
    return max(float(fraction), min(1.0, min_pixels / (H * W)))


@dataclass
class Panel:
    """The substitute panel of a report's maps.

    Attributes
    ----------
    target : the uncertainty the maps explain and the test removes
    fractions : the fractions used (after :func:`effective_fraction`), as strings ``"0.0625"``
    pixels : ``{fraction: pixels replaced}``
    substitutes : the panel's substitutes, in order
    per_image : ``{method: {substitute: [MURR per image]}}`` at the first fraction
    results : ``{method: {fraction: {"murr", "auc"}}}``: means over the substitutes of the medians
        over the images
    by_substitute : ``{substitute: {method: {fraction: {"murr", "auc"}}}}`` (medians over images)
    curves_png : median URR curves of the blur substitute, as PNG bytes (or ``None``)
    """

    target: str
    fractions: list[str]
    pixels: dict[str, int]
    substitutes: tuple[str, ...]
    per_image: dict[str, dict[str, list[float]]]
    results: dict[str, dict[str, dict[str, float]]]
    by_substitute: dict[str, dict[str, dict[str, dict[str, float]]]]
    curves_png: bytes | None
    n_images: int
    sigmas: tuple[float, ...]

    def image_mean(self, i: int) -> dict[str, float]:
        """``{method: mean MURR over the substitutes}`` on image ``i`` (first fraction)."""
        return {m: sum(v[i] for v in subs.values()) / len(subs) for m, subs in self.per_image.items()}

    def best(self, scores: dict[str, float]) -> list[str]:
        top = max(scores.values())
        return [m for m, v in scores.items() if v >= top - TIE]

    def test_name(self) -> str:
        f = self.fractions[0]
        return (f"blurring test with the substitute panel ({', '.join(self.substitutes)}): mean MURR "
                f"when the top {self.pixels[f]} pixels ({float(f):.1%}) of each map are replaced")

    def verdict(self, scores: dict[str, float]) -> str:
        """A plain sentence: which map to trust, and on what evidence."""
        best = self.best(scores)
        top = scores[best[0]]
        if top <= TIE:
            return (f"No map to trust here: replacing the top pixels of no map lowers the {self.target} "
                    f"uncertainty ({self.test_name()}).")
        who = best[0] if len(best) == 1 else " and ".join(best) + " (tied)"
        return (f"Trust {who} here: {top:.0%} of the {self.target} uncertainty removed ({self.test_name()}"
                f"; {', '.join(f'{m} {v:.0%}' for m, v in scores.items() if m not in best)}).")

    def overall(self) -> dict[str, float]:
        f = self.fractions[0]
        return {m: r[f]["murr"] for m, r in self.results.items()}


def run_panel(posterior, x: Tensor, maps: dict[str, Tensor], draw, target: str,
              fractions: Sequence[float] = (0.02,), sigmas: Sequence[float] | None = None,
              substitutes: Sequence[str] = PANEL, seed: int = 0, progress: bool = True) -> Panel:
    """Score each method's maps ``{label: [B,H,W]}`` of ``target`` on ``x`` under every substitute."""
    from ..metrics.blurring_plot import plot_curves

    H, W = x.shape[-2:]
    fr = sorted({effective_fraction(f, H, W) for f in fractions})
    keys = [str(round(f, 6)) for f in fr]
    per_image: dict = {}
    by_sub: dict = {s: {} for s in substitutes}
    curves: dict = {}
    for label in tqdm(list(maps), desc="substitute panel", disable=not progress, unit="method"):
        out = blurring_test(posterior, x, maps[label].to(x.device), fraction=fr, sigmas=sigmas, draw=draw,
                            generator=torch.Generator().manual_seed(seed), measure=target,
                            replacement=list(substitutes), replacement_seed=seed)
        per_image[label] = {s: out[s][0].murr_per_image.double().tolist() for s in substitutes}
        for s in substitutes:
            by_sub[s][label] = {k: {"murr": float(r.murr), "auc": float(r.auc)} for k, r in zip(keys, out[s])}
        curves[label] = {k: (1 - r.curves).median(0).values.tolist() for k, r in zip(keys, out[substitutes[0]])}
    results = {m: {k: {q: sum(by_sub[s][m][k][q] for s in substitutes) / len(substitutes) for q in ("murr", "auc")}
                   for k in keys} for m in maps}
    buf = io.BytesIO()
    plot_curves(curves, [float(k) for k in keys], buf)
    return Panel(target, keys, {k: n_pixels(float(k), H, W) for k in keys}, tuple(substitutes), per_image,
                 results, by_sub, buf.getvalue(), len(x), tuple(float(s) for s in (sigmas or ())))
