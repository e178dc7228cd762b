"""Benchmarks behind ``unsure bench NAME``: each registers a :class:`Bench` in ``BENCHES``.

A bench adds its CLI arguments, runs, and writes its outputs (JSON, a markdown table, PNG plots)
with :func:`write_outputs`; a bench that returns a :class:`BenchResult` writes it with
:func:`write_result`. Outputs record the seeds and settings used. Benches that set ``suite_run``
take part in ``unsure bench all``, which loops over the registry.
"""
from __future__ import annotations

import abc
import argparse
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch

from ..file_group import FileGroup, file_group
from ..flags import out_arguments
from ..registry import Registry

BENCHES: Registry = Registry("benchmark")


@dataclass
class BenchResult:
    """What a bench returns: JSON-able ``results``, a ``markdown`` table, the ``config`` it ran
    with, ``plots`` (file name -> function drawing it to a path) and ``extra`` top-level JSON keys
    next to ``results`` (e.g. blurring's ``by_replacement`` and ``panel``)."""

    results: dict[str, Any]
    markdown: str
    config: dict[str, Any]
    plots: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # more top-level JSON keys (blurring's panel)


class Bench(abc.ABC):
    """One benchmark. ``main(args)`` is called by the CLI.

    A bench of the evaluation suite also sets ``suite_run`` (``staticmethod`` of its
    ``NAME_benchmark(posterior, data, methods, opts) -> BenchResult``), ``suite_target``
    ("uncertainty": it explains ``bench all --target``; "class": the predicted class),
    ``suite_n`` (its default image count), ``suite_methods`` (methods it always adds),
    ``suite_options`` (``bench all`` options it takes as keyword arguments, e.g. blurring's
    ``fractions`` and ``sigmas``) and ``suite_order`` (its place in the ``bench all`` report).
    """

    name: ClassVar[str] = ""
    suite_run: ClassVar[Callable[..., BenchResult] | None] = None
    suite_target: ClassVar[str] = "uncertainty"
    suite_n: ClassVar[int] = 100
    suite_methods: ClassVar[str] = ""
    suite_options: ClassVar[tuple[str, ...]] = ()
    suite_order: ClassVar[int] = 0

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        """Add the bench's own arguments; call ``common_arguments(p)`` for the shared ones."""
        common_arguments(p)

    @abc.abstractmethod
    def main(self, args: argparse.Namespace) -> int:
        """Run, write outputs, print a short summary; return the exit code."""


def common_arguments(p: argparse.ArgumentParser, run: bool = True, data: bool = True,
                     run_required: bool = True) -> None:
    """The flags every bench shares: ``--run``/``--model`` (required unless ``run_required`` is
    false), ``--data``, ``--device``, ``--seed``, ``--out``/``--force``, ``--json``, ``--no-progress``."""
    if run:
        from ..user_model import add_source_arguments

        add_source_arguments(p, required=run_required)
    if data:
        p.add_argument("--data", default=None, help="data spec (default: the run's data; required with --model)")
    p.add_argument("--device", default="auto", help="auto (cuda when available, default), cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0, help="seeds the posterior draw, the methods and the metric")
    out_arguments(p, "output folder for JSON, markdown and PNG (default: bench-out/NAME); other "
                     "benches' files in it are kept",
                  force_help="replace this bench's results already in --out (only a folder unsure wrote)")
    p.add_argument("--json", default=None, help="also write the results JSON to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def environment() -> dict[str, Any]:
    """Where a result was measured (recorded in every JSON)."""
    env = {"torch": torch.__version__, "python": platform.python_version(),
           "machine": platform.machine(), "threads": torch.get_num_threads(),
           "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def output_dir(args: argparse.Namespace, name: str) -> Path:
    """The bench's output folder (checked: not a file, writable; other files in it are kept)."""
    from ..outputs import check_fill_dir, mark

    out = check_fill_dir(args.out or f"bench-out/{name}")
    out.mkdir(parents=True, exist_ok=True)
    mark(out, "bench")  # at once: a run interrupted half-way leaves a folder a rerun may fill
    return out


def source_identity(settings: dict) -> dict[str, Any] | None:
    """The identity (:mod:`unsure.identity`) of a bench's ``--run DIR`` / ``--weights FILE`` and
    ``--data`` (the run's data when not given), from its parsed options; ``None`` when a file it
    names can no longer be read (the result is written after the work)."""
    from ..checksum import weights_digest
    from ..errors import UnsureError
    from ..identity import data_identity, identity
    from ..run import WEIGHTS, read_config

    run, weights, data = settings.get("run"), settings.get("weights"), settings.get("data")
    try:
        if run:
            data = data or read_config(run).get("data")
            weights = Path(run) / WEIGHTS
        digest = weights_digest(weights) if weights else None
        return identity(digest, data_identity(data) if isinstance(data, str) else None, settings)
    except UnsureError:
        return None


def bench_identity(invocation: dict[str, Any] | None) -> dict[str, Any]:
    """``{"identity": ...}`` for a bench result written with the command's ``invocation``
    (:func:`source_identity` of its options); ``{}`` from the Python API."""
    return {"identity": source_identity(invocation.get("settings") or {})} if invocation else {}


def write_outputs(out: Path, name: str, results: dict[str, Any], config: dict[str, Any],
                  markdown: str | None = None, json_path: str | None = None,
                  extra: dict[str, Any] | None = None, invocation: dict[str, Any] | None = None,
                  group: FileGroup | None = None) -> Path:
    """Write ``NAME.json`` = ``{"schema_version", "command", "settings", "results": ...,
    "config": ..., "environment": ...}`` (plus the top-level keys of ``extra``; ``invocation``:
    ``unsure.flags.invocation(args)``, the command line and parsed options) and ``NAME.md``.

    The files appear together or not at all (:mod:`unsure.file_group`); ``group``: add them to
    a caller's group instead (plots written with them)."""
    from ..outputs import mark, stamped

    if group is None:
        with file_group() as g:
            return write_outputs(out, name, results, config, markdown, json_path, extra, invocation, g)
    payload = stamped({"results": results, **(extra or {}), "config": config, "environment": environment(),
                       **bench_identity(invocation)}, **(invocation or {}))
    text = json.dumps(payload, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    out.mkdir(parents=True, exist_ok=True)
    mark(out, "bench")
    path = group.write(out / f"{name}.json", text + "\n")
    if json_path:
        group.write(json_path, text + "\n")
    if markdown is not None:
        group.write(out / f"{name}.md", markdown)
    return path


def write_result(folder: Path, name: str, result: BenchResult, json_path: str | None = None,
                 invocation: dict[str, Any] | None = None) -> list[str]:
    """Write ``NAME.json``, ``NAME.md`` and the plots of ``result`` into ``folder``, all at once
    (an interrupted write leaves none of them); returns the plot file names."""
    folder.mkdir(parents=True, exist_ok=True)
    with file_group() as g:
        write_outputs(folder, name, result.results, result.config, result.markdown, json_path,
                      result.extra, invocation, g)
        for fname, draw in result.plots.items():
            draw(g.path(folder / fname))
    return list(result.plots)


def suite_benches() -> list[tuple[str, "Bench"]]:
    """``(name, bench class)`` of the registered benches that take part in ``bench all``, in
    report order."""
    entries = [(e.name, e.obj) for e in BENCHES if getattr(e.obj, "suite_run", None) is not None]
    return sorted(entries, key=lambda e: e[1].suite_order)


def markdown_table(header: list[str], rows: list[list[Any]], floatfmt: str = ".3f") -> str:
    def fmt(v):
        return format(v, floatfmt) if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
