"""Integration fixtures: moto (in-process) for AWS, a real local HTTP server for Imagga."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws
from pytest_httpserver import HTTPServer

from moderator import observability

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
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def s3(aws: None) -> BaseClient:
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def s3_calls(s3: BaseClient) -> S3Calls:
    return S3Calls(s3)


@pytest.fixture
def bucket(s3: BaseClient) -> str:
    s3.create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def versioned_bucket(s3: BaseClient) -> str:
    s3.create_bucket(Bucket=VERSIONED_BUCKET)
    s3.put_bucket_versioning(Bucket=VERSIONED_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return VERSIONED_BUCKET


@pytest.fixture
def moderation(imagga: FakeImagga, s3: BaseClient, capsys: pytest.CaptureFixture[str]) -> Moderation:
    return Moderation(
        imagga=imagga,
        s3=s3,
        secrets=boto3.client("secretsmanager", region_name=REGION),
        dynamodb=boto3.client("dynamodb", region_name=REGION),
        capsys=capsys,
    )
