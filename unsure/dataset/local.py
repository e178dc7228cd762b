"""``unsure explain-dataset --engine local``: every unfinished shard in this process, in order."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .job import Job, finished, prepare, shards, write_table
from .work import ShardWorker, load_images


def run_local(job: Job, out: str | Path, device: str = "cpu", progress: bool = True) -> Path:
    """Explain the job's images into ``out``; finished shards are skipped. Returns the table path."""
    out = Path(out)
    prepare(out, job)
    d = load_images(job)
    plan = shards(len(d.y), job.shard_size)
    done = finished(out, plan)
    todo = [p for p in plan if p[0] not in done]
    if todo:
        worker = ShardWorker(job, out, device)
        with tqdm(total=sum(b - a for _, a, b in todo), desc="explaining", unit="image",
                  disable=not progress) as bar:
            for s, a, b in todo:
                bar.update(worker.run_shard(s, d.x[a:b], d.y[a:b], np.arange(a, b)))
    return write_table(out, plan)
