"""Numeric command-line options checked in one place, right after parsing and before any work.

Each rule names an option by its ``argparse`` destination; a command that lacks the option is
not affected. ``ZERO_MEANS_ALL`` lists the options where 0 is documented as "all".

Counts that multiply the work (``--members``, ``--epochs``, ``--steps``, a method's
``ig:steps=N`` or ``rise:masks=N``, ...) are capped at ``MAX_COUNT``, so a typo cannot start a
job that runs for ever; every command's ``--max-count N`` raises the cap. Seeds lie in
``[0, 2**63 - 1]`` (torch and NumPy take them; derived seeds stay in range).
"""
from __future__ import annotations

import argparse
import math

from ..errors import UnsureError

AT_LEAST_ONE = ("epochs", "batch_size", "members", "samples", "top", "n", "n_images", "repeats", "max_count",
                "latent", "limit", "masks")
NON_NEGATIVE = ("pool",)
POSITIVE_FLOAT = ("lr",)
ZERO_MEANS_ALL = {("demo", "limit")}
SEEDS = ("seed", "subset_seed")
MAX_SEED = 2**63 - 1
MAX_COUNT = 10_000
CAPPED = ("members", "samples", "steps", "repeats", "seeds", "epochs", "annealing_epochs", "workers")
# integer options of methods and replacements (``NAME:key=N``) that multiply the work per image
METHOD_COUNTS = ("steps", "max_steps", "samples", "draws", "n_draws", "masks", "n_starts", "max_iter")


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _floats(text: str, dest: str) -> list[float]:
    try:
        vals = [float(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise UnsureError(f"{_flag(dest)} must be comma-separated numbers, got {text!r}") from None
    if not vals:
        raise UnsureError(f"{_flag(dest)} is empty")
    return vals


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_counts(args: argparse.Namespace) -> None:
    """Seeds in range; counts and method counts at most ``--max-count``."""
    cap = getattr(args, "max_count", None) or MAX_COUNT
    for dest in SEEDS:
        v = getattr(args, dest, None)
        if _int(v) and not 0 <= v <= MAX_SEED:
            raise UnsureError(f"{_flag(dest)} must lie in [0, 2**63 - 1], got {v}")
    for dest in CAPPED:
        v = getattr(args, dest, None)
        if _int(v) and v > cap:
            raise UnsureError(f"{_flag(dest)} {v} is above the cap of {cap} (--max-count N raises it)")
    for dest in ("methods", "replacements"):  # NAME:key=value specs: their counts and seeds
        text = getattr(args, dest, None)
        if isinstance(text, str):
            _check_spec_counts(text, cap)


def _check_spec_counts(text: str, cap: int) -> None:
    from ..attribution.spec import parse_method

    for item in (t.strip() for t in text.split(",") if t.strip()):
        try:
            spec = parse_method(item)
        except UnsureError:
            continue  # the command reports a malformed spec itself
        for k, v in spec.options.items():
            if k in METHOD_COUNTS and _int(v) and v > cap:
                raise UnsureError(f"{spec.name}:{k}={v} is above the cap of {cap} (--max-count N raises it)")
            if k == "seed" and _int(v) and not 0 <= v <= MAX_SEED:
                raise UnsureError(f"{spec.name}:seed={v} must lie in [0, 2**63 - 1]")


def check_args(args: argparse.Namespace) -> None:
    """Raise :class:`UnsureError` (one line) for a numeric option outside its range."""
    check_counts(args)
    cmd = getattr(args, "command", None)
    for dest in AT_LEAST_ONE:
        v = getattr(args, dest, None)
        if v is None or isinstance(v, bool) or not isinstance(v, int):
            continue
        low = 0 if (cmd, dest) in ZERO_MEANS_ALL else 1
        if v < low:
            raise UnsureError(f"{_flag(dest)} must be >= {low}, got {v}")
    for dest in NON_NEGATIVE:
        v = getattr(args, dest, None)
        if isinstance(v, int) and not isinstance(v, bool) and v < 0:
            raise UnsureError(f"{_flag(dest)} must be >= 0 (0: all), got {v}")
    for dest in POSITIVE_FLOAT:
        v = getattr(args, dest, None)
        if isinstance(v, float) and not (math.isfinite(v) and v > 0):
            raise UnsureError(f"{_flag(dest)} must be a finite number > 0, got {v}")
    sig = getattr(args, "sigmas", None)
    if isinstance(sig, str):
        bad = [s for s in _floats(sig, "sigmas") if not (math.isfinite(s) and s > 0)]
        if bad:
            raise UnsureError(f"--sigmas must all be finite and > 0 (a blur of width 0 is the image "
                              f"itself), got {bad[0]:g}")
    fr = getattr(args, "fractions", None)
    if isinstance(fr, str):
        bad = [f for f in _floats(fr, "fractions") if not (math.isfinite(f) and 0 < f <= 1)]
        if bad:
            raise UnsureError(f"--fractions must all lie in (0, 1], got {bad[0]:g}")
