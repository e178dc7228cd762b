"""The aleatoric cause: a region whose content is genuinely ambiguous between two classes.

In training, a share of the images gets a square region replaced by a blend of its own content
and the same region of an image of its class's fixed pair (:func:`paired_class`; or of any other
class, ``partner="any"``, the first design), ``x[R] = (1 - w) x[R] + w x_partner[R]``, and its
label is drawn between the two classes in proportion: the partner's class with probability
``w``, its own otherwise (:func:`ambiguous_labels`); :func:`label_distributions` gives the
distributions themselves, which ``unsure train --soft-labels`` trains on. A model that fits
them learns that a blended region means the class is genuinely uncertain (aleatoric: no amount
of data removes it), while the rest of the image keeps the usual, learnable look. Test images
get the same blend with ``w = 0.5``, the most ambiguous. Why the fixed pair and the
distributions: docs/results/groundtruth.md sections 1 and 5.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsureError
from .regions import box_masks

TRAIN_SHARE = 0.3  # share of training images with a blended region
TRAIN_WEIGHTS = (0.3, 0.7)  # blend weight w ~ U[lo, hi] in training
TEST_WEIGHT = 0.5


PARTNERS = ("paired", "any")  # the partner's class: the own class's fixed pair, or any other class
# where the blend's label mass w goes: to the partner's class ("pair"), or evenly to every other
# class ("spread": the label is noisy, not two-way; a trial, docs/results/groundtruth.md section 5)
AMBIGUITIES = ("pair", "spread")


def paired_class(y: Tensor, num_classes: int) -> Tensor:
    """The fixed partner class of each class: ``(k + K // 2) mod K`` (on Fashion-MNIST T-shirt and
    sandal, trouser and shirt, pullover and sneaker, dress and bag, coat and ankle boot); never
    the class itself for ``K >= 2``."""
    return (y + num_classes // 2) % num_classes


def partners(y: Tensor, num_classes: int, generator: torch.Generator, mode: str = "any",
             pool: Tensor | None = None) -> Tensor:
    """``[n]`` indices of an image of a different class for each image: with ``mode`` ``"any"``
    the class drawn uniformly among the other classes present in ``y`` (all ``num_classes`` in a
    full split), with ``"paired"`` the class :func:`paired_class`, the image drawn uniformly among
    that class's images. Indices into ``y``, or with ``pool`` (``"paired"`` only: labels of the
    images to draw from, e.g. ``y`` and more images of classes it lacks) into ``pool``."""
    if mode not in PARTNERS:
        raise UnsureError(f"unknown partner mode {mode!r}; use one of {', '.join(PARTNERS)}")
    if pool is not None and mode != "paired":
        raise UnsureError("a partner pool is for paired partners only")
    present = y.unique()
    if num_classes < 2 or len(present) < 2:
        raise UnsureError("the aleatoric cause needs images of at least two classes")
    if mode == "paired":
        want = paired_class(y, num_classes)
        if pool is not None:
            y, present = pool, pool.unique()  # draw from the pool's images
        missing = sorted(set(want.unique().tolist()) - set(present.tolist()))
        if missing:
            raise UnsureError(f"paired partners: no image of class {missing[0]} (the pair of class "
                              f"{int(((torch.tensor(missing[0]) - num_classes // 2) % num_classes))}); "
                              "use partner 'any' on data with missing classes")
    else:
        pos = torch.searchsorted(present, y)  # [n] the own class's place among the present ones
        shift = torch.randint(1, len(present), (len(y),), generator=generator)
        want = present[(pos + shift) % len(present)]  # [n] a present class != y, uniform over the others
    out = torch.empty(len(want), dtype=torch.int64)
    for k in present.tolist():
        of_k = (y == k).nonzero().squeeze(1)
        sel = (want == k).nonzero().squeeze(1)
        if len(sel):
            out[sel] = of_k[torch.randint(0, len(of_k), (len(sel),), generator=generator)]
    return out


def blend(x: Tensor, partner: Tensor, boxes: Tensor, weight: Tensor) -> Tensor:
    """``x`` with each box replaced by ``(1 - w) x + w partner`` there.

    Parameters
    ----------
    x, partner : ``[n, C, H, W]`` images in [0, 1] (not modified)
    boxes : ``[n, 3]`` ``(top, left, side)``
    weight : ``[n]`` blend weights in [0, 1]

    Returns
    -------
    ``[n, C, H, W]``
    """
    inside = box_masks(boxes, x.shape[-1])[:, None]  # [n,1,H,W]
    w = weight.to(x.dtype)[:, None, None, None]  # [n] -> [n,1,1,1]
    return torch.where(inside, (1 - w) * x + w * partner, x)


def ambiguous_labels(y: Tensor, y_partner: Tensor, weight: Tensor, generator: torch.Generator,
                     ambiguity: str = "pair", num_classes: int | None = None) -> Tensor:
    """``[n]`` labels: with probability ``w`` the partner's class (``"pair"``) or a class drawn
    uniformly among the ``K - 1`` others (``"spread"``, needs ``num_classes``), the own class
    otherwise."""
    flip = torch.rand(len(y), generator=generator) < weight
    if ambiguity == "pair":
        return torch.where(flip, y_partner, y)
    check_ambiguity(ambiguity)
    other = (y + torch.randint(1, num_classes, (len(y),), generator=generator)) % num_classes
    return torch.where(flip, other, y)


def check_ambiguity(ambiguity: str) -> None:
    if ambiguity not in AMBIGUITIES:
        raise UnsureError(f"unknown ambiguity {ambiguity!r}; use one of {', '.join(AMBIGUITIES)}")


def label_distributions(y: Tensor, num_classes: int, idx: Tensor, y_partner: Tensor, weight: Tensor,
                        ambiguity: str = "pair") -> Tensor:
    """``[n, K]`` the distributions the labels are drawn from: one-hot on ``y``, and for the
    blended images ``idx`` ``1 - w`` on the own class and ``w`` on the partner's (``"pair"``) or
    ``w / (K - 1)`` on each other class (``"spread"``)."""
    check_ambiguity(ambiguity)
    p = torch.nn.functional.one_hot(y, num_classes).to(torch.float32)
    rows = torch.arange(len(idx))
    w = weight.to(torch.float32)
    if ambiguity == "spread":
        q = (w / (num_classes - 1))[:, None].expand(len(idx), num_classes).clone()
        q[rows, y[idx]] = 1 - w
        p[idx] = q
        return p
    q = torch.zeros(len(idx), num_classes)
    q[rows, y[idx]] += 1 - w
    q[rows, y_partner] += w
    p[idx] = q
    return p
