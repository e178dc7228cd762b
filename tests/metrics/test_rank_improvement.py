import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from unsure.errors import UnsureError
from unsure.metrics import rank_improvement
from unsure.metrics.rank_improvement import patch_positions


def test_rank_improvement_of_an_intensity_map_against_a_hand_count():
    """The map is the image itself: an inverted dark patch becomes the brightest region."""
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.rand(2, 1, 8, 8, dtype=torch.float64, generator=g)
    res = rank_improvement(lambda z, gen: z[:, 0], x, x[:, 0], positions=3, patch=2,
                           generator=torch.Generator().manual_seed(4))
    corners = patch_positions(8, 8, 3, 2, torch.Generator().manual_seed(4))
    for b in range(2):
        gains, tops = [], []
        for r, c in corners.tolist():
            img = x[b, 0].numpy().copy()
            r0 = rankdata(-img.ravel())  # 1 = largest
            img[r:r + 2, c:c + 2] = 1 - img[r:r + 2, c:c + 2]
            r1 = rankdata(-img.ravel())
            idx = [(r + i) * 8 + c + j for i in range(2) for j in range(2)]
            gains.append(np.mean([(r0[k] - r1[k]) / r0[k] for k in idx]))
            tops.append(np.mean([r1[k] for k in idx]) <= 7)  # ceil(0.1 * 64)
        assert res["rank-improvement"][b].item() == pytest.approx(np.mean(gains), rel=1e-12)
        assert res["top-rank-share"][b].item() == pytest.approx(np.mean(tops))
        assert res["top-rank-share"][b].item() == 1.0  # the 4 inverted pixels hold ranks 1..4


def test_bad_options():
    x = torch.rand(1, 1, 4, 4)
    with pytest.raises(UnsureError, match="patch"):
        rank_improvement(lambda z, g: z[:, 0], x, x[:, 0], patch=5)
    with pytest.raises(UnsureError, match="strategy"):
        rank_improvement(lambda z, g: z[:, 0], x, x[:, 0], positions=1, strategy="nope")
