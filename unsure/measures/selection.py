"""Choosing images by their uncertainty: the paper's "most uncertain" selection (top-100 epistemic),
used by the benches, the report pipeline and ``unsure explain``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .targets import Target, resolve_target

if TYPE_CHECKING:
    from ..posteriors import Draw


@torch.no_grad()
def target_values(draw: "Draw", x: Tensor, target: str | Target = "epistemic", batch_size: int = 500,
                  progress: bool = False) -> Tensor:
    """``target`` (a name or a ``[S,B,K] -> [B]`` callable) of every image of ``x [N,C,H,W]`` under
    one frozen draw, in chunks of ``batch_size``; returns ``[N]`` on the CPU. ``progress`` shows a
    bar (5 members x 2,000 images take ~15 s on one CPU thread)."""
    from tqdm.auto import tqdm

    fn = resolve_target(target)
    dev = next((p.device for m in draw.modules for p in m.parameters()), torch.device("cpu"))
    starts = tqdm(range(0, len(x), batch_size), desc="finding uncertain images", disable=not progress,
                  unit="batch")
    return torch.cat([fn(draw(x[s:s + batch_size].to(dev))).cpu() for s in starts])  # [S,b,K] -> [b]


def most_uncertain(draw: "Draw", x: Tensor, n: int, target: str | Target = "epistemic", *,
                   batch_size: int = 500, progress: bool = False) -> Tensor:
    """Indices ``[min(n, N)]`` of the images of ``x [N,C,H,W]`` with the largest ``target`` (paper:
    top-100 epistemic).

    ``target``: the measure to rank by, a name ("epistemic", "total", ...) or a ``[S,B,K] -> [B]``
    callable; the blurring bench passes its ``--target`` (total for a single network).
    """
    u = target_values(draw, x, target, batch_size, progress)
    return u.topk(min(n, len(u))).indices
