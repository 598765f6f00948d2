"""Who may write the content memory: the function its verdicts and Imagga's scores, never a human decision."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest

from moderator.approvals import item_id as approval_id
from moderator.ledger import decision_id
from moderator.memory import near_index_id, rejected_id, scores_id

from .cfn import stack, statements

pytestmark = pytest.mark.template

DYNAMODB_WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")


def decisions_table_statements(deployed: dict[str, Any]) -> list[dict[str, Any]]:
    role = deployed["Resources"]["ModeratorFunctionRole"]["Properties"]
    found = [s for policy in role["Policies"] for s in statements(policy["PolicyDocument"])]
    return [s for s in found if s["Resource"] == {"Fn::GetAtt": ["DecisionsTable", "Arn"]}]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_the_function_writes_decisions_and_scores_but_never_an_approval_or_a_rejection(
    rendered: dict[str, Any],
) -> None:
    # GIVEN the default deployment's function role
    deployed = stack(rendered)
    on_table = decisions_table_statements(deployed)

    # WHEN its write statements on the decisions table are read
    writes = [s for s in on_table if any(a in DYNAMODB_WRITES for a in actions(s))]

    # THEN the one write is PutItem, limited to the partition keys of verdicts and Imagga's scores
    (write,) = writes
    assert actions(write) == ["dynamodb:PutItem"]
    leading = write["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    allowed = lambda item_id: any(fnmatchcase(item_id, pattern) for pattern in leading)  # noqa: E731
    sha = "c" * 64
    assert allowed(decision_id("bucket", "incoming/a.jpg", "2026-11-02T09:00:00.000Z"))
    assert allowed(scores_id(f"{sha}#nsfw_beta#p1-s600"))
    # AND what only people decide stays out of its reach, whatever the function runs
    assert not allowed(approval_id("bucket", "incoming/a.jpg", sha))
    assert not allowed(rejected_id(sha))
    assert not allowed(near_index_id(0, 0xBEEF))


def test_the_function_reads_the_table_in_batches_and_is_told_how_long_scores_are_kept(
    rendered: dict[str, Any],
) -> None:
    # GIVEN the default deployment
    deployed = stack(rendered)
    env = deployed["Resources"]["ModeratorFunction"]["Properties"]["Environment"]["Variables"]

    # THEN it may read single items and batches (one look-up reads four index items at once)
    reads = {a for s in decisions_table_statements(deployed) for a in actions(s) if a not in DYNAMODB_WRITES}
    assert reads == {"dynamodb:GetItem", "dynamodb:BatchGetItem"}
    # AND the memory's settings come from parameters
    assert env["CONTENT_MEMORY"] == {"Ref": "ContentMemory"}
    assert env["VERDICT_MEMORY_DAYS"] == {"Ref": "VerdictMemoryDays"}
    assert deployed["Parameters"]["ContentMemory"] == "on"
