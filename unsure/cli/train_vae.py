"""``unsure train-vae``: train the VAE that CLUE and delta-CLUE search in (one folder, no pickle)."""
from __future__ import annotations

import argparse

from ..flags import out_arguments
from ..run import resolve_device
from .commands import Command, register


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="data spec: fashion-mnist, digits, idx:DIR, cifar10:DIR, ...")
    p.add_argument("--epochs", type=int, default=10, help="training epochs")
    p.add_argument("--latent", type=int, default=20, help="latent dimension D")
    p.add_argument("--kind", choices=["mlp", "conv"], default="mlp",
                   help="mlp: 512-256 MLP (paper's MNIST VAE); conv: small CNN for 32x32 colour")
    p.add_argument("--batch-size", type=int, default=128, help="training minibatch size")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation and minibatch order")
    p.add_argument("--device", default="auto", help="auto (cuda when available, default), cpu, cuda or cuda:N")
    out_arguments(p, "VAE folder to create", required=True,
                  force_help="replace an existing VAE folder (only one unsure wrote)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _run(args: argparse.Namespace) -> int:
    from ..training.vae import train_vae

    cfg = train_vae(data=args.data, out=args.out, epochs=args.epochs, latent=args.latent,
                    kind=args.kind, batch_size=args.batch_size, lr=args.lr, limit=args.limit,
                    seed=args.seed, device=str(resolve_device(args.device)), force=args.force,
                    progress=not args.no_progress, command=getattr(args, "_command", None))
    m = cfg["metrics"]
    print(f"saved {args.out}: test reconstruction loss (BCE at the encoder mean) {m['bce']:.2f} "
          f"nats/image, KL {m['kl']:.2f}, mean |x - x_rec| {m['l1']:.4f}; "
          f"trained in {cfg['train_seconds']:.0f} s")
    return 0


TRAIN_VAE = register(Command("train-vae", "train a VAE for the counterfactual methods (clue, delta-clue)",
                             _args, _run))
