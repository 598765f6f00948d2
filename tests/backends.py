"""The two AWS emulators the integration, end-to-end and command-line tests run on.

- `moto`: in-process `mock_aws` for integration tests, moto's server inside the local stack. Fast.
- `localstack`: one LocalStack process for the whole session (started when the first test needs
  it), for S3, SQS, Secrets Manager, EventBridge, SNS and STS; DynamoDB stays on moto's server.
  Its S3 behaves like AWS's where moto does not (version ids in events, copy preconditions, 400/405
  answers; see the README, "moto and LocalStack").

A test (or its fixtures) that touches S3 or SQS takes the module-scoped `backend` fixture and so
runs once per emulator; tests are grouped by emulator within a module. `@localstack_only` runs a
test on LocalStack alone, for what moto cannot show. `pytest -m localstack` (`make test-localstack`)
runs the LocalStack leg; without LocalStack installed (it needs python3.13) that leg is skipped,
with the reason.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import pytest
import requests
from infra.local.localstack_server import LocalStackServer, LocalStackUnavailableError, unavailable_reason

MOTO, LOCALSTACK = "moto", "localstack"
BACKENDS = [
    pytest.param(MOTO, id=MOTO),
    pytest.param(LOCALSTACK, id=LOCALSTACK, marks=pytest.mark.localstack),
]
#: What only LocalStack shows: the test runs there alone (put it on a test or a module's `pytestmark`).
localstack_only = pytest.mark.parametrize("backend", [BACKENDS[1]], indirect=True)
#: Needs a service that is not among LocalStack's here (e.g. S3 Control): the test runs on moto alone.
moto_only = pytest.mark.parametrize("backend", [BACKENDS[0]], indirect=True)

_accounts = itertools.count(100000000001)


@pytest.fixture(scope="session")
def localstack_server() -> Iterator[LocalStackServer]:
    """The session's LocalStack. Not installed: the test is skipped, saying how to install it."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = LocalStackServer()
    try:
        server.start()
    except LocalStackUnavailableError as exc:
        # Installed but not starting is a failure, never a silent skip.
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dynamodb_server() -> Iterator[str]:
    """moto's server for DynamoDB beside LocalStack (LocalStack's DynamoDB needs Java): its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """ "moto" or "localstack"; LocalStack is started (once per session) the first time it is asked for."""
    if request.param == LOCALSTACK:
        request.getfixturevalue("localstack_server")
    return str(request.param)


def new_account_id() -> str:
    """A fresh 12-digit account: LocalStack keeps SQS, SNS, EventBridge and secrets apart per account
    (it reads the account from a 12-digit access key id), so each test starts with none of them."""
    return str(next(_accounts))


def reset_moto(url: str) -> None:
    """Empty moto's state (every backend of this process) through its server's reset endpoint."""
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
