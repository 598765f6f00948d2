"""Is a bucket ready for fail-closed? The checks behind `doctor`, on plain data (the command reads S3).

Fail-closed trusts `moderation:status` on every object under the incoming prefix. It holds only
when: the bucket is versioned (an overwrite during a scan must not inherit the old image's
verdict), new uploads reach the function (EventBridge for an existing bucket, or an S3 → SQS
notification), the bucket policy carries every fail-closed statement, and no object already
carries `moderation:*` tags the function did not write (set before the policy, they would be
trusted; `backfill` skips objects that have a status).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from . import tags


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": str(self.level), "detail": self.detail}


@dataclass(frozen=True)
class Expected:
    """One fail-closed statement as infra/policies/fail-closed-bucket-policy.json has it, exemptions aside."""

    sid: str
    actions: frozenset[str]
    #: Where it applies: "incoming", "quarantine" or "bucket" (every object).
    scope: str
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


FAIL_CLOSED: tuple[Expected, ...] = (
    Expected(
        "DenyReadsUntilModeratedSafe",
        frozenset({"s3:GetObject", "s3:GetObjectVersion"}),
        "incoming",
        {"StringNotEquals": {"s3:ExistingObjectTag/moderation:status": ["SAFE", "APPROVED"]}},
    ),
    Expected("DenyReplicatingIncoming", frozenset({"s3:GetObjectVersionForReplication"}), "incoming"),
    Expected(
        "DenyCopiesIntoIncoming", frozenset({"s3:PutObject"}), "incoming", {"Null": {"s3:x-amz-copy-source": "false"}}
    ),
    Expected(
        "DenyQuarantineReads",
        frozenset({"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectVersionForReplication"}),
        "quarantine",
    ),
    Expected("DenyQuarantineWrites", frozenset({"s3:PutObject"}), "quarantine"),
    Expected(
        "DenySettingModerationTags",
        frozenset({"s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"}),
        "bucket",
        {"ForAnyValue:StringLike": {"s3:RequestObjectTagKeys": "moderation:*"}},
    ),
    Expected(
        "DenySettingModerationStatusInAnyCase",
        frozenset({"s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"}),
        "bucket",
        {"Null": {"s3:RequestObjectTag/moderation:status": "false"}},
    ),
    Expected(
        "DenyRemovingModerationTags",
        frozenset(
            {
                "s3:PutObjectTagging",
                "s3:PutObjectVersionTagging",
                "s3:DeleteObjectTagging",
                "s3:DeleteObjectVersionTagging",
            }
        ),
        "bucket",
        {"Null": {"s3:ExistingObjectTag/moderation:status": "false"}},
    ),
)


def check_versioning(status: str | None) -> Check:
    if status == "Enabled":
        return Check("versioning", Level.OK, "versioning is on: every decision names the exact version it judged")
    state = "suspended" if status == "Suspended" else "off"
    return Check(
        "versioning",
        Level.FAIL,
        f"versioning is {state}: fail-closed needs it (an overwrite during a scan could be given the old verdict)",
    )


def check_notifications(configuration: Mapping[str, Any], incoming_prefix: str) -> Check:
    """EventBridge on (for ExistingBucketName), or a notification of every new upload under the prefix."""
    if "EventBridgeConfiguration" in configuration:
        return Check(
            "notifications", Level.OK, "EventBridge notifications are on (the stack's rule sends uploads to its queue)"
        )
    targets = {"QueueConfigurations": "QueueArn", "TopicConfigurations": "TopicArn"}
    targets["LambdaFunctionConfigurations"] = "LambdaFunctionArn"
    partial: list[str] = []
    for section, arn_field in targets.items():
        for entry in configuration.get(section, []):
            rules = {
                r["Name"].lower(): r["Value"] for r in entry.get("Filter", {}).get("Key", {}).get("FilterRules", [])
            }
            if not incoming_prefix.startswith(rules.get("prefix", "")):
                continue
            target = str(entry.get(arn_field, "?"))
            events = set(entry.get("Events", []))
            if "s3:ObjectCreated:*" in events and not rules.get("suffix"):
                return Check("notifications", Level.OK, f"new uploads under {incoming_prefix} are sent to {target}")
            if any(event.startswith("s3:ObjectCreated:") for event in events):
                partial.append(target)
    if partial:
        return Check(
            "notifications",
            Level.WARN,
            f"only some uploads under {incoming_prefix} reach {', '.join(partial)} (an event list or suffix filter): "
            "the others are never moderated",
        )
    return Check(
        "notifications",
        Level.FAIL,
        f"no notification sends uploads under {incoming_prefix} anywhere: nothing would be moderated "
        "(turn on EventBridge notifications, see the README)",
    )


def check_policy(
    policy: Mapping[str, Any] | None, *, bucket: str, incoming_prefix: str, quarantine_prefix: str
) -> Check:
    """Every fail-closed statement, found by Sid, saying what the stack's policy says."""
    statements = _statements(policy)
    scopes = {"incoming": f"{bucket}/{incoming_prefix}*", "quarantine": f"{bucket}/{quarantine_prefix}*"}
    scopes["bucket"] = f"{bucket}/*"
    missing, differing = [], []
    for expected in FAIL_CLOSED:
        statement = statements.get(expected.sid)
        if statement is None:
            missing.append(expected.sid)
        elif not _matches(statement, expected, scopes[expected.scope]):
            differing.append(expected.sid)
    if len(missing) == len(FAIL_CLOSED):
        return Check(
            "policy",
            Level.WARN,
            "no fail-closed statement: unmoderated objects are readable (apply the stack's ExistingBucketPolicy "
            "once the other checks pass)",
        )
    if missing or differing:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"different from the stack's {', '.join(differing)}"] if differing else []
        return Check(
            "policy",
            Level.FAIL,
            "fail-closed is incomplete: "
            + "; ".join(problems)
            + " (see infra/policies/fail-closed-bucket-policy.json)",
        )
    return Check("policy", Level.OK, f"all {len(FAIL_CLOSED)} fail-closed statements are in place")


@dataclass(frozen=True)
class TaggedVersion:
    """An object version under the incoming prefix, with its tags and what the ledger says of its scan."""

    key: str
    version_id: str | None
    etag: str
    tags: Mapping[str, str]
    #: The ledger item of the scan its `moderation:scanned-at` names (None: not found, or no ledger).
    ledger_item: Mapping[str, Any] | None = None


def untrusted_reason(version: TaggedVersion, *, ledger: bool) -> str | None:
    """Why this version's moderation tags cannot be trusted, or None (no such tags, or the function wrote them)."""
    ours = {k: v for k, v in version.tags.items() if k.lower().startswith(tags.PREFIX)}
    if not ours:
        return None
    variants = sorted(k for k in ours if k != k.lower())
    if variants:
        return f"tag key in another case ({', '.join(variants)})"
    if not ledger:
        return "no decisions ledger to tell the function's tags from others' (set DECISIONS_TABLE)"
    item = version.ledger_item
    if item is None:
        return "its moderation:scanned-at names no scan in the decisions ledger"
    if item.get("location_key") != version.key:
        return "the ledger's scan left its object elsewhere"
    known_versions = {item.get("location_version_id"), item.get("version_id")} - {None}
    if version.version_id in known_versions or item.get("etag") == version.etag:
        return None
    return "the ledger's scan judged another version"


def check_moderation_tags(
    versions: Iterable[TaggedVersion], *, ledger: bool, max_objects: int, incoming_prefix: str, location: str
) -> Check:
    """Object versions whose moderation:* tags the function did not write: fail-closed would trust them."""
    looked = 0
    suspicious: list[str] = []
    for version in versions:
        looked += 1
        reason = untrusted_reason(version, ledger=ledger)
        if reason is not None:
            suspicious.append(f"{version.key} ({reason})")
        if looked >= max_objects:
            break
    rescan = f"run `backfill --rescan {location}` before turning fail-closed on"
    if suspicious:
        examples = "; ".join(suspicious[:3]) + (f"; and {len(suspicious) - 3} more" if len(suspicious) > 3 else "")
        return Check(
            "moderation-tags",
            Level.FAIL,
            f"{len(suspicious)} of {looked} object versions carry moderation:* tags the function did not write: "
            f"{examples}: {rescan}",
        )
    if looked >= max_objects:
        return Check(
            "moderation-tags",
            Level.WARN,
            f"the first {looked} object versions under {incoming_prefix} are clean, the rest was not looked at "
            f"(raise --max-objects, or {rescan})",
        )
    return Check(
        "moderation-tags",
        Level.OK,
        f"{looked} object versions under {incoming_prefix}: none carries moderation:* tags the function did not write",
    )


def _statements(policy: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    if not policy:
        return {}
    found = policy.get("Statement", [])
    listed = [found] if isinstance(found, Mapping) else list(found)
    return {str(s["Sid"]): s for s in listed if isinstance(s, Mapping) and "Sid" in s}


def _matches(statement: Mapping[str, Any], expected: Expected, resource_suffix: str) -> bool:
    if statement.get("Effect") != "Deny" or statement.get("Principal") not in ("*", {"AWS": "*"}):
        return False
    actions = {a.lower() for a in _as_list(statement.get("Action"))}
    if not {a.lower() for a in expected.actions} <= actions:
        return False
    resources = _as_list(statement.get("Resource"))
    if not any(str(r).startswith("arn:") and str(r).endswith(f":s3:::{resource_suffix}") for r in resources):
        return False
    condition = statement.get("Condition", {})
    for operator, pairs in expected.condition.items():
        present = {key.lower(): value for key, value in condition.get(operator, {}).items()}
        for key, value in pairs.items():
            if sorted(_as_list(present.get(key.lower()))) != sorted(_as_list(value)):
                return False
    exempt = condition.get("ArnNotLike", {}).get("aws:PrincipalArn")
    return bool(exempt) and set(condition) == {*expected.condition, "ArnNotLike"}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
