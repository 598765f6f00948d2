"""The shared Imagga budget's record in DynamoDB: one item, changed only by conditional writes.

The item `imagga-budget` holds the slots taken (`holders`: holder -> priority and lease end), the
live calls waiting (`waiting`: holder -> lease end), a `version` that every write increments, and
the last quota Imagga reported (`remaining`, `reset_at`, `seen_at`). Taking a slot rewrites the two
maps on the condition that `version` is still the one read; giving one back removes its entries
without a condition (only its own holder writes them) and carries the quota seen on that call.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .budget import BudgetState, Lease, Priority, Quota
from .dynamodb_errors import SETUP_CODES, error_code, is_conditional_check_failure
from .errors import BudgetStoreError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BUDGET_ITEM = "imagga-budget"


def table_definition(name: str) -> dict[str, Any]:
    """`CreateTable` arguments matching the template's BudgetTable (local stacks and tests use it)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    }


class DynamoDBBudgetStore:
    def __init__(self, client: DynamoDBClient, table_name: str, item_id: str = BUDGET_ITEM) -> None:
        self._client = client
        self._table = table_name
        self._key = {"id": {"S": item_id}}

    def read(self) -> BudgetState:
        try:
            item = self._client.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise _error("reading", exc) from exc
        if not item:
            return BudgetState()
        holders = {
            name: Lease(Priority(entry["M"]["priority"]["S"]), float(entry["M"]["until"]["N"]))
            for name, entry in item.get("holders", {}).get("M", {}).items()
        }
        waiting = {name: float(entry["N"]) for name, entry in item.get("waiting", {}).get("M", {}).items()}
        return BudgetState(
            version=int(item.get("version", {}).get("N", "0")),
            holders=holders,
            waiting=waiting,
            quota=Quota(
                remaining=_int(item.get("remaining")),
                reset_at=_float(item.get("reset_at")),
                seen_at=_float(item.get("seen_at")),
            ),
        )

    def replace(self, holders: Mapping[str, Lease], waiting: Mapping[str, float], *, version: int) -> bool:
        values: dict[str, Any] = {
            ":holders": {
                "M": {
                    name: {"M": {"priority": {"S": str(lease.priority)}, "until": _number(lease.until)}}
                    for name, lease in holders.items()
                }
            },
            ":waiting": {"M": {name: _number(until) for name, until in waiting.items()}},
            ":next": {"N": str(version + 1)},
        }
        if version == 0:
            condition = "attribute_not_exists(#version)"
        else:
            condition = "#version = :version"
            values[":version"] = {"N": str(version)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression="SET #holders = :holders, #waiting = :waiting, #version = :next",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#holders": "holders", "#waiting": "waiting", "#version": "version"},
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as exc:
            if is_conditional_check_failure(exc):
                return False
            raise _error("taking a slot in", exc) from exc
        return True

    def release(self, holder: str, quota: Quota | None) -> None:
        names = {"#holders": "holders", "#waiting": "waiting", "#version": "version", "#me": holder}
        values: dict[str, Any] = {":one": {"N": "1"}, ":zero": {"N": "0"}}
        sets = ["#version = if_not_exists(#version, :zero) + :one"]
        if quota is not None and quota.remaining is not None:
            names.update({"#remaining": "remaining", "#seen": "seen_at"})
            values.update({":remaining": {"N": str(quota.remaining)}, ":seen": _number(quota.seen_at or 0.0)})
            sets += ["#remaining = :remaining", "#seen = :seen"]
            if quota.reset_at is not None:
                names["#reset"] = "reset_at"
                values[":reset"] = _number(quota.reset_at)
                sets.append("#reset = :reset")
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression=f"REMOVE #holders.#me, #waiting.#me SET {', '.join(sets)}",
                # Both maps exist once any slot was taken; without them there is nothing to give back.
                ConditionExpression="attribute_exists(#holders) AND attribute_exists(#waiting)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as exc:
            if is_conditional_check_failure(exc):
                return
            raise _error("giving a slot back to", exc) from exc


def _error(doing: str, exc: ClientError | BotoCoreError) -> BudgetStoreError:
    # A configuration problem is named as such (still retried: the table may be on its way).
    code = error_code(exc)
    hint = " (check BUDGET_TABLE and the function's role)" if code in SETUP_CODES else ""
    return BudgetStoreError(f"{doing} the Imagga budget table failed: {code or type(exc).__name__}{hint}")


def _number(value: float) -> dict[str, str]:
    # Three decimals: lease ends to the millisecond, without float noise in the stored text.
    return {"N": str(Decimal(str(round(value, 3))))}


def _int(attribute: Any) -> int | None:
    return int(Decimal(attribute["N"])) if attribute and "N" in attribute else None


def _float(attribute: Any) -> float | None:
    return float(attribute["N"]) if attribute and "N" in attribute else None
