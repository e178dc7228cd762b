"""Metrics for attribution maps, re-exported flat (``unsure.metrics.blurring_test``)."""
from .blurring import BlurringResult, blurring_test  # noqa: F401
