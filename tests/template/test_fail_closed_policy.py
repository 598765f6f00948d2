"""Attacks on the fail-closed bucket policies, evaluated as IAM evaluates them (see iam.py).

Each test takes infra/policies/*.json filled in for one stack (the same documents the template's
bucket policy and outputs carry, as test_template_bucket_policy.py checks) and asks whether a
request an uploader could send is denied. Where the policy before these statements let the
attack through, the test shows that too, so it fails on that policy.
"""

from __future__ import annotations

import json
from string import Template
from typing import Any

import pytest

from .conftest import ROOT
from .iam import Request, denying_statements, reads, tags_object, uploads

pytestmark = pytest.mark.template

BUCKET = "photos-of-example-corp"
QUARANTINE_BUCKET = "example-corp-quarantine"
FUNCTION = "arn:aws:iam::123456789012:role/imagga-s3-moderator-ModeratorFunctionRole-ABC"
ADMIN = "arn:aws:iam::123456789012:role/moderation-admin"
UPLOADER = "arn:aws:iam::123456789012:role/photo-uploader"
REPLICATION = "arn:aws:iam::123456789012:role/s3-replication"
INCOMING = f"arn:aws:s3:::{BUCKET}/incoming/party.jpg"
QUARANTINED = f"arn:aws:s3:::{BUCKET}/quarantine/incoming/party.jpg"
ELSEWHERE_QUARANTINED = f"arn:aws:s3:::{QUARANTINE_BUCKET}/quarantine/incoming/party.jpg"
#: The statements the policy had before: the tag-key test alone, and reads without replication.
BEFORE = (
    "DenyReadsUntilModeratedSafe",
    "DenyQuarantineReads",
    "DenySettingModerationTags",
    "DenyRemovingModerationTags",
)


def policy(name: str) -> dict[str, Any]:
    text = (ROOT / "infra" / "policies" / name).read_text(encoding="utf-8")
    filled = Template(text).substitute(
        Partition="aws",
        BucketName=BUCKET,
        QuarantineBucketName=QUARANTINE_BUCKET,
        IncomingPrefix="incoming/",
        QuarantinePrefix="quarantine/",
        FunctionRoleArn=FUNCTION,
        AdminRoleArn=ADMIN,
    )
    loaded: dict[str, Any] = json.loads(filled)
    return loaded


@pytest.fixture(scope="module")
def bucket_policy() -> dict[str, Any]:
    return policy("fail-closed-bucket-policy.json")


@pytest.fixture(scope="module")
def policy_before(bucket_policy: dict[str, Any]) -> dict[str, Any]:
    """The fail-closed policy as it was, with the old quarantine read statement."""
    statements = [dict(s) for s in bucket_policy["Statement"] if s["Sid"] in BEFORE]
    for statement in statements:
        if statement["Sid"] == "DenyQuarantineReads":
            statement["Action"] = ["s3:GetObject", "s3:GetObjectVersion"]
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.mark.parametrize("spelling", ["Moderation:Status", "MODERATION:STATUS", "Moderation:status"])
def test_an_upload_carrying_the_status_tag_in_another_case_is_denied(
    bucket_policy: dict[str, Any], policy_before: dict[str, Any], spelling: str
) -> None:
    # GIVEN an uploader who sets the status tag on upload in a case the tag-key wildcard does not match
    request = uploads(UPLOADER, INCOMING, {spelling: "SAFE"})

    # WHEN the policies are evaluated
    # THEN the policy before let it through; now the status-in-any-case statement denies it
    assert denying_statements(policy_before, request) == []
    assert denying_statements(bucket_policy, request) == ["DenySettingModerationStatusInAnyCase"]


def test_the_variant_would_have_made_the_object_readable(policy_before: dict[str, Any]) -> None:
    # GIVEN an object whose only status tag is the uploader's `Moderation:Status=SAFE`
    request = reads("arn:aws:iam::123456789012:user/any-reader", INCOMING, {"Moderation:Status": "SAFE"})

    # WHEN anyone reads it under the read statement / THEN nothing denies it: why the variant must never be set
    assert denying_statements(policy_before, request) == []


def test_tagging_an_object_with_the_status_in_another_case_is_denied(bucket_policy: dict[str, Any]) -> None:
    # GIVEN an uploader who tags an untagged object afterwards
    request = tags_object(UPLOADER, INCOMING, {"Moderation:Status": "SAFE", "team": "a"})

    # WHEN the policy is evaluated / THEN it is denied
    assert "DenySettingModerationStatusInAnyCase" in denying_statements(bucket_policy, request)


def test_a_server_side_copy_that_brings_its_sources_tags_is_denied(
    bucket_policy: dict[str, Any], policy_before: dict[str, Any]
) -> None:
    # GIVEN an uploader copying, from a bucket they own, an object they tagged moderation:status=SAFE there
    # (CopyObject copies the source's tags by default: none are named in the request)
    request = uploads(UPLOADER, INCOMING, **{"s3:x-amz-copy-source": "attacker-bucket/unsafe.jpg"})

    # WHEN the policies are evaluated
    # THEN the policy before let it land "SAFE"; now it is denied
    assert denying_statements(policy_before, request) == []
    assert denying_statements(bucket_policy, request) == ["DenyCopiesIntoIncoming"]


def test_replication_of_incoming_and_quarantined_objects_is_denied_whatever_their_tags(
    bucket_policy: dict[str, Any], policy_before: dict[str, Any]
) -> None:
    # GIVEN the replication role reading an unmoderated incoming object and a quarantined one
    # (GetObjectVersionForReplication offers no s3:ExistingObjectTag key: the tags are not in the request)
    incoming = reads(REPLICATION, INCOMING, action="s3:GetObjectVersionForReplication")
    quarantined = reads(REPLICATION, QUARANTINED, action="s3:GetObjectVersionForReplication")

    # WHEN the policies are evaluated
    # THEN the policy before let both replicate; now both are denied
    assert denying_statements(policy_before, incoming) == denying_statements(policy_before, quarantined) == []
    assert denying_statements(bucket_policy, incoming) == ["DenyReplicatingIncoming"]
    assert denying_statements(bucket_policy, quarantined) == ["DenyQuarantineReads"]


def test_planting_an_object_in_quarantine_is_denied(
    bucket_policy: dict[str, Any], policy_before: dict[str, Any]
) -> None:
    # GIVEN an uploader writing straight under the quarantine prefix (a reviewer might approve it)
    request = uploads(UPLOADER, QUARANTINED)

    # WHEN the policies are evaluated / THEN it was allowed before and is denied now
    assert denying_statements(policy_before, request) == []
    assert denying_statements(bucket_policy, request) == ["DenyQuarantineWrites"]


def test_the_function_and_the_admin_role_are_never_denied(bucket_policy: dict[str, Any]) -> None:
    # GIVEN what the function and an admin do: read untagged objects, write the verdict, copy into quarantine
    # and back (a release), read the quarantine
    for principal in (FUNCTION, ADMIN):
        requests = [
            reads(principal, INCOMING),
            tags_object(principal, INCOMING, {"moderation:status": "UNSAFE"}, {"moderation:status": "SAFE"}),
            uploads(principal, QUARANTINED, **{"s3:x-amz-copy-source": f"{BUCKET}/incoming/party.jpg"}),
            uploads(principal, INCOMING, **{"s3:x-amz-copy-source": f"{BUCKET}/quarantine/incoming/party.jpg"}),
            reads(principal, QUARANTINED, action="s3:GetObjectVersion"),
        ]
        # WHEN the policy is evaluated / THEN none of it is denied
        assert [denying_statements(bucket_policy, r) for r in requests] == [[]] * len(requests), principal


def test_readers_still_read_safe_and_approved_objects_and_uploaders_still_upload(bucket_policy: dict[str, Any]) -> None:
    # GIVEN ordinary use: reading moderated objects, uploading with tags of one's own
    reader = "arn:aws:iam::123456789012:user/any-reader"
    requests: list[Request] = [
        reads(reader, INCOMING, {"moderation:status": "SAFE"}),
        reads(reader, INCOMING, {"moderation:status": "APPROVED"}, action="s3:GetObjectVersion"),
        uploads(UPLOADER, INCOMING, {"team": "a", "project": "summer"}),
        uploads(UPLOADER, INCOMING),
    ]

    # WHEN the policy is evaluated / THEN nothing is denied
    assert [denying_statements(bucket_policy, r) for r in requests] == [[]] * len(requests)
    # AND an unmoderated object stays unreadable
    assert denying_statements(bucket_policy, reads(reader, INCOMING)) == ["DenyReadsUntilModeratedSafe"]


def test_a_separate_quarantine_bucket_denies_reads_plants_and_retagging_to_everyone_else() -> None:
    # GIVEN the quarantine bucket's policy, and an uploader (or any reader) acting on it
    quarantine_policy = policy("fail-closed-quarantine-bucket-policy.json")
    attacks = {
        "read": reads(UPLOADER, ELSEWHERE_QUARANTINED, {"moderation:status": "UNSAFE"}),
        "replicate": reads(REPLICATION, ELSEWHERE_QUARANTINED, action="s3:GetObjectVersionForReplication"),
        "plant": uploads(UPLOADER, ELSEWHERE_QUARANTINED),
        "retag": tags_object(UPLOADER, ELSEWHERE_QUARANTINED, {"moderation:nsfw": "0.00"}),
    }

    # WHEN it is evaluated
    denied = {name: denying_statements(quarantine_policy, request) for name, request in attacks.items()}

    # THEN every one is denied, while the function still writes its quarantined copies there
    assert denied == {
        "read": ["DenyQuarantineReads"],
        "replicate": ["DenyQuarantineReads"],
        "plant": ["DenyQuarantineWrites"],
        "retag": ["DenyQuarantineWrites"],
    }
    assert denying_statements(quarantine_policy, uploads(FUNCTION, ELSEWHERE_QUARANTINED)) == []
