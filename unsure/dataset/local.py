"""``unsure explain-dataset --engine local``: every unfinished shard in this process, in order."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .job import Job, finished, prepare, shards, write_table
from .work import ShardWorker, load_images


def run_local(job: Job, out: str | Path, device: str = "cpu", progress: bool = True,
              inputs: dict | None = None, posterior=None) -> Path:
    """Explain the job's images into ``out``; finished shards are skipped. Returns the table path.
    ``inputs``: the identity :func:`~unsure.dataset.job.prepare` returned (computed when ``None``);
    a job whose inputs changed since it started is refused. ``posterior``: the job's posterior
    already loaded on ``device`` (default: loaded here); its weights' digest is checked all the same."""
    out = Path(out)
    inputs = prepare(out, job, inputs=inputs)
    d = load_images(job)
    plan = shards(len(d.y), job.shard_size)
    done = finished(out, plan)
    todo = [p for p in plan if p[0] not in done]
    if todo:
        worker = ShardWorker(job, out, device, inputs=inputs, posterior=posterior)
        with tqdm(total=sum(b - a for _, a, b in todo), desc="explaining", unit="image",
                  disable=not progress) as bar:
            for s, a, b in todo:
                bar.update(worker.run_shard(s, d.x[a:b], d.y[a:b], np.arange(a, b)))
    return write_table(out, plan, inputs)
