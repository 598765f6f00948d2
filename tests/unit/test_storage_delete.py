"""S3Storage.delete on stores without conditional deletes, and deletes of versions already gone.

botocore's Stubber answers as those stores do (the same answers LocalStack gives, see
tests/integration/test_localstack_only.py): 501 NotImplemented to DeleteObject with IfMatch, 400
InvalidArgument to deleting a version that no longer exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from moderator.errors import StorageError
from moderator.model import StoredObject
from moderator.observability import SERVICE
from moderator.storage import S3Storage

BUCKET, KEY, ETAG = "moderation-test-bucket", "incoming/beach.jpg", "9b2cf535f27731c974343645a3985328"
SCANNED = StoredObject(BUCKET, KEY, None, ETAG, 1234, "image/jpeg")
FALLBACK = "conditional delete not supported by this S3 endpoint: comparing the ETag with a HEAD, then deleting"


@pytest.fixture
def s3() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def warnings_logged() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                records.append(record)

    handler = Keep()
    logging.getLogger(SERVICE).addHandler(handler)
    yield records
    logging.getLogger(SERVICE).removeHandler(handler)


def _refuse_conditional_delete(stubber: Stubber) -> None:
    stubber.add_client_error(
        "delete_object",
        service_error_code="NotImplemented",
        service_message="A header you provided implies functionality that is not implemented",
        http_status_code=501,
        expected_params={"Bucket": BUCKET, "Key": KEY, "IfMatch": f'"{ETAG}"'},
    )


def _head_answers(stubber: Stubber, etag: str) -> None:
    stubber.add_response(
        "head_object",
        {"ETag": f'"{etag}"', "ContentLength": 1234, "ContentType": "image/jpeg"},
        expected_params={"Bucket": BUCKET, "Key": KEY},
    )


def test_a_store_without_conditional_deletes_gets_a_head_compare_then_a_plain_delete(
    s3: tuple[Any, Stubber], warnings_logged: list[logging.LogRecord]
) -> None:
    # GIVEN a store that answers 501 to DeleteObject with IfMatch, and the scanned object unchanged
    client, stubber = s3
    _refuse_conditional_delete(stubber)
    _head_answers(stubber, ETAG)
    stubber.add_response("delete_object", {}, expected_params={"Bucket": BUCKET, "Key": KEY})

    # WHEN the scanned object is deleted
    deleted = S3Storage(client).delete(SCANNED)

    # THEN it is deleted by a plain DELETE after the HEAD showed the same ETag, and the fallback is logged
    assert deleted is True
    assert [record.getMessage() for record in warnings_logged] == [FALLBACK]


def test_the_fallback_leaves_a_newer_object_alone(
    s3: tuple[Any, Stubber], warnings_logged: list[logging.LogRecord]
) -> None:
    # GIVEN a store without conditional deletes, and a newer object (another ETag) at the key
    client, stubber = s3
    _refuse_conditional_delete(stubber)
    _head_answers(stubber, "0123456789abcdef0123456789abcdef")

    # WHEN the scanned object is deleted
    deleted = S3Storage(client).delete(SCANNED)

    # THEN nothing is deleted (no second DeleteObject is stubbed: one would fail the test) and it says so
    assert deleted is False
    assert len(warnings_logged) == 1


def test_a_version_deleted_by_someone_else_meanwhile_is_reported_as_already_gone(s3: tuple[Any, Stubber]) -> None:
    # GIVEN S3 answering 400 InvalidArgument for a version that a listing no longer shows
    client, stubber = s3
    version = "AaI.WvLImldkUMrHfGzveUlS2yJMKAX5"
    stubber.add_client_error(
        "delete_object",
        service_error_code="InvalidArgument",
        service_message="Invalid version id specified",
        http_status_code=400,
        expected_params={"Bucket": BUCKET, "Key": KEY, "VersionId": version},
    )
    stubber.add_response("list_object_versions", {"Versions": [], "DeleteMarkers": []})

    # WHEN that version is deleted
    deleted = S3Storage(client).delete_version(BUCKET, KEY, version)

    # THEN the call succeeds and reports that it deleted nothing
    assert deleted is False


def test_an_invalid_version_id_that_still_exists_is_an_error(s3: tuple[Any, Stubber]) -> None:
    # GIVEN S3 answering 400 InvalidArgument although the listing still shows the version
    client, stubber = s3
    version = "AaI.WvLImldkUMrHfGzveUlS2yJMKAX5"
    stubber.add_client_error(
        "delete_object", service_error_code="InvalidArgument", http_status_code=400, service_message="bad"
    )
    stubber.add_response("list_object_versions", {"Versions": [{"Key": KEY, "VersionId": version}]})

    # WHEN / THEN the failure is not hidden
    with pytest.raises(StorageError, match="InvalidArgument"):
        S3Storage(client).delete_version(BUCKET, KEY, version)
