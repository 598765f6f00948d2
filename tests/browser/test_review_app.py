"""The review page's answers that need no browser: refused requests, expected errors, the command.

Flask's test client against the moto server, the same app and service as in the browser tests.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from flask import Flask
from flask.testing import FlaskClient

from moderator.cli.review_cmd import review_service
from moderator.cli.runtime import Runtime
from moderator.web.app import create_app
from tests.builders import jpeg_bytes
from tests.integration.fake_imagga import RED

from .conftest import MOTO_CALLER, REGION, Stack

pytestmark = pytest.mark.integration

UNSAFE = {"nsfw": 91.4, "underwear": 6.1, "safe": 2.5}


def _app(stack: Stack, bucket: str | None = None, **env: str) -> Flask:
    runtime = Runtime(endpoint_url=stack.endpoint, region=REGION, env={**stack.env, **env})
    app = create_app(review_service(runtime, bucket or stack.bucket))
    app.config["TESTING"] = True
    return app


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


@pytest.fixture
def quarantined(stack: Stack) -> str:
    stack.imagga.answer_for_colour(RED, UNSAFE)
    stack.upload_and_moderate("uploads/party.jpg", jpeg_bytes(color=RED))
    return "quarantine/uploads/party.jpg"


@pytest.fixture
def client(stack: Stack) -> FlaskClient:
    return _app(stack).test_client()


def test_a_form_post_without_its_csrf_token_is_refused(stack: Stack, quarantined: str, client: FlaskClient) -> None:
    # GIVEN a moderator session on the page
    client.get("/quarantine")

    # WHEN an Approve is posted from the same origin but without the form's token
    response = client.post(
        "/approve", data={"bucket": stack.bucket, "key": quarantined}, headers={"Origin": "http://localhost"}
    )

    # THEN it is refused and nothing moved
    assert response.status_code == 400
    assert "Form refused" in _text(response)
    assert stack.keys() == [quarantined]


def test_a_request_for_another_host_name_is_refused(client: FlaskClient) -> None:
    # GIVEN the page bound to 127.0.0.1
    # WHEN a request names another host (a DNS-rebinding page resolving its own name to 127.0.0.1)
    response = client.get("/quarantine", headers={"Host": "attacker.example:8080"})

    # THEN it is refused
    assert response.status_code == 400
    assert "unknown host name" in response.get_data(as_text=True)


def test_pages_carry_no_aws_url_or_credential_and_thumbnails_come_through_the_app(
    stack: Stack, quarantined: str, client: FlaskClient
) -> None:
    # GIVEN a quarantined image
    # WHEN the quarantine page and its thumbnail are fetched
    page = client.get("/quarantine")
    html = page.get_data(as_text=True)
    (src,) = re.findall(r'<img src="([^"]+)"', html)
    thumbnail = client.get(src.replace("&amp;", "&"))

    # THEN the page names no S3 endpoint, signature or key, and scripts are limited to its own
    assert page.status_code == 200
    for secret_ish in ("X-Amz-", "Signature", "testing", stack.endpoint):
        assert secret_ish not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert src.startswith("/thumbnail?")
    # AND the thumbnail is a small JPEG made by the app
    assert thumbnail.status_code == 200
    assert thumbnail.mimetype == "image/jpeg"
    assert thumbnail.data.startswith(b"\xff\xd8")


def test_a_missing_bucket_is_named_in_a_clear_message(stack: Stack) -> None:
    # GIVEN the page started for a bucket that does not exist
    client = _app(stack, bucket="no-such-bucket-anywhere").test_client()

    # WHEN the quarantine is opened
    response = client.get("/quarantine")

    # THEN the page says which bucket is missing
    assert response.status_code == 404
    assert "Bucket missing" in _text(response)
    assert "no-such-bucket-anywhere does not exist" in _text(response)


def test_no_aws_credentials_give_a_clear_message(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an operator with no AWS credentials anywhere
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it found first
    client = _app(stack).test_client()

    # WHEN the quarantine is opened
    response = client.get("/quarantine")

    # THEN the page says what is missing and how to fix it
    assert response.status_code == 503
    assert "No AWS credentials" in _text(response)
    assert "AWS_PROFILE" in _text(response)


class DenyingS3:
    """An S3 client whose every listing is refused, as for an identity without s3:ListBucket."""

    def list_object_versions(self, **_: Any) -> Any:
        error = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}
        raise ClientError(error, "ListObjectVersions")  # type: ignore[arg-type]


def test_access_denied_gives_a_clear_message(stack: Stack) -> None:
    # GIVEN an operator whose AWS identity may not list the bucket
    runtime = Runtime(endpoint_url=stack.endpoint, region=REGION, env=stack.env)
    service = review_service(runtime, stack.bucket)
    service.s3 = DenyingS3()
    client = create_app(service).test_client()

    # WHEN the quarantine is opened
    response = client.get("/quarantine")

    # THEN the page says access was denied, to which bucket
    assert response.status_code == 403
    assert "Access denied" in _text(response)
    assert stack.bucket in _text(response)


def test_needs_review_without_a_decisions_table_says_what_to_set(stack: Stack) -> None:
    # GIVEN the page started without DECISIONS_TABLE
    client = _app(stack, DECISIONS_TABLE="").test_client()

    # WHEN Needs review is opened
    response = client.get("/review")

    # THEN the page says which setting is missing
    assert response.status_code == 503
    assert "set DECISIONS_TABLE" in _text(response)


def test_the_review_command_listens_on_127_0_0_1_by_default(stack: Stack) -> None:
    # GIVEN the command line, with the stack's endpoint and no --host
    command = [sys.executable, "-m", "moderator", "review", "--port", "0", "--endpoint-url", stack.endpoint]
    command += ["--bucket", stack.bucket]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(stack))
    try:
        # WHEN it starts
        assert process.stdout is not None
        line = process.stdout.readline()

        # THEN it says where it listens: 127.0.0.1, and the page answers there
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        answer = requests.get(f"http://127.0.0.1:{match.group(1)}/check", timeout=10)
        assert answer.status_code == 200
        assert "Check an image" in answer.text
    finally:
        process.terminate()
        process.wait(timeout=10)


def _env(stack: Stack) -> dict[str, str]:
    import os

    return {**os.environ, **stack.env, "AWS_REGION": REGION}


def test_rejecting_a_review_object_left_in_place_deletes_it_and_records_the_reviewer(
    stack: Stack, client: FlaskClient
) -> None:
    # GIVEN an image the function marked REVIEW and left where it was
    stack.imagga.answer_for_colour(RED, {"nsfw": 3.0, "underwear": 70.0, "safe": 27.0})
    stack.upload_and_moderate("uploads/maybe.jpg", jpeg_bytes(color=RED))
    confirmation = client.get("/reject", query_string={"bucket": stack.bucket, "key": "uploads/maybe.jpg"})
    (token,) = re.findall(r'name="csrf_token" value="([^"]+)"', confirmation.get_data(as_text=True))

    # WHEN the moderator confirms the rejection
    response = client.post(
        "/reject",
        data={"csrf_token": token, "bucket": stack.bucket, "key": "uploads/maybe.jpg", "back": "review_list"},
        headers={"Origin": "http://localhost"},
    )

    # THEN it is deleted, and the ledger records REJECTED and who decided
    assert response.status_code == 303
    assert stack.keys() == []
    (decision,) = stack.decisions("uploads/maybe.jpg")
    assert (decision["status"]["S"], decision["decided_by"]["S"]) == ("REJECTED", MOTO_CALLER)
