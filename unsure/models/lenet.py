"""LeNet-5 (LeCun et al. 1998) as used by Agarwal et al.'s Grad-CAM / evidential report on MNIST:
Conv(6, 5x5, pad 2)-ReLU-MaxPool-Conv(16, 5x5)-ReLU-MaxPool-Dense 120-ReLU-Dense 84-ReLU-Dropout-Dense.

The report (Sec. 6, "LeNet") keeps LeCun's layers but adds a dropout "after the linear layer with
ReLU activations", before the final linear layer, and applies no activation before the softmax.
We follow that text with p = 0.5 (PyTorch's default, as in the report's code), so the MC-dropout
posterior can use this net. **(decision)** The report's published code is a different
"LeNet" (Caffe style: Conv 20 and 50 maps, a 500-unit dense layer, pooling with kernel 1, i.e. no
pooling); we use the classic LeNet-5 widths its text names. ``dropout=0`` removes the dropout
module (MC dropout then refuses the net).
"""
from __future__ import annotations

from torch import Tensor, nn

from ..errors import UnsureError
from .registry import ARCHS


@ARCHS.register("lenet", "LeNet-5: conv 6 and 16 (5x5), 2 max-pools, dense 120-84, dropout 0.5, dense")
class LeNet5(nn.Module):
    """LeNet-5 for ``[B, C, H, W]`` images with ``H = W = image_size >= 12``.

    The first convolution is padded by 2 so a 28x28 image gives LeCun's 32x32 geometry
    (``[B,6,28,28] -> pool -> [B,16,10,10] -> pool -> [B,16,5,5]``). Every layer is its own module
    instance, so a hook on one fires once per forward; all layers keep their biases (FullGrad).

    ``feature_layer`` is the ReLU after the second convolution, output ``[B,16,h,w]``
    (``h = image_size // 2 - 4``): the last convolutional feature map (Grad-CAM).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 dropout: float = 0.5):
        super().__init__()
        side = (image_size // 2 - 4) // 2  # spatial size after the second pool
        if side < 1:
            raise UnsureError(f"LeNet-5 needs images of at least 12x12 pixels, got {image_size}")
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(120, 84)
        self.relu4 = nn.ReLU()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc3 = nn.Linear(84, num_classes)

    @property
    def feature_layer(self) -> nn.Module:
        return self.relu2

    def features(self, x: Tensor) -> Tensor:
        """``[B,C,H,W] -> [B,84]``: everything before the last linear layer (Laplace's trunk)."""
        h = self.pool1(self.relu1(self.conv1(x)))  # [B,6,H/2,W/2]
        h = self.pool2(self.relu2(self.conv2(h))).flatten(1)  # [B,16,s,s] -> [B,16*s*s]
        h = self.relu4(self.fc2(self.relu3(self.fc1(h))))
        return self.drop(h)

    @property
    def head(self) -> nn.Linear:
        return self.fc3

    def forward(self, x: Tensor) -> Tensor:
        return self.fc3(self.features(x))
