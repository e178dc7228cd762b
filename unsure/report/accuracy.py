"""The model's accuracy on the images a report draws from, and a warning when it is near chance:
the maps of a model that has learnt nothing explain noise, and the reader should know.

"Near chance" (**decision**): accuracy below ``chance + NEAR_CHANCE * (1 - chance)``, i.e. less
than a quarter of the way from guessing (``1/K``) to perfect. For K = 10 that is 0.325 (the
1-epoch demo ensemble of docs/report.md, 0.80, is far above it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .model import ReportWarning

NEAR_CHANCE = 0.25


@dataclass(frozen=True)
class Accuracy:
    """``correct`` of ``n`` images of ``where``, with ``K`` classes."""

    correct: int
    n: int
    K: int
    where: str

    @property
    def value(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    @property
    def chance(self) -> float:
        return 1.0 / self.K

    @property
    def near_chance(self) -> bool:
        return self.n > 0 and self.value < self.chance + NEAR_CHANCE * (1 - self.chance)

    def text(self) -> str:
        return f"{self.value:.3f} on {self.where} ({self.correct} of {self.n}; chance {self.chance:.3f})"

    def warning(self) -> str | None:
        if not self.near_chance:
            return None
        return (f"the model's accuracy on {self.where} is {self.value:.3f}, near chance ({self.chance:.3f} "
                f"for {self.K} classes): it has learnt little, so its maps explain mostly noise; "
                f"train it longer before trusting them")


@torch.no_grad()
def scan(draw, x: Tensor, y: Tensor | None, measure, batch_size: int = 250,
         progress: bool = False) -> tuple[Tensor, Tensor | None, int]:
    """One pass over ``x [N,C,H,W]`` under one frozen draw: ``measure`` of every image ``[N]``,
    whether the mean prediction is right ``[N]`` (``None`` without labels) and K."""
    dev = next((p.device for m in draw.modules for p in m.parameters()), torch.device("cpu"))
    us, right, K = [], [], 0
    for s in tqdm(range(0, len(x), batch_size), desc="finding uncertain images", disable=not progress,
                  unit="batch"):
        z = draw(x[s:s + batch_size].to(dev))  # [S,b,K]
        K = z.shape[-1]
        us.append(measure(z).cpu())
        if y is not None:
            pred = torch.softmax(z, -1).mean(0).argmax(-1).cpu()  # [S,b,K] -> [b]
            right.append(pred == y[s:s + batch_size])
    return torch.cat(us), (None if y is None else torch.cat(right)), K


def warn_if_near_chance(acc: Accuracy) -> None:
    """A :class:`ReportWarning` (one CLI line and a report note) for a near-chance model."""
    import warnings

    text = acc.warning()
    if text:
        warnings.warn(text, ReportWarning, stacklevel=2)
