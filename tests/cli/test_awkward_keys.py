"""Every command taking an s3:// location acts on exactly the key written: `#`, `?`, `%`, `+`, spaces, non-ASCII.

Each test puts decoys where a URL parser would land instead: the key cut at `#` or `?`, and the
key with its `%xx` and `+` decoded. A command that acted on a decoy would show it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from infra.local.stack import DEMO_UNSAFE_NSFW, DEMO_UNSAFE_SAMPLE, SAMPLES, LocalStack

from moderator.app import lambda_handler
from moderator.wiring import build_services
from tests.builders import FakeLambdaContext, load_event
from tests.cli.conftest import Cli, as_tagging, tags_of, versions_of, wait_until
from tests.e2e.conftest import FAST, FAST_IMAGGA_ENV

UNSAFE = DEMO_UNSAFE_SAMPLE.read_bytes()
SAFE = (SAMPLES / "coffee.jpg").read_bytes()

#: One character class each, then all of them in one key.
NAMES = [
    "pic #1.png",
    "what?.png",
    "100%41.png",
    "a+b.png",
    "with space.png",
    "ünïcödé 東京.png",
    "all #1?v=%41+ü é.png",
]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """A stack whose function records decisions and finds approvals in the decisions ledger, as deployed."""
    with LocalStack(**FAST, name=f"moderator-local-{uuid.uuid4().hex[:8]}", env=FAST_IMAGGA_ENV) as running:
        yield running


def decoys(key: str) -> list[str]:
    """Where a URL parser would put this key: cut at '#' or '?', or with '%xx' and '+' decoded."""
    from urllib.parse import unquote_plus, urlparse

    cut = urlparse(f"s3://b/{key}").path.lstrip("/")
    return sorted({cut, unquote_plus(key)} - {key, ""})


def put(stack: LocalStack, key: str, body: bytes, **tags: str) -> None:
    extra = {"Tagging": as_tagging(tags)} if tags else {}
    stack.boto3_client("s3").put_object(Bucket=stack.bucket, Key=key, Body=body, **extra)


@pytest.mark.parametrize("name", NAMES)
def test_check_reads_exactly_the_object_named(name: str, cli: Cli, stack: LocalStack) -> None:
    # GIVEN the unsafe demo sample under the awkward key, and safe photos at the decoys
    key = f"operator-checks/{uuid.uuid4().hex[:8]}/{name}"
    put(stack, key, UNSAFE)
    for decoy in decoys(key):
        put(stack, decoy, SAFE)

    # WHEN an operator checks it
    result = cli("check", f"s3://{stack.bucket}/{key}", "--json")

    # THEN the verdict is the sample's, not a decoy's
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["status"], answer["scores"]["nsfw"]) == ("UNSAFE", DEMO_UNSAFE_NSFW)


@pytest.mark.parametrize("name", NAMES)
def test_tags_prints_the_tags_of_exactly_the_object_named(name: str, cli: Cli, stack: LocalStack) -> None:
    key = f"operator-tags/{uuid.uuid4().hex[:8]}/{name}"
    put(stack, key, SAFE, **{"moderation:status": "REVIEW"})
    for decoy in decoys(key):
        put(stack, decoy, SAFE, **{"moderation:status": "SAFE"})

    result = cli("tags", f"s3://{stack.bucket}/{key}", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"moderation:status": "REVIEW"}


def quarantined_by_the_function(stack: LocalStack, name: str) -> tuple[str, str]:
    """Upload the unsafe sample under an awkward key; (its key, its quarantined key) once the function moved it."""
    key = stack.upload(f"{uuid.uuid4().hex[:8]}/{name}", UNSAFE, ContentType="image/png")
    assert stack.wait_for_status([key])[key].location == "quarantine"
    quarantined = stack.quarantine_prefix + key
    for decoy in decoys(quarantined):
        put(stack, decoy, SAFE, **{"moderation:status": "UNSAFE"})
    return key, quarantined


def test_quarantine_list_shows_the_awkward_key_as_it_is(cli: Cli, stack: LocalStack) -> None:
    key, quarantined = quarantined_by_the_function(stack, NAMES[-1])

    result = cli("quarantine", "list", f"s3://{stack.bucket}", "--json")

    assert result.exit_code == 0, result.output
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows[quarantined]["original_key"] == key
    assert rows[quarantined]["scores"]["nsfw"] == DEMO_UNSAFE_NSFW


def test_release_moves_back_exactly_the_object_named_and_no_decoy(cli: Cli, stack: LocalStack) -> None:
    # GIVEN an awkward key the function quarantined, and decoys in quarantine where a URL parser would land
    key, quarantined = quarantined_by_the_function(stack, NAMES[-1])
    decoy_versions = {decoy: versions_of(stack, decoy) for decoy in decoys(quarantined)}

    # WHEN an operator releases it
    result = cli(
        "quarantine",
        "release",
        f"s3://{stack.bucket}/{quarantined}",
        DECISIONS_TABLE=stack.function_env()["DECISIONS_TABLE"],
    )

    # THEN that object is back at its own key, APPROVED, nothing left of it in quarantine, the decoys untouched
    assert result.exit_code == 0, result.output
    assert f"released to s3://{stack.bucket}/{key} as APPROVED" in result.stdout
    assert tags_of(stack, key)["moderation:status"] == "APPROVED"
    assert hashlib.sha256(_body(stack, key)).hexdigest() == hashlib.sha256(UNSAFE).hexdigest()
    assert versions_of(stack, quarantined) == []
    assert {decoy: versions_of(stack, decoy) for decoy in decoy_versions} == decoy_versions


def test_purge_deletes_exactly_the_object_named_and_no_decoy(cli: Cli, stack: LocalStack) -> None:
    _key, quarantined = quarantined_by_the_function(stack, NAMES[-1])
    decoy_versions = {decoy: versions_of(stack, decoy) for decoy in decoys(quarantined)}

    result = cli("quarantine", "purge", f"s3://{stack.bucket}/{quarantined}", "--yes")

    assert result.exit_code == 0, result.output
    assert "purged 1 object(s), 1 version(s)" in result.stdout
    assert versions_of(stack, quarantined) == []
    assert {decoy: versions_of(stack, decoy) for decoy in decoy_versions} == decoy_versions


def _body(stack: LocalStack, key: str) -> bytes:
    return bytes(stack.boto3_client("s3").get_object(Bucket=stack.bucket, Key=key)["Body"].read())


def awkward_folder(stack: LocalStack) -> tuple[str, list[str], list[str]]:
    """A folder whose name has every awkward character, two images in it, and decoy images beside it."""
    prefix = f"legacy-{uuid.uuid4().hex[:8]}/odd #1?v=%41+ü é/"
    inside = [f"{prefix}one.png", f"{prefix}two +2.png"]
    outside = [f"{cut}decoy.png" for cut in decoys(prefix)]
    for number, key in enumerate(inside):
        put(stack, key, _distinct_png(number))
    for key in outside:
        put(stack, key, SAFE)
    return prefix, inside, outside


def _distinct_png(number: int) -> bytes:
    from tests.builders import png_bytes

    return png_bytes(24, 24, (10 + number * 40, 200, 30))


def test_backfill_of_an_awkward_prefix_moderates_exactly_the_objects_under_it(cli: Cli, stack: LocalStack) -> None:
    prefix, inside, outside = awkward_folder(stack)

    result = cli("backfill", f"s3://{stack.bucket}/{prefix}", "--local", "--json")

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert (summary["listed"], summary["sent"]) == (2, 2)
    assert all(tags_of(stack, key)["moderation:status"] == "SAFE" for key in inside)
    assert all(tags_of(stack, key) == {} for key in outside)


def test_batch_operations_manifest_of_an_awkward_prefix_is_answered_task_by_task_by_the_function(
    cli: Cli, stack: LocalStack, tmp_path: Path
) -> None:
    # GIVEN the manifest `backfill --batch-operations` writes for an awkward prefix
    prefix, inside, outside = awkward_folder(stack)
    manifest = tmp_path / "backfill.csv"
    written = cli("backfill", f"s3://{stack.bucket}/{prefix}", "--batch-operations", str(manifest))
    assert written.exit_code == 0, written.output
    job = json.loads(written.stdout[written.stdout.index("{") :])
    schema = job["Operation"]["LambdaInvoke"]["InvocationSchemaVersion"]
    rows = list(csv.reader(manifest.open(newline="")))
    assert len(rows) == len(inside)

    # WHEN S3 Batch Operations invokes the function once per manifest row, in the schema the job asks for
    # (Powertools' published schema 2.0 event, its task naming the row's bucket and key as S3 passes them)
    answers = [
        lambda_handler(_task_event(schema, bucket, key), FakeLambdaContext(), services=_services(stack))
        for bucket, key in rows
    ]

    # THEN every task is queued, and once the stack's backfill queue is worked off, every object under
    # the prefix, and none beside it, carries a status
    assert [[r["resultCode"] for r in answer["results"]] for answer in answers] == [["Succeeded"]] * len(inside)
    assert all(answer["results"][0]["resultString"].startswith("QUEUED:") for answer in answers)
    wait_until(lambda: all("moderation:status" in tags_of(stack, key) for key in inside), 60, "the queued tasks")
    assert all(tags_of(stack, key)["moderation:status"] == "SAFE" for key in inside)
    assert all(tags_of(stack, key) == {} for key in outside)


def _task_event(schema: str, bucket: str, key: str) -> dict[str, Any]:
    assert schema == "2.0", "the job asks for the schema the published sample has"
    event = load_event("batch-operations-2.0.json")
    event["tasks"][0].update({"s3Bucket": bucket, "s3Key": key})
    return event


def _services(stack: LocalStack) -> Any:
    from dataclasses import replace

    return build_services(
        replace(stack.settings(), idempotency_table=None),
        s3_client=stack.boto3_client("s3"),
        secrets_client=stack.boto3_client("secretsmanager"),
        dynamodb_client=stack.boto3_client("dynamodb"),
        endpoint_url=stack.endpoint_url,
        backoff_base=0.0,
    )
