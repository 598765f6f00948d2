"""The Lambda handler: tell the entry path, hand the event to it, return its answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .delivery import handle_batch_operations, handle_notification, handle_sqs
from .events import EventKind, event_kind
from .observability import logger, metrics, traced

if TYPE_CHECKING:
    from .wiring import Services

_HANDLERS = {
    EventKind.SQS: handle_sqs,
    EventKind.NOTIFICATION: handle_notification,
    EventKind.BATCH_OPERATIONS: handle_batch_operations,
}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext, services: Services | None = None) -> dict[str, Any]:
    if services is None:
        # Imported here, not at module load: boto3 and the HTTP stack are the bulk of the import
        # time, and the first invocation builds the clients anyway.
        from .wiring import default_services

        services = default_services()
    if services.idempotency is not None:
        services.idempotency.bind(context)
    kind = event_kind(event)
    logger.debug("invocation", extra={"entry": str(kind)})
    return _HANDLERS[kind](event, context, services)
