"""What ``unsure explain-dataset`` computes and where it writes it, shared by both engines.

An output folder ``DIR`` holds

- ``manifest.json``: the job (run, data, split, limit, methods, targets, seed, batch and shard
  sizes) and the map keys; a rerun with a different job into the same folder is refused. Its
  ``identity`` holds the hashes of the job's inputs (:func:`job_inputs`: the weights' digest,
  the data file's hash, the job's settings); a rerun whose inputs changed since (the run was
  re-trained with ``--force``, the data file was replaced) is refused in one line, so a table
  never mixes shards of two models or two data sets. A manifest written before identities
  existed has none: the job resumes as before, unchecked, with a warning;
- ``maps/shard-NNNNN.safetensors``: one file per shard, a ``[n, H, W]`` float32 array per key
  ``"METHOD|TARGET"`` (``safetensors.numpy.load_file``);
- ``parts/shard-NNNNN.parquet``: the shard's rows, written after its map file; its presence
  marks the shard finished, so a rerun skips it. Its schema metadata ``unsure_inputs`` is the
  hash of the manifest's ``identity``; the table joins only parts that carry it;
- ``table.parquet``: all rows sorted by ``index``: ``index, label, prediction, total, aleatoric,
  epistemic, shard, map_file, map_row`` (the map of row r for a key is
  ``load_file(DIR / r.map_file)[key][r.map_row]``).

Every file is written to a temporary name in its folder and renamed into place, so a killed job
leaves only whole files behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UnsureError
from ..identity import data_identity, identity, path_sha256, resolve_spec, settings_sha256
from ..outputs import check_fill_dir, stamped, umask_mode

MANIFEST = "manifest.json"
STAMP = b"unsure_inputs"  # parquet metadata of every part: the hash of the job's input identity
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
        object.__setattr__(self, "data", resolve_spec(self.data))  # the same file from any folder
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
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place
    (with the umask's mode, like every file unsure writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask_mode(tmp)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def job_inputs(job: Job) -> dict:
    """The identity of a job's inputs: ``weights`` (the digest of the run's or ``--weights``
    file; ``None`` for a factory's own weights), ``data`` (resolved spec and file hash),
    ``settings`` (hash of the job) and, for ``--model FILE.py:f``, ``code`` (the file's hash)."""
    from ..checksum import weights_digest
    from ..run import WEIGHTS
    from ..user_model import parse_spec

    wfile = Path(job.run) / WEIGHTS if job.run is not None else job.weights
    if job.run is not None and not Path(wfile).is_file():
        raise UnsureError(f"{job.run} has no {WEIGHTS}")
    if wfile is None:
        digest = None
    elif job.run is not None or Path(wfile).suffix.lower() == ".safetensors":
        digest = weights_digest(wfile)  # the header's checksum (verified when the file is loaded)
    else:  # a torch.save file (--weights x.pt) has no checksum: its tensors' digest
        from ..user_model import read_state

        digest = read_state(wfile)[1]
    inputs = identity(digest, data_identity(job.data), job.to_dict())
    if job.model is not None and parse_spec(job.model)[0].endswith(".py"):
        inputs["code"] = path_sha256(parse_spec(job.model)[0])
    return inputs


def _changed(old: dict, new: dict) -> list[str]:
    """What differs between two identities, in words."""
    said = {"weights": "the model's weights", "data": "the data file", "code": "the model code",
            "settings": "the settings"}
    return [said[k] for k in said if k in old and old[k] != new.get(k)]


def prepare(out: Path, job: Job, meta: dict | None = None, inputs: dict | None = None) -> dict:
    """Create ``out`` with the job's manifest, or check that an existing one is the same job made
    from the same inputs; returns the inputs' identity (``inputs``, or :func:`job_inputs`).
    ``meta``: top-level keys written with a new manifest (``schema_version``, ``command``,
    ``settings``, whose ``data`` becomes the job's: :func:`unsure.outputs.stamped`); only the job
    and its inputs decide whether a rerun resumes. The CLI calls it before any work and the
    engine again right before it (both compare the inputs). A manifest whose job computed no
    shard yet blocks neither another job nor other inputs: it is replaced (nothing is lost)."""
    import sys

    from ..schema import check_schema

    check_fill_dir(out, "explain-dataset --out")  # a file, a path under one: one line
    inputs = job_inputs(job) if inputs is None else inputs
    path = out / MANIFEST
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise UnsureError(f"{path} is not valid JSON: {e}") from None
        check_schema(old, path)
        # folders written before --model existed have no model/weights keys: the same as None;
        # before data specs were stored resolved, a relative spec was read from the current folder
        old_job = {"model": None, "weights": None, **old.get("job", {})}
        old_job["data"] = resolve_spec(old_job.get("data"))
        old_inputs = old.get("identity")
        other_inputs = isinstance(old_inputs, dict) and bool(_changed(old_inputs, inputs))
        if (old_job != job.to_dict() or other_inputs) and not started(out):
            # nothing computed: the new job starts afresh
            path.unlink()
            for sub in ("maps", "parts"):
                with contextlib.suppress(OSError):
                    (out / sub).rmdir()  # empty (not started)
            return prepare(out, job, meta, inputs)
        if old_job != job.to_dict():
            diff = sorted(k for k in job.to_dict() if old_job.get(k) != job.to_dict()[k])
            raise UnsureError(f"{out} holds another job (differs in {', '.join(diff)}); "
                              "use a new --out folder or remove it")
        if not isinstance(old.get("identity"), dict):
            print(f"unsure: warning: {path} was written before unsure recorded a job's inputs; "
                  "resuming without checking that the weights and data are unchanged", file=sys.stderr)
            return inputs
        changed = _changed(old["identity"], inputs)
        if changed:
            raise UnsureError(f"{out} was started with other inputs: {' and '.join(changed)} changed since "
                              f"(re-trained? replaced?), so resuming would mix shards of both; use a new "
                              f"--out folder or remove it")
        return inputs
    if out.exists() and any(out.iterdir()):
        raise UnsureError(f"{out} exists and is not an explain-dataset folder; use a new --out folder")
    meta = dict(meta or {})
    if isinstance(meta.get("settings"), dict):  # the data as used (resolved), also when it is the run's
        meta["settings"] = {**meta["settings"], "data": job.data}
    text = json.dumps(stamped({"job": job.to_dict(), "identity": inputs, "columns": list(COLUMNS),
                               "read_map": "safetensors.numpy.load_file(DIR / row.map_file)[KEY][row.map_row]"},
                              **meta), indent=2) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return inputs


def started(out: Path) -> bool:
    """Whether any shard's map or rows are on disk (a job that refused before computing any has
    left only its manifest, which must not block the corrected command)."""
    return any((out / sub).is_dir() and any(not p.name.startswith(".") for p in (out / sub).iterdir())
               for sub in ("maps", "parts"))


def finished(out: Path, plan: list[tuple[int, int, int]]) -> set[int]:
    """Shards whose rows are on disk (their map file was written first)."""
    return {s for s, _, _ in plan if part_path(out, s).is_file() and (out / map_file(s)).is_file()}


def inputs_stamp(inputs: dict | None) -> dict[bytes, bytes]:
    """Parquet schema metadata naming the inputs a part was computed from (empty without them)."""
    return {} if inputs is None else {STAMP: settings_sha256(inputs).encode()}


def write_table(out: Path, plan: list[tuple[int, int, int]], inputs: dict | None = None) -> Path:
    """Join the shards' rows into ``table.parquet``, sorted by ``index``. With ``inputs`` (the
    manifest's identity) every part must carry their stamp: a part computed from other inputs
    is refused, never joined."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    missing = [s for s, _, _ in plan if not part_path(out, s).is_file()]
    if missing:
        raise UnsureError(f"{len(missing)} shard(s) unfinished (first: {missing[0]}); rerun to finish them")
    parts = [pq.read_table(part_path(out, s)) for s, _, _ in plan]
    want = inputs_stamp(inputs).get(STAMP)
    for (s, _, _), part in zip(plan, parts):
        if want is not None and (part.schema.metadata or {}).get(STAMP) != want:
            raise UnsureError(f"{part_path(out, s)} was computed from other inputs than {out / MANIFEST} "
                              f"records; remove it (and {map_file(s)}) and rerun to redo that shard")
    table = pa.concat_tables([p.replace_schema_metadata(inputs_stamp(inputs)) for p in parts]).sort_by("index")
    atomic_write(out / TABLE, lambda tmp: pq.write_table(table, tmp))
    return out / TABLE
