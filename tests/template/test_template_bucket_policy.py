"""The fail-closed policy for existing buckets says what the stack-created bucket's policy says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .cfn import stack, statements
from .conftest import ROOT

pytestmark = pytest.mark.template

POLICY_FILE = ROOT / "infra" / "policies" / "fail-closed-bucket-policy.json"
QUARANTINE_POLICY_FILE = ROOT / "infra" / "policies" / "fail-closed-quarantine-bucket-policy.json"
FAIL_CLOSED_ON_NEW_BUCKET = {"FailClosed": "true", "AdminRoleArn": "arn:aws:iam::123456789012:role/moderation-admin"}
FAIL_CLOSED_ON_EXISTING_BUCKET = {**FAIL_CLOSED_ON_NEW_BUCKET, "ExistingBucketName": "photos-of-example-corp"}
FAIL_CLOSED_WITH_QUARANTINE_BUCKET = {**FAIL_CLOSED_ON_NEW_BUCKET, "QuarantineBucketName": "example-corp-quarantine"}


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def test_policy_file_is_exactly_what_the_existing_bucket_output_renders(rendered: dict[str, Any]) -> None:
    # GIVEN the policy file and the output of a fail-closed stack on an existing bucket
    output = stack(rendered, FAIL_CLOSED_ON_EXISTING_BUCKET)["Outputs"]["ExistingBucketPolicy"]["Value"]
    text, variables = output["Fn::Sub"]

    # WHEN both documents are parsed, placeholders still in place
    from_output = json.loads(text)

    # THEN they are the same document, and every placeholder is filled by the output or a stack parameter
    assert from_output == load(POLICY_FILE)
    placeholders = set(re.findall(r"\$\{([^}]+)\}", text))
    assert placeholders == set(variables) | {"IncomingPrefix", "QuarantinePrefix"}
    assert {"IncomingPrefix", "QuarantinePrefix"} <= set(rendered["Parameters"])


def test_new_bucket_policy_has_the_same_fail_closed_statements_as_the_file(rendered: dict[str, Any]) -> None:
    # GIVEN a fail-closed stack that creates its bucket, and the file for existing buckets
    document = stack(rendered, FAIL_CLOSED_ON_NEW_BUCKET)["Resources"]["BucketPolicy"]["Properties"]["PolicyDocument"]
    created = {s["Sid"]: s for s in statements(document) if s["Sid"] != "DenyInsecureTransport"}
    from_file = {s["Sid"]: s for s in statements(load(POLICY_FILE))}

    # WHEN statement by statement they are compared, ARNs aside (intrinsics in one, placeholders in the other)
    def shape(statement: dict[str, Any]) -> dict[str, Any]:
        conditions = {
            operator: {key: value for key, value in pairs.items() if key != "aws:PrincipalArn"}
            for operator, pairs in statement["Condition"].items()
        }
        return {
            "Effect": statement["Effect"],
            "Principal": statement["Principal"],
            "Action": sorted(statement["Action"]),
            "Condition": conditions,
            "Exempt": len(statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]),
        }

    # THEN the same statements deny the same actions under the same conditions, with the same exemptions
    assert set(created) == set(from_file)
    assert {sid: shape(s) for sid, s in created.items()} == {sid: shape(s) for sid, s in from_file.items()}
    for sid, statement in created.items():
        resource = statement["Resource"]["Fn::Sub"]
        assert resource.split("/", 1)[1] == from_file[sid]["Resource"].split("/", 1)[1], sid


def test_quarantine_bucket_policy_file_is_exactly_what_its_output_renders(rendered: dict[str, Any]) -> None:
    # GIVEN the quarantine bucket's policy file and the output of a fail-closed stack with a quarantine bucket
    output = stack(rendered, FAIL_CLOSED_WITH_QUARANTINE_BUCKET)["Outputs"]["QuarantineBucketPolicy"]["Value"]
    text, variables = output["Fn::Sub"]

    # WHEN both are parsed
    from_output = json.loads(text)

    # THEN they are the same document, every placeholder filled, every statement about the quarantine prefix only
    assert from_output == load(QUARANTINE_POLICY_FILE)
    assert set(re.findall(r"\$\{([^}]+)\}", text)) == set(variables) | {"QuarantinePrefix"}
    for statement in statements(from_output):
        assert statement["Resource"] == "arn:${Partition}:s3:::${QuarantineBucketName}/${QuarantinePrefix}*"
        assert statement["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": ["${FunctionRoleArn}", "${AdminRoleArn}"]}


def test_quarantine_bucket_gets_the_quarantine_statements_of_the_moderated_bucket(rendered: dict[str, Any]) -> None:
    # GIVEN the two policy files
    moderated = {s["Sid"]: s for s in statements(load(POLICY_FILE))}
    quarantine = {s["Sid"]: s for s in statements(load(QUARANTINE_POLICY_FILE))}

    # WHEN the quarantine statements are compared
    reads, writes = quarantine["DenyQuarantineReads"], quarantine["DenyQuarantineWrites"]

    # THEN reads (replication included) are closed the same way; writes, and tag changes too since no
    # moderation-tag statement covers that bucket
    assert reads["Action"] == moderated["DenyQuarantineReads"]["Action"]
    assert set(writes["Action"]) == {
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:DeleteObjectTagging",
        "s3:DeleteObjectVersionTagging",
    }
