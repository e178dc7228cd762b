"""``--run DIR`` or ``--model SPEC [--weights FILE]``: where a command gets its posterior (the
helpers live in :mod:`unsure.user_model`, below the benches that use them too)."""
from __future__ import annotations

from ..user_model import add_source_arguments, posterior_from_args, source_label  # noqa: F401
