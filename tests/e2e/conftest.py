"""Fixtures for tests that drive the local stack (moto server, Imagga emulator, event source mapping).

Reuse them from other test folders with `pytest_plugins = ["tests.e2e.conftest"]`, or build a
`LocalStack(...)` yourself with the options your test needs.

- `stack`: one stack for the module and emulator, template defaults except short SQS timings;
  faults cleared and the emulator's request log emptied before each test. It runs on the module's
  `backend` (tests/backends.py): every test that takes it runs on moto and on LocalStack (the
  session's one LocalStack process, shared by every stack).
- `make_stack`: a factory for stacks with their own options (idempotency off, wrong credentials,
  another categorizer...) on the same backend; every stack it made is stopped after the test.
- `wait_until`: a bounded wait that fails the test with what it waited for.
- `samples`: the sample photographs and the demo unsafe sample, by file name.
- `new_bytes(data)`: the same picture in bytes no test uploaded before (the content memory
  remembers Imagga's scores by bytes: a test that counts Imagga calls on the shared stack uses them).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from infra.local.stack import SAMPLES, LocalStack
from tests.backends import LOCALSTACK

#: Fast-test timings: a failed message is back after 2 s; the function may run 20 s per batch.
FAST: dict[str, Any] = {"visibility_timeout": 2, "function_timeout": 20}
#: Fewer, quicker Imagga retries than in production, so an outage fails a message in about a second.
FAST_IMAGGA_ENV = {"IMAGGA_MAX_ATTEMPTS": "2", "IMAGGA_READ_TIMEOUT": "3"}


def on_backend(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The options that put a stack on the backend: on LocalStack, the session's process."""
    if backend == LOCALSTACK:
        return {"backend": backend, "localstack": request.getfixturevalue("localstack_server")}
    return {"backend": backend}


@pytest.fixture(scope="module")
def stack(backend: str, request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    with LocalStack(**FAST, env=FAST_IMAGGA_ENV, **on_backend(backend, request)) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_emulator(request: pytest.FixtureRequest) -> None:
    """Each test starts with a healthy emulator and an empty request log (only if it uses `stack`)."""
    if "stack" in request.fixturenames:
        running: LocalStack = request.getfixturevalue("stack")
        running.imagga.clear_faults()
        running.imagga.reset_log()
        running.resume()


@pytest.fixture
def make_stack(backend: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., LocalStack]]:
    started: list[LocalStack] = []

    def build(**options: Any) -> LocalStack:
        merged = {**FAST, "env": FAST_IMAGGA_ENV, **on_backend(backend, request), **options}
        running = LocalStack(**merged).start()
        started.append(running)
        return running

    yield build
    for running in started:
        running.stop()


@pytest.fixture(scope="session")
def samples() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(Path(SAMPLES).iterdir()) if path.suffix != ".md"}


def new_bytes(data: bytes) -> bytes:
    """The same picture, other bytes: a few bytes after the image's end marker, which decoders ignore."""
    return data + b"\0" + uuid.uuid4().hex.encode()


def _wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until `condition()` is truthy; fail the test naming `what` when time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    """`wait_until(condition, timeout, what)`: a bounded wait that fails loudly."""
    return _wait_until
