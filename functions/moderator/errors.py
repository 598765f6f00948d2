"""The few failure kinds the pipeline decides on.

Adapters translate HTTP and AWS failures into these; the pipeline and the handler catch them
where a decision is made (retry the record, tag ERROR, skip) and nowhere else.
"""

from __future__ import annotations


class ModeratorError(Exception):
    """Base of every error this package raises on purpose."""

    #: A short, stable, tag-safe label used as `moderation:reason` and as a metric dimension.
    kind: str = "error"


class TransientError(ModeratorError):
    """Worth retrying later: throttling, timeouts, 5xx, connection errors."""

    kind = "transient"


class PermanentError(ModeratorError):
    """Retrying the same request will not help (until someone changes something)."""

    kind = "permanent"


class ObjectGoneError(ModeratorError):
    """The object (or the version we scanned) no longer exists."""

    kind = "gone"


class ObjectChangedError(TransientError):
    """The object was overwritten between two of our calls (an ETag precondition failed)."""

    kind = "object-changed"


class QuarantineIncompleteError(TransientError):
    """The verdict stands, but moving the object to quarantine failed (copy or delete): retry the move."""

    kind = "quarantine-incomplete"


class ImaggaUnavailableError(TransientError):
    """Imagga kept failing with retryable errors until attempts or time ran out."""

    kind = "imagga-unavailable"


class ImaggaCredentialsError(PermanentError):
    """Imagga refused the credentials (401, or a 403 that is not a usage limit)."""

    kind = "imagga-credentials"


class ImaggaRejectedError(PermanentError):
    """Imagga answered 400 for an image we sent: there is nothing to retry."""

    kind = "imagga-rejected"


class ImaggaProtocolError(PermanentError):
    """Wrong path, method or format (404/405/406/410): a configuration problem."""

    kind = "imagga-protocol"


class StorageError(TransientError):
    """S3 failed in a way worth retrying (throttling, 5xx, network)."""

    kind = "s3-error"


class StorageAccessError(PermanentError):
    """S3 denied the call or the bucket does not exist."""

    kind = "s3-access"


class ImaggaBusyError(TransientError):
    """No slot of the deployment's Imagga budget came free before the invocation's deadline."""

    kind = "imagga-busy"


class BackfillDeferredError(TransientError):
    """Backfill work waits: the quota is below its reserve, or live uploads hold every Imagga slot.

    Not a failure of the object: it is never tagged ERROR for it, and its message is put back to
    wait (`retry_in` seconds), never counted towards the dead-letter queue.
    """

    kind = "backfill-deferred"

    def __init__(self, message: str, *, retry_in: float, paused: bool) -> None:
        super().__init__(message)
        self.retry_in = retry_in
        self.paused = paused


class BudgetStoreError(TransientError):
    """The budget's table failed in a way worth retrying (throttling, 5xx, network)."""

    kind = "budget-store"


class QueueError(TransientError):
    """SQS failed to take or change a message."""

    kind = "sqs-error"


class SettingsError(ModeratorError):
    """The configuration is invalid; the message lists every problem at once."""

    kind = "settings"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration: " + "; ".join(problems))
