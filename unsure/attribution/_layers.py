"""Choosing layers by module path (``layer="layer4.1"``) for Grad-CAM and FullGrad."""
from __future__ import annotations

from torch import nn

from ..errors import UnsureError
from ..posteriors.base import Draw


def layers_at(draw: Draw, path: str, method: str) -> list[nn.Module]:
    """The module at ``path`` (``"layer4.1"``, ``"features.7"``) in every distinct network of the
    draw that has one; a clear error when none has it."""
    if not isinstance(path, str) or not path:
        raise UnsureError(f"{method} layer= must be a module path such as 'layer4.1', got {path!r}")
    found, roots = [], []
    for root in {id(m): m for m in draw.modules}.values():
        roots.append(type(root).__name__)
        for base in (root, getattr(root, "net", None)):  # Preprocessed / sampled-head wrappers
            if not isinstance(base, nn.Module):
                continue
            try:
                found.append(base.get_submodule(path))
                break
            except AttributeError:
                continue
    if not found:
        hint = ""
        if draw.modules:
            names = [n for n, _ in draw.modules[0].named_children()]
            hint = f"; top-level modules of {roots[0]}: {', '.join(names[:12])}"
        raise UnsureError(f"{method}: no module {path!r} in the posterior's networks{hint}")
    return list({id(m): m for m in found}.values())


def inside(module: nn.Module, roots: list[nn.Module]) -> bool:
    """Whether ``module`` is one of ``roots`` or below one of them."""
    return any(module is m for r in roots for m in r.modules())
