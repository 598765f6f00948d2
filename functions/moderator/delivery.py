"""How each entry path turns its records into moderations, and failures into the right answer.

- SQS: one message fails alone (partial batch response); on a message's last delivery the
  object is tagged ERROR before the failure, so nothing is left without a status.
- S3 / SNS / EventBridge delivered directly: every record is tried; any failure raises at the
  end, so Lambda's asynchronous retries and on-failure destination take over.
- S3 Batch Operations: one result per task, TemporaryFailure for what a retry may fix; an object
  that is no longer there is a skip (Succeeded), never TemporaryFailure.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    RESULT_CODE_TYPE,
    S3BatchOperationResponse,
    S3BatchOperationResponseRecord,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from .assessment import Deadline
from .errors import ModeratorError, TransientError
from .events import batch_invocation, refs_from_message, refs_from_payload
from .model import ObjectRef
from .observability import logger, record_error
from .pipeline import Moderator

#: SQS messages of one batch handled at once by one instance.
RECORDS_IN_FLIGHT = 2


class RecordsFailedError(ModeratorError):
    """Some objects of a directly delivered event failed; Lambda retries the whole event."""

    kind = "records-failed"


def deadline_of(context: LambdaContext | None) -> Deadline | None:
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return None
    return lambda: context.get_remaining_time_in_millis() / 1000.0


def handle_sqs(event: dict[str, Any], context: LambdaContext | None, moderator: Moderator) -> dict[str, Any]:
    """Two messages at a time: one is with Imagga while the other is read, downscaled or tagged.

    The moderator lets one Imagga call out at a time (wiring.py), so the instance still counts as
    one of the event source's MaximumConcurrency against the Imagga plan.
    """
    deadline = deadline_of(context)
    max_receive = moderator.settings.max_receive_count

    def handle(record: SQSRecord) -> None:
        receive_count = int(record.attributes.approximate_receive_count or 1)
        logger.thread_safe_append_keys(message_id=record.message_id, receive_count=receive_count)
        try:
            try:
                refs = refs_from_message(record.body)
            except ModeratorError as exc:
                logger.error("unknown event shape: message fails alone", extra={"error": str(exc)})
                record_error(exc.kind)
                raise
            _moderate_all(refs, moderator, deadline, last_attempt=receive_count >= max_receive)
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


def handle_notification(event: dict[str, Any], context: LambdaContext | None, moderator: Moderator) -> dict[str, Any]:
    try:
        refs = refs_from_payload(event)
    except ModeratorError as exc:
        logger.error("unknown event shape", extra={"error": str(exc)})
        record_error(exc.kind)
        raise
    outcomes = _moderate_all(refs, moderator, deadline_of(context), last_attempt=False)
    return {"objects": len(outcomes), "outcomes": outcomes}


def handle_batch_operations(
    event: dict[str, Any], context: LambdaContext | None, moderator: Moderator
) -> dict[str, Any]:
    """One result per task, in AWS's documented response shape (Powertools' response classes)."""
    try:
        invocation = batch_invocation(event)
    except ModeratorError as exc:
        logger.error("unknown event shape", extra={"error": str(exc)})
        record_error(exc.kind)
        raise
    deadline = deadline_of(context)
    # A task whose result is missing from the answer fails rather than passing unexamined.
    response = S3BatchOperationResponse(invocation.schema, invocation.invocation_id, "PermanentFailure")
    for task in invocation.tasks:
        code, text = _batch_result(moderator, task.ref, deadline)
        response.add_result(S3BatchOperationResponseRecord(task.task_id, code, text))
    # Not `response.asdict()`: it insists on exactly one result. S3 sends one task per invocation
    # today, but `tasks` is a list, and every task named gets its answer.
    return {
        "invocationSchemaVersion": response.invocation_schema_version,
        "treatMissingKeysAs": response.treat_missing_keys_as,
        "invocationId": response.invocation_id,
        "results": [result.asdict() for result in response.results],
    }


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
