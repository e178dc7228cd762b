"""Ground-truth localisation (METHODS.md "Ground-truth localisation") and disentanglement.

For a map ``m [B,H,W]`` (channels already reduced) and a cause mask ``G [B,H,W]``, ties broken by
a seeded ``1e-12 * uniform`` jitter (in float64):

- **rank accuracy** (Arras et al. 2022, CLEVR-XAI): with ``K = |G|``, the share of the ``K``
  highest-valued pixels that lie in ``G``; a random map scores ``|G| / (H W)`` in expectation;
- **mass accuracy**: ``sum(relu(m)[G]) / sum(relu(m))`` (0 when the map has no positive mass);
- **ROC-AUC** of the raw values against ``G`` over all pixels (mid-ranks for ties);
- **pointing game**: 1 when the highest-valued pixel lies in ``G``.

**Disentanglement** (lower is better): on images with both causes, the positive mass of the
aleatoric map on the epistemic cause and of the epistemic map on the aleatoric cause — the mass
accuracy of each map against the *other* cause's mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import UnsureError
from .base import register_metric
from .localization import roc_auc

JITTER = 1e-12
SCORES = ("rank", "mass", "auroc", "pointing")


def _check(maps: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    if not isinstance(maps, Tensor) or maps.ndim != 3 or not torch.isfinite(maps).all():
        raise UnsureError(f"maps must be a finite tensor [B,H,W], got {getattr(maps, 'shape', type(maps))}")
    if not isinstance(masks, Tensor) or masks.shape != maps.shape:
        raise UnsureError(f"masks must have the maps' shape {tuple(maps.shape)}, got {getattr(masks, 'shape', None)}")
    lab = masks.reshape(len(masks), -1).bool()  # [B,H,W] -> [B,N]
    if not bool(lab.any(1).all()) or bool(lab.all(1).any()):
        raise UnsureError("every mask must hold at least one pixel and not the whole image")
    return maps.detach().reshape(len(maps), -1).double().cpu(), lab.cpu()  # [B,H,W] -> [B,N]


def jittered(flat: Tensor, generator: torch.Generator | None) -> Tensor:
    """``flat [B,N]`` float64 plus ``1e-12 * U[0, 1)`` (seeded) to break ties."""
    return flat + JITTER * torch.rand(flat.shape, generator=generator, dtype=torch.float64)


def rank_accuracy(maps: Tensor, masks: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Share of the ``|G|`` top pixels of each map inside its mask: ``[B,H,W] x2 -> [B]``."""
    flat, lab = _check(maps, masks)
    order = jittered(flat, generator).argsort(1, descending=True)  # [B,N] best first
    hits = lab.gather(1, order).double()  # [B,N] is the j-th best pixel in G
    k = lab.sum(1)  # [B] |G|
    first_k = torch.arange(lab.shape[1])[None] < k[:, None]  # [B,N]
    return (hits * first_k).sum(1) / k


def mass_accuracy(maps: Tensor, masks: Tensor) -> Tensor:
    """``sum(relu(m)[G]) / sum(relu(m))`` per image (0 without positive mass): ``[B]``."""
    flat, lab = _check(maps, masks)
    pos = flat.clamp(min=0)
    total = pos.sum(1)
    inside = (pos * lab).sum(1)
    return torch.where(total > 0, inside / torch.where(total > 0, total, torch.ones_like(total)),
                       torch.zeros_like(total))


def auroc(maps: Tensor, masks: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """ROC-AUC of each map's raw values against its mask: ``[B]``. The jitter only breaks exact
    ties (mid-ranks would give them one half each); pass ``generator=None`` for an unseeded draw."""
    flat, lab = _check(maps, masks)
    return roc_auc(jittered(flat, generator), lab)


def pointing_game(maps: Tensor, masks: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """1.0 when each map's highest pixel (jittered) lies in its mask, else 0.0: ``[B]``."""
    flat, lab = _check(maps, masks)
    top = jittered(flat, generator).argmax(1)
    return lab.gather(1, top[:, None]).squeeze(1).double()


@dataclass
class GroundTruthScores:
    """Per-image ``rank``, ``mass``, ``auroc``, ``pointing`` (each ``[B]`` float64)."""

    rank: Tensor
    mass: Tensor
    auroc: Tensor
    pointing: Tensor

    def summary(self) -> dict[str, float]:
        """Medians over images (METHODS.md) and means, ``{"rank": ..., "rank_mean": ...}``."""
        out = {}
        for k in SCORES:
            v = getattr(self, k)
            out[k] = float(v.median()) if len(v) else float("nan")
            out[f"{k}_mean"] = float(v.mean()) if len(v) else float("nan")
        return out


def groundtruth_scores(maps: Tensor, masks: Tensor, seed: int = 0) -> GroundTruthScores:
    """The four scores of every map against its mask; one seeded jitter (``seed``) for all."""
    g = lambda: torch.Generator().manual_seed(seed)  # noqa: E731  the same jitter for each score
    return GroundTruthScores(rank_accuracy(maps, masks, g()), mass_accuracy(maps, masks),
                             auroc(maps, masks, g()), pointing_game(maps, masks, g()))


def disentanglement(aleatoric_maps: Tensor, epistemic_maps: Tensor, mask_aleatoric: Tensor,
                    mask_epistemic: Tensor) -> dict[str, Tensor]:
    """On images with both causes: ``{"aleatoric_on_epistemic": [B], "epistemic_on_aleatoric":
    [B], "mean": [B]}``, each map's positive mass on the other cause (lower is better), and the
    same as a share of the map's positive mass on the two causes together (``..._of_causes``;
    NaN without any): what :mod:`unsure.groundtruth.entanglement` compares with the model's own
    split of each kind of uncertainty between the causes."""
    a = mass_accuracy(aleatoric_maps, mask_epistemic)
    e = mass_accuracy(epistemic_maps, mask_aleatoric)
    a_in = a + mass_accuracy(aleatoric_maps, mask_aleatoric)  # the masks are disjoint
    e_in = e + mass_accuracy(epistemic_maps, mask_epistemic)
    nan = torch.full_like(a, float("nan"))
    return {"aleatoric_on_epistemic": a, "epistemic_on_aleatoric": e, "mean": (a + e) / 2,
            "aleatoric_on_epistemic_of_causes": torch.where(a_in > 0, a / a_in.clamp(min=1e-30), nan),
            "epistemic_on_aleatoric_of_causes": torch.where(e_in > 0, e / e_in.clamp(min=1e-30), nan)}


register_metric("gt-rank", True, "uncertainty",
                "share of the |mask| top pixels inside a known cause's mask (relevance rank accuracy)",
                rank_accuracy)
register_metric("gt-mass", True, "uncertainty",
                "share of the map's positive mass inside a known cause's mask (relevance mass accuracy)",
                mass_accuracy)
register_metric("gt-auroc", True, "uncertainty", "ROC-AUC of the raw map against a known cause's mask", auroc)
register_metric("gt-pointing", True, "uncertainty", "1 when the map's top pixel lies in a known cause's mask",
                pointing_game)
register_metric("gt-disentanglement", False, "uncertainty",
                "positive mass of the aleatoric map on the epistemic cause and vice versa (both causes)",
                disentanglement)
