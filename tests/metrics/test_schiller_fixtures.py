"""unsure's property metrics against Schiller et al.'s own functions, run outside the project on a
shared case by ``scripts/peers/schiller_fixtures.py`` (the command is in its docstring); the fixtures
are ``tests/fixtures/schiller/{image,tabular}.npz``. Where the definitions differ, the test checks the
documented difference instead."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from unsure import FunctionPosterior
from unsure.errors import UnsureError
from unsure.metrics import complexity, effective_complexity, feature_flipping
from unsure.metrics._maps import cosine, spearman
from unsure.metrics.feature_flipping import TrainingMedian
from unsure.metrics.input_stability import EPS, _relative
from unsure.metrics.rank_improvement import rank_scores

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "schiller"
KINDS = ["image", "tabular"]


def load(kind):
    return {k: torch.from_numpy(v) for k, v in np.load(FIX / f"{kind}.npz").items()}


def as_images(a, kind):
    """Their ``[B,1,28,28]`` / ``[B,1,11]`` -> ``[B,C,H,W]`` (a tabular row is a 1 x 11 image)."""
    return a.reshape(a.shape[0], 1, 28, 28) if kind == "image" else a.reshape(a.shape[0], 1, 1, 11)


@pytest.mark.parametrize("kind", KINDS)
def test_complexity_equals_theirs_on_nonnegative_maps(kind):
    f = load(kind)
    torch.testing.assert_close(complexity(f["maps"]), f["complexity"].double())
    torch.testing.assert_close(effective_complexity(f["maps"]), f["effective_complexity"].double())


@pytest.mark.parametrize("kind", KINDS)
def test_complexity_of_signed_maps_is_finite_where_theirs_is_not(kind):
    f = load(kind)
    assert torch.isinf(f["complexity_signed"]).all() or torch.isnan(f["complexity_signed"]).all()
    c = complexity(f["signed"])
    assert torch.isfinite(c).all() and (c <= math.log(f["signed"].shape[1])).all()


@pytest.mark.parametrize("kind", KINDS)
def test_feature_flipping_equals_theirs_with_the_median_infill(kind):
    f = load(kind)
    W1, b1, W2, b2, masks = f["W1"], f["b1"], f["W2"], f["b2"], f["masks"]

    def logits(x):  # the fixture's MC-dropout net with its 6 frozen masks, [B,C,H,W] -> [S,B,K]
        h = torch.relu(x.reshape(len(x), -1).double() @ W1 + b1)
        return (h[None] * masks[:, None]) @ W2 + b2

    post = FunctionPosterior(logits, samples=masks.shape[0])
    x = as_images(f["x"], kind).double()
    maps = f["maps"].reshape(x.shape[0], *x.shape[2:])
    infill = TrainingMedian(value=f["median"].reshape(x.shape[1:]).double())
    res = feature_flipping(post, x, maps, "epistemic", replacement=infill)
    # their objective sees the images cast to float32 (``.float()``): agreement to float32 precision
    torch.testing.assert_close(res.curves, f["flip_curves"] / f["flip_curves"][:, :1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(res.auc, f["flip_auc"].double(), rtol=1e-5, atol=1e-6)


def test_training_median_is_numpys():
    f = load("image")
    med = TrainingMedian.of(as_images(f["x_train"], "image")).value
    torch.testing.assert_close(med.reshape(-1), f["median"].reshape(-1))


@pytest.mark.parametrize("kind", KINDS)
def test_similarities_equal_theirs(kind):
    f = load(kind)
    for ours, theirs in ((spearman, "conveyance_spearman"), (cosine, "conveyance_cosine"),
                         (spearman, "repeat_spearman"), (cosine, "repeat_cosine")):
        torch.testing.assert_close(ours(f["maps"], f["other"]), f[theirs].double())


@pytest.mark.parametrize("kind", KINDS)
def test_input_stability_ratio_equals_theirs(kind):
    f = load(kind)
    num = _relative(f["maps"], f["other"])
    den = _relative(f["x"].flatten(1), f["x_noisy"].flatten(1)).clamp_min(EPS)
    torch.testing.assert_close(num / den, f["ris_ratio"].double())


@pytest.mark.parametrize("kind", KINDS)
def test_rank_improvement_equals_theirs_and_fixes_the_threshold(kind):
    f = load(kind)
    maps, new = f["maps"], f["ood_new_maps"].permute(1, 0, 2)  # [B,P,D] -> [P,B,D]
    D = maps.shape[1]
    if kind == "image":
        mask = torch.zeros(len(f["ood_corners"]), 28, 28, dtype=torch.bool)
        for p, (r, c) in enumerate(f["ood_corners"].tolist()):
            mask[p, r:r + 4, c:c + 4] = True
        mask = mask.flatten(1)
    else:
        mask = torch.eye(D, dtype=torch.bool)
    s = rank_scores(maps, new * 100 / new.sum(-1, keepdim=True), mask)
    r1 = f["ood_mean_rank"].T  # [P,B]
    # equal per-position ranks and rank changes
    torch.testing.assert_close(s["rank-improvement"], f["ood_rank_change"].double().mean(1))
    torch.testing.assert_close(s["mean_rank"], r1.double().mean(0))
    assert math.isclose(float(s["rank-improvement"].mean()), float(f["ood_avg_rank_change"]))
    # the top share: ours counts ranks <= ceil(0.1 D); theirs stops one short (and truncates means)
    top = math.ceil(0.1 * D)
    ours = float((r1 <= top).double().mean())
    theirs = float((r1.long() <= top - 1).double().mean())
    assert math.isclose(float(s["top-rank-share"].mean()), ours)
    assert math.isclose(float(f["ood_accuracy"]), theirs)


def test_all_zero_map_fails_in_one_line():
    with pytest.raises(UnsureError, match="all zero"):
        complexity(torch.zeros(2, 3, 3))
