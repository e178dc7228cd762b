"""Variational autoencoders for images in [0, 1], used by the counterfactual methods (CLUE,
delta-CLUE) to stay on the data manifold.

``VAE(kind="mlp")`` follows the MNIST VAE the UA-Backprop paper used for CLUE (Appendix B.2:
lyeoni's pytorch-mnist-VAE, 784-512-256-z with a sigmoid output and a BCE loss); we default to a
20-dimensional latent instead of its 2 so that Fashion-MNIST reconstructions keep their detail.
``VAE(kind="conv")`` is a small convolutional variant for 32x32 colour images.

A trained VAE is saved as a folder (``weights.safetensors`` + ``config.json``, written atomically)
by :func:`save_vae` and read back without pickle by :func:`load_vae`.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UnsureError

CONFIG = "config.json"
WEIGHTS = "weights.safetensors"
KINDS = ("mlp", "conv")


class VAE(nn.Module):
    """Gaussian-latent VAE with a Bernoulli (sigmoid) decoder.

    Parameters
    ----------
    in_channels, image_size : the image shape ``[C, H, H]`` the VAE is built for
    latent : D, the latent dimension
    hidden : widths of the MLP encoder layers (the decoder mirrors them); ignored for ``conv``
    kind : ``"mlp"`` (any size) or ``"conv"`` (image_size divisible by 8, e.g. 32x32 colour)
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, latent: int = 20,
                 hidden: tuple[int, ...] | list[int] = (512, 256), kind: str = "mlp"):
        super().__init__()
        if kind not in KINDS:
            raise UnsureError(f"VAE kind must be one of {KINDS}, got {kind!r}")
        if latent < 1 or in_channels < 1 or image_size < 1:
            raise UnsureError(f"VAE needs positive sizes, got C={in_channels}, H={image_size}, D={latent}")
        if kind == "conv" and image_size % 8:
            raise UnsureError(f"the conv VAE needs image_size divisible by 8, got {image_size}")
        self.in_channels, self.image_size, self.latent = in_channels, image_size, latent
        self.hidden, self.kind = tuple(int(h) for h in hidden), kind
        n = in_channels * image_size * image_size
        if kind == "mlp":
            widths = (n, *self.hidden)
            enc: list[nn.Module] = [nn.Flatten()]
            for a, b in zip(widths[:-1], widths[1:]):
                enc += [nn.Linear(a, b), nn.ReLU()]
            self.encoder = nn.Sequential(*enc)
            feat = widths[-1]
            dec: list[nn.Module] = []
            back = (latent, *reversed(self.hidden))
            for a, b in zip(back[:-1], back[1:]):
                dec += [nn.Linear(a, b), nn.ReLU()]
            dec += [nn.Linear(back[-1], n), nn.Unflatten(1, (in_channels, image_size, image_size))]
            self.decoder = nn.Sequential(*dec)
        else:
            s = image_size // 8  # three stride-2 convolutions: H -> H/8
            self.encoder = nn.Sequential(
                nn.Conv2d(in_channels, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(64, 128, 4, 2, 1), nn.ReLU(), nn.Flatten())
            feat = 128 * s * s
            self.decoder = nn.Sequential(
                nn.Linear(latent, feat), nn.ReLU(), nn.Unflatten(1, (128, s, s)),
                nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1),
                nn.ReLU(), nn.ConvTranspose2d(32, in_channels, 4, 2, 1))
        self.mu = nn.Linear(feat, latent)
        self.logvar = nn.Linear(feat, latent)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.image_size, self.image_size)

    def check(self, x: Tensor, name: str = "x") -> Tensor:
        """Raise :class:`UnsureError` unless ``x`` is ``[B, C, H, W]`` of this VAE's image shape."""
        if not isinstance(x, Tensor) or x.ndim != 4:
            raise UnsureError(f"{name} must be a [B,C,H,W] tensor, got {getattr(x, 'shape', type(x).__name__)}")
        if tuple(x.shape[1:]) != self.image_shape:
            c, h, w = self.image_shape
            raise UnsureError(f"the VAE was built for {c}x{h}x{w} images but {name} is "
                              f"{'x'.join(map(str, x.shape[1:]))}; train a VAE on the same data "
                              "('unsure train-vae --data ...')")
        return x

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x [B,C,H,W] -> (mean [B,D], log-variance [B,D])`` of q(z|x)."""
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode_logits(self, z: Tensor) -> Tensor:
        """``z [B,D] -> [B,C,H,W]`` Bernoulli logits (for a numerically stable BCE)."""
        return self.decoder(z)

    def decode(self, z: Tensor) -> Tensor:
        """``z [B,D] -> x [B,C,H,W]`` in (0, 1)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """One reparameterised pass: ``(logits [B,C,H,W], mean [B,D], log-variance [B,D])``."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return self.decode_logits(mu + eps * torch.exp(0.5 * logvar)), mu, logvar

    def reconstruct(self, x: Tensor) -> Tensor:
        """Deterministic reconstruction from the encoder mean, ``[B,C,H,W]``."""
        return self.decode(self.encode(x)[0])

    def config(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "image_size": self.image_size, "latent": self.latent,
                "hidden": list(self.hidden), "kind": self.kind}


def vae_loss(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> tuple[Tensor, Tensor]:
    """Negative ELBO terms per image, ``(BCE [B], KL [B])`` in nats.

    BCE is summed over pixels (Bernoulli likelihood of ``x [B,C,H,W]``); KL(q(z|x) || N(0, I)) is
    summed over the D latent dimensions (Kingma & Welling 2014, Appendix B).
    """
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    return bce, kl


def save_vae(path: str | os.PathLike, vae: VAE, info: dict[str, Any] | None = None,
             overwrite: bool = False) -> Path:
    """Save ``vae`` as a folder ``path`` (weights + JSON), atomically: a temporary sibling is
    renamed into place, so the folder is never half-written. ``info`` (data, losses, ...) goes
    into ``config.json`` next to the architecture, with an ``identity`` like a run's
    (:func:`unsure.run.save_run`: weights digest, resolved data and its hash, settings hash)."""
    from .._version import __version__
    from ..checksum import save_weights
    from ..identity import data_identity, identity, recorded, resolve_spec
    from ..outputs import atomic_dir, stamped

    path = Path(path)
    cfg = stamped({"model": "vae", "vae": vae.config(), **(info or {}),
                   "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "unsure_version": __version__})
    if isinstance(cfg.get("data"), str):
        cfg["data"] = resolve_spec(cfg["data"])
    data = recorded(cfg, "data")
    if data is None and isinstance(cfg.get("data"), str):
        data = data_identity(cfg["data"])
    state = {k: v.detach().cpu().contiguous().clone() for k, v in vae.state_dict().items()}
    with atomic_dir(path, "vae", replace=overwrite) as tmp:
        digest = save_weights(state, tmp / WEIGHTS)  # with the checksum load_vae verifies
        cfg["identity"] = identity(digest, data, cfg.get("settings"))
        (tmp / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n")
    return path


def load_vae(path: str | os.PathLike, device: str | torch.device = "cpu") -> VAE:
    """Load a VAE saved by :func:`save_vae` (safetensors, no pickle); its full config is
    available as ``vae.saved_config``."""
    from ..checksum import load_weights
    from ..identity import recorded, short
    from ..schema import check_schema

    path = Path(path)
    cfg_path = path / CONFIG
    if not cfg_path.is_file():
        raise UnsureError(f"{path} is not a VAE folder (no {CONFIG}); create one with 'unsure train-vae'")
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise UnsureError(f"{cfg_path} is not valid JSON: {e}") from None
    check_schema(cfg, cfg_path)
    if cfg.get("model") != "vae" or not isinstance(cfg.get("vae"), dict):
        raise UnsureError(f"{cfg_path} does not describe a VAE (a run directory? use 'unsure train-vae')")
    try:
        vae = VAE(**cfg["vae"])
    except TypeError as e:
        raise UnsureError(f"{cfg_path} has bad VAE settings: {e}") from None
    state, digest = load_weights(path / WEIGHTS)  # the checksum, when the file has one
    saved = recorded(cfg, "weights")
    if saved is not None and saved != digest:
        raise UnsureError(f"{path / WEIGHTS} is not the weights file saved with {cfg_path} (digest "
                          f"{short(digest)}, the config records {short(saved)}); restore it or re-train")
    try:  # a shape mismatch raises even with strict=False
        missing, unexpected = vae.load_state_dict(state, strict=False)
    except RuntimeError as e:
        reason = str(e).strip().splitlines()[-1].strip()
        raise UnsureError(f"{path / WEIGHTS} does not match its config: {reason}") from None
    if missing or unexpected:
        raise UnsureError(f"{path / WEIGHTS} does not match its config: missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]}")
    vae.to(device).eval()
    vae.saved_config = cfg
    return vae
