"""``unsure explain-dataset``: prediction, uncertainties and maps of every image of a data spec,
written as ``OUT/table.parquet`` plus sharded map files (see :mod:`unsure.dataset.job`);
resumable; ``--engine local`` (this process) or ``--engine ray``."""
from __future__ import annotations

import argparse

from ..engine import add_engine_arguments, engine_from_args
from ..errors import UnsureError
from ..flags import batch_size_argument, deprecated_alias, invocation, methods_argument, split_argument
from ..user_model import add_source_arguments, portable_source
from .commands import Command, register


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("--data", default=None, help="data spec (default: the run's data; required with --model)")
    split_argument(p)
    p.add_argument("--n", type=int, default=None, help="only the first N images of the split (default: all)")
    deprecated_alias(p, "--limit", "--n", "n", type=int)
    methods_argument(p, "explain-dataset")  # "default", the default of unsure.attribute
    p.add_argument("--target", default=None, help="total, aleatoric, epistemic, a comma list or 'all' "
                                                   "(default: epistemic; total for a one-sample posterior)")
    deprecated_alias(p, "--targets", "--target", "target")
    p.add_argument("--out", required=True,
                   help="output folder; a rerun of the same job into it resumes (no --force needed), "
                        "a folder holding another job or other files is refused")
    p.add_argument("--seed", type=int, default=0, help="seeds the posterior draw and the methods")
    batch_size_argument(p)
    p.add_argument("--shard-size", type=int, default=256, help="images per map file (the unit of work)")
    p.add_argument("--device", default="auto", help="auto (cuda when available, default), cpu, cuda or cuda:N")
    add_engine_arguments(p, "shard")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ..attribution.spec import parse_methods
    from pathlib import Path

    from ..dataset import Job, map_key
    from ..dataset.job import prepare
    from ..identity import check_run_data
    from ..run import read_config
    from .commands import resolve_device
    from .explain import parse_targets

    specs = parse_methods(args.methods)
    targets = parse_targets(args.target or "epistemic")
    if args.model:
        from ..user_model import load_factory

        if not args.data:
            raise UnsureError("--model needs --data SPEC (digits, fashion-mnist, cifar10:DIR, ...)")
        load_factory(args.model)  # a bad spec fails here, in one line, before any worker starts
        data = args.data
    else:
        if args.weights:
            raise UnsureError("--weights goes with --model (a run folder has its own weights)")
        # the run's data, after checking its file is the one the run was trained on
        data = args.data or check_run_data(read_config(args.run), args.run)
    if not data:
        raise UnsureError("the run does not name its data; pass --data SPEC")
    # a single network: total by default (with a note), epistemic refused, before any work
    from .explain import one_sample_targets
    from .source import posterior_from_args

    post = posterior_from_args(args, "cpu")
    targets = one_sample_targets(post, args.target, targets)
    device = str(resolve_device(args.device))  # a bad device fails here, before any work
    src = portable_source(args)  # model and weights stay None with --run
    job = Job(run=args.run, model=src["model"], weights=src["weights"], data=data, split=args.split, limit=args.n, methods=args.methods,
              targets=tuple(targets), seed=args.seed, batch_size=args.batch_size,
              shard_size=args.shard_size, keys=tuple(map_key(s.label, t) for s in specs for t in targets))
    out, existed = Path(args.out), Path(args.out).exists()
    try:
        prepare(out, job, meta=invocation(args))  # the manifest records the command line
        # the local engine on the CPU explains with the posterior loaded here (not a second load)
        table = _explain(args, job, device, post if device == "cpu" else None)
    except BaseException:
        discard_unstarted(out, existed)
        raise
    print(f"wrote {table} and maps for {', '.join(job.keys)}")
    return 0


def discard_unstarted(out, existed: bool) -> None:
    """After a job failed before finishing any shard: remove what it wrote (its manifest, empty
    ``maps/`` and ``parts/``, the folder when this job created it), so nothing is left half-made
    and the corrected command starts cleanly. A job with finished shards is kept (a rerun resumes)."""
    from ..dataset.job import MANIFEST, started

    if not (out / MANIFEST).is_file() or started(out):  # not ours, or resumable work
        return
    (out / MANIFEST).unlink(missing_ok=True)
    for d in (out / "maps", out / "parts", *(() if existed else (out,))):
        try:
            d.rmdir()
        except OSError:
            pass


def _explain(args: argparse.Namespace, job, device: str, posterior=None):
    """Run the job with the chosen engine; returns the table's path."""
    engine = engine_from_args(args)
    if engine.name == "ray":
        from ..dataset.ray_engine import run_ray

        table = run_ray(job, args.out, device=device, address=engine.address, workers=engine.workers,
                        gpus_per_worker=engine.gpus_per_worker, cpus_per_worker=engine.cpus_per_worker,
                        progress=not args.no_progress)
    else:
        from ..dataset import run_local

        table = run_local(job, args.out, device=device, progress=not args.no_progress,
                          posterior=posterior)
    return table


COMMAND = register(Command("explain-dataset", "explain every image of a data set: table.parquet plus "
                                              "sharded maps; resumable; local or Ray", _add_arguments, run))
