"""Architecture registry: ``ARCHS.get(name)(in_channels=, num_classes=, image_size=)``.

Every architecture exposes ``feature_layer`` (last conv feature maps), ``features(x)`` (the trunk
before the last linear layer) and ``head`` (that last ``nn.Linear``), and keeps its biases.
"""
from ..registry import Registry

ARCHS: Registry = Registry("architecture")
