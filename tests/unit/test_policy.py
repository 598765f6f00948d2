"""The verdict: thresholds at their edges, both categorizers, missing and unknown labels."""

from __future__ import annotations

import pytest

from moderator.model import Status
from moderator.policy import Thresholds, complete_scores, decide

DEFAULT = Thresholds()


@pytest.mark.parametrize(
    ("nsfw", "underwear", "status", "deciding"),
    [
        (20.0, 0.0, Status.UNSAFE, "nsfw"),
        (19.99, 0.0, Status.SAFE, "nsfw"),
        (20.01, 99.0, Status.UNSAFE, "nsfw"),
        (0.0, 50.0, Status.REVIEW, "underwear"),
        (0.0, 49.99, Status.SAFE, "nsfw"),
        (19.99, 50.0, Status.REVIEW, "underwear"),
        (100.0, 100.0, Status.UNSAFE, "nsfw"),
        (0.0, 0.0, Status.SAFE, "nsfw"),
    ],
)
def test_nsfw_beta_thresholds_at_their_edges(nsfw: float, underwear: float, status: Status, deciding: str) -> None:
    # GIVEN nsfw_beta scores around the default thresholds (a score equal to a threshold meets it)
    scores = {"nsfw": nsfw, "underwear": underwear, "safe": 100.0 - nsfw}
    # WHEN the verdict is decided
    verdict = decide("nsfw_beta", scores, DEFAULT)
    # THEN status and deciding label follow the thresholds
    assert (verdict.status, verdict.deciding_label) == (status, deciding)
    assert verdict.categorizer == "nsfw_beta"


@pytest.mark.parametrize(
    ("explicit", "suggestive", "status", "deciding"),
    [
        (20.0, 0.0, Status.UNSAFE, "explicit"),
        (19.99, 0.0, Status.SAFE, "explicit"),
        (0.0, 50.0, Status.REVIEW, "suggestive"),
        (0.0, 49.99, Status.SAFE, "explicit"),
        (35.0, 80.0, Status.UNSAFE, "explicit"),
    ],
)
def test_adult_content_thresholds_at_their_edges(
    explicit: float, suggestive: float, status: Status, deciding: str
) -> None:
    verdict = decide("adult_content", {"explicit": explicit, "suggestive": suggestive, "safe": 1.0}, DEFAULT)
    assert (verdict.status, verdict.deciding_label) == (status, deciding)


def test_nsfw_beta_labels_do_not_decide_for_adult_content() -> None:
    # GIVEN adult_content scores that also carry an old nsfw label
    verdict = decide("adult_content", {"nsfw": 99.0, "underwear": 99.0, "safe": 1.0}, DEFAULT)
    # THEN only explicit / suggestive decide
    assert verdict.status is Status.SAFE


def test_custom_thresholds_are_used() -> None:
    thresholds = Thresholds(unsafe=30.0, review=70.0)
    assert decide("nsfw_beta", {"nsfw": 29.99}, thresholds).status is Status.SAFE
    assert decide("nsfw_beta", {"nsfw": 30.0}, thresholds).status is Status.UNSAFE
    assert decide("nsfw_beta", {"underwear": 69.99}, thresholds).status is Status.SAFE
    assert decide("nsfw_beta", {"underwear": 70.0}, thresholds).status is Status.REVIEW


def test_missing_labels_count_as_zero_and_are_filled_in() -> None:
    # GIVEN Imagga left out labels whose confidence was 0
    verdict = decide("nsfw_beta", {"safe": 99.7}, DEFAULT)
    # THEN the image is SAFE and every label is reported
    assert verdict.status is Status.SAFE
    assert verdict.scores == {"nsfw": 0.0, "underwear": 0.0, "safe": 99.7}


def test_empty_scores_are_safe() -> None:
    verdict = decide("adult_content", {}, DEFAULT)
    assert verdict.status is Status.SAFE
    assert verdict.scores == {"explicit": 0.0, "suggestive": 0.0, "safe": 0.0}


def test_unknown_labels_are_kept_but_do_not_decide() -> None:
    # GIVEN a new label Imagga started sending, with a high score
    scores = {"safe": 10.0, "nsfw": 5.0, "underwear": 5.0, "gore": 95.0}
    # WHEN the verdict is decided
    verdict = decide("nsfw_beta", scores, DEFAULT)
    # THEN it is kept in the scores but does not change the verdict
    assert verdict.status is Status.SAFE
    assert verdict.scores["gore"] == 95.0


def test_complete_scores_of_an_unknown_categorizer_keeps_what_was_sent() -> None:
    assert complete_scores("future_model", {"a": 1.0}) == {"a": 1.0}
