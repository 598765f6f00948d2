"""Purge: every version of a quarantined key deleted for good, whatever sits on top of it."""

from __future__ import annotations

import pytest
from botocore.client import BaseClient

from moderator.errors import ObjectGoneError
from moderator.review import purge_every_version
from moderator.storage import S3Storage
from tests.builders import jpeg_bytes

from .fake_imagga import RED

pytestmark = pytest.mark.integration

QUARANTINED = "quarantine/incoming/holiday/beach.jpg"


def _versions_at(s3: BaseClient, bucket: str, key: str) -> list[str]:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
    return [entry["VersionId"] for entry in entries if entry["Key"] == key]


def test_a_quarantined_key_hidden_behind_a_delete_marker_is_still_purged_of_every_version(
    s3: BaseClient, versioned_bucket: str
) -> None:
    # GIVEN two versions of a quarantined image, hidden by a plain delete (a delete marker on top):
    # its bytes are still readable by version id
    for _ in range(2):
        s3.put_object(Bucket=versioned_bucket, Key=QUARANTINED, Body=jpeg_bytes(color=RED))
    s3.delete_object(Bucket=versioned_bucket, Key=QUARANTINED)

    # WHEN it is purged
    deleted = purge_every_version(S3Storage(s3), versioned_bucket, QUARANTINED, quarantine_prefix="quarantine/")  # type: ignore[arg-type]

    # THEN both versions and the delete marker are gone
    assert deleted == 3
    assert _versions_at(s3, versioned_bucket, QUARANTINED) == []


def test_purging_a_key_with_no_version_left_says_there_is_nothing_to_purge(
    s3: BaseClient, versioned_bucket: str
) -> None:
    # GIVEN a quarantined key another purge already emptied
    # WHEN / THEN purging it fails with a message that says so
    with pytest.raises(ObjectGoneError, match="no version left: nothing to purge"):
        purge_every_version(S3Storage(s3), versioned_bucket, QUARANTINED, quarantine_prefix="quarantine/")  # type: ignore[arg-type]
