"""Logs, metrics and traces in one place: Powertools Logger, Metrics and Tracer.

One structured log line per object, one metric per outcome. Names here are the contract the
template's alarms and dashboards rely on.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from .model import Action, Outcome

SERVICE = "imagga-s3-moderator"
NAMESPACE = "ImaggaS3Moderator"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

STATUS_METRIC = "Status{}"
QUARANTINED = "Quarantined"
SKIPPED = "Skipped"
IMAGGA_LATENCY = "ImaggaLatency"
IMAGGA_CALLS = "ImaggaCalls"
IMAGGA_RETRIES = "ImaggaRetries"
MONTHLY_LIMIT_REMAINING = "ImaggaMonthlyLimitRemaining"
TAGS_DROPPED = "TagsDropped"
ERROR_METRIC = "Error{}"
PUBLISH_FAILED = "PublishFailed"


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("_", "-").split("-"))


def record_outcome(outcome: Outcome) -> None:
    """The per-object log line and its metrics."""
    fields = outcome.to_dict()
    if outcome.action is Action.SKIPPED:
        logger.info("object skipped", extra=fields)
        metrics.add_metric(name=SKIPPED, unit=MetricUnit.Count, value=1)
        return
    logger.info("object moderated", extra=fields)
    if outcome.status:
        metrics.add_metric(name=STATUS_METRIC.format(_camel(outcome.status.lower())), unit=MetricUnit.Count, value=1)
    if outcome.action is Action.QUARANTINED:
        metrics.add_metric(name=QUARANTINED, unit=MetricUnit.Count, value=1)
    if outcome.tags_dropped:
        logger.warning("tag budget exceeded: some moderation tags were not written", extra=fields)
        metrics.add_metric(name=TAGS_DROPPED, unit=MetricUnit.Count, value=outcome.tags_dropped)
    if outcome.imagga_attempts:
        metrics.add_metric(name=IMAGGA_CALLS, unit=MetricUnit.Count, value=outcome.imagga_attempts)
        metrics.add_metric(name=IMAGGA_RETRIES, unit=MetricUnit.Count, value=outcome.imagga_retries)
    if outcome.imagga_latency_ms is not None:
        metrics.add_metric(name=IMAGGA_LATENCY, unit=MetricUnit.Milliseconds, value=outcome.imagga_latency_ms)
    if outcome.monthly_limit_remaining is not None:
        metrics.add_metric(name=MONTHLY_LIMIT_REMAINING, unit=MetricUnit.Count, value=outcome.monthly_limit_remaining)


def record_error(kind: str) -> None:
    metrics.add_metric(name=ERROR_METRIC.format(_camel(kind)), unit=MetricUnit.Count, value=1)


def record_publish_failure() -> None:
    metrics.add_metric(name=PUBLISH_FAILED, unit=MetricUnit.Count, value=1)
