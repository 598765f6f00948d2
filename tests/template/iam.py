"""Enough of IAM's policy evaluation to ask "does this bucket policy deny this request?", offline.

Neither moto nor LocalStack evaluates a bucket policy's conditions, so the fail-closed statements
are checked here against requests shaped as S3 authorizes them. Only explicit denies are
evaluated (the fail-closed statements are all denies; what is allowed comes from elsewhere), and
only the operators those statements use. The rules are IAM's documented ones:

- action names and condition key *names* are case-insensitive (`s3:RequestObjectTag/Moderation:Status`
  is the key `s3:RequestObjectTag/moderation:status`); string *values* are compared case-sensitively;
- operators in a condition block, and keys under one operator, must all match; the values listed
  for one key match when any does;
- a key missing from the request makes a positive operator (StringLike, ForAnyValue:...) false and
  a negated one (StringNotEquals, ArnNotLike) true; `Null: "false"` means "the key is present";
- a request key an action does not offer (s3:ExistingObjectTag for GetObjectVersionForReplication)
  is simply missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True)
class Request:
    principal: str
    action: str
    resource: str
    #: Condition keys of the request: a string, or a list for multi-valued keys (s3:RequestObjectTagKeys).
    context: dict[str, str | list[str]] = field(default_factory=dict)

    def value(self, key: str) -> str | list[str] | None:
        wanted = key.lower()
        for name, value in {**self.context, "aws:PrincipalArn": self.principal}.items():
            if name.lower() == wanted:
                return value
        return None


def uploads(principal: str, resource: str, tags: dict[str, str] | None = None, **context: str) -> Request:
    """A PutObject, with the tags of its x-amz-tagging header as S3 presents them to IAM."""
    tag_keys: dict[str, str | list[str]] = {f"s3:RequestObjectTag/{k}": v for k, v in (tags or {}).items()}
    if tags:
        tag_keys["s3:RequestObjectTagKeys"] = list(tags)
    return Request(principal, "s3:PutObject", resource, {**tag_keys, **context})


def tags_object(principal: str, resource: str, tags: dict[str, str], existing: dict[str, str] | None = None) -> Request:
    context: dict[str, str | list[str]] = {f"s3:RequestObjectTag/{k}": v for k, v in tags.items()}
    context["s3:RequestObjectTagKeys"] = list(tags)
    context.update({f"s3:ExistingObjectTag/{k}": v for k, v in (existing or {}).items()})
    return Request(principal, "s3:PutObjectTagging", resource, context)


def reads(
    principal: str, resource: str, existing: dict[str, str] | None = None, action: str = "s3:GetObject"
) -> Request:
    context: dict[str, str | list[str]] = {f"s3:ExistingObjectTag/{k}": v for k, v in (existing or {}).items()}
    return Request(principal, action, resource, context)


def denying_statements(policy: dict[str, Any], request: Request) -> list[str]:
    """The Sids of the statements that deny this request (empty: no explicit deny)."""
    found = policy["Statement"]
    return [
        str(statement.get("Sid"))
        for statement in ([found] if isinstance(found, dict) else found)
        if statement["Effect"] == "Deny" and _applies(statement, request)
    ]


def _applies(statement: dict[str, Any], request: Request) -> bool:
    if statement.get("Principal") != "*":
        raise ValueError("only Principal '*' is evaluated here")
    actions = _as_list(statement["Action"])
    if not any(fnmatchcase(request.action.lower(), pattern.lower()) for pattern in actions):
        return False
    if not any(fnmatchcase(request.resource, pattern) for pattern in _as_list(statement["Resource"])):
        return False
    return all(
        _operator(operator, key, _as_list(expected), request)
        for operator, pairs in statement.get("Condition", {}).items()
        for key, expected in pairs.items()
    )


def _operator(operator: str, key: str, expected: list[str], request: Request) -> bool:
    present = request.value(key)
    if operator == "Null":
        (wanted,) = expected
        return (present is None) is (wanted == "true")
    if operator == "StringNotEquals":
        return present is None or all(value not in expected for value in _as_list(present))
    if operator == "StringEquals":
        return present is not None and any(value in expected for value in _as_list(present))
    if operator == "StringLike":
        return present is not None and any(_like(value, expected) for value in _as_list(present))
    if operator == "ForAnyValue:StringLike":
        return present is not None and any(_like(value, expected) for value in _as_list(present))
    if operator == "ArnNotLike":
        return present is None or not any(_like(value, expected) for value in _as_list(present))
    raise ValueError(f"operator {operator} is not evaluated here")


def _like(value: str, patterns: list[str]) -> bool:
    # IAM's wildcards are * and ?, matched case-sensitively; fnmatch's [..] never occurs in these policies.
    return any(fnmatchcase(value, pattern) for pattern in patterns)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
