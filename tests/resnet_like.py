"""ResNets written the way torchvision and timm write them (no torchvision / timm import):
in-place ReLUs, ``out += identity``, a 7x7 stride-2 stem with max-pool, ``layer1..layer4``,
``avgpool`` and ``fc`` (torchvision); ``forward_features`` / ``forward_head(pre_logits=)`` /
``get_classifier`` with a dropout before the classifier (timm)."""
from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class TorchvisionStyleResNet(nn.Module):
    """torchvision's ResNet-18 layout at width ``w`` (64 in torchvision); ``fc`` optionally
    ``Sequential(Dropout, Linear)`` as people add for MC dropout."""

    def __init__(self, num_classes: int = 10, w: int = 8, dropout: float = 0.0, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [w, 2 * w, 4 * w, 8 * w]
        c = w
        for i, cw in enumerate(widths):
            setattr(self, f"layer{i + 1}", nn.Sequential(Block(c, cw, 1 if i == 0 else 2), Block(cw, cw)))
            c = cw
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        lin = nn.Linear(c, num_classes)
        self.fc = nn.Sequential(nn.Dropout(dropout), lin) if dropout else lin

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TimmStyleResNet(TorchvisionStyleResNet):
    """timm's interface: ``forward_features`` (the last stage's map), ``forward_head``,
    ``get_classifier``; dropout as a module before the classifier (``head_drop``)."""

    def __init__(self, num_classes: int = 10, w: int = 8, drop_rate: float = 0.2):
        super().__init__(num_classes, w)
        self.head_drop = nn.Dropout(drop_rate)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def forward_features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x, pre_logits: bool = False):
        x = self.head_drop(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))
