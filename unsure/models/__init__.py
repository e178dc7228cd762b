"""Model architectures, registered by name in ``ARCHS``."""
from .registry import ARCHS
from .paper_cnn import PaperCNN
from .lenet import LeNet5
from .resnet import ResNet18

__all__ = ["ARCHS", "PaperCNN", "LeNet5", "ResNet18"]
from . import mitigation_cnn as _mitigation_cnn  # noqa: F401,E402
