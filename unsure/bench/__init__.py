"""``unsure bench``: benchmarks registered in ``BENCHES``."""
from .base import BENCHES, Bench, common_arguments, environment, markdown_table, output_dir, write_outputs

__all__ = ["BENCHES", "Bench", "common_arguments", "environment", "markdown_table", "output_dir", "write_outputs"]
from . import blurring as _blurring  # noqa: F401,E402
from . import speed as _speed  # noqa: F401,E402
