"""Data loading: ``load(spec, split) -> Data(x [N,C,H,W] in [0,1], y [N])``."""
from . import cifar as _cifar  # noqa: F401  (registers cifar10, cifar100, svhn)
from . import colour as _colour  # noqa: F401  (registers colour:BASE)
from .load import LOADERS, Data, load, normalise_images, num_classes, parse_spec, subset_order

__all__ = ["LOADERS", "Data", "load", "normalise_images", "num_classes", "parse_spec", "subset_order"]
