"""``unsure bench groundtruth`` without ``--run``: generate the training data into ``--out`` and
train the posterior there, or reuse what an earlier call left (same settings only).

Layout: ``OUT/data/train.npz`` + ``train.json`` (:func:`unsure.groundtruth.store.write_training_data`),
``OUT/runs/POSTERIOR[-mMEMBERS]-eEPOCHS-sSEED/`` (a run directory of ``unsure train``).
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..errors import UnsureError
from ..run import load_run
from .generate import Design
from .store import write_training_data


TRAINING_FIELDS = ("aleatoric_share", "train_share", "train_weights")  # the rest only shapes the test images


def training_fields(design: dict) -> dict:
    return {k: json.loads(json.dumps(design.get(k))) for k in TRAINING_FIELDS}


def training_data(out: Path, base: str, design: Design, seed: int) -> Path:
    """``OUT/data/train.npz`` for ``base`` and ``design``: made once, reused while the settings
    that shape the training data (:data:`TRAINING_FIELDS`, base, seed) match."""
    folder = out / "data"
    meta_path, npz = folder / "train.json", folder / "train.npz"
    if meta_path.is_file() and npz.is_file():
        meta = json.loads(meta_path.read_text())
        want = {"base": base, "seed": seed, **training_fields(asdict(design))}
        if {"base": meta.get("base"), "seed": meta.get("seed"), **training_fields(meta.get("design", {}))} != want:
            raise UnsureError(f"{folder} holds generated data of other settings ({meta.get('base')}, seed "
                              f"{meta.get('seed')}); use another --out")
        return npz
    return write_training_data(base, folder, design, seed)


def run_name(posterior: str, members: int, epochs: int, seed: int) -> str:
    return f"{posterior}" + (f"-m{members}" if posterior == "ensemble" else "") + f"-e{epochs}-s{seed}"


def cached_posterior(out: Path, base: str, design: Design, posterior: str, members: int, epochs: int,
                     seed: int, device: str, progress: bool, milestones: tuple[int, ...] = ()):
    """The posterior trained on the generated data of ``base`` (trained now or reused); returns
    ``(posterior, run directory)``."""
    from ..training.run import train_run

    npz = training_data(out, base, design, seed)
    run_dir = out / "runs" / run_name(posterior, members, epochs, seed)
    if not (run_dir / "config.json").is_file():
        train_run(data=f"npz:{npz}", out=str(run_dir), posterior=posterior, members=members, epochs=epochs,
                  milestones=milestones, seed=seed, device="cpu", progress=progress,
                  command=f"unsure bench groundtruth (cached training of {posterior})")
    return load_run(run_dir, device), run_dir


def base_of_run(run_config: dict) -> str | None:
    """The base data set of a run trained on generated data (``npz:.../train.npz`` next to a
    ``train.json``), else ``None``."""
    data = str(run_config.get("data", ""))
    if data.startswith("npz:"):
        meta = Path(data[4:]).with_name("train.json")
        if meta.is_file():
            return json.loads(meta.read_text()).get("base")
    return None
