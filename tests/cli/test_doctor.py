"""`doctor s3://BUCKET`: a bucket ready for fail-closed passes, an unready one fails in one line per check.

Against moto in-process (`mock_aws`): buckets made ready or not by hand, the fail-closed policy
the stack prints (infra/policies/fail-closed-bucket-policy.json, filled in), ledger items as the
function writes them. Two answers moto cannot give as S3 does are given by an event hook on the
command's AWS session, in S3's shape: GetBucketNotificationConfiguration with EventBridge on
(moto stores the setting but leaves `EventBridgeConfiguration` out of its answer), and
GetBucketPolicy (a policy stored in moto is enforced without its conditions, which would refuse
this test's own uploads and reads).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner, Result
from moto import mock_aws

from moderator.cli.main import cli as moderator_cli
from moderator.ledger import DynamoDBLedger, table_definition
from moderator.model import Action, ObjectRef, Outcome, Status
from moderator.preflight import FAIL_CLOSED
from tests.builders import jpeg_bytes

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILE = ROOT / "infra" / "policies" / "fail-closed-bucket-policy.json"
REGION = "us-east-1"
BUCKET = "photos-of-example-corp"
TABLE = "moderation-decisions"
FUNCTION = "arn:aws:iam::123456789012:role/imagga-s3-moderator-ModeratorFunctionRole-ABC"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "QUARANTINE_PREFIX": "quarantine/",
    "DECISIONS_TABLE": TABLE,
    "APPROVALS_TABLE": None,
    "IDEMPOTENCY_TABLE": None,
}


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        boto3.client("dynamodb", region_name=REGION).create_table(**table_definition(TABLE))
        yield s3


class S3Answers:
    """What S3 answers the command where moto cannot (see the module's docstring), and its tag reads counted."""

    def __init__(self) -> None:
        self.eventbridge = False
        self.policy: str | None = None
        self.tag_reads = 0

    def install(self, session: boto3.session.Session) -> None:
        session.events.register("before-call.s3.GetBucketNotificationConfiguration", self._notifications)
        session.events.register("before-call.s3.GetBucketPolicy", self._policy)
        session.events.register("before-call.s3.GetObjectTagging", self._count)

    def _notifications(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not self.eventbridge:
            return None  # moto's own answer
        return AWSResponse("https://s3.amazonaws.com/", 200, {}, None), {"EventBridgeConfiguration": {}}

    def _policy(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self.policy is None:
            return None  # moto's own answer: NoSuchBucketPolicy
        return AWSResponse("https://s3.amazonaws.com/", 200, {}, None), {"Policy": self.policy}

    def _count(self, **_: Any) -> None:
        self.tag_reads += 1


@pytest.fixture
def answers(aws: Any, monkeypatch: pytest.MonkeyPatch) -> S3Answers:
    given = S3Answers()
    session = boto3.session.Session()
    given.install(session)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    return given


def doctor(*args: str, **env: str | None) -> Result:
    return CliRunner().invoke(moderator_cli, ["doctor", f"s3://{BUCKET}", *args], env={**ENV, **env})


def checks_of(result: Result) -> dict[str, tuple[str, str]]:
    answer = json.loads(result.stdout)
    return {c["check"]: (c["status"], c["detail"]) for c in answer["checks"]}


def fail_closed_policy(without: tuple[str, ...] = ()) -> str:
    filled = Template(POLICY_FILE.read_text(encoding="utf-8")).substitute(
        Partition="aws",
        BucketName=BUCKET,
        IncomingPrefix="incoming/",
        QuarantinePrefix="quarantine/",
        FunctionRoleArn=FUNCTION,
        AdminRoleArn=FUNCTION,
    )
    policy = json.loads(filled)
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] not in without]
    return json.dumps(policy)


def make_ready(s3: Any, answers: S3Answers) -> None:
    """Versioning on, EventBridge notifications on, the stack's fail-closed policy."""
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}})
    answers.eventbridge = True
    answers.policy = fail_closed_policy()


def moderated_by_the_function(s3: Any, key: str, scanned_at: str = "2026-03-01T10:00:00Z") -> None:
    """An upload the function tagged SAFE, and its scan in the ledger, as the function writes them."""
    put = s3.put_object(Bucket=BUCKET, Key=key, Body=jpeg_bytes())
    version, etag = put.get("VersionId"), put["ETag"].strip('"')
    tags = {"moderation:status": "SAFE", "moderation:nsfw": "0.50", "moderation:scanned-at": scanned_at}
    s3.put_object_tagging(Bucket=BUCKET, Key=key, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    DynamoDBLedger(boto3.client("dynamodb", region_name=REGION), TABLE).publish(
        Outcome(
            ref=ObjectRef(BUCKET, key, version, etag),
            action=Action.TAGGED,
            status=Status.SAFE,
            scores={"nsfw": 0.5},
            etag=etag,
            version_id=version,
            scanned_at=scanned_at,
            sha256="0" * 64,
        )
    )


def test_a_bucket_ready_for_fail_closed_passes_every_check(aws: Any, answers: S3Answers) -> None:
    # GIVEN a versioned bucket, EventBridge on, the stack's fail-closed policy, a moderated and an unmoderated upload
    make_ready(aws, answers)
    moderated_by_the_function(aws, "incoming/beach.jpg")
    aws.put_object(Bucket=BUCKET, Key="incoming/new.jpg", Body=jpeg_bytes())

    # WHEN the operator runs the preflight
    result = doctor("--json")

    # THEN every check is ok and the exit code is 0
    assert result.exit_code == 0, result.output
    checks = checks_of(result)
    assert {name: status for name, (status, _) in checks.items()} == {
        "versioning": "ok",
        "notifications": "ok",
        "policy": "ok",
        "moderation-tags": "ok",
    }
    assert json.loads(result.stdout)["ready"] is True
    assert "2 object versions" in checks["moderation-tags"][1]


def test_an_unready_bucket_fails_each_check_in_one_line(aws: Any, answers: S3Answers) -> None:
    # GIVEN an unversioned bucket, no notification, the fail-closed policy without its case-insensitive statement,
    # and uploads that tagged themselves: one in another case, one in ours but unknown to the ledger
    aws.put_object(Bucket=BUCKET, Key="incoming/forged.jpg", Body=jpeg_bytes(), Tagging="Moderation:Status=SAFE")
    aws.put_object(Bucket=BUCKET, Key="incoming/early.jpg", Body=jpeg_bytes(), Tagging="moderation:status=SAFE")
    answers.policy = fail_closed_policy(without=("DenySettingModerationStatusInAnyCase",))

    # WHEN the operator runs the preflight, as a table and as JSON
    table = doctor()
    as_json = doctor("--json")

    # THEN each check fails, saying why and what to do, and the exit code is 1
    assert (table.exit_code, as_json.exit_code) == (1, 1)
    checks = checks_of(as_json)
    assert {name: status for name, (status, _) in checks.items()} == dict.fromkeys(checks, "fail")
    assert "versioning is off" in checks["versioning"][1]
    assert "EventBridge" in checks["notifications"][1]
    assert "missing DenySettingModerationStatusInAnyCase" in checks["policy"][1]
    tags_detail = checks["moderation-tags"][1]
    assert "incoming/forged.jpg (tag key in another case (Moderation:Status))" in tags_detail
    assert "incoming/early.jpg (its moderation:scanned-at names no scan" in tags_detail
    assert f"backfill --rescan s3://{BUCKET}/incoming/" in tags_detail
    # AND the table says the same, one row per check, and that the bucket is not ready
    text = " ".join(table.stdout.split())
    assert text.count(" fail ") >= 4 and "not ready" in text


def test_without_a_policy_yet_fail_closed_is_a_warning_to_apply_it(aws: Any, answers: S3Answers) -> None:
    # GIVEN a bucket ready but for the policy (the preflight runs before the policy is applied)
    make_ready(aws, answers)
    answers.policy = None

    # WHEN the preflight runs
    result = doctor("--json")

    # THEN the policy check warns what to apply, and nothing fails
    assert result.exit_code == 0, result.output
    status, detail = checks_of(result)["policy"]
    assert status == "warn" and "ExistingBucketPolicy" in detail


def test_a_policy_statement_that_differs_from_the_stacks_fails(aws: Any, answers: S3Answers) -> None:
    # GIVEN the fail-closed policy with its read statement weakened: UNSAFE objects readable too
    make_ready(aws, answers)
    policy = json.loads(fail_closed_policy())
    (reads,) = [s for s in policy["Statement"] if s["Sid"] == "DenyReadsUntilModeratedSafe"]
    reads["Condition"]["StringNotEquals"]["s3:ExistingObjectTag/moderation:status"].append("UNSAFE")
    answers.policy = json.dumps(policy)

    # WHEN the preflight runs / THEN the policy check names the statement that differs
    status, detail = checks_of(doctor("--json"))["policy"]
    assert status == "fail" and "different from the stack's DenyReadsUntilModeratedSafe" in detail


@pytest.mark.parametrize(
    ("prefix", "expected"), [("", "ok"), ("incoming/", "ok"), ("uploads/", "fail")], ids=["all", "incoming", "other"]
)
def test_an_s3_to_sqs_notification_counts_when_it_covers_the_incoming_prefix(
    aws: Any, prefix: str, expected: str
) -> None:
    # GIVEN a bucket that notifies a queue of new objects under some prefix
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="moderation-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    entry: dict[str, Any] = {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}
    if prefix:
        entry["Filter"] = {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}
    aws.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [entry]})

    # WHEN the preflight runs / THEN the notification check passes only when incoming/ is covered
    status, detail = checks_of(doctor("--json"))["notifications"]
    assert status == expected, detail
    if expected == "ok":
        assert arn in detail


def test_the_tag_scan_is_bounded_by_max_objects(aws: Any, answers: S3Answers) -> None:
    # GIVEN a ready bucket with five uploads, and a count of the tag reads the command makes
    make_ready(aws, answers)
    for number in range(5):
        aws.put_object(Bucket=BUCKET, Key=f"incoming/{number}.jpg", Body=b"x")

    # WHEN the preflight may look at two objects only
    result = doctor("--json", "--max-objects", "2")

    # THEN it read the tags of two, and warns that it did not look further
    assert result.exit_code == 0, result.output
    status, detail = checks_of(result)["moderation-tags"]
    assert status == "warn" and "first 2 object versions" in detail
    assert answers.tag_reads == 2


def test_without_a_ledger_tags_on_objects_cannot_be_trusted(aws: Any, answers: S3Answers) -> None:
    # GIVEN an object tagged by the function, but no DECISIONS_TABLE to tell its tags from forged ones
    make_ready(aws, answers)
    moderated_by_the_function(aws, "incoming/beach.jpg")

    # WHEN the preflight runs without the ledger / THEN the tag check fails and says what to set
    status, detail = checks_of(doctor("--json", DECISIONS_TABLE=None))["moderation-tags"]
    assert status == "fail" and "set DECISIONS_TABLE" in detail


def test_a_missing_bucket_is_a_one_line_setup_error(aws: Any) -> None:
    result = CliRunner().invoke(moderator_cli, ["doctor", "s3://no-such-bucket-anywhere"], env=ENV)

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: the bucket no-such-bucket-anywhere does not exist"


def test_doctor_expects_exactly_the_statements_of_the_policy_file() -> None:
    # GIVEN the policy file the stack renders and the statements doctor looks for
    from_file = {s["Sid"]: s for s in json.loads(POLICY_FILE.read_text(encoding="utf-8"))["Statement"]}

    # WHEN they are compared / THEN they name the same statements, the same actions, the same conditions
    assert {e.sid for e in FAIL_CLOSED} == set(from_file)
    for expected in FAIL_CLOSED:
        statement = from_file[expected.sid]
        assert set(statement["Action"]) == expected.actions, expected.sid
        conditions = {op: pairs for op, pairs in statement["Condition"].items() if op != "ArnNotLike"}
        assert conditions == expected.condition, expected.sid
