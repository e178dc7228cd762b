"""Helpers shared by the benches: method specs, image selection, loading a run's data."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..attribution import METHODS
from ..errors import UnsureError
from ..measures import resolve_target
from ..measures.targets import Target
from ..posteriors import Draw, Posterior


@dataclass
class MethodSpec:
    """``NAME[:key=value[:key=value...]]`` from the command line, e.g. ``ua-backprop:variant=paper``."""

    label: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_method(item: str) -> MethodSpec:
    """One ``NAME[:key=value...]`` -> :class:`MethodSpec` (the name is not checked)."""
    name, *opts = item.split(":")
    options = {}
    for o in opts:
        if "=" not in o:
            raise UnsureError(f"bad method option {o!r} in {item!r}; use NAME:key=value")
        k, v = o.split("=", 1)
        options[k.strip()] = _value(v.strip())
    return MethodSpec(item, name, options)


def parse_methods(text: str) -> list[MethodSpec]:
    """``"ua-backprop,grad,ua-backprop:variant=paper"`` -> method specs (names checked)."""
    specs = []
    for item in [t.strip() for t in text.split(",") if t.strip()]:
        spec = parse_method(item)
        METHODS.get(spec.name)  # unknown names fail here with the list of known ones
        specs.append(spec)
    if not specs:
        raise UnsureError("no methods given")
    return specs


def parse_floats(text: str, what: str) -> list[float]:
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UnsureError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not vals:
        raise UnsureError(f"no {what} given")
    return vals


@torch.no_grad()
def target_values(draw: Draw, x: Tensor, target: str | Target = "epistemic",
                  batch_size: int = 500) -> Tensor:
    """``target`` (a name or a ``[S,B,K] -> [B]`` callable) of every image ``[N]`` under one frozen
    draw, in chunks."""
    fn = resolve_target(target)
    dev = next((p.device for m in draw.modules for p in m.parameters()), torch.device("cpu"))
    return torch.cat([fn(draw(x[s:s + batch_size].to(dev))).cpu() for s in range(0, len(x), batch_size)])


def most_uncertain(draw: Draw, x: Tensor, n: int, target: str | Target = "epistemic") -> Tensor:
    """Indices of the ``n`` images with the largest ``target`` (paper: top-100 epistemic).

    ``target``: the measure to rank by, a name ("epistemic", "total", ...) or a ``[S,B,K] -> [B]``
    callable; the blurring bench passes its ``--target`` (total for a single network).
    """
    u = target_values(draw, x, target)
    n = min(n, len(u))
    return u.topk(n).indices


def run_posterior(args: argparse.Namespace) -> tuple[Posterior, str]:
    """Load ``--run`` or ``--model`` on ``--device``; returns the posterior and the data spec
    (``--data`` or the run's)."""
    from ..cli.commands import resolve_device
    from ..cli.source import posterior_from_args

    if getattr(args, "model", None) and not args.data:
        raise UnsureError("--model needs --data SPEC (digits, fashion-mnist, cifar10:DIR, ...)")
    post = posterior_from_args(args, resolve_device(args.device))
    data = args.data or post.run_config.get("data")
    if not data:
        raise UnsureError("no --data given and the run does not name its data")
    return post, data
