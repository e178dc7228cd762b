"""What an attribution explains: a callable ``[S,B,K] -> [B]``.

``resolve_target`` accepts a registered measure name (``"epistemic"``), a :class:`ClassScore`, an
``int`` class index, or any callable with that signature.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import torch
from torch import Tensor

from ..errors import UnsureError
from ..validate import check_logits
from .measure import MEASURES

Target = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class ClassScore:
    """A class score as a target: mean over samples of the logit or probability of a class.

    Parameters
    ----------
    cls : int or None
        The class index; ``None`` explains the predicted class (argmax of the mean probability).
    kind : "prob" or "logit"
    """

    cls: int | None = None
    kind: str = "prob"

    def __post_init__(self):
        if self.kind not in ("prob", "logit"):
            raise UnsureError(f"ClassScore kind must be 'prob' or 'logit', got {self.kind!r}")

    def __call__(self, logits: Tensor) -> Tensor:
        check_logits(logits)
        S, B, K = logits.shape
        score = torch.softmax(logits, -1) if self.kind == "prob" else logits
        if self.cls is None:
            with torch.no_grad():
                idx = torch.softmax(logits, -1).mean(0).argmax(-1)  # [B]
        else:
            if not 0 <= self.cls < K:
                raise UnsureError(f"class index {self.cls} out of range for K={K} classes")
            idx = torch.full((B,), self.cls, dtype=torch.long, device=logits.device)
        return score.mean(0).gather(-1, idx[:, None]).squeeze(-1)

    @property
    def __name__(self) -> str:  # for metadata
        return f"class-{self.kind}[{'pred' if self.cls is None else self.cls}]"

    def freeze(self, logits: Tensor) -> "ClassScore | FrozenClass":
        """This score with "the predicted class" fixed per image: the class the logits
        ``[S,B,K]`` predict (argmax of the mean probability). Methods and metrics that move the
        image (noise, paths, masks, counterfactual search) freeze first, so every changed image
        explains the class predicted at the original one. A score of a given class is returned
        unchanged."""
        if self.cls is not None:
            return self
        with torch.no_grad():
            idx = torch.softmax(logits, -1).mean(0).argmax(-1)  # [S,B,K] -> [B]
        return FrozenClass(idx, self.kind)


class FrozenClass:
    """A class-score target whose class is fixed per image (from :meth:`ClassScore.freeze`).

    Called on logits ``[S, n*B, K]`` of ``n`` stacked copies of the ``B`` images (noisy copies,
    path points), copy ``j*B+b`` explains ``idx[b]``; :meth:`pick` scores arbitrary rows.
    """

    def __init__(self, idx: Tensor, kind: str):
        self.idx, self.kind = idx, kind
        self.__name__ = f"class-{kind}[pred]"

    def _score(self, logits: Tensor) -> Tensor:
        return torch.softmax(logits, -1) if self.kind == "prob" else logits

    def __call__(self, logits: Tensor) -> Tensor:
        rows = self.idx.repeat(logits.shape[1] // self.idx.shape[0])  # copy j*B+b explains idx[b]
        return self._score(logits).mean(0).gather(-1, rows[:, None]).squeeze(-1)  # [S,n*B,K] -> [n*B]

    def pick(self, logits: Tensor, rows: Tensor) -> Tensor:
        """Scores ``[n]`` of logits ``[S,n,K]`` whose row ``i`` shows image ``rows[i]``."""
        return self._score(logits).mean(0).gather(-1, self.idx[rows][:, None]).squeeze(-1)


def resolve_target(target: Union[str, int, Target]) -> Target:
    """Turn a name, class index or callable into a ``[S,B,K] -> [B]`` callable."""
    if isinstance(target, str):
        if target.startswith("class"):
            # "class" (predicted), "class:3", "logit:3", "class:pred"
            return parse_class_target(target)
        return MEASURES.get(target).fn
    if isinstance(target, bool):
        raise UnsureError("target must be a measure name, class index or callable, not a bool")
    if isinstance(target, int):
        return ClassScore(target)
    if callable(target):
        return target
    raise UnsureError(f"target must be a measure name, class index or callable, got {type(target).__name__}")


def parse_class_target(spec: str) -> ClassScore:
    """``class`` / ``class:pred`` / ``class:3`` / ``class-logit:3`` -> :class:`ClassScore`."""
    head, _, arg = spec.partition(":")
    kind = "logit" if head == "class-logit" else "prob"
    if head not in ("class", "class-logit"):
        raise UnsureError(f"bad class target {spec!r}; use class, class:N or class-logit:N")
    if arg in ("", "pred"):
        return ClassScore(None, kind)
    try:
        return ClassScore(int(arg), kind)
    except ValueError:
        raise UnsureError(f"bad class index in target {spec!r}") from None


def target_name(target) -> str:
    if isinstance(target, str):
        return target
    return getattr(target, "__name__", type(target).__name__)
