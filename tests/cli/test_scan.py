"""`scan DIR OUTDIR`: one JSON result per image, non-images skipped, failures counted, resumable."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from infra.local.stack import DEMO_UNSAFE_SAMPLE, SAMPLES, LocalStack

from tests.cli.conftest import Cli, assert_one_line_error, operator_env, wait_until

IMAGES = ("coffee.jpg", "chelsea.jpg", "rocket.jpg", "sub/astronaut.jpg", "sub/demo-unsafe-sample.png")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Five images (one in a subfolder), two non-images, an empty file and a truncated JPEG."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for name in IMAGES:
        source = DEMO_UNSAFE_SAMPLE if name.endswith(".png") else SAMPLES / Path(name).name
        shutil.copyfile(source, folder / name)
    (folder / "readme.txt").write_text("holiday photos\n")
    (folder / "sub" / "index.html").write_text("<html></html>\n")
    (folder / "empty.png").write_bytes(b"")
    (folder / "broken.jpg").write_bytes((SAMPLES / "coffee.jpg").read_bytes()[:600])
    return folder


def results_in(outdir: Path) -> dict[str, dict[str, object]]:
    return {str(p.relative_to(outdir)): json.loads(p.read_text()) for p in sorted(outdir.rglob("*.json"))}


def test_scan_writes_one_result_per_image_skips_non_images_and_fails_on_the_corrupt_one(
    cli: Cli, stack: LocalStack, photos: Path, tmp_path: Path
) -> None:
    outdir = tmp_path / "results"

    # WHEN the folder is scanned
    result = cli("scan", str(photos), str(outdir))

    # THEN one JSON per image with Imagga's answer and the verdict
    written = results_in(outdir)
    assert sorted(written) == sorted(f"{name}.json" for name in IMAGES)
    unsafe = written["sub/demo-unsafe-sample.png.json"]
    assert unsafe["status"] == "UNSAFE"
    assert unsafe["imagga"]["status"]["type"] == "success"  # type: ignore[index]
    assert {c["name"]["en"] for c in unsafe["imagga"]["result"]["categories"]} >= {"nsfw", "safe"}  # type: ignore[index]
    assert written["coffee.jpg.json"]["status"] == "SAFE"
    assert all(len(str(r["sha256"])) == 64 for r in written.values())
    # AND non-images are listed as skipped, the truncated JPEG as failed, and the exit code says so
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 2}
    assert "skipped" in rows["readme.txt"] and "skipped" in rows["sub/index.html"] and "skipped" in rows["empty.png"]
    assert "failed" in rows["broken.jpg"] and "undecodable" in rows["broken.jpg"]
    assert "done: 5, kept: 0, skipped: 3, failed: 1" in result.stdout
    assert_one_line_error(result, 1, "1 image(s) failed")
    assert stack.imagga.count("/v2/categories/", answered=200) == 5


def test_a_second_scan_keeps_every_result_and_sends_nothing(
    cli: Cli, stack: LocalStack, photos: Path, tmp_path: Path
) -> None:
    outdir = tmp_path / "results"
    (photos / "broken.jpg").unlink()
    assert cli("scan", str(photos), str(outdir)).exit_code == 0
    first = results_in(outdir)
    stack.imagga.reset_log()

    again = cli("scan", str(photos), str(outdir))

    assert again.exit_code == 0, again.output
    assert "done: 0, kept: 5, skipped: 3, failed: 0" in again.stdout
    assert results_in(outdir) == first
    assert stack.imagga.count("/v2/") == 0


def test_scan_with_force_categorizes_every_image_again(
    cli: Cli, stack: LocalStack, photos: Path, tmp_path: Path
) -> None:
    outdir = tmp_path / "results"
    (photos / "broken.jpg").unlink()
    assert cli("scan", str(photos), str(outdir)).exit_code == 0
    stack.imagga.reset_log()

    forced = cli("scan", str(photos), str(outdir), "--force")

    assert forced.exit_code == 0, forced.output
    assert "done: 5, kept: 0" in forced.stdout
    assert stack.imagga.count("/v2/categories/", answered=200) == 5


def test_an_interrupted_scan_keeps_whole_results_and_the_rerun_sends_only_the_missing_images(
    cli: Cli, stack: LocalStack, photos: Path, tmp_path: Path
) -> None:
    # GIVEN a slow Imagga, one call at a time, and a scan running as its own process
    (photos / "broken.jpg").unlink()
    outdir = tmp_path / "results"
    stack.imagga.set_faults(latency=0.4)
    env = {k: v for k, v in {**os.environ, **operator_env(stack)}.items() if v is not None}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moderator",
            "--endpoint-url",
            stack.endpoint_url,
            "scan",
            str(photos),
            str(outdir),
            "--concurrency=1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # WHEN the operator presses Ctrl-C once the first result is written
        wait_until(lambda: list(outdir.rglob("*.json")), timeout=60, what="a first result")
        process.send_signal(signal.SIGINT)
        _stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    kept = results_in(outdir)
    stack.imagga.clear_faults()
    stack.imagga.reset_log()

    # THEN it stopped with the interrupted exit code, leaving whole results only
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert 1 <= len(kept) < len(IMAGES)
    assert not list(outdir.rglob("*.tmp"))

    # AND the rerun keeps them and sends only the images without a result
    rerun = cli("scan", str(photos), str(outdir))
    assert rerun.exit_code == 0, rerun.output
    assert stack.imagga.count("/v2/categories/", answered=200) == len(IMAGES) - len(kept)
    after = results_in(outdir)
    assert len(after) == len(IMAGES)
    assert {name: after[name] for name in kept} == kept
