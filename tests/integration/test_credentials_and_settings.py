"""Imagga credentials from Secrets Manager (moto), settings validated at the first invocation, no secret logged."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator

import pytest
from botocore.client import BaseClient

from moderator.app import lambda_handler
from moderator.errors import SettingsError
from moderator.observability import SERVICE
from moderator.wiring import default_services
from tests.builders import FakeLambdaContext, jpeg_bytes, s3_notification, s3_record, sqs_event

from .fake_imagga import GREEN, FakeImagga
from .harness import Moderation, tags_of

pytestmark = pytest.mark.integration

SECRET_NAME = "imagga-s3-moderator/imagga"
# Obviously fake, and distinctive enough that finding them in a log line cannot be chance.
SECRET_KEY = "fake-key-7Qv2Lx"
SECRET_VALUE = "fake-secret-Zp93Wk"


def _store_secret(moderation: Moderation, value: dict[str, str]) -> str:
    arn = moderation.secrets.create_secret(Name=SECRET_NAME, SecretString=json.dumps(value))["ARN"]
    # Only the secret: no key or secret in the environment.
    moderation.configure(IMAGGA_SECRET_ARN=str(arn), IMAGGA_API_KEY="", IMAGGA_API_SECRET="")
    return str(arn)


@pytest.fixture
def photo(s3: BaseClient, bucket: str) -> str:
    s3.put_object(Bucket=bucket, Key="incoming/photo.jpg", Body=jpeg_bytes(color=GREEN))
    return "incoming/photo.jpg"


def test_credentials_are_read_from_the_secret_named_by_its_arn(
    s3: BaseClient, bucket: str, photo: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN the Imagga credentials only in a Secrets Manager secret (JSON api_key / api_secret)
    imagga.api_key, imagga.api_secret = SECRET_KEY, SECRET_VALUE
    _store_secret(moderation, {"api_key": SECRET_KEY, "api_secret": SECRET_VALUE})

    # WHEN a photo is moderated
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, photo))))

    # THEN Imagga was called with the secret's credentials and accepted them
    assert result.failed_message_ids == []
    assert [c.auth for c in imagga.calls] == [(SECRET_KEY, SECRET_VALUE)]
    assert tags_of(s3, bucket, photo)["moderation:status"] == "SAFE"


@pytest.mark.parametrize(
    "value", [{"api_key": SECRET_KEY}, {"api_key": SECRET_KEY, "api_secret": "  "}], ids=["missing", "blank"]
)
def test_a_secret_without_both_fields_fails_the_record_with_a_clear_message(
    value: dict[str, str], s3: BaseClient, bucket: str, photo: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a secret that lacks a usable api_secret
    arn = _store_secret(moderation, value)

    # WHEN a photo is moderated
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, photo))))

    # THEN the message fails, the log names the secret and the missing fields, and Imagga was not called
    assert result.failed_message_ids == ["msg-1"]
    (warning,) = result.logged("object not moderated")
    assert warning["error"] == f"the Imagga secret {arn} must hold non-empty api_key and api_secret"
    assert warning["kind"] == "imagga-credentials"
    assert imagga.calls == []
    assert SECRET_KEY not in "\n".join([*result.log_lines, result.stdout, result.stderr])


@pytest.fixture
def container_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The handler reads os.environ itself (no services passed in), once per container."""
    for name in ("IMAGGA_API_KEY", "IMAGGA_API_SECRET", "IMAGGA_SECRET_ARN", "IMAGGA_API_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    default_services.cache_clear()
    yield monkeypatch
    default_services.cache_clear()


def test_invalid_settings_fail_the_first_invocation_listing_every_problem(
    container_environment: pytest.MonkeyPatch, imagga: FakeImagga
) -> None:
    # GIVEN a deployment with five configuration mistakes at once
    for name, value in {
        "IMAGGA_CATEGORIZER": "nsfw_gamma",
        "UNSAFE_THRESHOLD": "150",
        "IMAGGA_MAX_ATTEMPTS": "many",
        "QUARANTINE_PREFIX": "quarantine",
    }.items():
        container_environment.setenv(name, value)

    # WHEN the first event arrives
    with pytest.raises(SettingsError) as raised:
        lambda_handler(s3_notification(s3_record("moderation-test-bucket", "incoming/a.jpg")), FakeLambdaContext())

    # THEN one error names every problem, and nothing was called
    problems = raised.value.problems
    assert len(problems) == 5
    for name in ("IMAGGA_CATEGORIZER", "UNSAFE_THRESHOLD", "IMAGGA_MAX_ATTEMPTS", "QUARANTINE_PREFIX", "credentials"):
        assert any(name in problem for problem in problems), name
    assert imagga.calls == []


def test_no_secret_value_reaches_any_log_line_over_a_whole_run(
    s3: BaseClient,
    bucket: str,
    imagga: FakeImagga,
    moderation: Moderation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN credentials in Secrets Manager, and Imagga that accepts them for a while
    imagga.api_key, imagga.api_secret = SECRET_KEY, SECRET_VALUE
    _store_secret(moderation, {"api_key": SECRET_KEY, "api_secret": SECRET_VALUE})
    for name in ("one", "two"):
        s3.put_object(Bucket=bucket, Key=f"incoming/{name}.jpg", Body=jpeg_bytes(color=GREEN))
    # The function's own logger at DEBUG; the libraries at INFO as in Lambda (botocore's DEBUG
    # wire dumps print every response body, secrets included: never enable them in production).
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger=SERVICE)

    # WHEN one photo is moderated, then the secret is revoked and the next one gets 401 on its last delivery
    ok = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, "incoming/one.jpg"))))
    imagga.api_secret = "revoked"
    refused = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, "incoming/two.jpg")), receive_count=3))

    # THEN the run did what it should
    assert ok.failed_message_ids == []
    assert refused.failed_message_ids == ["msg-1"]
    assert tags_of(s3, bucket, "incoming/two.jpg")["moderation:reason"] == "imagga-credentials"
    # AND neither the key, the secret nor the Basic header appears in anything logged or printed
    basic = base64.b64encode(f"{SECRET_KEY}:{SECRET_VALUE}".encode()).decode()
    captured = "\n".join(
        [*ok.log_lines, ok.stdout, ok.stderr, *refused.log_lines, refused.stdout, refused.stderr, caplog.text]
    )
    assert "refused the API credentials" in captured
    for secret in (SECRET_KEY, SECRET_VALUE, basic):
        assert secret not in captured


def test_after_a_rotation_the_refused_cached_credentials_are_read_again_on_the_next_delivery(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a warm function that has read (and cached) the secret
    imagga.api_key, imagga.api_secret = SECRET_KEY, SECRET_VALUE
    arn = _store_secret(moderation, {"api_key": SECRET_KEY, "api_secret": SECRET_VALUE})
    for name in ("before", "after"):
        s3.put_object(Bucket=bucket, Key=f"incoming/{name}.jpg", Body=jpeg_bytes(color=GREEN))
    assert moderation.invoke(sqs_event(s3_notification(s3_record(bucket, "incoming/before.jpg")))).error is None

    # WHEN the secret is rotated (Imagga knows only the new one) and a message is delivered twice
    rotated = "fake-secret-rotated-4Hc8"
    moderation.secrets.put_secret_value(
        SecretId=arn, SecretString=json.dumps({"api_key": SECRET_KEY, "api_secret": rotated})
    )
    imagga.api_secret = rotated
    event = sqs_event(s3_notification(s3_record(bucket, "incoming/after.jpg")))
    first = moderation.invoke(event)
    second = moderation.invoke(event)

    # THEN the first delivery fails on the cached secret, the second reads the rotated one and succeeds
    assert first.failed_message_ids == ["msg-1"]
    assert second.failed_message_ids == []
    assert [c.auth for c in imagga.calls[1:]] == [(SECRET_KEY, SECRET_VALUE), (SECRET_KEY, rotated)]
    assert tags_of(s3, bucket, "incoming/after.jpg")["moderation:status"] == "SAFE"
