"""The operator's side of the content memory: `quarantine purge` remembers what it deletes, `backfill`
reuses remembered scores and `backfill --rescan` asks Imagga afresh."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from infra.local.stack import DEMO_UNSAFE_SAMPLE, SAMPLES, LocalStack

from tests.cli.conftest import Cli, tags_of
from tests.e2e.conftest import FAST, FAST_IMAGGA_ENV, new_bytes, on_backend

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(backend: str, request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    with LocalStack(**FAST, env=FAST_IMAGGA_ENV, **on_backend(backend, request)) as running:
        yield running


@pytest.fixture
def operator(stack: LocalStack) -> dict[str, str]:
    """What an operator exports: the stack's decisions table (the ledger and the content memory)."""
    return {"DECISIONS_TABLE": stack.decisions_table}


def summary(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout[result.stdout.index("{") :]))


def test_an_image_purged_from_quarantine_comes_back_quarantined_without_a_call(
    cli: Cli, stack: LocalStack, operator: dict[str, str]
) -> None:
    # GIVEN the unsafe demo sample, quarantined by the function
    image = new_bytes(DEMO_UNSAFE_SAMPLE.read_bytes())
    key = stack.upload(f"purged/{uuid.uuid4().hex[:6]}/sample.png", image)
    assert stack.wait_for_status([key])[key].location == "quarantine"

    # WHEN an operator purges it, and the same bytes are uploaded again under another name
    purged = cli("quarantine", "purge", f"s3://{stack.bucket}/{stack.quarantine_prefix}{key}", "--yes", **operator)
    assert purged.exit_code == 0, purged.output
    calls = stack.imagga.count("/v2/categories/")
    again = stack.upload(f"purged/{uuid.uuid4().hex[:6]}/renamed.png", image)
    found = stack.wait_for_status([again])[again]

    # THEN the new upload is quarantined as rejected before, and Imagga was not asked
    assert (found.location, found.tags["moderation:reason"]) == ("quarantine", "rejected-before")
    assert stack.imagga.count("/v2/categories/") == calls


def backfill(
    cli: Cli, stack: LocalStack, operator: dict[str, str], where: str, path: str, *flags: str
) -> dict[str, Any]:
    """`backfill` from this machine (`--local`) or into the stack's backfill queue, and its summary."""
    route = ["--local"] if path == "local" else ["--queue-url", stack.backfill_queue_url]
    return summary(cli("backfill", where, *route, *flags, "--json", **operator))


def tagged(stack: LocalStack, keys: list[str], timeout: float = 60.0) -> None:
    """Wait until every key (outside the incoming prefix) carries a moderation:status."""
    deadline = time.monotonic() + timeout
    while not all("moderation:status" in tags_of(stack, key) for key in keys):
        assert time.monotonic() < deadline, f"not all tagged in {timeout:g} s: {keys}"
        time.sleep(0.1)


def calls_reach(stack: LocalStack, expected: int, timeout: float = 60.0) -> int:
    """Imagga's count of categorizations once it reaches `expected` (or the timeout), and a moment later."""
    deadline = time.monotonic() + timeout
    while stack.imagga.count("/v2/categories/") < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # anything more would have been asked by now
    return stack.imagga.count("/v2/categories/")


@pytest.mark.parametrize("path", ["local", "queue"])
def test_backfill_reuses_remembered_scores_and_a_rescan_asks_imagga_again(
    cli: Cli, stack: LocalStack, operator: dict[str, str], path: str
) -> None:
    # GIVEN three existing photos outside the incoming prefix (no event), backfilled once
    s3 = stack.boto3_client("s3")
    prefix = f"archive-{uuid.uuid4().hex[:6]}/"
    images = [new_bytes((SAMPLES / name).read_bytes()) for name in ("astronaut.jpg", "chelsea.jpg", "coffee.jpg")]
    before = stack.imagga.count("/v2/categories/")
    first_keys = [f"{prefix}first/{number}.jpg" for number in range(3)]
    copy_keys = [f"{prefix}copies/{number}.jpg" for number in range(3)]
    for key, data in zip(first_keys, images, strict=True):
        s3.put_object(Bucket=stack.bucket, Key=key, Body=data)
    backfill(cli, stack, operator, f"s3://{stack.bucket}/{prefix}first/", path)
    tagged(stack, first_keys)
    assert calls_reach(stack, before + 3) == before + 3

    # WHEN copies of the same bytes elsewhere are backfilled
    for key, data in zip(copy_keys, images, strict=True):
        s3.put_object(Bucket=stack.bucket, Key=key, Body=data)
    copies = backfill(cli, stack, operator, f"s3://{stack.bucket}/{prefix}copies/", path)
    tagged(stack, copy_keys)
    after_copies = calls_reach(stack, before + 3)
    # AND then everything is rescanned
    rescan = backfill(cli, stack, operator, f"s3://{stack.bucket}/{prefix}", path, "--rescan")

    # THEN the copies were tagged from memory (no call); the rescan asked Imagga for all six
    assert copies.get("sent", copies.get("queued")) == 3
    for copy_key, first_key in zip(copy_keys, first_keys, strict=True):
        copied, original = tags_of(stack, copy_key), tags_of(stack, first_key)
        assert copied["moderation:status"] == original["moderation:status"]
        assert copied["moderation:nsfw"] == original["moderation:nsfw"]
    assert after_copies == before + 3
    assert rescan.get("sent", rescan.get("queued")) == 6
    assert calls_reach(stack, before + 3 + 6) == before + 3 + 6
