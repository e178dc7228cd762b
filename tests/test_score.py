"""``unsure.score`` on maps made by Captum and by hand (issue 25)."""
import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

import unsure
from unsure.errors import UnsureError
from unsure.metrics import complexity
from unsure.metrics.base import metric_info
from unsure.score import SCORERS, ScoreOptions


def _post():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 8 * 8, 12),
                        nn.ReLU(), nn.Dropout(0.3), nn.Linear(12, 4))
    return unsure.MCDropout(net, samples=6)


def _x(B=3):
    return torch.rand(B, 1, 8, 8, generator=torch.Generator().manual_seed(1))


FAST = ScoreOptions(steps=8, repeats=1, ris_n=2, positions=2, patch=2)


def test_scores_captum_integrated_gradients_maps_of_the_target_function():
    post, x = _post(), _x()
    f = unsure.target_function(post, "epistemic", generator=torch.Generator().manual_seed(0))
    ig = IntegratedGradients(f).attribute(x, baselines=torch.zeros_like(x), n_steps=8)  # [B,1,H,W]
    s = unsure.score(post, x, ig, "epistemic", options=FAST)
    expected = {v for name, (_, needs, values) in SCORERS.items() if needs not in ("method", "masks") for v in values}
    assert set(s.per_image) == expected  # conveyance included: the posterior is MC dropout
    for k, v in s.per_image.items():
        assert v.shape == (3,) and torch.isfinite(v).all(), k
        metric_info(k)  # every value is a registered metric with a direction
    torch.testing.assert_close(s.per_image["complexity"], complexity(ig[:, 0]))
    assert s.summary["murr"] == pytest.approx(float(s.per_image["murr"].mean()))


def test_scores_hand_made_numpy_maps_with_the_method_metrics():
    post, x = _post(), _x(2)
    maps = np.random.default_rng(0).random((2, 8, 8))
    s = unsure.score(post, x, maps, metrics="complexity,repeatability,rank-improvement",
                     method="inputgrad", options=FAST)
    assert set(s.per_image) == {"complexity", "effective-complexity", "repeatability-cosine",
                                "repeatability-spearman", "rank-improvement", "top-rank-share"}
    # a deterministic method on a fixed ensemble repeats exactly; fresh dropout masks move it
    torch.manual_seed(2)
    ens = unsure.DeepEnsemble([nn.Sequential(nn.Flatten(), nn.Linear(64, 4)) for _ in range(3)])
    for p, exact in ((ens, True), (post, False)):
        own = unsure.attribute(p, x, method="inputgrad", target="epistemic",
                               generator=torch.Generator().manual_seed(0)).maps
        r = unsure.score(p, x, own, metrics=["repeatability"], method="inputgrad", options=FAST)
        rho = r.per_image["repeatability-spearman"]
        assert (rho.tolist() == pytest.approx([1.0, 1.0])) if exact else (rho < 0.99).all()


@pytest.mark.parametrize("maps,match", [
    (torch.rand(3, 8, 7), "shape"),
    (torch.full((3, 8, 8), float("nan")), "NaN"),
    (torch.ones(3, 8, 8), "constant"),
])
def test_one_line_errors(maps, match):
    with pytest.raises(UnsureError, match=match) as e:
        unsure.score(_post(), _x(), maps, metrics="flipping", options=FAST)
    assert "\n" not in str(e.value)


def test_method_metrics_need_a_method_and_conveyance_needs_dropout():
    post, x = _post(), _x(1)
    with pytest.raises(UnsureError, match="method="):
        unsure.score(post, x, torch.rand(1, 8, 8), metrics="repeatability")
    ens = unsure.DeepEnsemble([nn.Sequential(nn.Flatten(), nn.Linear(64, 4))])
    with pytest.raises(UnsureError, match="MC-dropout"):
        unsure.score(ens, x, torch.rand(1, 8, 8), metrics="conveyance")
    with pytest.raises(UnsureError, match="unknown metric"):
        unsure.score(ens, x, torch.rand(1, 8, 8), metrics="nope")


def test_ground_truth_scores_of_known_causes():
    """A map equal to the cause's mask localises it perfectly, its negation not at all (METHODS.md,
    ground-truth localisation); the scores come only with masks=."""
    post, x = _post(), _x(4)
    masks = torch.zeros(4, 8, 8, dtype=torch.bool)
    for i in range(4):
        masks[i, i:i + 3, 2 * i:2 * i + 2] = True  # a 3x2 cause at a different place per image
    s = unsure.score(post, x, masks.float(), metrics="groundtruth", masks=masks)
    for k in ("gt-rank", "gt-mass", "gt-auroc", "gt-pointing"):
        assert s.per_image[k].tolist() == [1.0] * 4, k
    neg = unsure.score(post, x, -masks.float(), metrics="groundtruth", masks=masks)
    assert neg.per_image["gt-rank"].tolist() == [0.0] * 4 and neg.per_image["gt-auroc"].tolist() == [0.0] * 4
    assert neg.per_image["gt-mass"].tolist() == [0.0] * 4  # no positive mass at all
    default = unsure.score(post, x, masks.float(), options=FAST, masks=masks)
    assert default.per_image["gt-rank"].tolist() == [1.0] * 4  # in the default set when masks are given
    with pytest.raises(UnsureError, match="pass masks="):
        unsure.score(post, x, masks.float(), metrics="groundtruth")
    with pytest.raises(UnsureError, match="bool array"):
        unsure.score(post, x, masks.float(), metrics="groundtruth", masks=masks.float())


def test_random_maps_score_the_mask_share_on_ground_truth():
    """A random map's top-|G| pixels are a uniform draw: gt-rank ~ Hypergeometric(D, |G|, |G|) / |G|
    with mean |G| / D, and gt-auroc has mean 1/2; the means over 400 images lie within 5 standard
    errors of those closed forms."""
    B, H = 400, 8
    g = torch.Generator().manual_seed(5)
    masks = torch.zeros(B, H, H, dtype=torch.bool)
    k = torch.randint(4, 25, (B,), generator=g)
    for i in range(B):
        masks[i].view(-1)[torch.randperm(H * H, generator=g)[:k[i]]] = True
    maps = torch.rand(B, H, H, generator=g)
    s = unsure.score(_post(), torch.rand(B, 1, H, H, generator=g), maps, metrics="groundtruth", masks=masks)
    D, kf = H * H, k.double()
    share = kf / D
    var_rank = share * (1 - share) * (D - kf) / (D - 1) / kf  # hypergeometric variance of hits / k
    se = float(var_rank.sum().sqrt()) / B
    assert abs(float(s.per_image["gt-rank"].mean()) - float(share.mean())) < 5 * se
    var_auc = (D + 1) / (12 * kf * (D - kf))  # Mann-Whitney U / (k (D-k)) under the null
    assert abs(float(s.per_image["gt-auroc"].mean()) - 0.5) < 5 * float(var_auc.sum().sqrt()) / B
