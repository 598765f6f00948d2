"""`quarantine list | release | purge` and `tags` on the stack's versioned bucket, with the function running."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator

import pytest
from infra.local.stack import DEMO_UNSAFE_SAMPLE, SAMPLES, LocalStack

from tests.cli.conftest import (
    Cli,
    as_tagging,
    assert_one_line_error,
    tags_of,
    versions_of,
    wait_until,
)
from tests.e2e.conftest import FAST, FAST_IMAGGA_ENV, on_backend

UNSAFE = DEMO_UNSAFE_SAMPLE.read_bytes()


@pytest.fixture(scope="module")
def stack(backend: str, request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    """The function records its decisions (and finds approvals) in the stack's decisions ledger, as deployed."""
    name = f"moderator-local-{uuid.uuid4().hex[:8]}"
    with LocalStack(**FAST, name=name, env=FAST_IMAGGA_ENV, **on_backend(backend, request)) as running:
        yield running


@pytest.fixture
def decisions_table(stack: LocalStack) -> str:
    return stack.function_env()["DECISIONS_TABLE"]


@pytest.fixture
def review_env(decisions_table: str) -> dict[str, str]:
    """What an operator exports to release: the ledger, which also holds the approvals."""
    return {"DECISIONS_TABLE": decisions_table}


def quarantine_one(stack: LocalStack, name: str = "beach.png") -> tuple[str, str]:
    """Upload the unsafe demo sample; return (uploaded key, quarantined key) once the function moved it."""
    key = stack.upload(f"{uuid.uuid4().hex[:8]}/{name}", UNSAFE, ContentType="image/png")
    status = stack.wait_for_status([key])[key]
    assert status.location == "quarantine", status
    return key, stack.quarantine_prefix + key


def drained(stack: LocalStack) -> bool:
    return stack.queue_depth() == 0


def test_quarantine_list_shows_each_quarantined_object_with_its_scores(cli: Cli, stack: LocalStack) -> None:
    key, quarantined = quarantine_one(stack)

    as_json = cli("quarantine", "list", f"s3://{stack.bucket}", "--json")
    table = cli("quarantine", "list", f"s3://{stack.bucket}")

    assert as_json.exit_code == 0, as_json.output
    rows = {row["key"]: row for row in json.loads(as_json.stdout)}
    row = rows[quarantined]
    assert row["original_key"] == key
    assert row["status"] == "UNSAFE"
    assert row["scores"]["nsfw"] == 97.5
    assert row["scanned_at"]
    assert table.exit_code == 0, table.output
    assert quarantined in table.stdout and "nsfw=97.50" in table.stdout


def test_release_puts_the_image_back_approved_and_the_function_leaves_it_there(
    cli: Cli, stack: LocalStack, review_env: dict[str, str], decisions_table: str
) -> None:
    # GIVEN an image the function quarantined
    key, quarantined = quarantine_one(stack)
    stack.imagga.reset_log()

    # WHEN an operator releases it
    result = cli("quarantine", "release", f"s3://{stack.bucket}/{quarantined}", **review_env)

    # THEN it is back at its key, APPROVED with reviewed-at and the scores that sent it away
    assert result.exit_code == 0, result.output
    assert f"released to s3://{stack.bucket}/{key} as APPROVED" in result.stdout
    back = tags_of(stack, key)
    assert back["moderation:status"] == "APPROVED"
    assert back["moderation:reviewed-at"]
    assert back["moderation:nsfw"] == "97.50"
    # AND no version of it is left in quarantine
    assert versions_of(stack, quarantined) == []
    # AND the approval of exactly these bytes is recorded, and the decision in the ledger
    dynamodb = stack.boto3_client("dynamodb")
    sha = hashlib.sha256(UNSAFE).hexdigest()
    approval = dynamodb.get_item(TableName=decisions_table, Key={"id": {"S": f"approval#{stack.bucket}#{sha}#{key}"}})[
        "Item"
    ]
    assert approval["object_key"]["S"] == key
    assert approval["approved_by"]["S"].startswith("arn:aws:")
    decisions = [i for i in dynamodb.scan(TableName=decisions_table)["Items"] if i["kind"]["S"] == "decision"]
    mine = [d for d in decisions if d["object_key"]["S"] == key]
    assert [(d["status"]["S"], d["decision"]["S"], d["location_key"]["S"]) for d in mine] == [
        ("APPROVED", "APPROVED", key)
    ]

    # WHEN the function has handled the event the copy raised
    wait_until(lambda: drained(stack), what="the queue drained")

    # THEN the image is still there, APPROVED, and was not sent to Imagga again
    assert stack.object_status(key).location == "incoming"
    assert tags_of(stack, key)["moderation:status"] == "APPROVED"
    assert stack.imagga_calls_for(UNSAFE) == 0


def test_an_uploaded_approved_tag_does_not_stop_quarantine(stack: LocalStack) -> None:
    # GIVEN an uploader who sets moderation:status=APPROVED on an unsafe image
    key = stack.upload(
        f"{uuid.uuid4().hex[:8]}/forged.png", UNSAFE, Tagging=as_tagging({"moderation:status": "APPROVED"})
    )

    # WHEN the function has seen it
    status = wait_until(
        lambda: (s := stack.object_status(key)).location == "quarantine" and s, what="the forged upload quarantined"
    )

    # THEN it is quarantined as UNSAFE
    assert status.status == "UNSAFE"
    assert stack.object_status(key).location == "quarantine"


def test_release_refuses_to_replace_an_object_that_took_the_original_key(
    cli: Cli, stack: LocalStack, review_env: dict[str, str]
) -> None:
    # GIVEN a quarantined image whose key a new upload has taken since
    key, quarantined = quarantine_one(stack)
    newer = (SAMPLES / "coffee.jpg").read_bytes()
    stack.upload(key, newer)
    assert stack.wait_for_status([key])[key].status == "SAFE"

    # WHEN the operator releases the quarantined one
    result = cli("quarantine", "release", f"s3://{stack.bucket}/{quarantined}", **review_env)

    # THEN it is refused in one line, the newer upload is untouched and the image stays in quarantine
    assert_one_line_error(result, 1, "newer object", "stays in quarantine")
    s3 = stack.boto3_client("s3")
    assert s3.get_object(Bucket=stack.bucket, Key=stack.full_key(key))["Body"].read() == newer
    assert len(versions_of(stack, quarantined)) == 1


def test_purge_of_one_key_deletes_every_version(cli: Cli, stack: LocalStack, review_env: dict[str, str]) -> None:
    _key, quarantined = quarantine_one(stack)
    stack.boto3_client("s3").put_object(Bucket=stack.bucket, Key=quarantined, Body=UNSAFE)  # a second version
    assert len(versions_of(stack, quarantined)) == 2

    result = cli("quarantine", "purge", f"s3://{stack.bucket}/{quarantined}", "--yes", **review_env)

    assert result.exit_code == 0, result.output
    assert "purged 1 object(s), 2 version(s)" in result.stdout
    assert versions_of(stack, quarantined) == []


def test_purge_without_yes_asks_and_deletes_nothing_on_no(cli: Cli, stack: LocalStack) -> None:
    _key, quarantined = quarantine_one(stack)

    result = cli("quarantine", "purge", f"s3://{stack.bucket}/{quarantined}", input="n\n")

    assert result.exit_code == 2
    assert "Delete 1 quarantined object(s)" in result.stdout
    assert "nothing deleted" in result.stderr
    assert len(versions_of(stack, quarantined)) == 1


def test_purge_older_than_deletes_only_what_is_older(cli: Cli, stack: LocalStack) -> None:
    _key, quarantined = quarantine_one(stack)

    recent = cli("quarantine", "purge", f"s3://{stack.bucket}", "--older-than", "1d", "--yes")
    assert recent.exit_code == 0, recent.output
    assert "nothing to purge" in recent.stdout
    assert len(versions_of(stack, quarantined)) == 1

    everything = cli("quarantine", "purge", f"s3://{stack.bucket}", "--older-than", "0m", "--yes")
    assert everything.exit_code == 0, everything.output
    assert versions_of(stack, quarantined) == []
    listed = cli("quarantine", "list", f"s3://{stack.bucket}", "--json")
    assert json.loads(listed.stdout) == []


def test_tags_prints_the_moderation_tags_of_one_object(cli: Cli, stack: LocalStack) -> None:
    key = stack.upload(f"{uuid.uuid4().hex[:8]}/coffee.jpg", (SAMPLES / "coffee.jpg").read_bytes())
    stack.wait_for_status([key])
    s3 = stack.boto3_client("s3")
    s3.put_object_tagging(
        Bucket=stack.bucket,
        Key=key,
        Tagging={"TagSet": [*_tag_set(tags_of(stack, key)), {"Key": "owner", "Value": "team-a"}]},
    )

    as_json = cli("tags", f"s3://{stack.bucket}/{key}", "--json")
    table = cli("tags", f"s3://{stack.bucket}/{key}")

    assert as_json.exit_code == 0, as_json.output
    shown = json.loads(as_json.stdout)
    assert shown["moderation:status"] == "SAFE"
    assert "owner" not in shown
    assert set(shown) >= {"moderation:nsfw", "moderation:safe", "moderation:scanned-at", "moderation:categorizer"}
    assert table.exit_code == 0 and "moderation:status" in table.stdout and "SAFE" in table.stdout


def _tag_set(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _quarantined_versions(cli: Cli, stack: LocalStack, quarantined: str) -> list[str]:
    listed = cli("quarantine", "list", f"s3://{stack.bucket}", "--json")
    assert listed.exit_code == 0, listed.output
    return [row["version_id"] for row in json.loads(listed.stdout) if row["key"] == quarantined]


def test_release_of_one_version_moves_only_that_version(
    cli: Cli, stack: LocalStack, review_env: dict[str, str]
) -> None:
    # GIVEN a quarantined image, and a second version at its quarantine key (another upload quarantined there)
    key, quarantined = quarantine_one(stack)
    (first,) = _quarantined_versions(cli, stack, quarantined)
    s3 = stack.boto3_client("s3")
    s3.put_object(Bucket=stack.bucket, Key=quarantined, Body=(SAMPLES / "coffee.jpg").read_bytes())
    assert len(_quarantined_versions(cli, stack, quarantined)) == 2

    # WHEN the operator releases the first version by its id
    result = cli("quarantine", "release", f"s3://{stack.bucket}/{quarantined}", "--version-id", first, **review_env)

    # THEN those bytes are back at the key, and the other version is still in quarantine
    assert result.exit_code == 0, result.output
    assert s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read() == UNSAFE
    assert first not in versions_of(stack, quarantined) and len(versions_of(stack, quarantined)) == 1


def test_release_refuses_a_quarantined_object_whose_bytes_are_not_the_ones_judged(
    cli: Cli, stack: LocalStack, review_env: dict[str, str]
) -> None:
    # GIVEN a quarantined image, and other bytes put at its quarantine key with the same verdict tags
    key, quarantined = quarantine_one(stack)
    s3 = stack.boto3_client("s3")
    s3.put_object(
        Bucket=stack.bucket,
        Key=quarantined,
        Body=(SAMPLES / "coffee.jpg").read_bytes(),
        Tagging=as_tagging(tags_of(stack, quarantined)),
    )

    # WHEN the operator releases the key (its current version)
    result = cli("quarantine", "release", f"s3://{stack.bucket}/{quarantined}", **review_env)

    # THEN it is refused in one line, the key stays empty and nothing is approved
    assert_one_line_error(result, 1, "is not the version the scan of", "nothing was changed")
    assert versions_of(stack, key) == []
    assert len(versions_of(stack, quarantined)) == 2


def test_purge_of_one_version_keeps_the_others(cli: Cli, stack: LocalStack, review_env: dict[str, str]) -> None:
    # GIVEN a quarantined image with a second version at its key
    _key, quarantined = quarantine_one(stack)
    (first,) = _quarantined_versions(cli, stack, quarantined)
    stack.boto3_client("s3").put_object(Bucket=stack.bucket, Key=quarantined, Body=UNSAFE)

    # WHEN the operator purges the first version only
    result = cli(
        "quarantine", "purge", f"s3://{stack.bucket}/{quarantined}", "--version-id", first, "--yes", **review_env
    )

    # THEN that version is gone and the other remains
    assert result.exit_code == 0, result.output
    assert "purged 1 object(s), 1 version(s)" in result.stdout
    assert first not in versions_of(stack, quarantined) and len(versions_of(stack, quarantined)) == 1


def test_purge_help_says_that_without_a_version_every_version_goes(cli: Cli) -> None:
    result = cli("quarantine", "purge", "--help", endpoint=False)

    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Without --version-id every version of the key is deleted" in text
    assert "--version-id" in text
