"""``unsure explain-dataset``: prediction, uncertainties and maps of every image of a data spec,
written as ``OUT/table.parquet`` plus sharded map files (see :mod:`unsure.dataset.job`);
resumable; ``--engine local`` (this process) or ``--engine ray``."""
from __future__ import annotations

import argparse

from ..engine import add_engine_arguments, engine_from_args
from ..errors import UnsureError
from .commands import Command, register


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run directory made by 'unsure train'")
    p.add_argument("--data", default=None, help="data spec (default: the run's data)")
    p.add_argument("--split", default="test", choices=["test", "val", "train"])
    p.add_argument("--limit", type=int, default=None, help="only the first N images of the split")
    p.add_argument("--methods", default="ua-backprop", help="comma-separated NAME[:key=value] (see 'unsure methods')")
    p.add_argument("--targets", default="epistemic", help="total, aleatoric, epistemic, a comma list or 'all'")
    p.add_argument("--out", required=True, help="output folder (a rerun into it resumes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16, help="images per attribution call")
    p.add_argument("--shard-size", type=int, default=256, help="images per map file (the unit of work)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    add_engine_arguments(p, "shard")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..attribution.spec import parse_methods
    from ..dataset import Job, map_key
    from ..run import read_config
    from .commands import resolve_device
    from .explain import parse_targets

    specs = parse_methods(args.methods)
    targets = parse_targets(args.targets)
    data = args.data or read_config(args.run).get("data")
    if not data:
        raise UnsureError("the run does not name its data; pass --data SPEC")
    device = str(resolve_device(args.device))  # a bad device fails here, before any work
    job = Job(run=args.run, data=data, split=args.split, limit=args.limit, methods=args.methods,
              targets=tuple(targets), seed=args.seed, batch_size=args.batch_size,
              shard_size=args.shard_size, keys=tuple(map_key(s.label, t) for s in specs for t in targets))
    engine = engine_from_args(args)
    if engine.name == "ray":
        from ..dataset.ray_engine import run_ray

        table = run_ray(job, args.out, device=device, address=engine.address, workers=engine.workers,
                        gpus_per_worker=engine.gpus_per_worker, cpus_per_worker=engine.cpus_per_worker,
                        progress=not args.no_progress)
    else:
        from ..dataset import run_local

        table = run_local(job, args.out, device=device, progress=not args.no_progress)
    print(f"wrote {table} and maps for {', '.join(job.keys)}")
    return 0


COMMAND = register(Command("explain-dataset", "explain every image of a data set: table.parquet plus "
                                              "sharded maps; resumable; local or Ray", _add_arguments, run))
