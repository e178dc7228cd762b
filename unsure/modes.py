"""Leave the caller's modules as they were: drawing a posterior puts its networks in eval mode,
and a user's own ``nn.Module`` must come back in the train/eval mode it had."""
from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn


@contextlib.contextmanager
def keep_modes(module: nn.Module) -> Iterator[None]:
    """Restore ``training`` of ``module`` and every submodule on exit (also after an exception)."""
    saved = [(m, m.training) for m in module.modules()]
    try:
        yield
    finally:
        for m, training in saved:
            if m.training is not training:  # nn.Module.__setattr__ is slow: set what changed only
                m.training = training
