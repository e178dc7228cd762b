"""Model architectures, registered by name in ``ARCHS``."""
from .registry import ARCHS
from .paper_cnn import PaperCNN

__all__ = ["ARCHS", "PaperCNN"]
from . import mitigation_cnn as _mitigation_cnn  # noqa: F401,E402
