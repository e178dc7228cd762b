"""Bring your own model: factories that ``unsure --model examples/my_models.py:NAME`` calls.

Each factory takes no arguments and returns anything ``unsure.as_posterior`` accepts. Weights
come from ``--weights FILE.safetensors`` (written by ``examples/train_my_models.py``), or, for
``laplace``, are read here from ``UNSURE_EXAMPLE_WEIGHTS`` before fitting the Laplace
approximation on the training digits.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from torch import nn

import unsure
from unsure.data import load
from unsure.models import ResNet18


def cnn(seed: int = 0) -> nn.Module:
    """A small CNN for 8x8 digits (1 channel, 10 classes)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
        nn.Flatten(), nn.Linear(128, 10))


def build() -> list[nn.Module]:
    """Three CNNs: a deep ensemble."""
    return [cnn(0), cnn(1), cnn(2)]


def resnet() -> nn.Module:
    """A ResNet-18 (unsure's CIFAR-style one, 1/4 width) with dropout before its classifier."""
    torch.manual_seed(0)
    net = ResNet18(in_channels=1, num_classes=10, image_size=8, width=0.25)
    net.fc = nn.Sequential(nn.Dropout(0.3), net.fc)
    return net


def mc_resnet():
    """MC dropout over the ResNet: 16 frozen dropout masks per draw."""
    return unsure.MCDropout(resnet(), samples=16)


def laplace():
    """A laplace-torch last-layer Laplace (KFAC) around a trained CNN, fitted on the training digits."""
    here = Path(__file__).resolve().parent
    try:
        import asdl  # noqa: F401
    except ImportError:  # laplace-torch 0.3 imports asdl, which no registry serves here
        sys.path.insert(0, str(here.parent / "tests"))
        import asdl_stub

        asdl_stub.install()
    from laplace import Laplace
    from safetensors.torch import load_file
    from torch.utils.data import DataLoader, TensorDataset

    net = cnn(0)
    net.load_state_dict(load_file(os.environ.get("UNSURE_EXAMPLE_WEIGHTS", "my-weights/laplace-cnn.safetensors")))
    d = load("digits", "train")
    la = Laplace(net.eval(), "classification", subset_of_weights="last_layer", hessian_structure="kron")
    la.fit(DataLoader(TensorDataset(d.x, d.y), batch_size=256))
    la.optimize_prior_precision(method="marglik")
    return la
