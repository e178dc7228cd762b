import pytest
import torch

from unsure.training.run import train_run


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance with 2 logical CPUs for one test module, shut down after it."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'unsure[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny two-member digits run (1 epoch), trained once per test module."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    train_run(data="digits", members=2, epochs=1, out=str(out), progress=False)
    return out
