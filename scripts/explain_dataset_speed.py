"""``unsure explain-dataset`` (local engine) against the bare ``unsure.attribute`` floor, in images/s
for all three targets (total, aleatoric, epistemic) of the default method on the same images.

    # digits, the trained 5-member ensemble
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python scripts/explain_dataset_speed.py \
        --run /work/runs/digits-ens5 --data digits --split train --n 1024
    # 3x32x32: five random-weight paper CNNs on colour images
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python scripts/explain_dataset_speed.py \
        --model scripts/random_ensemble.py:paper_cnns_rgb32 --data colour:digits --split train --n 512

Bare: ``unsure.attribute(posterior, x[i:i+b], target=t)`` over the images in batches of
``--batches`` (each target in turn). explain-dataset: the whole command in this process
(``unsure.cli.main.main``: identity hashing, manifest, data loading, posterior loading, the shards,
their map and parquet files, the table) into a fresh folder, with ``--batch-size auto`` (its
default) and each of ``--ed-batches``. Rates are the best of ``--repeats``.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import unsure
from unsure.cli.main import main as cli
from unsure.data import load

TARGETS = ("total", "aleatoric", "epistemic")


def posterior(a):
    if a.run:
        from unsure.run import load_run
        return load_run(a.run)
    from unsure.user_model import model_posterior
    return model_posterior(str(Path(a.model.split(":")[0]).resolve()) + ":" + a.model.split(":", 1)[1])


def bare(post, x, b: int) -> float:
    t = time.perf_counter()
    for i in range(0, len(x), b):
        for target in TARGETS:
            unsure.attribute(post, x[i:i + b], target=target)
    return len(x) / (time.perf_counter() - t)


def explain_dataset(a, batch: str) -> float:
    src = ["--run", a.run] if a.run else \
        ["--model", str(Path(a.model.split(":")[0]).resolve()) + ":" + a.model.split(":", 1)[1]]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        rc = cli(["explain-dataset", *src, "--data", a.data, "--split", a.split, "--n", str(a.n),
                  "--target", "all", "--out", str(Path(tmp) / "out"), "--device", "cpu",
                  "--batch-size", batch, "--no-progress"])
        dt = time.perf_counter() - t
    assert rc == 0
    return a.n / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run")
    ap.add_argument("--model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="train")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--batches", default="16,32,64,128,256")
    ap.add_argument("--ed-batches", default="auto")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    post = posterior(a)
    x = load(a.data, a.split, limit=a.n).x
    a.n = len(x)
    print(f"{a.run or a.model} on {a.data} {a.split}: {a.n} images {list(x.shape[1:])}, "
          f"torch threads {torch.get_num_threads()}")
    bare(post, x[:32], 16)  # warm-up
    best = 0.0
    for b in map(int, a.batches.split(",")):
        r = max(bare(post, x, b) for _ in range(a.repeats))
        best = max(best, r)
        print(f"bare unsure.attribute, batch {b}: {r:.1f} images/s", flush=True)
    for batch in a.ed_batches.split(","):
        r = max(explain_dataset(a, batch) for _ in range(a.repeats))
        print(f"unsure explain-dataset --batch-size {batch}: {r:.1f} images/s = "
              f"{100 * r / best:.0f}% of the best bare rate ({best:.1f})", flush=True)


if __name__ == "__main__":
    main()
