"""Integration fixtures: AWS on both emulators (see tests/backends.py), a real local HTTP server for Imagga.

On moto, AWS is in-process (`mock_aws`), new for each test. On LocalStack, the session's process
serves S3, SQS, Secrets Manager, EventBridge and SNS and moto's server DynamoDB; each test gets an
account of its own (its queues, topics, buses and secrets start empty), unique bucket names, and
its buckets are emptied and deleted after it. Either way, clients made the default way
(`boto3.client("s3", region_name=REGION)`) reach the chosen emulator, as the deployed function's
do: through the AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB variables.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError
from moto import mock_aws
from pytest_httpserver import HTTPServer

from moderator import observability
from tests.backends import MOTO, new_account_id, reset_moto

from .fake_imagga import FakeImagga
from .harness import Moderation

BUCKET = "moderation-test-bucket"
VERSIONED_BUCKET = "moderation-versioned-bucket"
REGION = "us-east-1"


class S3Calls:
    """Every S3 request's parameters as the client built them (moto ignores some conditions: see toolbox.md)."""

    def __init__(self, client: BaseClient) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-parameter-build.s3", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]

    def reset(self) -> None:
        self.calls.clear()


@pytest.fixture(scope="session")
def imagga_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def imagga(imagga_server: HTTPServer) -> Iterator[FakeImagga]:
    imagga_server.clear()
    yield FakeImagga(imagga_server)
    imagga_server.clear()


@pytest.fixture(autouse=True)
def observability_as_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Log at INFO and emit metrics, as deployed, whatever the shell or an earlier test set.

    tests/conftest.py restores the state after each test; this sets it before, and clears the
    Powertools variables that would silence the metrics these tests assert on.
    """
    for name in ("POWERTOOLS_DEV", "POWERTOOLS_METRICS_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(observability._state, "metrics", True)
    observability.logger.setLevel("INFO")


@pytest.fixture
def aws(backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """AWS for one test, on the module's emulator."""
    if backend == MOTO:
        with mock_aws():
            yield
        return
    localstack = request.getfixturevalue("localstack_server")
    dynamodb = request.getfixturevalue("dynamodb_server")
    reset_moto(dynamodb)
    # boto3's default session keeps the credentials it first read: a new one reads this test's account.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", new_account_id())
    monkeypatch.setenv("AWS_ENDPOINT_URL", localstack.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb)
    yield
    _remove_buckets(boto3.client("s3", region_name=REGION))


def _remove_buckets(s3: BaseClient) -> None:
    """Every bucket of the test's account, emptied (versions and delete markers) and deleted."""
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        try:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
                entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                if entries:
                    objects = [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries]
                    s3.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
            s3.delete_bucket(Bucket=name)
        except (ClientError, BotoCoreError) as exc:  # a leftover bucket is harmless: its name is unique
            warnings.warn(f"could not remove bucket {name}: {exc}", stacklevel=1)


@pytest.fixture
def s3(aws: None) -> BaseClient:
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def s3_calls(s3: BaseClient) -> S3Calls:
    return S3Calls(s3)


def unique(name: str) -> str:
    """A bucket name no other test uses (LocalStack's buckets, like AWS's, share one namespace)."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def bucket(s3: BaseClient) -> str:
    name = unique(BUCKET)
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def versioned_bucket(s3: BaseClient) -> str:
    name = unique(VERSIONED_BUCKET)
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def moderation(imagga: FakeImagga, s3: BaseClient, capsys: pytest.CaptureFixture[str]) -> Moderation:
    return Moderation(
        imagga=imagga,
        s3=s3,
        secrets=boto3.client("secretsmanager", region_name=REGION),
        dynamodb=boto3.client("dynamodb", region_name=REGION),
        capsys=capsys,
    )
