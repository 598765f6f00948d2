"""DynamoDB's failures as the project's typed errors: one translation for every table adapter.

A table that does not exist or a role without the grant is a set-up problem (StorageAccessError,
named so in the message); anything else (throttling, a network error) is a StorageError.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from .errors import StorageAccessError, StorageError

#: Error codes that mean the table or the grant is missing, not that DynamoDB failed this once.
SETUP_CODES = frozenset({"AccessDeniedException", "ResourceNotFoundException"})


def error_code(exc: ClientError | BotoCoreError) -> str:
    """DynamoDB's error code ("" for a failure below the API, e.g. a broken connection)."""
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


def is_conditional_check_failure(exc: ClientError | BotoCoreError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


def table_error(exc: ClientError | BotoCoreError, *, denied: str, failed: str) -> StorageError | StorageAccessError:
    """`denied` ("cannot read the ledger T") names a set-up problem; `failed` ("reading the ledger T") any other."""
    code = error_code(exc)
    if code in SETUP_CODES:
        return StorageAccessError(f"{denied}: {code}")
    return StorageError(f"{failed} failed: {code or exc}")
