"""A stand-in for ``asdl`` (ASDL, the curvature library laplace-torch imports at import time but
no package registry here serves). It provides only the names ``laplace/curvature/asdl.py``
imports; calling any of them raises, so a test that reached the ASDL backend would fail loudly.
The tests use laplace-torch's default backends (curvlinops, BackPACK), never ASDL."""
from __future__ import annotations

import sys
import types


def _unavailable(*_args, **_kwargs):
    raise RuntimeError("asdl is a test stand-in here: use a BackPACK or curvlinops backend")


class _Unavailable:
    def __init__(self, *_args, **_kwargs):
        _unavailable()


def install() -> None:
    """Insert the stand-in as ``asdl`` (and its submodules) unless a real asdl is importable."""
    try:
        import asdl  # noqa: F401
        return
    except ImportError:
        pass
    names = {
        "fisher": {"FisherConfig": _Unavailable, "get_fisher_maker": _unavailable},
        "grad_maker": {"LOSS_CROSS_ENTROPY": "cross_entropy", "LOSS_MSE": "mse"},
        "gradient": {"batch_gradient": _unavailable},
        "hessian": {"HessianConfig": _Unavailable, "HessianMaker": _Unavailable},
        "matrices": {"FISHER_EMP": "fisher_emp", "FISHER_EXACT": "fisher_exact", "FISHER_MC": "fisher_mc",
                     "SHAPE_DIAG": "diag", "SHAPE_FULL": "full", "SHAPE_KRON": "kron"},
    }
    root = types.ModuleType("asdl")
    root.__path__ = []  # a package, so "asdl.fisher" imports resolve to the submodules below
    sys.modules["asdl"] = root
    for sub, attrs in names.items():
        mod = types.ModuleType(f"asdl.{sub}")
        mod.__dict__.update(attrs)
        sys.modules[f"asdl.{sub}"] = mod
        setattr(root, sub, mod)
