"""`backfill` within a stack: tasks to its backfill queue, and Batch Operations jobs from its outputs.

The stack's outputs come from CloudFormation's DescribeStacks, answered by moto: each test creates
a CloudFormation stack on the local stack's moto server whose outputs name the local stack's
queue, table and bucket, as a deployed template's would. moto alone: CloudFormation and S3 Control
are not among LocalStack's services here. S3 Control's CreateJob is not in moto either: the request
the command sends is taken at botocore's `before-call` hook and answered there.
"""

from __future__ import annotations

import csv
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from infra.local.stack import LocalStack

from moderator.budget import Quota
from moderator.budget_table import DynamoDBBudgetStore
from tests.backends import moto_only
from tests.builders import png_bytes
from tests.cli.conftest import Cli, assert_one_line_error, tags_of, wait_until

pytestmark = moto_only

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:imagga-s3-moderator-ModeratorFunction-AbC"
ROLE_ARN = "arn:aws:iam::123456789012:role/imagga-s3-moderator-BatchOperationsRole-AbC"


def deploy_outputs(stack: LocalStack, outputs: dict[str, str], reserve: str = "1000") -> str:
    """A CloudFormation stack whose outputs (and BackfillQuotaReserve) are those given; its name."""
    name = f"moderator-{uuid.uuid4().hex[:8]}"
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"BackfillQuotaReserve": {"Type": "Number", "Default": "1000"}},
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-marker"}}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    stack.boto3_client("cloudformation").create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "BackfillQuotaReserve", "ParameterValue": reserve}],
    )
    return name


def outputs_of(stack: LocalStack, batch_bucket: str) -> dict[str, str]:
    assert stack.budget_table is not None
    return {
        "BackfillQueueUrl": stack.backfill_queue_url,
        "BudgetTableName": stack.budget_table,
        "FunctionArn": FUNCTION_ARN,
        "BatchOperationsRoleArn": ROLE_ARN,
        "BatchOperationsBucketName": batch_bucket,
    }


@pytest.fixture
def old_objects(stack: LocalStack) -> tuple[str, list[str]]:
    """Objects outside the incoming prefix (no event), one of them already moderated."""
    prefix = f"old-{uuid.uuid4().hex[:8]}/"
    s3 = stack.boto3_client("s3")
    keys = [f"{prefix}photo {n}.png" for n in range(6)]
    for number, key in enumerate(keys):
        s3.put_object(Bucket=stack.bucket, Key=key, Body=png_bytes(24, 24, (20 * number, 120, 80)))
    s3.put_object(Bucket=stack.bucket, Key=f"{prefix}done.png", Body=b"x", Tagging="moderation:status=SAFE")
    return prefix, keys


@pytest.fixture
def batch_bucket(stack: LocalStack) -> str:
    name = f"{stack.name}-batch-operations"
    stack.boto3_client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def create_job_requests() -> Iterator[list[dict[str, Any]]]:
    """S3 Control CreateJob requests as the command built them, answered with a job id instead of being sent."""
    taken: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        taken.append(dict(params))

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # What botocore's Stubber answers with: a response that never went over the wire.
        return AWSResponse(None, 200, {}, None), {"JobId": "a1b2c3d4-0000-4000-8000-000000000001"}

    events = boto3._get_default_session().events  # the session the command's clients come from
    events.register("before-parameter-build.s3-control.CreateJob", record, unique_id="create-job-record")
    events.register("before-call.s3-control.CreateJob", answer, unique_id="create-job-answer")
    yield taken
    events.unregister("before-parameter-build.s3-control.CreateJob", unique_id="create-job-record")
    events.unregister("before-call.s3-control.CreateJob", unique_id="create-job-answer")


def test_backfill_with_a_stack_name_sends_tasks_to_its_queue_and_the_stack_moderates_them(
    cli: Cli, stack: LocalStack, old_objects: tuple[str, list[str]], batch_bucket: str
) -> None:
    # GIVEN a deployed stack, known by name only, and six old objects with no status (and one with)
    prefix, keys = old_objects
    name = deploy_outputs(stack, outputs_of(stack, batch_bucket))

    # WHEN the operator backfills the prefix within that stack
    result = cli("backfill", f"s3://{stack.bucket}/{prefix}", "--stack-name", name, "--json")

    # THEN the six untagged objects are queued as tasks, none is moderated by this machine ...
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert (summary["listed"], summary["queued"], summary["already_tagged"]) == (7, 6, 1)
    assert summary["queue"] == stack.backfill_queue_url
    # ... and the stack's backfill queue consumer tags every one of them
    wait_until(lambda: all("moderation:status" in tags_of(stack, key) for key in keys), 60, "the queued tasks")
    assert {tags_of(stack, key)["moderation:status"] for key in keys} == {"SAFE"}


def test_tasks_sent_while_backfill_is_paused_are_queued_with_a_warning_saying_until_when(
    cli: Cli, stack: LocalStack, old_objects: tuple[str, list[str]], batch_bucket: str
) -> None:
    # GIVEN a stack whose budget saw 40 requests left this month, below its reserve of 1000
    prefix, keys = old_objects
    assert stack.budget_table is not None
    store = DynamoDBBudgetStore(stack.boto3_client("dynamodb"), stack.budget_table)
    reset = time.time() + 3 * 86_400
    store.replace({}, {}, version=store.read().version)
    store.release("nobody", Quota(remaining=40, reset_at=reset, seen_at=time.time()))
    name = deploy_outputs(stack, outputs_of(stack, batch_bucket), reserve="1000")
    # (the stack's consumers stopped, and their last long poll over, so that the tasks stay to be counted)
    stack.pause()
    time.sleep(1.5)
    sqs = stack.boto3_client("sqs")
    try:
        # WHEN the operator backfills within that stack
        result = cli("backfill", f"s3://{stack.bucket}/{prefix}", "--stack-name", name)

        # THEN the command says backfill work is paused and until when, and the tasks wait in the queue
        assert result.exit_code == 0, result.output
        assert "warning: backfill paused: Imagga's Monthly-Limit-Remaining is 40, below the reserve of 1000" in (
            result.stdout.replace("\n", " ")
        )
        assert "queued: 6" in result.stdout
        assert stack.queue_depth(stack.backfill_queue_url) == 6
    finally:
        sqs.purge_queue(QueueUrl=stack.backfill_queue_url)
        store.release("nobody", Quota(remaining=99_999, reset_at=reset, seen_at=time.time()))
        stack.resume()
    assert [key for key in keys if "moderation:status" in tags_of(stack, key)] == []


def test_create_job_takes_function_role_bucket_and_account_from_the_stack(
    cli: Cli,
    stack: LocalStack,
    old_objects: tuple[str, list[str]],
    batch_bucket: str,
    tmp_path: Path,
    create_job_requests: list[dict[str, Any]],
) -> None:
    # GIVEN a deployed stack
    prefix, keys = old_objects
    name = deploy_outputs(stack, outputs_of(stack, batch_bucket))
    manifest = tmp_path / "old.csv"

    # WHEN the operator creates a Batch Operations job for a rescan of the prefix, naming only the stack
    result = cli(
        "backfill", f"s3://{stack.bucket}/{prefix}", "--batch-operations", str(manifest), "--create-job",
        "--stack-name", name, "--rescan",
    )  # fmt: skip

    # THEN the job invokes the stack's function as the stack's role, reads its manifest from the
    # stack's bucket and writes its report there, in the stack's account, asking for a rescan
    assert result.exit_code == 0, result.output
    assert "created Batch Operations job a1b2c3d4-0000-4000-8000-000000000001" in result.stdout
    (job,) = create_job_requests
    assert job["AccountId"] == "123456789012"
    assert job["Operation"]["LambdaInvoke"] == {
        "FunctionArn": FUNCTION_ARN,
        "InvocationSchemaVersion": "2.0",
        "UserArguments": {"rescan": "true"},
    }
    assert job["RoleArn"] == ROLE_ARN
    assert job["Manifest"]["Location"]["ObjectArn"] == f"arn:aws:s3:::{batch_bucket}/batch-manifests/old.csv"
    assert job["Report"]["Bucket"] == f"arn:aws:s3:::{batch_bucket}" and job["Report"]["Prefix"] == "batch-reports"
    # AND the manifest it names is in that bucket, with the ETag the job was given
    uploaded = stack.boto3_client("s3").head_object(Bucket=batch_bucket, Key="batch-manifests/old.csv")
    assert uploaded["ETag"].strip('"') == job["Manifest"]["Location"]["ETag"]
    rows = list(csv.reader(manifest.open(newline="")))
    assert len(rows) == len(keys) + 1  # a rescan lists the moderated object too


def test_backfill_without_a_stack_or_local_says_where_the_work_can_go(cli: Cli, stack: LocalStack) -> None:
    result = cli("backfill", f"s3://{stack.bucket}/incoming/")

    assert_one_line_error(result, 2, "--stack-name NAME", "--local", "only for buckets no stack moderates")


def test_backfill_with_a_stack_that_does_not_exist_says_so(cli: Cli, stack: LocalStack) -> None:
    result = cli("backfill", f"s3://{stack.bucket}/incoming/", "--stack-name", "no-such-stack")

    assert_one_line_error(result, 2, "no stack named no-such-stack")


def test_backfill_with_a_stack_of_an_older_template_names_the_missing_output(
    cli: Cli, stack: LocalStack, batch_bucket: str
) -> None:
    outputs = outputs_of(stack, batch_bucket)
    del outputs["BackfillQueueUrl"]
    name = deploy_outputs(stack, outputs)

    result = cli("backfill", f"s3://{stack.bucket}/incoming/", "--stack-name", name)

    assert_one_line_error(result, 2, f"stack {name} has no output BackfillQueueUrl", "deploy this version")
