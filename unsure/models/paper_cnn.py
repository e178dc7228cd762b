"""The CNN of the UA-Backprop paper (Appendix B, MNIST/SVHN):
Conv-ReLU-Conv-ReLU-MaxPool-Dropout-Dense-ReLU-Dropout-Dense, 32 filters 3x3, 128 units, p = 0.5.
"""
from __future__ import annotations

from torch import Tensor, nn

from .registry import ARCHS


@ARCHS.register("paper-cnn", "UA-Backprop paper CNN: 2 conv (32, 3x3), max-pool, dense 128, dropout 0.5")
class PaperCNN(nn.Module):
    """Each layer is its own module instance so hooks on one fire once per forward.

    ``feature_layer`` is the ReLU after the second convolution: its output ``[B,32,H-4,W-4]`` is
    the last convolutional feature map (Grad-CAM, attention).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 filters: int = 32, hidden: int = 128, dropout: float = 0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, filters, 3)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(filters, filters, 3)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.drop1 = nn.Dropout(dropout)
        side = (image_size - 4) // 2
        self.fc1 = nn.Linear(filters * side * side, hidden)
        self.relu3 = nn.ReLU()
        self.drop2 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    @property
    def feature_layer(self) -> nn.Module:
        return self.relu2

    def features(self, x: Tensor) -> Tensor:
        """``[B,C,H,W] -> [B,F]``: everything before the last linear layer (Laplace's trunk)."""
        h = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        h = self.drop1(self.pool(h)).flatten(1)
        return self.drop2(self.relu3(self.fc1(h)))

    @property
    def head(self) -> nn.Linear:
        return self.fc2

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.features(x))
