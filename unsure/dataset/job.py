"""What ``unsure explain-dataset`` computes and where it writes it, shared by both engines.

An output folder ``DIR`` holds

- ``manifest.json``: the job (run, data, split, limit, methods, targets, seed, batch and shard
  sizes) and the map keys; a rerun with a different job into the same folder is refused;
- ``maps/shard-NNNNN.safetensors``: one file per shard, a ``[n, H, W]`` float32 array per key
  ``"METHOD|TARGET"`` (``safetensors.numpy.load_file``);
- ``parts/shard-NNNNN.parquet``: the shard's rows, written after its map file; its presence
  marks the shard finished, so a rerun skips it;
- ``table.parquet``: all rows sorted by ``index``: ``index, label, prediction, total, aleatoric,
  epistemic, shard, map_file, map_row`` (the map of row r for a key is
  ``load_file(DIR / r.map_file)[key][r.map_row]``).

Every file is written to a temporary name in its folder and renamed into place, so a killed job
leaves only whole files behind.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UnsureError
from ..outputs import stamped

MANIFEST = "manifest.json"
TABLE = "table.parquet"
COLUMNS = ("index", "label", "prediction", "total", "aleatoric", "epistemic", "shard", "map_file", "map_row")


@dataclass(frozen=True)
class Job:
    """One explain-dataset job; the fields that change the output (not the engine or device)."""

    run: str | None
    data: str
    split: str = "test"
    limit: int | None = None
    methods: str = "ua-backprop"
    targets: tuple[str, ...] = ("epistemic",)
    seed: int = 0
    batch_size: int | str = "auto"  # images per attribution call, or "auto" (unsure.batching)
    shard_size: int = 256
    keys: tuple[str, ...] = field(default=())
    model: str | None = None  # --model SPEC (absolute file path): each worker imports the factory
    weights: str | None = None  # --weights FILE with --model (absolute path)

    def __post_init__(self):
        if (self.run is None) == (self.model is None):
            raise UnsureError("explain-dataset needs exactly one of --run DIR and --model SPEC")
        if self.batch_size != "auto" and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise UnsureError(f"--batch-size must be >= 1 or 'auto', got {self.batch_size!r}")
        if self.shard_size < 1:
            raise UnsureError("--shard-size must be >= 1")
        if self.limit is not None and self.limit < 1:
            raise UnsureError(f"--limit must be >= 1, got {self.limit}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"], d["keys"] = list(self.targets), list(self.keys)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Job":
        return cls(**{**d, "targets": tuple(d["targets"]), "keys": tuple(d["keys"])})


def map_key(method_label: str, target: str) -> str:
    return f"{method_label}|{target}"


def shard_name(shard: int) -> str:
    return f"shard-{shard:05d}"


def map_file(shard: int) -> str:
    """Path of a shard's map file, relative to the output folder."""
    return f"maps/{shard_name(shard)}.safetensors"


def part_path(out: Path, shard: int) -> Path:
    return out / "parts" / f"{shard_name(shard)}.parquet"


def shards(n: int, shard_size: int) -> list[tuple[int, int, int]]:
    """``(shard, start, stop)`` covering images ``0..n-1`` in order."""
    return [(i, s, min(s + shard_size, n)) for i, s in enumerate(range(0, n, shard_size))]


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare(out: Path, job: Job, meta: dict | None = None) -> None:
    """Create ``out`` with the job's manifest, or check that an existing one is the same job.
    ``meta``: top-level keys written with a new manifest (``schema_version``, ``command``,
    ``settings``: :func:`unsure.outputs.stamped`); only ``job`` decides whether a rerun resumes."""
    path = out / MANIFEST
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise UnsureError(f"{path} is not valid JSON: {e}") from None
        # folders written before --model existed have no model/weights keys: the same as None
        old_job = {"model": None, "weights": None, **old.get("job", {})}
        if old_job != job.to_dict():
            diff = sorted(k for k in job.to_dict() if old_job.get(k) != job.to_dict()[k])
            raise UnsureError(f"{out} holds another job (differs in {', '.join(diff)}); "
                              "use a new --out folder or remove it")
        return
    if out.exists() and any(out.iterdir()):
        raise UnsureError(f"{out} exists and is not an explain-dataset folder; use a new --out folder")
    text = json.dumps(stamped({"job": job.to_dict(), "columns": list(COLUMNS),
                               "read_map": "safetensors.numpy.load_file(DIR / row.map_file)[KEY][row.map_row]"},
                              **(meta or {})), indent=2) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def finished(out: Path, plan: list[tuple[int, int, int]]) -> set[int]:
    """Shards whose rows are on disk (their map file was written first)."""
    return {s for s, _, _ in plan if part_path(out, s).is_file() and (out / map_file(s)).is_file()}


def write_table(out: Path, plan: list[tuple[int, int, int]]) -> Path:
    """Join the shards' rows into ``table.parquet``, sorted by ``index``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    missing = [s for s, _, _ in plan if not part_path(out, s).is_file()]
    if missing:
        raise UnsureError(f"{len(missing)} shard(s) unfinished (first: {missing[0]}); rerun to finish them")
    table = pa.concat_tables([pq.read_table(part_path(out, s)) for s, _, _ in plan]).sort_by("index")
    atomic_write(out / TABLE, lambda tmp: pq.write_table(table, tmp))
    return out / TABLE
