"""How entangled the model itself is on the both-cause images: the share of each kind of
uncertainty that the *other* cause raises.

On a both-cause image the two causes together raise aleatoric uncertainty from the clean image's
level ``M(c)`` to ``M(b)``. With the four versions the bench already forwards (clean ``c``,
blend only ``a``, patch only ``e``, both ``b``), the two-cause Shapley values split that rise
exactly between the causes:

    phi_patch = ((M(e) - M(c)) + (M(b) - M(a))) / 2
    phi_blend = ((M(a) - M(c)) + (M(b) - M(e))) / 2,   phi_patch + phi_blend = M(b) - M(c).

The **model's share** of aleatoric uncertainty on the epistemic cause is
``relu(phi_patch) / (relu(phi_patch) + relu(phi_blend))`` (NaN when neither cause raises it), and
of epistemic uncertainty on the aleatoric cause the same with ``M`` epistemic and the roles
swapped. A map faithful to the model puts about that share of its mass *between the two causes*
on the other cause (:func:`unsure.metrics.groundtruth.disentanglement`, ``*_of_causes``); the
disentanglement score (lower is better) rewards maps that ignore what the model does, whenever
the model itself mixes the kinds. Forward passes only; nothing here reads a map.
"""
from __future__ import annotations

import torch
from torch import Tensor


def cause_share(u: dict[str, dict[str, Tensor]], measure: str, own: str, other: str) -> Tensor:
    """``[n]``: the share of ``measure``'s rise from the clean to the both-cause image that the
    cause ``other`` (the version holding it alone) raises, against ``own``; two-cause Shapley values."""
    c, b = u["clean"][measure], u["both"][measure]
    m_own, m_other = u[own][measure], u[other][measure]
    phi_other = ((m_other - c) + (b - m_own)) / 2
    phi_own = ((m_own - c) + (b - m_other)) / 2
    p, q = phi_other.clamp(min=0), phi_own.clamp(min=0)
    total = p + q
    return torch.where(total > 0, p / torch.where(total > 0, total, torch.ones_like(total)),
                       torch.full_like(total, float("nan")))


def model_entanglement(u: dict[str, dict[str, Tensor]]) -> dict[str, Tensor]:
    """``{"aleatoric_on_epistemic": [n], "epistemic_on_aleatoric": [n]}``: the share of the
    aleatoric rise the epistemic patch causes, and of the epistemic rise the blend causes."""
    return {"aleatoric_on_epistemic": cause_share(u, "aleatoric", "aleatoric", "epistemic"),
            "epistemic_on_aleatoric": cause_share(u, "epistemic", "epistemic", "aleatoric")}


def summary(shares: dict[str, Tensor], images: Tensor) -> dict:
    """Medians of :func:`model_entanglement`'s ``shares`` over the both-cause images ``images``
    (``[m]`` indices), NaNs left out, with the number of images each median is over."""
    out = {}
    for k, v in shares.items():
        v = v[images]
        out[k] = float(v.nanmedian()) if len(v) else float("nan")
        out[f"{k}_images"] = int((~v.isnan()).sum())
    return out
