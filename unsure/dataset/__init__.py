"""Explain whole data sets: ``unsure explain-dataset`` (engines ``local`` and ``ray``)."""
from .job import COLUMNS, Job, map_key
from .local import run_local

__all__ = ["COLUMNS", "Job", "map_key", "run_local", "read_map"]


def read_map(out, row, key: str):
    """The ``[H,W]`` map of one table row (a mapping with ``map_file`` and ``map_row``) for ``key``
    (``"METHOD|TARGET"``) from an explain-dataset folder ``out``."""
    from pathlib import Path

    from safetensors.numpy import load_file

    return load_file(str(Path(out) / row["map_file"]))[key][int(row["map_row"])]
