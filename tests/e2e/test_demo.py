"""`make demo`'s entry point, run as a user would: a subprocess from the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


#: What the object uploaded twice costs, on either emulator: one call, both versions tagged, thanks to the memory.
TWICE = (
    "2 S3 events and 2 versions; 1 Imagga call(s), 2 of 2 versions tagged. Why: the second version has the same bytes"
)


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
    # AND it says what the object uploaded twice cost, and why: the content memory
    assert TWICE in done.stdout
    # AND the purged unsafe sample came back, renamed and as a near-copy, quarantined without a call
    assert "UNSAFE" in rows["renamed/holiday.png"] and "reason=rejected-before" in rows["renamed/holiday.png"]
    assert "quarantine/incoming/renamed/holiday.png" in rows["renamed/holiday.png"]
    assert "reason=matches-rejected" in rows["renamed/smaller-copy.png"]
    assert rows["renamed/smaller-copy.png"].endswith("ok")
    assert "Imagga calls for these two: 0." in done.stdout
    assert "All expectations met." in done.stdout
