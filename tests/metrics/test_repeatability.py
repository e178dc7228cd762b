import pytest
import torch
from scipy.stats import spearmanr

from unsure.errors import UnsureError
from unsure.metrics import repeatability
from unsure.metrics._maps import spearman


def test_a_deterministic_method_repeats_exactly_and_a_reversed_one_scores_minus_one():
    x = torch.rand(3, 1, 4, 5, generator=torch.Generator().manual_seed(0))
    same = repeatability(lambda z, g: z[:, 0] * 2, x, x[:, 0], repeats=2)
    torch.testing.assert_close(same["cosine"], torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(same["spearman"], torch.ones(3, dtype=torch.float64))
    rev = repeatability(lambda z, g: -z[:, 0], x, x[:, 0], repeats=1)
    torch.testing.assert_close(rev["spearman"], -torch.ones(3, dtype=torch.float64))


def test_seeds_move_a_stochastic_method():
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    noisy = lambda z, g: z[:, 0] + torch.randn(z[:, 0].shape, generator=g)  # noqa: E731
    r = repeatability(noisy, x, noisy(x, torch.Generator().manual_seed(5)), repeats=3)
    assert (r["spearman"] < 0.9).all()


def test_spearman_with_ties_is_scipys():
    g = torch.Generator().manual_seed(3)
    a = torch.randint(0, 4, (5, 30), generator=g).double()
    b = torch.randint(0, 4, (5, 30), generator=g).double()
    ref = torch.tensor([spearmanr(a[i], b[i])[0] for i in range(5)], dtype=torch.float64)
    torch.testing.assert_close(spearman(a, b), ref)


def test_bad_repeats():
    with pytest.raises(UnsureError, match="repeats"):
        repeatability(lambda z, g: z[:, 0], torch.rand(1, 1, 2, 2), torch.rand(1, 2, 2), repeats=0)
