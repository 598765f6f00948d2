"""The whole system on the local stack: upload -> S3 event -> SQS -> function -> Imagga emulator -> tags."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

import pytest
from infra.local.stack import LocalStack
from tests.e2e.conftest import FAST_IMAGGA_ENV, new_bytes

pytestmark = pytest.mark.e2e

VERDICT_WAIT = 20.0


def test_uploaded_photo_is_tagged_safe_with_the_models_scores(stack: LocalStack, samples: dict[str, bytes]) -> None:
    # GIVEN a public-domain photograph
    # WHEN it is uploaded under the incoming prefix
    key = stack.upload("photos/chelsea.jpg", samples["chelsea.jpg"])

    # THEN within a bounded wait it carries the verdict and the scores the local model gave
    found = stack.wait_for_status([key], timeout=VERDICT_WAIT)[key]
    assert found.location == "incoming"
    assert found.status == "SAFE"
    assert found.tags["moderation:categorizer"] == "nsfw_beta"
    assert float(found.tags["moderation:safe"]) > 90.0
    assert float(found.tags["moderation:nsfw"]) + float(found.tags["moderation:safe"]) == pytest.approx(100, abs=0.02)
    assert stack.imagga.categorizations()[0].scores_source == "model"


def test_unsafe_sample_lands_in_quarantine_with_its_tags_and_leaves_incoming(
    stack: LocalStack, samples: dict[str, bytes]
) -> None:
    # GIVEN the labelled demo sample, registered with fixed high nsfw scores
    # WHEN it is uploaded
    key = stack.upload("unsafe/demo-unsafe-sample.png", samples["demo-unsafe-sample.png"])

    # THEN it is under the quarantine prefix, tagged UNSAFE, and gone from the incoming prefix
    found = stack.wait_for_status([key], timeout=VERDICT_WAIT)[key]
    assert found.location == "quarantine"
    assert found.current_key == stack.quarantine_prefix + key
    assert found.status == "UNSAFE"
    assert found.tags["moderation:nsfw"] == "97.50"
    listed = stack.boto3_client("s3").list_objects_v2(Bucket=stack.bucket, Prefix=key)
    assert listed.get("KeyCount", 0) == 0
    # AND the emulator's log says the scores were the registered fixed ones
    assert [r.scores_source for r in stack.imagga.categorizations()] == ["fixed"]


def test_non_image_is_unsupported_and_never_sent_to_imagga(stack: LocalStack) -> None:
    # GIVEN a text file named like an image, and an empty object
    text_key = stack.upload("notes.jpg", b"this is not an image", ContentType="image/jpeg")
    empty_key = stack.upload("empty.png", b"")

    # WHEN the function has judged them
    found = stack.wait_for_status([text_key, empty_key], timeout=VERDICT_WAIT)

    # THEN both are UNSUPPORTED with their reasons, and Imagga was never asked
    assert (found[text_key].status, found[text_key].tags["moderation:reason"]) == ("UNSUPPORTED", "not-an-image")
    assert (found[empty_key].status, found[empty_key].tags["moderation:reason"]) == ("UNSUPPORTED", "empty")
    assert stack.imagga.count("/v2/categories/") == 0


def test_key_with_spaces_plus_and_non_ascii_is_moderated_under_its_own_key(
    stack: LocalStack, samples: dict[str, bytes]
) -> None:
    # GIVEN a key S3 notifications must URL-encode
    key = stack.upload("holiday photos/café + ünïcode #1.jpg", samples["coffee.jpg"])

    # WHEN / THEN the object under exactly that key gets its verdict
    found = stack.wait_for_status([key], timeout=VERDICT_WAIT)[key]
    assert (found.current_key, found.status) == (key, "SAFE")


def test_imagga_outage_followed_by_recovery_ends_with_every_object_tagged(
    stack: LocalStack, samples: dict[str, bytes], wait_until: Any
) -> None:
    # GIVEN Imagga answering 503 to everything
    stack.imagga.set_faults(rate_503=1.0)
    keys = [
        stack.upload("outage/astronaut.jpg", samples["astronaut.jpg"]),
        stack.upload("outage/rocket.jpg", samples["rocket.jpg"]),
    ]
    wait_until(lambda: stack.imagga.count("/v2/categories/", answered=503) >= 2, 10, "the function to meet the outage")
    assert [stack.object_status(k).status for k in keys] == [None, None]

    # WHEN Imagga recovers
    stack.imagga.clear_faults()

    # THEN the redelivered messages end with every object tagged, and nothing in the dead-letter queue
    found = stack.wait_for_status(keys, timeout=VERDICT_WAIT)
    assert {found[k].status for k in keys} == {"SAFE"}
    assert stack.queue_depth(stack.dlq_url) == 0


def test_duplicate_delivery_costs_no_second_imagga_call_with_idempotency_on(
    stack: LocalStack, samples: dict[str, bytes], wait_until: Any
) -> None:
    # GIVEN an uploaded photo (bytes never seen before) already moderated once
    photo = new_bytes(samples["coffee.jpg"])
    key = stack.upload("dup/coffee.jpg", photo)
    stack.wait_for_status([key], timeout=VERDICT_WAIT)
    body = wait_until(lambda: stack.notification_for(key), VERDICT_WAIT, "the first delivery to be recorded")

    # WHEN S3 delivers the same notification again
    message_id = stack.redeliver(body)

    # THEN the function handles it successfully without calling Imagga again
    wait_until(lambda: _handled(stack, message_id), VERDICT_WAIT, "the duplicate delivery to be handled")
    assert stack.imagga_calls_for(photo) == 1
    assert stack.object_status(key).status == "SAFE"


def test_duplicate_delivery_is_categorized_again_when_idempotency_is_off(
    make_stack: Any, samples: dict[str, bytes], wait_until: Any
) -> None:
    # GIVEN a stack without the idempotency table (nor the content memory, which would save the
    # call too: see test_content_memory.py), and a photo moderated once
    stack = make_stack(idempotency=False, env={**FAST_IMAGGA_ENV, "CONTENT_MEMORY": "off"})
    assert "IDEMPOTENCY_TABLE" not in stack.function_env()
    key = stack.upload("dup/coffee.jpg", samples["coffee.jpg"])
    stack.wait_for_status([key], timeout=VERDICT_WAIT)
    body = wait_until(lambda: stack.notification_for(key), VERDICT_WAIT, "the first delivery to be recorded")

    # WHEN the same notification is delivered again
    message_id = stack.redeliver(body)

    # THEN Imagga is asked a second time: the idempotency table is what saved the call above
    wait_until(lambda: _handled(stack, message_id), VERDICT_WAIT, "the duplicate delivery to be handled")
    assert stack.imagga_calls_for(samples["coffee.jpg"]) == 2


def test_wrong_credentials_end_in_the_dead_letter_queue_with_error_tagged(
    make_stack: Any, samples: dict[str, bytes], wait_until: Any
) -> None:
    # GIVEN a secret holding credentials the Imagga emulator refuses, and two receives before the DLQ
    stack = make_stack(wrong_credentials=True, max_receive_count=2)

    # WHEN a photo is uploaded
    key = stack.upload("creds/chelsea.jpg", samples["chelsea.jpg"])

    # THEN after its last attempt the message is in the dead-letter queue
    wait_until(lambda: stack.queue_depth(stack.dlq_url) == 1, 30, "the message to reach the dead-letter queue")
    bodies = stack.dlq_bodies()
    assert unquote_plus(json.loads(bodies[0])["Records"][0]["s3"]["object"]["key"]) == key
    # AND the object was tagged ERROR on that last attempt, naming the credentials
    found = stack.object_status(key)
    assert (found.status, found.tags["moderation:reason"]) == ("ERROR", "imagga-credentials")
    assert stack.imagga.count("/v2/categories/", answered=401) == 2
    assert stack.queue_depth() == 0


def test_upload_mode_categorizes_by_upload_id_and_deletes_the_upload(
    make_stack: Any, samples: dict[str, bytes]
) -> None:
    # GIVEN the function in Imagga's three-request upload mode, with the adult_content categorizer
    stack = make_stack(upload_mode="upload", categorizer="adult_content")

    # WHEN a photo is uploaded
    key = stack.upload("upload-mode/rocket.jpg", samples["rocket.jpg"])

    # THEN it is tagged with adult_content's labels, and no upload is left on the emulator
    found = stack.wait_for_status([key], timeout=VERDICT_WAIT)[key]
    assert (found.status, found.tags["moderation:categorizer"]) == ("SAFE", "adult_content")
    assert "moderation:explicit" in found.tags
    counts = stack.imagga.request_counts
    assert counts["POST /v2/uploads"] == 1
    assert counts["GET /v2/categories/adult_content"] == 1
    assert counts["DELETE /v2/uploads/<id>"] == 1
    assert stack.imagga.uploads == []


def _handled(stack: LocalStack, message_id: str) -> bool:
    mapping = stack.mapping
    assert mapping is not None
    return any(message_id in i.message_ids and message_id not in i.failed_ids for i in mapping.invocations)
