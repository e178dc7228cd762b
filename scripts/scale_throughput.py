"""Throughput of ``unsure explain-dataset`` and ``unsure bench blurring``: the local engine against
Ray with 1, 2, ... workers on the same job, back to back, and Ray's start-up overhead; writes
``OUT/scale.json`` and ``OUT/scale.md`` (the tables of docs/scale.md).

    .venv/bin/python scripts/scale_throughput.py --run /work/runs/digits-ens5 --targets all \
        --shard-size 32 --workers 1,2 --blurring-top 40 --blurring-chunk-size 10 \
        --out docs/results/scale

Every engine writes into its own fresh folder under ``OUT/work`` (deleted at the end) and the
script checks that each Ray folder holds the same bytes as the local one. Ray's overhead is
measured twice: ``ray.init`` + ``ray.shutdown`` alone, and a Ray run of one shard minus the local
time of that shard (actor start-up, loading the posterior, scheduling). The blurring part runs
``unsure bench blurring`` with each engine (``--blurring-*`` settings) and checks that every Ray
JSON holds the same values as the local one (timings aside).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import time
from pathlib import Path

import torch

from unsure.bench.base import environment, markdown_table
from unsure.attribution.spec import parse_methods
from unsure.cli.explain import parse_targets
from unsure.dataset import Job, map_key, run_local
from unsure.dataset.ray_engine import run_ray
from unsure.run import read_config


def same_bytes(a: Path, b: Path) -> bool:
    fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return fa == fb and all((a / f).read_bytes() == (b / f).read_bytes() for f in fa)


def steady_rate(folder: Path, workers: int, shard_size: int, n: int) -> float:
    """Images per second once every worker has finished its first shard (start-up excluded):
    images finished after the ``workers``-th earliest shard over the time to the last one, from
    the shards' part files' modification times."""
    t = sorted(p.stat().st_mtime for p in (folder / "parts").glob("*.parquet"))
    if len(t) <= workers:
        return float("nan")
    return (n - workers * shard_size) / (t[-1] - t[workers - 1])


def blurring_runs(args, work: Path, workers: list[int]) -> tuple[dict, list[list]]:
    """Wall time of ``bench blurring`` locally and on Ray with each worker count; same values?"""
    from unsure.cli.main import main as cli

    res, rows, first = {}, [], None
    for engine, w in [("local", 1)] + [("ray", w) for w in workers]:
        folder = work / f"blurring-{engine}-{w}"
        argv = ["bench", "blurring", "--run", args.run, "--methods", args.blurring_methods,
                "--top", str(args.blurring_top), "--replacements", args.blurring_replacements,
                "--chunk-size", str(args.blurring_chunk_size), "--device", "cpu", "--engine", engine,
                "--workers", str(w), "--cpus-per-worker", str(args.cpus_per_worker),
                "--out", str(folder), "--no-progress"]
        if args.blurring_sigmas:
            argv += ["--sigmas", args.blurring_sigmas]
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the bench prints its tables
            rc = cli(argv)
        if rc != 0:
            raise SystemExit(f"bench blurring --engine {engine} failed")
        t = time.perf_counter() - t0
        d = json.loads((folder / "blurring.json").read_text())
        values = {k: v for k, v in d.items() if k not in ("config", "environment")}
        first = first or values
        cfg = d["config"]
        n = cfg["top"]
        # the items' own compute (attribution + test), summed over methods, per image
        compute = sum(cfg["seconds_per_image"].values()) + sum(cfg["test_seconds_per_image"].values())
        name = "local" if engine == "local" else f"ray_{w}"
        res[name] = {"seconds": t, "images": n, "items": len(cfg["methods"]) * -(-n // args.blurring_chunk_size),
                     "item_compute_seconds": compute * n, "same_values_as_local": values == first}
        rows.append(["local (this process)" if engine == "local" else f"Ray, {w} worker(s)", n,
                     res[name]["items"], t, n / t, res["local"]["seconds"] / t, compute * n,
                     "yes" if values == first else "NO"])
    return res, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--data", default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--methods", default="ua-backprop")
    ap.add_argument("--targets", default="epistemic")
    ap.add_argument("--shard-size", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--cpus-per-worker", type=float, default=0.5)
    ap.add_argument("--blurring-methods", default="ua-backprop,grad,inputgrad,random")
    ap.add_argument("--blurring-top", type=int, default=40, help="0: skip the blurring part")
    ap.add_argument("--blurring-chunk-size", type=int, default=10)
    ap.add_argument("--blurring-replacements", default="blur")
    ap.add_argument("--blurring-sigmas", default=None, help="default: the spec's grid")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import ray

    targets = parse_targets(args.targets)
    specs = parse_methods(args.methods)
    data = args.data or read_config(args.run)["data"]
    job = Job(run=args.run, data=data, limit=args.limit, methods=args.methods, targets=tuple(targets),
              batch_size=args.batch_size, shard_size=args.shard_size,
              keys=tuple(map_key(s.label, t) for s in specs for t in targets))
    out = Path(args.out)
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    rows, res = [], {}
    load_before = os.getloadavg()

    t0 = time.perf_counter()
    run_local(job, work / "local", progress=False)
    t_local = time.perf_counter() - t0
    import pyarrow.parquet as pq
    n = pq.read_table(work / "local" / "table.parquet").num_rows
    s_local = steady_rate(work / "local", 1, args.shard_size, n)
    res["local"] = {"seconds": t_local, "images": n, "images_per_second": n / t_local,
                    "steady_images_per_second": s_local}
    rows.append(["local (this process)", n, t_local, n / t_local, 1.0, s_local, 1.0, "-"])

    t0 = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    t_init = time.perf_counter() - t0
    ray.shutdown()
    t_down = time.perf_counter() - t0 - t_init
    res["ray_init_seconds"], res["ray_shutdown_seconds"] = t_init, t_down

    one = Job(**{**job.to_dict(), "targets": job.targets, "keys": job.keys, "limit": args.shard_size})
    t0 = time.perf_counter()
    run_local(one, work / "local-one", progress=False)
    t_one_local = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_ray(one, work / "ray-one", workers=1, cpus_per_worker=args.cpus_per_worker, progress=False)
    t_one_ray = time.perf_counter() - t0
    res["one_shard"] = {"local_seconds": t_one_local, "ray_seconds": t_one_ray,
                        "ray_overhead_seconds": t_one_ray - t_one_local}

    worker_counts = [int(v) for v in args.workers.split(",")]
    for w in worker_counts:
        folder = work / f"ray-{w}"
        t0 = time.perf_counter()
        run_ray(job, folder, workers=w, cpus_per_worker=args.cpus_per_worker, progress=False)
        t = time.perf_counter() - t0
        same = same_bytes(work / "local", folder)
        st = steady_rate(folder, w, args.shard_size, n)
        res[f"ray_{w}"] = {"seconds": t, "images": n, "images_per_second": n / t,
                           "steady_images_per_second": st, "same_bytes_as_local": same}
        rows.append([f"Ray, {w} worker(s)", n, t, n / t, t_local / t, st, st / s_local,
                     "yes" if same else "NO"])

    load_mid = os.getloadavg()
    if args.blurring_top:
        res["blurring"], brows = blurring_runs(args, work, worker_counts)
    per_image = t_local / n
    res["load_average_before"], res["load_average_after"] = load_before, os.getloadavg()
    res["load_average_after_explain_dataset"] = load_mid
    md = (f"`unsure explain-dataset` on `{args.run}` ({data}, {n} images), methods {args.methods}, "
          f"targets {', '.join(targets)}, shard size {args.shard_size}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} torch thread(s) per process, Ray actors with "
          f"{args.cpus_per_worker} logical CPU each.\n\n"
          + markdown_table(["engine", "images", "wall s (start-up included)", "images / s",
                            "speed-up vs local", "steady images / s", "steady speed-up",
                            "same bytes as local"], rows, ".3g")
          + "\nSteady: images finished after every worker's first shard, over the time to the "
            "last shard (from the shard files' times), so start-up is left out.\n"
          + f"\nRay start-up: `ray.init` of a local instance {t_init:.1f} s, `ray.shutdown` "
          f"{t_down:.1f} s; one shard of {args.shard_size} images: local {t_one_local:.1f} s, Ray "
          f"(1 worker, start-up included) {t_one_ray:.1f} s, overhead {t_one_ray - t_one_local:.1f} s. "
          f"Local cost per image (start-up included): {per_image * 1000:.1f} ms. Load average "
          f"(1, 5, 15 min) before: {', '.join(f'{v:.1f}' for v in load_before)}, after: "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores.\n")
    if args.blurring_top:
        md += (f"\n`unsure bench blurring` on the same run: methods {args.blurring_methods}, the "
               f"{args.blurring_top} most uncertain test images, substitutes {args.blurring_replacements}, "
               f"sigmas {args.blurring_sigmas or 'the spec grid (100)'}, chunk size {args.blurring_chunk_size}.\n\n"
               + markdown_table(["engine", "images", "work items", "wall s (start-up included)", "images / s",
                                 "speed-up vs local", "items' compute s", "same values as local"], brows, ".3g")
               + "\nItems' compute: attribution + test seconds summed over the items (from the JSON); "
                 "wall minus that is start-up, scheduling and transfer.\n")
    config = vars(args) | {"data": data}
    (out / "scale.json").write_text(json.dumps({"results": res, "config": config,
                                                "environment": environment()}, indent=2) + "\n")
    (out / "scale.md").write_text(md)
    shutil.rmtree(work, ignore_errors=True)
    print(md)


if __name__ == "__main__":
    main()
