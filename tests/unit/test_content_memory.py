"""The content memory's rules, without storage: what identifies a categorization, how remembered
scores are decided with today's settings, which human decision is the later one, what a rejection keeps."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace

import pytest
from infra.bench.corpus import SAMPLES
from PIL import Image

from moderator.assessment import Assessment, FrameResult
from moderator.content_memory import (
    FrameScores,
    RejectedImage,
    RememberedScores,
    rejected_since,
    rejection_of,
    remembered_from,
    replay,
    scores_key,
)
from moderator.fingerprint import PREVIEW_MAX_BYTES, distance
from moderator.imaging import PreparedFrames, PreparedImage
from moderator.model import Categorization, Status, Verdict
from moderator.policy import Thresholds
from moderator.settings import Settings

SHA = "a" * 64
SAFE = {"safe": 97.0, "nsfw": 3.0, "underwear": 0.0}
BORDERLINE = {"safe": 85.0, "nsfw": 15.0, "underwear": 0.0}
UNSAFE = {"safe": 10.0, "nsfw": 88.0, "underwear": 2.0}


def remembered(frames: dict[int, dict[str, float]], frame_count: int | None = 1) -> RememberedScores:
    return RememberedScores(
        sha256=SHA,
        categorizer="nsfw_beta",
        preparation="p1-s600",
        obtained_at="2026-11-01T08:00:00.000Z",
        frames=tuple(FrameScores(index, scores) for index, scores in frames.items()),
        frame_count=frame_count,
    )


def test_a_categorization_is_identified_by_the_bytes_the_categorizer_and_the_preparation() -> None:
    # GIVEN the default settings
    base = Settings()

    # WHEN what decides the scores changes, or only what decides the verdict
    key = scores_key(SHA, "nsfw_beta", base)

    # THEN another categorizer or another downscale is another categorization...
    assert scores_key(SHA, "adult_content", base) != key
    assert scores_key(SHA, "nsfw_beta", replace(base, resize_short_side=300)) != key
    assert scores_key("b" * 64, "nsfw_beta", base) != key
    # ...and thresholds, the mode or the frames sampled are not (they are applied to what is remembered)
    changed = replace(base, thresholds=Thresholds(unsafe=5, review=30), mode="monitor", animation_frames=9)
    assert scores_key(SHA, "nsfw_beta", changed) == key


def test_remembered_scores_are_decided_with_the_thresholds_of_today() -> None:
    # GIVEN scores remembered when they were SAFE (nsfw 15 under a threshold of 20)
    kept = remembered({0: BORDERLINE})

    # WHEN they are replayed with the default thresholds, then with a stricter one
    before = replay(kept, Settings())
    after = replay(kept, Settings(thresholds=Thresholds(unsafe=10, review=50)))

    # THEN the verdict follows the thresholds, the scores are the remembered ones, and no call is counted
    assert before is not None and after is not None
    assert (before.verdict.status, after.verdict.status) == (Status.SAFE, Status.UNSAFE)
    assert after.verdict.scores == BORDERLINE
    assert after.reused_from == "2026-11-01T08:00:00.000Z"
    assert (after.imagga_attempts, after.frames_sent) == (0, 0)


def test_an_animation_is_replayed_when_every_frame_todays_setting_would_send_was_answered() -> None:
    # GIVEN a 9-frame animation whose frames 0, 2, 4, 6 and 8 were answered (ANIMATION_FRAMES=5)
    kept = remembered({0: SAFE, 2: SAFE, 4: BORDERLINE, 6: SAFE, 8: SAFE}, frame_count=9)

    # WHEN today's setting samples 3 frames (0, 4, 8): all answered
    three = replay(kept, Settings(animation_frames=3))
    # AND when it samples 9 (every frame): frame 1 was never sent
    nine = replay(kept, Settings(animation_frames=9))

    # THEN the first is decided from memory by its worst frame, the second needs Imagga
    assert three is not None and three.deciding_frame == 4 and three.frame_count == 9
    assert nine is None


def test_frames_never_sent_because_an_earlier_one_was_unsafe_are_asked_for_when_it_no_longer_is() -> None:
    # GIVEN a 9-frame animation whose sampled frames are 0, 2, 4, 6, 8: frame 0 was scored, then frame 2,
    # which was UNSAFE under a threshold of 10 %, so frames 4, 6 and 8 were never sent
    kept = remembered({0: SAFE, 2: BORDERLINE}, frame_count=9)
    assert replay(kept, Settings(thresholds=Thresholds(unsafe=10, review=50))) is not None

    # WHEN the threshold is raised so that frame 2 is no longer UNSAFE
    replayed = replay(kept, Settings())

    # THEN the later frames are needed, so the memory does not decide
    assert replayed is None


def test_scores_kept_without_a_frame_count_serve_only_a_first_frame_check() -> None:
    # GIVEN scores of frame 0 kept with ANIMATION_FRAMES=1 (the frames were not counted)
    kept = remembered({0: UNSAFE}, frame_count=None)

    # THEN they decide when only the first frame is checked, not when more frames would be
    first_only = replay(kept, Settings(animation_frames=1))
    assert first_only is not None and first_only.verdict.status is Status.UNSAFE
    assert replay(kept, Settings(animation_frames=5)) is None


def _prepared(*fingerprints: int | None) -> PreparedFrames:
    frames = tuple(
        PreparedImage(b"jpeg", "image/jpeg", "GIF", (10, 10), (10, 10), index, value)
        for index, value in enumerate(fingerprints)
    )
    return PreparedFrames(frames, len(frames), "GIF")


def _answered(frame: int, scores: dict[str, float]) -> FrameResult:
    return FrameResult(frame, Verdict(Status.SAFE, scores), Categorization("nsfw_beta", scores))


def test_every_answered_frame_is_kept_with_the_hashes_of_the_frames_prepared() -> None:
    # GIVEN two frames answered by Imagga
    assessment = Assessment(
        Verdict(Status.SAFE, SAFE),
        Categorization("nsfw_beta", SAFE),
        frames=(_answered(0, SAFE), _answered(1, BORDERLINE)),
        frames_sent=2,
        frame_count=2,
    )

    # WHEN what to remember is made
    kept = remembered_from(assessment, _prepared(0xF0F0, None), SHA, Settings(), "2026-11-02T10:00:00.000Z")

    # THEN both frames' scores are kept, with the hash of the frame that has one
    assert kept is not None
    assert [(f.frame, f.scores) for f in kept.frames] == [(0, SAFE), (1, BORDERLINE)]
    assert (kept.frame_count, kept.fingerprints, kept.obtained_at) == (2, (0xF0F0,), "2026-11-02T10:00:00.000Z")


def test_an_answer_with_a_frame_imagga_refused_is_not_kept() -> None:
    # GIVEN an image Imagga refused (a 400): ERROR, nothing to decide from
    assessment = Assessment(Verdict(Status.ERROR, reason="imagga-rejected"), frames_sent=1, refused_attempts=1)

    # THEN nothing is remembered: the next upload of those bytes asks again
    assert remembered_from(assessment, _prepared(1), SHA, Settings(), "2026-11-02T10:00:00.000Z") is None


@pytest.mark.parametrize(
    ("approved_at", "rejected_at", "rejection_wins"),
    [
        ("2026-11-01T10:00:00Z", "2026-11-02T09:00:00Z", True),
        ("2026-11-03T10:00:00Z", "2026-11-02T09:00:00Z", False),
        # The same instant: the rejection stands (fail closed), whatever the notation.
        ("2026-11-02T09:00:00+00:00", "2026-11-02T09:00:00Z", True),
        # Milliseconds and whole seconds compare as times, not as text ("." sorts before "Z").
        ("2026-11-02T09:00:00Z", "2026-11-02T09:00:00.500Z", True),
        ("2026-11-02T09:00:00.500Z", "2026-11-02T09:00:00Z", False),
        # A time that cannot be read: the rejection stands.
        ("not a time", "2026-11-02T09:00:00Z", True),
    ],
)
def test_the_later_human_decision_stands(approved_at: str, rejected_at: str, rejection_wins: bool) -> None:
    # GIVEN an approval of some bytes at a key, and a rejection of the same bytes
    rejected = RejectedImage(SHA, "s3://b/incoming/x.jpg", rejected_at, "reviewer")

    # THEN the rejection overrules the approval if it came at the same time or later
    assert rejected_since(rejected, approved_at) is rejection_wins
    assert rejected_since(None, approved_at) is False


def test_a_rejected_photo_is_kept_with_a_preview_and_its_hashes() -> None:
    # GIVEN a rejected photo's bytes
    data = (SAMPLES / "coffee.jpg").read_bytes()
    sha = hashlib.sha256(data).hexdigest()

    # WHEN what to remember of it is made
    rejection = rejection_of(
        sha,
        data,
        location="s3://bucket/incoming/coffee.jpg",
        rejected_by="arn:aws:iam::123456789012:user/reviewer",
        rejected_at="2026-11-02T09:00:00Z",
        settings=Settings(),
    )

    # THEN the record names it and has a small preview; the index holds its own hash and its cropped copies'
    image = rejection.image
    assert (image.sha256, image.location, image.rejected_at) == (
        sha,
        "s3://bucket/incoming/coffee.jpg",
        image.rejected_at,
    )
    assert image.preview is not None and len(image.preview) < PREVIEW_MAX_BYTES
    with Image.open(io.BytesIO(image.preview)) as preview:
        assert min(preview.size) == 160
    (own,) = image.fingerprints
    assert own in rejection.index and len(rejection.index) > 5
    assert all(distance(own, value) < 32 for value in rejection.index)


@pytest.mark.parametrize("data", [b"meeting notes, not an image", None])
def test_bytes_that_are_not_an_image_are_remembered_by_their_digest_alone(data: bytes | None) -> None:
    # GIVEN a rejected object that is not an image (or too large to read)
    rejection = rejection_of(
        SHA, data, location="s3://b/k", rejected_by="r", rejected_at="2026-11-02T09:00:00Z", settings=Settings()
    )

    # THEN it is remembered by its SHA-256: no preview, nothing to index
    assert rejection.image == RejectedImage(SHA, "s3://b/k", "2026-11-02T09:00:00Z", "r")
    assert rejection.index == frozenset()
