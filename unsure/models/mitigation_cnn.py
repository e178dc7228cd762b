"""The retraining classifier of the UA-Backprop paper's uncertainty mitigation (Appendix B.2.2):
Conv-ReLU-Conv-ReLU-MaxPool-Dropout-Dense-ReLU-Dropout-Dense-ReLU-Dense, 32 filters 3x3,
128 units, dropout 0.5.
"""
from __future__ import annotations

from torch import Tensor, nn

from .registry import ARCHS


@ARCHS.register("mitigation-cnn", "UA-Backprop mitigation CNN: 2 conv (32, 3x3), max-pool, 2 dense 128, dropout 0.5")
class MitigationCNN(nn.Module):
    """Each layer is its own module instance so a hook on one fires once per forward.

    ``feature_layer`` is the ReLU after the second convolution: its output ``[B,32,H-4,W-4]`` is
    the last convolutional feature map ``F`` that latent attention rescales (paper Sec. 4).
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
        self.fc2 = nn.Linear(hidden, hidden)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(hidden, num_classes)

    @property
    def feature_layer(self) -> nn.Module:
        return self.relu2

    def features(self, x: Tensor) -> Tensor:
        """``[B,C,H,W] -> [B,hidden]``: everything before the last linear layer."""
        h = self.relu2(self.conv2(self.relu1(self.conv1(x))))  # [B,32,H-4,W-4]
        h = self.drop1(self.pool(h)).flatten(1)  # [B,32,(H-4)/2,(W-4)/2] -> [B,F]
        h = self.drop2(self.relu3(self.fc1(h)))
        return self.relu4(self.fc2(h))

    @property
    def head(self) -> nn.Linear:
        return self.fc3

    def forward(self, x: Tensor) -> Tensor:
        return self.fc3(self.features(x))
