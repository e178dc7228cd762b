"""Predictive quality of a posterior: accuracy, NLL and ECE of the mean prediction."""
from __future__ import annotations

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .posteriors import Posterior


@torch.no_grad()
def predict_logits(posterior: Posterior, x: Tensor, batch_size: int = 500,
                   generator: torch.Generator | None = None, progress: bool = False) -> Tensor:
    """Logit samples ``[S, N, K]`` for a data set, in chunks, with one frozen draw."""
    draw = posterior.draw(generator)
    dev = posterior.device
    starts = range(0, len(x), batch_size)
    return torch.cat([draw(x[s:s + batch_size].to(dev)).cpu()
                      for s in tqdm(starts, desc="evaluate", disable=not progress, leave=False)], 1)


def ece(probs: Tensor, y: Tensor, bins: int = 15) -> float:
    """Expected calibration error with equal-width confidence bins (Guo et al. 2017)."""
    conf, pred = probs.max(-1)
    correct = (pred == y).float()
    edges = torch.linspace(0, 1, bins + 1, dtype=probs.dtype)
    err = torch.zeros((), dtype=torch.float64)
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            err += m.double().mean() * (conf[m].double().mean() - correct[m].double().mean()).abs()
    return float(err)


def predictive_metrics(posterior: Posterior, x: Tensor, y: Tensor, batch_size: int = 500,
                       generator: torch.Generator | None = None, progress: bool = False) -> dict[str, float]:
    """``{"accuracy", "nll", "ece"}`` of the posterior mean prediction on ``(x, y)``."""
    return metrics_from_logits(predict_logits(posterior, x, batch_size, generator, progress), y)


def metrics_from_logits(z: Tensor, y: Tensor) -> dict[str, float]:
    """``{"accuracy", "nll", "ece"}`` of the mean softmax of logit samples ``z [S,N,K]``."""
    pbar = torch.softmax(z.double(), -1).mean(0)  # [S,N,K] -> [N,K]
    y = y.to(pbar.device)
    nll = -torch.log(pbar.gather(1, y[:, None]).clamp_min(1e-12)).mean()
    return {"accuracy": float((pbar.argmax(-1) == y).double().mean()), "nll": float(nll),
            "ece": ece(pbar, y)}
