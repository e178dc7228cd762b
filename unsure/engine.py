"""Where independent work items run: ``--engine local`` (this process, in order) or ``--engine ray``
(Ray Data ``map_batches`` over a pool of actors, each holding the model loaded once).

Shared by ``unsure explain-dataset`` (a work item is a shard) and ``unsure bench blurring`` / ``bench
all`` (a work item is a method x image chunk). The engine never changes what is computed: the
callers seed every item from the job's seed and the item's own numbers, so both engines give the
same values.

Ray is optional (``pip install 'unsure[ray]'``). Without ``address`` a local Ray instance starts
(and stops at the end); with it, the driver joins that cluster (``ray start --head`` prints the
address). If Ray is already initialised in this process, it is used as it is.

Pitfall (ray[data] 2.60 on 2 CPUs): two actors of 1 logical CPU each leave none for Ray Data's
read tasks and the data set waits forever; the default ``cpus_per_worker`` is fractional (0.5).
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from .errors import UnsureError

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Engine:
    """How to run work items.

    Attributes
    ----------
    name : "local" or "ray"
    address : Ray cluster to join (``None``: start a local instance)
    workers : Ray actors, each holding the model
    cpus_per_worker : logical CPUs Ray reserves per actor (keep it fractional on a small machine)
    gpus_per_worker : GPUs Ray reserves per actor (0: none)
    """

    name: str = "local"
    address: str | None = None
    workers: int = 1
    cpus_per_worker: float = 0.5
    gpus_per_worker: float = 0.0

    def __post_init__(self):
        if self.name not in ENGINES:
            raise UnsureError(f"unknown engine {self.name!r}; choose from {', '.join(ENGINES)}")
        if self.workers < 1 or self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            raise UnsureError("--workers must be >= 1, --cpus-per-worker > 0 and --gpus-per-worker >= 0")

    def describe(self) -> dict[str, Any]:
        """What a result JSON records (the local engine has no pool)."""
        if self.name == "local":
            return {"name": "local"}
        return {"name": "ray", "address": self.address, "workers": self.workers,
                "cpus_per_worker": self.cpus_per_worker, "gpus_per_worker": self.gpus_per_worker}


def add_engine_arguments(p: argparse.ArgumentParser, item: str = "work item") -> None:
    """``--engine``, ``--address``, ``--workers``, ``--gpus-per-worker``, ``--cpus-per-worker``."""
    p.add_argument("--engine", choices=list(ENGINES), default="local",
                   help=f"local (this process, default) or ray (each {item} on a Ray actor; same output)")
    p.add_argument("--address", default=None, help="--engine ray: join this cluster (else a local one starts)")
    p.add_argument("--workers", type=int, default=1, help="--engine ray: actors, each holding the model")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="--engine ray: GPUs per actor")
    p.add_argument("--cpus-per-worker", type=float, default=0.5,
                   help="--engine ray: logical CPUs Ray reserves per actor (fractional leaves room for "
                        "Ray Data's tasks)")


def engine_from_args(args: argparse.Namespace) -> Engine:
    return Engine(args.engine, args.address, args.workers, args.cpus_per_worker, args.gpus_per_worker)


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UnsureError("--engine ray needs Ray: pip install 'unsure[ray]'") from None
    return ray


@contextmanager
def ray_session(address: str | None = None):
    """Ray initialised inside the block: joined at ``address``, or a local instance; one that this
    block started is shut down at its end (also on errors). Yields the ``ray`` module."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR", configure_logging=True)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def map_actors(items: list[dict], actor_cls: type, kwargs: dict[str, Any], engine: Engine) -> Iterator[dict]:
    """Rows that ``actor_cls(**kwargs)(batch)`` returns for every item, one item per batch, on a
    pool of ``engine.workers`` actors, in the order they finish.

    ``items`` are dicts of numpy-able values (one Ray Data row each); ``actor_cls.__call__`` takes
    a numpy batch of one row and returns a dict of arrays. Ray is started (or joined) for the
    duration of the iteration.
    """
    with ray_session(engine.address) as ray:
        ray.data.DataContext.get_current().enable_progress_bars = False
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        res = ds.map_batches(actor_cls, batch_size=1, batch_format="numpy",
                             compute=ray.data.ActorPoolStrategy(size=engine.workers),
                             num_cpus=engine.cpus_per_worker, num_gpus=engine.gpus_per_worker or None,
                             fn_constructor_kwargs=kwargs)
        yield from res.iter_rows()
