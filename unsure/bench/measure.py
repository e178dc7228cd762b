"""Measuring one call: the peak tensor memory it allocates and a device synchronisation around
timers (shared by ``bench speed`` and its grid, :mod:`.speed` and :mod:`.speed_grid`)."""
from __future__ import annotations

import contextlib
import os
import sys

import torch


@contextlib.contextmanager
def _quiet_fd2():
    """Send file descriptor 2 to /dev/null for the block (C++ log lines Python cannot filter)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_bytes(fn, x: torch.Tensor, device: torch.device) -> float:
    """Peak tensor memory that ``fn(x)`` allocates above what was live before, in bytes.

    CUDA: the caching allocator's peak. CPU: the PyTorch profiler's memory events (each op's
    own allocations at its start, each free at its time), summed in time order; the maximum of
    that running total is the peak. (The process's resident set cannot show it: freed blocks stay
    mapped and are reused, so a peak inside already-touched pages read as 0.) Kernel scratch
    space outside the PyTorch allocator is not counted.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn(x)
        torch.cuda.synchronize(device)
        return float(torch.cuda.max_memory_allocated(device) - base)
    from torch.profiler import ProfilerActivity, profile

    prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
    with _quiet_fd2():  # the profiler's C++ layer logs its start and stop to fd 2
        prof.__enter__()
    try:
        fn(x)
    finally:
        with _quiet_fd2():
            prof.__exit__(None, None, None)
    live = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        live += e.self_cpu_memory_usage
        peak = max(peak, live)
    return float(peak)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
