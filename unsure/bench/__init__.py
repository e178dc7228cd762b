"""``unsure bench``: benchmarks registered in ``BENCHES``."""
from .base import BENCHES, Bench, common_arguments, environment, markdown_table, output_dir, write_outputs

__all__ = ["BENCHES", "Bench", "common_arguments", "environment", "markdown_table", "output_dir", "write_outputs"]
from . import blurring as _blurring  # noqa: F401,E402
from . import speed as _speed  # noqa: F401,E402
from . import anomaly as _anomaly  # noqa: F401,E402
from . import insertion as _insertion  # noqa: F401,E402
from . import sic_aic as _sic_aic  # noqa: F401,E402
from . import localization as _localization  # noqa: F401,E402
from . import ablation as _ablation  # noqa: F401,E402
from . import sanity as _sanity  # noqa: F401,E402
from . import rotation as _rotation  # noqa: F401,E402
from . import all as _all  # noqa: F401,E402
from . import mitigation as _mitigation  # noqa: F401,E402
from . import large_k as _large_k  # noqa: F401,E402
from . import ood as _ood  # noqa: F401,E402
from . import groundtruth as _groundtruth  # noqa: F401,E402
from . import properties as _properties  # noqa: F401,E402
