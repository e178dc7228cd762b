"""Control blends: ghosts in the training data that do NOT make the label ambiguous (a trial).

The idea tested: with only the aleatoric blends (:mod:`unsure.groundtruth.ambiguity`) in
training, any odd region might become a sign of ambiguity to the model, so that the epistemic
patches (content training never holds) raise mostly aleatoric uncertainty. Control blends would
teach the difference: a share of the training images gets the very same kind of blend,
``(1 - w) x + w x_partner`` over a region of the same size and ``w`` from the same range, but
with a partner whose class leaves the label alone, and the label stays one-hot on the own
class. What makes a blend ambiguous would then be the partner's *content*, not the ghost.
Measured on validation data, it does not help: the patches' effect is unchanged, and an ensemble
trained on data without any blend treats them the same way (docs/results/groundtruth.md section
5). The default share is therefore 0.

Modes (``Design.control``):

- ``"same"``: the partner is another image of the own class;
- ``"third"``: the partner is of a class that is neither the own class nor its fixed pair, so a
  ghost of anything but the pair means nothing;
- ``"cutout"``: no partner; the region is filled with one random grey (a random colour on colour
  images), ``w = 1``: Cutout (DeVries and Taylor 2017). A region that hides part of the object
  does not make the class ambiguous either. (A flat fill is none of the epistemic kinds.)
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import UnsureError
from .ambiguity import paired_class

CONTROLS = ("same", "third", "cutout")
PARTNERED = ("same", "third")  # the modes that blend with another image


def control_partners(y: Tensor, num_classes: int, generator: torch.Generator, mode: str) -> Tensor:
    """``[n]`` indices into ``y`` of a partner image for each image: of the own class
    (``"same"``; never the image itself where its class has another image) or of a class that
    is neither the own class nor :func:`paired_class` (``"third"``), drawn uniformly."""
    if mode not in PARTNERED:
        raise UnsureError(f"control mode {mode!r} has no partners; use one of {', '.join(PARTNERED)}")
    n = len(y)
    out = torch.empty(n, dtype=torch.int64)
    present = y.unique()
    if mode == "same":
        for k in present.tolist():
            of_k = (y == k).nonzero().squeeze(1)
            m = len(of_k)
            if m == 1:
                out[of_k] = of_k
                continue
            # a shift in [1, m) of the position within the class: another image of the class
            shift = torch.randint(1, m, (m,), generator=generator)
            out[of_k] = of_k[(torch.arange(m) + shift) % m]
        return out
    pair = paired_class(y, num_classes)
    allowed = [present[(present != k) & (present != int(pair[(y == k).nonzero()[0, 0]]))] for k in present.tolist()]
    for k, ok in zip(present.tolist(), allowed):
        if len(ok) == 0:
            raise UnsureError(f"control blends 'third': class {k} has no third class to blend with; "
                              "use control 'same'")
        sel = (y == k).nonzero().squeeze(1)
        cls = ok[torch.randint(0, len(ok), (len(sel),), generator=generator)]  # [m] the partner's class
        for c in cls.unique().tolist():
            of_c = (y == c).nonzero().squeeze(1)
            rows = sel[cls == c]
            out[rows] = of_c[torch.randint(0, len(of_c), (len(rows),), generator=generator)]
    return out
