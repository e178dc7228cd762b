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


TRAINING_FIELDS = ("aleatoric_share", "train_share", "train_weights", "partner", "control_share", "control",
                   "ambiguity")  # the rest only shapes the test images
LEGACY = {"partner": "any", "control_share": 0.0, "control": "same", "ambiguity": "pair"}  # what data generated before a field existed was made with
TRAIN_LABELS = ("soft", "drawn")  # train on the blends' label distributions, or one drawn label per image


def training_fields(design: dict) -> dict:
    return {k: json.loads(json.dumps(design.get(k, LEGACY.get(k)))) for k in TRAINING_FIELDS}


def training_data(out: Path, base: str, design: Design, seed: int, soft_labels: bool = False) -> Path:
    """``OUT/data/train.npz`` for ``base`` and ``design``: made once, reused while the settings
    that shape the training data (:data:`TRAINING_FIELDS`, base, seed) match. ``soft_labels``:
    the file must hold the label distributions (files of older versions do not)."""
    folder = out / "data"
    meta_path, npz = folder / "train.json", folder / "train.npz"
    if meta_path.is_file() and npz.is_file():
        meta = json.loads(meta_path.read_text())
        want = {"base": base, "seed": seed, **training_fields(asdict(design))}
        if {"base": meta.get("base"), "seed": meta.get("seed"), **training_fields(meta.get("design", {}))} != want:
            raise UnsureError(f"{folder} holds generated data of other settings ({meta.get('base')}, seed "
                              f"{meta.get('seed')}); use another --out")
        if soft_labels and not meta.get("label_distributions"):
            raise UnsureError(f"{folder} holds generated data without label distributions (an older "
                              "version); use another --out, or --labels drawn")
        return npz
    return write_training_data(base, folder, design, seed)


def run_name(posterior: str, members: int, epochs: int, seed: int, soft_labels: bool = False) -> str:
    return (f"{posterior}" + (f"-m{members}" if posterior == "ensemble" else "") + f"-e{epochs}-s{seed}"
            + ("-soft" if soft_labels else ""))


def cached_posterior(out: Path, base: str, design: Design, posterior: str, members: int, epochs: int,
                     seed: int, device: str, progress: bool, milestones: tuple[int, ...] = (),
                  soft_labels: bool = False):
    """The posterior trained on the generated data of ``base`` (trained now or reused), on the
    label distributions with ``soft_labels``; returns ``(posterior, run directory)``."""
    from ..training.run import train_run

    npz = training_data(out, base, design, seed, soft_labels)
    run_dir = out / "runs" / run_name(posterior, members, epochs, seed, soft_labels)
    if not (run_dir / "config.json").is_file():
        train_run(data=f"npz:{npz}", out=str(run_dir), posterior=posterior, members=members, epochs=epochs,
                  milestones=milestones, seed=seed, device="cpu", progress=progress, soft_labels=soft_labels,
                  command=f"unsure bench groundtruth (cached training of {posterior}"
                          + (", label distributions)" if soft_labels else ")"))
    return load_run(run_dir, device), run_dir


def generated_meta(run_config: dict) -> dict | None:
    """The ``train.json`` of the generated data a run was trained on (next to its
    ``npz:.../train.npz``), else ``None``."""
    data = str(run_config.get("data", ""))
    if data.startswith("npz:"):
        meta = Path(data[4:]).with_name("train.json")
        if meta.is_file():
            return json.loads(meta.read_text())
    return None


def base_of_run(run_config: dict) -> str | None:
    """The base data set of a run trained on generated data, else ``None``."""
    return (generated_meta(run_config) or {}).get("base")


def trained_design(run_config: dict) -> dict | None:
    """The training fields (:data:`TRAINING_FIELDS`) of the generated data a run was trained on,
    else ``None``: the test causes must be planted as the training ones were (the blend partners
    above all)."""
    meta = generated_meta(run_config)
    return None if meta is None else training_fields(meta.get("design", {}))


def partner_for(run_config: dict, asked: str | None) -> str:
    """The blend partner mode for test causes on a run: the one it was trained with; ``asked``
    (``--partner``) must agree with it, and is the choice for runs not trained on generated data."""
    trained = (trained_design(run_config) or {}).get("partner")
    if asked is not None and trained is not None and asked != trained:
        raise UnsureError(f"the run was trained on blends with partner {trained!r}; test causes with "
                          f"--partner {asked!r} would not be the ambiguity it learned")
    return asked or trained or Design.partner
