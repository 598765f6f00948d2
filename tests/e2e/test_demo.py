"""`make demo`'s entry point, run as a user would: a subprocess from the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


#: What the object uploaded twice costs, by emulator: moto's events name no version, S3's (and LocalStack's) do.
TWICE = {
    "moto": "2 S3 events and 2 versions; 1 Imagga call(s), 1 of 2 versions tagged. Why: moto's events name no version",
    "localstack": "2 S3 events and 2 versions; 2 Imagga call(s), 2 of 2 versions tagged. Why: each event names its own",
}


def test_demo_exits_zero_and_prints_every_verdict_in_its_table(backend: str) -> None:
    # GIVEN the repository as checked out
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "functions"), str(REPO)])}

    # WHEN the demo runs on the emulator (`make demo BACKEND=...`)
    done = subprocess.run(
        [sys.executable, "-m", "infra.local.demo", "--timeout", "60", "--backend", backend],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    # THEN it succeeds and its table shows where each object ended
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("  ")[0]: line for line in done.stdout.splitlines()}
    assert "UNSAFE" in rows["demo-unsafe-sample.png"]
    assert "quarantine/incoming/demo-unsafe-sample.png" in rows["demo-unsafe-sample.png"]
    assert "UNSUPPORTED" in rows["notes.txt"] and "reason=not-an-image" in rows["notes.txt"]
    assert "reason=empty" in rows["empty.jpg"]
    assert "SAFE" in rows["holiday photos/café + ünïcode #1.jpg"]
    assert all(rows[name].endswith("ok") for name in ("astronaut.jpg", "coffee.jpg", "chelsea.jpg"))
    assert "aws --endpoint-url http://127.0.0.1:" in done.stdout
    # AND it says what the object uploaded twice cost on this emulator, and why
    assert TWICE[backend] in done.stdout
    assert "All expectations met." in done.stdout
