"""Train the example models of docs/own-model.md on scikit-learn's digits and save their weights
as safetensors: ``python examples/train_my_models.py --out my-weights``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import my_models  # noqa: E402

from unsure.data import load  # noqa: E402
from unsure.training.classifier import TrainConfig, fit  # noqa: E402


def accuracy(nets, x, y) -> float:
    with torch.no_grad():
        p = torch.stack([torch.softmax(n.eval()(x), -1) for n in nets]).mean(0)
    return float((p.argmax(-1) == y).float().mean())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="my-weights")
    p.add_argument("--epochs", type=int, default=20)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = load("digits", "train"), load("digits", "test")
    cfg = TrainConfig(epochs=args.epochs, batch_size=32, progress=False)  # ~1,100 training digits
    nets = my_models.build()
    for i, net in enumerate(nets):
        fit(net, train.x, train.y, cfg, generator=torch.Generator().manual_seed(i))
    save_file(nn.ModuleList(nets).state_dict(), str(out / "ensemble.safetensors"))
    save_file(nets[0].state_dict(), str(out / "laplace-cnn.safetensors"))
    print(f"ensemble of 3 CNNs: test accuracy {accuracy(nets, test.x, test.y):.3f}")
    res = my_models.resnet()
    fit(res, train.x, train.y, cfg, generator=torch.Generator().manual_seed(0))
    save_file(res.state_dict(), str(out / "resnet.safetensors"))
    print(f"ResNet-18 (1/4 width, dropout): test accuracy {accuracy([res], test.x, test.y):.3f}")
    print(f"wrote {out}/ensemble.safetensors, laplace-cnn.safetensors, resnet.safetensors")


if __name__ == "__main__":
    main()
