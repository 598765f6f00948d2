"""Fixtures every kind of test may use. Keep this small: area-specific fixtures live next to their tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from moderator import observability

# The two AWS emulators (moto, LocalStack) as fixtures every test folder can take.
from tests.backends import backend, dynamodb_server, localstack_server  # noqa: F401
from tests.builders import FakeLambdaContext

FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test can reach a real AWS account: obviously fake credentials, a fixed region, no profile."""
    for name, value in FAKE_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(autouse=True)
def function_observability() -> Iterator[None]:
    """Commands run in-process quiet the function's metrics and logs; give the next test them back."""
    state, level = dict(observability._state), observability.logger.log_level
    yield
    observability._state.update(state)
    observability.logger.setLevel(level)
