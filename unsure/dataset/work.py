"""The shard work function of ``unsure explain-dataset``, the same for every engine.

A :class:`ShardWorker` loads the posterior once (a Ray actor holds one); ``run_shard`` explains
one shard of images and writes its map file and its rows. Everything random is seeded from the
job's seed and the shard number only (not from the order in which shards run or the process
that runs them), and the chunks are the same, so any engine writes the same bytes for a shard
when it uses the same device and the same number of threads.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import load
from ..errors import UnsureError
from .job import Job, atomic_write, inputs_stamp, map_file, map_key, part_path


def shard_seed(seed: int, *parts: int) -> int:
    """A 63-bit seed from the job seed and ``parts`` (shard, method, target): independent streams."""
    return int(np.random.SeedSequence([seed, *parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def load_images(job: Job):
    """The job's images ``[N,C,H,W]`` and labels ``[N]`` (the first ``limit`` of the split)."""
    return load(job.data, job.split, limit=job.limit)


class ShardWorker:
    """Holds the posterior, its frozen draw and the methods; explains shards.

    Parameters
    ----------
    job : the job
    out : output folder (on a cluster: storage every worker can write)
    device : "cpu", "cuda", "cuda:N" or "auto"
    threads : torch threads for this process (``None``: leave as is)
    inputs : the job's input identity (:func:`unsure.dataset.job.job_inputs`); the weights loaded
        here must have its digest (a run re-trained after the job checked it is refused)
    posterior : the job's posterior already loaded on ``device`` (default: loaded here); its
        digest is checked the same way
    """

    def __init__(self, job: Job, out: str | Path, device: str = "cpu", threads: int | None = None,
                 inputs: dict | None = None, posterior=None):
        from ..attribution import make_method
        from ..attribution.spec import parse_methods
        from ..run import resolve_device
        from ..run import load_run

        if threads:
            torch.set_num_threads(int(threads))
        self.job, self.out = job, Path(out)
        if posterior is not None:
            self.post = posterior
        elif job.model is not None:
            from ..user_model import model_posterior

            self.post = model_posterior(job.model, job.weights, device=resolve_device(device))
        else:
            self.post = load_run(job.run, device=resolve_device(device))
        expected = (inputs or {}).get("weights")
        if expected is not None and getattr(self.post, "weights_sha256", None) != expected:
            raise UnsureError(f"the weights of {job.run or job.weights} changed after this job checked "
                              f"them (re-trained while it ran?); rerun the job into a new --out folder")
        self.stamp = inputs_stamp(inputs)  # every part names the inputs it was computed from
        self.specs = parse_methods(job.methods)
        self.methods = [make_method(s.name, **s.options) for s in self.specs]
        self.draw = self.post.draw(torch.Generator().manual_seed(job.seed))

    def explain(self, shard: int, x: torch.Tensor) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Uncertainties and maps of one shard's images ``x [n,C,H,W]``.

        Returns ``({"prediction", "total", "aleatoric", "epistemic": [n]}, {key: [n,H,W] float32})``.
        """
        from ..report.pipeline import predict

        from ..batching import resolve_batch_size

        x = x.to(self.post.device)
        bs = resolve_batch_size(self.job.batch_size, self.draw, x)
        probs, unc = predict(self.draw, x, batch_size=bs)
        cols = {"prediction": probs.argmax(-1).numpy().astype(np.int64),
                **{k: v.double().numpy() for k, v in unc.items()}}
        maps = {}
        for mi, (spec, method) in enumerate(zip(self.specs, self.methods)):
            for ti, target in enumerate(self.job.targets):
                # a CPU generator: the same random numbers on any device (methods draw on its device)
                gen = torch.Generator().manual_seed(shard_seed(self.job.seed, shard, mi, ti))
                att = method.attribute(self.post, x, target, generator=gen, draw=self.draw,
                                       batch_size=bs)
                maps[map_key(spec.label, target)] = np.ascontiguousarray(
                    att.maps.detach().float().cpu().numpy())  # [n,H,W]
        return cols, maps

    def run_shard(self, shard: int, x: torch.Tensor, y: torch.Tensor, index: np.ndarray) -> int:
        """Explain a shard and write ``maps/shard-N.safetensors`` then ``parts/shard-N.parquet``
        (each atomically; the part marks the shard finished). Returns the number of images."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        from safetensors.numpy import save_file

        cols, maps = self.explain(shard, x)
        atomic_write(self.out / map_file(shard), lambda tmp: save_file(maps, tmp))
        n = len(index)
        table = pa.table({
            "index": pa.array(np.asarray(index, dtype=np.int64)),
            "label": pa.array(np.asarray(y, dtype=np.int64)),
            "prediction": pa.array(cols["prediction"]),
            "total": pa.array(cols["total"]), "aleatoric": pa.array(cols["aleatoric"]),
            "epistemic": pa.array(cols["epistemic"]),
            "shard": pa.array(np.full(n, shard, dtype=np.int32)),
            "map_file": pa.array([map_file(shard)] * n, type=pa.string()),
            "map_row": pa.array(np.arange(n, dtype=np.int32)),
        })
        table = table.replace_schema_metadata(self.stamp)
        atomic_write(part_path(self.out, shard), lambda tmp: pq.write_table(table, tmp))
        return n
