"""``unsure explain-dataset --engine ray``: the unfinished shards as a Ray Data data set, one row
per shard (its images, labels and indices), through ``map_batches`` with an actor class that
loads the posterior once (:class:`ShardActor`). Each actor writes its shards' files itself, so on
a multi-node cluster the output folder must be storage every node can write (NFS, a shared
volume); the driver only collects the finished shard numbers and joins the table.

Starting or joining Ray and the actor pool are :mod:`unsure.engine`'s (shared with ``bench
blurring --engine ray``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..engine import Engine, import_ray, map_actors
from .job import Job, finished, prepare, shards, write_table
from .work import ShardWorker, load_images


class ShardActor:
    """A Ray Data actor: one :class:`ShardWorker` (the posterior loaded once), a shard per row."""

    def __init__(self, job: dict, out: str, device: str, threads: int, inputs: dict | None = None):
        self.worker = ShardWorker(Job.from_dict(job), out, device, threads, inputs=inputs)

    def __call__(self, batch: dict) -> dict:
        n = [self.worker.run_shard(int(s), torch.from_numpy(np.asarray(x, dtype=np.float32)),
                                   torch.from_numpy(np.asarray(y)), np.asarray(i))
             for s, x, y, i in zip(batch["shard"], batch["x"], batch["y"], batch["index"])]
        return {"shard": np.asarray(batch["shard"], dtype=np.int64), "n": np.asarray(n, dtype=np.int64)}


def run_ray(job: Job, out: str | Path, device: str = "cpu", address: str | None = None,
            workers: int = 1, gpus_per_worker: float = 0.0, cpus_per_worker: float = 0.5,
            threads: int | None = None, progress: bool = True, inputs: dict | None = None) -> Path:
    """Explain the job's images into ``out`` on Ray with ``workers`` actors.

    ``cpus_per_worker`` is the logical CPU share Ray reserves per actor: keep it fractional on a
    small machine (two 1-CPU actors on 2 CPUs leave none for Ray Data's own tasks and the data
    set waits forever). ``threads``: torch threads per actor (default: this process's, which
    makes the output equal to ``--engine local``'s bit for bit on CPU). ``inputs``: as
    :func:`~unsure.dataset.local.run_local`; each actor checks the weights it loads against them.
    """
    engine = Engine("ray", address, workers, cpus_per_worker, gpus_per_worker)
    import_ray()
    out = Path(out).resolve()
    inputs = prepare(out, job, inputs=inputs)
    d = load_images(job)
    plan = shards(len(d.y), job.shard_size)
    done = finished(out, plan)
    todo = [p for p in plan if p[0] not in done]
    if not todo:
        return write_table(out, plan, inputs)
    items = [{"shard": s, "x": d.x[a:b].numpy(), "y": d.y[a:b].numpy(), "index": np.arange(a, b)}
             for s, a, b in todo]
    # the actors may run in another folder (or on another node): an absolute run path
    kwargs = {"job": {**job.to_dict(), "run": job.run and str(Path(job.run).resolve())}, "out": str(out),
              "device": device, "threads": threads or torch.get_num_threads(), "inputs": inputs}
    with tqdm(total=sum(b - a for _, a, b in todo), desc=f"explaining on Ray ({workers} workers)",
              unit="image", disable=not progress) as bar:
        for row in map_actors(items, ShardActor, kwargs, engine):
            bar.update(int(row["n"]))
    return write_table(out, plan, inputs)
