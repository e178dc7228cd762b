"""Checks of a run directory before its models are built: the config's types and sizes, then
the structure it describes against the weights file's header (no memory is spent on a config
that claims 100,000 members or a wrong image size)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import UnsureError

SIZE_KEYS = {"members": 100_000, "samples": 100_000}  # posterior config ints, with a sane ceiling
ARCH_INTS = {"in_channels": 4096, "num_classes": 1_000_000, "image_size": 16384}


def _int(v: Any, name: str, where: Path, ceiling: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= ceiling:
        raise UnsureError(f"{where}: {name} must be an integer in [1, {ceiling}], got {v!r}")
    return v


def check_config(cfg: Any, where: Path) -> None:
    """Types of the fields :func:`unsure.run.load_run` reads; one line naming the field."""
    if not isinstance(cfg, dict):
        raise UnsureError(f"{where} must hold a JSON object, got {type(cfg).__name__}")
    for key in ("arch", "posterior"):
        if key not in cfg:
            raise UnsureError(f"{where} lacks {key!r}")
    if not isinstance(cfg["arch"], str):
        raise UnsureError(f"{where}: arch must be a name, got {cfg['arch']!r}")
    opts = cfg.get("arch_options", {})
    if not isinstance(opts, dict):
        raise UnsureError(f"{where}: arch_options must be an object, got {opts!r}")
    for k, ceiling in ARCH_INTS.items():
        if k in opts:
            _int(opts[k], f"arch_options.{k}", where, ceiling)
    pcfg = cfg["posterior"]
    if not isinstance(pcfg, dict) or not isinstance(pcfg.get("posterior"), str):
        raise UnsureError(f"{where}: posterior must be an object with a 'posterior' name")
    for k, ceiling in SIZE_KEYS.items():
        if k in pcfg:
            _int(pcfg[k], f"posterior.{k}", where, ceiling)
    if pcfg["posterior"] == "ensemble" and "members" not in pcfg:
        raise UnsureError(f"{where}: an ensemble config needs posterior.members")


def weight_shapes(wpath: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from the safetensors header (no tensor is read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(wpath), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise UnsureError(f"cannot read {wpath}: {e}") from None


def check_members(pcfg: dict, shapes: dict[str, tuple[int, ...]], wpath: Path) -> None:
    """A config's ``members`` against the ``members.N.`` prefixes of the weights (before building)."""
    if "members" not in pcfg:
        return
    idx = {int(m.group(1)) for k in shapes if (m := re.match(r"members\.(\d+)\.", k))}
    if idx and pcfg["members"] != len(idx):
        raise UnsureError(f"the config says {pcfg['members']} members but {wpath} holds weights "
                          f"for {len(idx)}")


def build_checked(build: Callable[[], torch.nn.Module], shapes: dict[str, tuple[int, ...]],
                  where: Path) -> torch.nn.Module:
    """Build the posterior on the ``meta`` device (no memory), compare every tensor's shape with
    the weights file, then build it for real."""
    try:
        with torch.device("meta"):
            ghost = build()
    except UnsureError:
        raise
    except (TypeError, ValueError, RuntimeError, KeyError) as e:
        raise UnsureError(f"{where}: cannot build the model it describes: {type(e).__name__}: {e}") from None
    for k, v in ghost.state_dict().items():
        if k in shapes and tuple(v.shape) != shapes[k]:
            raise UnsureError(f"{where} does not match its weights: {k} is {list(shapes[k])} in the "
                              f"file but {list(v.shape)} for the config (wrong arch_options?)")
    del ghost
    return build()
