"""Scores of the ground-truth bench from the maps: localisation per target and cause,
disentanglement, paired tests between methods, and the agreement of two rankings."""
from __future__ import annotations

import torch
from torch import Tensor

from ..metrics.groundtruth import SCORES, disentanglement, groundtruth_scores
from .tasks import Task


def localisation(maps: dict[str, Tensor], task: Task, seed: int = 0) -> tuple[dict, dict, dict]:
    """``(results, by_cause, per_image)``: ``results[METHOD][METRIC]`` medians (and ``_mean``s)
    over all of the task's images, ``by_cause[CAUSE][METHOD][METRIC]``, and
    ``per_image[METHOD][METRIC]`` the ``[m]`` values."""
    results, per_image = {}, {}
    by_cause: dict = {c: {} for c in dict.fromkeys(task.cause)}
    causes = list(task.cause)
    for label, m in maps.items():
        s = groundtruth_scores(m, task.masks, seed)
        results[label] = {**s.summary(), "images": len(task)}
        per_image[label] = {k: getattr(s, k) for k in SCORES}
        for c in by_cause:
            sel = torch.tensor([x == c for x in causes])
            sub = type(s)(*(getattr(s, k)[sel] for k in SCORES))
            by_cause[c][label] = {**sub.summary(), "images": int(sel.sum())}
    return results, by_cause, per_image


def disentangle(maps: dict[str, dict[str, Tensor]], tasks: dict[str, Task], cs_masks: tuple[Tensor, Tensor],
                model: dict[str, Tensor] | None = None) -> dict:
    """``disentanglement[METHOD] = {"aleatoric_on_epistemic", "epistemic_on_aleatoric", "mean",
    "images"}`` (medians) on the both-cause images valid for both maps. With ``model``
    (:func:`unsure.groundtruth.entanglement.model_entanglement`, ``[n]`` per key over the cause
    set), also ``"split_error"``: per image, how far each map's share of its mass on the two causes
    that lies on the other cause is from the model's own share, ``|map - model|``, averaged over the
    two maps (lower is better; images where either share is undefined are left out)."""
    ta, te = tasks["aleatoric"], tasks["epistemic"]
    ia = {int(i): j for j, (i, c) in enumerate(zip(ta.image, ta.cause)) if c == "both"}
    ie = {int(i): j for j, (i, c) in enumerate(zip(te.image, te.cause)) if c == "both"}
    common = sorted(set(ia) & set(ie))
    out = {}
    if not common:
        return out
    ma, me = cs_masks
    idx = torch.tensor(common)
    for label in maps.get("aleatoric", {}):
        if label not in maps.get("epistemic", {}):
            continue
        a = maps["aleatoric"][label][[ia[i] for i in common]]
        e = maps["epistemic"][label][[ie[i] for i in common]]
        d = disentanglement(a, e, ma[idx], me[idx])
        if model is not None:
            ea = (d["aleatoric_on_epistemic_of_causes"] - model["aleatoric_on_epistemic"][idx].to(a.dtype)).abs()
            ee = (d["epistemic_on_aleatoric_of_causes"] - model["epistemic_on_aleatoric"][idx].to(a.dtype)).abs()
            d.update(aleatoric_split_error=ea, epistemic_split_error=ee, split_error=(ea + ee) / 2)
        out[label] = {k: float(v.nanmedian()) for k, v in d.items()}  # NaN: no mass on either cause
        out[label].update({f"{k}_mean": float(v.nanmean()) for k, v in d.items()}, images=len(common))
    return out


def paired(per_image: dict[str, dict[str, Tensor]], metric: str = "rank") -> list[list]:
    """The first method against each other on ``metric`` (higher better), image by image:
    ``[pair, median difference, share of images where the first is better, Wilcoxon p]`` (pairs
    with equal values dropped; p = 1 when all are equal)."""
    from scipy.stats import wilcoxon

    labels = list(per_image)
    rows = []
    for other in labels[1:]:
        d = per_image[labels[0]][metric] - per_image[other][metric]
        nz = d[d != 0]
        p = float(wilcoxon(nz.numpy()).pvalue) if len(nz) else 1.0
        rows.append([f"{labels[0]} vs {other}", f"{float(d.median()):+.3f}",
                     f"{float((d > 0).double().mean()):.0%}", f"{p:.2g}"])
    return rows


def rank_agreement(a: dict[str, float], b: dict[str, float]) -> dict:
    """Kendall's tau and Spearman's rho between two scores of the same methods (higher better in
    both), and whether they pick the same best method."""
    from scipy.stats import kendalltau, spearmanr

    keys = [k for k in a if k in b]
    if len(keys) < 2:
        return {"methods": len(keys)}
    va, vb = [a[k] for k in keys], [b[k] for k in keys]
    return {"methods": len(keys), "kendall_tau": float(kendalltau(va, vb).statistic),
            "spearman_rho": float(spearmanr(va, vb).statistic),
            "best": [max(keys, key=lambda k: a[k]), max(keys, key=lambda k: b[k])],
            "same_best": max(keys, key=lambda k: a[k]) == max(keys, key=lambda k: b[k])}
