"""The one check of ``schema_version`` in every JSON file unsure loads (run and VAE configs,
explain-dataset manifests, bench results it merges).

A file from a newer unsure (a version above :data:`unsure.outputs.SCHEMA_VERSION`) may use keys
with meanings this code does not know, and a version that is not a whole number (``"one"``,
``1.5``, ``true``) is not one unsure wrote: both are refused in one line. A file without the key
was written before versions were recorded and loads as before.
"""
from __future__ import annotations

import os

from .errors import UnsureError
from .outputs import SCHEMA_VERSION


def check_schema(payload: object, where: str | os.PathLike) -> None:
    """Raise :class:`UnsureError` when ``payload["schema_version"]`` is not an integer in
    ``[1, SCHEMA_VERSION]`` (a missing key is accepted)."""
    if not isinstance(payload, dict) or "schema_version" not in payload:
        return
    v = payload["schema_version"]
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise UnsureError(f"{where}: schema_version must be a whole number >= 1, got {v!r}")
    if v > SCHEMA_VERSION:
        raise UnsureError(f"{where} has schema_version {v}, newer than this unsure reads "
                          f"({SCHEMA_VERSION}); upgrade unsure to load it")
