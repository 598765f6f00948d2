"""The tag schema: budget order, merging with the uploader's tags, S3's limit of 10."""

from __future__ import annotations

import pytest

from moderator import tags
from moderator.model import Status, Verdict
from moderator.policy import Thresholds, decide

SCANNED_AT = "2024-05-14T09:21:40Z"


def unsafe_verdict() -> Verdict:
    return decide("nsfw_beta", {"safe": 10.0, "underwear": 15.5, "nsfw": 74.456}, Thresholds())


def test_verdict_tags_are_in_budget_order() -> None:
    # GIVEN an UNSAFE verdict decided by nsfw, listed last by Imagga
    verdict = unsafe_verdict()
    # WHEN our tags are built
    ordered = tags.verdict_tags(verdict, SCANNED_AT)
    # THEN status, deciding score, other scores, scanned-at, categorizer
    assert ordered == [
        ("moderation:status", "UNSAFE"),
        ("moderation:nsfw", "74.46"),
        ("moderation:underwear", "15.50"),
        ("moderation:safe", "10.00"),
        ("moderation:scanned-at", SCANNED_AT),
        ("moderation:categorizer", "nsfw_beta"),
    ]


def test_review_verdict_puts_the_review_label_first() -> None:
    verdict = decide("adult_content", {"explicit": 1.0, "suggestive": 60.0, "safe": 39.0}, Thresholds())
    keys = [key for key, _ in tags.verdict_tags(verdict, SCANNED_AT)]
    assert keys[:2] == ["moderation:status", "moderation:suggestive"]


def test_reason_follows_status_for_unsupported_and_error() -> None:
    # GIVEN an UNSUPPORTED verdict with no scores and no categorizer (contract-notes §4)
    verdict = Verdict(Status.UNSUPPORTED, reason="not-an-image")
    # WHEN / THEN status, reason and scanned-at only
    assert tags.verdict_tags(verdict, SCANNED_AT) == [
        ("moderation:status", "UNSUPPORTED"),
        ("moderation:reason", "not-an-image"),
        ("moderation:scanned-at", SCANNED_AT),
    ]


def test_error_after_asking_imagga_names_the_categorizer() -> None:
    verdict = Verdict(Status.ERROR, categorizer="nsfw_beta", reason="imagga-rejected")
    assert tags.verdict_tags(verdict, SCANNED_AT)[-1] == ("moderation:categorizer", "nsfw_beta")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0.00"),
        (20.0, "20.00"),
        (19.994, "19.99"),
        (99.1496658325195, "99.15"),
        (100.0, "100.00"),
        (0.006, "0.01"),
    ],
)
def test_scores_are_written_with_two_decimals(value: float, text: str) -> None:
    assert tags.format_score(value) == text


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("nsfw", "moderation:nsfw"),
        ("  safe ", "moderation:safe"),
        ("very nsfw", "moderation:very nsfw"),
        ("a+b=c.d_e:f/g@h-i", "moderation:a+b=c.d_e:f/g@h-i"),
        ("naïve", "moderation:naïve"),
        ("bad*label?", "moderation:bad_label_"),
        ('quote"s<&>', "moderation:quote_s___"),
        ("", "moderation:_"),
        ("x" * 200, "moderation:" + "x" * 117),
    ],
)
def test_score_keys_are_sanitised_for_s3(label: str, key: str) -> None:
    result = tags.score_key(label)
    assert result == key
    assert len(result) <= 128


def test_merge_keeps_the_uploaders_tags_and_adds_ours() -> None:
    # GIVEN an object with the uploader's own tags
    existing = {"project": "summer", "owner": "ana"}
    # WHEN our tags are merged in
    merged = tags.merge(existing, tags.verdict_tags(unsafe_verdict(), SCANNED_AT))
    # THEN theirs stay, ours are added, nothing is dropped
    assert merged.tags["project"] == "summer"
    assert merged.tags["owner"] == "ana"
    assert merged.tags["moderation:status"] == "UNSAFE"
    assert len(merged.tags) == 8
    assert merged.dropped == []


def test_merge_replaces_every_earlier_moderation_tag() -> None:
    # GIVEN an object scanned before with another categorizer, and a forged APPROVED status
    existing = {
        "moderation:status": "APPROVED",
        "moderation:explicit": "0.00",
        "moderation:reason": "undecodable",
        "team": "web",
    }
    # WHEN a new verdict is merged
    merged = tags.merge(existing, tags.verdict_tags(unsafe_verdict(), SCANNED_AT))
    # THEN no stale moderation tag survives
    assert merged.tags["moderation:status"] == "UNSAFE"
    assert "moderation:explicit" not in merged.tags
    assert "moderation:reason" not in merged.tags
    assert merged.tags["team"] == "web"


def test_merge_fits_as_many_of_ours_as_the_ten_tag_limit_allows() -> None:
    # GIVEN the uploader already used 7 of S3's 10 tags
    existing = {f"user-{n}": str(n) for n in range(7)}
    # WHEN our 6 tags are merged
    merged = tags.merge(existing, tags.verdict_tags(unsafe_verdict(), SCANNED_AT))
    # THEN the first 3 in budget order fit and the rest are reported dropped
    assert len(merged.tags) == 10
    assert {k: v for k, v in merged.tags.items() if k.startswith("moderation:")} == {
        "moderation:status": "UNSAFE",
        "moderation:nsfw": "74.46",
        "moderation:underwear": "15.50",
    }
    assert merged.dropped == ["moderation:safe", "moderation:scanned-at", "moderation:categorizer"]


def test_merge_with_nine_uploader_tags_keeps_only_the_status() -> None:
    existing = {f"user-{n}": str(n) for n in range(9)}
    merged = tags.merge(existing, tags.verdict_tags(unsafe_verdict(), SCANNED_AT))
    assert [k for k in merged.tags if k.startswith("moderation:")] == ["moderation:status"]
    assert len(merged.dropped) == 5


def test_merge_never_removes_uploader_tags_even_when_ten_are_set() -> None:
    existing = {f"user-{n}": str(n) for n in range(10)}
    merged = tags.merge(existing, tags.verdict_tags(unsafe_verdict(), SCANNED_AT))
    assert merged.tags == existing
    assert merged.dropped[0] == "moderation:status"


def test_merge_frees_the_room_of_old_moderation_tags() -> None:
    # GIVEN 4 uploader tags and 6 old moderation tags (10 in all)
    existing = {f"user-{n}": str(n) for n in range(4)}
    existing.update({f"moderation:old-{n}": "1" for n in range(6)})
    # WHEN merged
    merged = tags.merge(existing, tags.verdict_tags(unsafe_verdict(), SCANNED_AT))
    # THEN all 6 new tags fit in the room the old ones left
    assert merged.dropped == []
    assert len(merged.tags) == 10
    assert not any(k.startswith("moderation:old") for k in merged.tags)
