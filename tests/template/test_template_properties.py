"""The template after the SAM transform has the guard rails the issue asks for, for each kind of deployment."""

from __future__ import annotations

from typing import Any

import pytest

from moderator import observability
from moderator.errors import QuarantineIncompleteError

from .cfn import as_list, dependency_graph, evaluate, find_cycle, stack, statements

pytestmark = pytest.mark.template

NEW_BUCKET: dict[str, str] = {}
EXISTING_BUCKET = {"ExistingBucketName": "photos-of-example-corp"}
FAIL_CLOSED = {"FailClosed": "true", "AdminRoleArn": "arn:aws:iam::123456789012:role/moderation-admin"}
EVERYTHING = {
    "ImaggaSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:imagga-AbCdEf",
    "QuarantineBucketName": "example-corp-quarantine",
    "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "AlertEmail": "ops@example.com",
    "VerdictAlerts": "false",
    **FAIL_CLOSED,
}
DEPLOYMENTS = {
    "new-bucket": NEW_BUCKET,
    "existing-bucket": EXISTING_BUCKET,
    "new-bucket-everything": EVERYTHING,
    "existing-bucket-everything": {**EXISTING_BUCKET, **EVERYTHING},
}
SCOPED_SERVICES = ("s3:", "dynamodb:", "secretsmanager:", "sns:", "kms:", "events:")


#: Every fail-closed statement of the bucket policy (infra/policies/fail-closed-bucket-policy.json).
FAIL_CLOSED_SIDS = (
    "DenyReadsUntilModeratedSafe",
    "DenyReplicatingIncoming",
    "DenyCopiesIntoIncoming",
    "DenyQuarantineReads",
    "DenyQuarantineWrites",
    "DenySettingModerationTags",
    "DenySettingModerationStatusInAnyCase",
    "DenyRemovingModerationTags",
)


def resources_of(deployed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in deployed["Resources"].items() if body["Type"] == kind}


def only(deployed: dict[str, Any], kind: str) -> dict[str, Any]:
    (body,) = resources_of(deployed, kind).values()
    properties: dict[str, Any] = body["Properties"]
    return properties


def function_statements(deployed: dict[str, Any]) -> list[dict[str, Any]]:
    role = deployed["Resources"]["ModeratorFunctionRole"]["Properties"]
    return [statement for policy in role["Policies"] for statement in statements(policy["PolicyDocument"])]


def statement(deployed: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in function_statements(deployed) if s.get("Sid") == sid]
    return found


def sub_text(value: Any) -> str:
    """The text of a Fn::Sub (either form)."""
    sub = value["Fn::Sub"]
    return sub if isinstance(sub, str) else sub[0]


def bucket_policy_statements(deployed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    document = deployed["Resources"]["BucketPolicy"]["Properties"]["PolicyDocument"]
    return {s["Sid"]: s for s in statements(document)}


def resolved(deployed: dict[str, Any], value: Any) -> list[Any]:
    """A Resource as the stack would compute it for its parameters, always as a list."""
    return as_list(evaluate(value, deployed["Parameters"]))


#: The created bucket's name for the pseudo stack id tests/template/cfn.py uses.
CREATED_BUCKET = "imagga-moderator-123456789012-0123456789ab"


# --- no circular dependency -------------------------------------------------------------------


def test_rendered_template_has_no_circular_dependency(rendered: dict[str, Any]) -> None:
    # GIVEN the template after the SAM transform, every Fn::If branch counted
    graph = dependency_graph(rendered)

    # WHEN its Ref / GetAtt / Sub / DependsOn edges are walked
    cycle = find_cycle(graph)

    # THEN no resource needs itself, and the bucket waits for the queue policy S3 checks
    assert cycle is None, " -> ".join(cycle or [])
    assert "IngestQueuePolicy" in graph["Bucket"]


def test_a_queue_policy_naming_the_bucket_by_reference_would_be_a_cycle(rendered: dict[str, Any]) -> None:
    # GIVEN the rendered template, changed the way it must never be: the queue policy refers to the bucket
    graph = dependency_graph(rendered)
    graph["IngestQueuePolicy"] = {*graph["IngestQueuePolicy"], "Bucket"}

    # WHEN the dependencies are walked
    cycle = find_cycle(graph)

    # THEN the cycle the !Sub-built bucket name avoids is found
    assert cycle is not None and {"Bucket", "IngestQueuePolicy"} <= set(cycle)


# --- ingest -------------------------------------------------------------------------------------


def test_both_queues_feed_the_function_with_partial_batch_failures_and_capped_concurrency(
    rendered: dict[str, Any],
) -> None:
    # GIVEN the default deployment
    deployed = stack(rendered)

    # WHEN the event source mappings SAM made are read
    mappings = {
        body["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: body["Properties"]
        for body in resources_of(deployed, "AWS::Lambda::EventSourceMapping").values()
    }

    # THEN the live queue and the backfill queue feed the function, failures are per message, and each
    # may run as many instances as the budget has Imagga slots (ImaggaMaxConcurrency, 2)
    assert set(mappings) == {"IngestQueue", "BackfillQueue"}
    for mapping in mappings.values():
        assert mapping["FunctionName"] == {"Ref": "ModeratorFunction"}
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "ImaggaMaxConcurrency"}}
        assert mapping["BatchSize"] == {"Ref": "BatchSize"}
    assert deployed["Parameters"]["ImaggaMaxConcurrency"] == "2"


def test_a_budget_of_one_call_still_gives_each_event_source_the_two_instances_sqs_requires(
    rendered: dict[str, Any],
) -> None:
    # GIVEN a plan that allows one call at a time
    deployed = stack(rendered, {"ImaggaMaxConcurrency": "1"})

    # WHEN the mappings and the function's budget are read
    mappings = resources_of(deployed, "AWS::Lambda::EventSourceMapping").values()
    caps = [mapping["Properties"]["ScalingConfig"] for mapping in mappings]
    env = deployed["Resources"]["ModeratorFunction"]["Properties"]["Environment"]["Variables"]

    # THEN each mapping polls with SQS's minimum of 2, and the budget (1 call) is the function's to keep
    assert caps == [{"MaximumConcurrency": 2}, {"MaximumConcurrency": 2}]
    assert env["IMAGGA_MAX_CONCURRENCY"] == {"Ref": "ImaggaMaxConcurrency"}


def test_dead_letter_queue_takes_a_message_after_the_deliveries_the_function_counts(rendered: dict[str, Any]) -> None:
    # GIVEN the default deployment
    deployed = stack(rendered)

    # WHEN the queue's redrive policy and the function's MAX_RECEIVE_COUNT are read
    redrive = deployed["Resources"]["IngestQueue"]["Properties"]["RedrivePolicy"]
    env = deployed["Resources"]["ModeratorFunction"]["Properties"]["Environment"]["Variables"]

    # THEN both come from the one MaxReceiveCount parameter, so the last delivery is the one that tags ERROR
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert env["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}


def test_queue_visibility_is_at_least_six_times_every_allowed_function_timeout(rendered: dict[str, Any]) -> None:
    # GIVEN the function's timeout parameter and the queue's visibility timeout
    timeouts = rendered["Parameters"]["FunctionTimeout"]["AllowedValues"]
    visibility = rendered["Resources"]["IngestQueue"]["Properties"]["VisibilityTimeout"]
    function = rendered["Resources"]["ModeratorFunction"]["Properties"]

    # WHEN the visibility is looked up for each allowed timeout
    mapping, key, attribute = visibility["Fn::FindInMap"]
    looked_up = {int(t): rendered["Mappings"][mapping][str(t)][attribute] for t in timeouts}

    # THEN it is six times the timeout or more (720 s for the default 120 s), within SQS's 12 hours
    assert key == {"Ref": "FunctionTimeout"} and function["Timeout"] == {"Ref": "FunctionTimeout"}
    assert all(6 * timeout <= seconds <= 43_200 for timeout, seconds in looked_up.items())
    assert looked_up[int(rendered["Parameters"]["FunctionTimeout"]["Default"])] >= 720


@pytest.mark.parametrize("deployment", DEPLOYMENTS.values(), ids=DEPLOYMENTS.keys())
def test_queues_are_encrypted_and_admit_only_this_bucket_or_rule_over_tls(
    rendered: dict[str, Any], deployment: dict[str, str]
) -> None:
    # GIVEN a deployment
    deployed = stack(rendered, deployment)

    # WHEN the queues and their policy are read
    queues = resources_of(deployed, "AWS::SQS::Queue")
    policy = only(deployed, "AWS::SQS::QueuePolicy")
    allows = [s for s in statements(policy["PolicyDocument"]) if s["Effect"] == "Allow"]
    denies = [s for s in statements(policy["PolicyDocument"]) if s["Effect"] == "Deny"]

    # THEN the three queues are encrypted and covered; the one sender is S3 for this account's bucket or the rule
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in queues.values())
    assert len(queues) == 3 and len(policy["Queues"]) == 3
    (allow,) = allows
    assert allow["Action"] == "sqs:SendMessage"
    if "ExistingBucketName" in deployment:
        assert allow["Principal"] == {"Service": "events.amazonaws.com"}
        assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["ExistingBucketRule", "Arn"]}
    else:
        assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
        assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
        source = allow["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
        bucket_name = deployed["Resources"]["Bucket"]["Properties"]["BucketName"]["Fn::Sub"]
        assert source[0] == "arn:${AWS::Partition}:s3:::" + bucket_name[0] and source[1] == bucket_name[1]
    (tls,) = denies
    assert tls["Principal"] == "*" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --- bucket or EventBridge ----------------------------------------------------------------------


def test_new_bucket_is_versioned_encrypted_private_and_notifies_the_queue_of_incoming_objects_only(
    rendered: dict[str, Any],
) -> None:
    # GIVEN the default deployment (no ExistingBucketName)
    deployed = stack(rendered, NEW_BUCKET)

    # WHEN the bucket is read
    bucket = deployed["Resources"]["Bucket"]["Properties"]

    # THEN it is versioned, encrypted, closed to the public, TLS-only, and notifies under IncomingPrefix only
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    (notification,) = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Queue"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": {"Ref": "IncomingPrefix"}}]
    assert "DenyInsecureTransport" in bucket_policy_statements(deployed)
    assert "ExistingBucketRule" not in deployed["Resources"]


def test_bucket_is_encrypted_with_the_kms_key_when_one_is_given(rendered: dict[str, Any]) -> None:
    # GIVEN a deployment with a KMS key
    deployed = stack(rendered, EVERYTHING)

    # WHEN the bucket's encryption and the function's KMS statement are read
    encryption = deployed["Resources"]["Bucket"]["Properties"]["BucketEncryption"]
    kms = statement(deployed, "UseTheBucketKey")

    # THEN the key encrypts new objects and the function may decrypt and re-encrypt with that key only
    rule = encryption["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Ref": "KmsKeyArn"}}
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Resource"] == {"Ref": "KmsKeyArn"}


@pytest.mark.parametrize(
    ("parameter", "sid", "actions", "service"),
    [
        ("QuarantineKmsKeyArn", "UseTheQuarantineKey", ["kms:Decrypt", "kms:GenerateDataKey"], "s3"),
        ("ImaggaSecretKmsKeyArn", "DecryptTheImaggaSecret", ["kms:Decrypt"], "secretsmanager"),
    ],
)
def test_a_quarantine_or_secret_key_is_granted_only_when_given_and_only_through_its_service(
    rendered: dict[str, Any], parameter: str, sid: str, actions: list[str], service: str
) -> None:
    # GIVEN a deployment naming the key, and one that does not
    key = "arn:aws:kms:us-east-1:123456789012:key/abcd1234-12ab-34cd-56ef-1234567890ab"
    given = stack(rendered, {**EVERYTHING, parameter: key})
    not_given = stack(rendered, EVERYTHING)

    # WHEN the function's statements are read
    granted = statement(given, sid)

    # THEN only the first may use that key, for what it needs, and only through S3 or Secrets Manager
    assert sorted(as_list(granted["Action"])) == actions
    assert granted["Resource"] == {"Ref": parameter}
    assert granted["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": f"{service}.${{AWS::Region}}.amazonaws.com"
    }
    assert sid not in {s["Sid"] for s in function_statements(not_given)}


def test_the_function_is_told_the_quarantine_key_only_when_one_is_given(rendered: dict[str, Any]) -> None:
    # GIVEN deployments with and without a quarantine key
    key = "arn:aws:kms:us-east-1:123456789012:key/abcd1234-12ab-34cd-56ef-1234567890ab"
    env_with = stack(rendered, {"QuarantineKmsKeyArn": key})["Resources"]["ModeratorFunction"]["Properties"]
    env_without = stack(rendered)["Resources"]["ModeratorFunction"]["Properties"]

    # WHEN their environments are read / THEN QUARANTINE_KMS_KEY_ARN is there only with the key
    assert env_with["Environment"]["Variables"]["QUARANTINE_KMS_KEY_ARN"] == {"Ref": "QuarantineKmsKeyArn"}
    assert "QUARANTINE_KMS_KEY_ARN" not in env_without["Environment"]["Variables"]


def test_no_kms_permission_without_a_kms_key(rendered: dict[str, Any]) -> None:
    # GIVEN the default deployment (no KmsKeyArn)
    deployed = stack(rendered)

    # WHEN every action the function's own policies allow is collected
    actions = [action for s in function_statements(deployed) for action in as_list(s["Action"])]

    # THEN none of them is a KMS action
    assert actions and not [action for action in actions if action.startswith("kms:")]


def test_existing_bucket_feeds_the_same_queue_through_an_eventbridge_rule(rendered: dict[str, Any]) -> None:
    # GIVEN a deployment for an existing bucket
    deployed = stack(rendered, EXISTING_BUCKET)

    # WHEN the rule is read
    rule = deployed["Resources"]["ExistingBucketRule"]["Properties"]

    # THEN no bucket is created (only the one for Batch Operations manifests), and "Object Created" events
    # of that bucket under the prefix go to the queue
    assert set(resources_of(deployed, "AWS::S3::Bucket")) == {"BatchOperationsBucket"}
    assert set(resources_of(deployed, "AWS::S3::BucketPolicy")) == {"BatchOperationsBucketPolicy"}
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": "ExistingBucketName"}]},
            "object": {"key": [{"prefix": {"Ref": "IncomingPrefix"}}]},
        },
    }
    assert [target["Arn"] for target in rule["Targets"]] == [{"Fn::GetAtt": ["IngestQueue", "Arn"]}]
    assert deployed["Outputs"]["BucketName"]["Value"] == {"Ref": "ExistingBucketName"}


# --- least privilege ----------------------------------------------------------------------------


@pytest.mark.parametrize("deployment", DEPLOYMENTS.values(), ids=DEPLOYMENTS.keys())
def test_function_has_no_wildcard_resource_for_s3_dynamodb_secrets_sns_kms_or_events(
    rendered: dict[str, Any], deployment: dict[str, str]
) -> None:
    # GIVEN a deployment
    deployed = stack(rendered, deployment)

    # WHEN the function's inline statements are read
    scoped = [
        s
        for s in function_statements(deployed)
        if any(str(action).startswith(SCOPED_SERVICES) for action in as_list(s["Action"]))
    ]

    # THEN each names its resources; none is "*" or ends in a bare wildcard over a whole service
    assert scoped
    for found in scoped:
        for resource in as_list(found["Resource"]):
            text = sub_text(resource) if isinstance(resource, dict) and "Fn::Sub" in resource else resource
            assert text != "*" and text not in ("arn:aws:s3:::*", "arn:${AWS::Partition}:s3:::*"), found["Sid"]


def test_s3_object_permissions_are_scoped_to_the_incoming_and_quarantine_prefixes(rendered: dict[str, Any]) -> None:
    # GIVEN the default deployment
    deployed = stack(rendered)

    # WHEN the S3 statements are read
    incoming = statement(deployed, "ReadTagAndRemoveIncomingObjects")
    quarantine = statement(deployed, "WriteQuarantinedCopies")
    listing = statement(deployed, "TellMissingIncomingObjects")

    # THEN reading, tagging and deleting happen under IncomingPrefix; writing only under QuarantinePrefix
    assert resolved(deployed, incoming["Resource"]) == [f"arn:aws:s3:::{CREATED_BUCKET}/incoming/*"]
    assert set(incoming["Action"]) == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
    }
    assert resolved(deployed, quarantine["Resource"]) == [f"arn:aws:s3:::{CREATED_BUCKET}/quarantine/*"]
    assert set(quarantine["Action"]) == {"s3:PutObject", "s3:PutObjectTagging"}
    # ListBucket only so that a HEAD of a missing key answers 404, and only for keys under the prefix
    assert listing["Action"] == "s3:ListBucket"
    assert resolved(deployed, listing["Resource"]) == [f"arn:aws:s3:::{CREATED_BUCKET}"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": {"Fn::Sub": "${IncomingPrefix}*"}}}
    other_s3 = [
        s
        for s in function_statements(deployed)
        if s["Sid"] not in {incoming["Sid"], quarantine["Sid"], listing["Sid"]}
        and any(str(a).startswith("s3:") for a in as_list(s["Action"]))
    ]
    assert other_s3 == []


def test_quarantine_bucket_parameter_moves_the_write_permission_there(rendered: dict[str, Any]) -> None:
    # GIVEN a deployment with a separate quarantine bucket
    deployed = stack(rendered, EVERYTHING)

    # WHEN the quarantine statement and the function's settings are read
    quarantine = statement(deployed, "WriteQuarantinedCopies")
    env = deployed["Resources"]["ModeratorFunction"]["Properties"]["Environment"]["Variables"]

    # THEN the function writes into that bucket's quarantine prefix, and knows the bucket
    assert resolved(deployed, quarantine["Resource"]) == ["arn:aws:s3:::example-corp-quarantine/quarantine/*"]
    assert env["QUARANTINE_BUCKET"] == {"Ref": "QuarantineBucketName"}


@pytest.mark.parametrize(
    ("deployment", "secret"),
    [(NEW_BUCKET, {"Ref": "ImaggaSecret"}), (EVERYTHING, {"Ref": "ImaggaSecretArn"})],
    ids=["created-secret", "given-secret"],
)
def test_function_reads_exactly_one_secret_and_is_told_which(
    rendered: dict[str, Any], deployment: dict[str, str], secret: dict[str, str]
) -> None:
    # GIVEN a deployment that creates the secret, or one given an existing secret
    deployed = stack(rendered, deployment)

    # WHEN the secret statement and the function's IMAGGA_SECRET_ARN are read
    read = statement(deployed, "ReadTheImaggaSecret")
    env = deployed["Resources"]["ModeratorFunction"]["Properties"]["Environment"]["Variables"]

    # THEN both name the same one secret; a secret resource exists only when none was given
    assert read["Action"] == "secretsmanager:GetSecretValue"
    assert read["Resource"] == secret == env["IMAGGA_SECRET_ARN"]
    assert ("ImaggaSecret" in deployed["Resources"]) is (secret == {"Ref": "ImaggaSecret"})


def test_function_uses_its_idempotency_table_publishes_to_one_bus_and_one_topic(rendered: dict[str, Any]) -> None:
    # GIVEN the default deployment
    deployed = stack(rendered)

    # WHEN the table, bus and topic statements and settings are read
    table = deployed["Resources"]["IdempotencyTable"]["Properties"]
    env = deployed["Resources"]["ModeratorFunction"]["Properties"]["Environment"]["Variables"]

    # THEN each permission names the one resource the function is configured with
    assert statement(deployed, "UseTheIdempotencyTable")["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    assert env["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    bus = statement(deployed, "PublishImageModeratedEvents")
    assert bus["Action"] == "events:PutEvents" and sub_text(bus["Resource"]).endswith(":event-bus/${EventBusName}")
    assert env["EVENT_BUS_NAME"] == {"Ref": "EventBusName"} and deployed["Parameters"]["EventBusName"] == "default"
    assert statement(deployed, "PublishVerdictAlerts")["Resource"] == {"Ref": "AlertTopic"}
    assert env["ALERT_TOPIC_ARN"] == {"Ref": "AlertTopic"}


def test_without_verdict_alerts_the_function_may_not_publish_to_the_topic(rendered: dict[str, Any]) -> None:
    # GIVEN VerdictAlerts=false
    deployed = stack(rendered, {"VerdictAlerts": "false"})

    # WHEN the function's statements and settings are read
    sids = {s["Sid"] for s in function_statements(deployed)}
    env = deployed["Resources"]["ModeratorFunction"]["Properties"]["Environment"]["Variables"]

    # THEN it has neither the setting nor the permission (the topic still carries the alarms)
    assert "PublishVerdictAlerts" not in sids and "ALERT_TOPIC_ARN" not in env
    assert "AlertTopic" in deployed["Resources"]


# --- fail-closed ----------------------------------------------------------------------------------


def test_fail_closed_is_off_by_default_and_only_tls_is_enforced(rendered: dict[str, Any]) -> None:
    # GIVEN the default deployment
    deployed = stack(rendered)

    # WHEN the bucket policy is read
    sids = set(bucket_policy_statements(deployed))

    # THEN it only denies plain HTTP
    assert deployed["Parameters"]["FailClosed"] == "false"
    assert sids == {"DenyInsecureTransport"}


def test_fail_closed_denies_reads_until_safe_or_approved_except_to_the_function_and_admin(
    rendered: dict[str, Any],
) -> None:
    # GIVEN FailClosed=true with an admin role
    deployed = stack(rendered, FAIL_CLOSED)

    # WHEN the bucket policy is read
    policy = bucket_policy_statements(deployed)
    exempt = [{"Fn::GetAtt": ["ModeratorFunctionRole", "Arn"]}, {"Ref": "AdminRoleArn"}]

    # THEN unmoderated incoming objects cannot be read, quarantine cannot be read, moderation tags are the
    # function's (and the admin's) alone - on upload and afterwards
    reads = policy["DenyReadsUntilModeratedSafe"]
    assert reads["Effect"] == "Deny" and reads["Principal"] == "*"
    assert set(reads["Action"]) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert sub_text(reads["Resource"]).endswith("/${IncomingPrefix}*")
    assert reads["Condition"]["StringNotEquals"] == {"s3:ExistingObjectTag/moderation:status": ["SAFE", "APPROVED"]}
    quarantine = policy["DenyQuarantineReads"]
    assert sub_text(quarantine["Resource"]).endswith("/${QuarantinePrefix}*")
    setting = policy["DenySettingModerationTags"]
    assert "s3:PutObject" in setting["Action"] and "s3:PutObjectTagging" in setting["Action"]
    assert setting["Condition"]["ForAnyValue:StringLike"] == {"s3:RequestObjectTagKeys": "moderation:*"}
    removing = policy["DenyRemovingModerationTags"]
    assert {"s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"} <= set(removing["Action"])
    assert removing["Condition"]["Null"] == {"s3:ExistingObjectTag/moderation:status": "false"}
    assert set(policy) - {"DenyInsecureTransport"} == set(FAIL_CLOSED_SIDS)
    for sid in FAIL_CLOSED_SIDS:
        assert policy[sid]["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": exempt}, sid
        assert policy[sid]["Effect"] == "Deny" and policy[sid]["Principal"] == "*", sid


def test_fail_closed_denies_the_status_tag_in_any_case_on_upload_and_on_tagging(rendered: dict[str, Any]) -> None:
    # GIVEN FailClosed=true
    policy = bucket_policy_statements(stack(rendered, FAIL_CLOSED))

    # WHEN the statement about the status key in requests is read
    status = policy["DenySettingModerationStatusInAnyCase"]

    # THEN it names the key itself (IAM compares condition key names case-insensitively, so
    # `Moderation:Status` matches) for every way a tag reaches an object, on the whole bucket
    assert status["Condition"]["Null"] == {"s3:RequestObjectTag/moderation:status": "false"}
    assert set(status["Action"]) == {"s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"}
    assert sub_text(status["Resource"]) == "${Bucket.Arn}/*"


def test_fail_closed_closes_replication_copies_and_quarantine_writes(rendered: dict[str, Any]) -> None:
    # GIVEN FailClosed=true
    policy = bucket_policy_statements(stack(rendered, FAIL_CLOSED))

    # WHEN the statements about replication, server-side copies and the quarantine are read
    replication = policy["DenyReplicatingIncoming"]
    copies = policy["DenyCopiesIntoIncoming"]
    quarantine_reads = policy["DenyQuarantineReads"]
    quarantine_writes = policy["DenyQuarantineWrites"]

    # THEN replication cannot read incoming objects at all (its action has no tag condition key), nor the quarantine
    assert replication["Action"] == ["s3:GetObjectVersionForReplication"]
    assert set(replication["Condition"]) == {"ArnNotLike"}
    assert sub_text(replication["Resource"]).endswith("/${IncomingPrefix}*")
    assert "s3:GetObjectVersionForReplication" in quarantine_reads["Action"]
    # AND a server-side copy (which brings the source's tags along) cannot land under the incoming prefix
    assert copies["Action"] == ["s3:PutObject"]
    assert copies["Condition"]["Null"] == {"s3:x-amz-copy-source": "false"}
    assert sub_text(copies["Resource"]).endswith("/${IncomingPrefix}*")
    # AND nobody but the function puts objects into quarantine
    assert quarantine_writes["Action"] == ["s3:PutObject"]
    assert sub_text(quarantine_writes["Resource"]).endswith("/${QuarantinePrefix}*")


def test_fail_closed_without_admin_role_exempts_only_the_function(rendered: dict[str, Any]) -> None:
    # GIVEN FailClosed=true and no admin role
    deployed = stack(rendered, {"FailClosed": "true"})

    # WHEN the read statement's exemption is read
    reads = bucket_policy_statements(deployed)["DenyReadsUntilModeratedSafe"]

    # THEN the function's own role is the only principal still able to read untagged objects
    assert reads["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": [{"Fn::GetAtt": ["ModeratorFunctionRole", "Arn"]}]}


def test_fail_closed_with_a_quarantine_bucket_prints_that_buckets_statements(rendered: dict[str, Any]) -> None:
    # GIVEN FailClosed=true with a separate quarantine bucket, and the same bucket without fail-closed
    closed = stack(rendered, {**FAIL_CLOSED, "QuarantineBucketName": "example-corp-quarantine"})
    open_ = stack(rendered, {"QuarantineBucketName": "example-corp-quarantine"})

    # WHEN the outputs are read
    output = closed["Outputs"].get("QuarantineBucketPolicy")

    # THEN the quarantine bucket's own deny statements are printed for its owner (the stack cannot attach them)
    assert output is not None
    text, variables = output["Value"]["Fn::Sub"]
    assert '"Sid":"DenyQuarantineReads"' in text and '"Sid":"DenyQuarantineWrites"' in text
    assert variables["QuarantineBucketName"] == {"Ref": "QuarantineBucketName"}
    assert "QuarantineBucketPolicy" not in open_["Outputs"]
    assert "QuarantineBucketPolicy" not in stack(rendered, FAIL_CLOSED)["Outputs"]


def test_fail_closed_on_an_existing_bucket_is_an_output_to_apply(rendered: dict[str, Any]) -> None:
    # GIVEN FailClosed=true for an existing bucket, and the same without fail-closed
    closed = stack(rendered, {**EXISTING_BUCKET, **FAIL_CLOSED})
    open_ = stack(rendered, EXISTING_BUCKET)

    # WHEN the outputs are read
    output = closed["Outputs"].get("ExistingBucketPolicy")

    # THEN the policy is printed for the owner (the stack cannot change a bucket it does not own)
    assert output is not None and "DenyReadsUntilModeratedSafe" in sub_text(output["Value"])
    assert "ExistingBucketPolicy" not in open_["Outputs"]


# --- function, alarms, outputs ---------------------------------------------------------------------


def test_function_is_python313_on_arm64_with_bounded_timeout_memory_and_log_retention(
    rendered: dict[str, Any], source_template: dict[str, Any]
) -> None:
    # GIVEN the default deployment
    deployed = stack(rendered)

    # WHEN the function and its log group are read
    function = deployed["Resources"]["ModeratorFunction"]["Properties"]
    log_group = deployed["Resources"]["FunctionLogGroup"]["Properties"]
    parameters = rendered["Parameters"]

    # THEN it runs the package's handler on python3.13/arm64, within bounds, logging to a group that expires
    assert function["Runtime"] == "python3.13" and function["Architectures"] == ["arm64"]
    assert function["Handler"] == "moderator.app.lambda_handler"
    assert source_template["Resources"]["ModeratorFunction"]["Properties"]["CodeUri"] == "functions/"
    assert max(parameters["FunctionTimeout"]["AllowedValues"]) <= 900
    assert parameters["FunctionMemorySize"]["MaxValue"] <= 10240 and function["MemorySize"] == {
        "Ref": "FunctionMemorySize"
    }
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": "FunctionLogGroup"}}
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_alarms_watch_the_dead_letter_queue_errors_throttles_backlog_and_imagga_quota(
    rendered: dict[str, Any],
) -> None:
    # GIVEN the default deployment
    deployed = stack(rendered)

    # WHEN the alarms are read
    alarms = {
        body["Properties"]["MetricName"]: body["Properties"]
        for body in resources_of(deployed, "AWS::CloudWatch::Alarm").values()
    }

    # THEN each watched metric has an alarm that tells the topic
    assert set(alarms) == {
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "Throttles",
        "ApproximateAgeOfOldestMessage",
        "ImaggaMonthlyLimitRemaining",
        "SkippedGone",
        "ErrorQuarantineIncomplete",
    }
    assert all(alarm["AlarmActions"] == [{"Ref": "AlertTopic"}] for alarm in alarms.values())
    assert alarms["ApproximateNumberOfMessagesVisible"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["DeadLetterQueue", "QueueName"]
    }
    quota = alarms["ImaggaMonthlyLimitRemaining"]
    assert quota["Namespace"] == "ImaggaS3Moderator"
    assert quota["Dimensions"] == [{"Name": "service", "Value": "imagga-s3-moderator"}]
    assert quota["Statistic"] == "Minimum" and quota["ComparisonOperator"] == "LessThanThreshold"
    assert quota["Threshold"] == {"Ref": "MonthlyLimitAlarmThreshold"}


def test_alarm_metrics_are_the_ones_the_function_emits(rendered: dict[str, Any]) -> None:
    # GIVEN the function's own metric names
    from moderator import observability

    # WHEN the custom-metric alarm is read
    quota = rendered["Resources"]["ImaggaMonthlyLimitAlarm"]["Properties"]

    # THEN namespace, metric and service dimension match what the function publishes
    assert quota["Namespace"] == observability.NAMESPACE
    assert quota["MetricName"] == observability.MONTHLY_LIMIT_REMAINING
    assert quota["Dimensions"] == [{"Name": "service", "Value": observability.SERVICE}]


@pytest.mark.parametrize(
    "metric",
    [
        pytest.param(observability.SKIPPED_GONE, id="an object gone before its scan"),
        pytest.param(observability.error_metric(QuarantineIncompleteError.kind), id="a quarantine move that failed"),
    ],
)
def test_each_event_worth_a_look_raises_an_alarm_on_the_metric_the_function_emits(
    rendered: dict[str, Any], metric: str
) -> None:
    # GIVEN the function's own metric name for it
    # WHEN the default deployment's alarms are read
    alarms = {
        body["Properties"]["MetricName"]: body["Properties"]
        for body in resources_of(stack(rendered), "AWS::CloudWatch::Alarm").values()
    }

    # THEN one alarm watches it: the first one in five minutes tells the alert topic
    alarm = alarms[metric]
    assert alarm["Namespace"] == observability.NAMESPACE
    assert alarm["Dimensions"] == [{"Name": "service", "Value": observability.SERVICE}]
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]


def test_alert_email_subscribes_to_the_topic_only_when_given(rendered: dict[str, Any]) -> None:
    # GIVEN deployments with and without an e-mail address
    with_email = stack(rendered, EVERYTHING)
    without = stack(rendered)

    # WHEN their subscriptions are read
    subscription = only(with_email, "AWS::SNS::Subscription")

    # THEN only the first subscribes that address to the alert topic
    assert subscription == {"TopicArn": {"Ref": "AlertTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlertEmail"}}
    assert not resources_of(without, "AWS::SNS::Subscription")


@pytest.mark.parametrize("deployment", DEPLOYMENTS.values(), ids=DEPLOYMENTS.keys())
def test_outputs_name_bucket_queues_function_secret_topic_and_bus_with_descriptions(
    rendered: dict[str, Any], deployment: dict[str, str]
) -> None:
    # GIVEN a deployment
    deployed = stack(rendered, deployment)

    # WHEN its outputs are read
    outputs = deployed["Outputs"]

    # THEN every resource a user needs is there, each described
    assert {
        "BucketName",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "DeadLetterQueueArn",
        "FunctionName",
        "ImaggaSecretArn",
        "AlertTopicArn",
        "EventBusName",
    } <= set(outputs)
    assert all(output.get("Description") for output in outputs.values())
