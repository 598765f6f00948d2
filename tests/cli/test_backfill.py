"""`backfill s3://BUCKET/PREFIX`: existing objects get moderated once, in bounded memory, resumably.

The objects are seeded through moto's backend in this process (the stack's moto server shares it):
2,000 PUTs over HTTP would take about ten seconds. Every command under test goes through the
stack's HTTP endpoint like an operator's would.
"""

from __future__ import annotations

import csv
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from infra.local.stack import LocalStack
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from moderator.backfill import BackfillReport, run_backfill
from moderator.storage import S3Storage
from moderator.wiring import build_services
from tests.backends import moto_only
from tests.builders import png_bytes
from tests.cli.conftest import Cli, assert_one_line_error, tags_of

TAGGED = {"moderation:status": "SAFE", "moderation:scanned-at": "2024-01-01T00:00:00Z"}

# moto alone: the objects are seeded through moto's in-process backend, and `--create-job` needs
# S3 Control, which is not among LocalStack's services here.
pytestmark = moto_only


@dataclass(frozen=True)
class Seeded:
    prefix: str
    untagged: list[str]
    tagged: list[str]
    images: dict[str, bytes]  # untagged images by key

    @property
    def location_suffix(self) -> str:
        return self.prefix


def distinct_png(number: int) -> bytes:
    """A small PNG no other call returns: its colour encodes the number."""
    return png_bytes(24, 24, ((number * 37) % 256, (number * 91) % 256, (number * 53) % 256))


def seed(
    stack: LocalStack, *, untagged_images: int, tagged_images: int, untagged_other: int, tagged_other: int
) -> Seeded:
    """Objects outside the incoming prefix (no event, no function run), some already carrying a status."""
    backend = get_backend("s3")[DEFAULT_ACCOUNT_ID]["global"]
    prefix = f"legacy-{uuid.uuid4().hex[:8]}/"
    untagged: list[str] = []
    tagged: list[str] = []
    images: dict[str, bytes] = {}
    plan = [
        ("img", untagged_images, True, False),
        ("old-img", tagged_images, True, True),
        ("doc", untagged_other, False, False),
        ("old-doc", tagged_other, False, True),
    ]
    number = 0
    for stem, count, is_image, is_tagged in plan:
        for _ in range(count):
            number += 1
            key = f"{prefix}{number:05d}-{stem}.{'png' if is_image else 'txt'}"
            body = distinct_png(number) if is_image else f"record {number}\n".encode()
            stored = backend.put_object(stack.bucket, key, body, disable_notification=True)
            if is_tagged:
                backend.put_object_tagging(stored, dict(TAGGED))
                tagged.append(key)
            else:
                untagged.append(key)
                if is_image:
                    images[key] = body
    return Seeded(prefix, untagged, tagged, images)


def summary_of(stdout: str) -> dict[str, Any]:
    return dict(json.loads(stdout[stdout.index("{") :]))


def test_backfill_of_2000_objects_tags_only_the_untagged_ones_and_a_rerun_sends_nothing(
    cli: Cli, stack: LocalStack
) -> None:
    # GIVEN 2,000 objects: 1,900 already moderated (10 of them images), 80 untagged documents, 20 untagged images
    seeded = seed(stack, untagged_images=20, tagged_images=10, untagged_other=80, tagged_other=1890)
    location = f"s3://{stack.bucket}/{seeded.prefix}"

    # WHEN the backfill runs, as many at once as the Imagga plan allows
    done = cli("backfill", location, "--local", "--json", "--concurrency", "2")

    # THEN every untagged object has a status, the tagged ones were left alone and never sent to Imagga
    assert done.exit_code == 0, done.output
    summary = summary_of(done.stdout)
    assert (summary["listed"], summary["sent"], summary["already_tagged"]) == (2000, 100, 1900)
    assert summary["statuses"]["UNSUPPORTED"] == 80
    assert sum(summary["statuses"].values()) == 100
    assert stack.imagga.count("/v2/categories/", answered=200) == 20
    assert {stack.imagga_calls_for(data) for data in seeded.images.values()} == {1}
    for key in seeded.untagged[:25]:  # every image, and some documents
        assert "moderation:status" in tags_of(stack, key), key
    assert tags_of(stack, seeded.untagged[-1])["moderation:reason"] == "not-an-image"
    assert tags_of(stack, seeded.tagged[0]) == TAGGED

    # WHEN it runs again
    stack.imagga.reset_log()
    again = cli("backfill", location, "--local", "--json", "--concurrency", "4")

    # THEN there is nothing left to send
    assert again.exit_code == 0, again.output
    assert (summary_of(again.stdout)["sent"], summary_of(again.stdout)["already_tagged"]) == (0, 2000)
    assert stack.imagga.count("/v2/") == 0


def test_an_interrupted_backfill_is_resumed_by_running_it_again(cli: Cli, stack: LocalStack) -> None:
    # GIVEN 160 untagged objects, 10 of them images, and a run stopped after 40 were sent
    seeded = seed(stack, untagged_images=10, tagged_images=0, untagged_other=150, tagged_other=0)
    settings = stack.settings()
    moderator = build_services(
        replace_idempotency(settings), s3_client=stack.boto3_client("s3"), endpoint_url=stack.endpoint_url
    ).moderator
    storage = S3Storage(stack.boto3_client("s3"))
    stop = threading.Event()

    def stop_after_40(report: BackfillReport) -> None:
        if report.sent >= 40:
            stop.set()

    first = run_backfill(
        storage.list_objects(stack.bucket, seeded.prefix),
        bucket=stack.bucket,
        quarantine_prefix=settings.quarantine_prefix,
        storage=storage,
        moderate=moderator.moderate,
        concurrency=2,
        on_progress=stop_after_40,
        stop=stop,
    )
    assert first.interrupted
    assert first.max_in_flight <= 2 * 2
    tagged_first = [k for k in seeded.untagged if "moderation:status" in tags_of(stack, k)]
    images_first = stack.imagga.count("/v2/categories/", answered=200)
    assert 40 <= len(tagged_first) < 160
    stack.imagga.reset_log()
    # AND a dry run now counts what is left, changing nothing
    dry = cli("backfill", f"s3://{stack.bucket}/{seeded.prefix}", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert summary_of(dry.stdout) | {"statuses": None} == {
        "listed": 160,
        "would_send": 160 - len(tagged_first),
        "already_tagged": len(tagged_first),
        "skipped": 0,
        "failed": 0,
        "statuses": None,
        "interrupted": False,
    }
    assert stack.imagga.count("/v2/") == 0
    assert [k for k in seeded.untagged if "moderation:status" in tags_of(stack, k)] == tagged_first

    # WHEN the operator runs the same backfill
    rerun = cli("backfill", f"s3://{stack.bucket}/{seeded.prefix}", "--local", "--json")

    # THEN only what the first run left is sent, and every image reached Imagga exactly once overall
    assert rerun.exit_code == 0, rerun.output
    summary = summary_of(rerun.stdout)
    assert summary["already_tagged"] == len(tagged_first)
    assert summary["sent"] == 160 - len(tagged_first)
    assert images_first + stack.imagga.count("/v2/categories/", answered=200) == 10
    assert all("moderation:status" in tags_of(stack, k) for k in seeded.images)


def replace_idempotency(settings: Any) -> Any:
    from dataclasses import replace

    return replace(settings, idempotency_table=None)


# --- S3 Batch Operations manifest -------------------------------------------------------------

AWKWARD = ["a photo.png", "plus+sign.png", "ünïcode/straße.png", "100%.png", "comma,semi;colon.png"]


@pytest.fixture
def awkward_prefix(stack: LocalStack) -> Iterator[str]:
    prefix = f"manifest-{uuid.uuid4().hex[:8]}/"
    s3 = stack.boto3_client("s3")
    for number, name in enumerate(AWKWARD):
        s3.put_object(Bucket=stack.bucket, Key=prefix + name, Body=distinct_png(5000 + number))
        s3.put_object(Bucket=stack.bucket, Key=f"{prefix}done/{name}", Body=b"x", Tagging="moderation:status=SAFE")
    yield prefix


def test_batch_operations_manifest_lists_exactly_the_untagged_objects_url_encoded(
    cli: Cli, stack: LocalStack, awkward_prefix: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "backfill.csv"

    result = cli(
        "backfill",
        f"s3://{stack.bucket}/{awkward_prefix}",
        "--batch-operations",
        str(manifest),
        "--function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:imagga-s3-moderator",
        "--role-arn",
        "arn:aws:iam::123456789012:role/batch-operations",
    )

    # THEN the CSV holds bucket,key rows for the untagged objects only, keys URL-encoded
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(manifest.open(newline="")))
    assert {bucket for bucket, _key in rows} == {stack.bucket}
    assert sorted(unquote_plus(key) for _bucket, key in rows) == sorted(awkward_prefix + n for n in AWKWARD)
    assert all(" " not in key and "+" not in key and "," not in key for _bucket, key in rows)
    # AND the job request to submit is printed
    assert f"({len(AWKWARD)} objects)" in result.stdout
    job = json.loads(result.stdout[result.stdout.index("{") :])
    assert job["AccountId"] == DEFAULT_ACCOUNT_ID
    assert job["Operation"]["LambdaInvoke"] == {
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:imagga-s3-moderator",
        "InvocationSchemaVersion": "2.0",
    }
    assert job["Manifest"]["Spec"] == {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]}
    assert job["Manifest"]["Location"]["ObjectArn"] == f"arn:aws:s3:::{stack.bucket}/batch-manifests/backfill.csv"
    assert job["RoleArn"] == "arn:aws:iam::123456789012:role/batch-operations"
    assert job["ConfirmationRequired"] is True


def test_create_job_without_the_arns_stops_with_one_line(
    cli: Cli, stack: LocalStack, awkward_prefix: str, tmp_path: Path
) -> None:
    result = cli(
        "backfill",
        f"s3://{stack.bucket}/{awkward_prefix}",
        "--batch-operations",
        str(tmp_path / "backfill.csv"),
        "--create-job",
    )

    assert_one_line_error(result, 2, "--create-job needs --stack-name, or --function-arn and --role-arn")
    uploaded = stack.boto3_client("s3").list_objects_v2(Bucket=stack.bucket, Prefix="batch-manifests/")
    assert uploaded.get("KeyCount", 0) == 0
