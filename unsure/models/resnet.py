"""CIFAR-style ResNet-18 (He et al. 2016, the variant used for 32x32 images): a 3x3 stem without
max-pool, BasicBlocks ``[2, 2, 2, 2]`` with widths 64-128-256-512 (strides 1, 2, 2, 2), global
average pooling and one linear head. About 11.2 M parameters for 10 classes.

Convolutions have ``bias=False`` because each is followed by batch-norm; in eval mode a
batch-norm adds the effective bias ``beta - mu * gamma / sqrt(var + eps)``, which is what FullGrad
counts for these layers (``unsure.attribution._trace.effective_bias``). The linear head keeps
its bias.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..errors import UnsureError
from .registry import ARCHS


class BasicBlock(nn.Module):
    """``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``; both ReLUs are distinct modules, not
    in-place, so a hook on either fires once per forward and sees an unmodified output."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))
        else:
            self.shortcut = nn.Identity()
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        h = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(h)) + self.shortcut(x))


@ARCHS.register("resnet18", "CIFAR-style ResNet-18: 3x3 stem, BasicBlocks [2,2,2,2], widths 64-512, avg-pool")
class ResNet18(nn.Module):
    """ResNet-18 for ``[B, C, H, W]`` images of any size >= 8 (global average pooling).

    Parameters
    ----------
    in_channels, num_classes : image channels C and classes K
    image_size : accepted for a uniform architecture signature; the network does not depend on it
        beyond checking it is at least 8 (three stride-2 stages)
    width : multiplier of the stage widths 64-128-256-512 (e.g. 0.125 for fast tests)

    ``feature_layer`` is the final ReLU of the last block (``layer4[-1].relu2``), output
    ``[B, 512*width, H/8, W/8]``: the last convolutional feature map (Grad-CAM).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32,
                 width: float = 1.0):
        super().__init__()
        if image_size < 8:
            raise UnsureError(f"ResNet-18 needs images of at least 8x8 pixels, got {image_size}")
        if width <= 0:
            raise UnsureError(f"width must be > 0, got {width}")
        widths = [max(1, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        stages, c_in = [], widths[0]
        for i, c in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(c_in, c, stride), BasicBlock(c, c, 1)))
            c_in = c
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)

    @property
    def feature_layer(self) -> nn.Module:
        return self.layer4[-1].relu2

    def features(self, x: Tensor) -> Tensor:
        """``[B,C,H,W] -> [B,512*width]``: everything before the last linear layer."""
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))  # [B,512w,H/8,W/8]
        return self.pool(h).flatten(1)  # [B,512w,1,1] -> [B,512w]

    @property
    def head(self) -> nn.Linear:
        return self.fc

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))
