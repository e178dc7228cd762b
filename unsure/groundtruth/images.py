"""Test images with known causes for a posterior: steps 2-3 of ``unsure bench groundtruth`` (and of
``unsure bench properties --groundtruth``) in one place.

``n`` base images of ``split`` (a seeded permutation, ``seed``), their cause set (seed ``seed + 1``,
:func:`unsure.groundtruth.generate.cause_set`) and the validity of every cause under ``draw``
(:func:`unsure.groundtruth.validity.check_validity`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..data import load
from .generate import CauseSet, Design, cause_set
from .validity import MIN_RISE, NEAR, Validity, check_validity


def default_other(base: str) -> str:
    """The data set whose images make the ``other-data`` epistemic patches."""
    return "fashion-mnist" if base.split(":")[0] == "digits" else "digits"


def num_classes(posterior, y: Tensor) -> int:
    """Classes of a run's network (its ``arch_options``), else ``max(y) + 1``."""
    cfg = getattr(posterior, "run_config", None)
    if cfg and "arch_options" in cfg:
        return int(cfg["arch_options"]["num_classes"])
    return int(y.max()) + 1


def pair_images(x: Tensor, y: Tensor, pick: Tensor, num_classes: int, per_class: int = 4):
    """Images of the split (outside ``pick``) of the pair classes the picked images lack, the
    first ``per_class`` of each: the paired blend partners a small ``--n`` needs."""
    from .ambiguity import paired_class

    have = set(y[pick].tolist())
    lack = sorted(set(paired_class(y[pick], num_classes).tolist()) - have)
    rest = torch.ones(len(y), dtype=torch.bool)
    rest[pick] = False
    idx = torch.cat([(rest & (y == k)).nonzero().squeeze(1)[:per_class] for k in lack]) if lack else \
        torch.zeros(0, dtype=torch.int64)
    return x[idx], y[idx]


@dataclass
class CauseImages:
    """``cs``: the cause set; ``validity``: its check; ``pick [n]``: the base images' indices in
    ``split``; ``other``: the spec of the other-data patches."""

    cs: CauseSet
    validity: Validity
    pick: Tensor
    other: str


def cause_images(posterior, draw, base: str, split: str, n: int, seed: int, design: Design,
                other: str | None = None, min_rise: float = MIN_RISE, near: float = NEAR,
                compare: str = "ratio") -> CauseImages:
    """Generate and check the cause set of ``n`` base images (module docstring)."""
    d = load(base, split)
    pick = torch.randperm(len(d.y), generator=torch.Generator().manual_seed(seed))[:n]
    other = other or default_other(base)
    o = load(other, "train").x[:2000] if "other-data" in design.kinds else None
    K = num_classes(posterior, d.y)
    cs = cause_set(d.x[pick], d.y[pick], design, torch.Generator().manual_seed(seed + 1), o, K,
                   pair_images(d.x, d.y, pick, K) if design.partner == "paired" else None)
    return CauseImages(cs, check_validity(draw, cs, min_rise, near, compare=compare), pick, other)
