import pytest
import torch

from unsure.errors import UnsureError
from unsure.metrics import feature_flipping
from unsure.metrics.feature_flipping import flip_counts

from _toykit import disagreeing_ensemble, region_weights


def test_counts_follow_the_authors_interval():
    assert flip_counts(11).tolist() == list(range(12))
    assert flip_counts(784).tolist() == list(range(0, 781, 5))
    assert flip_counts(10, 3).tolist() == [0, 3, 6, 9]


def test_the_map_of_the_uncertain_region_flips_the_uncertainty_away_first():
    """Only the 2x2 top-left pixels carry the ensemble's disagreement; zero infill there ends it."""
    post = disagreeing_ensemble(region_weights(4, 4, slice(0, 2), slice(0, 2)))
    x = 0.5 + 0.5 * torch.rand(1, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    good = torch.zeros(1, 4, 4, dtype=torch.float64)
    good[0, :2, :2] = torch.tensor([[4.0, 3.0], [2.0, 1.0]])
    good[0, 2:, :] = -torch.arange(8, dtype=torch.float64).reshape(2, 4)
    bad = -good
    rg = feature_flipping(post, x, good, "epistemic", replacement="zero", interval=1)
    rb = feature_flipping(post, x, bad, "epistemic", replacement="zero", interval=1)
    assert rg.curves[0, 0].item() == 1.0 and rg.curves[0, 4].item() == 0.0  # gone after the 4 pixels
    assert rb.curves[0, 12].item() == 1.0  # the 12 other pixels change nothing
    assert rg.auc.item() < rb.auc.item()


def test_constant_map_fails():
    post = disagreeing_ensemble(region_weights(4, 4, slice(0, 2), slice(0, 2)))
    with pytest.raises(UnsureError, match="constant"):
        feature_flipping(post, torch.rand(1, 1, 4, 4, dtype=torch.float64), torch.ones(1, 4, 4))
