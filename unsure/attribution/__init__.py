"""Attribution methods, registered by name in ``METHODS``; ``attribute()`` is the entry point."""
from .base import METHODS, Attribution, Context, Method, attribute, make_method
from . import ua_backprop  # noqa: F401,E402  (registers ua-backprop)
from . import path_methods, expected_gradients  # noqa: F401,E402  (registers ig, blur-ig, guided-ig, idgi-*, expected-gradients)
from . import clue  # noqa: F401,E402  (registers clue, delta-clue)
from . import grad, inputgrad, random_map, smoothgrad, fullgrad, gradcam  # noqa: F401,E402  (registers grad, inputgrad, random, smoothgrad, fullgrad, gradcam)
from . import noisegrad  # noqa: F401,E402  (registers noisegrad, noisegrad++)
from . import rise  # noqa: F401,E402  (registers rise)
from . import cov_gi, cov_ig, cov_lrp, cov_shapley, shapley, uam  # noqa: F401,E402  (registers cov-gi, cov-ig, cov-lrp, cov-shapley, shapley, uam)
from . import presets  # noqa: F401,E402  (registers default, ua-backprop-class)

__all__ = ["METHODS", "Attribution", "Context", "Method", "attribute", "make_method"]
