"""Unit-test fixtures: the metrics Powertools collected, cleared around every test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from moderator.observability import metrics

MetricTotals = Callable[[], dict[str, float]]


@pytest.fixture(autouse=True)
def metric_totals() -> Iterator[MetricTotals]:
    """A function giving metric name -> sum of the values added so far in this test."""
    metrics.clear_metrics()

    def totals() -> dict[str, float]:
        return {name: float(sum(entry["Value"])) for name, entry in metrics.metric_set.items()}

    yield totals
    metrics.clear_metrics()
