"""`s3://bucket/key` on the command line: the bucket, and the key exactly as written."""

from __future__ import annotations

import pytest

from moderator.cli.runtime import S3Location, parse_s3_url


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("s3://b/pic #1.png", S3Location("b", "pic #1.png")),
        ("s3://b/what?.png", S3Location("b", "what?.png")),
        ("s3://b/q?versionId=3", S3Location("b", "q?versionId=3")),
        ("s3://b/100%41.png", S3Location("b", "100%41.png")),
        ("s3://b/a+b c.png", S3Location("b", "a+b c.png")),
        ("s3://b/ünï/東京.png", S3Location("b", "ünï/東京.png")),
        ("s3://b//leading-slash", S3Location("b", "/leading-slash")),
        ("s3://my.bucket-1", S3Location("my.bucket-1", "")),
        ("s3://b/", S3Location("b", "")),
        ("s3://b/incoming/", S3Location("b", "incoming/")),
    ],
)
def test_the_key_is_everything_after_the_bucket_as_written(url: str, location: S3Location) -> None:
    assert parse_s3_url(url) == location


@pytest.mark.parametrize(
    "url", ["", "b/key", "https://b/key", "s3:/b/key", "s3://", "s3:///key", "s3://b#1/key", "s3://b c/key"]
)
def test_what_is_not_an_s3_location_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="is not an s3://bucket"):
        parse_s3_url(url)
