"""``unsure train``: train a posterior on a data spec and save a run directory."""
from __future__ import annotations

import inspect
import time
from dataclasses import asdict
from typing import Any

import torch

from ..data import load
from ..data.labels import MAX_CLASSES
from ..data.load import test_split
from ..data.soft import label_distribution
from ..errors import UnsureError
from ..evaluate import predictive_metrics
from ..identity import data_identity, resolve_spec
from ..posteriors import POSTERIORS
from ..run import model_factory, save_run
from ..outputs import check_out_dir
from .checks import check_arch_fits, check_data, check_settings
from .classifier import TrainConfig
from .fitters import FITTERS

# posteriors whose training loss needs one class per image (soft_labels refuses them)
NO_SOFT_LABELS = {"evidential": "its loss needs one class per image"}


def train_run(*, data: str, out: str, posterior: str = "ensemble", arch: str = "paper-cnn",
              members: int = 5, samples: int | None = None, epochs: int = 10, batch_size: int = 128,
              lr: float = 1e-3, optimizer: str = "adam", milestones: tuple[int, ...] = (),
              limit: int | None = None, subset_seed: int | None = None, seed: int = 0,
              device: str = "cpu", force: bool = False, progress: bool = True,
              extra: dict[str, Any] | None = None, max_classes: int = MAX_CLASSES,
              command: str | None = None, soft_labels: bool = False) -> dict[str, Any]:
    """Train, evaluate on the test split (accuracy, NLL, ECE) and save; returns the saved config.

    ``command``: the command line recorded in ``config.json`` (the CLI passes it); the settings
    (every argument but ``out``, ``force``, ``progress``) are recorded as ``settings``.

    Everything that can be checked is checked first (output folder, settings, data shapes,
    labels; :mod:`unsure.training.checks`), so a bad input fails in one line before training.

    ``soft_labels``: train on the data's label distributions (``npz:FILE`` arrays ``p_train``,
    :mod:`unsure.data.soft`) instead of its labels; validation and test metrics still use the
    labels. Recorded in ``settings`` only when on, so older runs keep their settings.

    A file or folder data spec is recorded resolved (``npz:/abs/x.npz``) with the hash of its
    content, taken before the data is read (``identity.data``, :mod:`unsure.identity`).
    """
    data = resolve_spec(data)  # absolute: explain --run finds the same file from any folder
    settings = {"data": data, "posterior": posterior, "arch": arch, "members": members, "samples": samples,
                "epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer,
                "milestones": list(milestones), "limit": limit, "subset_seed": subset_seed, "seed": seed,
                "device": device, "extra": dict(extra or {}), "max_classes": max_classes}
    if soft_labels:
        settings["soft_labels"] = True
    check_out_dir(out, "run", replace=force)
    check_settings(epochs=epochs, batch_size=batch_size, lr=lr, members=members, samples=samples,
                   limit=limit)
    POSTERIORS.get(posterior)  # unknown names fail here, with the list of posteriors
    fit_fn = FITTERS.get(posterior)
    data_id = data_identity(data)  # before reading: a file replaced during training is caught later
    tr = load(data, "train", seed=seed, limit=limit, subset_seed=subset_seed)
    va = load(data, "val", seed=seed)
    te = load(data, "test")
    C, H, W = tr.x.shape[1:]
    if H != W:
        raise UnsureError(f"{data} images are {H}x{W}; the built-in architectures need square images")
    K = check_data(data, tr, va, te, max_classes)
    targets = tr.y
    if soft_labels:
        if posterior in NO_SOFT_LABELS:
            raise UnsureError(f"posterior {posterior!r} cannot train on label distributions: {NO_SOFT_LABELS[posterior]}")
        targets = label_distribution(data, "train", seed=seed, limit=limit, subset_seed=subset_seed)
        if targets.shape != (len(tr.y), K):
            raise UnsureError(f"{data}: the label distributions are {tuple(targets.shape)}, the training "
                              f"split needs [{len(tr.y)}, {K}] (one row per image, one column per class)")
    arch_options = {"in_channels": C, "num_classes": K, "image_size": H}
    make_model = model_factory(arch, arch_options)
    check_arch_fits(arch, make_model, tr.x)  # 1x1 images: one line, not a traceback mid-training
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                      milestones=tuple(milestones), device=device, progress=progress)
    options: dict[str, Any] = dict(extra or {})
    params = inspect.signature(fit_fn).parameters
    for key in options:
        if key not in params:
            raise UnsureError(f"posterior {posterior!r} takes no option {key!r}")
    if "members" in params:
        options["members"] = members
    if samples is not None:
        if "samples" not in params:
            raise UnsureError(f"posterior {posterior!r} takes no --samples")
        options["samples"] = samples
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    post = fit_fn(make_model, tr.x, targets, cfg, x_val=va.x, y_val=va.y, generator=gen, **options)
    seconds = time.perf_counter() - t0
    post.to(device)
    metrics = predictive_metrics(post, te.x, te.y, generator=torch.Generator().manual_seed(seed),
                                 progress=progress)
    config = {
        "data": data, "arch": arch, "arch_options": arch_options, "seed": seed, "limit": limit,
        "subset_seed": subset_seed,
        "train": asdict(cfg) | {"options": options}, "train_seconds": seconds,
        "train_info": getattr(post, "train_info", {}), "metrics": metrics,
        "splits": {"train": len(tr.y), "val": len(va.y), "test": len(te.y)},
        "test_split": test_split(data), "threads": torch.get_num_threads(),
        "command": command, "settings": settings, "identity": {"data": data_id},
    }
    save_run(out, post.cpu(), config, overwrite=force)
    return config
