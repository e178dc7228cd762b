"""Run directories: trained posteriors saved as ``weights.safetensors`` plus ``config.json``, and
the helpers that turn ``--run`` / ``--device`` into a loaded posterior.

``save_run`` writes to a temporary sibling folder and renames it into place, so a run directory
is never half-written (through :func:`unsure.outputs.atomic_dir`; ``--force`` replaces only a run directory). ``load_run`` rebuilds the architecture and posterior from the JSON config
and loads the weights with safetensors (no pickle). A run of a built-in architecture executes no
code; a run saved with a factory (:func:`unsure.user_model.save_run`, public as
``unsure.save_run``) imports and calls it.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ._version import __version__
from .errors import UnsureError
from .models import ARCHS
from .posteriors import POSTERIORS, Posterior
from .schema import check_schema

CONFIG = "config.json"
WEIGHTS = "weights.safetensors"


def model_factory(arch: str, arch_options: dict[str, Any]):
    """A zero-argument callable building a fresh network of the run's architecture."""
    cls = ARCHS.get(arch)
    return lambda: cls(**arch_options)


def save_run(run_dir: str | os.PathLike, posterior: Posterior, config: dict[str, Any],
             overwrite: bool = False) -> Path:
    """Save ``posterior`` and ``config`` (merged with ``posterior.config()``) atomically.

    The weights file carries the checksum of its tensors (:mod:`unsure.checksum`) and the config
    an ``identity`` (:mod:`unsure.identity`): that digest, the data (``config["data"]``, stored
    resolved, with its hash unless ``config["identity"]["data"]`` already gives it, as
    ``train_run`` does from before training) and the hash of ``settings``."""
    from .checksum import save_weights
    from .identity import data_identity, identity, recorded, resolve_spec
    from .outputs import atomic_dir, stamped

    run_dir = Path(run_dir)
    full = stamped(dict(config))  # schema_version; command and settings when train_run gave them
    if isinstance(full.get("data"), str):
        full["data"] = resolve_spec(full["data"])  # absolute: the same file from any folder
    full["posterior"] = posterior.config()
    full.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
    full.setdefault("unsure_version", __version__)
    # safetensors refuses shared/non-contiguous storage: store independent contiguous copies
    state = {k: v.detach().cpu().contiguous().clone() for k, v in posterior.state_dict().items()}
    data = recorded(full, "data")
    if data is None and isinstance(full.get("data"), str):
        data = data_identity(full["data"])
    with atomic_dir(run_dir, "run", replace=overwrite) as tmp:
        digest = save_weights(state, tmp / WEIGHTS)  # the tensors' digest, also in the file's header
        full["identity"] = identity(digest, data, full.get("settings"))
        (tmp / CONFIG).write_text(json.dumps(full, indent=2, default=_json_default) + "\n")
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
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UnsureError(f"{path} is not valid JSON: {e}") from None
    check_schema(cfg, path)  # a newer or non-integer schema_version is refused
    return cfg


# loader of runs saved with a factory (unsure.save_run); unsure.user_model registers it, so this
# layer does not import the layer above it
FACTORY_LOADER = None


def load_run(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> Posterior:
    """Load the posterior saved in ``run_dir``; its config is available as ``posterior.run_config``.

    A run written by :func:`unsure.save_run` records a model factory; loading it imports and
    calls that factory (the user's code, the same trust as ``--model``).

    The tensors are checked against the checksum in the weights file and against the digest in
    the config's ``identity`` (each when present: runs saved before checksums load unchecked);
    the digest is kept as ``posterior.weights_sha256``."""
    from .checksum import load_weights
    from .run_checks import build_checked, check_config, check_members, weight_shapes

    cfg = read_config(run_dir)
    if "factory" in cfg:  # saved by unsure.save_run: runs the factory's code (user_model.py)
        if FACTORY_LOADER is None:  # set by unsure.user_model, which the package imports
            raise UnsureError(f"{run_dir} was saved with a factory; import unsure first")
        return FACTORY_LOADER(run_dir, cfg, device)
    check_config(cfg, Path(run_dir) / CONFIG)  # types and sizes, before anything is built
    pcfg = cfg["posterior"]
    wpath = Path(run_dir) / WEIGHTS
    if not wpath.is_file():
        raise UnsureError(f"{run_dir} has no {WEIGHTS}")
    shapes = weight_shapes(wpath)
    check_members(pcfg, shapes, wpath)
    make_model = model_factory(cfg["arch"], cfg.get("arch_options", {}))
    cls = POSTERIORS.get(pcfg["posterior"])
    post = build_checked(lambda: cls.from_config(pcfg, make_model), shapes, Path(run_dir) / CONFIG)
    state, digest = load_weights(wpath)
    check_weights_identity(cfg, digest, wpath)
    missing, unexpected = post.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UnsureError(f"{wpath} does not match the saved config: missing {missing[:3]}, unexpected {unexpected[:3]}")
    post.to(device).eval()
    post.run_config = cfg
    post.weights_sha256 = digest
    return post


def check_weights_identity(cfg: dict, digest: str, wpath: Path) -> None:
    """The weights are the ones saved with this config (its ``identity.weights``, when recorded)."""
    from .identity import recorded, short

    saved = recorded(cfg, "weights")
    if saved is not None and saved != digest:
        raise UnsureError(f"{wpath} is not the weights file saved with {wpath.parent / CONFIG} (digest "
                          f"{short(digest)}, the config records {short(saved)}); restore it or re-train")


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available) -> a device; one clear error
    for any other name (``meta``, ``cuda:7`` on a 1-GPU machine, ...) or missing CUDA."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UnsureError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda") or (dev.type == "cpu" and dev.index not in (None, 0)):
        raise UnsureError(f"device {name!r} cannot run models here; use cpu, cuda or cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UnsureError(f"device {name!r} requested but CUDA is not available; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UnsureError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA "
                              "device(s), numbered from 0")
    return dev
