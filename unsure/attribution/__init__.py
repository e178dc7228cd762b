"""Attribution methods, registered by name in ``METHODS``; ``attribute()`` is the entry point."""
from .base import METHODS, Attribution, Context, Method, attribute, make_method

__all__ = ["METHODS", "Attribution", "Context", "Method", "attribute", "make_method"]
