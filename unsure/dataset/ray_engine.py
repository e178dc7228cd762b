"""``unsure explain-dataset --engine ray``: the unfinished shards as a Ray Data data set, one row
per shard (its images, labels and indices), through ``map_batches`` with an actor class that
loads the posterior once (:class:`ShardActor`). Each actor writes its shards' files itself, so on
a multi-node cluster the output folder must be storage every node can write (NFS, a shared
volume); the driver only collects the finished shard numbers and joins the table.

Ray is optional (``pip install 'unsure[ray]'``). Without ``address`` a local Ray instance starts
(and stops at the end); with it, the driver joins that cluster (``ray start --head`` prints it).
If Ray is already initialised in this process, it is used as it is.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import UnsureError
from .job import Job, finished, prepare, shards, write_table
from .work import ShardWorker, load_images


class ShardActor:
    """A Ray Data actor: one :class:`ShardWorker` (the posterior loaded once), a shard per row."""

    def __init__(self, job: dict, out: str, device: str, threads: int):
        self.worker = ShardWorker(Job.from_dict(job), out, device, threads)

    def __call__(self, batch: dict) -> dict:
        n = [self.worker.run_shard(int(s), torch.from_numpy(np.asarray(x, dtype=np.float32)),
                                   torch.from_numpy(np.asarray(y)), np.asarray(i))
             for s, x, y, i in zip(batch["shard"], batch["x"], batch["y"], batch["index"])]
        return {"shard": np.asarray(batch["shard"], dtype=np.int64), "n": np.asarray(n, dtype=np.int64)}


def run_ray(job: Job, out: str | Path, device: str = "cpu", address: str | None = None,
            workers: int = 1, gpus_per_worker: float = 0.0, cpus_per_worker: float = 0.5,
            threads: int | None = None, progress: bool = True) -> Path:
    """Explain the job's images into ``out`` on Ray with ``workers`` actors.

    ``cpus_per_worker`` is the logical CPU share Ray reserves per actor: keep it fractional on a
    small machine (two 1-CPU actors on 2 CPUs leave none for Ray Data's own tasks and the data
    set waits forever). ``threads``: torch threads per actor (default: this process's, which
    makes the output equal to ``--engine local``'s bit for bit on CPU).
    """
    try:
        import ray
        import ray.data
    except ImportError:
        raise UnsureError("--engine ray needs Ray: pip install 'unsure[ray]'") from None
    if workers < 1 or cpus_per_worker <= 0 or gpus_per_worker < 0:
        raise UnsureError("--workers must be >= 1, --cpus-per-worker > 0 and --gpus-per-worker >= 0")
    out = Path(out).resolve()
    prepare(out, job)
    d = load_images(job)
    plan = shards(len(d.y), job.shard_size)
    done = finished(out, plan)
    todo = [p for p in plan if p[0] not in done]
    if not todo:
        return write_table(out, plan)
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", configure_logging=True)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        items = [{"shard": s, "x": d.x[a:b].numpy(), "y": d.y[a:b].numpy(), "index": np.arange(a, b)}
                 for s, a, b in todo]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        res = ds.map_batches(
            ShardActor, batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cpus_per_worker, num_gpus=gpus_per_worker or None,
            # the actors may run in another folder (or on another node): an absolute run path
            fn_constructor_kwargs={"job": {**job.to_dict(), "run": str(Path(job.run).resolve())},
                                   "out": str(out), "device": device,
                                   "threads": threads or torch.get_num_threads()})
        with tqdm(total=sum(b - a for _, a, b in todo), desc=f"explaining on Ray ({workers} workers)",
                  unit="image", disable=not progress) as bar:
            for row in res.iter_rows():
                bar.update(int(row["n"]))
    finally:
        if started:
            ray.shutdown()
    return write_table(out, plan)
