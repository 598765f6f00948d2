"""The function against a real local HTTP server speaking Imagga's wire contract."""

from __future__ import annotations

import base64
import io

import pytest
from botocore.client import BaseClient
from PIL import Image

from tests.builders import jpeg_bytes, s3_notification, s3_record, sqs_event

from .fake_imagga import API_KEY, API_SECRET, GREEN, RED, FakeImagga, Reply
from .harness import Moderation, tags_of

pytestmark = pytest.mark.integration

KEY = "incoming/photo.jpg"


@pytest.fixture
def green_photo(s3: BaseClient, bucket: str) -> str:
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(width=1600, height=1200, color=GREEN))
    return KEY


def test_direct_mode_sends_one_multipart_post_with_a_downscaled_jpeg(
    s3: BaseClient, bucket: str, green_photo: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN the default direct upload mode and a 1600x1200 photo
    # WHEN its notification is handled
    result = moderation.invoke(s3_notification(s3_record(bucket, green_photo)))

    # THEN Imagga got exactly one POST /v2/categories/nsfw_beta, Basic auth, the image as multipart `image`
    assert result.error is None
    assert [(c.method, c.path) for c in imagga.calls] == [("POST", "/v2/categories/nsfw_beta")]
    call = imagga.calls[0]
    assert call.auth == (API_KEY, API_SECRET)
    assert list(call.files) == ["image"]
    with Image.open(io.BytesIO(call.files["image"])) as sent:
        assert (sent.format, min(sent.size)) == ("JPEG", 600)
    assert tags_of(s3, bucket, green_photo)["moderation:status"] == "SAFE"


def test_upload_mode_uploads_categorizes_by_id_and_deletes_the_upload(
    s3: BaseClient, bucket: str, green_photo: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN the upload mode (the seed article's three-request flow)
    moderation.configure(IMAGGA_UPLOAD_MODE="upload")

    # WHEN the photo's notification is handled
    result = moderation.invoke(s3_notification(s3_record(bucket, green_photo)))

    # THEN: POST /v2/uploads, GET the categories by upload id, DELETE that upload; the verdict is tagged
    assert result.error is None
    assert [(c.method, c.path) for c in imagga.calls] == [
        ("POST", "/v2/uploads"),
        ("GET", "/v2/categories/nsfw_beta"),
        ("DELETE", "/v2/uploads/i00001e1"),
    ]
    assert list(imagga.calls[0].files) == ["image"]
    assert imagga.calls[1].query == {"image_upload_id": "i00001e1"}
    assert tags_of(s3, bucket, green_photo)["moderation:status"] == "SAFE"


def test_upload_mode_deletes_the_upload_even_when_categorization_keeps_failing(
    s3: BaseClient, bucket: str, green_photo: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN the upload mode, two attempts at most, and a categorization that answers 500 twice
    moderation.configure(IMAGGA_UPLOAD_MODE="upload", IMAGGA_MAX_ATTEMPTS="2")
    imagga.reply_next("GET", "/v2/categories/", Reply.error(500), Reply.error(500))

    # WHEN the notification arrives through SQS (first delivery)
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, green_photo))))

    # THEN the message fails for a retry, and the upload was still deleted from Imagga
    assert result.failed_message_ids == ["msg-1"]
    assert [(c.method, c.path, c.status) for c in imagga.calls] == [
        ("POST", "/v2/uploads", 200),
        ("GET", "/v2/categories/nsfw_beta", 500),
        ("GET", "/v2/categories/nsfw_beta", 500),
        ("DELETE", "/v2/uploads/i00001e1", 200),
    ]
    assert tags_of(s3, bucket, green_photo) == {}


@pytest.mark.parametrize(
    ("categorizer", "scores", "status", "deciding_tag"),
    [
        ("nsfw_beta", {"nsfw": 30.0, "underwear": 0.0, "safe": 70.0}, "UNSAFE", ("moderation:nsfw", "30.00")),
        ("nsfw_beta", {"nsfw": 29.99, "underwear": 10.0, "safe": 60.01}, "SAFE", ("moderation:nsfw", "29.99")),
        ("nsfw_beta", {"nsfw": 0.5, "underwear": 60.0, "safe": 39.5}, "REVIEW", ("moderation:underwear", "60.00")),
        ("nsfw_beta", {"nsfw": 0.5, "underwear": 59.99, "safe": 39.51}, "SAFE", ("moderation:nsfw", "0.50")),
        (
            "adult_content",
            {"explicit": 30.0, "suggestive": 5.0, "safe": 65.0},
            "UNSAFE",
            ("moderation:explicit", "30.00"),
        ),
        ("adult_content", {"explicit": 29.99, "safe": 70.01}, "SAFE", ("moderation:explicit", "29.99")),
        (
            "adult_content",
            {"explicit": 1.0, "suggestive": 60.0, "safe": 39.0},
            "REVIEW",
            ("moderation:suggestive", "60.00"),
        ),
        (
            "adult_content",
            {"explicit": 1.0, "suggestive": 59.99, "safe": 39.01},
            "SAFE",
            ("moderation:explicit", "1.00"),
        ),
    ],
)
def test_each_categorizer_decides_at_its_threshold_edges(
    categorizer: str,
    scores: dict[str, float],
    status: str,
    deciding_tag: tuple[str, str],
    s3: BaseClient,
    bucket: str,
    green_photo: str,
    imagga: FakeImagga,
    moderation: Moderation,
) -> None:
    # GIVEN thresholds of 30 (unsafe) and 60 (review); monitor mode keeps every object where its tags are read
    moderation.configure(IMAGGA_CATEGORIZER=categorizer, UNSAFE_THRESHOLD="30", REVIEW_THRESHOLD="60", MODE="monitor")
    imagga.answer(scores)

    # WHEN the photo is moderated
    result = moderation.invoke(s3_notification(s3_record(bucket, green_photo)))

    # THEN the chosen categorizer was asked, and a score equal to a threshold meets it
    assert result.error is None
    assert [c.path for c in imagga.calls] == [f"/v2/categories/{categorizer}"]
    tags = tags_of(s3, bucket, green_photo)
    assert tags["moderation:status"] == status
    assert tags["moderation:categorizer"] == categorizer
    assert tags[deciding_tag[0]] == deciding_tag[1]
    assert "moderation:safe" in tags  # every label the categorizer defines is written (a missing one as 0.00)


def test_retries_on_503_end_in_a_verdict_and_are_counted(
    s3: BaseClient, bucket: str, green_photo: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN Imagga answers 503 twice, then succeeds
    imagga.reply_next(
        "POST", "/v2/categories/", Reply.error(503, "Service Unavailable"), Reply(503, "<html>busy</html>")
    )

    # WHEN the photo is moderated
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, green_photo))))

    # THEN the third attempt's verdict is tagged, and the retries are logged and counted
    assert result.failed_message_ids == []
    assert [c.status for c in imagga.calls] == [503, 503, 200]
    assert tags_of(s3, bucket, green_photo)["moderation:status"] == "SAFE"
    assert result.metrics["ImaggaRetries"] == 2
    assert result.metrics["ImaggaCalls"] == 3
    assert len(result.logged("imagga retry")) == 2


@pytest.mark.parametrize(("receive_count", "tagged"), [(1, False), (2, False), (3, True)])
def test_exhausted_retries_fail_the_message_and_the_last_delivery_tags_error(
    receive_count: int,
    tagged: bool,
    s3: BaseClient,
    bucket: str,
    imagga: FakeImagga,
    moderation: Moderation,
) -> None:
    # GIVEN Imagga answers 503 to the red photo every time; three attempts per delivery, three deliveries at most
    imagga.answer_for_colour(RED, Reply.error(503, "Service Unavailable"))
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=RED))
    moderation.configure(IMAGGA_MAX_ATTEMPTS="3", MAX_RECEIVE_COUNT="3")

    # WHEN the message arrives for the n-th time
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, KEY)), receive_count=receive_count))

    # THEN it fails each time; only on the last delivery is the object tagged ERROR with the reason
    assert result.failed_message_ids == ["msg-1"]
    assert len(imagga.calls) == 3
    tags = tags_of(s3, bucket, KEY)
    if tagged:
        assert tags["moderation:status"] == "ERROR"
        assert tags["moderation:reason"] == "imagga-unavailable"
        assert tags["moderation:categorizer"] == "nsfw_beta"
    else:
        assert tags == {}
    assert result.metrics["ErrorImaggaUnavailable"] == 1


def test_refused_credentials_fail_the_record_with_a_clear_message_and_no_credential_logged(
    s3: BaseClient, bucket: str, green_photo: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN Imagga knows other credentials than the function's
    imagga.api_key, imagga.api_secret = "another-key", "another-secret"

    # WHEN the photo's notification is handled (direct S3 delivery)
    result = moderation.invoke(s3_notification(s3_record(bucket, green_photo)))

    # THEN the invocation fails naming the credentials problem, after a single request (no retry on 401)
    assert result.error is not None
    assert "imagga-credentials" in str(result.error)
    assert len(imagga.calls) == 1
    (warning,) = result.logged("object not moderated")
    assert "refused the API credentials" in warning["error"]
    assert tags_of(s3, bucket, green_photo) == {}
    basic = base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()
    everything = "\n".join([*result.log_lines, result.stdout])
    for secret in (API_KEY, API_SECRET, basic):
        assert secret not in everything


def test_an_image_imagga_rejects_with_400_is_tagged_error_and_the_message_succeeds(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN Imagga answers 400 for the red photo
    imagga.answer_for_colour(RED, Reply.error(400, "Unexpected error while running the classification job."))
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=RED))

    # WHEN its message is handled
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, KEY))))

    # THEN nothing is retried: ERROR / imagga-rejected, and the message succeeds
    assert result.failed_message_ids == []
    assert len(imagga.calls) == 1
    tags = tags_of(s3, bucket, KEY)
    assert (tags["moderation:status"], tags["moderation:reason"]) == ("ERROR", "imagga-rejected")
    assert tags["moderation:categorizer"] == "nsfw_beta"
