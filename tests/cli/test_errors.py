"""Every expected error: one `error:` line (or click's usage error), the documented exit code, no traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from infra.local.stack import SAMPLES, LocalStack

from tests.cli.conftest import Cli, assert_one_line_error

EXIT_FAILED, EXIT_SETUP, EXIT_NOT_AN_IMAGE = 1, 2, 3


def deny(operation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 answers 403 AccessDenied to this operation, as it would under a bucket policy's Deny.

    moto accepts bucket policies but does not enforce them, so the answer is given before the call is sent.
    """
    session = boto3.session.Session()

    def access_denied(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        response = AWSResponse("http://127.0.0.1/", 403, {}, None)
        parsed = {
            "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }
        return response, parsed

    session.events.register(f"before-call.s3.{operation}", access_denied)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)


def test_without_imagga_credentials_check_exits_2_naming_the_variables(cli: Cli) -> None:
    result = cli("check", str(SAMPLES / "coffee.jpg"), IMAGGA_API_KEY=None, IMAGGA_API_SECRET=None)

    assert_one_line_error(result, EXIT_SETUP, "IMAGGA_SECRET_ARN", "IMAGGA_API_KEY")


def test_with_wrong_imagga_credentials_check_exits_2(cli: Cli) -> None:
    result = cli("check", str(SAMPLES / "coffee.jpg"), IMAGGA_API_SECRET="not-the-secret")

    assert_one_line_error(result, EXIT_SETUP)


def test_backfill_of_a_missing_bucket_says_the_bucket_does_not_exist(cli: Cli) -> None:
    result = cli("backfill", "s3://no-such-bucket-here/incoming/", "--local")

    assert_one_line_error(result, EXIT_FAILED, "no-such-bucket-here", "does not exist")


def test_quarantine_list_of_a_missing_bucket_says_the_bucket_does_not_exist(cli: Cli) -> None:
    result = cli("quarantine", "list", "s3://no-such-bucket-here")

    assert_one_line_error(result, EXIT_FAILED, "no-such-bucket-here", "does not exist")


def test_backfill_denied_by_s3_says_access_denied(cli: Cli, stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    deny("ListObjectsV2", monkeypatch)

    result = cli("backfill", f"s3://{stack.bucket}/incoming/", "--local")

    assert_one_line_error(result, EXIT_FAILED, "denied", "AccessDenied")


def test_tags_denied_by_s3_says_access_denied(cli: Cli, stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    deny("HeadObject", monkeypatch)

    result = cli("tags", f"s3://{stack.bucket}/incoming/anything.jpg")

    assert_one_line_error(result, EXIT_FAILED, "denied")


def test_check_of_an_s3_object_that_is_not_an_image_exits_3(cli: Cli, stack: LocalStack) -> None:
    stack.boto3_client("s3").put_object(Bucket=stack.bucket, Key="operator-checks/readme.jpg", Body=b"not a photo")

    result = cli("check", f"s3://{stack.bucket}/operator-checks/readme.jpg")

    assert_one_line_error(result, EXIT_NOT_AN_IMAGE, "not-an-image")


def test_tags_of_a_missing_object_says_it_does_not_exist(cli: Cli, stack: LocalStack) -> None:
    result = cli("tags", f"s3://{stack.bucket}/incoming/never-uploaded.jpg")

    assert_one_line_error(result, EXIT_FAILED, "never-uploaded.jpg", "no longer exists")


@pytest.mark.parametrize(
    "args",
    [
        ("tags", "s3:/bucket/key"),
        ("backfill", "bucket/prefix"),
        ("quarantine", "list", "https://bucket"),
        ("quarantine", "purge", "s3://", "--yes"),
    ],
)
def test_a_location_that_is_not_an_s3_url_is_a_usage_error(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli(*args)

    assert result.exit_code == EXIT_SETUP, result.output
    assert "is not an s3://bucket[/key] location" in result.stderr
    assert "Traceback" not in result.output


def test_check_of_a_bad_s3_url_is_one_line_not_a_traceback(cli: Cli) -> None:
    result = cli("check", "s3://")

    assert result.exit_code == EXIT_SETUP, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "is not an s3://bucket[/key] location" in result.stderr


def test_scan_of_a_missing_folder_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("scan", str(tmp_path / "nowhere"), str(tmp_path / "out"))

    assert result.exit_code == EXIT_SETUP
    assert "does not exist" in result.stderr
