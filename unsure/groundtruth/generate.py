"""Generate the ground-truth data from any base data set (``digits``, ``fashion-mnist``,
``idx:DIR``, ``npz:FILE``, ``colour:BASE``, ...), seeded.

- :func:`training_set`: the base training split with the aleatoric cause planted in a share of
  the images (:mod:`unsure.groundtruth.ambiguity`), labels drawn in proportion to the blend;
- :func:`cause_set`: from base images (validation or test split), four versions of each: clean,
  the aleatoric cause (blend ``w = 0.5`` with a partner of another class), an epistemic cause
  (kind by turns, :mod:`unsure.groundtruth.epistemic`) at a different place, and both; with the
  masks of the pixels each cause changed (METHODS.md: > 0.05 in some channel).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import UnsureError
from .ambiguity import (TEST_WEIGHT, paired_class, TRAIN_SHARE, TRAIN_WEIGHTS, ambiguous_labels, blend,
                        check_ambiguity, label_distributions, partners, PARTNERS)
from .controls import CONTROLS, control_partners
from .epistemic import EPISTEMIC_KINDS, KINDS, paste
from .regions import ALEATORIC_SHARE, EPISTEMIC_SHARE, box_masks, changed, disjoint_boxes, random_boxes, sides


@dataclass
class Design:
    """The benchmark's construction settings (recorded in every output)."""

    aleatoric_share: float = ALEATORIC_SHARE  # aleatoric region side / image side
    epistemic_share: float = EPISTEMIC_SHARE  # epistemic patch side / image side
    train_share: float = TRAIN_SHARE  # training images with a blended region
    train_weights: tuple[float, float] = TRAIN_WEIGHTS  # blend weight range in training
    test_weight: float = TEST_WEIGHT  # blend weight of the test images' aleatoric cause
    kinds: tuple[str, ...] = KINDS  # epistemic kinds, by turns over the images
    partner: str = "paired"  # the blend partner's class: the own class's fixed pair (default, section 5), or "any" other class
    control_share: float = 0.0  # training images with a control blend that leaves the label alone (controls.py; a trial)
    control: str = "same"  # the control: a blend with another image of the own class, of a "third" class, or a "cutout"
    ambiguity: str = "pair"  # the blend's label mass w: on the partner's class, or "spread" over all others (a trial)

    def check(self) -> "Design":
        for k in self.kinds:
            EPISTEMIC_KINDS.get(k)
        if self.partner not in PARTNERS:
            raise UnsureError(f"unknown partner mode {self.partner!r}; use one of {', '.join(PARTNERS)}")
        check_ambiguity(self.ambiguity)
        if self.control not in CONTROLS:
            raise UnsureError(f"unknown control mode {self.control!r}; use one of {', '.join(CONTROLS)}")
        lo, hi = self.train_weights
        if not (0 <= lo <= hi <= 1 and 0 < self.test_weight <= 1 and 0 <= self.train_share <= 1
                and 0 <= self.control_share <= 1 - self.train_share):
            raise UnsureError(f"blend weights and shares must lie in [0, 1] (the two training shares "
                              f"together too), got {self}")
        return self


@dataclass
class CauseSet:
    """Images with known causes; ``n`` base images, four versions each.

    Attributes
    ----------
    clean, aleatoric, epistemic, both : ``[n, C, H, W]``
    y : ``[n]`` base labels; partner_y : ``[n]`` the blended-in class
    mask_aleatoric, mask_epistemic : ``[n, H, W]`` bool, pixels each cause changed
    box_aleatoric, box_epistemic : ``[n, 3]`` ``(top, left, side)``
    kind : ``[n]`` int64 index into ``kinds``
    """

    clean: Tensor
    aleatoric: Tensor
    epistemic: Tensor
    both: Tensor
    y: Tensor
    partner_y: Tensor
    mask_aleatoric: Tensor
    mask_epistemic: Tensor
    box_aleatoric: Tensor
    box_epistemic: Tensor
    kind: Tensor
    kinds: tuple[str, ...]

    def tensors(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "kinds"}

    def __len__(self) -> int:
        return len(self.y)


def _num_classes(y: Tensor, num_classes: int | None) -> int:
    return int(num_classes) if num_classes is not None else int(y.max()) + 1


class TrainingSet(NamedTuple):
    """The training split with the aleatoric cause planted."""

    x: Tensor  # [N,C,H,W] images
    y: Tensor  # [N] labels, drawn between the two classes by the blend weight for the planted images
    planted: Tensor  # [N] bool, which images carry a blend
    probs: Tensor  # [N,K] label distributions: one-hot, or 1 - w / w on the own / partner class
    controls: Tensor  # [N] bool, which images carry a control blend (label unchanged)


def check_square(x: Tensor) -> None:
    if x.shape[-1] != x.shape[-2]:
        raise UnsureError(f"the ground-truth benchmark needs square images, got "
                          f"{x.shape[-2]}x{x.shape[-1]}; crop or pad them to a square")


def training_set(x: Tensor, y: Tensor, design: Design, generator: torch.Generator,
                 num_classes: int | None = None, extra: tuple[Tensor, Tensor] | None = None) -> TrainingSet:
    """Plant the aleatoric cause in ``design.train_share`` of ``x [N,C,H,W]`` (see
    :class:`TrainingSet`). The drawn labels and the distributions they are drawn from come
    together, so a model can be trained on either (``unsure train --soft-labels``). With paired
    partners, ``extra`` ``(x [m,C,H,W], y [m])`` lends partner images of classes ``y`` lacks
    (a small test split of many classes)."""
    design.check()
    check_square(x)
    K = _num_classes(y, num_classes)
    a, _ = sides(x.shape[-1], design.aleatoric_share, design.epistemic_share)
    planted = torch.rand(len(y), generator=generator) < design.train_share
    idx = planted.nonzero().squeeze(1)
    pool_x, pool_y = x, y
    if extra is not None and design.partner == "paired":
        lack = set(paired_class(y, K).unique().tolist()) - set(y.unique().tolist())
        if lack:  # only then: data whose split holds every pair class stays as it was
            pool_x, pool_y = torch.cat([x, extra[0]]), torch.cat([y, extra[1]])
    part = partners(y, K, generator, design.partner, None if pool_y is y else pool_y)[idx]  # [m] partner indices
    x_part = pool_x[part]
    y_part = pool_y[part]
    lo, hi = design.train_weights
    w = lo + (hi - lo) * torch.rand(len(idx), generator=generator)
    boxes = random_boxes(len(idx), x.shape[-1], a, generator)
    x2, y2 = x.clone(), y.clone()
    x2[idx] = blend(x[idx], x_part, boxes, w)
    y2[idx] = ambiguous_labels(y[idx], y_part, w, generator, design.ambiguity, K)
    probs = label_distributions(y, K, idx, y_part, w, design.ambiguity)
    ctrl = torch.zeros(len(y), dtype=torch.bool)
    if design.control_share > 0:  # drawn after everything above, so the blends stay as without controls
        u = torch.rand(len(y), generator=generator)
        ctrl = ~planted & (u < design.control_share / (1 - design.train_share))
        cidx = ctrl.nonzero().squeeze(1)
        if design.control == "cutout":  # a flat random fill, w = 1
            C = x.shape[1]
            fill = torch.rand(len(cidx), C, 1, 1, generator=generator).to(x.dtype).expand(-1, -1, *x.shape[-2:])
            cw = torch.ones(len(cidx))
        else:
            fill = x[control_partners(y, K, generator, design.control)[cidx]]
            cw = lo + (hi - lo) * torch.rand(len(cidx), generator=generator)
        cboxes = random_boxes(len(cidx), x.shape[-1], a, generator)
        x2[cidx] = blend(x[cidx], fill, cboxes, cw)
    return TrainingSet(x2, y2, planted, probs, ctrl)


def cause_set(x: Tensor, y: Tensor, design: Design, generator: torch.Generator,
              other: Tensor | None = None, num_classes: int | None = None,
              extra: tuple[Tensor, Tensor] | None = None) -> CauseSet:
    """Clean, aleatoric, epistemic and both-cause versions of ``x [n,C,H,W]`` (see module doc).

    The partner images come from ``x`` itself (another class); with paired partners, ``extra``
    ``(x [m,C,H,W], y [m])`` adds images of the pair classes ``y`` lacks (a few base images
    rarely hold every class). ``other`` ``[M,C',h,w]`` feeds the ``other-data`` kind.
    """
    design.check()
    check_square(x)
    n, H = len(y), x.shape[-1]
    K = _num_classes(y, num_classes)
    a, e = sides(H, design.aleatoric_share, design.epistemic_share)
    pool_x, pool_y = x, None
    if extra is not None and len(extra[1]) and design.partner == "paired":
        pool_x, pool_y = torch.cat([x, extra[0]]), torch.cat([y, extra[1]])
    part = partners(y, K, generator, design.partner, pool_y)
    box_a = random_boxes(n, H, a, generator, room=e)
    box_e = disjoint_boxes(box_a, H, e, generator)
    kind = torch.arange(n) % len(design.kinds)
    kind = kind[torch.randperm(n, generator=generator)]
    names = [design.kinds[int(k)] for k in kind]
    w = torch.full((n,), float(design.test_weight))
    xa = blend(x, pool_x[part], box_a, w)
    xe = paste(x, box_e, names, generator, other)
    # the both-image carries the very same patch (kinds that read the region read clean content,
    # which the aleatoric blend left alone: the boxes are disjoint)
    xb = torch.where(box_masks(box_e, H)[:, None], xe, xa)
    return CauseSet(x, xa, xe, xb, y, (y if pool_y is None else pool_y)[part], changed(xa, x), changed(xe, x), box_a, box_e, kind,
                    tuple(design.kinds))
