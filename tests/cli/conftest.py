"""The operator command line against the local stack: run it as an operator would, read what it prints.

`cli` invokes `moderator.cli.main.cli` through click's CliRunner with `--endpoint-url` set to the
stack's moto server and the Imagga environment pointed at the stack's emulator, the way the
README's Operations section tells an operator to run it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner, Result
from infra.local.stack import AWS_KEY, AWS_SECRET, IMAGGA_KEY, IMAGGA_SECRET, LocalStack

from moderator.cli.main import cli as moderator_cli

# The end-to-end tests' stack (one per module) and its reset before each test serve here too.
from tests.e2e.conftest import FAST, FAST_IMAGGA_ENV, _fresh_emulator, stack  # noqa: F401


def operator_env(stack: LocalStack, **extra: str | None) -> dict[str, str | None]:
    """What the README tells an operator to export for the local stack (None removes a variable)."""
    env: dict[str, str | None] = {
        "AWS_ACCESS_KEY_ID": AWS_KEY,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_REGION": stack.region,
        "IMAGGA_API_KEY": IMAGGA_KEY,
        "IMAGGA_API_SECRET": IMAGGA_SECRET,
        "IMAGGA_API_ENDPOINT": stack.imagga_url,
        "IMAGGA_SECRET_ARN": None,
        # On LocalStack, DynamoDB is moto's: the per-service variable sends the command's DynamoDB calls there.
        "AWS_ENDPOINT_URL_DYNAMODB": stack.dynamodb_endpoint_url if stack.backend == "localstack" else None,
        "QUARANTINE_PREFIX": stack.quarantine_prefix,
        "APPROVALS_TABLE": None,
        "IDEMPOTENCY_TABLE": None,
        "DECISIONS_TABLE": None,
        # Rich sizes tables from COLUMNS: wide enough that keys are never folded across lines.
        "COLUMNS": "250",
        **FAST_IMAGGA_ENV,
    }
    env.update(extra)
    return env


@dataclass
class Cli:
    """Runs `python -m moderator ARGS` in-process against one stack."""

    stack: LocalStack

    def __call__(self, *args: str, input: str | None = None, endpoint: bool = True, **env: str | None) -> Result:
        argv = ["--endpoint-url", self.stack.endpoint_url, *args] if endpoint else list(args)
        runner = CliRunner()
        return runner.invoke(moderator_cli, argv, input=input, env=operator_env(self.stack, **env))


@pytest.fixture
def cli(stack: LocalStack) -> Cli:
    return Cli(stack)


def assert_one_line_error(result: Result, exit_code: int, *fragments: str) -> str:
    """An expected error: the exit code, one `error:` line on stderr naming the problem, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until `condition()` is truthy; its value is returned. Waiting only, never a timed assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached after {timeout:g}s")
        time.sleep(0.05)


_S3_CLIENTS: dict[str, Any] = {}


def s3_of(stack: LocalStack) -> Any:
    """One S3 client per stack: making a boto3 client costs ~0.1 s, checking a tag a few ms."""
    if stack.endpoint_url not in _S3_CLIENTS:
        _S3_CLIENTS[stack.endpoint_url] = stack.boto3_client("s3")
    return _S3_CLIENTS[stack.endpoint_url]


def tags_of(stack: LocalStack, key: str, version_id: str | None = None) -> dict[str, str]:
    params: dict[str, str] = {"Bucket": stack.bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    tag_set = s3_of(stack).get_object_tagging(**params)["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


def versions_of(stack: LocalStack, key: str) -> list[str]:
    """Every version and delete marker of exactly this key."""
    response = s3_of(stack).list_object_versions(Bucket=stack.bucket, Prefix=key)
    entries = [*response.get("Versions", []), *response.get("DeleteMarkers", [])]
    return [str(e["VersionId"]) for e in entries if e["Key"] == key]


def as_tagging(tags: Mapping[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(tags)


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver on 127.0.0.1 only, on a free port."""
    return ("127.0.0.1", 0)


@pytest.fixture(autouse=True)
def _function_metrics_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack's function runs in this process: its CloudWatch metrics (EMF) are printed to stdout,
    which the command runner captures while a command runs. Off, so `--json` output stays pure."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
