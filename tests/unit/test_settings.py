"""The settings model: defaults, every variable, and every problem reported at once."""

from __future__ import annotations

import pytest

from moderator.errors import SettingsError
from moderator.imagga import ImaggaCredentials
from moderator.model import Status
from moderator.policy import Thresholds
from moderator.settings import DEFAULT_ENDPOINT, MIB, Settings

CREDENTIALS = {"IMAGGA_API_KEY": "test-key", "IMAGGA_API_SECRET": "test-secret"}


def settings_from(**env: str) -> Settings:
    return Settings.from_env({**CREDENTIALS, **env})


def problems_of(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    return caught.value.problems


def test_defaults_when_only_credentials_are_set() -> None:
    # GIVEN an environment with nothing but credentials
    # WHEN the settings are read
    settings = settings_from()
    # THEN every value is its documented default
    assert settings.imagga_endpoint == DEFAULT_ENDPOINT == "https://api.imagga.com/v2"
    assert settings.categorizer == "nsfw_beta"
    assert settings.upload_mode == "direct"
    assert (settings.connect_timeout, settings.read_timeout, settings.max_attempts) == (3.05, 20.0, 4)
    assert settings.thresholds == Thresholds(unsafe=20.0, review=50.0)
    assert settings.mode == "enforce"
    assert settings.enforce is True
    assert settings.quarantine_statuses == frozenset({Status.UNSAFE})
    assert settings.quarantine_bucket is None
    assert settings.quarantine_prefix == "quarantine/"
    assert settings.max_image_bytes == 25 * MIB
    assert settings.max_image_pixels == 100_000_000
    assert settings.resize_short_side == 600
    assert settings.animation_frames == 5
    assert settings.max_receive_count == 3
    assert settings.idempotency_table is None
    assert settings.decisions_table is None
    assert settings.approvals_table is None
    assert settings.event_bus_name is None
    assert settings.alert_topic_arn is None


@pytest.mark.parametrize(
    ("name", "value", "attribute", "expected"),
    [
        ("IMAGGA_API_ENDPOINT", "http://127.0.0.1:8080/v2/", "imagga_endpoint", "http://127.0.0.1:8080/v2"),
        ("IMAGGA_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:imagga-AbCdEf", "imagga_secret_arn",
         "arn:aws:secretsmanager:us-east-1:123456789012:secret:imagga-AbCdEf"),
        ("IMAGGA_CATEGORIZER", "adult_content", "categorizer", "adult_content"),
        ("IMAGGA_UPLOAD_MODE", "upload", "upload_mode", "upload"),
        ("IMAGGA_CONNECT_TIMEOUT", "1.5", "connect_timeout", 1.5),
        ("IMAGGA_READ_TIMEOUT", "45", "read_timeout", 45.0),
        ("IMAGGA_MAX_ATTEMPTS", "7", "max_attempts", 7),
        ("MODE", "monitor", "mode", "monitor"),
        ("QUARANTINE_BUCKET", "moderation-demo-quarantine", "quarantine_bucket", "moderation-demo-quarantine"),
        ("QUARANTINE_PREFIX", "held/back/", "quarantine_prefix", "held/back/"),
        ("MAX_IMAGE_BYTES", "1048576", "max_image_bytes", 1048576),
        ("MAX_IMAGE_PIXELS", "4000000", "max_image_pixels", 4_000_000),
        ("RESIZE_SHORT_SIDE", "300", "resize_short_side", 300),
        ("RESIZE_SHORT_SIDE", "0", "resize_short_side", 0),
        ("ANIMATION_FRAMES", "1", "animation_frames", 1),
        ("ANIMATION_FRAMES", "50", "animation_frames", 50),
        ("MAX_RECEIVE_COUNT", "5", "max_receive_count", 5),
        ("IDEMPOTENCY_TABLE", "moderation-idempotency", "idempotency_table", "moderation-idempotency"),
        ("DECISIONS_TABLE", "moderation-decisions", "decisions_table", "moderation-decisions"),
        ("DECISIONS_TTL_DAYS", "30", "decisions_ttl_days", 30),
        ("APPROVAL_TTL_DAYS", "7", "approval_ttl_days", 7),
        ("QUARANTINE_KMS_KEY_ARN", "arn:aws:kms:us-east-1:123456789012:key/abcd1234-12ab-34cd-56ef-1234567890ab",
         "quarantine_kms_key_arn", "arn:aws:kms:us-east-1:123456789012:key/abcd1234-12ab-34cd-56ef-1234567890ab"),
        ("IDEMPOTENCY_EXPIRY_SECONDS", "3600", "idempotency_expiry_seconds", 3600),
        ("SECRET_MAX_AGE_SECONDS", "0", "secret_max_age_seconds", 0),
        ("EVENT_BUS_NAME", "moderation-bus", "event_bus_name", "moderation-bus"),
        ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts", "alert_topic_arn",
         "arn:aws:sns:us-east-1:123456789012:alerts"),
    ],
)  # fmt: skip
def test_each_variable_is_parsed(name: str, value: str, attribute: str, expected: object) -> None:
    # GIVEN one variable set
    # WHEN the settings are read
    settings = settings_from(**{name: value})
    # THEN the typed value is there
    assert getattr(settings, attribute) == expected


def test_thresholds_are_parsed_as_percentages() -> None:
    settings = settings_from(UNSAFE_THRESHOLD="30", REVIEW_THRESHOLD="62.5")
    assert settings.thresholds == Thresholds(unsafe=30.0, review=62.5)


def test_monitor_mode_is_not_enforcing() -> None:
    assert settings_from(MODE="monitor").enforce is False


def test_blank_values_fall_back_to_defaults() -> None:
    settings = settings_from(IMAGGA_CATEGORIZER="  ", MAX_RECEIVE_COUNT="", QUARANTINE_BUCKET=" ")
    assert (settings.categorizer, settings.max_receive_count, settings.quarantine_bucket) == ("nsfw_beta", 3, None)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"APPROVALS_TABLE": "approvals"}, "approvals"),
        ({"DECISIONS_TABLE": "decisions", "IDEMPOTENCY_TABLE": "idem"}, "decisions"),
        ({"IDEMPOTENCY_TABLE": "idem"}, "idem"),
        ({"APPROVALS_TABLE": "approvals", "DECISIONS_TABLE": "decisions"}, "approvals"),
    ],
)
def test_approvals_table_falls_back_to_decisions_then_idempotency_table(
    env: dict[str, str], expected: str | None
) -> None:
    assert settings_from(**env).approvals_table == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("UNSAFE", {Status.UNSAFE}),
        ("unsafe, review", {Status.UNSAFE, Status.REVIEW}),
        ("UNSAFE,REVIEW,UNSUPPORTED,ERROR", {Status.UNSAFE, Status.REVIEW, Status.UNSUPPORTED, Status.ERROR}),
        (" ERROR ,, ", {Status.ERROR}),
        (",", set()),
    ],
)
def test_quarantine_statuses_are_parsed(raw: str, expected: set[Status]) -> None:
    assert settings_from(QUARANTINE_STATUSES=raw).quarantine_statuses == frozenset(expected)


@pytest.mark.parametrize("status", ["SAFE", "APPROVED", "BAD"])
def test_quarantine_statuses_refuse_what_cannot_be_quarantined(status: str) -> None:
    problems = problems_of({**CREDENTIALS, "QUARANTINE_STATUSES": f"UNSAFE,{status}"})
    assert len(problems) == 1
    assert problems[0].startswith("QUARANTINE_STATUSES:")
    assert repr(status) in problems[0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IMAGGA_API_ENDPOINT", "ftp://api.imagga.com/v2"),
        ("IMAGGA_API_ENDPOINT", "api.imagga.com/v2"),
        ("IMAGGA_CATEGORIZER", "nsfw"),
        ("IMAGGA_UPLOAD_MODE", "base64"),
        ("IMAGGA_CONNECT_TIMEOUT", "0"),
        ("IMAGGA_CONNECT_TIMEOUT", "fast"),
        ("IMAGGA_READ_TIMEOUT", "901"),
        ("IMAGGA_MAX_ATTEMPTS", "0"),
        ("IMAGGA_MAX_ATTEMPTS", "11"),
        ("IMAGGA_MAX_ATTEMPTS", "2.5"),
        ("UNSAFE_THRESHOLD", "-1"),
        ("UNSAFE_THRESHOLD", "100.01"),
        ("REVIEW_THRESHOLD", "half"),
        ("MODE", "enforcing"),
        ("QUARANTINE_STATUSES", "SAFE"),
        ("QUARANTINE_PREFIX", "quarantine"),
        ("QUARANTINE_PREFIX", "/quarantine/"),
        ("MAX_IMAGE_BYTES", "0"),
        ("MAX_IMAGE_BYTES", "25MB"),
        ("MAX_IMAGE_PIXELS", "-5"),
        ("RESIZE_SHORT_SIDE", "16"),
        ("RESIZE_SHORT_SIDE", "10001"),
        ("RESIZE_SHORT_SIDE", "-1"),
        ("ANIMATION_FRAMES", "0"),
        ("ANIMATION_FRAMES", "51"),
        ("ANIMATION_FRAMES", "all"),
        ("MAX_RECEIVE_COUNT", "0"),
        ("DECISIONS_TTL_DAYS", "0"),
        ("APPROVAL_TTL_DAYS", "0"),
        ("APPROVAL_TTL_DAYS", "3651"),
        ("QUARANTINE_KMS_KEY_ARN", "alias/quarantine"),
        ("IDEMPOTENCY_EXPIRY_SECONDS", "59"),
        ("SECRET_MAX_AGE_SECONDS", "86401"),
    ],
)
def test_each_invalid_value_is_reported_by_name(name: str, value: str) -> None:
    # GIVEN one invalid value
    # WHEN the settings are read
    problems = problems_of({**CREDENTIALS, name: value})
    # THEN exactly that variable is reported
    assert len(problems) == 1
    assert problems[0].startswith(f"{name}:")


def test_every_invalid_value_is_reported_in_one_error() -> None:
    # GIVEN several problems at once, credentials missing too
    env = {
        "IMAGGA_CATEGORIZER": "nsfw",
        "IMAGGA_MAX_ATTEMPTS": "many",
        "UNSAFE_THRESHOLD": "150",
        "QUARANTINE_PREFIX": "quarantine",
        "MODE": "strict",
    }
    # WHEN the settings are read
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    # THEN one error names every problem
    names = [problem.split(":", 1)[0] for problem in caught.value.problems]
    assert names == [
        "IMAGGA_CATEGORIZER",
        "IMAGGA_MAX_ATTEMPTS",
        "UNSAFE_THRESHOLD",
        "MODE",
        "QUARANTINE_PREFIX",
        "Imagga credentials",
    ]
    assert str(caught.value).startswith("invalid configuration: IMAGGA_CATEGORIZER:")


@pytest.mark.parametrize(
    "env",
    [{}, {"IMAGGA_API_KEY": "test-key"}, {"IMAGGA_API_SECRET": "test-secret"}, {"IMAGGA_API_KEY": " "}],
)
def test_missing_credentials_are_reported(env: dict[str, str]) -> None:
    problems = problems_of(env)
    assert problems == ["Imagga credentials: set IMAGGA_SECRET_ARN, or both IMAGGA_API_KEY and IMAGGA_API_SECRET"]


def test_a_secret_arn_is_enough_credentials() -> None:
    settings = Settings.from_env({"IMAGGA_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:i"})
    assert settings.imagga_api_key is None


def test_operator_commands_may_read_settings_without_credentials() -> None:
    settings = Settings.from_env({}, require_credentials=False)
    assert settings.imagga_secret_arn is None


def test_invalid_value_message_does_not_echo_credentials() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"IMAGGA_API_KEY": "test-key", "IMAGGA_API_SECRET": "test-secret", "MODE": "x"})
    assert "test-key" not in str(caught.value)
    assert "test-secret" not in str(caught.value)


def test_settings_repr_shows_no_secret() -> None:
    settings = Settings.from_env({"IMAGGA_API_KEY": "test-key-4f2a", "IMAGGA_API_SECRET": "test-secret-9c1d"})
    text = repr(settings)
    assert "test-key-4f2a" not in text
    assert "test-secret-9c1d" not in text
    assert "categorizer='nsfw_beta'" in text


def test_credentials_repr_and_str_show_no_secret() -> None:
    credentials = ImaggaCredentials("test-key-4f2a", "test-secret-9c1d")
    for text in (repr(credentials), str(credentials), f"{credentials}", repr([credentials])):
        assert "test-key-4f2a" not in text
        assert "test-secret-9c1d" not in text
    assert repr(credentials) == "ImaggaCredentials(api_key=***, api_secret=***)"
