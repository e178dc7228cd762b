"""Choosing layers by module path (``layer="layer4.1"``) for Grad-CAM and FullGrad."""
from __future__ import annotations

from torch import nn

from ..errors import UnsureError
from ..posteriors.base import Draw


def _bases(draw: Draw):
    for root in {id(m): m for m in draw.modules}.values():
        for base in (root, getattr(root, "net", None)):  # Preprocessed / sampled-head wrappers
            if isinstance(base, nn.Module):
                yield base


def path_of(draw: Draw, module: nn.Module, method: str) -> str:
    """The module path of ``module`` (``net.layer4``) inside one of the draw's networks, so that
    every member's module at that path is used (an ensemble's members share the architecture)."""
    for base in _bases(draw):
        for name, m in base.named_modules():
            if m is module and name:
                return name
    raise UnsureError(f"{method}: layer= {type(module).__name__} is not a module inside the posterior's "
                      f"networks (pass a submodule of the network, or its path such as 'layer4.1')")


def layers_at(draw: Draw, path: str | nn.Module, method: str) -> list[nn.Module]:
    """The module at ``path`` (``"layer4.1"``, ``"features.7"``; or a module of one member, whose
    path is used) in every distinct network of the draw that has one; a clear error when none has it."""
    if isinstance(path, nn.Module):
        path = path_of(draw, path, method)
    if not isinstance(path, str) or not path:
        raise UnsureError(f"{method} layer= must be a module path such as 'layer4.1' or a module of "
                          f"the network, got {path!r}")
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
