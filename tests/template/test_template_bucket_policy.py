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
FAIL_CLOSED_ON_NEW_BUCKET = {"FailClosed": "true", "AdminRoleArn": "arn:aws:iam::123456789012:role/moderation-admin"}
FAIL_CLOSED_ON_EXISTING_BUCKET = {**FAIL_CLOSED_ON_NEW_BUCKET, "ExistingBucketName": "photos-of-example-corp"}


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
