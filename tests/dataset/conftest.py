"""A tiny two-member digits run shared by the explain-dataset tests (local and Ray engines)."""
import pytest

from unsure.training.run import train_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    train_run(data="digits", members=2, epochs=1, out=str(out), progress=False)
    return out
