"""The tag schema: every `moderation:*` key, and how ours merge with the uploader's.

Pure functions: the S3 adapter reads and writes, this module decides what the set becomes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import Verdict

PREFIX = "moderation:"
STATUS = "moderation:status"
REASON = "moderation:reason"
SCANNED_AT = "moderation:scanned-at"
CATEGORIZER = "moderation:categorizer"
REVIEWED_AT = "moderation:reviewed-at"

#: S3 allows at most 10 tags on an object.
S3_MAX_TAGS = 10
_MAX_KEY_LENGTH = 128
# Characters S3 accepts in tag keys: letters, digits, spaces and + - = . _ : / @
_UNSAFE_KEY_CHARS = re.compile(r"[^\w +\-=.:/@]", re.UNICODE)


def score_key(label: str) -> str:
    """`moderation:<label>`, with characters S3 would refuse replaced by `_`."""
    safe = _UNSAFE_KEY_CHARS.sub("_", label.strip()) or "_"
    return (PREFIX + safe)[:_MAX_KEY_LENGTH]


def format_score(value: float) -> str:
    return f"{value:.2f}"


def is_moderation_key(key: str) -> bool:
    """Ours in any case: IAM compares `s3:ExistingObjectTag/<key>` names case-insensitively, so an
    uploader's `Moderation:Status` could pass for our status. Every variant is ours to replace."""
    return key.lower().startswith(PREFIX)


def ours_only(tag_set: dict[str, str]) -> dict[str, str]:
    """The moderation tags this project writes (all lower case): never an uploader's look-alike."""
    return {k: v for k, v in tag_set.items() if k.startswith(PREFIX) and k == k.lower()}


def uploaders_only(tag_set: dict[str, str]) -> dict[str, str]:
    """Everything but moderation tags, in any case."""
    return {k: v for k, v in tag_set.items() if not is_moderation_key(k)}


#: Moderation tags that are not scores.
NOT_SCORES = frozenset({STATUS, REASON, SCANNED_AT, CATEGORIZER, REVIEWED_AT})


def scores_from(tag_set: dict[str, str]) -> dict[str, float]:
    """The scores an object carries, by label; a `moderation:*` tag that is not a number is not a score."""
    scores: dict[str, float] = {}
    for name, value in ours_only(tag_set).items():
        if name not in NOT_SCORES:
            try:
                scores[name.removeprefix(PREFIX)] = float(value)
            except ValueError:
                continue
    return scores


def verdict_tags(verdict: Verdict, scanned_at: str) -> list[tuple[str, str]]:
    """Our tags in budget order: status, reason, deciding score, other scores, scanned-at, categorizer."""
    ordered: list[tuple[str, str]] = [(STATUS, str(verdict.status))]
    if verdict.reason:
        ordered.append((REASON, verdict.reason))
    labels = list(verdict.scores)
    if verdict.deciding_label in verdict.scores:
        labels.remove(verdict.deciding_label)
        labels.insert(0, verdict.deciding_label)
    ordered.extend((score_key(label), format_score(verdict.scores[label])) for label in labels)
    ordered.append((SCANNED_AT, scanned_at))
    if verdict.categorizer:
        ordered.append((CATEGORIZER, verdict.categorizer))
    return ordered


@dataclass(frozen=True)
class MergedTags:
    tags: dict[str, str]
    dropped: list[str]


def merge(existing: dict[str, str], ours: list[tuple[str, str]]) -> MergedTags:
    """Keep every tag of the uploader, replace every earlier `moderation:*` tag, fit ours in the budget.

    Earlier `moderation:*` tags are dropped even when the new set does not rewrite them: a stale
    score next to a fresh status would mislead whoever reads the object. So are an uploader's
    look-alikes in another case (`Moderation:Status`): they never count against the budget.
    """
    kept = uploaders_only(existing)
    room = max(S3_MAX_TAGS - len(kept), 0)
    fitting = dict(ours[:room])
    dropped = [key for key, _ in ours[room:]]
    return MergedTags(tags={**kept, **fitting}, dropped=dropped)
