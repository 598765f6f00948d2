"""The built package run as Lambda runs it, against the local stack.

AWS's runtime interface client (python3.13) starts the package `sam build` made, read-only, with
`PYTHONPATH` = the package alone and the environment Lambda sets, and takes its events from a
Runtime API on 127.0.0.1. The events are the S3 notifications moto delivered to the queue; S3,
DynamoDB and Secrets Manager are moto's, Imagga is the emulator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from infra.local.event_source import lambda_sqs_record
from infra.local.lambda_package import read_only_copy, remove_read_only, snapshot
from infra.local.lambda_runtime import FunctionProcess, RuntimeApi, template_function_environment
from infra.local.stack import DEMO_UNSAFE_SAMPLE, SAMPLES, LocalStack

pytestmark = [pytest.mark.package, pytest.mark.slow]

SAFE_SCORES = {"safe": 99.0, "nsfw": 1.0}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(start_pollers=False) as running:
        yield running


@pytest.fixture(scope="module")
def test_event_message(stack: LocalStack) -> dict[str, Any]:
    """The `s3:TestEvent` S3 sends to the queue when the bucket's notifications are set up."""
    (message,) = receive(stack, lambda m: "Records" not in json.loads(m["Body"]), count=1)
    return message


@pytest.fixture(scope="module")
def package(native_package: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The package for this machine, copied read-only, as Lambda's /var/task is."""
    copy = read_only_copy(native_package, tmp_path_factory.mktemp("task") / "task")
    yield copy
    remove_read_only(copy)


def receive(stack: LocalStack, wanted: Any, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Messages from the queue as Lambda's poller takes them, until `count` match `wanted`."""
    sqs = stack.boto3_client("sqs")
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        found += [m for m in messages if wanted(m)]
    assert len(found) == count, f"{len(found)} of {count} messages arrived"
    return found


def notifications_for(stack: LocalStack, keys: list[str]) -> list[dict[str, Any]]:
    def names_one_of_keys(message: dict[str, Any]) -> bool:
        records = json.loads(message["Body"]).get("Records") or []
        return any(r["s3"]["object"]["key"].replace("%2F", "/") in keys for r in records)

    return receive(stack, names_one_of_keys, count=len(keys))


def sqs_event(stack: LocalStack, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": [lambda_sqs_record(m, stack.queue_arn, stack.region) for m in messages]}


def function_env(stack: LocalStack, **changes: str) -> dict[str, str]:
    return template_function_environment({**stack.function_env(), **changes})


def json_lines(function: FunctionProcess) -> list[dict[str, Any]]:
    """Every line the function wrote to stdout and stderr, each parsed: one that is not JSON fails."""
    parsed = []
    for line in function.output():
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"the function wrote a line that is not JSON: {line!r}")
    return parsed


def test_sqs_batch_of_s3_notifications_is_tagged_and_quarantined_under_the_runtime_client(
    stack: LocalStack, package: Path, runtime_python: Path, test_event_message: dict[str, Any]
) -> None:
    # GIVEN a photograph and the demo unsafe sample uploaded to the bucket, and the S3 notifications
    # moto delivered to the queue for them, with S3's test event, in one batch
    photo = (SAMPLES / "coffee.jpg").read_bytes()
    stack.register_fixed_scores(photo, SAFE_SCORES)
    safe_key = stack.upload("runtime/coffee.jpg", photo, ContentType="image/jpeg")
    unsafe_key = stack.upload("runtime/sample.png", DEMO_UNSAFE_SAMPLE.read_bytes(), ContentType="image/png")
    event = sqs_event(stack, [test_event_message, *notifications_for(stack, [safe_key, unsafe_key])])
    before = snapshot(package)

    # WHEN the package, started by the runtime client, is given the batch
    with (
        RuntimeApi(stack.function_name) as api,
        FunctionProcess(package, api, function_env(stack), python=runtime_python) as function,
    ):
        result = api.invoke(event)
    lines = json_lines(function)

    # THEN every message succeeds, the photograph is tagged SAFE where it is and the sample is tagged
    # UNSAFE and moved to the quarantine
    assert result.error is None, result.error
    assert result.response == {"batchItemFailures": []}
    safe, unsafe = stack.object_status(safe_key), stack.object_status(unsafe_key)
    assert (safe.location, safe.status) == ("incoming", "SAFE")
    assert (unsafe.location, unsafe.status) == ("quarantine", "UNSAFE")
    # ... every line it wrote is JSON: a log line per object (a cold start), and the EMF metrics
    moderated = {line.get("key"): line for line in lines if line.get("message") == "object moderated"}
    assert set(moderated) == {safe_key, unsafe_key} and all(line["cold_start"] for line in moderated.values())
    metrics = [
        name["Name"]
        for line in lines
        for block in line.get("_aws", {}).get("CloudWatchMetrics", [])
        for name in block["Metrics"]
    ]
    assert "Quarantined" in metrics and "StatusSafe" in metrics
    # ... the runtime client had nothing of its own to log, and the package directory was not written to
    assert function.frames == []
    assert snapshot(package) == before
    # ... and X-Ray received the calls to S3 (botocore) and to Imagga (requests)
    traced = {(doc.get("namespace"), doc.get("name")) for doc in api.trace_documents}
    assert ("aws", "s3") in traced
    imagga_calls = [doc for doc in api.trace_documents if doc.get("namespace") == "remote"]
    assert imagga_calls and all(doc["http"]["request"]["url"].startswith(stack.imagga_url) for doc in imagga_calls)


def test_malformed_message_comes_back_in_batch_item_failures_under_the_runtime_client(
    stack: LocalStack, package: Path, runtime_python: Path
) -> None:
    # GIVEN a batch of a real S3 notification and a message that is not an event at all
    photo = (SAMPLES / "rocket.jpg").read_bytes()
    stack.register_fixed_scores(photo, SAFE_SCORES)
    key = stack.upload("runtime/rocket.jpg", photo, ContentType="image/jpeg")
    good = notifications_for(stack, [key])
    stack.boto3_client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody="{not json")
    (bad,) = receive(stack, lambda m: m["Body"] == "{not json", count=1)

    # WHEN the package is given the batch
    with (
        RuntimeApi(stack.function_name) as api,
        FunctionProcess(package, api, function_env(stack), python=runtime_python) as function,
    ):
        result = api.invoke(sqs_event(stack, [*good, bad]))
    lines = json_lines(function)

    # THEN only the malformed message is reported failed (SQS gives it back), the object is moderated
    assert result.error is None, result.error
    assert result.response == {"batchItemFailures": [{"itemIdentifier": bad["MessageId"]}]}
    assert stack.object_status(key).status == "SAFE"
    # ... and the failure is a JSON log line naming the message
    errors = [line for line in lines if line.get("level") == "ERROR"]
    assert [line.get("message_id") for line in errors] == [bad["MessageId"]]
    assert function.frames == []


def test_bad_configuration_fails_the_invocation_with_every_problem_named_under_the_runtime_client(
    stack: LocalStack, package: Path, runtime_python: Path
) -> None:
    # GIVEN a deployment with four configuration mistakes and no Imagga credentials
    env = function_env(
        stack,
        UNSAFE_THRESHOLD="high",
        MODE="strict",
        QUARANTINE_PREFIX="/quarantine",
        IMAGGA_API_ENDPOINT="ftp://imagga.example",
        IMAGGA_SECRET_ARN="",
    )
    key = stack.upload("runtime/chelsea.jpg", (SAMPLES / "chelsea.jpg").read_bytes())
    event = sqs_event(stack, notifications_for(stack, [key]))

    # WHEN the package is started and given a batch
    with (
        RuntimeApi(stack.function_name) as api,
        FunctionProcess(package, api, env, python=runtime_python) as function,
    ):
        result = api.invoke(event)
        again = api.invoke(event)
    json_lines(function)

    # THEN the invocation fails with one error that names every problem (and the next one, the same)
    assert result.response is None and result.error is not None
    assert result.error["errorType"] == "SettingsError"
    message = result.error["errorMessage"]
    for variable in ("UNSAFE_THRESHOLD", "MODE", "QUARANTINE_PREFIX", "IMAGGA_API_ENDPOINT", "Imagga credentials"):
        assert variable in message
    assert again.error is not None and again.error["errorMessage"] == message
    # ... the runtime client reported it in its own log frames (Lambda's log of the failure) ...
    assert [frame.message.splitlines()[0] for frame in function.frames] == [f"[ERROR] SettingsError: {message}"] * 2
    # ... and the object was left alone, for SQS to deliver again
    assert stack.object_status(key).status is None
