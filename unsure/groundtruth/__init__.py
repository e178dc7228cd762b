"""The ground-truth benchmark's data: images whose uncertainty has a known, planted cause.

See ``docs/results/groundtruth.md`` for the design and why.
"""
from .ambiguity import blend, partners
from .epistemic import EPISTEMIC_KINDS, paste
from .generate import CauseSet, Design, cause_set, training_set
from .regions import box_masks, changed, sides

__all__ = ["EPISTEMIC_KINDS", "CauseSet", "Design", "blend", "box_masks", "cause_set", "changed",
           "partners", "paste", "sides", "training_set"]
