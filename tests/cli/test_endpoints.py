"""`--endpoint-url` / `AWS_ENDPOINT_URL` never override a service's own `AWS_ENDPOINT_URL_<SERVICE>`."""

from __future__ import annotations

import uuid

import pytest
from infra.local.stack import LocalStack
from pytest_httpserver import HTTPServer

from moderator.cli.runtime import Runtime
from tests.cli.conftest import Cli, as_tagging, versions_of

MOTO_LIKE = "http://127.0.0.1:4566"
DYNAMODB_ELSEWHERE = "http://127.0.0.1:8000"
SCANNED_AT = "2024-05-14T09:21:40Z"


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("dynamodb", "AWS_ENDPOINT_URL_DYNAMODB"),
        ("secretsmanager", "AWS_ENDPOINT_URL_SECRETS_MANAGER"),
        ("events", "AWS_ENDPOINT_URL_EVENTBRIDGE"),
        ("s3", "AWS_ENDPOINT_URL_S3"),
    ],
)
def test_a_service_with_its_own_endpoint_variable_is_sent_there_and_the_others_follow_the_common_one(
    service: str, variable: str
) -> None:
    # GIVEN a common endpoint (the command line's --endpoint-url) and one service's own variable
    runtime = Runtime(endpoint_url=MOTO_LIKE, region="us-east-1", env={variable: DYNAMODB_ELSEWHERE})

    # WHEN the command line makes its clients
    endpoints = {
        name: runtime.client(name).meta.endpoint_url for name in ("dynamodb", "secretsmanager", "events", "s3")
    }

    # THEN that service goes to its own endpoint, every other one to the common endpoint
    assert endpoints == {name: DYNAMODB_ELSEWHERE if name == service else MOTO_LIKE for name in endpoints}


def test_without_service_variables_every_client_uses_the_common_endpoint() -> None:
    runtime = Runtime(endpoint_url=MOTO_LIKE, region="us-east-1", env={})
    assert {runtime.client(name).meta.endpoint_url for name in ("dynamodb", "s3", "sts")} == {MOTO_LIKE}


def test_told_to_ignore_configured_endpoints_the_service_variable_is_ignored_as_botocore_would() -> None:
    env = {"AWS_ENDPOINT_URL_DYNAMODB": DYNAMODB_ELSEWHERE, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}
    runtime = Runtime(endpoint_url=MOTO_LIKE, region="us-east-1", env=env)
    assert runtime.client("dynamodb").meta.endpoint_url == MOTO_LIKE


@pytest.mark.parametrize("common", ["--endpoint-url", "AWS_ENDPOINT_URL"])
def test_purge_sends_s3_to_the_common_endpoint_and_dynamodb_to_its_own(
    common: str, cli: Cli, stack: LocalStack, httpserver: HTTPServer
) -> None:
    # GIVEN a quarantined object on the stack's S3, and DynamoDB answered by another server
    key = f"{stack.quarantine_prefix}{stack.incoming_prefix}{uuid.uuid4().hex[:8]}/old.png"
    s3 = stack.boto3_client("s3")
    s3.put_object(Bucket=stack.bucket, Key=key, Body=b"x", Tagging=as_tagging({"moderation:scanned-at": SCANNED_AT}))
    # (the purge revokes any approval of the bytes, remembers them as rejected, then records the decision)
    for operation in ("DeleteItem", "PutItem", "UpdateItem"):
        httpserver.expect_request(
            "/", method="POST", headers={"X-Amz-Target": f"DynamoDB_20120810.{operation}"}
        ).respond_with_data("{}", content_type="application/x-amz-json-1.0")
    env = {"DECISIONS_TABLE": "decisions-elsewhere", "AWS_ENDPOINT_URL_DYNAMODB": httpserver.url_for("/")}
    if common == "AWS_ENDPOINT_URL":
        env["AWS_ENDPOINT_URL"] = stack.endpoint_url

    # WHEN an operator purges it, with the common endpoint as a flag or in the environment
    result = cli(
        "quarantine", "purge", f"s3://{stack.bucket}/{key}", "--yes", endpoint=common == "--endpoint-url", **env
    )

    # THEN the object's versions are gone from the stack's S3, and the decision went to the DynamoDB server
    assert result.exit_code == 0, result.output
    assert versions_of(stack, key) == []
    targets = [request.headers["X-Amz-Target"] for request, _response in httpserver.log]
    assert targets == ["DynamoDB_20120810.DeleteItem", "DynamoDB_20120810.PutItem", "DynamoDB_20120810.UpdateItem"]
    assert {request.get_json(force=True)["TableName"] for request, _response in httpserver.log} == {
        "decisions-elsewhere"
    }
