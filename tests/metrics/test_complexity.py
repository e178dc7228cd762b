import math

import pytest
import torch
from scipy.stats import entropy

from unsure.errors import UnsureError
from unsure.metrics import complexity, effective_complexity
from unsure.metrics.base import metric_info


def test_one_hot_has_complexity_zero_and_uniform_log_d():
    maps = torch.zeros(2, 5, 7)
    maps[0, 2, 3] = 4.0
    maps[1] = 0.3
    c = complexity(maps)
    assert c[0].item() == 0.0
    assert math.isclose(c[1].item(), math.log(35), rel_tol=1e-12)
    e = effective_complexity(maps)
    assert e.tolist() == [1.0, 0.0]  # a uniform share 1/D is not above eps = 1/D


def test_complexity_is_scipys_entropy_of_the_absolute_shares_and_channels_count():
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(3, 2, 4, 6, generator=g, dtype=torch.float64)  # [B,C,H,W], signed
    p = maps.abs().flatten(1)
    ref = torch.tensor([entropy(r.numpy()) for r in p], dtype=torch.float64)
    torch.testing.assert_close(complexity(maps), ref)
    share = p / p.sum(1, keepdim=True)
    torch.testing.assert_close(effective_complexity(maps, eps=0.02), (share > 0.02).sum(1).double())


def test_directions_and_errors():
    assert not metric_info("complexity").higher_is_better
    assert not metric_info("effective-complexity").higher_is_better
    with pytest.raises(UnsureError, match="NaN"):
        complexity(torch.full((1, 3, 3), float("nan")))
    with pytest.raises(UnsureError, match="shape"):
        complexity(torch.ones(3))
