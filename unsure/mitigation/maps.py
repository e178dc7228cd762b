"""Pre-generated attribution maps for retraining, cached on disk.

Maps are made once per (run, method, target, split, subset) with one frozen posterior draw, in
chunks with a progress bar, and stored as safetensors (plain tensors; loading executes no code), so
a lambda / attention / space sweep reuses them. The key is written into the file's metadata and
checked on load.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..attribution import make_method
from ..errors import UnsureError
from ..posteriors import Posterior


@dataclass(frozen=True)
class MapKey:
    """What a cached map file holds.

    Attributes
    ----------
    run : run identity (:func:`run_id`)
    method : method label incl. options, e.g. ``ua-backprop`` or ``ua-backprop:path=grad``
    target : ``epistemic`` / ``aleatoric`` / ``total``
    split : ``train`` / ``val`` / ``test``
    subset : which images of the split, e.g. ``perm0-500`` or ``first-2000``
    seed : seed of the posterior draw and of the method's randomness
    """

    run: str
    method: str
    target: str
    split: str
    subset: str
    seed: int = 0

    def filename(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.method}-{self.target}-{self.split}-{self.subset}")
        return f"{slug}-{digest}.safetensors"


def run_id(run_dir: str | os.PathLike) -> str:
    """A short identity of a run: its folder name and a hash of its weights file."""
    run_dir = Path(run_dir)
    weights = run_dir / "weights.safetensors"
    if not weights.is_file():
        raise UnsureError(f"{run_dir} has no weights.safetensors; is it a run directory?")
    h = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"{run_dir.name}-{h.hexdigest()[:12]}"


class MapCache:
    """A folder of ``safetensors`` files, one per :class:`MapKey`."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: MapKey) -> Path:
        return self.root / key.filename()

    def load(self, key: MapKey) -> Tensor | None:
        """The cached maps ``[N,H,W]`` for ``key``, or ``None`` if there are none."""
        from safetensors import SafetensorError, safe_open

        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                maps = f.get_tensor("maps")
        except (SafetensorError, OSError) as e:
            raise UnsureError(f"cannot read cached maps {path}: {e}; delete the file to regenerate") from None
        if json.loads(meta.get("key", "{}")) != asdict(key):
            raise UnsureError(f"cached maps {path} were written for another key; delete the file")
        return maps

    def save(self, key: MapKey, maps: Tensor) -> Path:
        """Write ``maps [N,H,W]`` atomically (temporary file, then rename)."""
        from safetensors.torch import save_file

        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file({"maps": maps.detach().cpu().contiguous()}, str(tmp),
                  metadata={"key": json.dumps(asdict(key))})
        os.replace(tmp, path)
        return path


def generate_maps(posterior: Posterior, x: Tensor, method: str, options: dict | None = None,
                  target: str = "epistemic", *, seed: int = 0, batch_size: int = 50,
                  progress: bool = True, desc: str = "maps") -> Tensor:
    """Attribute ``target`` for images ``x [N,C,H,W]`` in chunks; returns maps ``[N,H,W]`` on CPU.

    One frozen posterior draw (seeded) serves all chunks, so stochastic posteriors explain the same
    members for every image.
    """
    m = make_method(method, **(options or {}))
    draw = posterior.draw(torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed)
    out = []
    for s in tqdm(range(0, len(x), batch_size), desc=desc, disable=not progress, leave=False):
        xb = x[s:s + batch_size].to(posterior.device)
        att = m.attribute(posterior, xb, target, draw=draw, generator=gen)
        out.append(att.maps.detach().float().cpu())  # [b,H,W]
    return torch.cat(out, 0)


def cached_maps(cache: MapCache | None, key: MapKey, posterior: Posterior, x: Tensor, method: str,
                options: dict | None = None, *, batch_size: int = 50, progress: bool = True) -> Tensor:
    """Maps ``[N,H,W]`` for ``key``: from ``cache`` when present, else generated and stored."""
    if cache is not None:
        maps = cache.load(key)
        if maps is not None:
            if maps.shape != (len(x), *x.shape[2:]):
                raise UnsureError(f"cached maps {cache.path(key)} have shape {tuple(maps.shape)}, "
                                  f"expected {(len(x), *x.shape[2:])}; delete the file")
            return maps
    maps = generate_maps(posterior, x, method, options, key.target, seed=key.seed,
                         batch_size=batch_size, progress=progress,
                         desc=f"{key.method} {key.target} {key.split}")
    if cache is not None:
        cache.save(key, maps)
    return maps
