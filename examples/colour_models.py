"""A colour model at ImageNet size for the report's 3x224x224 screenshot (scripts/report_screenshots.py):
three small CNNs with seeded random weights (no weights can be downloaded here), so the page's
layout at that size can be checked; its maps explain an untrained model and mean nothing."""
import torch
from torch import nn


def cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16 * 16, 10))


def ensemble224():
    return [cnn(s) for s in range(3)]
