"""The shared budget's record in DynamoDB, and the handler's backfill paths: tasks from the backfill
queue, S3 Batch Operations turned into tasks, backfill work that waits without reaching the DLQ."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from moderator.budget import Lease, Priority, Quota
from moderator.budget_table import DynamoDBBudgetStore, table_definition
from moderator.content_memory import rejection_of
from moderator.errors import BudgetStoreError
from moderator.events import BackfillTask, backfill_task, backfill_task_body
from moderator.ledger import table_definition as ledger_table
from moderator.memory import DynamoDBContentMemory
from moderator.model import ObjectRef
from moderator.settings import Settings
from tests.builders import batch_operations_event, png_bytes

from .conftest import REGION, unique
from .fake_imagga import GREEN, FakeImagga
from .harness import Moderation, lambda_record, tags_of

pytestmark = pytest.mark.integration

NOW = time.time()


@pytest.fixture
def dynamodb(aws: None) -> BaseClient:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def budget_table(dynamodb: BaseClient) -> str:
    name = unique("budget")
    dynamodb.create_table(**table_definition(name))
    return name


@pytest.fixture
def sqs(aws: None) -> BaseClient:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def backfill_queue(sqs: BaseClient) -> dict[str, str]:
    url = sqs.create_queue(QueueName=unique("backfill"), Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"url": url, "arn": arn}


def configured(moderation: Moderation, budget_table: str, backfill_queue: dict[str, str], **env: str) -> Moderation:
    moderation.configure(
        BUDGET_TABLE=budget_table,
        BACKFILL_QUEUE_URL=backfill_queue["url"],
        IMAGGA_MAX_CONCURRENCY="2",
        BACKFILL_QUOTA_RESERVE="100",
        **env,
    )
    return moderation


def receive(sqs: BaseClient, url: str, *, wait: int = 1) -> list[dict[str, Any]]:
    return list(
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=wait).get(
            "Messages", []
        )
    )


def send_task(sqs: BaseClient, queue: dict[str, str], task: BackfillTask) -> None:
    sqs.send_message(QueueUrl=queue["url"], MessageBody=backfill_task_body(task))


def pause_backfill(store: DynamoDBBudgetStore, remaining: int = 40, reset_in: float = 86_400.0) -> None:
    store.replace({}, {}, version=store.read().version)
    store.release("nobody", Quota(remaining=remaining, reset_at=time.time() + reset_in, seen_at=time.time()))


# --- the record ---------------------------------------------------------------------------------


def test_two_instances_taking_the_last_slot_from_the_same_reading_only_one_gets_it(
    dynamodb: BaseClient, budget_table: str
) -> None:
    # GIVEN two instances' stores that read the same record
    first, second = DynamoDBBudgetStore(dynamodb, budget_table), DynamoDBBudgetStore(dynamodb, budget_table)
    seen_by_first, seen_by_second = first.read(), second.read()

    # WHEN both write the slot they computed from it
    took_first = first.replace({"a": Lease(Priority.LIVE, NOW + 60)}, {}, version=seen_by_first.version)
    took_second = second.replace({"b": Lease(Priority.BACKFILL, NOW + 60)}, {}, version=seen_by_second.version)

    # THEN the second write is refused: the record holds the first instance's slot alone
    assert (took_first, took_second) == (True, False)
    assert dict(first.read().holders) == {"a": Lease(Priority.LIVE, round(NOW + 60, 3))}


def test_giving_a_slot_back_removes_it_and_keeps_the_quota_imagga_reported(
    dynamodb: BaseClient, budget_table: str
) -> None:
    store = DynamoDBBudgetStore(dynamodb, budget_table)
    store.replace({"a": Lease(Priority.LIVE, NOW + 60), "b": Lease(Priority.LIVE, NOW + 60)}, {"c": NOW + 9}, version=0)

    store.release("a", Quota(remaining=4321, reset_at=1767225600, seen_at=NOW))
    store.release("c", None)

    state = store.read()
    assert set(state.holders) == {"b"} and state.waiting == {}
    assert state.quota == Quota(remaining=4321, reset_at=1767225600.0, seen_at=round(NOW, 3))
    assert state.version == 3


def test_a_missing_budget_table_is_named_in_the_error(dynamodb: BaseClient) -> None:
    with pytest.raises(BudgetStoreError, match=r"ResourceNotFoundException.*BUDGET_TABLE"):
        DynamoDBBudgetStore(dynamodb, "no-such-budget-table").read()


# --- backfill tasks from the queue --------------------------------------------------------------


def test_a_backfill_task_from_the_queue_is_moderated_and_its_call_holds_a_slot(
    moderation: Moderation,
    imagga: FakeImagga,
    s3: BaseClient,
    sqs: BaseClient,
    bucket: str,
    budget_table: str,
    backfill_queue: dict[str, str],
) -> None:
    # GIVEN an object no event announced, and a backfill task for it in the backfill queue
    s3.put_object(Bucket=bucket, Key="archive/old.png", Body=png_bytes(32, 32, GREEN))
    task = backfill_task_body(BackfillTask(ObjectRef(bucket, "archive/old.png"), source="command-line", run="r1"))
    sqs.send_message(QueueUrl=backfill_queue["url"], MessageBody=task)
    configured(moderation, budget_table, backfill_queue)

    # WHEN the backfill queue's event source hands it to the function
    (message,) = receive(sqs, backfill_queue["url"])
    done = moderation.invoke({"Records": [lambda_record(message, backfill_queue["arn"])]})

    # THEN the object is tagged, the message succeeded, and the slot was taken and given back
    assert done.failed_message_ids == []
    assert tags_of(s3, bucket, "archive/old.png")["moderation:status"] == "SAFE"
    assert len(imagga.calls) == 1
    assert "ImaggaSlotWaitBackfill" in done.metrics
    state = DynamoDBBudgetStore(boto3.client("dynamodb", region_name=REGION), budget_table).read()
    assert state.holders == {} and state.version == 2
    assert state.quota.remaining == 990  # what the local Imagga reports


def test_a_backfill_task_for_an_object_moderated_meanwhile_is_skipped_without_a_call(
    moderation: Moderation,
    imagga: FakeImagga,
    s3: BaseClient,
    sqs: BaseClient,
    bucket: str,
    budget_table: str,
    backfill_queue: dict[str, str],
) -> None:
    key = "incoming/new.png"
    s3.put_object(Bucket=bucket, Key=key, Body=png_bytes(32, 32, GREEN), Tagging="moderation:status=SAFE")
    send_task(sqs, backfill_queue, BackfillTask(ObjectRef(bucket, key)))
    configured(moderation, budget_table, backfill_queue)

    (message,) = receive(sqs, backfill_queue["url"])
    done = moderation.invoke({"Records": [lambda_record(message, backfill_queue["arn"])]})

    assert done.failed_message_ids == []
    assert imagga.calls == []
    assert [line["skip_reason"] for line in done.logged("object skipped")] == ["already-moderated"]


def test_while_backfill_is_paused_its_task_waits_hidden_in_the_queue_with_no_call_and_no_tag(
    moderation: Moderation,
    imagga: FakeImagga,
    s3: BaseClient,
    sqs: BaseClient,
    bucket: str,
    budget_table: str,
    backfill_queue: dict[str, str],
) -> None:
    # GIVEN Imagga's last answer said 40 requests are left this month, below the reserve of 100
    s3.put_object(Bucket=bucket, Key="archive/old.png", Body=png_bytes(32, 32, GREEN))
    send_task(sqs, backfill_queue, BackfillTask(ObjectRef(bucket, "archive/old.png")))
    pause_backfill(DynamoDBBudgetStore(boto3.client("dynamodb", region_name=REGION), budget_table))
    configured(moderation, budget_table, backfill_queue)

    # WHEN the task is delivered
    (message,) = receive(sqs, backfill_queue["url"])
    done = moderation.invoke({"Records": [lambda_record(message, backfill_queue["arn"])]})

    # THEN it is left in the queue (a batch item failure) and hidden, not visible again after the
    # queue's visibility timeout; Imagga was not called; the object has no status; the pause is counted
    assert done.failed_message_ids == [message["MessageId"]]
    assert imagga.calls == []
    assert "moderation:status" not in tags_of(s3, bucket, "archive/old.png")
    assert done.metrics["BackfillPaused"] == 1
    (waiting,) = done.logged("backfill task waits in its queue")
    assert waiting["seconds"] == 11 * 3600
    assert "below the reserve of 100" in waiting["why"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=backfill_queue["url"], AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_a_paused_task_that_would_reach_the_dead_letter_queue_is_sent_again_fresh_instead(
    moderation: Moderation,
    imagga: FakeImagga,
    s3: BaseClient,
    sqs: BaseClient,
    bucket: str,
    budget_table: str,
    backfill_queue: dict[str, str],
) -> None:
    # GIVEN a paused backfill and a task already received twice (MAX_RECEIVE_COUNT 3: one more and
    # the queue's redrive policy would move it to the dead-letter queue)
    s3.put_object(Bucket=bucket, Key="archive/old.png", Body=png_bytes(32, 32, GREEN))
    body = backfill_task_body(BackfillTask(ObjectRef(bucket, "archive/old.png"), source="batch-operations", run="j"))
    sqs.send_message(QueueUrl=backfill_queue["url"], MessageBody=body)
    pause_backfill(DynamoDBBudgetStore(boto3.client("dynamodb", region_name=REGION), budget_table))
    configured(moderation, budget_table, backfill_queue, MAX_RECEIVE_COUNT="3")
    (message,) = receive(sqs, backfill_queue["url"])
    record = lambda_record(message, backfill_queue["arn"])
    record["attributes"]["ApproximateReceiveCount"] = "2"

    # WHEN it is delivered
    done = moderation.invoke({"Records": [record]})

    # THEN the original succeeds (the event source deletes it) and a fresh copy of the same task waits
    assert done.failed_message_ids == []
    (resent,) = done.logged("backfill task sent again to wait (a fresh copy: receive count and retention start over)")
    assert resent["delay_s"] == 900
    sqs.delete_message(QueueUrl=backfill_queue["url"], ReceiptHandle=message["ReceiptHandle"])
    counts = sqs.get_queue_attributes(QueueUrl=backfill_queue["url"], AttributeNames=["All"])["Attributes"]
    assert int(counts["ApproximateNumberOfMessagesDelayed"]) == 1
    assert imagga.calls == []


def test_while_backfill_is_paused_a_task_for_bytes_a_human_rejected_is_quarantined_without_a_call(
    moderation: Moderation,
    imagga: FakeImagga,
    s3: BaseClient,
    sqs: BaseClient,
    dynamodb: BaseClient,
    bucket: str,
    budget_table: str,
    backfill_queue: dict[str, str],
) -> None:
    # GIVEN a paused backfill, and an old object whose bytes a moderator rejected elsewhere
    data = png_bytes(48, 48, GREEN)
    decisions = unique("decisions")
    dynamodb.create_table(**ledger_table(decisions))
    rejection = rejection_of(
        hashlib.sha256(data).hexdigest(),
        data,
        location=f"s3://{bucket}/incoming/first.png",
        rejected_by="arn:aws:iam::123456789012:user/reviewer",
        rejected_at="2026-11-02T09:00:00Z",
        settings=Settings(),
    )
    DynamoDBContentMemory(dynamodb, decisions).remember_rejected(rejection.image, rejection.index)
    s3.put_object(Bucket=bucket, Key="archive/again.png", Body=data)
    send_task(sqs, backfill_queue, BackfillTask(ObjectRef(bucket, "archive/again.png")))
    pause_backfill(DynamoDBBudgetStore(dynamodb, budget_table))
    configured(moderation, budget_table, backfill_queue, DECISIONS_TABLE=decisions)

    # WHEN the task is delivered
    (message,) = receive(sqs, backfill_queue["url"])
    done = moderation.invoke({"Records": [lambda_record(message, backfill_queue["arn"])]})

    # THEN the memory decided without Imagga: quarantined as rejected before, the message done
    assert done.failed_message_ids == []
    assert imagga.calls == []
    tags = tags_of(s3, bucket, "quarantine/archive/again.png")
    assert (tags["moderation:status"], tags["moderation:reason"]) == ("UNSAFE", "rejected-before")
    assert "BackfillPaused" not in done.metrics


def test_when_the_budget_table_cannot_be_read_a_backfill_task_waits_and_never_reaches_the_dead_letter_queue(
    moderation: Moderation,
    imagga: FakeImagga,
    s3: BaseClient,
    sqs: BaseClient,
    bucket: str,
    backfill_queue: dict[str, str],
) -> None:
    # GIVEN a budget table that does not exist, and a task on its last delivery before the DLQ
    s3.put_object(Bucket=bucket, Key="archive/old.png", Body=png_bytes(32, 32, GREEN))
    send_task(sqs, backfill_queue, BackfillTask(ObjectRef(bucket, "archive/old.png")))
    configured(moderation, "no-such-budget-table", backfill_queue, MAX_RECEIVE_COUNT="3")
    (message,) = receive(sqs, backfill_queue["url"])
    record = lambda_record(message, backfill_queue["arn"])
    record["attributes"]["ApproximateReceiveCount"] = "3"

    # WHEN it is delivered
    done = moderation.invoke({"Records": [record]})

    # THEN no call, no tag, and a fresh copy waits in the queue: the original is done with, not failed
    assert done.failed_message_ids == []
    assert imagga.calls == []
    assert "moderation:status" not in tags_of(s3, bucket, "archive/old.png")
    (resent,) = done.logged("backfill task sent again to wait (a fresh copy: receive count and retention start over)")
    assert "backfill work waits" in resent["why"]
    assert done.metrics["ErrorBudgetStore"] >= 1


# --- S3 Batch Operations ------------------------------------------------------------------------


def test_batch_operations_tasks_become_backfill_tasks_and_answer_at_once(
    moderation: Moderation,
    imagga: FakeImagga,
    s3: BaseClient,
    sqs: BaseClient,
    bucket: str,
    budget_table: str,
    backfill_queue: dict[str, str],
) -> None:
    # GIVEN a stack with a backfill queue
    configured(moderation, budget_table, backfill_queue)
    event = batch_operations_event(bucket, "archive/beach photo.png", "archive/plus+1.png")
    event["job"]["userArguments"] = {"rescan": "true"}

    # WHEN S3 Batch Operations invokes the function
    done = moderation.invoke(event)

    # THEN each task succeeded as queued, with its message id; nothing was sent to Imagga
    assert done.response is not None
    results = done.response["results"]
    assert [r["resultCode"] for r in results] == ["Succeeded", "Succeeded"]
    assert all(r["resultString"].startswith("QUEUED:") for r in results)
    assert imagga.calls == []
    assert done.metrics["BackfillQueued"] == 2
    # AND the queue holds one task per object: the key decoded, its other readings, the rescan, the job
    messages = []
    for _ in range(3):
        messages += receive(sqs, backfill_queue["url"], wait=0)
    tasks = sorted((backfill_task(m["Body"]) for m in messages), key=lambda t: t.ref.key if t else "")
    assert [t.ref.key for t in tasks if t] == ["archive/beach photo.png", "archive/plus+1.png"]
    assert tasks[1] is not None and tasks[1].ref.other_keys == ("archive/plus%2B1.png",)
    assert all(t is not None and t.rescan and t.source == "batch-operations" for t in tasks)
    assert {t.run for t in tasks if t} == {event["job"]["id"]}
    assert {m["MessageId"] for m in messages} == {r["resultString"].removeprefix("QUEUED:") for r in results}


def test_batch_operations_tasks_answer_temporary_failure_saying_why_while_backfill_is_paused(
    moderation: Moderation,
    imagga: FakeImagga,
    sqs: BaseClient,
    bucket: str,
    budget_table: str,
    backfill_queue: dict[str, str],
) -> None:
    pause_backfill(DynamoDBBudgetStore(boto3.client("dynamodb", region_name=REGION), budget_table), remaining=12)
    configured(moderation, budget_table, backfill_queue)

    done = moderation.invoke(batch_operations_event(bucket, "archive/a.png"))

    assert done.response is not None
    (result,) = done.response["results"]
    assert result["resultCode"] == "TemporaryFailure"
    assert result["resultString"].startswith(
        "backfill paused: Imagga's Monthly-Limit-Remaining is 12, below the reserve of 100"
    )
    assert "(Monthly-Limit-Reset)" in result["resultString"]
    assert receive(sqs, backfill_queue["url"], wait=0) == []
    assert json.dumps(done.metrics).count("BackfillPaused") == 1


def test_when_the_budget_table_cannot_be_read_batch_operations_tasks_are_queued_all_the_same(
    moderation: Moderation,
    imagga: FakeImagga,
    sqs: BaseClient,
    bucket: str,
    backfill_queue: dict[str, str],
) -> None:
    configured(moderation, "no-such-budget-table", backfill_queue)

    done = moderation.invoke(batch_operations_event(bucket, "archive/a.png"))

    # The queue's consumer looks at the budget again: the task waits there, not in S3 Batch Operations
    assert done.response is not None
    (result,) = done.response["results"]
    assert result["resultCode"] == "Succeeded" and result["resultString"].startswith("QUEUED:")
    assert len(receive(sqs, backfill_queue["url"], wait=0)) == 1
    assert done.metrics["ErrorBudgetStore"] == 1
