import pytest
import torch

from unsure.errors import UnsureError
from unsure.measures import ClassScore, epistemic, resolve_target


def test_resolve_names_classes_and_callables():
    z = torch.randn(3, 5, 7, dtype=torch.float64)
    assert resolve_target("epistemic") is epistemic
    p = torch.softmax(z, -1).mean(0)
    torch.testing.assert_close(resolve_target(2)(z), p[:, 2])
    torch.testing.assert_close(resolve_target("class:pred")(z), p.max(-1).values)
    torch.testing.assert_close(resolve_target("class-logit:4")(z), z.mean(0)[:, 4])
    f = lambda t: t.sum((0, 2))  # noqa: E731
    assert resolve_target(f) is f


def test_bad_targets():
    with pytest.raises(UnsureError, match="unknown measure"):
        resolve_target("epistemc")
    with pytest.raises(UnsureError, match="out of range"):
        ClassScore(9)(torch.randn(2, 3, 4))
    with pytest.raises(UnsureError):
        resolve_target("class:x")
