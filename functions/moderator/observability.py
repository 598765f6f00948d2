"""Logs, metrics and traces in one place: Powertools Logger, Metrics and Tracer.

One structured log line per object, one metric per outcome. Names here are the contract the
template's alarms and dashboards rely on.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from .model import Action, Outcome, SkipReason

SERVICE = "imagga-s3-moderator"
NAMESPACE = "ImaggaS3Moderator"

#: What the function calls through: AWS with boto3 (botocore underneath), Imagga with requests.
TRACED_MODULES = ("botocore", "requests")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
Handler = TypeVar("Handler", bound=Callable[..., Any])

# An invocation that recorded no metric (S3's test event, say) has nothing to publish, and Powertools
# says so in a two-line UserWarning on stderr: the only output that would not be a JSON line.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


@functools.cache
def tracer() -> Tracer:
    """Built at the first invocation, patching only what the function calls through.

    Left to itself the Tracer patches every library X-Ray knows (sqlite3, httplib, database
    drivers...), importing each one it finds: time a cold start pays for nothing.
    """
    return Tracer(service=SERVICE, patch_modules=TRACED_MODULES)


def traced(handler: Handler) -> Handler:
    """`Tracer.capture_lambda_handler`, with the tracer created at the first invocation, not at import."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        capture = tracer().capture_lambda_handler(handler, capture_response=False)
        return capture(event, context, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


_state = {"metrics": True}


def quiet_for_command_line(verbose: bool = False) -> None:
    """Operator commands print their own summaries: no CloudWatch metrics, only warnings logged."""
    _state["metrics"] = False
    logger.setLevel("INFO" if verbose else "WARNING")


#: Two messages of a batch are moderated at once (delivery.py): Powertools' metric set is a plain dict.
_metrics_lock = threading.Lock()


def _add(name: str, unit: MetricUnit, value: float) -> None:
    if _state["metrics"]:
        with _metrics_lock:
            metrics.add_metric(name=name, unit=unit, value=value)


STATUS_METRIC = "Status{}"
QUARANTINED = "Quarantined"
SKIPPED = "Skipped"
#: Objects an event named that were no longer there (every reading of the key tried): the template alarms on it.
SKIPPED_GONE = "SkippedGone"
IMAGGA_LATENCY = "ImaggaLatency"
IMAGGA_CALLS = "ImaggaCalls"
IMAGGA_RETRIES = "ImaggaRetries"
MONTHLY_LIMIT_REMAINING = "ImaggaMonthlyLimitRemaining"
TAGS_DROPPED = "TagsDropped"
ERROR_METRIC = "Error{}"
PUBLISH_FAILED = "PublishFailed"
#: Content memory: uploads decided from Imagga's remembered scores (no call), and uploads found to be
#: an image a human rejected (the same bytes or a near-copy; no call either).
SCORES_REUSED = "ScoresReused"
MATCHED_REJECTED = "MatchedRejected"
#: An overwrite landed during a scan on an unversioned bucket and received the verdict (taken off again).
VERDICT_ON_NEWER_UPLOAD = "VerdictOnNewerUpload"
#: Time an Imagga call waited for a slot of the shared budget, by priority (ImaggaSlotWaitLive / ...Backfill).
IMAGGA_SLOT_WAIT = "ImaggaSlotWait{}"
#: Backfill tasks put back to wait: the quota is below the reserve (the template alarms on it) ...
BACKFILL_PAUSED = "BackfillPaused"
#: ... or live uploads held every Imagga slot.
BACKFILL_DEFERRED = "BackfillDeferred"
#: Backfill tasks sent to the backfill queue (S3 Batch Operations tasks).
BACKFILL_QUEUED = "BackfillQueued"


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("_", "-").split("-"))


def record_outcome(outcome: Outcome, *, count_verdict: bool = True) -> None:
    """The per-object log line and its metrics.

    `count_verdict=False` reports a quarantine completed on a redelivery: the verdict was counted
    when it was reached.
    """
    fields = outcome.to_dict()
    if outcome.action is Action.SKIPPED:
        logger.info("object skipped", extra=fields)
        _add(SKIPPED, MetricUnit.Count, 1)
        if outcome.skip_reason is SkipReason.GONE:
            _add(SKIPPED_GONE, MetricUnit.Count, 1)
        return
    logger.info("object moderated", extra=fields)
    if not count_verdict:
        if outcome.action is Action.QUARANTINED:
            _add(QUARANTINED, MetricUnit.Count, 1)
        return
    if outcome.status:
        _add(STATUS_METRIC.format(_camel(outcome.status.lower())), MetricUnit.Count, 1)
    if outcome.action is Action.QUARANTINED:
        _add(QUARANTINED, MetricUnit.Count, 1)
    if outcome.tags_dropped:
        logger.warning("tag budget exceeded: some moderation tags were not written", extra=fields)
        _add(TAGS_DROPPED, MetricUnit.Count, outcome.tags_dropped)
    if outcome.reused_from:
        _add(SCORES_REUSED, MetricUnit.Count, 1)
    if outcome.matched:
        _add(MATCHED_REJECTED, MetricUnit.Count, 1)
    if outcome.imagga_attempts:
        _add(IMAGGA_CALLS, MetricUnit.Count, outcome.imagga_attempts)
        _add(IMAGGA_RETRIES, MetricUnit.Count, outcome.imagga_retries)
    if outcome.imagga_latency_ms is not None:
        _add(IMAGGA_LATENCY, MetricUnit.Milliseconds, outcome.imagga_latency_ms)
    if outcome.monthly_limit_remaining is not None:
        _add(MONTHLY_LIMIT_REMAINING, MetricUnit.Count, outcome.monthly_limit_remaining)


def error_metric(kind: str) -> str:
    """The metric counting one error kind: `Error` + the kind in CamelCase (`ErrorQuarantineIncomplete`)."""
    return ERROR_METRIC.format(_camel(kind))


def record_error(kind: str) -> None:
    _add(error_metric(kind), MetricUnit.Count, 1)


def record_publish_failure() -> None:
    _add(PUBLISH_FAILED, MetricUnit.Count, 1)


def record_verdict_on_newer_upload() -> None:
    _add(VERDICT_ON_NEWER_UPLOAD, MetricUnit.Count, 1)


def record_slot_wait(priority: str, waited_ms: float) -> None:
    _add(IMAGGA_SLOT_WAIT.format(_camel(priority)), MetricUnit.Milliseconds, round(waited_ms, 1))


def record_backfill_deferred(*, paused: bool) -> None:
    _add(BACKFILL_PAUSED if paused else BACKFILL_DEFERRED, MetricUnit.Count, 1)


def record_backfill_queued(count: int) -> None:
    _add(BACKFILL_QUEUED, MetricUnit.Count, count)
