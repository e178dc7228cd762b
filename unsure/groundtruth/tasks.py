"""What each target is scored against: the valid (image, cause) pairs of a cause set.

- ``aleatoric`` maps: the aleatoric-only images and the both-cause images whose aleatoric cause
  is valid, against the aleatoric mask;
- ``epistemic`` maps: the same with the epistemic cause and mask;
- ``total`` maps: the aleatoric-only images (aleatoric mask), the epistemic-only images
  (epistemic mask) and the both-cause images with both causes valid (the union of the masks).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .generate import CauseSet
from .validity import Validity

TARGETS = ("total", "aleatoric", "epistemic")


@dataclass
class Task:
    """The images one target's maps are scored on.

    Attributes
    ----------
    x : ``[m, C, H, W]``; masks : ``[m, H, W]`` bool
    cause : ``[m]`` the cause of each entry (``"aleatoric"``, ``"epistemic"``, ``"both"``)
    image : ``[m]`` index of the base image in the cause set
    """

    target: str
    x: Tensor
    masks: Tensor
    cause: list[str]
    image: Tensor

    def __len__(self) -> int:
        return len(self.image)


def _take(parts: list[tuple[str, Tensor, Tensor, Tensor]], target: str) -> Task:
    xs, ms, causes, idx = [], [], [], []
    for cause, x, m, ok in parts:
        sel = ok.nonzero().squeeze(1)
        xs.append(x[sel])
        ms.append(m[sel])
        causes += [cause] * len(sel)
        idx.append(sel)
    return Task(target, torch.cat(xs), torch.cat(ms), causes, torch.cat(idx))


def tasks(cs: CauseSet, v: Validity) -> dict[str, Task]:
    """``{target: Task}`` for total, aleatoric and epistemic (module docstring)."""
    ma, me = cs.mask_aleatoric, cs.mask_epistemic
    return {
        "total": _take([("aleatoric", cs.aleatoric, ma, v.aleatoric), ("epistemic", cs.epistemic, me, v.epistemic),
                        ("both", cs.both, ma | me, v.both)], "total"),
        "aleatoric": _take([("aleatoric", cs.aleatoric, ma, v.aleatoric),
                            ("both", cs.both, ma, v.both_aleatoric)], "aleatoric"),
        "epistemic": _take([("epistemic", cs.epistemic, me, v.epistemic),
                            ("both", cs.both, me, v.both_epistemic)], "epistemic"),
    }
