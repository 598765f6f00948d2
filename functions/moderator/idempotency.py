"""At-least-once delivery made cheap: a redelivered object costs no second Imagga call.

Powertools idempotency on DynamoDB, keyed on the upload: bucket, key, version and ETag of the
pinned object, plus what tells two uploads of the same bytes apart on an unversioned bucket (the
event's `sequencer`, else the object's LastModified). A new upload to the same key is a new
scan, even with identical bytes; a redelivery of the same one is not. A failed scan leaves no
record behind, so its retry runs in full.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from .model import ObjectRef, Outcome, StoredObject

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DUPLICATE = "duplicate"


class IdempotentOnce:
    """The pipeline's `Once`: runs a verdict once per upload (bucket, key, version, ETag, sequencer)."""

    def __init__(self, table_name: str, expiry_seconds: int, client: DynamoDBClient) -> None:
        self._config = IdempotencyConfig(
            expires_after_seconds=expiry_seconds,
            response_hook=_mark_duplicate,  # type: ignore[arg-type]
        )
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self._run = idempotent_function(
            data_keyword_argument="identity", persistence_store=persistence, config=self._config
        )(_run_scan)

    def bind(self, context: LambdaContext | None) -> None:
        """Lets an in-progress record expire with the invocation that holds it."""
        if context is not None:
            self._config.register_lambda_context(context)

    def __call__(self, obj: StoredObject, upload: str, judge: Callable[[StoredObject], Outcome]) -> Outcome:
        identity = {
            "bucket": obj.bucket,
            "key": obj.key,
            "version_id": obj.version_id,
            "etag": obj.etag,
            "upload": upload,
        }
        result = self._run(identity=identity, obj=obj, scan=judge)
        ref = ObjectRef(obj.bucket, obj.key, obj.version_id, obj.etag, obj.size)
        outcome = Outcome.from_dict(ref, result)
        outcome.duplicate = bool(result.get(DUPLICATE))
        return outcome


def _run_scan(identity: dict[str, Any], obj: StoredObject, scan: Callable[[StoredObject], Outcome]) -> dict[str, Any]:
    return scan(obj).to_dict()


def _mark_duplicate(response: Any, record: DataRecord) -> Any:
    if isinstance(response, dict):
        return {**response, DUPLICATE: True}
    return response
