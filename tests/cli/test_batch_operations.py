"""S3 Batch Operations through the real handler, moderating in place: one result per task, the right kind of failure.

A deployed stack queues the tasks instead (tests/e2e/test_budget.py); a function without a backfill
queue (BACKFILL_QUEUE_URL unset) moderates each task during its invocation, as here.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from typing import Any

import pytest
from infra.local.stack import LocalStack

from moderator.app import lambda_handler
from moderator.wiring import build_services
from tests.builders import FakeLambdaContext, batch_operations_event, png_bytes
from tests.cli.conftest import tags_of

RATE_503 = 0.5


def seed_for_one_success_then_failures(attempts: int) -> int:
    """The emulator draws one number per request from its seeded RNG and answers 503 when it is below the rate.

    Pick the seed whose first draw passes (the first task's one request) and whose next `attempts`
    draws fail (every attempt of the second task): the outcome is fixed, not left to chance.
    """
    for seed in range(10_000):
        rng = random.Random(seed)
        draws = [rng.random() for _ in range(1 + attempts)]
        if draws[0] >= RATE_503 and all(d < RATE_503 for d in draws[1:]):
            return seed
    raise AssertionError("no seed found")


@pytest.fixture
def services(stack: LocalStack) -> Any:
    # Every run must reach Imagga: the emulator's seeded faults are drawn per request, and the same
    # bytes scored by an earlier run would otherwise be decided from the content memory.
    settings = replace(
        stack.settings(), idempotency_table=None, backfill_queue_url=None, budget_table=None, content_memory="off"
    )
    return build_services(
        settings,
        s3_client=stack.boto3_client("s3"),
        secrets_client=stack.boto3_client("secretsmanager"),
        dynamodb_client=stack.boto3_client("dynamodb"),
        endpoint_url=stack.endpoint_url,
        backoff_base=0.0,
    )


@pytest.mark.parametrize("schema", ["2.0", "1.0"])
def test_each_task_gets_succeeded_temporary_or_permanent_failure(stack: LocalStack, services: Any, schema: str) -> None:
    # GIVEN three existing objects (outside the incoming prefix: no event, only the job names them)
    prefix = f"archive-{uuid.uuid4().hex[:8]}/"
    s3 = stack.boto3_client("s3")
    keys = [f"{prefix}beach photo.png", f"{prefix}flaky+1.png", f"{prefix}frozen.png"]
    s3.put_object(Bucket=stack.bucket, Key=keys[0], Body=png_bytes(40, 40, (10, 200, 30)))
    s3.put_object(Bucket=stack.bucket, Key=keys[1], Body=png_bytes(40, 40, (200, 10, 30)))
    # archived: readable only after a restore, so S3 refuses the read (InvalidObjectState)
    s3.put_object(Bucket=stack.bucket, Key=keys[2], Body=png_bytes(40, 40, (30, 10, 200)), StorageClass="GLACIER")
    # AND an Imagga that answers the first request and then 503 to every attempt for the second image
    attempts = services.settings.max_attempts
    stack.imagga.reseed(seed_for_one_success_then_failures(attempts))
    stack.imagga.set_faults(rate_503=RATE_503)

    # WHEN S3 Batch Operations invokes the function with one task per object
    answer = lambda_handler(
        batch_operations_event(stack.bucket, *keys, schema=schema), FakeLambdaContext(), services=services
    )

    # THEN each task has its own result
    assert answer["invocationSchemaVersion"] == schema
    results = {r["taskId"]: r for r in answer["results"]}
    assert [results[f"task-{n}"]["resultCode"] for n in (1, 2, 3)] == [
        "Succeeded",
        "TemporaryFailure",
        "PermanentFailure",
    ]
    assert results["task-2"]["resultString"].startswith("imagga-unavailable")
    assert results["task-3"]["resultString"].startswith("s3-access")
    assert stack.imagga.count("/v2/categories/") == 1 + attempts
    # AND the succeeded one carries its status; the flaky one is left for the job's retry
    assert tags_of(stack, keys[0])["moderation:status"] == results["task-1"]["resultString"]
    assert "moderation:status" not in tags_of(stack, keys[1])
