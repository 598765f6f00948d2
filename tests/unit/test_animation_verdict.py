"""An animation is judged by its worst frame: each frame sent is one Imagga call, under the same limit."""

from __future__ import annotations

import threading
from dataclasses import replace

from moderator.assessment import Assessment, CallLimit, assess
from moderator.errors import ImaggaRejectedError
from moderator.model import ObjectRef, Status
from moderator.pipeline import Moderator
from moderator.settings import Settings
from tests.builders import animation_bytes, jpeg_bytes
from tests.unit.conftest import MetricTotals
from tests.unit.fakes import ColourCategorizer, FakePublisher, FakeStorage

GREEN, RED, YELLOW, ORANGE, BLUE = (30, 170, 60), (220, 20, 20), (240, 230, 20), (250, 140, 10), (20, 40, 220)
#: Safe colours besides GREEN: Pillow merges identical consecutive GIF frames, so neighbours must differ.
GREY, CYAN = (128, 128, 128), (20, 200, 200)
SAFE = {"safe": 98.0, "nsfw": 1.0, "underwear": 1.0}
A_BIT_RISKY = {"safe": 90.0, "nsfw": 9.0, "underwear": 1.0}
UNSAFE = {"safe": 10.0, "nsfw": 85.0, "underwear": 5.0}
REVIEW = {"safe": 40.0, "nsfw": 2.0, "underwear": 58.0}
MORE_REVIEW = {"safe": 20.0, "nsfw": 3.0, "underwear": 77.0}
SETTINGS = Settings(imagga_api_key="test-key", imagga_api_secret="test-secret")


def judge(colours: tuple[tuple[int, int, int], ...], categorizer: ColourCategorizer, frames: int = 5) -> Assessment:
    return assess(animation_bytes("GIF", colours), categorizer, replace(SETTINGS, animation_frames=frames))


def test_an_unsafe_third_frame_of_five_makes_the_animation_unsafe() -> None:
    # GIVEN a five-frame GIF whose third frame is unsafe
    imagga = ColourCategorizer({RED: UNSAFE}, SAFE)
    # WHEN it is judged with five frames to check
    result = judge((GREEN, GREY, RED, CYAN, GREEN), imagga)
    # THEN it is UNSAFE with that frame's scores, and the frames after it were not sent
    assert result.verdict.status is Status.UNSAFE
    assert result.verdict.scores == UNSAFE
    assert (result.frames_sent, result.frame_count, result.deciding_frame) == (3, 5, 2)
    assert len(imagga.colours) == 3


def test_with_one_frame_to_check_the_same_animation_passes_as_safe() -> None:
    # GIVEN the same GIF and ANIMATION_FRAMES=1 (the first frame only)
    imagga = ColourCategorizer({RED: UNSAFE}, SAFE)
    result = judge((GREEN, GREY, RED, CYAN, GREEN), imagga, frames=1)
    # THEN only the first frame is sent, and the unsafe frame goes unseen: this is why the setting exists
    assert result.verdict.status is Status.SAFE
    assert (result.frames_sent, result.frame_count, result.deciding_frame) == (1, None, 0)


def test_the_worst_frame_decides_and_review_frames_do_not_stop_the_check() -> None:
    # GIVEN frames: safe, review, more review, a bit risky but safe
    imagga = ColourCategorizer({YELLOW: REVIEW, ORANGE: MORE_REVIEW, BLUE: A_BIT_RISKY}, SAFE)
    # WHEN all four are checked
    result = judge((GREEN, YELLOW, ORANGE, BLUE), imagga, frames=4)
    # THEN every frame was sent, and the verdict and tags are those of the frame most in need of review
    assert len(imagga.colours) == 4
    assert result.verdict.status is Status.REVIEW
    assert result.verdict.scores == MORE_REVIEW
    assert result.deciding_frame == 2
    assert result.categorization is not None and result.categorization.scores == MORE_REVIEW


def test_a_safe_animation_carries_the_scores_of_its_riskiest_frame() -> None:
    imagga = ColourCategorizer({BLUE: A_BIT_RISKY}, SAFE)
    result = judge((GREEN, GREY, BLUE, GREEN), imagga, frames=4)
    assert (result.verdict.status, result.verdict.scores, result.deciding_frame) == (Status.SAFE, A_BIT_RISKY, 2)


def test_a_frame_imagga_refuses_makes_the_animation_an_error_not_safe() -> None:
    # GIVEN an animation whose second frame Imagga answers with a 400
    imagga = ColourCategorizer({BLUE: ImaggaRejectedError("400: could not process")}, SAFE)
    result = judge((GREEN, BLUE, GREEN), imagga, frames=3)
    # THEN the other frames are still checked, but the image is not called SAFE
    assert len(imagga.colours) == 3
    assert (result.verdict.status, result.verdict.reason) == (Status.ERROR, "imagga-rejected")
    assert (result.frames_sent, result.deciding_frame, result.imagga_attempts) == (3, 1, 3)
    assert result.detail == "frame 1: 400: could not process"


def test_an_unsafe_frame_wins_over_a_frame_imagga_refused() -> None:
    imagga = ColourCategorizer({BLUE: ImaggaRejectedError("400"), RED: UNSAFE}, SAFE)
    result = judge((GREEN, BLUE, RED, GREEN), imagga, frames=4)
    assert (result.verdict.status, result.deciding_frame, result.frames_sent) == (Status.UNSAFE, 2, 3)


def test_a_broken_later_frame_costs_no_imagga_call() -> None:
    # GIVEN a GIF cut short in its last frame
    imagga = ColourCategorizer({}, SAFE)
    result = assess(animation_bytes("GIF", (GREEN, GREY, CYAN))[:-12], imagga, SETTINGS)
    # THEN it is undecodable, and nothing was sent (frames are prepared before the first call)
    assert (result.verdict.status, result.verdict.reason) == (Status.UNSUPPORTED, "undecodable")
    assert imagga.colours == []
    assert result.frames_sent == 0


def test_a_still_image_costs_one_call() -> None:
    imagga = ColourCategorizer({}, SAFE)
    result = assess(jpeg_bytes(64, 48), imagga, SETTINGS)
    assert (result.frames_sent, result.frame_count, result.deciding_frame, len(imagga.colours)) == (1, 1, 0, 1)


def test_frames_of_animations_judged_at_once_never_exceed_the_limit_on_calls() -> None:
    # GIVEN one Imagga slot, and three animations of four frames judged by three workers at once
    imagga = ColourCategorizer({}, SAFE, delay=0.02)
    limited = CallLimit(imagga, slots=1)
    data = animation_bytes("GIF", (GREEN, BLUE, GREEN, BLUE))
    settings = replace(SETTINGS, animation_frames=4)
    results: list[Assessment] = []
    workers = [threading.Thread(target=lambda: results.append(assess(data, limited, settings))) for _ in range(3)]
    # WHEN they run
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    # THEN all twelve frames were sent, never two at a time
    assert [r.frames_sent for r in results] == [4, 4, 4]
    assert len(imagga.colours) == 12
    assert imagga.max_at_once == 1


def test_the_outcome_counts_every_frame_sent_and_names_the_one_that_decided(metric_totals: MetricTotals) -> None:
    # GIVEN a moderator and an animated upload whose third frame of five is unsafe
    storage, publisher = FakeStorage(), FakePublisher()
    storage.put("bucket", "incoming/anim.gif", animation_bytes("GIF", (GREEN, GREY, RED, CYAN, GREEN)))
    moderator = Moderator(storage, ColourCategorizer({RED: UNSAFE}, SAFE), publisher, SETTINGS, clock=lambda: "now")
    # WHEN it is moderated
    outcome = moderator.moderate(ObjectRef("bucket", "incoming/anim.gif"))
    # THEN the outcome, what is published and the metrics count every frame sent
    assert (outcome.status, outcome.frames_sent, outcome.frame_count, outcome.deciding_frame) == (
        Status.UNSAFE,
        3,
        5,
        2,
    )
    assert publisher.published[0].to_dict()["deciding_frame"] == 2
    assert outcome.imagga_attempts == 3
    assert metric_totals()["ImaggaCalls"] == 3
    assert outcome.imagga_latency_ms == 300.0
