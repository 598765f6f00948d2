"""The operator's side of the content memory: `quarantine purge` remembers what it deletes, `backfill`
reuses remembered scores and `backfill --rescan` asks Imagga afresh."""

from __future__ import annotations

import json
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


def test_backfill_reuses_remembered_scores_and_a_rescan_asks_imagga_again(
    cli: Cli, stack: LocalStack, operator: dict[str, str]
) -> None:
    # GIVEN three existing photos outside the incoming prefix (no event), backfilled once
    s3 = stack.boto3_client("s3")
    prefix = f"archive-{uuid.uuid4().hex[:6]}/"
    images = [new_bytes((SAMPLES / name).read_bytes()) for name in ("astronaut.jpg", "chelsea.jpg", "coffee.jpg")]
    for number, data in enumerate(images):
        s3.put_object(Bucket=stack.bucket, Key=f"{prefix}first/{number}.jpg", Body=data)
    first = summary(cli("backfill", f"s3://{stack.bucket}/{prefix}first/", "--json", **operator))
    assert first["sent"] == 3 and stack.imagga.count("/v2/categories/") == 3

    # WHEN copies of the same bytes elsewhere are backfilled
    for number, data in enumerate(images):
        s3.put_object(Bucket=stack.bucket, Key=f"{prefix}copies/{number}.jpg", Body=data)
    copies = summary(cli("backfill", f"s3://{stack.bucket}/{prefix}copies/", "--json", **operator))
    # AND then everything is rescanned
    rescan = summary(cli("backfill", f"s3://{stack.bucket}/{prefix}", "--rescan", "--json", **operator))

    # THEN the copies were tagged from memory (no call); the rescan asked Imagga for all six
    assert copies["sent"] == 3 and copies["statuses"] == first["statuses"]
    for number in range(3):
        copied, original = tags_of(stack, f"{prefix}copies/{number}.jpg"), tags_of(stack, f"{prefix}first/{number}.jpg")
        assert copied["moderation:status"] == original["moderation:status"]
        assert copied["moderation:nsfw"] == original["moderation:nsfw"]
    assert rescan["sent"] == 6
    assert stack.imagga.count("/v2/categories/") == 3 + 0 + 6
