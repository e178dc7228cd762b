"""Metric metadata: every registered value has a direction and a scope."""
from __future__ import annotations

import pytest

from unsure.errors import UnsureError
from unsure.metrics import METRICS, MetricInfo, metric_info
from unsure.metrics.base import header


def test_every_metric_has_direction_and_scope():
    names = METRICS.names()
    assert {"ada", "insertion-auc", "deletion-auc", "sic-auc", "aic-auc", "loc-auc", "loc-f1", "loc-mae",
            "topk-ablation-auc", "centre-ablation-auc", "randomisation-spearman", "randomisation-ssim",
            "cam-dice", "cam-iou"} <= set(names)
    for e in METRICS:
        info = e.obj
        assert isinstance(info, MetricInfo) and isinstance(info.higher_is_better, bool)
        assert info.applies_to in ("uncertainty", "class", "both") and info.summary
        assert info.function is None or callable(info.function)


def test_sorting_and_arrows():
    ins, dele = metric_info("insertion-auc"), metric_info("deletion-auc")
    assert ins.arrow == "↑" and dele.arrow == "↓"
    assert ins.best([0.2, 0.7]) == 0.7 and dele.best([0.2, 0.7]) == 0.2
    assert sorted([0.2, 0.9, 0.5], key=dele.sort_key)[0] == 0.2
    assert sorted([0.2, 0.9, 0.5], key=ins.sort_key)[0] == 0.9
    assert header("loc-mae") == "loc-mae ↓"
    with pytest.raises(UnsureError, match="unknown metric"):
        metric_info("nope")
    with pytest.raises(UnsureError, match="applies_to"):
        MetricInfo("x", True, "pixels", "bad")
