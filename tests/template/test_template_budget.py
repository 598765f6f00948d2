"""The template's one Imagga budget, its backfill queue, S3 Batch Operations role, and many buckets in one stack."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from moderator.cli import stack_outputs
from moderator.observability import MONTHLY_LIMIT_REMAINING, NAMESPACE, SERVICE

from .cfn import as_list, evaluate, stack, statements

pytestmark = pytest.mark.template

CREATED = "imagga-moderator-123456789012-0123456789ab"
ADMIN = "arn:aws:iam::123456789012:role/moderation-admin"
TEN = [f"example-corp-photos-{n:02d}" for n in range(1, 11)]


def function_statements(deployed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    role = deployed["Resources"]["ModeratorFunctionRole"]["Properties"]
    return {s["Sid"]: s for p in role["Policies"] for s in statements(p["PolicyDocument"]) if "Sid" in s}


def resolved(deployed: dict[str, Any], value: Any) -> list[Any]:
    return as_list(evaluate(value, deployed["Parameters"]))


def s3_scope(deployed: dict[str, Any]) -> dict[str, list[str]]:
    """The S3 resources the function may act on, by statement, as the stack would compute them."""
    found = function_statements(deployed)
    return {
        sid: resolved(deployed, found[sid]["Resource"])
        for sid in ("ReadTagAndRemoveIncomingObjects", "TellMissingIncomingObjects", "WriteQuarantinedCopies")
    }


def scope_of(buckets: list[str]) -> dict[str, list[str]]:
    return {
        "ReadTagAndRemoveIncomingObjects": [f"arn:aws:s3:::{b}/incoming/*" for b in buckets],
        "TellMissingIncomingObjects": [f"arn:aws:s3:::{b}" for b in buckets],
        "WriteQuarantinedCopies": [f"arn:aws:s3:::{b}/quarantine/*" for b in buckets],
    }


# --- many buckets, one stack -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "buckets"),
    [
        ({}, [CREATED]),
        ({"ExistingBucketNames": "example-corp-photos"}, [CREATED, "example-corp-photos"]),
        ({"ExistingBucketNames": "a-photos,b.avatars", "CreateNewBucket": "false"}, ["a-photos", "b.avatars"]),
        ({"ExistingBucketNames": ",".join(TEN)}, [CREATED, *TEN]),
        ({"ExistingBucketName": "legacy-photos"}, ["legacy-photos"]),
        ({"ExistingBucketName": "old-photos", "ExistingBucketNames": "more-photos"}, ["old-photos", "more-photos"]),
    ],
    ids=["created", "created-and-one", "two-only", "created-and-ten", "legacy", "legacy-and-list"],
)
def test_the_function_may_touch_exactly_the_moderated_buckets_under_their_prefixes(
    rendered: dict[str, Any], parameters: dict[str, str], buckets: list[str]
) -> None:
    # GIVEN a deployment with these buckets
    deployed = stack(rendered, parameters)

    # WHEN the function's S3 statements are computed for its parameters
    scope = s3_scope(deployed)

    # THEN each statement names exactly those buckets, under the incoming or quarantine prefix
    assert scope == scope_of(buckets)
    assert ("Bucket" in deployed["Resources"]) is (CREATED in buckets)


def test_one_rule_sends_every_listed_bucket_to_the_live_queue_which_admits_it(rendered: dict[str, Any]) -> None:
    # GIVEN two existing buckets next to the created one
    deployed = stack(rendered, {"ExistingBucketNames": "a-photos,b.avatars"})

    # WHEN the rule and the queue policy are read
    rule = deployed["Resources"]["ExistingBucketsRule"]["Properties"]
    pattern = evaluate(rule["EventPattern"], deployed["Parameters"])
    policy = deployed["Resources"]["IngestQueuePolicy"]["Properties"]["PolicyDocument"]
    allows = {s["Sid"]: s for s in statements(policy) if s["Effect"] == "Allow"}

    # THEN "Object Created" events of both buckets under the prefix go to the live queue, sent by that
    # rule alone; the created bucket keeps its S3 notifications
    assert pattern == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["a-photos", "b.avatars"]}, "object": {"key": [{"prefix": "incoming/"}]}},
    }
    assert [t["Arn"] for t in rule["Targets"]] == [{"Fn::GetAtt": ["IngestQueue", "Arn"]}]
    assert set(allows) == {"AllowThisBucketsNotifications", "AllowTheExistingBucketsListRule"}
    listed = allows["AllowTheExistingBucketsListRule"]
    assert listed["Principal"] == {"Service": "events.amazonaws.com"}
    assert listed["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["ExistingBucketsRule", "Arn"]}
    assert "ExistingBucketRule" not in deployed["Resources"]


def test_without_existing_buckets_there_is_no_rule_for_them(rendered: dict[str, Any]) -> None:
    deployed = stack(rendered)

    assert "ExistingBucketsRule" not in deployed["Resources"]
    assert "ExistingBucketNames" not in deployed["Outputs"]
    assert not [name for name in deployed["Outputs"] if name.startswith("ExistingBucketPolicy")]


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("photos", True),
        ("a-photos,b.avatars", True),
        (",".join(TEN), True),
        (",".join([*TEN, "one-more"]), False),
        ("photos,", False),
        ("photos, avatars", False),
        ("Photos", False),
        ("s3://photos", False),
    ],
)
def test_existing_bucket_names_take_up_to_ten_valid_names(rendered: dict[str, Any], value: str, accepted: bool) -> None:
    pattern = rendered["Parameters"]["ExistingBucketNames"]["AllowedPattern"]

    assert (re.fullmatch(pattern, value) is not None) is accepted


def test_a_stack_without_a_bucket_to_moderate_is_refused(rendered: dict[str, Any]) -> None:
    (assertion,) = rendered["Rules"]["SomethingToModerate"]["Assertions"]

    ways = assertion["Assert"]["Fn::Or"]

    assert {"Fn::Equals": [{"Ref": "CreateNewBucket"}, "true"]} in ways
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExistingBucketNames"}, ""]}]} in ways
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExistingBucketName"}, ""]}]} in ways


def test_fail_closed_prints_one_policy_per_listed_bucket_the_same_as_for_a_single_existing_bucket(
    rendered: dict[str, Any],
) -> None:
    # GIVEN fail-closed stacks: one with three listed buckets, and one per bucket the earlier way
    listed = stack(rendered, {"FailClosed": "true", "AdminRoleArn": ADMIN, "ExistingBucketNames": "a,bb,ccc"})

    # WHEN the policy outputs are rendered for their parameters
    outputs = {
        name: json.loads(evaluate(body["Value"], listed["Parameters"]))
        for name, body in listed["Outputs"].items()
        if name.startswith("ExistingBucketPolicy")
    }

    # THEN there is one per listed bucket, in order, and each is the single-bucket policy for its bucket
    assert sorted(outputs) == ["ExistingBucketPolicy1", "ExistingBucketPolicy2", "ExistingBucketPolicy3"]
    for number, bucket in enumerate(["a", "bb", "ccc"], start=1):
        single = stack(rendered, {"FailClosed": "true", "AdminRoleArn": ADMIN, "ExistingBucketName": bucket})
        expected = evaluate(single["Outputs"]["ExistingBucketPolicy"]["Value"], single["Parameters"])
        assert outputs[f"ExistingBucketPolicy{number}"] == json.loads(expected)
        resources = {r for s in outputs[f"ExistingBucketPolicy{number}"]["Statement"] for r in as_list(s["Resource"])}
        assert {r.split(":::")[1].split("/")[0] for r in resources} == {bucket}
    assert listed["Outputs"]["ExistingBucketNames"]["Value"] == {"Ref": "ExistingBucketNames"}


def test_without_fail_closed_no_bucket_policy_is_printed(rendered: dict[str, Any]) -> None:
    deployed = stack(rendered, {"ExistingBucketNames": "a,bb"})

    assert not [name for name in deployed["Outputs"] if name.startswith("ExistingBucketPolicy")]


def test_the_first_moderated_bucket_is_the_stacks_bucket_name(rendered: dict[str, Any]) -> None:
    cases = {
        "created": ({}, CREATED),
        "listed only": ({"CreateNewBucket": "false", "ExistingBucketNames": "a-photos,b"}, "a-photos"),
        "legacy": ({"ExistingBucketName": "legacy-photos"}, "legacy-photos"),
    }
    for parameters, expected in cases.values():
        deployed = stack(rendered, parameters)
        value = evaluate(deployed["Outputs"]["BucketName"]["Value"], deployed["Parameters"])
        name = expected if value == {"Ref": "Bucket"} else value
        assert name == expected


# --- the budget and the backfill queue -----------------------------------------------------------


def test_the_backfill_queue_keeps_tasks_14_days_and_shares_the_dead_letter_queue(rendered: dict[str, Any]) -> None:
    deployed = stack(rendered)

    queue = deployed["Resources"]["BackfillQueue"]["Properties"]
    env = deployed["Resources"]["ModeratorFunction"]["Properties"]["Environment"]["Variables"]

    assert queue["MessageRetentionPeriod"] == 1_209_600
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    assert queue["VisibilityTimeout"] == deployed["Resources"]["IngestQueue"]["Properties"]["VisibilityTimeout"]
    assert queue["SqsManagedSseEnabled"] is True
    assert env["BACKFILL_QUEUE_URL"] == {"Ref": "BackfillQueue"}


def test_the_function_may_use_the_budget_table_and_put_tasks_on_the_backfill_queue_and_nothing_more(
    rendered: dict[str, Any],
) -> None:
    deployed = stack(rendered)

    found = function_statements(deployed)
    env = deployed["Resources"]["ModeratorFunction"]["Properties"]["Environment"]["Variables"]
    table = deployed["Resources"]["BudgetTable"]["Properties"]

    assert found["UseTheImaggaBudget"]["Action"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert found["UseTheImaggaBudget"]["Resource"] == {"Fn::GetAtt": ["BudgetTable", "Arn"]}
    assert found["QueueAndPutBackBackfillTasks"]["Action"] == [
        "sqs:SendMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
    ]
    assert found["QueueAndPutBackBackfillTasks"]["Resource"] == {"Fn::GetAtt": ["BackfillQueue", "Arn"]}
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert env["BUDGET_TABLE"] == {"Ref": "BudgetTable"}
    assert env["IMAGGA_MAX_CONCURRENCY"] == {"Ref": "ImaggaMaxConcurrency"}
    assert env["BACKFILL_QUOTA_RESERVE"] == {"Ref": "BackfillQuotaReserve"}


def test_an_alarm_says_when_backfill_work_is_paused_for_the_quota(rendered: dict[str, Any]) -> None:
    deployed = stack(rendered)

    alarm = deployed["Resources"]["BackfillPausedAlarm"]["Properties"]

    # The metric the function writes from Monthly-Limit-Remaining, below the reserve that pauses backfill work
    assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, MONTHLY_LIMIT_REMAINING)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": SERVICE}]
    assert alarm["Threshold"] == {"Ref": "BackfillQuotaReserve"}
    assert (alarm["Statistic"], alarm["ComparisonOperator"]) == ("Minimum", "LessThanThreshold")
    # no new count while paused keeps the alarm as it is; a count at or above the reserve clears it
    assert alarm["TreatMissingData"] == "ignore"
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlertTopic"}]
    assert "paused" in alarm["AlarmDescription"]


# --- S3 Batch Operations -------------------------------------------------------------------------


def test_the_batch_operations_role_reads_manifests_invokes_the_function_and_writes_reports_only(
    rendered: dict[str, Any],
) -> None:
    deployed = stack(rendered)

    role = deployed["Resources"]["BatchOperationsRole"]["Properties"]
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    (policy,) = role["Policies"]
    granted = {s["Sid"]: s for s in statements(policy["PolicyDocument"])}

    # Only S3 Batch Operations, for jobs of this account, may assume it
    assert trust["Principal"] == {"Service": "batchoperations.s3.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert evaluate(trust["Condition"]["ArnLike"]["aws:SourceArn"], deployed["Parameters"]) == (
        "arn:aws:s3:us-east-1:123456789012:job/*"
    )
    # and it may do exactly this
    assert {sid: (s["Action"], s["Resource"]) for sid, s in granted.items()} == {
        "InvokeTheModerator": ("lambda:InvokeFunction", {"Fn::GetAtt": ["ModeratorFunction", "Arn"]}),
        "ReadTheManifests": (
            ["s3:GetObject", "s3:GetObjectVersion"],
            {"Fn::Sub": "${BatchOperationsBucket.Arn}/batch-manifests/*"},
        ),
        "WriteTheReports": ("s3:PutObject", {"Fn::Sub": "${BatchOperationsBucket.Arn}/batch-reports/*"}),
        "LocateTheBucket": ("s3:GetBucketLocation", {"Fn::GetAtt": ["BatchOperationsBucket", "Arn"]}),
    }
    assert all(s["Effect"] == "Allow" for s in granted.values())


def test_the_batch_operations_bucket_is_private_encrypted_tls_only_and_expires_its_files(
    rendered: dict[str, Any],
) -> None:
    deployed = stack(rendered)

    bucket = deployed["Resources"]["BatchOperationsBucket"]["Properties"]
    policy = deployed["Resources"]["BatchOperationsBucketPolicy"]["Properties"]

    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == 90
    (tls,) = statements(policy["PolicyDocument"])
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_outputs_the_backfill_command_reads_are_there(rendered: dict[str, Any]) -> None:
    deployed = stack(rendered)

    outputs = deployed["Outputs"]

    assert outputs[stack_outputs.FUNCTION_ARN]["Value"] == {"Fn::GetAtt": ["ModeratorFunction", "Arn"]}
    assert outputs[stack_outputs.BATCH_OPERATIONS_ROLE_ARN]["Value"] == {"Fn::GetAtt": ["BatchOperationsRole", "Arn"]}
    assert outputs[stack_outputs.BATCH_OPERATIONS_BUCKET]["Value"] == {"Ref": "BatchOperationsBucket"}
    assert outputs[stack_outputs.BACKFILL_QUEUE_URL]["Value"] == {"Ref": "BackfillQueue"}
    assert outputs[stack_outputs.BUDGET_TABLE]["Value"] == {"Ref": "BudgetTable"}
    assert "BackfillQuotaReserve" in deployed["Parameters"]
