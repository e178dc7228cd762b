"""``--batch-size auto`` / ``batch_size="auto"``: images per attribution chunk from a memory budget.

One image is run through every member of the draw with forward hooks that add up the bytes of
every module's output: the activations a backward pass keeps. An attribution chunk of ``b``
images holds about ``OVERHEAD x`` that per image (the activations, their gradients, the method's
own copies of the input: paths, noise, references), so ``b = budget / (OVERHEAD x per image)``,
clamped to ``[1, MAX_AUTO]``.

Budget (**decision**): on an accelerator half of its free memory; on the CPU ``CPU_BUDGET``
(1 GiB), which keeps the 2-core machines this project runs on out of swap while leaving room
for the rest of the process.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .errors import UnsureError

AUTO = "auto"
CPU_BUDGET = 1 << 30  # bytes
OVERHEAD = 4  # activations + their gradients + the method's copies, per image
MAX_AUTO = 256


def budget(device: torch.device) -> int:
    """Bytes an attribution chunk may use on ``device``."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free // 2)
    return CPU_BUDGET


@torch.no_grad()
def bytes_per_image(draw, x: Tensor) -> int:
    """Bytes of every module output (and the input) for one image through every member."""
    total = [x[:1].numel() * x.element_size()]

    def hook(_m, _inp, out):
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, Tensor):
                total[0] += t.numel() * t.element_size()

    # leaves only, each once: a module reached from several roots (a Laplace draw's members hold
    # the shared trunk) would otherwise count its output once per root on every call
    leaves = {id(m): m for root in draw.modules for m in root.modules()
              if isinstance(m, nn.Module) and not list(m.children())}
    handles = []
    try:
        for m in leaves.values():
            handles.append(m.register_forward_hook(hook))
        draw(x[:1])
    finally:
        for h in handles:
            h.remove()
    return max(total[0], 1)


def auto_batch_size(draw, x: Tensor) -> int:
    """Images per chunk for attributing ``x [B,C,H,W]`` under ``draw`` (module docstring)."""
    per = OVERHEAD * bytes_per_image(draw, x)
    return int(max(1, min(MAX_AUTO, len(x), budget(x.device) // per)))


def resolve_batch_size(value, draw, x: Tensor) -> int | None:
    """``"auto"`` -> :func:`auto_batch_size`; a positive int or ``None`` (all at once) as it is."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return auto_batch_size(draw, x)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UnsureError(f"batch_size must be a positive int or 'auto', got {value!r}")
    return value


def parse_batch_size(text: str):
    """The ``--batch-size`` flag: ``auto`` or a positive int."""
    if str(text).strip().lower() == AUTO:
        return AUTO
    try:
        v = int(text)
    except ValueError:
        raise UnsureError(f"--batch-size must be a positive integer or 'auto', got {text!r}") from None
    if v < 1:
        raise UnsureError(f"--batch-size must be >= 1 or 'auto', got {v}")
    return v
