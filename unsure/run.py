"""Run directories: trained posteriors saved as ``weights.safetensors`` plus ``config.json``, and
the helpers that turn ``--run`` / ``--device`` into a loaded posterior.

``save_run`` writes to a temporary sibling folder and renames it into place, so a run directory
is never half-written. ``load_run`` rebuilds the architecture and posterior from the JSON config
and loads the weights with safetensors (no pickle, so loading a run cannot execute code).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ._version import __version__
from .errors import UnsureError
from .models import ARCHS
from .posteriors import POSTERIORS, Posterior

CONFIG = "config.json"
WEIGHTS = "weights.safetensors"


def model_factory(arch: str, arch_options: dict[str, Any]):
    """A zero-argument callable building a fresh network of the run's architecture."""
    cls = ARCHS.get(arch)
    return lambda: cls(**arch_options)


def save_run(run_dir: str | os.PathLike, posterior: Posterior, config: dict[str, Any],
             overwrite: bool = False) -> Path:
    """Save ``posterior`` and ``config`` (merged with ``posterior.config()``) atomically."""
    from safetensors.torch import save_file

    run_dir = Path(run_dir)
    if run_dir.exists() and not overwrite:
        raise UnsureError(f"run directory {run_dir} already exists (pass --force to replace it)")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    full = dict(config)
    full["posterior"] = posterior.config()
    full.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
    full.setdefault("unsure_version", __version__)
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
    try:
        # safetensors refuses shared/non-contiguous storage: store independent contiguous copies
        state = {k: v.detach().cpu().contiguous().clone() for k, v in posterior.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(full, indent=2, default=_json_default) + "\n")
        if run_dir.exists():
            old = run_dir.with_name(f".{run_dir.name}.old-{os.getpid()}")
            os.replace(run_dir, old)
            os.replace(tmp, run_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, run_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return run_dir


def _json_default(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    return str(o)


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    run_dir = Path(run_dir)
    path = run_dir / CONFIG
    if not path.is_file():
        raise UnsureError(f"{run_dir} is not a run directory (no {CONFIG}); create one with 'unsure train'")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UnsureError(f"{path} is not valid JSON: {e}") from None


def load_run(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> Posterior:
    """Load the posterior saved in ``run_dir``; its config is available as ``posterior.run_config``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    cfg = read_config(run_dir)
    pcfg = cfg.get("posterior")
    if not isinstance(pcfg, dict) or "posterior" not in pcfg or "arch" not in cfg:
        raise UnsureError(f"{Path(run_dir) / CONFIG} lacks 'posterior' or 'arch'")
    make_model = model_factory(cfg["arch"], cfg.get("arch_options", {}))
    post = POSTERIORS.get(pcfg["posterior"]).from_config(pcfg, make_model)
    wpath = Path(run_dir) / WEIGHTS
    if not wpath.is_file():
        raise UnsureError(f"{run_dir} has no {WEIGHTS}")
    try:
        state = load_file(str(wpath))
    except (SafetensorError, OSError) as e:
        raise UnsureError(f"cannot read {wpath}: {e}") from None
    missing, unexpected = post.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UnsureError(f"{wpath} does not match the saved config: missing {missing[:3]}, unexpected {unexpected[:3]}")
    post.to(device).eval()
    post.run_config = cfg
    return post


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available) -> a device; one clear error
    when CUDA is asked for and missing."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UnsureError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UnsureError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None


def run_posterior(args: argparse.Namespace) -> tuple[Posterior, str]:
    """Load ``--run`` on ``--device``; returns the posterior and the data spec (``--data`` or the run's)."""
    post = load_run(args.run, device=resolve_device(args.device))
    data = args.data or post.run_config.get("data")
    if not data:
        raise UnsureError("no --data given and the run does not name its data")
    return post, data
