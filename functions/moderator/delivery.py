"""How each entry path turns its records into moderations, and failures into the right answer.

- SQS: one message fails alone (partial batch response); on a message's last delivery the
  object is tagged ERROR before the failure, so nothing is left without a status. Messages of
  the backfill queue (backfill tasks) call Imagga at backfill priority; one that must wait (the
  quota is below its reserve, or live uploads hold every slot) is put back in its queue to wait,
  never counted as a failure.
- S3 / SNS / EventBridge delivered directly: every record is tried; any failure raises at the
  end, so Lambda's asynchronous retries and on-failure destination take over.
- S3 Batch Operations: one result per task. With a backfill queue (every deployed stack), each
  task becomes a message there and the task answers at once, so a job's hundreds of concurrent
  invocations never reach Imagga themselves; while backfill work is paused they answer
  TemporaryFailure, saying why. Without one, tasks are moderated in place: TemporaryFailure for
  what a retry may fix, and an object that is no longer there is a skip (Succeeded).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    RESULT_CODE_TYPE,
    S3BatchOperationResponse,
    S3BatchOperationResponseRecord,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import tags
from .assessment import Deadline
from .budget import PAUSE_LOOK_SECONDS, Pause, Priority, calls_as
from .errors import BackfillDeferredError, BudgetStoreError, ModeratorError, ObjectGoneError, TransientError
from .events import (
    BackfillTask,
    BatchInvocation,
    backfill_task,
    backfill_task_body,
    batch_invocation,
    refs_from_message,
    refs_from_payload,
)
from .model import Action, ObjectRef, Outcome, SkipReason, StoredObject
from .observability import (
    logger,
    record_backfill_deferred,
    record_backfill_queued,
    record_error,
    record_outcome,
)
from .pipeline import Moderator

if TYPE_CHECKING:
    from .queues import Queues
    from .wiring import Services

#: SQS messages of one batch handled at once by one instance.
RECORDS_IN_FLIGHT = 2
#: A message can be hidden for at most 12 hours after its receipt: keep a margin.
MAX_HIDE_SECONDS = 11 * 3600
#: Past this age a waiting backfill task is sent again rather than hidden, so the backfill queue's
#: 14-day retention never removes it while backfill work is paused.
RESEND_AFTER_AGE_SECONDS = 10 * 86_400


class RecordsFailedError(ModeratorError):
    """Some objects of a directly delivered event failed; Lambda retries the whole event."""

    kind = "records-failed"


class WaitingError(TransientError):
    """Not a failure: the message was hidden to wait in its queue, so the batch must not delete it."""

    kind = "waiting"


def deadline_of(context: LambdaContext | None) -> Deadline | None:
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return lambda: context.get_remaining_time_in_millis() / 1000.0


def handle_sqs(event: dict[str, Any], context: LambdaContext | None, services: Services) -> dict[str, Any]:
    """Two messages at a time: one is with Imagga while the other is read, downscaled or tagged.

    The moderator lets one Imagga call out at a time (wiring.py), and each call holds a slot of the
    deployment's shared budget (budget.py): live messages at live priority, backfill tasks behind them.
    """
    moderator = services.moderator
    deadline = deadline_of(context)
    max_receive = moderator.settings.max_receive_count

    def handle(record: SQSRecord) -> None:
        receive_count = int(record.attributes.approximate_receive_count or 1)
        logger.thread_safe_append_keys(message_id=record.message_id, receive_count=receive_count)
        last_attempt = receive_count >= max_receive
        try:
            try:
                task = backfill_task(record.body)
                refs = refs_from_message(record.body) if task is None else []
            except ModeratorError as exc:
                logger.error("unknown event shape: message fails alone", extra={"error": str(exc)})
                record_error(exc.kind)
                raise
            if task is not None:
                _backfill(task, record, services, deadline, last_attempt=last_attempt)
                return
            with calls_as(Priority.LIVE):
                _moderate_all(refs, moderator, deadline, last_attempt=last_attempt)
        finally:
            logger.thread_safe_remove_keys(["message_id", "receive_count"])

    in_flight = asyncio.Semaphore(RECORDS_IN_FLIGHT)

    async def record_handler(record: SQSRecord) -> None:
        async with in_flight:
            await asyncio.to_thread(handle, record)

    processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = async_process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def _backfill(
    task: BackfillTask, record: SQSRecord, services: Services, deadline: Deadline | None, *, last_attempt: bool
) -> None:
    """One backfill task: skip what is moderated by now, else moderate at backfill priority; wait in
    the queue when the image needs Imagga and the budget says backfill work waits.

    No look at the pause first: while the quota is below its reserve, the content memory can still
    decide (a human's rejection, remembered scores), and only a task that needs Imagga waits.
    """
    # A rescan asks Imagga afresh even for bytes whose scores the content memory holds.
    moderator = replace(services.moderator, reuse_scores=False) if task.rescan else services.moderator
    logger.thread_safe_append_keys(backfill_source=task.source, backfill_run=task.run)
    try:
        if not task.rescan and _moderated_by_now(moderator, task.ref):
            record_outcome(Outcome(ref=task.ref, action=Action.SKIPPED, skip_reason=SkipReason.ALREADY_MODERATED))
            return
        try:
            with calls_as(Priority.BACKFILL):
                outcome = moderator.moderate(task.ref, deadline, last_attempt=last_attempt)
        except BackfillDeferredError as exc:
            record_backfill_deferred(paused=exc.paused)
            _wait_in_queue(record, services, exc.retry_in, str(exc))
            return
        logger.debug("backfill task done", extra=outcome.to_dict())
    finally:
        logger.thread_safe_remove_keys(["backfill_source", "backfill_run"])


def _moderated_by_now(moderator: Moderator, ref: ObjectRef) -> bool:
    """A task not meant as a rescan finds the object moderated since it was listed (by its own upload event)."""
    try:
        current = moderator.storage.get_tags(StoredObject(ref.bucket, ref.key, ref.version_id, "", 0))
    except ObjectGoneError:
        return False  # the moderation tries the key's other readings and reports a skip
    return tags.STATUS in current


def _wait_in_queue(record: SQSRecord, services: Services, seconds: float, why: str) -> None:
    """Put the message back to wait `seconds`: hidden in place, or as a fresh copy when hiding again
    would bring it to the dead-letter queue or past the queue's retention. Raises WaitingError when
    hidden (the batch must keep it), returns when a copy was sent (the batch deletes the original).
    """
    queues: Queues | None = services.queues
    if queues is None:
        raise WaitingError(f"{why} (no SQS client to put it back with: it comes back after the visibility timeout)")
    url = queues.url_of(record.event_source_arn)
    receive_count = int(record.attributes.approximate_receive_count or 1)
    sent_at = int(record.attributes.sent_timestamp or 0) / 1000.0
    age = time.time() - sent_at if sent_at else 0.0
    # A second past the time asked for: back just after the reset, not just before it.
    wait = max(1, math.ceil(seconds) + 1)
    if receive_count < services.settings.max_receive_count - 1 and age + min(wait, MAX_HIDE_SECONDS) < (
        RESEND_AFTER_AGE_SECONDS
    ):
        hidden = min(wait, MAX_HIDE_SECONDS)
        queues.hide(url, record.receipt_handle, hidden)
        logger.info("backfill task waits in its queue", extra={"why": why, "seconds": hidden})
        raise WaitingError(f"{why}: waits {hidden} s in its queue")
    queues.send(url, [record.body], delay_seconds=wait)
    logger.info(
        "backfill task sent again to wait (a fresh copy: receive count and retention start over)",
        extra={"why": why, "delay_s": min(wait, 900), "receive_count": receive_count},
    )


def handle_notification(event: dict[str, Any], context: LambdaContext | None, services: Services) -> dict[str, Any]:
    moderator = services.moderator
    try:
        refs = refs_from_payload(event)
    except ModeratorError as exc:
        logger.error("unknown event shape", extra={"error": str(exc)})
        record_error(exc.kind)
        raise
    with calls_as(Priority.LIVE):
        outcomes = _moderate_all(refs, moderator, deadline_of(context), last_attempt=False)
    return {"objects": len(outcomes), "outcomes": outcomes}


def handle_batch_operations(event: dict[str, Any], context: LambdaContext | None, services: Services) -> dict[str, Any]:
    """One result per task, in AWS's documented response shape (Powertools' response classes)."""
    try:
        invocation = batch_invocation(event)
    except ModeratorError as exc:
        logger.error("unknown event shape", extra={"error": str(exc)})
        record_error(exc.kind)
        raise
    # A task whose result is missing from the answer fails rather than passing unexamined.
    response = S3BatchOperationResponse(invocation.schema, invocation.invocation_id, "PermanentFailure")
    if services.settings.backfill_queue_url:
        results = _enqueue(invocation, services, services.settings.backfill_queue_url)
    else:
        deadline = deadline_of(context)
        with calls_as(Priority.BACKFILL):
            results = [(t.task_id, *_batch_result(services.moderator, t.ref, deadline)) for t in invocation.tasks]
    for task_id, code, text in results:
        response.add_result(S3BatchOperationResponseRecord(task_id, code, text))
    # Not `response.asdict()`: it insists on exactly one result. S3 sends one task per invocation
    # today, but `tasks` is a list, and every task named gets its answer.
    return {
        "invocationSchemaVersion": response.invocation_schema_version,
        "treatMissingKeysAs": response.treat_missing_keys_as,
        "invocationId": response.invocation_id,
        "results": [result.asdict() for result in response.results],
    }


def _enqueue(invocation: BatchInvocation, services: Services, url: str) -> list[tuple[str, RESULT_CODE_TYPE, str]]:
    """Each task becomes a backfill task in the queue: Succeeded once it is there (its verdict comes
    later, from the queue's consumer), TemporaryFailure while backfill work is paused or SQS fails."""
    pause = _backfill_pause(services)
    if pause is not None:
        record_backfill_deferred(paused=True)
        logger.warning("batch operations tasks refused while backfill work is paused", extra={"why": pause.describe()})
        return [(task.task_id, "TemporaryFailure", pause.describe()[:1000]) for task in invocation.tasks]
    assert services.queues is not None, "build_services makes the SQS client whenever a backfill queue is set"
    bodies = [
        backfill_task_body(
            BackfillTask(task.ref, rescan=invocation.rescan, source="batch-operations", run=invocation.job_id)
        )
        for task in invocation.tasks
    ]
    try:
        ids = services.queues.send(url, bodies)
    except ModeratorError as exc:
        record_error(exc.kind)
        return [(task.task_id, "TemporaryFailure", f"{exc.kind}: {exc}"[:1000]) for task in invocation.tasks]
    record_backfill_queued(len(ids))
    return [(t.task_id, "Succeeded", f"QUEUED:{sent}") for t, sent in zip(invocation.tasks, ids, strict=True)]


def _backfill_pause(services: Services) -> Pause | None:
    """The pause of backfill work, from a recent look at the budget; None when there is no budget, or
    when its table cannot be read (the tasks then wait in the queue, whose consumer looks again)."""
    if services.budget is None:
        return None
    try:
        return services.budget.backfill_pause(max_age=PAUSE_LOOK_SECONDS)
    except BudgetStoreError as exc:
        record_error(exc.kind)
        logger.warning("imagga budget unreachable: batch operations tasks are queued", extra={"error": str(exc)})
        return None


def _batch_result(moderator: Moderator, ref: ObjectRef, deadline: Deadline | None) -> tuple[RESULT_CODE_TYPE, str]:
    """A missing object is a skip (`Succeeded`, reason in the string): a retry would find nothing either."""
    try:
        outcome = moderator.moderate(ref, deadline)
    except TransientError as exc:
        return "TemporaryFailure", f"{exc.kind}: {exc}"[:1000]
    except ModeratorError as exc:
        return "PermanentFailure", f"{exc.kind}: {exc}"[:1000]
    return "Succeeded", str(outcome.status or f"SKIPPED:{outcome.skip_reason}")


def _moderate_all(
    refs: list[ObjectRef], moderator: Moderator, deadline: Deadline | None, *, last_attempt: bool
) -> list[dict[str, object]]:
    """Every object, even after one fails; then fail if any did (idempotency makes the rerun cheap)."""
    outcomes: list[dict[str, object]] = []
    failures: list[str] = []
    for ref in refs:
        try:
            outcomes.append(moderator.moderate(ref, deadline, last_attempt=last_attempt).to_dict())
        except ModeratorError as exc:
            logger.warning("object not moderated", extra={**ref.describe(), "error": str(exc), "kind": exc.kind})
            failures.append(f"{ref.key}: {exc.kind}")
    if failures:
        raise RecordsFailedError(f"{len(failures)} of {len(refs)} objects failed: {'; '.join(failures)[:500]}")
    return outcomes
