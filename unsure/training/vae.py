"""Training a :class:`~unsure.models.vae.VAE` (``unsure train-vae``) for the counterfactual methods."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import UnsureError
from ..models.vae import VAE, save_vae, vae_loss
from .classifier import TrainConfig, TrainLog, fit


def fit_vae(vae: VAE, x: Tensor, cfg: TrainConfig, *, generator: torch.Generator | None = None) -> TrainLog:
    """Maximise the ELBO of ``vae`` on images ``x [N,C,H,W]`` in [0, 1] with a progress bar.

    The loss per minibatch is the mean over images of ``BCE + KL`` (:func:`vae_loss`); the
    minibatch order and the reparameterisation noise both come from ``generator``.
    """
    vae.check(x, "training images")
    if x.min() < 0 or x.max() > 1:
        raise UnsureError("VAE training images must lie in [0, 1] (Bernoulli decoder)")
    gen = generator or torch.Generator().manual_seed(0)
    noise = torch.Generator(device=cfg.device).manual_seed(int(torch.randint(2**62, (1,), generator=gen)))

    def loss_fn(model, xb, _yb, _epoch):
        logits, mu, logvar = model(xb, generator=noise)
        bce, kl = vae_loss(logits, xb, mu, logvar)
        return (bce + kl).mean()

    dummy = torch.zeros(len(x), dtype=torch.long)  # fit() iterates (x, y) pairs; a VAE has no labels
    return fit(vae, x, dummy, cfg, loss_fn=loss_fn, generator=gen, desc="vae")


@torch.no_grad()
def evaluate_vae(vae: VAE, x: Tensor, batch_size: int = 1000) -> dict[str, float]:
    """Test losses in nats per image: ``bce`` of the reconstruction from the encoder mean,
    ``kl`` and their sum ``neg_elbo_at_mean``; ``l1`` the mean absolute pixel error."""
    vae.eval()
    dev = next(vae.parameters()).device
    tot = {"bce": 0.0, "kl": 0.0, "l1": 0.0}
    for s in range(0, len(x), batch_size):
        xb = x[s:s + batch_size].to(dev)
        mu, logvar = vae.encode(xb)
        logits = vae.decode_logits(mu)
        bce, kl = vae_loss(logits, xb, mu, logvar)
        tot["bce"] += bce.sum().item()
        tot["kl"] += kl.sum().item()
        tot["l1"] += (torch.sigmoid(logits) - xb).abs().flatten(1).mean(1).sum().item()
    out = {k: v / len(x) for k, v in tot.items()}
    out["neg_elbo_at_mean"] = out["bce"] + out["kl"]
    return out


def train_vae(*, data: str, out: str, epochs: int = 10, latent: int = 20, kind: str = "mlp",
              hidden: tuple[int, ...] = (512, 256), batch_size: int = 128, lr: float = 1e-3,
              limit: int | None = None, seed: int = 0, device: str = "cpu", force: bool = False,
              progress: bool = True, command: str | None = None) -> dict[str, Any]:
    """Train a VAE on ``data``'s training split, evaluate it on the test split and save it to
    ``out``; returns the saved config (with ``metrics``: the :func:`evaluate_vae` test losses).
    ``command``: the command line recorded in ``config.json`` (the CLI passes it). The data spec
    is recorded resolved, with its hash taken before it is read (:mod:`unsure.identity`)."""
    from ..identity import data_identity, resolve_spec

    data = resolve_spec(data)
    settings = {"data": data, "epochs": epochs, "latent": latent, "kind": kind, "hidden": list(hidden),
                "batch_size": batch_size, "lr": lr, "limit": limit, "seed": seed, "device": device}
    from ..data import load

    from ..outputs import check_out_dir

    check_out_dir(out, "vae", replace=force)  # before training
    data_id = data_identity(data)
    tr = load(data, "train", seed=seed, limit=limit)
    te = load(data, "test")
    C, H, W = tr.x.shape[1:]
    if H != W:
        raise UnsureError(f"{data} images are {H}x{W}; the VAE needs square images")
    torch.manual_seed(seed)
    vae = VAE(C, H, latent=latent, hidden=hidden, kind=kind)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, device=device, progress=progress)
    t0 = time.perf_counter()
    log = fit_vae(vae, tr.x, cfg, generator=torch.Generator().manual_seed(seed))
    seconds = time.perf_counter() - t0
    metrics = evaluate_vae(vae, te.x)
    info = {"data": data, "seed": seed, "limit": limit, "epochs": epochs, "batch_size": batch_size,
            "lr": lr, "train_seconds": seconds, "train_losses": log.losses, "metrics": metrics,
            "splits": {"train": len(tr.x), "test": len(te.x)}, "command": command, "settings": settings,
            "identity": {"data": data_id}}
    save_vae(out, vae.cpu(), info, overwrite=force)
    return {"vae": vae.config(), **info}
