"""``unsure bench blurring --engine local|ray`` (and ``bench all``): where the blurring test's work
items (:mod:`unsure.bench.blurring_items`, one per method x image chunk) run.

``--engine ray`` sends the items through Ray Data ``map_batches`` to a pool of
:class:`BlurringActor` actors (:func:`unsure.engine.map_actors`), each of which loads the posterior
once from the bench's ``--run`` / ``--model`` (absolute paths: on a multi-node cluster the run
folder or model file must be on storage every node reads) and makes the same frozen draw from the
seed. The images travel with the items; the driver joins the outputs as the local engine does, so
both give the same JSON (timings aside). ``--chunk-size`` sets the items: it changes the values
of the seeded parts (:func:`unsure.bench.blurring_items.item_seed`), the engine does not.
"""
from __future__ import annotations

import argparse
import pickle

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attribution.spec import MethodSpec
from ..engine import Engine, add_engine_arguments, import_ray, map_actors
from ..errors import UnsureError
from .blurring_items import BlurringWorker, assemble, check_measure_nonzero, chunks, describe_replacements, plan, run_local


def add_blurring_engine_arguments(p: argparse.ArgumentParser) -> None:
    """The engine flags plus ``--chunk-size``."""
    add_engine_arguments(p, "method x image chunk")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="images per work item (default: all selected images in one item per method); "
                        "changes the seeded draws, not the engine")


def source_of(args: argparse.Namespace, data: str) -> dict:
    """``--run`` / ``--model`` / ``--weights`` with absolute paths, for actors that may run in
    another folder or on another node (:func:`unsure.user_model.portable_source`), and the data."""
    from ..user_model import portable_source

    return {**portable_source(args), "data": data}


class BlurringActor:
    """A Ray Data actor: the posterior loaded once into a :class:`BlurringWorker`; an item per row."""

    def __init__(self, source: dict, device: str, threads: int, settings: dict):
        from ..run import resolve_device
        from ..user_model import posterior_from_args

        torch.set_num_threads(int(threads))
        post = posterior_from_args(argparse.Namespace(**source), resolve_device(device))
        self.worker = BlurringWorker(post, [MethodSpec(**s) for s in settings.pop("methods")], **settings)

    def __call__(self, batch: dict) -> dict:
        outs = [pickle.dumps(self.worker.run(int(m), int(c), int(n), torch.from_numpy(np.asarray(x, dtype=np.float32))))
                for m, c, n, x in zip(batch["m"], batch["c"], batch["n_chunks"], batch["x"])]
        return {"m": np.asarray(batch["m"], dtype=np.int64), "c": np.asarray(batch["c"], dtype=np.int64),
                "out": np.array(outs, dtype=object)}


def run_ray(x: torch.Tensor, settings: dict, source: dict, device: str, engine: Engine,
            chunk_size: int | None, progress: bool = True) -> dict:
    """Every item on Ray; returns :func:`assemble`'s dict."""
    import_ray()
    specs = settings["methods"]
    items = plan(len(specs), len(x), chunk_size)
    n_chunks = len(chunks(len(x), chunk_size))
    xs = x.detach().cpu()
    rows = [{"m": m, "c": c, "n_chunks": n_chunks, "x": xs[a:b].numpy()} for m, c, a, b in items]
    kwargs = {"source": source, "device": device, "threads": torch.get_num_threads(),
              "settings": {**settings, "methods": [vars(s) for s in specs]}}
    outs = {}
    with tqdm(total=len(rows), desc=f"methods x chunks on Ray ({engine.workers} workers)",
              disable=not progress) as bar:
        for row in map_actors(rows, BlurringActor, kwargs, engine):
            outs[(int(row["m"]), int(row["c"]))] = pickle.loads(row["out"])
            bar.update(1)
    return assemble(outs, specs, settings["fractions"], len(x),
                    describe_replacements(settings["replacements"], settings["sigmas"], settings["seed"]))


def run_panel(posterior, x: torch.Tensor, methods: list[MethodSpec], fractions: list[float], replacements,
              seed: int = 0, batch_size: int = 25, progress: bool = True, sigmas=None,
              target: str = "epistemic", draw=None, engine: Engine | None = None,
              source: dict | None = None, chunk_size: int | None = None, keep_maps: bool = False) -> dict:
    """The blurring test of every method under every substitute, on ``engine`` (default local):
    ``{"by_replacement", "curves", "seconds", "test_seconds", "replacements"}`` (see
    ``bench.panel.panel_benchmark``; with ``keep_maps`` also ``"maps"``, and no ``fractions``
    makes only the maps). ``--engine ray`` needs ``source`` (:func:`source_of`)."""
    engine = engine or Engine()
    draw = draw if draw is not None else posterior.draw(torch.Generator().manual_seed(seed))
    check_measure_nonzero(draw, x, target)
    settings = {"methods": list(methods), "fractions": list(fractions), "replacements": replacements,
                "seed": seed, "batch_size": batch_size, "sigmas": sigmas, "target": target,
                "keep_maps": keep_maps}
    if engine.name == "local":
        return run_local(BlurringWorker(posterior, draw=draw, **settings), x, chunk_size, progress)
    if source is None:
        raise UnsureError("--engine ray needs the posterior's --run or --model (the actors load it)")
    return run_ray(x, settings, source, str(posterior.device), engine, chunk_size, progress)
